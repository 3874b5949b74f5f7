"""Property tests over generated web_connectivity measurements: the verdict is total, keeps promises."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netfreedom.analysis.web_connectivity import Algorithm, analyze_raw, choose, verdict_for
from netfreedom.models.measurement import Envelope
from netfreedom.models.registry import decode_test_keys
from netfreedom.models.verdict import Outcome, Reason
from netfreedom.models.web_connectivity import WebConnectivityKeys

HOSTS = ["example.org", "www.example.org", "other.net", "8.8.8.8"]
ADDRS = ["93.184.215.14", "93.184.215.15", "8.8.8.8", "10.10.34.36", "127.0.0.1", "0.0.0.0", "192.168.1.1"]
ADDRS += ["2001:db8::1", "2606:2800:220:1::1", "::1", "2002:a00:1::1", "not-an-ip", ""]
FAILURES = [None, None, None, "connection_reset", "generic_timeout_error", "dns_nxdomain_error", "eof_error"]
FAILURES += ["connection_refused", "ssl_invalid_hostname", "ssl_unknown_authority", "dns_no_answer"]
FAILURES += ["android_dns_cache_no_data", "network_unreachable", "unknown_failure: boom", "dns_name_error"]
FAILURES += ["dns_lookup_error", "unknown_error", "http_invalid_redirect_url some text"]

failure = st.sampled_from(FAILURES)
# Mostly no failure, so that generated controls usually work and every rule gets exercised.
rare_failure = st.one_of(st.none(), st.none(), st.none(), failure)
addr = st.sampled_from(ADDRS)
host = st.sampled_from(HOSTS)
txid = st.integers(min_value=0, max_value=6)
tags = st.one_of(
    st.none(),
    st.lists(
        st.sampled_from(["depth=0", "depth=1", "fetch_body=true", "fetch_body=false", "classic"]), max_size=3
    ),
)
url = st.builds(
    lambda scheme, h, port: f"{scheme}://{h}{port}/",
    st.sampled_from(["http", "https"]),
    host,
    st.sampled_from(["", ":8080", ":443"]),
)
text = st.text(max_size=40)
title_body = st.builds(lambda t, pad: f"<html><TITLE>{t}</title>{pad}", text, st.text(max_size=200))
body = st.one_of(
    st.none(),
    text,
    title_body,
    st.builds(lambda b: {"format": "base64", "data": base64.b64encode(b).decode()}, st.binary(max_size=60)),
    st.just({"format": "base64", "data": "aGk"}),
)
headers = st.dictionaries(
    st.sampled_from(["Server", "Location", "X-Cache", "Content-Type", "Set-Cookie", "Via"]),
    st.one_of(
        text,
        st.sampled_from(["http://192.168.22.1/block", "https://example.org/"]),
        st.lists(text, max_size=2),
        st.just({"format": "base64", "data": "aHR0cDovLzEwLjAuMC4xLw=="}),
    ),
    max_size=4,
)
code = st.sampled_from([200, 301, 302, 403, 451, 500, 503, 0, -1])

answer = st.one_of(
    st.builds(
        lambda a, asn: {
            "answer_type": "AAAA" if ":" in a else "A",
            "ipv6" if ":" in a else "ipv4": a,
            "asn": asn,
        },
        addr,
        st.sampled_from([0, 15133, 7941, 36183]),
    ),
    st.builds(lambda h: {"answer_type": "CNAME", "hostname": h}, host),
)
query = st.fixed_dictionaries(
    {
        "hostname": host,
        "failure": rare_failure,
        "answers": st.one_of(st.none(), st.lists(answer, max_size=3)),
    },
    optional={
        "engine": st.sampled_from(["system", "getaddrinfo", "golang_net_resolver", "udp", "doh"]),
        "query_type": st.sampled_from(["A", "AAAA", "ANY"]),
        "transaction_id": txid,
        "tags": tags,
    },
)
connect = st.fixed_dictionaries(
    {
        "ip": addr,
        "port": st.sampled_from([80, 443]),
        "status": st.builds(lambda f: {"success": f is None, "failure": f}, failure),
    },
    optional={"transaction_id": txid, "tags": tags},
)
handshake = st.fixed_dictionaries(
    {
        "address": st.builds(
            lambda a, p: f"[{a}]:{p}" if ":" in a else f"{a}:{p}", addr, st.sampled_from([443, 80])
        ),
        "failure": failure,
    },
    optional={"server_name": host, "transaction_id": txid, "tags": tags},
)
response = st.fixed_dictionaries(
    {"code": code, "body": body}, optional={"headers": headers, "body_is_truncated": st.booleans()}
)
http_request = st.builds(
    # A failed request has no response; a successful one has one (rarely null, as some probes wrote).
    lambda request, failure, response, extra: {
        "request": request,
        "failure": failure,
        "response": None if failure else response,
        **extra,
    },
    st.fixed_dictionaries({"url": url}, optional={"body_is_truncated": st.booleans()}),
    rare_failure,
    st.one_of(response, response, response, st.none()),
    st.fixed_dictionaries({}, optional={"transaction_id": txid, "tags": tags}),
)
endpoint = st.builds(lambda a, p: f"[{a}]:{p}" if ":" in a else f"{a}:{p}", addr, st.sampled_from([80, 443]))
control_http = st.fixed_dictionaries(
    {"failure": rare_failure, "status_code": code},
    optional={"body_length": st.integers(-1, 3000), "title": text, "headers": headers},
)
control = st.fixed_dictionaries(
    {
        "dns": st.fixed_dictionaries(
            {"failure": rare_failure, "addrs": st.one_of(st.none(), st.lists(addr, max_size=3))}
        ),
        "http_request": control_http,
    },
    optional={
        "tcp_connect": st.dictionaries(
            endpoint, st.builds(lambda f: {"status": f is None, "failure": f}, failure), max_size=3
        ),
        "tls_handshake": st.dictionaries(
            endpoint,
            st.fixed_dictionaries(
                {"failure": failure}, optional={"server_name": host, "status": st.booleans()}
            ),
            max_size=2,
        ),
        "ip_info": st.dictionaries(
            addr, st.fixed_dictionaries({"asn": st.sampled_from([0, 15133, 714])}), max_size=2
        ),
    },
)
test_keys = st.fixed_dictionaries(
    {
        "queries": st.one_of(st.lists(query, min_size=1, max_size=4), st.lists(query, max_size=2), st.none()),
        "tcp_connect": st.one_of(
            st.lists(connect, min_size=1, max_size=4), st.lists(connect, max_size=2), st.none()
        ),
        "requests": st.one_of(
            st.lists(http_request, min_size=1, max_size=3), st.lists(http_request, max_size=2), st.none()
        ),
        "control": st.one_of(control, control, control, st.just({})),
        "control_failure": rare_failure,
    },
    optional={
        "tls_handshakes": st.lists(handshake, max_size=3),
        "x_control_request": st.fixed_dictionaries({"http_request": url}),
        "x_blocking_flags": st.integers(0, 63),
        "dns_experiment_failure": failure,
        "http_experiment_failure": failure,
    },
)
envelope = st.builds(
    lambda version, software, input_, when: Envelope(
        test_name="web_connectivity",
        test_version=version,
        software_name=software[0],
        software_version=software[1],
        input=input_,
        measurement_start_time=when,
    ),
    st.sampled_from(
        [
            None,
            "0.0.1",
            "0.1.0",
            "0.2.0",
            "0.3.2",
            "0.4.1",
            "0.4.3",
            "0.5.11",
            "0.5.26",
            "0.5.27",
            "0.5.28",
            "0.6.0",
            "junk",
        ]
    ),
    st.sampled_from(
        [("ooniprobe", "2.3.0"), ("ooniprobe-android", "3.7.0"), ("miniooni", "3.21.0-alpha"), (None, None)]
    ),
    st.one_of(st.none(), url, st.just("not a url")),
    st.sampled_from(
        [
            None,
            "2019-06-01 00:00:00",
            "2021-09-01 00:00:00",
            "2023-07-06 00:00:00",
            "2024-01-23 12:00:00",
            "2024-06-01 00:00:00",
        ]
    ),
)

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _control_failed(keys: WebConnectivityKeys) -> bool:
    if keys.control_failure is not None or keys.control is None:
        return True
    chttp = keys.control.http_request
    return chttp is None or chttp.failure is not None


@SETTINGS
@given(env=envelope, fields=test_keys)
def test_verdict_is_total_and_keeps_its_promises(env: Envelope, fields: dict[str, Any]) -> None:
    keys = decode_test_keys("web_connectivity", msgspec.json.encode(fields))
    assert isinstance(keys, WebConnectivityKeys)
    v = verdict_for(env, keys)  # no safety net: any exception fails the test
    assert 0.0 <= v.confidence <= 1.0
    if _control_failed(keys):
        assert v.outcome is not Outcome.OK
    if v.outcome is Outcome.INCONCLUSIVE:
        assert v.layer is None
    assert v.blocking in (None, False, "dns", "tcp_ip", "http-failure", "http-diff")
    assert v.accessible in (None, True, False)
    if choose(env, keys).algorithm in (Algorithm.GO, Algorithm.MK):
        assert (v.blocking is False) == (v.accessible is True)


@SETTINGS
@given(env=envelope, fields=test_keys, algorithm=st.sampled_from(list(Algorithm)))
def test_every_algorithm_is_total(env: Envelope, fields: dict[str, Any], algorithm: Algorithm) -> None:
    from netfreedom.analysis.web_connectivity import reproduce
    from netfreedom.analysis.web_connectivity.reproduce import Choice

    keys = decode_test_keys("web_connectivity", msgspec.json.encode(fields))
    assert isinstance(keys, WebConnectivityKeys)
    blocking, accessible = reproduce(env, keys, Choice(algorithm))
    assert blocking in (None, False, "dns", "tcp_ip", "http-failure", "http-diff")
    if isinstance(blocking, str):
        assert accessible is False


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    env=envelope,
    raw=st.one_of(
        json_value.map(msgspec.json.encode),
        st.dictionaries(
            st.sampled_from(["queries", "requests", "control", "tcp_connect", "control_failure"]),
            json_value,
            max_size=3,
        ).map(msgspec.json.encode),
        st.binary(max_size=30),
    ),
)
def test_analyze_raw_never_raises(env: Envelope, raw: bytes) -> None:
    _, v = analyze_raw(env, raw)
    assert 0.0 <= v.confidence <= 1.0


@SETTINGS
@given(
    env=envelope,
    fields=test_keys,
    bogon=st.sampled_from(["10.10.34.36", "127.0.0.1", "192.168.0.9", "fd00::2", "0.0.0.0"]),
)
def test_injected_answer_wins_over_everything_else(env: Envelope, fields: dict[str, Any], bogon: str) -> None:
    """Whatever else happened — failed or blocked control, pages, resets — a private answer for the
    measured name is DNS injection (as long as the site's real addresses are public)."""
    target = "http://example.org/"
    env = msgspec.structs.replace(env, input=target)
    fields = dict(fields)
    fields.pop("x_control_request", None)
    fields["queries"] = [
        *(fields.get("queries") or []),
        {
            "hostname": "example.org",
            "engine": "system",
            "failure": None,
            "answers": [
                {"answer_type": "AAAA" if ":" in bogon else "A", "ipv6" if ":" in bogon else "ipv4": bogon}
            ],
        },
    ]
    control = dict(fields.get("control") or {})
    control["dns"] = {"failure": None, "addrs": ["93.184.215.14"]}
    fields["control"] = control
    keys = decode_test_keys("web_connectivity", msgspec.json.encode(fields))
    assert isinstance(keys, WebConnectivityKeys)
    v = verdict_for(env, keys)
    assert (v.outcome, v.reason) == (Outcome.BLOCKED, Reason.DNS_BOGON)

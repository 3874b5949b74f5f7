"""netfreedom's own web_connectivity verdict on small hand-made measurements, one known case each."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from netfreedom.analysis.web_connectivity import analyze, analyze_raw, reproduce, verdict_for
from netfreedom.models.measurement import Envelope
from netfreedom.models.registry import decode_test_keys
from netfreedom.models.verdict import Layer, Outcome, Reason, Verdict
from netfreedom.models.web_connectivity import WebConnectivityKeys

URL = "http://example.org/"
SITE_IP = "93.184.215.14"
PAGE = "<html><head><title>Example Domain for documentation</title></head><body>" + "x" * 1200 + "</body>"
CONTROL_HTTP = {
    "body_length": len(PAGE),
    "failure": None,
    "title": "Example Domain for documentation",
    "headers": {"Content-Type": "text/html", "X-Site": "1"},
    "status_code": 200,
}


def env(version: str = "0.4.3", url: str = URL) -> Envelope:
    return Envelope(
        test_name="web_connectivity",
        test_version=version,
        software_name="ooniprobe-cli",
        software_version="3.20.0",
        measurement_start_time="2024-05-01 10:00:00",
        input=url,
    )


def query(*addrs: str, failure: str | None = None, host: str = "example.org") -> dict[str, Any]:
    answers = [{"answer_type": "AAAA" if ":" in a else "A", "ipv6" if ":" in a else "ipv4": a} for a in addrs]
    return {"hostname": host, "query_type": "A", "engine": "system", "failure": failure, "answers": answers}


def connect(ip: str, port: int = 80, failure: str | None = None) -> dict[str, Any]:
    return {"ip": ip, "port": port, "status": {"success": failure is None, "failure": failure}}


def request(url: str = URL, failure: str | None = None, body: str = PAGE, code: int = 200) -> dict[str, Any]:
    response = None if failure else {"code": code, "body": body, "headers": {"Content-Type": "text/html"}}
    return {"request": {"url": url, "method": "GET"}, "failure": failure, "response": response}


def control(
    addrs: list[str] | None = None,
    tcp: dict[str, str | None] | None = None,
    http: dict[str, Any] | None = None,
    dns_failure: str | None = None,
    tls: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dns": {"addrs": [SITE_IP] if addrs is None else addrs, "failure": dns_failure},
        "tcp_connect": {
            k: {"status": v is None, "failure": v} for k, v in (tcp or {f"{SITE_IP}:80": None}).items()
        },
        "http_request": CONTROL_HTTP if http is None else http,
    }
    if tls is not None:
        out["tls_handshake"] = {
            k: {"status": v is None, "failure": v, "server_name": "example.org"} for k, v in tls.items()
        }
    return out


def keys(**fields: Any) -> WebConnectivityKeys:
    decoded = decode_test_keys("web_connectivity", msgspec.json.encode(fields))
    assert isinstance(decoded, WebConnectivityKeys)
    return decoded


def judge(version: str = "0.4.3", url: str = URL, **fields: Any) -> Verdict:
    return verdict_for(env(version, url), keys(**fields))


def test_same_page_as_the_control_is_ok() -> None:
    v = judge(
        queries=[query(SITE_IP)], tcp_connect=[connect(SITE_IP)], requests=[request()], control=control()
    )
    assert (v.outcome, v.reason, v.layer) == (Outcome.OK, Reason.OK, None)
    assert (v.blocking, v.accessible) == (False, True)
    assert v.confidence >= 0.8


@pytest.mark.parametrize("bogon", ["10.10.34.36", "127.0.0.1", "192.168.1.1", "0.0.0.0", "fd00::1"])
def test_bogon_answer_is_dns_injection(bogon: str) -> None:
    v = judge(
        queries=[query(bogon)],
        tcp_connect=[connect(bogon, failure="generic_timeout_error")],
        requests=[request(failure="generic_timeout_error")],
        control=control(),
    )
    assert (v.outcome, v.reason, v.layer) == (Outcome.BLOCKED, Reason.DNS_BOGON, Layer.DNS)
    assert v.confidence >= 0.9
    assert v.blocking == "dns"


def test_bogon_answer_still_counts_when_the_control_failed() -> None:
    """A blocked control never makes a blocked site look accessible."""
    v = judge(queries=[query("10.10.34.36")], requests=[request()], control_failure="connection_reset")
    assert (v.outcome, v.reason) == (Outcome.BLOCKED, Reason.DNS_BOGON)
    assert 0.5 < v.confidence < 0.9


def test_site_that_publishes_private_addresses_is_not_censored() -> None:
    v = judge(
        queries=[query("10.0.0.5")], control=control(addrs=["10.0.0.5"], http={"failure": "connect_error"})
    )
    assert v.outcome is Outcome.DOWN


def test_nxdomain_where_the_control_resolves_is_blocked() -> None:
    v = judge(queries=[query(failure="dns_nxdomain_error")], requests=[], control=control())
    assert (v.outcome, v.reason, v.layer) == (Outcome.BLOCKED, Reason.DNS_NXDOMAIN, Layer.DNS)
    assert v.blocking == "dns"


def test_nxdomain_for_everyone_is_down() -> None:
    v = judge(
        queries=[query(failure="dns_nxdomain_error")],
        control=control(addrs=[], dns_failure="dns_name_error", http={"failure": "dns_lookup_error"}),
    )
    assert (v.outcome, v.reason, v.layer) == (Outcome.DOWN, Reason.SITE_DOWN, Layer.DNS)
    assert (v.blocking, v.accessible) == (False, True)  # the 0.4 probe: "the site is gone, not blocked"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("connection_reset", Reason.TCP_RESET),
        ("generic_timeout_error", Reason.TCP_TIMEOUT),
        ("connection_refused", Reason.TCP_REFUSED),
    ],
)
def test_tcp_failure_where_the_control_connects_is_blocked(failure: str, reason: Reason) -> None:
    v = judge(
        queries=[query(SITE_IP)],
        tcp_connect=[connect(SITE_IP, failure=failure)],
        requests=[request(failure=failure)],
        control=control(),
    )
    assert (v.outcome, v.reason, v.layer) == (Outcome.BLOCKED, reason, Layer.TCP)
    assert v.blocking == "tcp_ip"


def test_tcp_failure_for_everyone_is_down_never_blocked() -> None:
    v = judge(
        queries=[query(SITE_IP)],
        tcp_connect=[connect(SITE_IP, failure="generic_timeout_error")],
        requests=[request(failure="generic_timeout_error")],
        control=control(
            tcp={f"{SITE_IP}:80": "generic_timeout_error"}, http={"failure": "generic_timeout_error"}
        ),
    )
    assert (v.outcome, v.reason, v.layer) == (Outcome.DOWN, Reason.SITE_DOWN, Layer.TCP)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("connection_reset", Reason.TLS_RESET),
        ("generic_timeout_error", Reason.TLS_TIMEOUT),
        ("ssl_invalid_hostname", Reason.TLS_FAILURE),
    ],
)
def test_tls_failure_where_the_control_handshakes_is_blocked(failure: str, reason: Reason) -> None:
    url = "https://example.org/"
    v = judge(
        url=url,
        queries=[query(SITE_IP)],
        tcp_connect=[connect(SITE_IP, 443)],
        tls_handshakes=[{"address": f"{SITE_IP}:443", "server_name": "example.org", "failure": failure}],
        requests=[request(url, failure=failure)],
        control=control(tcp={f"{SITE_IP}:443": None}, tls={f"{SITE_IP}:443": None}),
    )
    assert (v.outcome, v.reason, v.layer) == (Outcome.BLOCKED, reason, Layer.TLS)
    assert v.blocking in ("http-failure", None)  # ssl_* are http-failure; a TLS timeout too in 0.4


def test_tls_failure_for_everyone_is_down() -> None:
    url = "https://example.org/"
    v = judge(
        url=url,
        queries=[query(SITE_IP)],
        tcp_connect=[connect(SITE_IP, 443)],
        tls_handshakes=[{"address": f"{SITE_IP}:443", "failure": "ssl_invalid_certificate"}],
        requests=[request(url, failure="ssl_invalid_certificate")],
        control=control(tcp={f"{SITE_IP}:443": None}, http={"failure": "unknown_error", "status_code": -1}),
    )
    assert (v.outcome, v.layer) == (Outcome.DOWN, Layer.TLS)


@pytest.mark.parametrize("where", ["control_failure", "control_http"])
def test_failed_control_is_inconclusive_never_ok(where: str) -> None:
    fields: dict[str, Any] = {
        "queries": [query(SITE_IP)],
        "tcp_connect": [connect(SITE_IP)],
        "requests": [request()],
        "control": control(http={"failure": "generic_timeout_error", "status_code": -1}),
    }
    if where == "control_failure":
        fields["control_failure"] = "connection_reset"
        fields["control"] = {}
    v = judge(**fields)
    assert (v.outcome, v.reason) == (Outcome.INCONCLUSIVE, Reason.CONTROL_FAILED)
    assert v.confidence == 0.0


def test_https_success_without_control_is_not_ok() -> None:
    url = "https://example.org/"
    v = judge(url=url, queries=[query(SITE_IP)], requests=[request(url)], control_failure="eof_error")
    assert v.outcome is Outcome.INCONCLUSIVE
    assert (v.blocking, v.accessible) == (False, True)  # what the probe (wrongly, we think) says


def test_http_diff_is_blocked_with_lower_confidence() -> None:
    page = "<html><title>Access denied by order of the regulator</title>blocked</html>"
    v = judge(
        queries=[query(SITE_IP)],
        tcp_connect=[connect(SITE_IP)],
        requests=[request(body=page)],
        control=control(),
    )
    assert (v.outcome, v.reason, v.layer) == (Outcome.BLOCKED, Reason.HTTP_DIFF, Layer.HTTP)
    assert v.confidence <= 0.6
    assert v.blocking == "http-diff"


def test_diff_with_unrelated_addresses_is_dns() -> None:
    page = "<html><title>Access denied by order of the regulator</title>blocked</html>"
    v = judge(
        queries=[query("203.0.114.9")],
        tcp_connect=[connect("203.0.114.9")],
        requests=[request(body=page)],
        control=control(),
    )
    assert (v.outcome, v.reason, v.layer) == (Outcome.BLOCKED, Reason.DNS_INCONSISTENT, Layer.DNS)
    assert v.blocking == "dns"


def test_http_reset_after_connect_is_http_failure() -> None:
    v = judge(
        queries=[query(SITE_IP)],
        tcp_connect=[connect(SITE_IP)],
        requests=[request(failure="connection_reset")],
        control=control(),
    )
    assert (v.outcome, v.reason, v.layer) == (Outcome.BLOCKED, Reason.HTTP_FAILURE, Layer.HTTP)
    assert v.blocking == "http-failure"


def test_http_failure_for_everyone_is_down() -> None:
    v = judge(
        queries=[query(SITE_IP)],
        tcp_connect=[connect(SITE_IP)],
        requests=[request(failure="eof_error")],
        control=control(http={"failure": "unknown_error", "status_code": -1}),
    )
    assert (v.outcome, v.reason, v.layer) == (Outcome.DOWN, Reason.SITE_DOWN, Layer.HTTP)
    assert v.blocking is None


def test_redirect_to_a_private_address_is_blocked() -> None:
    hop = request(code=302, body="")
    hop["response"]["headers"]["Location"] = "http://192.168.22.1/UserCheck/PortalMain"
    v = judge(queries=[query(SITE_IP)], tcp_connect=[connect(SITE_IP)], requests=[hop], control=control())
    assert (v.outcome, v.layer) == (Outcome.BLOCKED, Layer.HTTP)


def test_empty_and_null_keys_are_no_data() -> None:
    assert verdict_for(env(), None).reason is Reason.NO_DATA
    assert verdict_for(env(), WebConnectivityKeys()).reason is Reason.NO_DATA
    assert reproduce(env(), None) == (None, None)


def test_analyze_raw_turns_malformed_keys_into_a_verdict() -> None:
    keys_, v = analyze_raw(env(), b'{"tcp_connect": "oops"}')
    assert keys_ is None
    assert v.outcome is Outcome.INCONCLUSIVE
    keys_, v = analyze_raw(env(), msgspec.json.encode({"queries": [query("10.1.1.1")], "control": control()}))
    assert isinstance(keys_, WebConnectivityKeys)
    assert v.reason is Reason.DNS_BOGON
    assert analyze(env(), keys_) == v


def test_analyze_turns_an_internal_error_into_analysis_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import netfreedom.analysis.web_connectivity as wc

    def broken(*_: Any) -> Any:
        raise ZeroDivisionError

    monkeypatch.setattr(wc, "own_verdict", broken)
    v = analyze(env(), keys(queries=[query(SITE_IP)], control=control()))
    assert (v.outcome, v.reason, v.confidence) == (Outcome.INCONCLUSIVE, Reason.ANALYSIS_ERROR, 0.0)
    with pytest.raises(ZeroDivisionError):
        verdict_for(env(), keys(queries=[query(SITE_IP)], control=control()))


@pytest.mark.parametrize(
    ("failure", "outcome", "reason"),
    [
        ("connection_refused_error", Outcome.BLOCKED, Reason.TCP_REFUSED),
        ("connection_lost_error", Outcome.BLOCKED, Reason.HTTP_FAILURE),
        ("response_never_received", Outcome.BLOCKED, Reason.HTTP_FAILURE),
        ("ssl_error: certificate verify failed", Outcome.BLOCKED, Reason.TLS_FAILURE),
        ("unknown_failure 'ascii' codec can't decode byte", Outcome.INCONCLUSIVE, Reason.PROBE_FAILURE),
    ],
)
def test_legacy_probe_failures_recorded_only_in_http_experiment_failure(
    failure: str, outcome: Outcome, reason: Reason
) -> None:
    v = verdict_for(
        Envelope(test_name="web_connectivity", test_version="0.3.2", software_name="ooniprobe", input=URL),
        keys(
            queries=[query(SITE_IP)],
            tcp_connect=[connect(SITE_IP)],
            requests=[],
            http_experiment_failure=failure,
            control=control(),
        ),
    )
    assert (v.outcome, v.reason) == (outcome, reason)

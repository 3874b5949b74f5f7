"""Branch by branch, each reproduced probe algorithm on hand-made keys (ALGORITHMS.md §1, §2).

The real measurements exercise the common paths; these pin the branches and version variants they miss.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from netfreedom.analysis.web_connectivity import reproduce
from netfreedom.models.measurement import Envelope
from netfreedom.models.registry import decode_test_keys
from netfreedom.models.web_connectivity import WebConnectivityKeys

IP, OTHER = "93.184.215.14", "198.51.99.7"
PAGE = "<html><title>Example Domain for documentation</title>" + "x" * 1000 + "</html>"


def keys(**fields: Any) -> WebConnectivityKeys:
    out = decode_test_keys("web_connectivity", msgspec.json.encode(fields))
    assert isinstance(out, WebConnectivityKeys)
    return out


def env(version: str | None, when: str = "2024-06-01 00:00:00", **extra: Any) -> Envelope:
    return Envelope(
        test_name="web_connectivity",
        test_version=version,
        measurement_start_time=when,
        input=extra.pop("url", "http://example.org/"),
        **extra,
    )


def answer(addr: str, asn: int = 0) -> dict[str, Any]:
    return {"answer_type": "A", "ipv4": addr, "asn": asn}


def go_query(*addrs: str, failure: str | None = None, asn: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "hostname": "example.org",
            "query_type": "A",
            "failure": failure,
            "answers": [answer(a, asn) for a in addrs],
        }
    ]


def go_connect(*failures: str | None, ip: str = IP) -> list[dict[str, Any]]:
    return [{"ip": ip, "port": 80, "status": {"success": f is None, "failure": f}} for f in failures]


def go_request(
    failure: str | None = None, url: str = "http://example.org/", body: str = PAGE, code: int = 200
) -> dict[str, Any]:
    response = None if failure else {"code": code, "body": body, "headers": {"X-Site": "1"}}
    return {"request": {"url": url}, "failure": failure, "response": response}


def ctrl(  # noqa: PLR0917 - a test builder: keywords everywhere at the call sites
    addrs: list[str] | None = None,
    dns_failure: str | None = None,
    http_failure: str | None = None,
    code: int = 200,
    title: str = "Example Domain for documentation",
    headers: dict[str, str] | None = None,
    body_length: int | None = None,
    tcp: dict[str, dict[str, Any]] | None = None,
    tls: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dns": {"addrs": [IP] if addrs is None else addrs, "failure": dns_failure},
        "http_request": {
            "failure": http_failure,
            "status_code": -1 if http_failure else code,
            "body_length": -1 if http_failure else len(PAGE) if body_length is None else body_length,
            "title": title,
            "headers": {"X-Site": "1"} if headers is None else headers,
        },
        "tcp_connect": {f"{IP}:80": {"status": True, "failure": None}} if tcp is None else tcp,
    }
    if tls is not None:
        out["tls_handshake"] = tls
    return out


# --- Go 0.1–0.4 (§1) -----------------------------------------------------------------------------------


def go(version: str = "0.4.3", when: str = "2024-06-01 00:00:00", **fields: Any) -> tuple[Any, Any]:
    return reproduce(env(version, when), keys(**fields))


def test_go_https_success_wins_even_over_a_failed_control() -> None:
    url = "https://example.org/"
    assert go(requests=[go_request(url=url)], control_failure="generic_timeout_error") == (False, True)


def test_go_control_failure_is_null() -> None:
    assert go(queries=go_query(IP), requests=[go_request()], control_failure="connection_refused") == (
        None,
        None,
    )


def test_go_nxdomain_everywhere_is_accessible() -> None:
    fields = {"queries": go_query(failure="dns_nxdomain_error"), "requests": []}
    assert go(**fields, control=ctrl(addrs=[], dns_failure="dns_name_error")) == (False, True)
    assert go(**fields, control=ctrl()) == ("dns", False)


def test_go_android_nodata_counts_as_nxdomain_only_from_0_4_3() -> None:
    fields = {"queries": go_query(failure="android_dns_cache_no_data"), "requests": [], "control": ctrl()}
    assert go("0.4.3", **fields) == ("dns", False)
    assert go("0.4.2", **fields) == (None, None)  # step 4 misses it; no connects, no request → null


@pytest.mark.parametrize(("addr", "expected"), [(IP, "tcp_ip"), (OTHER, "dns")])
def test_go_all_connects_failed(addr: str, expected: str) -> None:
    out = go(
        queries=go_query(addr),
        tcp_connect=go_connect("connection_refused", ip=addr),
        requests=[go_request("connection_refused")],
        control=ctrl(),
    )
    assert out == (expected, False)


def test_go_asn_overlap_makes_dns_consistent() -> None:
    control = ctrl(addrs=[IP])
    control["ip_info"] = {IP: {"asn": 15133}}
    out = go(
        queries=go_query(OTHER, asn=15133),
        tcp_connect=go_connect("connection_reset", ip=OTHER),
        requests=[go_request("connection_reset")],
        control=control,
    )
    assert out == ("tcp_ip", False)


def test_go_control_http_failure_is_null() -> None:
    assert go(
        queries=go_query(IP),
        tcp_connect=go_connect(None),
        requests=[go_request()],
        control=ctrl(http_failure="x"),
    ) == (None, None)


@pytest.mark.parametrize(
    ("failure", "addr", "hops", "expected"),
    [
        ("connection_reset", IP, 1, ("http-failure", False)),
        ("connection_reset", OTHER, 1, ("dns", False)),
        ("connection_reset", OTHER, 2, ("http-failure", False)),  # the upgrade needs exactly one request
        ("eof_error", IP, 1, ("http-failure", False)),
        ("ssl_unknown_authority", IP, 1, ("http-failure", False)),
        ("dns_nxdomain_error", IP, 2, ("dns", False)),
        ("unknown_failure: weird", IP, 1, (None, None)),
    ],
)
def test_go_request_failures(failure: str, addr: str, hops: int, expected: tuple[Any, Any]) -> None:
    redirect = go_request(code=302, body="")
    requests = [go_request(failure)] + [redirect] * (hops - 1)
    out = go(queries=go_query(addr), tcp_connect=go_connect(None, ip=addr), requests=requests, control=ctrl())
    assert out == expected


def test_go_http_comparisons() -> None:
    base = {"queries": go_query(IP), "tcp_connect": go_connect(None)}
    assert go(**base, requests=[go_request()], control=ctrl()) == (False, True)
    other = "<html><title>Blocked by order</title>short</html>"
    # Different page, but a shared uncommon header name still counts as a match in 0.4.
    assert go(**base, requests=[go_request(body=other)], control=ctrl()) == (False, True)
    no_headers = ctrl(headers={"Date": "x", "Server": "y"})
    assert go(**base, requests=[go_request(body=other)], control=no_headers) == ("http-diff", False)
    assert go(**base, requests=[go_request(code=403)], control=no_headers) == ("http-diff", False)
    # Control 5xx: status match unknown, so never accessible by step 9.
    assert go(**base, requests=[go_request()], control=ctrl(code=503)) == ("http-diff", False)


def test_go_negative_codes_before_2021_11() -> None:
    fields = {
        "queries": go_query(IP),
        "tcp_connect": go_connect(None),
        "requests": [go_request(code=-1, body="")],
        "control": ctrl(code=-1, body_length=0),
    }
    assert go("0.4.1", "2021-06-01 00:00:00", **fields) == (False, True)  # -1 == -1 and headers match
    assert go("0.4.1", "2022-06-01 00:00:00", **fields) == ("http-diff", False)


def test_go_title_bound_before_2021_10() -> None:
    long_title = "Example " + "documentation " * 12  # > 128 characters
    body = f"<title>{long_title}</title>" + "y" * 10
    fields = {
        "queries": go_query(IP),
        "tcp_connect": go_connect(None),
        "requests": [go_request(body=body)],
        "control": ctrl(title=long_title, headers={"Date": "x"}, body_length=100000),
    }
    assert go("0.4.0", "2022-01-01 00:00:00", **fields) == (False, True)
    assert go("0.4.0", "2021-01-01 00:00:00", **fields) == ("http-diff", False)


def test_go_0_1_0_before_the_summary_has_no_verdict() -> None:
    """Go 0.1.0 builds before 2020-08-20 predate the summary (§1, "Versions"): nothing to reproduce."""
    fields = {
        "queries": go_query(IP),
        "tcp_connect": go_connect("connection_refused"),
        "requests": [go_request(failure="connection_refused")],
        "control": ctrl(),
    }
    assert go("0.1.0", "2020-08-19 23:00:00", **fields) == (None, None)
    assert go("0.1.0", "2020-08-20 00:00:00", **fields) == ("tcp_ip", False)
    assert go("0.2.0", "2020-08-01 00:00:00", **fields) == ("tcp_ip", False)


# --- legacy MK and Python (§1, "Legacy") ---------------------------------------------------------------


def legacy(version: str, software: tuple[str, str], **fields: Any) -> tuple[Any, Any]:
    return reproduce(env(version, software_name=software[0], software_version=software[1]), keys(**fields))


MK = ("0.0.1", ("ooniprobe-android", "2.0.0"))
PY = ("0.3.2", ("ooniprobe", "2.3.0"))
PY_OLD = ("0.1.0", ("ooniprobe", "1.4.0"))


def test_mk_private_answer_is_dns() -> None:
    fields = {
        "queries": go_query("10.10.34.35"),
        "tcp_connect": go_connect(None, ip="10.10.34.35"),
        "requests": [go_request(body="<title>Forbidden page here</title>", code=403)],
        "control": ctrl(headers={"Date": "x"}),
    }
    assert legacy(*MK, **fields) == ("dns", False)
    assert legacy(*PY, **fields) == ("dns", False)


def test_mk_control_failure_is_null_python_keeps_accessible() -> None:
    fields = {"queries": go_query(IP), "requests": [go_request()], "control_failure": "connect_error"}
    assert legacy(*MK, **fields) == (None, None)
    assert legacy(*PY, **fields) == (None, True)
    assert legacy(*PY, **fields, http_experiment_failure="response_never_received") == (None, False)


def test_legacy_tcp_blocking() -> None:
    fields = {
        "queries": go_query(IP),
        "tcp_connect": go_connect("connection_refused_error"),
        "requests": [],
        "http_experiment_failure": "connection_refused_error",
        "control": ctrl(),
    }
    assert legacy(*MK, **fields) == ("tcp_ip", False)
    assert legacy(*PY, **fields) == ("tcp_ip", False)


def test_legacy_http_failure_vs_dns_lookup_error() -> None:
    base = {"queries": go_query(IP), "tcp_connect": go_connect(None), "requests": [], "control": ctrl()}
    assert legacy(*MK, **base, http_experiment_failure="connection_lost_error x") == ("http-failure", False)
    assert legacy(*PY, **base, http_experiment_failure="dns_lookup_error oops") == ("dns", False)


def test_legacy_cname_answers_are_private_for_python_from_0_2_0() -> None:
    queries = [
        {
            "hostname": "example.org",
            "failure": None,
            "answers": [{"answer_type": "CNAME", "hostname": "edge.cdn.net"}, answer(IP)],
        }
    ]
    fields = {
        "queries": queries,
        "tcp_connect": go_connect(None),
        "requests": [go_request(body="<title>Different thing entirely</title>", code=200)],
        "control": ctrl(addrs=[IP], headers={"Date": "x"}, body_length=99999),
    }
    assert legacy(*PY, **fields) == ("dns", False)  # the CNAME name is "not a public IPv4"
    assert legacy(*PY_OLD, **fields) == ("http-diff", False)  # consistent by IP overlap
    assert legacy(*MK, **fields) == ("http-diff", False)  # MK adds "" for a CNAME, never private


def test_legacy_title_rules_differ() -> None:
    base = {
        "queries": go_query(IP),
        "tcp_connect": go_connect(None),
        "control": ctrl(headers={"Date": "x"}, body_length=99999, title="Welcome EXAMPLE site"),
    }
    # First long probe word is "Example" (index 1): MK compares case-sensitively, Python lower-cased.
    page = "<title>  Welcome Example site </title>"
    assert legacy(*MK, **base, requests=[go_request(body=page)]) == ("http-diff", False)
    assert legacy(*PY, **base, requests=[go_request(body=page)]) == (False, True)


def test_legacy_none_title_is_no_match() -> None:
    """Both legacy probes compare each match with ``is True``: a None title (no long word) is no match, so
    differing pages are http-diff for Python too (the Python truthiness ``False or None`` is not the rule)."""
    fields = {
        "queries": go_query(IP),
        "tcp_connect": go_connect(None),
        "requests": [go_request(body="<title>abc</title>", code=200)],  # no long word: title None
        "control": ctrl(headers={"Date": "x"}, body_length=99999),
    }
    assert legacy(*PY, **fields) == ("http-diff", False)
    assert legacy(*PY_OLD, **fields) == ("http-diff", False)
    assert legacy(*MK, **fields) == ("http-diff", False)
    from netfreedom.analysis.web_connectivity import legacy as legacy_module

    # (status, body, headers, title): the title is None for Python, whole-title inequality for MK.
    py = legacy_module.http_matches(keys(**fields), legacy_module.Flavor.PYTHON)
    mk = legacy_module.http_matches(keys(**fields), legacy_module.Flavor.MK)
    assert py == (True, False, False, None)
    assert mk == (True, False, False, False)


def test_legacy_skipped_comparisons() -> None:
    """Comparisons skipped (the probe's HTTP failed): MK's exp is False, Python's None (never http-diff)."""
    from netfreedom.analysis.web_connectivity import legacy as legacy_module

    fields = {
        "queries": go_query(IP),
        "tcp_connect": go_connect(None),
        "requests": [],
        "http_experiment_failure": "unknown_failure boom",
        "control": ctrl(headers={"Date": "x"}),
    }
    assert legacy_module.http_matches(keys(**fields), legacy_module.Flavor.PYTHON) is None
    assert legacy(*PY, **fields) == ("http-failure", False)
    # Only a failed control: skipped too; Python keeps accessible false only on its own failures.
    ok = {**fields, "http_experiment_failure": None, "requests": [go_request(body="<title>x</title>")]}
    failed_control = {**ok, "control": ctrl(headers={"Date": "x"}, http_failure="dns_lookup_error")}
    assert legacy_module.http_matches(keys(**failed_control), legacy_module.Flavor.MK) is None
    assert legacy(*PY, **failed_control) == (False, True)
    assert legacy(*MK, **failed_control) == (False, True)


# --- LTE 0.5 orig engine (§2) --------------------------------------------------------------------------


def lte_fields(**fields: Any) -> dict[str, Any]:
    fields.setdefault("x_control_request", {"http_request": "http://example.org/"})
    fields.setdefault("x_blocking_flags", 0)
    return fields


def orig(version: str = "0.5.26", **fields: Any) -> tuple[Any, Any]:
    return reproduce(env(version, when="2023-11-01 00:00:00"), keys(**lte_fields(**fields)))


def lte_query(
    *addrs: str, failure: str | None = None, engine: str = "getaddrinfo", txid: int = 1
) -> dict[str, Any]:
    return {
        "hostname": "example.org",
        "query_type": "ANY",
        "engine": engine,
        "failure": failure,
        "answers": [answer(a, 64500) for a in addrs],
        "transaction_id": txid,
        "tags": ["depth=0"],
    }


def lte_connect(ip: str, port: int, failure: str | None, txid: int, fetch: bool = True) -> dict[str, Any]:
    return {
        "ip": ip,
        "port": port,
        "status": {"success": failure is None, "failure": failure},
        "transaction_id": txid,
        "tags": ["depth=0", f"fetch_body={'true' if fetch else 'false'}"],
    }


def test_orig_bogon_answer_is_dns() -> None:
    assert orig(queries=[lte_query("10.0.0.1")], control=ctrl()) == ("dns", False)


def test_orig_tcp_failure_witnessed_by_the_control() -> None:
    fields = {
        "queries": [lte_query(IP)],
        "tcp_connect": [lte_connect(IP, 80, "connection_reset", 2)],
        "control": ctrl(tcp={f"{IP}:80": {"status": True, "failure": None}}),
    }
    assert orig(**fields) == ("tcp_ip", False)


def test_orig_http_flags() -> None:
    base = {"queries": [lte_query(IP)], "tcp_connect": [lte_connect(IP, 80, None, 2)], "control": ctrl()}
    assert orig(**base, requests=[go_request()]) == (False, True)
    assert orig(**base, requests=[go_request("connection_reset")]) == ("http-failure", False)
    assert orig(**base, requests=[go_request("connection_refused")]) == (None, None)  # no flag for it
    other = "<title>Blocked by order</title>"
    assert orig(**base, requests=[go_request(body=other)]) == (False, True)  # same header names (§1)
    base["control"] = ctrl(headers={"Date": "x"})
    assert orig(**base, requests=[go_request(body=other)]) == ("http-diff", False)


def test_orig_fallbacks_depend_on_the_minor_version() -> None:
    nothing = {"queries": [], "control": ctrl(addrs=[], tcp={})}
    assert orig("0.5.11", **nothing) == (False, False)
    assert orig("0.5.10", **nothing) == (None, None)
    both_failed = {
        "queries": [lte_query(IP)],
        "tcp_connect": [lte_connect(IP, 80, "generic_timeout_error", 2)],
        "control": ctrl(tcp={f"{IP}:80": {"status": False, "failure": "generic_timeout_error"}}),
    }
    assert orig("0.5.15", **both_failed) == (False, False)
    assert orig("0.5.14", **both_failed) == (None, None)


# --- LTE 0.5 classic (§2.1–2.3) ------------------------------------------------------------------------


def classic(version: str = "0.5.28", when: str = "2024-06-01 00:00:00", **fields: Any) -> tuple[Any, Any]:
    return reproduce(env(version, when=when), keys(**lte_fields(**fields)))


def test_classic_final_response() -> None:
    base = {"queries": [lte_query(IP)], "tcp_connect": [lte_connect(IP, 80, None, 2)], "control": ctrl()}
    ok = go_request() | {"transaction_id": 2}
    assert classic(**base, requests=[ok]) == (False, True)
    diff = go_request(body="<title>Blocked by order</title>") | {"transaction_id": 2}
    assert classic(**base, requests=[diff]) == (False, True)  # a shared uncommon header name
    base["control"] = ctrl(headers={"Date": "x"})
    assert classic(**base, requests=[diff]) == ("http-diff", False)


@pytest.mark.parametrize(
    ("control_tcp", "version", "when", "expected"),
    [
        (None, "0.5.28", "2024-06-01 00:00:00", ("tcp_ip", False)),
        ("generic_timeout_error", "0.5.28", "2024-06-01 00:00:00", (False, False)),  # down for everyone
        ("generic_timeout_error", "0.5.27", "2024-01-01 00:00:00", (False, True)),  # before the fix
    ],
)
def test_classic_tcp_failure(
    control_tcp: str | None, version: str, when: str, expected: tuple[Any, Any]
) -> None:
    fields = {
        "queries": [lte_query(IP)],
        "tcp_connect": [lte_connect(IP, 80, "generic_timeout_error", 2)],
        "control": ctrl(tcp={f"{IP}:80": {"status": control_tcp is None, "failure": control_tcp}}),
    }
    assert classic(version, when, **fields) == expected


def test_classic_dns_failure_without_control_looks_accessible() -> None:
    """The probe's blind spot that the own verdict closes: no control, DNS failure → accessible."""
    fields = {"queries": [lte_query(failure="dns_nxdomain_error")]}
    assert classic(**fields) == (False, True)
    assert classic(**fields, control=ctrl()) == ("dns", False)


def test_classic_inconsistent_dns_turns_failures_into_dns() -> None:
    fields = {
        "queries": [lte_query(OTHER)],
        "tcp_connect": [lte_connect(OTHER, 80, "connection_reset", 2)],
        "control": ctrl(addrs=[IP], tcp={f"{OTHER}:80": {"status": True, "failure": None}}),
    }
    assert classic(**fields) == ("dns", False)


def test_classic_loopback_rule_needs_the_0124_fix() -> None:
    fields = {"queries": [lte_query("127.0.0.1")], "control": ctrl()}
    assert classic(**fields) == ("dns", False)
    # Before the fix nothing failed, so the walk ends in (None, None) despite the inconsistency.
    assert classic("0.5.28", "2024-01-24 10:00:00", **fields) == (None, None)
    assert classic(**{**fields, "control": ctrl(addrs=["127.0.0.1"])}) == (False, False)


def test_classic_ignores_non_fetching_and_non_system_observations() -> None:
    fields = {
        "queries": [lte_query(IP), lte_query("10.0.0.1", engine="udp", txid=3)],
        "tcp_connect": [
            lte_connect(IP, 443, "connection_reset", 4, fetch=False),
            lte_connect(IP, 80, None, 2),
        ],
        "requests": [go_request() | {"transaction_id": 2}],
        "control": ctrl(),
    }
    assert classic(**fields) == (False, True)

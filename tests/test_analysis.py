"""The analysis entry point: the registry, the safety net, fingerprints on web_connectivity, properties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netfreedom.analysis.telegram as telegram_module
from netfreedom.analysis import ANALYZERS, analyze
from netfreedom.analysis._overlay import overlay
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir
from netfreedom.analysis.fingerprints import Finding, Fingerprint, FingerprintDB, PatternType
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Layer, Outcome, Reason, Verdict

_ENVELOPE = msgspec.json.Decoder(Envelope)


@pytest.fixture(scope="module")
def db(shared_data: Path) -> FingerprintDB:
    return load_fingerprints(sources_in_dir(shared_data))


def _wc(folder: Path) -> list[tuple[Envelope, dict[str, Any]]]:
    out = []
    for line in (folder / "web_connectivity.jsonl").read_bytes().splitlines():
        env = _ENVELOPE.decode(line)
        keys = msgspec.json.decode(env.test_keys)
        out.append((env, keys))
    return out


def test_registry_covers_the_supported_tests() -> None:
    assert set(ANALYZERS) == {
        "web_connectivity",
        "telegram",
        "whatsapp",
        "signal",
        "facebook_messenger",
        "tor",
        "psiphon",
        "dnscheck",
        "http_header_field_manipulation",
        "http_invalid_request_line",
    }


def test_unknown_test_is_unsupported() -> None:
    verdict = analyze(Envelope(test_name="ndt"), msgspec.Raw(b'{"a": 1}'), None)
    assert (verdict.outcome, verdict.reason) == (Outcome.INCONCLUSIVE, Reason.UNSUPPORTED_TEST)


def test_an_analyzer_that_raises_becomes_an_analysis_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(keys: object) -> Verdict:
        raise ZeroDivisionError

    monkeypatch.setattr(telegram_module, "verdict", boom)
    verdict = analyze(Envelope(test_name="telegram"), msgspec.Raw(b'{"requests": []}'), None)
    assert (verdict.outcome, verdict.reason) == (Outcome.INCONCLUSIVE, Reason.ANALYSIS_ERROR)


def test_real_blockpages_are_confirmed(measurements_dir: Path, db: FingerprintDB) -> None:
    verdicts = [analyze(env, env.test_keys, db) for env, _ in _wc(measurements_dir)]
    confirmed = {i + 1: (v.reason, v.fingerprint) for i, v in enumerate(verdicts) if v.confirmed}
    assert confirmed == {
        10: (Reason.HTTP_BLOCKPAGE, "ooni.id_lamanlabuh_kominfo"),  # ID: Kominfo's "Internet Positif" page
        12: (Reason.DNS_BLOCKPAGE_IP, "ooni.ir_10dot10_ipv4_1"),  # IR: 10.10.34.36 injected
        19: (Reason.DNS_BLOCKPAGE_IP, "ooni.ir_10dot10_ipv4_1"),
    }
    for v in verdicts:
        assert not v.confirmed or v.outcome is Outcome.BLOCKED
    # the reproduction of the probe is untouched by fingerprints
    for (env, _), v in zip(_wc(measurements_dir), verdicts, strict=True):
        plain = analyze(env, env.test_keys, None)
        assert (plain.blocking, plain.accessible) == (v.blocking, v.accessible)


def _with_body(keys: dict[str, Any], body: str) -> bytes:
    keys = msgspec.json.decode(msgspec.json.encode(keys))
    keys["requests"][0]["response"]["body"] = body
    return msgspec.json.encode(keys)


def test_blockpage_body_on_an_ok_measurement(measurements_dir: Path, db: FingerprintDB) -> None:
    env, keys = _wc(measurements_dir)[0]  # IT, accessible
    assert analyze(env, env.test_keys, db).outcome is Outcome.OK
    isp = (
        "<html>contact it-security-operations@etisalat.ae</html>"  # ooni.ae_3, scope isp: confirmed anywhere
    )
    verdict = analyze(env, _with_body(keys, isp), db)
    assert (verdict.outcome, verdict.reason, verdict.confirmed) == (
        Outcome.BLOCKED,
        Reason.HTTP_BLOCKPAGE,
        True,
    )
    assert verdict.layer is Layer.HTTP and verdict.fingerprint == "ooni.ae_3"
    # a product blockpage outside its expected countries on a page the control also saw: not trusted
    verdict = analyze(env, _with_body(keys, "<p>FortiGuard Web Filtering</p>"), db)
    assert verdict.outcome is Outcome.OK and verdict.fingerprint is None
    # a false-positive marker on the same page wins: never confirmed
    verdict = analyze(env, _with_body(keys, isp + "<p>Checking your browser before accessing</p>"), db)
    assert not verdict.confirmed and verdict.outcome is not Outcome.BLOCKED


def _fp(name: str, scope: str, pattern: str = "x", location: str = "body") -> Fingerprint:
    return Fingerprint(name, scope, location, PatternType.CONTAINS, pattern)


DIFF = Verdict(outcome=Outcome.BLOCKED, reason=Reason.HTTP_DIFF, confidence=0.5, layer=Layer.HTTP)
RESET = Verdict(outcome=Outcome.BLOCKED, reason=Reason.TCP_RESET, confidence=0.9, layer=Layer.TCP)
FAILED = Verdict(outcome=Outcome.INCONCLUSIVE, reason=Reason.CONTROL_FAILED, confidence=0.0)


@pytest.mark.parametrize(
    ("fp", "reason", "outcome"),
    [
        (_fp("cp.fp_x_cloudflare_check", "fp", "Checking your browser"), Reason.CDN_CHALLENGE, Outcome.OK),
        (_fp("cp.fp_x_reg_redi", "fp", "Regional Redirect"), Reason.GEO_BLOCK, Outcome.OK),
        (
            _fp("cp.fp_x_fpru_nginx", "fp", "Thank you for using nginx"),
            Reason.FALSE_POSITIVE,
            Outcome.INCONCLUSIVE,
        ),
    ],
)
def test_false_positive_pages_explain_differences(fp: Fingerprint, reason: Reason, outcome: Outcome) -> None:
    verdict = overlay(DIFF, Finding(false_positive=fp))
    assert (verdict.outcome, verdict.reason, verdict.fingerprint) == (outcome, reason, fp.name)
    assert overlay(RESET, Finding(false_positive=fp)) == RESET  # a reset is not explained by any page
    assert overlay(DIFF, Finding(false_positive=fp), control_failed=True).outcome is Outcome.INCONCLUSIVE


def test_unconfirmed_blockpage_upgrades_blocked_and_inconclusive() -> None:
    page = _fp("cp.a_prod_fortinet_1", "prod")
    for base in (DIFF, FAILED):
        verdict = overlay(base, Finding(blockpage=page))
        assert (verdict.outcome, verdict.reason, verdict.confirmed) == (
            Outcome.BLOCKED,
            Reason.HTTP_BLOCKPAGE,
            False,
        )
    confirmed = overlay(FAILED, Finding(blockpage=_fp("ooni.x", "isp"), confirmed=True))
    assert confirmed.confirmed and confirmed.outcome is Outcome.BLOCKED and confirmed.confidence > 0.9


# --- properties over generated measurements of every supported test --------------------------------

FAILURES = st.sampled_from(
    [
        None,
        "connection_reset",
        "generic_timeout_error",
        "dns_nxdomain_error",
        "ssl_invalid_hostname",
        "eof_error",
    ]
)
IPS = st.sampled_from(["1.2.3.4", "10.10.34.35", "127.0.0.1", "2001:db8::1", "93.184.216.34", "not-an-ip"])
BODIES = st.sampled_from(
    [
        None,
        "",
        "<html><title>Example Domain</title></html>",
        "<p>it-security-operations@etisalat.ae</p>",
        "Checking your browser before accessing",
        "<p>FortiGuard Web Filtering</p>",
        {"format": "base64", "data": "AAEC/w=="},
        {"format": "base64", "data": "!!"},
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
ANSWER = st.fixed_dictionaries(
    {
        "answer_type": st.sampled_from(["A", "AAAA", "CNAME"]),
        "ipv4": IPS,
        "asn": st.integers(0, 40000) | st.none(),
    }
)
QUERY = st.fixed_dictionaries(
    {
        "hostname": st.sampled_from(
            ["example.org", "web.telegram.org", "e1.whatsapp.net", "b-api.facebook.com"]
        ),
        "query_type": st.just("A"),
        "failure": FAILURES,
        "answers": st.lists(ANSWER, max_size=3) | st.none(),
    }
)
TCP = st.fixed_dictionaries(
    {
        "ip": IPS,
        "port": st.sampled_from([80, 443, 5222, "443"]),
        "status": st.fixed_dictionaries(
            {"success": st.booleans(), "failure": FAILURES, "blocked": st.booleans()}
        ),
    }
)
REQUEST = st.fixed_dictionaries(
    {
        "failure": FAILURES,
        "request": st.fixed_dictionaries(
            {
                "url": st.sampled_from(
                    ["http://example.org/", "https://web.telegram.org/", "https://v.whatsapp.net/v2/register"]
                ),
                "headers": st.dictionaries(
                    st.sampled_from(["Host", "User-Agent"]), st.text(max_size=8), max_size=2
                ),
            }
        ),
        "response": st.none()
        | st.fixed_dictionaries(
            {
                "code": st.sampled_from([200, 302, 403, 500, -1]),
                "body": BODIES,
                "headers": st.dictionaries(
                    st.sampled_from(["Server", "Location", "Via"]), st.text(max_size=10), max_size=2
                ),
            }
        ),
    }
)
CONTROL = st.none() | st.fixed_dictionaries(
    {
        "dns": st.fixed_dictionaries(
            {"failure": st.sampled_from([None, "dns_name_error"]), "addrs": st.lists(IPS, max_size=2)}
        ),
        "tcp_connect": st.dictionaries(
            st.sampled_from(["1.2.3.4:443", "93.184.216.34:80"]),
            st.fixed_dictionaries({"status": st.booleans(), "failure": FAILURES}),
            max_size=2,
        ),
        "http_request": st.fixed_dictionaries(
            {
                "failure": FAILURES,
                "status_code": st.sampled_from([200, 403, 500, -1]),
                "body_length": st.integers(-1, 5000),
                "title": st.sampled_from(["", "Example Domain"]),
                "headers": st.dictionaries(
                    st.sampled_from(["Server", "Date"]), st.text(max_size=5), max_size=2
                ),
            }
        ),
    }
)
ARCHIVAL = {
    "queries": st.lists(QUERY, max_size=3) | st.none(),
    "tcp_connect": st.lists(TCP, max_size=3) | st.none(),
    "requests": st.lists(REQUEST, max_size=3) | st.none(),
    "failure": FAILURES,
}
WEB_CONNECTIVITY = st.fixed_dictionaries(
    ARCHIVAL,
    optional={
        "control": CONTROL,
        "control_failure": st.sampled_from([None, "generic_timeout_error"]),
        "dns_experiment_failure": FAILURES,
        "x_dns_flags": st.integers(0, 7),
    },
)
OTHER = st.fixed_dictionaries(
    ARCHIVAL,
    optional={
        "targets": st.dictionaries(
            st.text(max_size=4),
            st.fixed_dictionaries(
                {
                    "failure": FAILURES | st.just(False),
                    "target_protocol": st.sampled_from(["obfs4", "dir_port"]),
                }
            ),
            max_size=3,
        )
        | JSON,
        "lookups": st.dictionaries(
            st.text(max_size=4), st.fixed_dictionaries({"failure": FAILURES}), max_size=3
        )
        | JSON,
        "bootstrap_time": st.floats(0, 10) | st.none(),
        "sent": st.lists(st.text(max_size=6), max_size=3) | JSON,
        "received": st.lists(st.text(max_size=6) | st.just({"format": "base64", "data": "AA=="}), max_size=3)
        | JSON,
        "failure_list": st.lists(FAILURES, max_size=3),
        "bootstrap_failure": FAILURES,
    },
)
TEST_KEYS = st.one_of(WEB_CONNECTIVITY, OTHER, JSON)
VERSIONS = st.sampled_from([None, "0.0.1", "0.1.0", "0.4.0", "0.4.3", "0.5.26", "0.5.28", "2.0.0"])
SOFTWARE = st.sampled_from([None, "ooniprobe", "ooniprobe-android", "miniooni", "measurement_kit"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.tuples(
        st.sampled_from(sorted(ANALYZERS)),
        TEST_KEYS,
        VERSIONS,
        SOFTWARE,
        st.sampled_from(["AE", "IR", "ID", "IT", "ZZ", None]),
        st.booleans(),
    )
)
def test_verdict_properties(
    db: FingerprintDB, case: tuple[str, Any, str | None, str | None, str | None, bool]
) -> None:
    test_name, keys, version, software, cc, garbage = case
    raw = b'{"queries": 3, "requests": "no"' if garbage else msgspec.json.encode(keys)
    env = Envelope(
        test_name=test_name,
        test_version=version,
        software_name=software,
        software_version="3.20.0" if software else None,
        probe_cc=cc,
        input="http://example.org/",
        measurement_start_time="2024-03-01 10:00:00",
    )
    verdict = analyze(env, msgspec.Raw(raw), db)
    assert verdict.reason is not Reason.ANALYSIS_ERROR  # no analyzer raised
    assert 0.0 <= verdict.confidence <= 1.0
    if verdict.confirmed:
        assert verdict.outcome is Outcome.BLOCKED and verdict.fingerprint
    if test_name == "web_connectivity" and isinstance(keys, dict):
        control = keys.get("control")
        http = control.get("http_request") if isinstance(control, dict) else None
        if keys.get("control_failure") or control is None or (isinstance(http, dict) and http.get("failure")):
            assert verdict.outcome is not Outcome.OK  # a failed control never yields ok


def test_every_reason_and_test_is_documented() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "verdicts.md").read_text(encoding="utf-8")
    for reason in Reason:
        assert f"`{reason.value}`" in text, reason
    for test_name in ANALYZERS:
        assert test_name in text, test_name


SCOPES = st.sampled_from(["isp", "nat", "prod", "inst", "vbw", "fp"])
FINGERPRINTS = st.builds(
    Fingerprint,
    name=st.sampled_from(["a", "cp.fp_x_cloudflare_check", "geo_x", "b"]),
    scope=SCOPES,
    location=st.sampled_from(["dns", "body", "header.location", "page"]),
    pattern_type=st.sampled_from(list(PatternType)),
    pattern=st.just("x"),
    expected_countries=st.frozensets(st.sampled_from(["IR", "IT", "RU"]), max_size=2),
)
VERDICTS = st.builds(
    Verdict,
    outcome=st.sampled_from(list(Outcome)),
    reason=st.sampled_from(list(Reason)),
    confidence=st.floats(0, 1),
    layer=st.none() | st.sampled_from(list(Layer)),
    blocking=st.sampled_from([None, False, "dns", "tcp_ip"]),
    accessible=st.sampled_from([None, True, False]),
)


@settings(max_examples=300, deadline=None)
@given(
    base=VERDICTS,
    matches=st.lists(FINGERPRINTS, max_size=4),
    cc=st.sampled_from(["IR", "IT", "ZZ", None]),
    control_failed=st.booleans(),
)
def test_overlay_properties(
    base: Verdict, matches: list[Fingerprint], cc: str | None, control_failed: bool
) -> None:
    verdict = overlay(base, FingerprintDB.empty().judge(matches, cc), control_failed=control_failed)
    assert (verdict.blocking, verdict.accessible) == (
        base.blocking,
        base.accessible,
    )  # reproduction untouched
    assert 0.0 <= verdict.confidence <= 1.0
    if verdict.confirmed:
        assert verdict.outcome is Outcome.BLOCKED
        assert any(not fp.is_false_positive and fp.confirms(cc) for fp in matches)
    if control_failed and verdict.outcome is Outcome.OK:
        assert base.outcome is Outcome.OK  # fingerprints never turn a failed control into ok
    http_fp = any(fp.is_false_positive for fp in matches)
    if http_fp and verdict.confirmed:
        assert verdict.reason is Reason.DNS_BLOCKPAGE_IP  # a false positive leaves only DNS confirmations

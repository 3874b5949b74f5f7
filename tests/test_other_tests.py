"""Verdicts of the non-web_connectivity tests on the real measurements in ../shared/data.

Each verdict is derived from raw fields; the probe's own summary keys (where the measurement has them)
are the reference it is compared with.  Differences are deliberate, documented, and asserted as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from netfreedom.analysis import analyze
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir
from netfreedom.analysis.fingerprints import FingerprintDB
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Layer, Outcome, Reason, Verdict

_ENVELOPE = msgspec.json.Decoder(Envelope)


@pytest.fixture(scope="module")
def db(shared_data: Path) -> FingerprintDB:
    return load_fingerprints(sources_in_dir(shared_data))


def _measurements(folder: Path, test_name: str) -> list[tuple[Envelope, dict[str, Any]]]:
    out = []
    for line in (folder / f"{test_name}.jsonl").read_bytes().splitlines():
        if line.strip():
            env = _ENVELOPE.decode(line)
            keys = msgspec.json.decode(env.test_keys)
            out.append((env, keys if isinstance(keys, dict) else {}))
    return out


def _verdicts(folder: Path, test_name: str, db: FingerprintDB) -> list[tuple[Verdict, dict[str, Any]]]:
    return [(analyze(env, env.test_keys, db), keys) for env, keys in _measurements(folder, test_name)]


def _summary(results: list[tuple[Verdict, dict[str, Any]]]) -> list[tuple[str, str, str | None]]:
    return [(v.outcome.value, v.reason.value, v.layer.value if v.layer else None) for v, _ in results]


def test_telegram(measurements_dir: Path, db: FingerprintDB) -> None:
    results = _verdicts(measurements_dir, "telegram", db)
    assert _summary(results) == [("inconclusive", "no_data", None), ("ok", "ok", None), ("ok", "ok", None)]
    for verdict, keys in results[1:]:
        anomaly = bool(
            keys.get("telegram_web_failure")
            or keys["telegram_http_blocking"]
            or keys["telegram_tcp_blocking"]
        )
        assert (verdict.outcome is Outcome.BLOCKED) == anomaly


def test_whatsapp(measurements_dir: Path, db: FingerprintDB) -> None:
    results = _verdicts(measurements_dir, "whatsapp", db)
    assert _summary(results) == [("ok", "ok", None), ("ok", "ok", None)]
    first, second = (keys for _, keys in results)
    assert first["whatsapp_web_status"] == "ok" and first["whatsapp_endpoints_status"] == "ok"
    # Deliberate difference: probe 0.9.0 called WhatsApp Web blocked because the real server answered
    # 400/403 (``http_unexpected_status_code``); a response from the TLS-verified server is reachability.
    assert second["whatsapp_web_failure"] == "http_unexpected_status_code"
    assert all(r["failure"] is None and r["response"]["code"] >= 400 for r in second["requests"][:2])


def test_signal(measurements_dir: Path, db: FingerprintDB) -> None:
    results = _verdicts(measurements_dir, "signal", db)
    assert _summary(results) == [
        ("ok", "ok", None),
        ("ok", "ok", None),
        ("blocked", "app.blocked", "tls"),  # AM: ssl_unknown_authority under Signal's pinned CA
        ("blocked", "app.blocked", "dns"),  # US: android_dns_cache_no_data for api.directory.signal.org
    ]
    for verdict, keys in results:
        assert (verdict.outcome is Outcome.BLOCKED) == (keys["signal_backend_status"] == "blocked")
        # uptime.signal.org -> 127.0.0.1 by design: a DNS fingerprint for 127.0.0.1 exists, yet no match
        assert verdict.fingerprint is None


def test_facebook_messenger(measurements_dir: Path, db: FingerprintDB) -> None:
    results = _verdicts(measurements_dir, "facebook_messenger", db)
    assert _summary(results) == [("ok", "ok", None)]
    keys = results[0][1]
    assert keys["facebook_dns_blocking"] is False and keys["facebook_tcp_blocking"] is False


def test_facebook_messenger_rules_on_raw_fields(measurements_dir: Path, db: FingerprintDB) -> None:
    env, keys = _measurements(measurements_dir, "facebook_messenger")[0]

    def run(changed: dict[str, Any]) -> Verdict:
        return analyze(env, msgspec.json.encode(changed), db)

    # an answer outside AS32934 for one service is DNS blocking (answers now carry ASNs)
    bad = msgspec.json.decode(msgspec.json.encode(keys))
    for query in bad["queries"]:
        for answer in query["answers"]:
            answer["asn"] = 32934
    bad["queries"][0]["answers"][-1]["asn"] = 12345
    verdict = run(bad)
    assert (verdict.outcome, verdict.layer) == (Outcome.BLOCKED, Layer.DNS)
    # every connect failing is TCP blocking
    dead = msgspec.json.decode(msgspec.json.encode(keys))
    for connect in dead["tcp_connect"]:
        connect["status"] = {"success": False, "failure": "generic_timeout_error"}
    verdict = run(dead)
    assert (verdict.outcome, verdict.layer) == (Outcome.BLOCKED, Layer.TCP)


def test_tor(measurements_dir: Path, db: FingerprintDB) -> None:
    results = _verdicts(measurements_dir, "tor", db)
    assert _summary(results) == [("ok", "ok", None)] * 3
    keys = results[0][1]
    protocols = ("dir_port", "or_port", "or_port_dirauth", "obfs4")
    assert not any(keys[f"{p}_total"] > 0 and keys[f"{p}_accessible"] == 0 for p in protocols)


def test_tor_protocol_with_no_reachable_target_is_blocked(measurements_dir: Path, db: FingerprintDB) -> None:
    env, keys = _measurements(measurements_dir, "tor")[0]
    for target in keys["targets"].values():
        if target["target_protocol"] == "obfs4":
            target["failure"] = "generic_timeout_error"
    verdict = analyze(env, msgspec.json.encode(keys), db)
    assert (verdict.outcome, verdict.reason) == (Outcome.BLOCKED, Reason.CIRCUMVENTION_BLOCKED)


def test_psiphon(measurements_dir: Path, db: FingerprintDB) -> None:
    results = _verdicts(measurements_dir, "psiphon", db)
    assert _summary(results) == [("ok", "ok", None)]
    env, keys = _measurements(measurements_dir, "psiphon")[0]
    keys["failure"] = "bootstrap timed out"
    verdict = analyze(env, msgspec.json.encode(keys), db)
    assert (verdict.outcome, verdict.reason) == (Outcome.BLOCKED, Reason.CIRCUMVENTION_BLOCKED)


def test_dnscheck(measurements_dir: Path, db: FingerprintDB) -> None:
    results = _verdicts(measurements_dir, "dnscheck", db)
    # two IPv6 lookups failed (no route to host), the IPv4 ones worked: the resolver is usable
    assert _summary(results) == [("ok", "ok", None)]
    env, keys = _measurements(measurements_dir, "dnscheck")[0]
    for lookup in keys["lookups"].values():
        lookup["failure"], lookup["failed_operation"] = "connection_reset", "tls_handshake"
    verdict = analyze(env, msgspec.json.encode(keys), db)
    assert (verdict.outcome, verdict.reason, verdict.layer) == (
        Outcome.BLOCKED,
        Reason.RESOLVER_FAILURE,
        Layer.TLS,
    )


def test_http_header_field_manipulation(measurements_dir: Path, db: FingerprintDB) -> None:
    results = _verdicts(measurements_dir, "http_header_field_manipulation", db)
    assert _summary(results) == [
        ("ok", "ok", None),  # FR: every header echoed as sent; the probe's tampering flags are all false
        ("inconclusive", "no_data", None),  # IT: the probe wrote no requests at all
        ("inconclusive", "no_data", None),  # BR: requests = []
        ("inconclusive", "probe_failure", None),  # PK: connection_refused_error, no response
    ]
    tampering = results[0][1]["tampering"]
    assert not any(v for k, v in tampering.items() if k != "header_name_diff")


def test_http_header_field_manipulation_detects_rewrites(measurements_dir: Path, db: FingerprintDB) -> None:
    env, keys = _measurements(measurements_dir, "http_header_field_manipulation")[0]
    response = keys["requests"][0]["response"]
    echoed = msgspec.json.decode(response["body"])
    echoed["headers_dict"] = {k.lower(): v for k, v in echoed["headers_dict"].items()}  # a proxy normalised
    response["body"] = msgspec.json.encode(echoed).decode()
    verdict = analyze(env, msgspec.json.encode(keys), db)
    assert (verdict.outcome, verdict.reason) == (Outcome.BLOCKED, Reason.MIDDLEBOX)
    response["body"] = "<html>FortiGuard Web Filtering</html>"  # something else answered: a blockpage
    verdict = analyze(env, msgspec.json.encode(keys), db)
    assert (verdict.outcome, verdict.reason, verdict.fingerprint) == (
        Outcome.BLOCKED,
        Reason.HTTP_BLOCKPAGE,
        "cp.a_prod_fortinet_1",
    )
    assert not verdict.confirmed  # a product page, FR not an expected country


def test_http_invalid_request_line(measurements_dir: Path, db: FingerprintDB) -> None:
    results = _verdicts(measurements_dir, "http_invalid_request_line", db)
    assert _summary(results) == [("inconclusive", "no_data", None)] + [("blocked", "middlebox", "http")] * 4
    for verdict, keys in results[1:]:
        assert keys["tampering"] is True
        assert verdict.confirmed is False


def test_http_invalid_request_line_echo_is_ok(measurements_dir: Path, db: FingerprintDB) -> None:
    env, keys = _measurements(measurements_dir, "http_invalid_request_line")[1]
    keys["received"] = list(keys["sent"])
    verdict = analyze(env, msgspec.json.encode(keys), db)
    assert verdict.outcome is Outcome.OK

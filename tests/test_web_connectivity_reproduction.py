"""The reproduction of the probe's ``blocking``/``accessible`` agrees with every real measurement.

Run with ``-s`` to see the table as it is computed; it is also printed in pytest's terminal summary.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from netfreedom.analysis.web_connectivity import choose, http_matches, reproduce, verdict_for
from netfreedom.analysis.web_connectivity.reproduce import Algorithm
from netfreedom.models.measurement import Envelope
from netfreedom.models.registry import decode_test_keys
from netfreedom.models.web_connectivity import WebConnectivityKeys

# Measurements on which the probe itself is wrong, keyed by (file, line), with the reason.  Listed in
# docs/web_connectivity.md; the reproduction follows the algorithm, not the probe's mistake.  None found in
# ../shared/data so far: every probe value is what its own algorithm yields.
PROBE_ERRORS: dict[tuple[str, int], str] = {}


class _Row(msgspec.Struct):
    line: int
    version: str
    algorithm: str
    probe: tuple[Any, Any]
    ours: tuple[Any, Any]


def _rows(measurements_dir: Path) -> list[_Row]:
    rows = []
    path = measurements_dir / "web_connectivity.jsonl"
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        env = msgspec.json.decode(line, type=Envelope)
        plain = msgspec.json.decode(env.test_keys)
        if not isinstance(plain, dict) or "blocking" not in plain:
            continue  # the probe wrote no verdict: nothing to agree with
        keys = decode_test_keys(env.test_name, env.test_keys)
        assert isinstance(keys, WebConnectivityKeys)
        rows.append(
            _Row(
                line=number,
                version=env.test_version or "(none)",
                algorithm=choose(env, keys).algorithm.value,
                probe=(plain["blocking"], plain.get("accessible")),
                ours=reproduce(env, keys),
            )
        )
    return rows


def _table(rows: list[_Row]) -> list[str]:
    by: dict[tuple[str, str], Counter[str]] = {}
    for row in rows:
        exception = ("web_connectivity.jsonl", row.line) in PROBE_ERRORS
        outcome = "agree" if row.probe == row.ours else "probe_error" if exception else "disagree"
        by.setdefault((row.version, row.algorithm), Counter())[outcome] += 1
    lines = [f"{'test_version':<14}{'algorithm':<14}{'n':>4}{'agree':>7}{'disagree':>10}{'probe_err':>11}"]
    for (version, algorithm), counts in sorted(by.items()):
        n = sum(counts.values())
        lines.append(
            f"{version:<14}{algorithm:<14}{n:>4}{counts['agree']:>7}{counts['disagree']:>10}"
            f"{counts['probe_error']:>11}"
        )
    total = Counter(r.probe == r.ours for r in rows)
    lines.append(f"{'total':<28}{len(rows):>4}{total[True]:>7}{total[False]:>10}")
    return lines


class _Summary:
    """Adds the agreement table to pytest's terminal summary, visible without ``-s``."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("web_connectivity: reproduction of the probe's blocking/accessible")
        for line in self.lines:
            terminalreporter.write_line(line)


def test_reproduction_agrees_with_the_probe(measurements_dir: Path, request: pytest.FixtureRequest) -> None:
    rows = _rows(measurements_dir)
    table = _table(rows)
    print("\n".join(table))
    if not request.config.pluginmanager.has_plugin("netfreedom-wc-table"):
        request.config.pluginmanager.register(_Summary(table), "netfreedom-wc-table")
    # Every family of probe is represented, so each algorithm is checked against real output.
    assert {r.algorithm for r in rows} == {a.value for a in Algorithm}
    assert len(rows) >= 20
    disagreements = [
        (r.line, r.version, r.probe, r.ours)
        for r in rows
        if r.probe != r.ours and ("web_connectivity.jsonl", r.line) not in PROBE_ERRORS
    ]
    assert disagreements == []
    # A documented probe error must really be a disagreement (else the exception is stale).
    for (_, line), _reason in PROBE_ERRORS.items():
        row = next(r for r in rows if r.line == line)
        assert row.probe != row.ours


def test_reproduction_is_not_read_from_the_probe(measurements_dir: Path) -> None:
    """Erasing the probe's own conclusions changes nothing: they are recomputed, never copied."""
    probe_keys = (
        "blocking",
        "accessible",
        "dns_consistency",
        "body_length_match",
        "body_proportion",
        "headers_match",
        "status_code_match",
        "title_match",
        "x_status",
        "x_blocking_flags",
        "x_dns_flags",
        "x_null_null_flags",
    )
    checked = 0
    for line in (measurements_dir / "web_connectivity.jsonl").read_bytes().splitlines():
        env = msgspec.json.decode(line, type=Envelope)
        plain = msgspec.json.decode(env.test_keys)
        if not isinstance(plain, dict) or "blocking" not in plain:
            continue
        stripped = {k: v for k, v in plain.items() if k not in probe_keys}
        keys = decode_test_keys(env.test_name, msgspec.json.encode(stripped))
        assert isinstance(keys, WebConnectivityKeys)
        assert reproduce(env, keys) == (plain["blocking"], plain.get("accessible"))
        checked += 1
    assert checked >= 20


def test_version_choice_follows_the_software() -> None:
    def env(**fields: Any) -> Envelope:
        return Envelope(test_name="web_connectivity", **fields)

    keys = WebConnectivityKeys()
    lte = WebConnectivityKeys(x_blocking_flags=0)
    assert choose(env(test_version="0.0.1"), keys).algorithm is Algorithm.MK
    python = env(test_version="0.3.2", software_name="ooniprobe", software_version="2.3.0")
    assert choose(python, keys).algorithm is Algorithm.PYTHON
    assert not choose(
        env(test_version="0.1.2", software_name="ooniprobe", software_version="2.0.0"), keys
    ).python_strict_private
    # The same test_version from the Go engine is the Go algorithm.
    go = env(test_version="0.3.2", software_name="ooniprobe", software_version="3.10.0")
    assert choose(go, keys).algorithm is Algorithm.GO
    old_go = choose(env(test_version="0.4.2", measurement_start_time="2021-09-01 00:00:00"), keys)
    assert old_go.go.strict_nxdomain and not old_go.go.skip_negative_codes and old_go.go.title_bound == 128
    assert not choose(env(test_version="0.4.3"), keys).go.strict_nxdomain
    assert choose(env(test_version="0.5.26"), lte).algorithm is Algorithm.LTE_ORIG
    assert choose(env(test_version="0.5.9"), lte).lte_minor == 9
    prefix = choose(env(test_version="0.5.27"), lte)
    assert prefix.algorithm is Algorithm.LTE_CLASSIC and not prefix.fixes.website_down
    dev = choose(env(test_version="0.5.28", measurement_start_time="2024-01-23 10:00:00"), lte)
    assert dev.fixes.website_down and not dev.fixes.loopback_ip_url and not dev.fixes.truncation
    release = choose(env(test_version="0.5.28", measurement_start_time="2024-03-10 10:00:00"), lte)
    assert release.fixes.truncation
    # No test_version (stripped fixtures): x_* flags mean 0.5, the date picks the engine.
    assert choose(env(measurement_start_time="2023-07-06 18:38:40"), lte).algorithm is Algorithm.LTE_ORIG
    stripped = choose(env(measurement_start_time="2024-05-01 00:00:00"), lte)
    assert stripped.algorithm is Algorithm.LTE_CLASSIC and stripped.fixes.truncation
    assert not choose(env(measurement_start_time="2024-01-10 00:00:00"), lte).fixes.website_down
    assert choose(env(), WebConnectivityKeys(x_dns_flags=0)).algorithm is Algorithm.LTE_CLASSIC
    assert choose(env(), keys).algorithm is Algorithm.GO


def test_own_verdict_on_real_measurements(measurements_dir: Path) -> None:
    """Known real cases, checked by what the measurement shows (see docs/web_connectivity.md)."""
    lines = (measurements_dir / "web_connectivity.jsonl").read_bytes().splitlines()

    def verdict(number: int) -> tuple[str, str]:
        env = msgspec.json.decode(lines[number - 1], type=Envelope)
        keys = decode_test_keys(env.test_name, env.test_keys)
        assert keys is None or isinstance(keys, WebConnectivityKeys)
        v = verdict_for(env, keys)
        return v.outcome.value, v.reason.value

    assert verdict(19) == ("blocked", "dns.bogon")  # IR: facebook.com → 10.10.34.36
    assert verdict(12) == ("blocked", "dns.bogon")  # IR: fa.wikipedia.org → private address
    assert verdict(10) == ("blocked", "http.diff")  # ID: archive.org → 302 to the Trustpositif page
    assert verdict(17) == ("blocked", "http.diff")  # AU: 307 to a firewall's UserCheck on 192.168.22.1
    assert verdict(15) == ("down", "site_down")  # wikispaces.com: gone, the control cannot fetch it either
    assert verdict(23) == ("down", "site_down")  # CN: NXDOMAIN for the control; ISP answers dead names
    assert verdict(21) == ("inconclusive", "control_failed")
    assert verdict(16) == ("inconclusive", "no_data")  # "test_keys": null
    assert verdict(1) == ("ok", "ok")


def test_intermediate_values_agree_with_the_probe(measurements_dir: Path) -> None:
    """Not only the final pair: DNS consistency, the HTTP comparisons and the 0.5 flags agree too."""
    from netfreedom.analysis.web_connectivity import legacy, v04, v05_classic, v05_orig
    from netfreedom.analysis.web_connectivity.common import url_host
    from netfreedom.models.measurement import first_input

    compared: Counter[str] = Counter()
    for line in (measurements_dir / "web_connectivity.jsonl").read_bytes().splitlines():
        env = msgspec.json.decode(line, type=Envelope)
        plain = msgspec.json.decode(env.test_keys)
        if not isinstance(plain, dict) or "blocking" not in plain:
            continue
        keys = decode_test_keys(env.test_name, env.test_keys)
        assert isinstance(keys, WebConnectivityKeys)
        choice = choose(env, keys)
        host = url_host(first_input(env))
        if choice.algorithm is Algorithm.GO:
            paddr = v04.probe_addresses(keys)
            failure = v04.dns_experiment_failure(keys)
            first = keys.requests[0] if keys.requests else None
            chttp = keys.control.http_request if keys.control else None
            ours = (
                failure,
                v04.dns_consistency(keys, host, failure, paddr),
                *v04.http_matches(first, chttp, choice.go),
            )
            names = ("dns_experiment_failure", "dns_consistency", "status_code_match", "body_length_match")
            names += ("headers_match", "title_match")
            assert ours == tuple(plain.get(n) for n in names)
        elif choice.algorithm is Algorithm.LTE_ORIG:
            assert v05_orig.blocking_flags(keys) == plain["x_blocking_flags"]
        elif choice.algorithm is Algorithm.LTE_CLASSIC:
            kept = v05_classic.classic_filter(v05_classic.build(keys, choice.fixes), choice.fixes)
            metrics = v05_classic.dns_metrics(keys, kept, choice.fixes)
            assert v05_classic.dns_consistency(keys, metrics, choice.fixes) == plain["dns_consistency"]
        elif keys.control_failure is None and plain.get("dns_consistency") is not None:
            flavor = legacy.Flavor.MK if choice.algorithm is Algorithm.MK else legacy.Flavor.PYTHON
            consistent = legacy.dns_consistent(keys, flavor, host, choice.python_strict_private)
            assert ("consistent" if consistent else "inconsistent") == plain["dns_consistency"]
        compared[choice.algorithm.value] += 1
    assert set(compared) == {a.value for a in Algorithm}


MATCH_KEYS = ("status_code_match", "body_length_match", "headers_match", "title_match")

# Lines whose stored body is a placeholder put there by the fixture's authors (ooni/backend test data), so
# the two comparisons read from the body cannot be recomputed: the probe saw the real page (its own
# body_proportion is ~1.0 against a control of tens of kilobytes).  The status and headers still are.
BODY_REDACTED: dict[int, str] = {
    13: "body '...' (MK, collegehumor.com; control 93538 bytes)",
    14: "body 'BODY-IS-HERE' (Python, postmaster.co.uk; control 11954 bytes)",
    18: "base64 'hi' (Python, religioustolerance.org; control 733107 bytes)",
    24: "body '[redacted body here]' (MK, ledarsidorna.se; control 92179 bytes)",
}
_FROM_BODY = ("body_length_match", "title_match")


def test_the_four_match_keys_agree_with_the_probe(measurements_dir: Path) -> None:
    """Every ``*_match`` the probe wrote, on every measurement and algorithm, is the value recomputed."""
    compared: Counter[str] = Counter()
    non_null = 0
    lines = (measurements_dir / "web_connectivity.jsonl").read_bytes().splitlines()
    for number, line in enumerate(lines, 1):
        env = msgspec.json.decode(line, type=Envelope)
        plain = msgspec.json.decode(env.test_keys)
        if not isinstance(plain, dict) or not any(k in plain for k in MATCH_KEYS):
            continue
        keys = decode_test_keys(env.test_name, env.test_keys)
        assert isinstance(keys, WebConnectivityKeys)
        ours = dict(zip(MATCH_KEYS, http_matches(env, keys), strict=True))
        written = {k: plain[k] for k in MATCH_KEYS if k in plain}
        if number in BODY_REDACTED:
            # The exception is real (else stale): the body-derived values differ, the others agree.
            assert any(ours[k] != written[k] for k in _FROM_BODY)
            written = {k: v for k, v in written.items() if k not in _FROM_BODY}
        assert {k: ours[k] for k in written} == written, (number, env.test_version)
        compared[choose(env, keys).algorithm.value] += len(written)
        non_null += sum(v is not None for v in written.values())
    # All four keys on every algorithm that writes them, non-null values included.
    assert set(compared) == {a.value for a in Algorithm}
    assert sum(compared.values()) >= 75 and non_null >= 20


def _probe_class(blocking: object, accessible: object) -> str:
    """The reproduction read as an outcome: a method is blocked, accessible is ok, (false, false) down."""
    if isinstance(blocking, str):
        return "blocked"
    if accessible is True:
        return "ok"
    return "down" if (blocking, accessible) == (False, False) else "inconclusive"


_METHOD = {
    "dns": ("dns.",),
    "tcp_ip": ("tcp.",),
    "http-failure": ("http.failure", "tls."),
    "http-diff": ("http.diff",),
}


def test_reproduction_and_outcome_differ_only_where_documented(measurements_dir: Path) -> None:
    """``blocking``/``accessible`` (the probe's rules) and ``outcome`` (netfreedom's) may disagree — in class
    or, both blocked, in method — only on the lines docs/web_connectivity.md explains, one row each."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "web_connectivity.md").read_text()
    section = docs.split("### Where the own verdict and the probe differ", 1)[1].split("\n## ", 1)[0]
    documented = {
        int(row.split("|")[1]) for row in section.splitlines() if row.startswith("| ") and row[2].isdigit()
    }
    differing: dict[int, tuple[object, object, str, str]] = {}
    lines = (measurements_dir / "web_connectivity.jsonl").read_bytes().splitlines()
    for number, line in enumerate(lines, 1):
        env = msgspec.json.decode(line, type=Envelope)
        keys = decode_test_keys(env.test_name, env.test_keys)
        assert keys is None or isinstance(keys, WebConnectivityKeys)
        v = verdict_for(env, keys)
        probe = _probe_class(v.blocking, v.accessible)
        same_method = not isinstance(v.blocking, str) or v.reason.value.startswith(_METHOD[v.blocking])
        if probe != v.outcome.value or not same_method:
            differing[number] = (v.blocking, v.accessible, v.outcome.value, v.reason.value)
    assert set(differing) == documented, differing


def test_helpers_for_the_fingerprint_layer(measurements_dir: Path) -> None:
    from netfreedom.analysis.web_connectivity import dns_answers, response_bodies, response_headers

    lines = (measurements_dir / "web_connectivity.jsonl").read_bytes().splitlines()

    def keys_of(number: int) -> WebConnectivityKeys:
        env = msgspec.json.decode(lines[number - 1], type=Envelope)
        keys = decode_test_keys(env.test_name, env.test_keys)
        assert isinstance(keys, WebConnectivityKeys)
        return keys

    # Every hop, final first: archive.org's Trustpositif page, then the 302 that led there (empty body).
    bodies = list(response_bodies(keys_of(10)))
    assert len(bodies) == 1 and "Trustpositif" in str(bodies[0])
    locations = [h.get("Location") for h in response_headers(keys_of(10))]
    assert locations == [None, "http://lamanlabuh.aduankonten.id/"]
    # A base64 header value arrives decoded, as text.
    (headers,) = response_headers(keys_of(17))
    assert headers["Location"].startswith("http://192.168.22.1/UserCheck/")
    # An invalid base64 body is skipped, not passed on as garbage.
    assert list(response_bodies(keys_of(18))) == []
    answers = [(q.hostname, a.ipv4) for q, a in dns_answers(keys_of(19))]
    assert answers == [("www.facebook.com", "10.10.34.36")]

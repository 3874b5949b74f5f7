"""End to end on loopback: `netfreedom probe run` against the censorship lab through the lab's control."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from netfreedom.models.measurement import Envelope, measurement_time
from netfreedom.probe.lab import Lab
from netfreedom.probe.labweb import BLOCKPAGE_PATTERN

from .conftest import cli_env

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab("127.0.1") as running:
        yield running


def probe_cli(args: list[str], config: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = cli_env()
    env["NETFREEDOM_CONFIG_DIR"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", "probe", "run", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=120,
    )


@pytest.fixture(scope="module")
def measured(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("probe")
    test_list = lab.write_test_list(tmp / "lab.csv")
    routes = lab.write_routes(tmp / "routes.json")
    out = tmp / "out.jsonl"
    args = ["--test-list", str(test_list), "--control", lab.control_url, "--resolver", lab.probe_resolver]
    args += ["--lab-routes", str(routes), "--ca-file", str(lab.ca_file)]
    args += ["--output", str(out), "--timeout", "1", "--parallel", "8", "--probe-cc", "BE"]
    args += ["--probe-asn", "AS64496", "--yes"]
    done = probe_cli(args, tmp / "config")
    assert done.returncode == 0, done.stderr
    lines = out.read_bytes().splitlines()
    by_name = {}
    for line in lines:
        m = json.loads(line)
        name = m["input"].split("//")[1].split(".")[0]
        by_name[name] = m
    return {"lines": lines, "by_name": by_name, "out": out, "tmp": tmp, "stderr": done.stderr}


def test_every_case_is_measured_once_in_ooni_format(lab: Lab, measured: dict[str, Any]) -> None:
    lines = measured["lines"]
    assert len(lines) == len(lab.cases)
    assert sorted(measured["by_name"]) == sorted(c.name for c in lab.cases)
    uids = set()
    for line in lines:
        env = msgspec.json.decode(line, type=Envelope)
        assert env.test_name == "web_connectivity" and env.software_name == "netfreedom"
        assert env.data_format_version == "0.2.0" and env.test_version == "0.5.28"
        assert env.probe_cc == "BE" and env.probe_asn == "AS64496"
        assert STAMP.match(env.measurement_start_time or "") and STAMP.match(env.test_start_time or "")
        assert measurement_time(env) is not None
        uids.add(env.measurement_uid)
    assert len(uids) == len(lines)
    assert len({json.loads(line)["report_id"] for line in lines}) == 1


def test_raw_observations_match_the_lab(measured: dict[str, Any]) -> None:
    m = {name: mm["test_keys"] for name, mm in measured["by_name"].items()}

    def first(name: str) -> dict[str, Any]:
        return m[name]["requests"][0]

    assert first("ok")["failure"] is None and first("ok")["response"]["code"] == 200
    assert m["ok"]["control"]["http_request"]["status_code"] == 200
    assert m["dns-nxdomain"]["dns_experiment_failure"] == "dns_nxdomain_error"
    assert m["dns-nxdomain"]["requests"] == [] and m["dns-nxdomain"]["control"]["dns"]["addrs"]
    inject = m["dns-inject"]
    probe_addrs = {a["ipv4"] for q in inject["queries"] for a in q["answers"] or [] if "ipv4" in a}
    assert probe_addrs.isdisjoint(inject["control"]["dns"]["addrs"])
    assert [t["ip"] for t in m["dns-bogon"]["tcp_connect"]] == ["10.10.34.36"]
    assert [t["status"]["failure"] for t in m["tcp-refused"]["tcp_connect"]] == ["connection_refused"]
    assert [t["status"]["failure"] for t in m["tcp-drop"]["tcp_connect"]] == ["generic_timeout_error"]
    assert all(t["status"]["blocked"] for t in m["tcp-drop"]["tcp_connect"])
    assert first("http-reset")["failure"] == "connection_reset"
    assert first("http-hang")["failure"] == "generic_timeout_error"
    assert first("http-diff")["response"]["code"] == 403
    assert BLOCKPAGE_PATTERN in first("blockpage")["response"]["body"]
    assert m["blockpage"]["control"]["http_request"]["status_code"] == 200
    assert m["down"]["control"]["http_request"]["failure"] == "connection_refused_error"
    assert [h["failure"] for h in m["tls-ok"]["tls_handshakes"]] == [None]
    assert m["tls-ok"]["tls_handshakes"][0]["peer_certificates"]
    assert m["tls-ok"]["x_sni_blocking"] is None
    [sni] = m["sni-blocked"]["x_sni_blocking"]
    assert sni["target_failure"] == "connection_reset" and sni["control_failure"] is None
    assert sni["sni_blocking"] is True
    assert all(v["status"] for v in m["sni-blocked"]["control"]["tls_handshake"].values())
    assert not any(t["status"]["blocked"] for t in m["down"]["tcp_connect"])


# expected lab verdict -> (outcome, layer) of netfreedom's own verdict
OWN = {
    "ok": ("ok", None),
    "dns": ("blocked", "dns"),
    "tcp": ("blocked", "tcp"),
    "http-failure": ("blocked", "http"),
    "http-diff": ("blocked", "http"),
    "blockpage": ("blocked", "http"),
    "down": ("down", "tcp"),
    "tls": ("blocked", "tls"),
}
# expected lab verdict -> the probe's own (blocking, accessible) (web_connectivity 0.5 classic rules)
BLOCKING = {
    "ok": (False, True),
    "dns": ("dns", False),
    "tcp": ("tcp_ip", False),
    "http-failure": ("http-failure", False),
    "http-diff": ("http-diff", False),
    "blockpage": ("http-diff", False),
    "down": (False, False),  # down for the control too: not blocked (0.4 said tcp_ip here)
    "tls": ("http-failure", False),
}


def test_each_lab_case_gets_its_verdict(lab: Lab, measured: dict[str, Any]) -> None:
    from netfreedom.analysis.web_connectivity import analyze_raw

    for case in lab.cases:
        line = msgspec.json.encode(measured["by_name"][case.name])
        env = msgspec.json.decode(line, type=Envelope)
        _, verdict = analyze_raw(env, env.test_keys)
        keys = measured["by_name"][case.name]["test_keys"]
        got = (verdict.outcome.value, verdict.layer.value if verdict.layer else None)
        assert got == OWN[case.expected], (case.name, verdict)
        assert (keys["blocking"], keys["accessible"]) == BLOCKING[case.expected], case.name
        # The probe's summary is the analysis' reproduction, by construction and in fact.
        assert (keys["blocking"], keys["accessible"]) == (verdict.blocking, verdict.accessible)
    reasons = {
        name: analyze_raw(env, env.test_keys)[1].reason.value
        for name, m in measured["by_name"].items()
        for env in [msgspec.json.decode(msgspec.json.encode(m), type=Envelope)]
    }
    assert reasons["dns-nxdomain"] == "dns.nxdomain" and reasons["dns-bogon"] == "dns.bogon"
    assert reasons["tcp-refused"] == "tcp.refused" and reasons["down"] == "site_down"
    assert reasons["sni-blocked"] == "tls.reset"


def test_output_reingests_without_a_rejected_line(measured: dict[str, Any]) -> None:
    db = measured["tmp"] / "store.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "netfreedom", "ingest", str(measured["out"]), "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rejected"] == 0
    assert summary["ingested"] == len(measured["lines"])


def test_risk_notice_needs_acceptance_once(lab: Lab, tmp_path: Path) -> None:
    url = next(c.url for c in lab.cases if c.name == "ok")
    args = ["--url", url, "--control", lab.control_url, "--resolver", lab.probe_resolver]
    args += ["--output", str(tmp_path / "o.jsonl"), "--timeout", "1"]
    args += ["--lab-routes", str(lab.write_routes(tmp_path / "routes.json"))]
    config = tmp_path / "config"
    refused = probe_cli(args, config)
    assert refused.returncode == 2
    assert "carry risk" in refused.stderr and "--yes" in refused.stderr
    assert not (tmp_path / "o.jsonl").exists()
    accepted = probe_cli([*args, "--yes"], config)
    assert accepted.returncode == 0, accepted.stderr
    assert (config / "probe-consent.json").is_file()
    again = probe_cli(args, config)
    assert again.returncode == 0, again.stderr
    assert "carry risk" not in again.stderr
    assert len((tmp_path / "o.jsonl").read_bytes().splitlines()) == 1


def test_bad_options_are_clear_errors(lab: Lab, tmp_path: Path) -> None:
    base = ["--control", lab.control_url, "--output", str(tmp_path / "o.jsonl"), "--yes"]
    bad_routes = tmp_path / "routes.json"
    bad_routes.write_text('{"192.88.99.1:80": "somewhere"}')
    bad_list = tmp_path / "bad.csv"
    bad_list.write_text(
        "url,category_code,category_description,date_added,source,notes\nhttp://[::1/,NEWS,,,,\n"
    )
    for extra, words in (
        (["--url", "ftp://x/"], "not an http(s) URL"),
        (["--url", "http://[::1/"], "not a valid URL"),
        (["--url", "http://x:99999/"], "not a valid URL"),
        (["--url", "http://x/", "--resolver", "nope"], "--resolver"),
        (["--url", "http://x/", "--probe-cc", "Belgium"], "--probe-cc"),
        ([], "nothing to measure"),
        (["--test-list", str(tmp_path / "missing.csv")], "cannot read test list"),
        (["--test-list", str(bad_list)], "bad.csv"),
        (["--url", "http://x/", "--lab-routes", str(bad_routes)], "is not IP:port"),
    ):
        done = probe_cli([*base, *extra], tmp_path / "config")
        assert done.returncode == 2, (extra, done.stderr)
        assert words in done.stderr and "Traceback" not in done.stderr


def test_blockpage_is_confirmed_by_the_fingerprint_layer(measured: dict[str, Any], shared_data: Path) -> None:
    from netfreedom.analysis import analyze
    from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir

    fingerprints = load_fingerprints(sources_in_dir(shared_data))
    confirmed = {}
    for name, m in measured["by_name"].items():
        env = msgspec.json.decode(msgspec.json.encode(m), type=Envelope)
        verdict = analyze(env, env.test_keys, fingerprints)
        confirmed[name] = (verdict.outcome.value, verdict.confirmed, verdict.fingerprint)
    assert confirmed.pop("blockpage") == ("blocked", True, "ooni.be_0")
    # The injected 10.10.34.36 is the address of a known DNS blocking fingerprint (Iran, scope nat).
    assert confirmed.pop("dns-bogon") == ("blocked", True, "ooni.ir_10dot10_ipv4_1")
    assert not any(c for _, c, _ in confirmed.values()), confirmed


def test_a_site_down_everywhere_is_down_in_the_file_in_analyze_and_in_the_run_summary(
    lab: Lab, measured: dict[str, Any], tmp_path: Path
) -> None:
    """Nothing listens on the `down` case's address, for the probe and the control alike (connection
    refused on both sides): the file says (blocking false, accessible false) — web_connectivity 0.5's
    reading, not 0.4's `tcp_ip` false positive — `analyze` says down, and the run's summary counts what
    `analyze` counts."""
    down = measured["by_name"]["down"]
    keys = down["test_keys"]
    assert [t["status"]["failure"] for t in keys["tcp_connect"]] == ["connection_refused"]
    [ep] = [f"{t['ip']}:{t['port']}" for t in keys["tcp_connect"]]
    assert keys["control"]["tcp_connect"][ep]["failure"] == "connection_refused_error"
    assert (keys["blocking"], keys["accessible"]) == (False, False)
    assert down["test_version"] == "0.5.28"
    out = tmp_path / "verdicts.jsonl"
    args = ["analyze", str(measured["out"]), "--output", str(out), "--no-fingerprints", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "netfreedom", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    by_input = {v.get("input"): v for v in verdicts}
    assert by_input[down["input"]]["outcome"] == "down"
    # No measurement of the run reports blocking where analyze does not see it blocked.
    for m in measured["by_name"].values():
        if isinstance(m["test_keys"]["blocking"], str):
            assert by_input[m["input"]]["outcome"] == "blocked", m["input"]
    # The run's summary line is analyze's count of the same file.
    outcomes = json.loads(done.stdout)["outcomes"]
    expected = "  ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    assert f"  {expected}  (as `netfreedom analyze` reads them" in measured["stderr"]
    assert "blocking reported" not in measured["stderr"]

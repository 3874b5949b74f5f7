"""``netfreedom analyze``: files to JSON lines, and the store (idempotent, re-analysis on changes)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

import netfreedom.pipeline.analyze as pipeline_analyze
from netfreedom.analysis import ANALYSIS_VERSION, FingerprintDB
from netfreedom.analysis.fingerprint_sources import (
    CP_HOME,
    OONI_HOME,
    fingerprints_from_bytes,
    load_fingerprints,
    sources_in_dir,
)
from netfreedom.pipeline.analyze import analyze_files, analyze_store, domain_of
from netfreedom.pipeline.ingest import ingest
from netfreedom.store import open_store

from .conftest import cli_env

FIELDS = [
    "measurement_uid",
    "report_id",
    "input",
    "test_name",
    "test_version",
    "probe_cc",
    "probe_asn",
    "measurement_start_time",
    "blocking",
    "accessible",
    "outcome",
    "layer",
    "reason",
    "confidence",
    "confirmed",
    "fingerprint",
    "source",
]


@pytest.fixture(scope="module")
def db(shared_data: Path) -> FingerprintDB:
    return load_fingerprints(sources_in_dir(shared_data))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", "analyze", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )


def test_domain_of() -> None:
    assert domain_of("https://WWW.Example.org./path") == "www.example.org"
    assert domain_of("1.2.3.4:443") is None and domain_of(None) is None and domain_of("http://[::1") is None


def test_files_to_jsonl_in_input_order_with_bad_lines(
    tmp_path: Path, measurements_dir: Path, db: FingerprintDB
) -> None:
    wc = (measurements_dir / "web_connectivity.jsonl").read_bytes().splitlines()
    mixed = tmp_path / "mixed.jsonl.gz"
    with gzip.open(mixed, "wb") as out:
        out.write(wc[11] + b"\n{not json\n" + wc[9] + b'\n["a list"]\n' + wc[0] + b"\n")
    output = tmp_path / "out" / "verdicts.jsonl"
    summary = analyze_files([str(mixed), str(measurements_dir / "signal.jsonl")], output, db)
    assert (summary.analysed, summary.rejected, summary.files) == (7, 2, 2)
    assert [(e.file.endswith("mixed.jsonl.gz"), e.line) for e in summary.errors] == [(True, 2), (True, 4)]
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [list(r) for r in records] == [FIELDS] * 7
    assert [(r["source"]["line"], r["test_name"]) for r in records] == [
        (1, "web_connectivity"),
        (3, "web_connectivity"),
        (5, "web_connectivity"),
        (1, "signal"),
        (2, "signal"),
        (3, "signal"),
        (4, "signal"),
    ]
    ir, idn = records[0], records[1]
    assert (ir["probe_cc"], ir["outcome"], ir["reason"], ir["confirmed"], ir["blocking"]) == (
        "IR",
        "blocked",
        "dns.blockpage_ip",
        True,
        "dns",
    )
    assert (idn["probe_cc"], idn["reason"], idn["fingerprint"]) == (
        "ID",
        "http.blockpage",
        "ooni.id_lamanlabuh_kominfo",
    )
    assert (
        records[3]["blocking"] is None and records[3]["accessible"] is None
    )  # only web_connectivity has them


def test_cli_file_mode(tmp_path: Path, measurements_dir: Path, shared_data: Path) -> None:
    output = tmp_path / "v.jsonl"
    result = _run(
        str(measurements_dir), "--output", str(output), "--fingerprints-dir", str(shared_data), "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["analysed"], summary["rejected"], summary["analysis_errors"]) == (90, 0, 0)
    lines = output.read_text().splitlines()
    assert len(lines) == 90
    assert sum(json.loads(line)["confirmed"] for line in lines) == 3


def test_cli_mirror_serves_the_public_homes(
    tmp_path: Path, measurements_dir: Path, shared_data: Path
) -> None:
    output = tmp_path / "v.jsonl"
    result = _run(
        str(measurements_dir / "web_connectivity.jsonl"),
        "-o",
        str(output),
        "--mirror",
        f"{OONI_HOME}={shared_data / 'ooni' / 'fingerprints'}",
        "--mirror",
        f"{CP_HOME}={shared_data / 'censoredplanet'}",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stderr
    assert "analysed 25" in result.stdout
    assert sum(json.loads(line)["confirmed"] for line in output.read_text().splitlines()) == 3


def test_cli_user_errors_are_clean(tmp_path: Path, measurements_dir: Path) -> None:
    result = _run(str(measurements_dir / "tor.jsonl"))
    assert result.returncode == 2 and "--output" in result.stderr and "Traceback" not in result.stderr
    result = _run(
        str(measurements_dir / "tor.jsonl"),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--fingerprints-dir",
        str(tmp_path),
    )
    assert (
        result.returncode == 2
        and "fingerprints_dns.csv" in result.stderr
        and "Traceback" not in result.stderr
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n")
    result = _run(str(bad), "-o", str(tmp_path / "o.jsonl"), "--no-fingerprints")
    assert result.returncode == 1 and "bad.jsonl:1" in result.stdout


def test_store_mode_is_idempotent_and_reanalyses_on_change(
    db_path: Path,
    measurements_dir: Path,
    db: FingerprintDB,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with open_store(db_path) as store:
        assert ingest(store, [str(measurements_dir)]).ingested == 90
        first = analyze_store(store, db, batch_size=16)
        assert (first.analysed, first.stored, first.reset, first.analysis_errors) == (90, 90, 0, 0)
        again = analyze_store(store, db)
        assert (again.analysed, again.stored, again.reset) == (0, 0, 0)
        rows = store.query(
            "SELECT analysis_version, fingerprints_id, count(*) AS n, sum(confirmed::INT) AS c "
            "FROM verdicts GROUP BY ALL"
        ).to_pylist()
        assert rows == [{"analysis_version": ANALYSIS_VERSION, "fingerprints_id": db.id, "n": 90, "c": 3}]
        confirmed = store.query(
            "SELECT probe_cc, domain, reason FROM verdicts WHERE confirmed ORDER BY probe_cc, reason"
        ).to_pylist()
        assert [(r["probe_cc"], r["reason"]) for r in confirmed] == [
            ("ID", "http.blockpage"),
            ("IR", "dns.blockpage_ip"),
            ("IR", "dns.blockpage_ip"),
        ]
        # new fingerprints (here: OONI's without Censored Planet's) have a new id: everything is redone
        folder = shared_data / "ooni" / "fingerprints"
        smaller = fingerprints_from_bytes(
            (folder / "fingerprints_dns.csv").read_bytes(), (folder / "fingerprints_http.csv").read_bytes()
        )
        assert smaller.id != db.id
        redo = analyze_store(store, smaller)
        assert (redo.reset, redo.analysed, redo.stored) == (90, 90, 90)
        ids = store.query("SELECT DISTINCT fingerprints_id FROM verdicts").to_pylist()
        assert ids == [{"fingerprints_id": smaller.id}]
        # new rules (ANALYSIS_VERSION) redo everything too
        monkeypatch.setattr(pipeline_analyze, "ANALYSIS_VERSION", ANALYSIS_VERSION + 1)
        bumped = analyze_store(store, smaller)
        assert (bumped.reset, bumped.stored, bumped.analysis_version) == (90, 90, ANALYSIS_VERSION + 1)
        versions = store.query("SELECT DISTINCT analysis_version FROM verdicts").to_pylist()
        assert versions == [{"analysis_version": ANALYSIS_VERSION + 1}]
        assert analyze_store(store, smaller).stored == 0
        assert store.check() == []


# The store-mode tests give analyze work to do: ingest without its own analysis.
INGEST = (sys.executable, "-m", "netfreedom", "ingest")
NO_ANALYZE = ("--no-analyze", "--json")


def test_cli_store_mode(tmp_path: Path, measurements_dir: Path, shared_data: Path) -> None:
    store = tmp_path / "s.duckdb"
    ingest_run = subprocess.run(
        [*INGEST, f"{measurements_dir}", *NO_ANALYZE, "--db", f"{store}"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    assert ingest_run.returncode == 0, ingest_run.stderr
    args = ("--db", str(store), "--fingerprints-dir", str(shared_data), "--json")
    first = _run(*args)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["stored"] == 90
    second = json.loads(_run(*args).stdout)
    assert (second["analysed"], second["stored"]) == (0, 0)


def test_fingerprints_pickle_for_workers(db: FingerprintDB) -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(db))
    assert copy.id == db.id and len(copy) == len(db)
    body = "<p>it-security-operations@etisalat.ae</p>"
    assert [fp.name for fp in copy.match_page(body, None)] == [fp.name for fp in db.match_page(body, None)]


def test_a_compiled_fingerprint_set_ships_its_automata(db: FingerprintDB) -> None:
    import pickle

    import hyperscan

    body = "<p>it-security-operations@etisalat.ae</p>"
    expected = [fp.name for fp in db.match_page(body, None)]  # compiles db
    assert expected
    copy = pickle.loads(pickle.dumps(db))
    assert copy._refused == db._refused  # loaded, not left to compile
    assert [fp.name for fp in copy.match_page(body, None)] == expected
    assert copy.problems == db.problems

    # A database this CPU cannot load (a cluster of mixed machines; here: corrupt bytes) is compiled again.
    _, args = db.__reduce__()[:2]
    fingerprints, problems, compiled, matcher = args
    assert compiled is not None and matcher == "hyperscan"
    refused, body_set, block, headers = compiled
    broken = (refused, (body_set[0], body_set[1], b"not a database"), block, headers)
    with pytest.raises(hyperscan.error):
        hyperscan.loadb(b"not a database", hyperscan.HS_MODE_BLOCK)
    again = db.__reduce__()[0](fingerprints, problems, broken, matcher)
    assert again._refused is None
    assert [fp.name for fp in again.match_page(body, None)] == expected


def test_cli_store_mode_on_a_dask_cluster(tmp_path: Path, measurements_dir: Path, shared_data: Path) -> None:
    store = tmp_path / "d.duckdb"
    ingest_run = subprocess.run(
        [*INGEST, f"{measurements_dir}", *NO_ANALYZE, "--db", f"{store}"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    assert ingest_run.returncode == 0, ingest_run.stderr
    args = ("--db", str(store), "--fingerprints-dir", str(shared_data), "--json")
    result = _run(*args, "--engine", "dask", "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stored"] == 90
    with open_store(store, read_only=True) as s:
        confirmed = s.query("SELECT count(*) AS n FROM verdicts WHERE confirmed").column("n")[0].as_py()
    assert confirmed == 3  # the fingerprints travelled to the worker
    assert json.loads(_run(*args).stdout)["stored"] == 0  # the local engine sees them all done
    assert _run(str(measurements_dir), "-o", str(tmp_path / "o.jsonl"), "--engine", "dask").returncode == 2


def test_one_pass_analysis_of_a_line_gives_the_two_step_verdict(
    measurements_dir: Path, db: FingerprintDB
) -> None:
    """analyze_line decodes a web_connectivity line's envelope and keys in one pass; every verdict must be
    the one of decoding the envelope, then the keys (analyze) — for every shared measurement, and for lines
    built to mislead the one-pass decoder."""
    import msgspec

    from netfreedom.analysis import analyze, analyze_line
    from netfreedom.models.measurement import Envelope

    decoder = msgspec.json.Decoder(Envelope)

    def two_step(line: bytes) -> object:
        try:
            env = decoder.decode(line)
        except msgspec.DecodeError:
            return None
        return analyze(env, env.test_keys, db)

    lines = [
        line
        for path in sorted(measurements_dir.glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
        if line.strip()
    ]
    wc = [line for line in lines if b'"test_name":"web_connectivity"' in line]
    assert len(lines) >= 90 and len(wc) >= 20
    first = json.loads(wc[0])
    other = next(json.loads(line) for line in lines if b'"test_name":"telegram"' in line)
    crafted = [
        # keys that do not fit the model (a list): probe_failure either way
        json.dumps({**first, "test_keys": [1, 2]}).encode(),
        # no test_keys at all, and null ones
        json.dumps({k: v for k, v in first.items() if k != "test_keys"}).encode(),
        json.dumps({**first, "test_keys": None}).encode(),
        # the web_connectivity marker inside another test's body
        json.dumps({**other, "input": '"test_name":"web_connectivity"'}, separators=(",", ":")).encode(),
        # a wrong type in the envelope, and not a measurement at all
        json.dumps({**first, "probe_cc": 7}).encode(),
        b"[1, 2, 3]",
        b'{"test_name":"web_connectivity", "test_keys": {',
    ]
    for line in [*lines, *crafted]:
        assert analyze_line(line, db) == two_step(line), line[:200]
    assert analyze_line(b"[1, 2, 3]", db) is None

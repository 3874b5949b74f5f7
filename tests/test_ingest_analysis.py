"""``ingest`` analyses as it reads: the verdicts are exactly those of ingest then ``analyze --db``, stored in
the same batch and transaction as their measurements, and ``analyze --db`` then finds nothing to redo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netfreedom.analysis import ANALYSIS_VERSION, FingerprintDB
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir
from netfreedom.pipeline.analyze import analyze_store
from netfreedom.pipeline.ingest import Analysis, ingest
from netfreedom.store import open_store

from .conftest import cli_env, run_cli

_COLUMNS = (
    "measurement_uid, analysis_version, fingerprints_id, measurement_start_time, probe_cc, probe_asn, "
    "probe_network_name, test_name, input, domain, outcome, layer, reason, confidence, confirmed, "
    "fingerprint, blocking, accessible"
)


@pytest.fixture(scope="module")
def fingerprints(shared_data: Path) -> FingerprintDB:
    return load_fingerprints(sources_in_dir(shared_data))


def _verdicts(db: Path) -> list[dict[str, object]]:
    with open_store(db, read_only=True) as store:
        rows: list[dict[str, object]] = store.query(
            f"SELECT {_COLUMNS} FROM verdicts ORDER BY measurement_uid"
        ).to_pylist()
    return rows


def test_ingest_with_analysis_gives_the_verdicts_of_ingest_then_analyze(
    tmp_path: Path, measurements_dir: Path, fingerprints: FingerprintDB
) -> None:
    one_pass, two_pass = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    with open_store(one_pass) as store:
        # Small batches: several batches, each writing measurements and verdicts together.
        summary = ingest(store, [str(measurements_dir)], batch_size=7, analysis=Analysis(fingerprints))
        assert summary.ingested == 90 and summary.verdicts == 90 and summary.analysis_errors == 0
        assert store.check() == []
        # Stamped as analyze --db stamps its verdicts: it finds nothing to redo, and drops nothing.
        again = analyze_store(store, fingerprints)
        assert (again.reset, again.analysed, again.stored) == (0, 0, 0)
        # A second ingest of the same files stores neither measurements nor verdicts.
        rerun = ingest(store, [str(measurements_dir)], analysis=Analysis(fingerprints))
        assert (rerun.ingested, rerun.duplicates, rerun.verdicts) == (0, 90, 0)
    with open_store(two_pass) as store:
        assert ingest(store, [str(measurements_dir)]).verdicts == 0
        assert analyze_store(store, fingerprints).stored == 90
    one, two = _verdicts(one_pass), _verdicts(two_pass)
    assert len(one) == 90
    assert one == two
    assert {v["analysis_version"] for v in one} == {ANALYSIS_VERSION}
    assert {v["fingerprints_id"] for v in one} == {fingerprints.id}
    assert any(v["confirmed"] for v in one)  # the fingerprints were used


def test_ingest_without_fingerprints_is_redone_by_analyze_with_them(
    tmp_path: Path, measurements_dir: Path, fingerprints: FingerprintDB
) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        ingest(store, [str(measurements_dir)], analysis=Analysis(None))
        ids = store.query("SELECT DISTINCT fingerprints_id FROM verdicts").to_pylist()
        assert ids == [{"fingerprints_id": "none"}]
        assert analyze_store(store, None).stored == 0  # same stamp: nothing to redo
        redone = analyze_store(store, fingerprints)
        assert (redone.reset, redone.stored) == (90, 90)
        assert store.check() == []


def test_cli_ingest_analyses_and_analyze_finds_nothing_to_redo(
    tmp_path: Path, measurements_dir: Path, shared_data: Path
) -> None:
    db = tmp_path / "s.duckdb"
    fp = ("--fingerprints-dir", str(shared_data))
    first = run_cli("ingest", str(measurements_dir), "--db", str(db), *fp, "--json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert (doc["ingested"], doc["verdicts"], doc["analysis_errors"]) == (90, 90, 0)
    analysed = run_cli("analyze", "--db", str(db), *fp, "--json")
    assert analysed.returncode == 0, analysed.stderr
    assert json.loads(analysed.stdout)["analysed"] == 0
    assert json.loads(analysed.stdout)["reset"] == 0

    skipped = tmp_path / "n.duckdb"
    no = run_cli("ingest", str(measurements_dir), "--db", str(skipped), "--no-analyze", "--json")
    assert no.returncode == 0, no.stderr
    assert json.loads(no.stdout)["verdicts"] == 0
    with open_store(skipped, read_only=True) as store:
        assert store.stats().verdicts == 0


def test_cli_ingest_offline_analyses_without_fingerprints_and_says_so(
    tmp_path: Path, measurements_dir: Path
) -> None:
    db = tmp_path / "s.duckdb"
    # The default fingerprints live on the internet; the mirror points them at an empty folder.
    empty = tmp_path / "empty"
    empty.mkdir()
    mirror = f"https://raw.githubusercontent.com/={empty}"
    env = cli_env()
    env.pop("NETFREEDOM_FINGERPRINTS_DIR")  # the default homes, here mapped to the empty folder
    run = subprocess.run(
        [sys.executable, "-m", "netfreedom", "ingest", str(measurements_dir / "dash.jsonl"), "--db", str(db),
         "--mirror", mirror, "--cache-dir", str(tmp_path / "cache"), "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "analysing without fingerprints" in run.stderr
    doc = json.loads(run.stdout)
    assert doc["verdicts"] == doc["ingested"] > 0
    with open_store(db, read_only=True) as store:
        ids = store.query("SELECT DISTINCT fingerprints_id FROM verdicts").to_pylist()
    assert ids == [{"fingerprints_id": "none"}]


def test_reanalysis_reads_only_what_a_verdict_needs(tmp_path: Path, measurements_dir: Path) -> None:
    from netfreedom.pipeline.analyze import analyze_table
    from netfreedom.store.staged import ANALYSIS_COLUMNS

    with open_store(tmp_path / "s.duckdb") as store:
        ingest(store, [str(measurements_dir)])
        tables = list(store.iter_unanalysed(batch_size=40))
        assert sum(t.num_rows for t in tables) == 90 and max(t.num_rows for t in tables) == 40
        assert all(tuple(t.column_names) == ANALYSIS_COLUMNS for t in tables)
        rows = analyze_table(tables[0], None)
        n = tables[0].num_rows
        for added in (n, 0):  # known verdicts are dropped, as without envelopes
            stored = store.add_verdicts(
                rows, analysis_version=ANALYSIS_VERSION, fingerprints_id="none", envelopes=tables[0]
            )
            assert stored == added
        assert sum(t.num_rows for t in store.iter_unanalysed()) == 90 - n
        assert store.check() == []


def _odd_codes(tmp_path: Path, measurements_dir: Path, codes: list[str]) -> Path:
    """One measurement per country code in ``codes``: the odd ones are stored under partition folder ZZ."""
    lines = (measurements_dir / "telegram.jsonl").read_bytes().splitlines()
    src = tmp_path / "odd.jsonl"
    docs = []
    for n, cc in enumerate(codes):
        doc = json.loads(lines[0])
        doc["measurement_uid"] = f"20240302000000.000000_odd_{n:06d}"
        doc["probe_cc"] = cc
        docs.append(json.dumps(doc))
    src.write_text("\n".join(docs) + "\n")
    return src


def test_reanalysis_keeps_country_codes_that_share_the_zz_folder(
    tmp_path: Path, measurements_dir: Path
) -> None:
    """Odd codes are stored under folder ZZ; the verdicts copy the true column, not the folder's name."""
    src = _odd_codes(tmp_path, measurements_dir, ["ir", "Zz", "X9"])
    with open_store(tmp_path / "s.duckdb") as store:
        ingest(store, [str(src)])
        analyze_store(store, None)
        got = store.query("SELECT probe_cc FROM verdicts ORDER BY probe_cc").column("probe_cc").to_pylist()
    assert got == ["X9", "Zz", "ir"]


def test_stored_measurements_keep_country_codes_that_share_a_folder(
    tmp_path: Path, measurements_dir: Path
) -> None:
    """``Store.iter_measurements`` reads the true column too, never the sanitised folder names."""
    src = _odd_codes(tmp_path, measurements_dir, ["ir", "Zz", "X9", "ZZ"])
    with open_store(tmp_path / "s.duckdb") as store:
        ingest(store, [str(src)], analysis=None)
        read = sorted(m.probe_cc for batch in store.iter_measurements() for m in batch)
        pending = sorted(m.probe_cc for b in store.iter_measurements(without_verdicts=True) for m in b)
        catalogue = store.query("SELECT probe_cc FROM measurements ORDER BY probe_cc").column(0).to_pylist()
    assert read == pending == catalogue == ["X9", "ZZ", "Zz", "ir"]

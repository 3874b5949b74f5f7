"""The DuckDB + Parquet store, with a real DuckDB file and real Parquet in a temp folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from netfreedom.errors import StoreError
from netfreedom.ingest import Record, read_source
from netfreedom.models.verdict import Layer, Outcome, Reason, Verdict
from netfreedom.store import DuckDBStore, VerdictRow, open_store

from .conftest import cli_env


def shared_records(folder: Path) -> list[Record]:
    return [r for r in read_source(str(folder)) if isinstance(r, Record)]


def test_add_dedupe_iterate_and_stats(db_path: Path, measurements_dir: Path) -> None:
    records = shared_records(measurements_dir)
    with open_store(db_path) as store:
        first = store.add_measurements(records[:50])
        assert (first.added, first.duplicates) == (50, 0)
        second = store.add_measurements(records)  # the first 50 again, plus 40 new
        assert (second.added, second.duplicates) == (40, 50)
        assert store.add_measurements(records + records).added == 0
        assert store.count_measurements() == 90

        seen = {m.measurement_uid: m for batch in store.iter_measurements(batch_size=7) for m in batch}
        assert len(seen) == 90
        by_uid = {r.uid: r for r in records}
        for uid, m in seen.items():
            rec = by_uid[uid]
            assert m.raw == rec.raw
            assert m.test_name == rec.envelope.test_name
            assert m.measurement_start_time == rec.time
            assert m.source_line == rec.line and m.source_file == rec.file

        wc = [m for b in store.iter_measurements(test_names=["web_connectivity"]) for m in b]
        assert len(wc) == 25 and {m.test_name for m in wc} == {"web_connectivity"}

        stats = store.stats()
        assert stats.measurements == 90
        assert sum(c.measurements for c in stats.by_month) == 90
        assert {c.key for c in stats.by_test_name} == {r.envelope.test_name for r in records}
        assert store.check() == []


def test_parquet_partitions_hold_the_catalogue(db_path: Path, measurements_dir: Path) -> None:
    records = shared_records(measurements_dir)
    with open_store(db_path) as store:
        store.add_measurements(records)
        root = store.parquet_root
        assert root == db_path.with_name("store.parquet")
        files = sorted(root.glob("measurements/date=*/probe_cc=*/test_name=*/*.parquet"))
        assert files
        table = pa.concat_tables(pq.read_table(f, partitioning=None) for f in files)
        assert table.num_rows == 90
        assert sorted(table.column("measurement_uid").to_pylist()) == sorted(r.uid for r in records)
        for f in files:
            part = dict(seg.split("=", 1) for seg in f.parent.relative_to(root / "measurements").parts)
            t = pq.read_table(f, partitioning=None)
            assert set(t.column("test_name").to_pylist()) == {part["test_name"]}
            days = {ts.strftime("%Y-%m-%d") for ts in t.column("measurement_start_time").to_pylist()}
            assert days == {part["date"]}
        glob = store.parquet_glob("measurements")
        n = store.query(f"SELECT count(*) AS n FROM read_parquet('{glob}', hive_partitioning=false)")
        assert n.column("n").to_pylist() == [90]


def test_untrusted_partition_values_stay_inside_the_store(db_path: Path, measurements_dir: Path) -> None:
    line = (measurements_dir / "dash.jsonl").read_bytes().splitlines()[0]
    doc = orjson.loads(line)
    doc["test_name"] = "../../../escape"
    doc["probe_cc"] = "../x"
    evil = db_path.parent / "evil.jsonl"
    evil.write_bytes(orjson.dumps(doc) + b"\n")
    with open_store(db_path) as store:
        store.add_measurements(shared_records(evil))
        files = list(store.parquet_root.rglob("*.parquet"))
        assert len(files) == 1
        assert files[0].resolve().is_relative_to(store.parquet_root.resolve())
        assert "probe_cc=ZZ/test_name=_other" in files[0].as_posix()
        t = pq.read_table(files[0], partitioning=None)
        assert t.column("test_name").to_pylist() == ["../../../escape"]
    assert not (db_path.parent.parent / "escape").exists()


def test_content_identity_ignores_key_order_and_whitespace(tmp_path: Path, measurements_dir: Path) -> None:
    line = (measurements_dir / "dash.jsonl").read_bytes().splitlines()[0]
    doc = json.loads(line)
    assert "measurement_uid" not in doc
    reordered = dict(reversed(list(doc.items())))
    (tmp_path / "pretty.json").write_text(json.dumps(reordered, indent=2))
    with open_store(tmp_path / "s.duckdb") as store:
        assert store.add_measurements(shared_records(measurements_dir / "dash.jsonl")).added == 1
        again = store.add_measurements(shared_records(tmp_path / "pretty.json"))
        assert (again.added, again.duplicates) == (0, 1)


def _verdict_rows(store: DuckDBStore, test: str) -> list[VerdictRow]:
    v = Verdict(outcome=Outcome.BLOCKED, reason=Reason.DNS_INCONSISTENT, confidence=0.7, layer=Layer.DNS)
    return [
        VerdictRow.of(m.measurement_uid, "example.org", v)
        for batch in store.iter_measurements(test_names=[test])
        for m in batch
    ]


def test_verdicts_written_once_and_reset(db_path: Path, measurements_dir: Path) -> None:
    with open_store(db_path) as store:
        store.add_measurements(shared_records(measurements_dir))
        rows = _verdict_rows(store, "web_connectivity")
        assert len(rows) == 25
        assert store.add_verdicts(rows[:10], analysis_version=3, fingerprints_id="fp1") == 10
        assert store.add_verdicts(rows, analysis_version=3, fingerprints_id="fp1") == 15
        assert store.add_verdicts(rows, analysis_version=3, fingerprints_id="fp1") == 0
        unknown = VerdictRow.of(
            "no-such-uid", None, Verdict(outcome=Outcome.OK, reason=Reason.OK, confidence=1)
        )
        assert store.add_verdicts([unknown], analysis_version=3, fingerprints_id="fp1") == 0
        pending = [m for b in store.iter_measurements(without_verdicts=True) for m in b]
        assert len(pending) == 65 and all(m.test_name != "web_connectivity" for m in pending)

        t = store.query(
            "SELECT outcome, layer, reason, analysis_version, fingerprints_id, count(*) AS n, "
            "count(DISTINCT probe_cc) AS ccs FROM verdicts GROUP BY ALL"
        ).to_pylist()
        assert t == [
            {
                "outcome": "blocked",
                "layer": "dns",
                "reason": "dns.inconsistent",
                "analysis_version": 3,
                "fingerprints_id": "fp1",
                "n": 25,
                "ccs": len(
                    {m.probe_cc for b in store.iter_measurements(test_names=["web_connectivity"]) for m in b}
                ),
            }
        ]
        vfiles = list(store.parquet_root.glob("verdicts/**/*.parquet"))
        assert sum(pq.read_metadata(f).num_rows for f in vfiles) == 25
        assert store.check() == []

        store.reset_verdicts()
        assert store.stats().verdicts == 0
        assert list(store.parquet_root.glob("verdicts/**/*.parquet")) == []
        assert store.check() == []
        assert store.add_verdicts(rows, analysis_version=4, fingerprints_id="fp2") == 25


def test_query_is_read_only_and_aux_tables(db_path: Path, measurements_dir: Path) -> None:
    with open_store(db_path) as store:
        store.add_measurements(shared_records(measurements_dir / "dash.jsonl"))
        for sql in ("DELETE FROM measurements", "SELECT 1; DROP TABLE files", "CREATE TABLE x (a INT)"):
            with pytest.raises(StoreError):
                store.query(sql)
        with pytest.raises(StoreError):
            store.query("SELECT * FROM nowhere")
        assert store.query(
            "SELECT count(*) AS n FROM measurements WHERE probe_cc = ?", ["IT"]
        ).to_pylist() == [{"n": 1}]
        lists = pa.table(
            {"cc": ["IT"], "url": ["http://x.org/"], "domain": ["x.org"], "category_code": ["NEWS"]}
        )
        store.write_table("testlists", lists)
        store.write_table("testlists", lists)  # replaces
        assert store.query("SELECT count(*) AS n FROM testlists").to_pylist() == [{"n": 1}]
        with pytest.raises(StoreError):
            store.write_table("measurements", lists)
        assert store.read(lambda c: c.execute("SELECT count(*) FROM testlists").fetchone()) == (1,)
        store.run(lambda c: c.execute("CREATE TABLE report_x AS SELECT 1 AS a"))
    with open_store(db_path, read_only=True) as ro:
        assert ro.query("SELECT a FROM report_x").to_pylist() == [{"a": 1}]
        with pytest.raises(StoreError):
            ro.add_measurements([])  # read-only refuses writes even when empty


def test_second_writer_gets_a_clear_error(db_path: Path, measurements_dir: Path) -> None:
    with open_store(db_path):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "netfreedom",
                "ingest",
                str(measurements_dir / "dash.jsonl"),
                "--db",
                str(db_path),
            ],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=120,
        )
    assert out.returncode == 2
    assert "in use by another" in " ".join(out.stderr.split()) and "Traceback" not in out.stderr


def test_pending_batch_files_are_removed_on_open(db_path: Path, measurements_dir: Path) -> None:
    records = shared_records(measurements_dir)
    with open_store(db_path) as store:
        store.add_measurements(records[:10])
        # Simulate a writer killed between writing a batch's files and registering them.
        stray = store.parquet_root / "measurements/date=2024-01-01/probe_cc=IT/test_name=x/dead-0.parquet"
        stray.parent.mkdir(parents=True)
        pq.write_table(pa.table({"a": [1]}), stray)
        store.run(
            lambda c: c.execute(
                "INSERT INTO files VALUES (?, 'measurements', 'dead', 'pending', NULL, NULL, now())",
                [str(stray.relative_to(store.parquet_root))],
            )
        )
        # ... and one killed after naming its files in the journal and writing one of them.
        journalled = stray.with_name("dead2-0.parquet")
        pq.write_table(pa.table({"a": [2]}), journalled)
        journal = store.parquet_root / ".journal" / "dead2.pending"
        journal.parent.mkdir(exist_ok=True)
        journal.write_text(str(journalled.relative_to(store.parquet_root)) + "\nnever/written.parquet\n")
        assert any("unregistered" in p for p in store.check())
    with open_store(db_path) as store:
        assert not stray.exists() and not journalled.exists() and not journal.exists()
        assert store.check() == []
        assert store.count_measurements() == 10

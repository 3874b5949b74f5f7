"""Verdict and measurement files written outside the store (as Dask workers do) and registered by it: same
rows as ``add_verdicts`` and ``add_measurements``, and a kill at any point leaves the store as before the
batch, with no stray files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from msgspec.structs import replace

from netfreedom.errors import StoreError
from netfreedom.ingest import Record, read_source
from netfreedom.models.verdict import Layer, Outcome, Reason, Verdict
from netfreedom.store import Analysed, DuckDBStore, VerdictRow, open_store
from netfreedom.store.staged import (
    STAGING,
    Staged,
    StagedFile,
    new_run,
    stage_analysed,
    stage_measurements,
    stage_verdicts,
    verdict_input,
    verdict_table,
)


def _fill(store: DuckDBStore, measurements_dir: Path) -> list[VerdictRow]:
    store.add_measurements([r for r in read_source(str(measurements_dir)) if isinstance(r, Record)])
    rows = []
    for i, m in enumerate(m for b in store.iter_measurements() for m in b):
        v = Verdict(
            outcome=Outcome.BLOCKED, reason=Reason.DNS_INCONSISTENT, confidence=i / 100, layer=Layer.DNS
        )
        rows.append(VerdictRow.of(m.measurement_uid, f"d{i}.example", v))
    return rows


def _stage(store: DuckDBStore, rows: list[VerdictRow], run: str, name: str = "t") -> Staged:
    """What a worker does: read the measurement Parquet, join the verdicts, write staged files."""
    envelopes = pa.concat_tables(
        pq.read_table(p).drop_columns(["raw"])
        for p in sorted(store.parquet_root.glob("measurements/**/*.parquet"))
    )
    table = verdict_table(verdict_input(rows), envelopes, analysis_version=3, fingerprints_id="fp1")
    return stage_verdicts(store.parquet_root, run, name, table)


def _verdicts(store: DuckDBStore) -> list[dict[str, object]]:
    return store.query("SELECT * EXCLUDE (file) FROM verdicts ORDER BY measurement_uid").to_pylist()


def test_staged_files_register_like_add_verdicts(tmp_path: Path, measurements_dir: Path) -> None:
    with open_store(tmp_path / "a.duckdb") as expected:
        rows = _fill(expected, measurements_dir)
        assert expected.add_verdicts(rows, analysis_version=3, fingerprints_id="fp1") == len(rows)
        want = _verdicts(expected)
    with open_store(tmp_path / "b.duckdb") as store:
        rows = _fill(store, measurements_dir)
        run = new_run()
        # A duplicate verdict (first wins) and one for an unknown measurement (dropped), as in add_verdicts.
        extra = [replace(rows[0], domain="second.example"), replace(rows[1], measurement_uid="nope")]
        staged = _stage(store, rows + extra, run)
        assert staged.rows.num_rows == len(rows) and len(staged.files) > 1
        assert all((store.parquet_root / f.path).is_file() for f in staged.files)
        assert store.add_verdict_files(staged) == len(rows)
        assert _verdicts(store) == want
        assert store.check() == []
        assert not any((store.parquet_root / run).rglob("*.parquet"))
        # Verdict files keep the partition layout other code reads.
        parts = {
            str(p.parent.relative_to(store.parquet_root))
            for p in store.parquet_root.glob("verdicts/**/*.parquet")
        }
        assert parts == {f.partition for f in staged.files}
        # Already analysed: a second staging adds nothing and leaves no file behind.
        again = _stage(store, rows, run, "again")
        assert store.add_verdict_files(again) == 0
        assert store.check() == [] and _verdicts(store) == want


def test_partly_analysed_store_gets_only_the_new_verdicts(tmp_path: Path, measurements_dir: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        rows = _fill(store, measurements_dir)
        assert store.add_verdicts(rows[:10], analysis_version=3, fingerprints_id="fp1") == 10
        assert store.add_verdict_files(_stage(store, rows, new_run())) == len(rows) - 10
        assert store.stats().verdicts == len(rows)
        assert store.check() == []


class Killed(BaseException):
    """Stands for SIGKILL: not an error the store catches, so nothing is cleaned up in the process."""


def test_a_kill_during_registration_leaves_the_store_as_before(
    tmp_path: Path, measurements_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        rows = _fill(store, measurements_dir)
        assert store.add_verdicts(rows[:5], analysis_version=3, fingerprints_id="fp1") == 5
        before = _verdicts(store)
        staged = _stage(store, rows[5:], new_run())

        def die(*_: object) -> None:
            raise Killed

        # After the journal is written and every file renamed into its partition, before the commit.
        monkeypatch.setattr(DuckDBStore, "_commit_batch", die)
        with pytest.raises(Killed):
            store.add_verdict_files(staged)
        assert list((store.parquet_root / ".journal").glob("*.pending"))
    monkeypatch.undo()
    with open_store(db) as store:
        assert _verdicts(store) == before
        assert store.check() == []
        on_disk = list(store.parquet_root.glob("verdicts/**/*.parquet"))
        assert sum(pq.read_metadata(p).num_rows for p in on_disk) == 5


def test_files_staged_by_a_run_that_died_are_removed_on_open(tmp_path: Path, measurements_dir: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        rows = _fill(store, measurements_dir)
        staged = _stage(store, rows, new_run())
        assert store.check()  # the staged files are not part of the store
    with open_store(db) as store:
        assert not (store.parquet_root / STAGING).exists()
        assert store.check() == [] and store.stats().verdicts == 0
        assert all(not (store.parquet_root / f.path).exists() for f in staged.files)


def test_only_staged_files_can_be_registered(tmp_path: Path, measurements_dir: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        rows = _fill(store, measurements_dir)
        staged = _stage(store, rows, new_run())
        victim = next(store.parquet_root.glob("measurements/**/*.parquet"))
        rel = str(victim.relative_to(store.parquet_root))
        for path in (rel, f"{STAGING}/../{rel}"):
            bad = Staged((StagedFile(path, "verdicts/x", 1, 1), *staged.files[1:]), staged.rows)
            with pytest.raises(StoreError, match="not a staged verdicts file"):
                store.add_verdict_files(bad)
        # The partition a file moves to must be one of its kind, inside the store.
        first = staged.files[0]
        for partition in ("measurements/date=2024-03-01/probe_cc=IT/test_name=x", "verdicts/../../escape"):
            bad = Staged((StagedFile(first.path, partition, 1, 1), *staged.files[1:]), staged.rows)
            with pytest.raises(StoreError, match="not a staged verdicts file"):
                store.add_verdict_files(bad)
        assert victim.is_file() and store.check()[0].startswith("unregistered file .staging/")


def _records(measurements_dir: Path) -> list[Record]:
    return [r for r in read_source(str(measurements_dir)) if isinstance(r, Record)]


def _measurements(store: DuckDBStore) -> list[dict[str, object]]:
    """Catalogue rows (without the file names, which differ by batch) with each measurement's raw JSON
    read back from its Parquet file."""
    rows = store.query("SELECT * EXCLUDE (file) FROM measurements ORDER BY measurement_uid").to_pylist()
    raw = {m.measurement_uid: m.raw for batch in store.iter_measurements() for m in batch}
    return [{**r, "raw": raw[r["measurement_uid"]]} for r in rows]


def test_staged_measurements_register_like_add_measurements(tmp_path: Path, measurements_dir: Path) -> None:
    records = _records(measurements_dir)
    with open_store(tmp_path / "a.duckdb") as expected:
        assert expected.add_measurements(records).added == len(records)
        want = _measurements(expected)
        want_parts = {
            str(p.parent.relative_to(expected.parquet_root))
            for p in expected.parquet_root.glob("measurements/**/*.parquet")
        }
    with open_store(tmp_path / "b.duckdb") as store:
        run = new_run()
        # A repeated record inside the task: the first is staged, as add_measurements keeps the first.
        repeat = dataclasses.replace(records[0], line=99_999)
        staged = stage_measurements(store.parquet_root, run, "t", [*records, repeat])
        assert staged.rows.num_rows == len(records) and "raw" not in staged.rows.column_names
        assert store.add_measurement_files(staged).added == len(records)
        assert _measurements(store) == want
        assert store.check() == []
        assert not any((store.parquet_root / run).iterdir())
        parts = {
            str(p.parent.relative_to(store.parquet_root))
            for p in store.parquet_root.glob("measurements/**/*.parquet")
        }
        assert parts == want_parts
        # A re-run of the same import: every staged record is a duplicate, nothing changes, no file stays.
        again = stage_measurements(store.parquet_root, run, "again", records)
        result = store.add_measurement_files(again)
        assert (result.added, result.duplicates) == (0, len(records))
        assert _measurements(store) == want and store.check() == []
        assert not any((store.parquet_root / run).iterdir())


def test_partly_ingested_store_gets_only_the_new_measurements(tmp_path: Path, measurements_dir: Path) -> None:
    records = _records(measurements_dir)
    with open_store(tmp_path / "a.duckdb") as expected:
        expected.add_measurements(records)
        want = _measurements(expected)
    with open_store(tmp_path / "b.duckdb") as store:
        assert store.add_measurements(records[:10]).added == 10
        staged = stage_measurements(store.parquet_root, new_run(), "t", records)
        result = store.add_measurement_files(staged)
        assert (result.added, result.duplicates) == (len(records) - 10, 10)
        assert _measurements(store) == want and store.check() == []


def test_staged_measurements_are_not_verdicts(tmp_path: Path, measurements_dir: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        staged = stage_measurements(store.parquet_root, new_run(), "t", _records(measurements_dir))
        with pytest.raises(StoreError, match="not a staged verdicts file"):
            store.add_verdict_files(staged)
        assert store.add_measurement_files(staged).added == staged.rows.num_rows


def _analysed(records: list[Record]) -> Analysed:
    """Made-up verdicts, one per record (``verdicts[i]`` for ``records[i]``), as ingest gives them."""
    verdicts = [
        VerdictRow.of(
            r.uid,
            f"d{i}.example",
            Verdict(
                outcome=Outcome.BLOCKED, reason=Reason.DNS_INCONSISTENT, confidence=i / 1000, layer=Layer.DNS
            ),
        )
        for i, r in enumerate(records)
    ]
    return Analysed(verdicts=verdicts, analysis_version=3, fingerprints_id="fp1")


def test_staged_analysed_files_register_like_add_measurements_with_verdicts(
    tmp_path: Path, measurements_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _records(measurements_dir)
    repeat = dataclasses.replace(records[0], line=99_999)  # a repeat inside the task: the first wins
    given = [*records, repeat]
    analysed = _analysed(given)
    with open_store(tmp_path / "a.duckdb") as expected:
        assert expected.add_measurements(given, analysed).verdicts == len(records)
        want = (_measurements(expected), _verdicts(expected))
    with open_store(tmp_path / "b.duckdb") as store:
        run = new_run()
        staged, verdicts = stage_analysed(store.parquet_root, run, "t", given, analysed)
        assert verdicts.rows.num_rows == staged.rows.num_rows == len(records)
        result = store.add_measurement_files(staged, verdicts)
        assert (result.added, result.duplicates, result.verdicts) == (len(records), 0, len(records))
        assert (_measurements(store), _verdicts(store)) == want
        assert store.check() == [] and not any((store.parquet_root / run).iterdir())
        # One batch: the measurement and verdict files were registered together.
        kinds = store.query("SELECT DISTINCT batch, kind FROM files").to_pylist()
        assert len({k["batch"] for k in kinds}) == 1 and len(kinds) == 2
        # A re-run: nothing added, no verdict either, no file left.
        again = store.add_measurement_files(
            *stage_analysed(store.parquet_root, run, "again", given, analysed)
        )
        assert (again.added, again.verdicts) == (0, 0)
        assert (_measurements(store), _verdicts(store)) == want and store.check() == []
        assert not any((store.parquet_root / run).iterdir())
    # A store that holds some of them (without verdicts): the new ones are added with their verdicts; the
    # verdicts of the stored ones are dropped with their copies.
    with open_store(tmp_path / "c.duckdb") as store:
        assert store.add_measurements(records[:10]).added == 10
        result = store.add_measurement_files(
            *stage_analysed(store.parquet_root, new_run(), "t", given, analysed)
        )
        assert (result.added, result.verdicts) == (len(records) - 10, len(records) - 10)
        assert _measurements(store) == want[0]
        assert _verdicts(store) == [
            v for v in want[1] if v["measurement_uid"] not in {r.uid for r in records[:10]}
        ]
        assert store.check() == []
    # Killed after both sets of files were renamed into their partitions, before the commit: neither stays.
    db = tmp_path / "d.duckdb"
    with open_store(db) as store:
        staged, verdicts = stage_analysed(store.parquet_root, new_run(), "t", given, analysed)

        def die(*_: object) -> None:
            raise Killed

        monkeypatch.setattr(DuckDBStore, "_commit_batch", die)
        with pytest.raises(Killed):
            store.add_measurement_files(staged, verdicts)
    monkeypatch.undo()
    with open_store(db) as store:
        assert store.check() == []
        assert store.count_measurements() == store.stats().verdicts == 0
        assert not list(store.parquet_root.glob("*/date=*/**/*.parquet"))

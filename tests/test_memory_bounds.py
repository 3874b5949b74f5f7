"""Memory does not grow with the input: ingest holds one batch, re-analysis reads one file at a time.

Structural checks (what is alive, what is open), not RSS bounds: peak RSS is measured by bench/memory.py
(flat from 0.5 to 5 GB of input, docs/scaling.md).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from netfreedom.analysis import ANALYSIS_VERSION
from netfreedom.errors import StoreError
from netfreedom.ingest import Record
from netfreedom.pipeline.analyze import analyze_store, analyze_table
from netfreedom.pipeline.ingest import Analysis, ingest
from netfreedom.store import DuckDBStore, open_store
from netfreedom.store.duckdb_store import KNOWN_UIDS
from netfreedom.store.staged import ANALYSIS_COLUMNS


def _alive(kind: type) -> int:
    gc.collect()
    return sum(isinstance(o, kind) for o in gc.get_objects())


class _Watched(DuckDBStore):
    """A real store that notes, at each batch it is given, how many records and verdicts are alive."""

    seen: list[tuple[int, int, int]]
    sizes: list[int]

    def add_measurements(self, records: Any, analysed: Any = None) -> Any:
        verdicts = len(analysed.verdicts) if analysed is not None else 0
        self.seen.append((len(records), _alive(Record), verdicts))
        self.sizes.append(sum(len(r.raw) for r in records))
        return super().add_measurements(records, analysed)


def test_ingest_holds_one_batch_at_a_time(tmp_path: Path, measurements_dir: Path) -> None:
    """Every batch handed to the store is the only one alive: nothing of earlier batches is kept (by the
    loop, the summary or the store), so memory is one batch whatever the input's size."""
    before = _alive(Record)
    store = _Watched(tmp_path / "s.duckdb")
    store.seen, store.sizes = [], []
    with store:
        summary = ingest(store, [str(measurements_dir)], batch_size=7, analysis=Analysis(None))
    assert summary.ingested == 90 and summary.verdicts == 90
    assert len(store.seen) == 13  # 12 full batches of 7 and the rest
    for given, records, verdicts in store.seen:
        assert given <= 7
        assert records - before == given  # the batch itself, and no other record
        assert verdicts == given  # the batch's verdicts, and no others


def test_ingest_batches_are_bounded_by_bytes(tmp_path: Path, measurements_dir: Path) -> None:
    """``batch_bytes`` closes a batch before ``batch_size`` when the measurements are large."""
    store = _Watched(tmp_path / "s.duckdb")
    store.seen, store.sizes = [], []
    sizes = [
        len(line) for p in sorted(measurements_dir.glob("*.jsonl")) for line in p.read_bytes().splitlines()
    ]
    limit = sum(sizes) // 10
    with store:
        ingest(store, [str(measurements_dir)], batch_bytes=limit)
    assert sum(given for given, _, _ in store.seen) == 90
    assert len(store.seen) >= 5
    # A batch closes once it reaches the limit: at most the limit plus the measurement that crossed it.
    assert all(size < limit + max(sizes) for size in store.sizes)


_ParquetFile: Any = pq.ParquetFile


class _Opened:
    """``pq.ParquetFile`` wrapped to note which files are open at once."""

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.most = 0
        self.read: list[str] = []

    def __call__(self, path: Any, *args: Any, **kwargs: Any) -> pq.ParquetFile:
        watcher = self
        name = str(path)

        class File(_ParquetFile):  # type: ignore[misc]
            def close(self, force: bool = False) -> None:
                watcher.open.discard(name)
                super().close(force=force)

        self.open.add(name)
        self.read.append(name)
        self.most = max(self.most, len(self.open))
        return File(path, *args, **kwargs)


def _store_with_files(tmp_path: Path, measurements_dir: Path) -> DuckDBStore:
    store = open_store(tmp_path / "s.duckdb")
    ingest(store, [str(measurements_dir)], batch_size=30)  # three batches: files of up to 30 rows
    return store


def test_reanalysis_reads_one_file_at_a_time(
    tmp_path: Path, measurements_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``iter_unanalysed`` opens one measurement file at a time, each once, and yields batches of at most
    ``batch_size`` rows (one DuckDB scan over every file kept state for each: memory grew with the store)."""
    with _store_with_files(tmp_path, measurements_dir) as store:
        files = store.query("SELECT count(DISTINCT file) AS n FROM measurements").column("n")[0].as_py()
        opened = _Opened()
        monkeypatch.setattr(pq, "ParquetFile", opened)  # the module the store reads with
        rows = 0
        for table in store.iter_unanalysed(batch_size=8):
            assert table.num_rows <= 8
            assert tuple(table.column_names) == ANALYSIS_COLUMNS
            rows += table.num_rows
        assert rows == 90
        assert opened.most == 1 and not opened.open
        assert len(opened.read) == len(set(opened.read)) == files


def test_reanalysis_of_a_partly_analysed_store(tmp_path: Path, measurements_dir: Path) -> None:
    """Files whose every row has a verdict are not opened; a partly analysed file yields only the rows
    without one (its analysed uids, one file's worth, are what filters it)."""
    with _store_with_files(tmp_path, measurements_dir) as store:
        counts = store.query("SELECT count(*) AS n FROM measurements GROUP BY file ORDER BY file")
        sizes = counts.column("n").to_pylist()
        split = next(i for i, n in enumerate(sizes) if n >= 2)
        given = sum(sizes[:split]) + 1  # whole files, then one row of a file of several
        first = next(store.iter_unanalysed(batch_size=given))
        rows = analyze_table(first, None)
        store.add_verdicts(rows, analysis_version=ANALYSIS_VERSION, fingerprints_id="none", envelopes=first)
        partial = store.query(
            "SELECT count(*) AS n FROM (SELECT m.file, count(v.measurement_uid) AS a, count(*) AS t "
            "FROM measurements m LEFT JOIN verdicts v USING (measurement_uid) GROUP BY m.file) "
            "WHERE a > 0 AND a < t"
        )
        assert partial.column("n").to_pylist() == [1]
        left = list(store.iter_unanalysed(batch_size=100))
        uids = [u for t in left for u in t.column("measurement_uid").to_pylist()]
        assert len(uids) == len(set(uids)) == 90 - given
        assert not set(uids) & set(first.column("measurement_uid").to_pylist())
        summary = analyze_store(store, None)
        assert summary.reset == 0 and summary.stored == 90 - given
        assert list(store.iter_unanalysed()) == []
        assert store.check() == []


def test_the_known_uid_check_builds_its_hash_table_from_the_batch(
    tmp_path: Path, measurements_dir: Path
) -> None:
    """The store's "already stored?" check of a batch joins it with the catalogue by hashing the batch
    and scanning the catalogue, so its memory is the batch's, not the store's."""
    with _store_with_files(tmp_path, measurements_dir) as store:
        batch = pa.table({"u": ["a", "b", "c"]})

        def explain(con: Any) -> str:
            con.register("_uids", batch)
            try:
                return str(con.sql("EXPLAIN " + KNOWN_UIDS.format(table="measurements")).fetchall()[0][1])
            finally:
                con.unregister("_uids")

        plan = store.run(explain)
    # RIGHT_SEMI: the hash table is built from the right side of the written join, the batch.
    assert "RIGHT_SEMI" in plan, plan


def test_reanalysis_batches_are_bounded_by_bytes(tmp_path: Path, measurements_dir: Path) -> None:
    """Large measurements close a re-analysis batch before ``batch_size`` rows (memory is bytes, not rows)."""
    with _store_with_files(tmp_path, measurements_dir) as store:
        whole = list(store.iter_unanalysed(batch_size=1000))
        assert len(whole) == 1 and whole[0].num_rows == 90
        limit = whole[0].nbytes // 8
        tables = list(store.iter_unanalysed(batch_size=1000, batch_bytes=limit))
    assert sum(t.num_rows for t in tables) == 90
    assert len(tables) >= 4  # (the shared measurements differ in size a lot: not exactly 8)


def test_duckdb_memory_limit_is_a_documented_default_the_user_can_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's buffer pool — the part of the store's memory that grows with the catalogue — is capped at
    256MB while the store streams (``bounded``: ingest, re-analysis) and DuckDB's own limit comes back
    after it; NETFREEDOM_DUCKDB_MEMORY sets both; a value that is not a size is refused by name."""

    def limits() -> tuple[str, str]:
        def current(store: DuckDBStore) -> str:
            q = store.query("SELECT current_setting('memory_limit') AS m")
            return str(q.column("m").to_pylist()[0])

        with open_store(tmp_path / "s.duckdb") as store:
            assert isinstance(store, DuckDBStore)
            before = current(store)
            with store.bounded():
                during = current(store)
            assert current(store) == before
        return before, during

    monkeypatch.delenv("NETFREEDOM_DUCKDB_MEMORY", raising=False)
    before, during = limits()
    assert during == "244.1 MiB"  # 256 MB
    assert before != during  # queries: DuckDB's own limit
    monkeypatch.setenv("NETFREEDOM_DUCKDB_MEMORY", "1GiB")
    assert limits() == ("1.0 GiB", "1.0 GiB")
    monkeypatch.setenv("NETFREEDOM_DUCKDB_MEMORY", "lots")
    with pytest.raises(StoreError, match="NETFREEDOM_DUCKDB_MEMORY='lots' is not a size"):
        limits()


def test_ingest_and_reanalysis_stream_under_the_cap(
    tmp_path: Path, measurements_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every batch ingest and ``analyze --db`` store is written under the cap."""
    monkeypatch.delenv("NETFREEDOM_DUCKDB_MEMORY", raising=False)
    seen: list[str] = []

    class Capped(DuckDBStore):
        def current_limit(self) -> str:
            return str(self._con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])

        def add_measurements(self, *args: Any, **kwargs: Any) -> Any:
            seen.append(self.current_limit())
            return super().add_measurements(*args, **kwargs)

        def add_verdicts(self, *args: Any, **kwargs: Any) -> Any:
            seen.append(self.current_limit())
            return super().add_verdicts(*args, **kwargs)

    with Capped(tmp_path / "c.duckdb") as store:
        ingest(store, [str(measurements_dir)], batch_size=20)
        store.reset_verdicts()
        analyze_store(store, None, batch_size=20)
    assert len(seen) >= 4
    assert set(seen) == {"244.1 MiB"}

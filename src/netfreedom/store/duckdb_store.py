"""The embedded store: one DuckDB file (the catalogue) plus Parquet partitions beside it.

Writes are batches.  A batch's Parquet files are first named in a journal (``.journal/<batch>.pending``
under the Parquet root), then written under a temporary name and renamed, then registered together with
their catalogue rows in one DuckDB transaction, and the journal is removed.  Opening the store for writing
deletes every journalled file that is not registered, so a crash or a kill at any point leaves the store
as it was before the batch or after it.  (Files are not fsynced: this protects
against a killed process, not against power loss.)

DuckDB allows one read-write process per file.  Inside the process this object is used from one thread;
``iter_measurements`` reads through its own cursor, so verdicts can be written while iterating.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from netfreedom.errors import StoreError
from netfreedom.ingest import Record, content_key, is_content_uid
from netfreedom.models.aggregation import RAW_DAYS_FROM_VERDICTS, AggregateRow, raw_covers
from netfreedom.models.event import Event, EventFilters
from netfreedom.store.aggregates import add_rows as add_aggregate_rows
from netfreedom.store.base import Analysed, BatchResult, Count, Stats, StoredMeasurement, VerdictRow
from netfreedom.store.events import delete_detected, put_events, select_events
from netfreedom.store.parquet import first_of_each, measurement_table, table_keys, unique
from netfreedom.store.parquet import write as write_parquet
from netfreedom.store.schema import (
    ADDED_COLUMNS,
    CORE_TABLES,
    DDL,
    ENVELOPE_COLUMNS,
    MEASUREMENT_PARQUET,
    SCHEMA_VERSION,
    VERDICT_COLUMNS,
    VERDICT_INPUT,
    VERDICT_PARQUET,
    partition_dir,
)
from netfreedom.store.staged import ANALYSIS_COLUMNS, STAGING, Staged, verdict_input, verdict_table

DEFAULT_DB = "netfreedom.duckdb"
DEFAULT_MEMORY_LIMIT = "256MB"
MEMORY_ENV = "NETFREEDOM_DUCKDB_MEMORY"
_SIZE = re.compile(r"^\d+(\.\d+)?\s*([KMGT]i?B|B)$", re.IGNORECASE)
_READ_ONLY_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_JOURNAL = ".journal"
# SQL: the row of alias {} has no archive uid (its uid is a content hash: ``ingest.is_content_uid``).
_HASHED_UID = "(length({0}.measurement_uid) = 33 AND starts_with({0}.measurement_uid, 'h'))"


# Re-analysis batches (``iter_unanalysed``): at most this many bytes (about; the rows' Arrow size), as
# ingest's ``BATCH_BYTES``; files are read this many rows at a time.
ANALYSIS_BATCH_BYTES = 32 * 1024 * 1024
_READ_ROWS = 64

# Which uids of a batch (``_uids``) a table holds.  DuckDB hashes the smaller side — the batch, once the
# store holds more — and scans the table's uid column: memory is the batch's, not the store's
# (tests/test_memory_bounds.py checks the plan).
KNOWN_UIDS = "SELECT u FROM _uids SEMI JOIN {table} t ON _uids.u = t.measurement_uid"


T = TypeVar("T")
# One table of a batch: its kind ("measurements" or "verdicts"), its rows, and each row's partition.
_Part = tuple[str, pa.Table, list[tuple[str, str, str]]]


def default_db_path() -> Path:
    """``$NETFREEDOM_DB``, else ``./netfreedom.duckdb``."""
    return Path(os.environ.get("NETFREEDOM_DB") or DEFAULT_DB)


def duckdb_memory_limit() -> str:
    """DuckDB's ``memory_limit`` while the store streams (``Store.bounded``: ingest, re-analysis):
    ``$NETFREEDOM_DUCKDB_MEMORY``, else ``256MB``.

    It bounds DuckDB's buffer pool — the catalogue's blocks it keeps cached, the hash tables of the
    "already stored?" checks — the one part of a long ingest's memory that grows with the store until it
    reaches this (bench/memory.py, docs/scaling.md)."""
    return _configured_limit() or DEFAULT_MEMORY_LIMIT


def _configured_limit() -> str | None:
    """``$NETFREEDOM_DUCKDB_MEMORY`` when set (checked), else None."""
    value = (os.environ.get(MEMORY_ENV) or "").strip()
    if not value:
        return None
    if not _SIZE.match(value):
        raise StoreError(f"{MEMORY_ENV}={value!r} is not a size such as 256MB or 2GB")
    return value


class DuckDBStore:
    """A ``Store`` in a DuckDB file ``path`` with Parquet under ``<path stem>.parquet/``."""

    def __init__(
        self,
        path: Path | str,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> None:
        self._path = Path(path)
        # Absolute: the Parquet root is handed to Dask workers, whose working folder is not this one.
        self._root = self._path.absolute().with_name(self._path.stem + ".parquet")
        self._made: set[str] = set()  # partition folders known to exist (saves a mkdir per file)
        self.read_only = read_only
        if read_only and not self._path.is_file():
            raise StoreError(f"no store at {self._path} (run `netfreedom ingest` first)")
        # Queries (evidence, the site, the index) run with DuckDB's own limit (80 % of RAM) unless the
        # user set one: capped at 256MB, country × category over 10 M verdicts took 4x as long (spilling).
        # The streaming loops cap it themselves (``bounded``).
        config: dict[str, Any] = {}
        self._limit = memory_limit or _configured_limit()
        if self._limit:
            config["memory_limit"] = self._limit
        if threads:
            config["threads"] = threads
        try:
            if not read_only:
                self._path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self._path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreError(
                    f"the store {self._path} is in use by another netfreedom process (one writer at a time)"
                ) from exc
            raise StoreError(f"cannot open the store {self._path}: {exc}") from exc
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"cannot open the store {self._path}: {exc}") from exc
        try:
            # Months and days are computed in UTC whatever the machine's zone.
            self._con.execute("SET TimeZone = 'UTC'")
            if read_only:
                self._check_schema()
            else:
                self._init_schema()
                self._recover()
                # Files staged by workers of a run that never registered them (see store.staged).
                shutil.rmtree(self._root / STAGING, ignore_errors=True)
        except BaseException:
            self._con.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def parquet_root(self) -> Path:
        return self._root

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> DuckDBStore:
        return self

    @contextmanager
    def bounded(self) -> Iterator[None]:
        """DuckDB's memory capped at :func:`duckdb_memory_limit` for a streaming loop (ingest,
        re-analysis), whose catalogue work would otherwise grow DuckDB's buffer pool with the store; the
        connection's own limit comes back after it."""
        self._con.execute(f"SET memory_limit = '{duckdb_memory_limit()}'")
        try:
            yield
        finally:
            if self._limit:
                self._con.execute(f"SET memory_limit = '{self._limit}'")
            else:
                self._con.execute("RESET memory_limit")

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _init_schema(self) -> None:
        try:
            for ddl in DDL:
                self._con.execute(ddl)
        except duckdb.Error as exc:
            raise StoreError(f"{self._path} is not a usable netfreedom store: {exc}") from exc
        found = self._con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if found is None:
            self._con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
        elif found[0] != SCHEMA_VERSION:
            raise StoreError(
                f"{self._path} has store schema {found[0]}; this netfreedom needs {SCHEMA_VERSION}"
            )
        # Columns added since: an older store gains them (NULL for its rows; its Parquet files lack them and
        # are read by name, see iter_measurements).  Nothing else changes, so the schema version stays.
        for name, _, sql in ENVELOPE_COLUMNS:
            if name in ADDED_COLUMNS:
                self._con.execute(f"ALTER TABLE measurements ADD COLUMN IF NOT EXISTS {name} {sql}")

    def _check_schema(self) -> None:
        try:
            found = self._con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except duckdb.Error as exc:
            raise StoreError(f"{self._path} is not a netfreedom store") from exc
        if found is None or found[0] != SCHEMA_VERSION:
            raise StoreError(f"{self._path} has an unsupported store schema")

    def _recover(self) -> None:
        """Delete the files of batches that never completed (see the module docstring)."""
        doomed = [
            r[0] for r in self._con.execute("SELECT path FROM files WHERE state = 'pending'").fetchall()
        ]
        journals = sorted((self._root / _JOURNAL).glob("*.pending"))
        for journal in journals:
            listed = [line for line in journal.read_text(encoding="utf-8").splitlines() if line]
            registered = {
                r[0]
                for r in self._con.execute(
                    "SELECT path FROM files WHERE list_contains($paths, path)", {"paths": listed}
                ).fetchall()
            }
            doomed += [rel for rel in listed if rel not in registered]
        for rel in doomed:
            for p in (self._root / rel, self._root / (rel + ".tmp")):
                p.unlink(missing_ok=True)
        self._con.execute("DELETE FROM files WHERE state = 'pending'")
        for journal in journals:
            journal.unlink()

    def _require_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the store {self._path} was opened read-only")

    # -- writing batches ---------------------------------------------------------------------------

    def _write_batch(self, parts: Sequence[_Part]) -> tuple[list[pa.Table], pa.Table, Path]:
        """Write each part's ``table`` (rows partitioned by its ``keys``) as files named in ONE journal;
        return each part's catalogue rows (without ``raw``) with a ``file`` column, the files' paths, rows
        and bytes, and the journal."""
        batch = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        planned: list[tuple[str, list[str], list[pa.Table]]] = []
        for kind, table, keys in parts:
            # Rows of a partition as runs of consecutive rows: input ordered like the archive (one partition
            # after another) then needs no copying, only zero-copy slices.
            groups: dict[tuple[str, str, str], list[list[int]]] = {}
            previous = None
            for i, key in enumerate(keys):
                if key == previous:
                    groups[key][-1][1] = i + 1
                else:
                    groups.setdefault(key, []).append([i, i + 1])
                    previous = key
            rels = [f"{partition_dir(kind, *key)}/{batch}-{n}.parquet" for n, key in enumerate(groups)]
            subs = [pa.concat_tables([table.slice(a, b - a) for a, b in runs]) for runs in groups.values()]
            planned.append((kind, rels, subs))
        journal = self._root / _JOURNAL / f"{batch}.pending"
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_text("".join(f"{rel}\n" for _, rels, _ in planned for rel in rels), encoding="utf-8")
        catalogues: list[pa.Table] = []
        paths: list[str] = []
        kinds: list[str] = []
        counts: list[int] = []
        sizes: list[int] = []
        for kind, rels, subs in planned:
            tables = []
            for rel, sub in zip(rels, subs, strict=True):
                sizes.append(self._write_file(rel, sub))
                rows = sub.drop_columns(["raw"]) if "raw" in sub.column_names else sub
                tables.append(rows.append_column("file", pa.array([rel] * rows.num_rows, pa.string())))
            catalogues.append(pa.concat_tables(tables))
            paths += rels
            kinds += [kind] * len(rels)
            counts += [sub.num_rows for sub in subs]
        now = dt.datetime.now(dt.UTC)
        files = pa.table(
            {
                "path": paths,
                "kind": kinds,
                "batch": [batch] * len(paths),
                "state": ["done"] * len(paths),
                "rows": pa.array(counts, pa.int64()),
                "bytes": pa.array(sizes, pa.int64()),
                "created": pa.array([now] * len(paths), pa.timestamp("us", tz="UTC")),
            }
        )
        return catalogues, files, journal

    def _write_file(self, rel: str, sub: pa.Table) -> int:
        final = self._root / rel
        folder = str(final.parent)
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        tmp = final.with_name(final.name + ".tmp")
        write_parquet(sub, tmp)
        os.replace(tmp, final)
        return final.stat().st_size

    def _commit_batch(self, tables: Sequence[tuple[str, pa.Table]], files: pa.Table, journal: Path) -> None:
        """Register ``files`` and insert each (table name, catalogue rows) in ONE transaction."""
        self._con.register("_files", files)
        names = [f"_rows{i}" for i in range(len(tables))]
        for name, (_, catalogue) in zip(names, tables, strict=True):
            # One chunk per partition file makes DuckDB's Arrow scan slow (~30 ms for a few hundred rows in
            # fifty chunks, against ~4 ms in one): hand it one chunk.
            self._con.register(name, catalogue.combine_chunks())
        try:
            self._con.execute("BEGIN TRANSACTION")
            self._con.execute("INSERT INTO files SELECT * FROM _files")
            for name, (table_name, _) in zip(names, tables, strict=True):
                self._con.execute(f"INSERT INTO {table_name} BY NAME SELECT * FROM {name}")
            self._con.execute("COMMIT")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        finally:
            self._con.unregister("_files")
            for name in names:
                self._con.unregister(name)
        journal.unlink()

    def _known(self, table_name: str, uids: pa.Array, keys: pa.Array | None = None) -> pa.Array:
        """A boolean mask: which of ``uids`` are already in ``table_name``, or (measurements) which rows
        repeat a stored one by content key as ``parquet.first_of_each`` says — one of the two without an
        archive uid (DuckDB semi-joins, one per column: an OR join would not be a hash join)."""
        self._con.register("_uids", pa.table({"u": uids}))
        try:
            known = self._con.sql(KNOWN_UIDS.format(table=table_name)).to_arrow_table().column("u")
        finally:
            self._con.unregister("_uids")
        mask = pc.is_in(uids, value_set=known.combine_chunks())
        if keys is not None and keys.null_count < len(keys):
            hashed = pa.array([is_content_uid(u) for u in uids.to_pylist()], pa.bool_())
            self._con.register(
                "_keys", pa.table({"i": pa.array(range(len(keys)), pa.int64()), "k": keys, "h": hashed})
            )
            try:
                found = (
                    self._con.sql(
                        f"SELECT i FROM _keys SEMI JOIN {table_name} t ON _keys.k = t.content_key "
                        f"AND (_keys.h OR {_HASHED_UID.format('t')})"
                    )
                    .to_arrow_table()
                    .column("i")
                )
            finally:
                self._con.unregister("_keys")
            repeats = pc.is_in(pa.array(range(len(keys)), pa.int64()), value_set=found.combine_chunks())
            mask = pc.or_(mask, repeats)
        return mask

    def add_measurements(self, records: Sequence[Record], analysed: Analysed | None = None) -> BatchResult:
        self._require_writable()
        if not records:
            return BatchResult(0, 0)
        if analysed is not None and len(analysed.verdicts) != len(records):
            raise StoreError("add_measurements: one verdict per record is needed")
        batch = unique(records)
        known = self._known(
            "measurements",
            pa.array([r.uid for r in batch], pa.string()),
            pa.array([content_key(r.envelope) for r in batch], pa.string()),
        )
        if pc.any(known).as_py():
            batch = [r for r, k in zip(batch, known.to_pylist(), strict=True) if not k]
        if not batch:
            return BatchResult(0, len(records))
        table, keys = measurement_table(batch)
        parts: list[_Part] = [("measurements", table, keys)]
        stored_verdicts = 0
        if analysed is not None:
            # The verdicts of the new measurements (the first of each uid, as for the measurements), their
            # envelope columns taken from the measurement table: no catalogue join needed.
            verdicts = verdict_table(
                verdict_input(analysed.verdicts),
                table,
                analysis_version=analysed.analysis_version,
                fingerprints_id=analysed.fingerprints_id,
            )
            parts.append(("verdicts", verdicts, table_keys(verdicts)))
            stored_verdicts = verdicts.num_rows
        self._write_and_commit(parts)
        return BatchResult(len(batch), len(records) - len(batch), verdicts=stored_verdicts)

    def _write_and_commit(self, parts: Sequence[_Part]) -> None:
        try:
            catalogues, files, journal = self._write_batch(parts)
            self._commit_batch(
                [(kind, rows) for (kind, _, _), rows in zip(parts, catalogues, strict=True)], files, journal
            )
        except (duckdb.Error, OSError, pa.ArrowException) as exc:
            self._recover()
            what = " and ".join(kind for kind, _, _ in parts)
            raise StoreError(f"cannot write a {what} batch to {self._root}: {exc}") from exc

    # -- reading -----------------------------------------------------------------------------------

    def _files_of(self, kind: str) -> list[str]:
        rows = self._con.execute(
            "SELECT path FROM files WHERE kind = ? AND state = 'done' ORDER BY path", [kind]
        ).fetchall()
        return [str(self._root / r[0]) for r in rows]

    def iter_measurements(
        self,
        *,
        batch_size: int = 500,
        without_verdicts: bool = False,
        test_names: Sequence[str] = (),
    ) -> Iterator[list[StoredMeasurement]]:
        files = self._files_of("measurements")
        if not files:
            return
        cols = ", ".join(f"m.{n}" for n, _, _ in ENVELOPE_COLUMNS)
        # By name: Parquet files written before a column was added lack it (read as NULL).  Not hive: the
        # folder names are sanitised (``ZZ``), the true values are in the columns.
        sql = (
            f"SELECT {cols}, m.raw FROM read_parquet($files, union_by_name = true, "
            "hive_partitioning = false) m WHERE true"
        )
        params: dict[str, object] = {"files": files}
        if without_verdicts:
            sql += " AND m.measurement_uid NOT IN (SELECT measurement_uid FROM verdicts)"
        if test_names:
            sql += " AND list_contains($tests, m.test_name)"
            params["tests"] = list(test_names)
        cur = self._con.cursor()
        try:
            reader = cur.sql(sql, params=params).to_arrow_reader(batch_size)
            for rb in reader:
                yield [StoredMeasurement(**row) for row in rb.to_pylist()]
        except duckdb.Error as exc:
            raise StoreError(f"cannot read measurements from {self._root}: {exc}") from exc
        finally:
            cur.close()

    def iter_unanalysed(
        self, *, batch_size: int = 500, batch_bytes: int = ANALYSIS_BATCH_BYTES
    ) -> Iterator[pa.Table]:
        """The measurements without a verdict in Arrow batches of at most ``batch_size`` rows (and about
        ``batch_bytes``) of only what re-analysis needs: identity, the envelope columns a verdict copies,
        and ``raw``.

        Memory does not grow with the store: the catalogue says which measurement files have rows without
        a verdict (one aggregate in DuckDB's bounded memory, streamed); the files are then read one at a
        time, a few rows at a time, and only a partly analysed file's analysed uids are held to filter it.
        (One DuckDB scan over all the files held per-file state: 180 MiB of DuckDB memory at 5 GB of input,
        bench/memory.py.)"""
        columns = list(ANALYSIS_COLUMNS)
        schema = pa.schema([MEASUREMENT_PARQUET.field(n) for n in columns])
        # Small reads: what is left over after a batch is cut is at most this many rows, not a whole file.
        step = max(1, min(batch_size, _READ_ROWS))
        held: list[pa.Table] = []
        rows = size = 0
        for rel, partly in self._unanalysed_files():
            try:
                done = self._analysed_in(rel) if partly else None
                reader = pq.ParquetFile(self._root / rel)
                for rb in reader.iter_batches(batch_size=step, columns=columns):
                    table = pa.Table.from_batches([rb]).cast(schema)
                    if done is not None:
                        table = table.filter(pc.invert(pc.is_in(table.column("measurement_uid"), done)))
                    held.append(table)
                    rows += table.num_rows
                    size += table.nbytes
                    if rows >= batch_size or size >= batch_bytes:
                        joined = pa.concat_tables(held)
                        cut = min(rows, batch_size)
                        yield joined.slice(0, cut)
                        rest = joined.slice(cut)
                        del joined  # the batch given is the caller's now; only the rest stays held
                        held, rows, size = ([rest] if rest.num_rows else []), rest.num_rows, rest.nbytes
                reader.close()
                pa.default_memory_pool().release_unused()  # see pipeline.analyze.release_arrow_memory
            except (OSError, pa.ArrowException) as exc:
                raise StoreError(f"cannot read measurements from {self._root / rel}: {exc}") from exc
        if rows:
            yield pa.concat_tables(held)

    def _unanalysed_files(self) -> Iterator[tuple[str, bool]]:
        """The measurement files (paths relative to the Parquet root, in order) with a row without a
        verdict, and whether some of their rows have one; streamed, through its own cursor (a snapshot:
        the caller adds verdicts meanwhile)."""
        cur = self._con.cursor()
        try:
            plan = cur.sql(
                "SELECT m.file, count(v.measurement_uid) > 0 AS partly FROM measurements m "
                "LEFT JOIN verdicts v USING (measurement_uid) GROUP BY m.file "
                "HAVING count(v.measurement_uid) < count(*) ORDER BY m.file"
            ).to_arrow_reader(10_000)
            for chunk in plan:
                yield from zip(chunk.column(0).to_pylist(), chunk.column(1).to_pylist(), strict=True)
        except duckdb.Error as exc:
            raise StoreError(f"cannot read the catalogue of {self._path}: {exc}") from exc
        finally:
            cur.close()

    def _analysed_in(self, rel: str) -> pa.Array:
        """The uids of measurement file ``rel`` that have a verdict (at most one file's rows; usually
        none)."""
        return (
            self._con.sql(
                "SELECT m.measurement_uid FROM measurements m SEMI JOIN verdicts v USING (measurement_uid) "
                "WHERE m.file = $file",
                params={"file": rel},
            )
            .to_arrow_table()
            .column(0)
            .combine_chunks()
        )

    def count_measurements(self) -> int:
        row = self._con.execute("SELECT count(*) FROM measurements").fetchone()
        return int(row[0]) if row else 0

    # -- aggregation rows --------------------------------------------------------------------------

    def add_aggregates(self, rows: Sequence[AggregateRow]) -> BatchResult:
        self._require_writable()
        try:
            added, duplicates, updated = add_aggregate_rows(self._con, rows)
        except (duckdb.Error, pa.ArrowException) as exc:
            raise StoreError(f"cannot store aggregation rows in {self._path}: {exc}") from exc
        return BatchResult(added, duplicates, updated)

    # -- verdicts ----------------------------------------------------------------------------------

    def add_verdicts(
        self,
        rows: Sequence[VerdictRow],
        *,
        analysis_version: int,
        fingerprints_id: str,
        envelopes: pa.Table | None = None,
    ) -> int:
        self._require_writable()
        if not rows:
            return 0
        if envelopes is not None:
            # The envelope columns come with the rows (``iter_unanalysed``): no join with the catalogue,
            # whose size would otherwise set the cost of every batch; only the verdicts are checked.
            table = verdict_table(
                verdict_input(rows),
                envelopes,
                analysis_version=analysis_version,
                fingerprints_id=fingerprints_id,
            )
            known = self._known("verdicts", table.column("measurement_uid").combine_chunks())
            if pc.any(known).as_py():
                table = table.filter(pc.invert(known))
            if table.num_rows == 0:
                return 0
            self._write_and_commit([("verdicts", table, table_keys(table))])
            return int(table.num_rows)
        given = pa.Table.from_pylist([_verdict_dict(r) for r in rows], schema=VERDICT_INPUT)
        names = ", ".join(
            f"v.{n}" if n in VERDICT_INPUT.names else f"m.{n}" for n, _, _ in VERDICT_COLUMNS[3:]
        )
        self._con.register("_given", given)
        try:
            table = self._con.sql(
                f"SELECT v.measurement_uid, $version::INTEGER AS analysis_version, "
                f"$fp AS fingerprints_id, {names} FROM _given v "
                "JOIN measurements m USING (measurement_uid) "
                "ANTI JOIN verdicts o USING (measurement_uid) "
                "QUALIFY row_number() OVER (PARTITION BY v.measurement_uid) = 1",
                params={"version": analysis_version, "fp": fingerprints_id},
            ).to_arrow_table()
        finally:
            self._con.unregister("_given")
        if table.num_rows == 0:
            return 0
        table = table.cast(VERDICT_PARQUET)
        self._write_and_commit([("verdicts", table, table_keys(table))])
        return int(table.num_rows)

    def add_verdict_files(self, staged: Staged) -> int:
        """Register verdict files written elsewhere (``store.staged.stage_verdicts``): journal their final
        names, rename them into their partitions and register them with their catalogue rows in one
        transaction, as ``add_verdicts`` does with the files it writes itself.  Verdicts for measurements
        that already have one (or that the catalogue does not hold) are dropped, as in ``add_verdicts``;
        returns how many were added.  The staged files are gone afterwards, registered or deleted."""
        return self._add_staged("verdicts", staged).added

    def add_measurement_files(self, staged: Staged, verdicts: Staged | None = None) -> BatchResult:
        """Register measurement files written elsewhere (``store.staged.stage_measurements``) as
        ``add_verdict_files`` does; measurements the store already holds are dropped (first seen wins, as
        in ``add_measurements``) and counted as duplicates.  With ``verdicts`` (``stage_analysed``: the
        staged measurements' verdicts), the verdicts of the measurements that are added are registered with
        them, in the same journal and transaction (``BatchResult.verdicts``), and the others dropped."""
        return self._add_staged("measurements", staged, verdicts)

    def _add_staged(self, kind: str, staged: Staged, verdicts: Staged | None = None) -> BatchResult:
        self._require_writable()
        parts = [(kind, staged)] if verdicts is None else [(kind, staged), ("verdicts", verdicts)]
        for part, given in parts:
            for f in given.files:
                if (
                    not f.path.startswith(STAGING + "/")
                    or ".." in f.path.split("/")
                    or not f.partition.startswith(part + "/")
                    or ".." in f.partition.split("/")
                ):
                    raise StoreError(f"not a staged {part} file: {f.path} ({f.partition})")
        try:
            return self._register_staged(kind, staged, verdicts)
        except (duckdb.Error, OSError, pa.ArrowException) as exc:
            self._recover()
            raise StoreError(f"cannot register {kind} files in {self._root}: {exc}") from exc
        finally:
            # Registered files were renamed away; the others (not new, or a failure) are deleted.
            for _, given in parts:
                for f in given.files:
                    (self._root / f.path).unlink(missing_ok=True)

    def _register_staged(self, kind: str, staged: Staged, verdicts: Staged | None = None) -> BatchResult:
        rows = staged.rows.combine_chunks()  # one chunk per staged file otherwise (see _commit_batch)
        if rows.num_rows == 0:
            return BatchResult(0, 0)
        # A verdict is new when its measurement is in the catalogue and has no verdict yet.
        known = "SEMI JOIN measurements m USING (measurement_uid) " if kind == "verdicts" else ""
        # Measurements are also known by content: a copy of a stored one without its uid is not new.
        by_key = (
            "ANTI JOIN measurements k ON s.content_key = k.content_key "
            f"AND ({_HASHED_UID.format('s')} OR {_HASHED_UID.format('k')}) "
            if kind == "measurements"
            else ""
        )
        # (Staged measurement rows are already the first of each: ``stage_measurements`` keeps those.)
        distinct = "count(DISTINCT s.measurement_uid) AS n"
        columns = ["measurement_uid", "content_key"] if kind == "measurements" else ["measurement_uid"]
        self._con.register("_staged", rows.select(columns))
        try:
            fresh = self._con.execute(
                f"SELECT {distinct}, count(*) AS total FROM _staged s "
                f"{known}ANTI JOIN {kind} o USING (measurement_uid) {by_key}"
            ).fetchall()[0]
        finally:
            self._con.unregister("_staged")
        if any(n != rows.num_rows for n in fresh):
            # Some rows are not new (a re-run, a partly analysed store): write the new ones the ordinary way.
            if kind == "measurements":
                return self._add_new_staged_measurements(staged, verdicts)
            given = rows.select(VERDICT_INPUT.names).to_pylist()
            version = rows.column("analysis_version")[0].as_py()
            fp = rows.column("fingerprints_id")[0].as_py()
            added = self.add_verdicts(
                [VerdictRow(**r) for r in given], analysis_version=version, fingerprints_id=fp
            )
            return BatchResult(added, rows.num_rows - added)
        # Every measurement is new, so none has a verdict yet (a verdict always has its measurement): the
        # staged verdicts, one per staged measurement, are all new too.
        parts = [(kind, staged, rows)]
        if verdicts is not None and verdicts.files:
            parts.append(("verdicts", verdicts, verdicts.rows.combine_chunks()))
        batch = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        finals: dict[str, str] = {}
        for _, given, _ in parts:
            for f in given.files:
                finals[f.path] = f"{f.partition}/{batch}-{len(finals)}.parquet"
        journal = self._root / _JOURNAL / f"{batch}.pending"
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_text("".join(f"{rel}\n" for rel in finals.values()), encoding="utf-8")
        root = str(self._root)  # plain strings: pathlib costs more than the renames at ~400 files a task
        for _, given, _ in parts:
            for f in given.files:
                target = os.path.join(root, finals[f.path])
                try:  # the worker that staged the file made its partition folder (``stage_table``)
                    os.replace(os.path.join(root, f.path), target)
                except FileNotFoundError:
                    os.makedirs(os.path.join(root, f.partition), exist_ok=True)
                    os.replace(os.path.join(root, f.path), target)
        now = dt.datetime.now(dt.UTC)
        every = [(part, f) for part, given, _ in parts for f in given.files]
        n = len(every)
        files = pa.table(
            {
                "path": [finals[f.path] for _, f in every],
                "kind": [part for part, _ in every],
                "batch": [batch] * n,
                "state": ["done"] * n,
                "rows": pa.array([f.rows for _, f in every], pa.int64()),
                "bytes": pa.array([f.bytes for _, f in every], pa.int64()),
                "created": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
            }
        )
        catalogues = []
        for part, given, table in parts:
            named = [f.path for f in given.files]
            renamed = pc.take(
                pa.array([finals[p] for p in named], pa.string()),
                pc.index_in(table.column("file"), value_set=pa.array(named, pa.string())),
            )
            catalogues.append((part, table.set_column(table.schema.get_field_index("file"), "file", renamed)))
        self._commit_batch(catalogues, files, journal)
        return BatchResult(rows.num_rows, 0, verdicts=parts[1][2].num_rows if len(parts) > 1 else 0)

    def _add_new_staged_measurements(self, staged: Staged, verdicts: Staged | None = None) -> BatchResult:
        """The rows of staged measurement files that the store does not hold (the first of each uid),
        written and registered as ``add_measurements`` writes a batch, with their staged verdicts."""
        table = pa.concat_tables(
            pq.read_table(self._root / f.path).cast(MEASUREMENT_PARQUET) for f in staged.files
        ).combine_chunks()
        uids = table.column("measurement_uid").combine_chunks()
        keys = table.column("content_key").combine_chunks()
        known = self._known("measurements", uids, keys).to_pylist()
        first = first_of_each(uids.to_pylist(), keys.to_pylist())
        keep = [f and not old for f, old in zip(first, known, strict=True)]
        new = table.filter(pa.array(keep, pa.bool_()))
        if not new.num_rows:
            return BatchResult(0, table.num_rows)
        parts: list[_Part] = [("measurements", new, table_keys(new))]
        if verdicts is not None and verdicts.files:
            # Verdicts follow their measurements: those of the measurements not added are dropped.
            given = pa.concat_tables(
                pq.read_table(self._root / f.path).cast(VERDICT_PARQUET) for f in verdicts.files
            ).combine_chunks()
            given = given.filter(
                pc.is_in(
                    given.column("measurement_uid"), value_set=new.column("measurement_uid").combine_chunks()
                )
            )
            if given.num_rows:
                parts.append(("verdicts", given, table_keys(given)))
        self._write_and_commit(parts)
        added = parts[1][1].num_rows if len(parts) > 1 else 0
        return BatchResult(new.num_rows, table.num_rows - new.num_rows, verdicts=added)

    def reset_verdicts(self) -> None:
        self._require_writable()
        try:
            self._con.execute("BEGIN TRANSACTION")
            self._con.execute("UPDATE files SET state = 'pending' WHERE kind = 'verdicts'")
            self._con.execute("DELETE FROM verdicts")
            self._con.execute("COMMIT")
        except duckdb.Error as exc:
            self._con.execute("ROLLBACK")
            raise StoreError(f"cannot reset verdicts: {exc}") from exc
        self._recover()

    # -- queries -----------------------------------------------------------------------------------

    def stats(self) -> Stats:
        con = self._con

        def counts(expr: str) -> list[Count]:
            rows = con.execute(
                f"SELECT {expr} AS k, count(*) AS n FROM measurements GROUP BY k ORDER BY n DESC, k"
            ).fetchall()
            return [Count(str(k), int(n)) for k, n in rows]

        total, first, last = con.execute(
            "SELECT count(*), min(measurement_start_time), max(measurement_start_time) FROM measurements"
        ).fetchone() or (0, None, None)
        verdicts = con.execute("SELECT count(*) FROM verdicts").fetchone()
        files = con.execute("SELECT count(*) FROM files WHERE state = 'done'").fetchone()
        months = con.execute(
            "SELECT strftime(measurement_start_time, '%Y-%m') AS k, count(*) FROM measurements "
            "GROUP BY k ORDER BY k"
        ).fetchall()
        aggregates = self._aggregate_stats()
        return Stats(
            **aggregates,
            measurements=int(total),
            verdicts=int(verdicts[0]) if verdicts else 0,
            parquet_files=int(files[0]) if files else 0,
            first=first,
            last=last,
            by_test_name=counts("test_name"),
            by_probe_cc=counts("probe_cc"),
            by_month=[Count(str(k), int(n)) for k, n in months],
        )

    def _aggregate_stats(self) -> dict[str, Any]:
        con = self._con
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'aggregates'"
        ).fetchone()
        if not exists or not exists[0]:
            return {}  # a store opened read-only that no ingest since the table's addition has touched
        rows, total, sources = con.execute(
            "SELECT count(*), coalesce(sum(measurement_count), 0), count(DISTINCT source) FROM aggregates"
        ).fetchone() or (0, 0, 0)
        shadowed = con.execute(
            f"WITH raw_days AS ({RAW_DAYS_FROM_VERDICTS}) "
            f"SELECT count(*) FROM aggregates a WHERE {raw_covers('a')}"
        ).fetchone()
        by_cc = con.execute(
            "SELECT probe_cc, sum(measurement_count) AS n FROM aggregates GROUP BY 1 ORDER BY n DESC, 1"
        ).fetchall()
        return {
            "aggregate_rows": int(rows),
            "aggregate_measurements": int(total),
            "aggregate_sources": int(sources),
            "aggregate_shadowed_rows": int(shadowed[0]) if shadowed else 0,
            "aggregate_by_probe_cc": [Count(str(k), int(n)) for k, n in by_cc],
        }

    def query(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        try:
            statements = self._con.extract_statements(sql)
        except duckdb.Error as exc:
            raise StoreError(f"invalid SQL: {exc}") from exc
        if len(statements) != 1 or statements[0].type not in _READ_ONLY_STATEMENTS:
            raise StoreError("only one read-only statement (SELECT) is allowed")
        cur = self._con.cursor()
        try:
            return cur.sql(sql, params=list(params) if params else None).to_arrow_table()
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc
        finally:
            cur.close()

    def run(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn`` on the writer connection (for code that builds its own tables, e.g. report cubes).
        ``fn`` must not touch the store's own tables except to read them."""
        self._require_writable()
        try:
            return fn(self._con)
        except duckdb.Error as exc:
            raise StoreError(f"store operation failed: {exc}") from exc

    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn`` on a fresh cursor (a consistent snapshot); works on a read-only store too."""
        cur = self._con.cursor()
        try:
            return fn(cur)
        except duckdb.Error as exc:
            raise StoreError(f"store query failed: {exc}") from exc
        finally:
            cur.close()

    def write_table(self, name: str, table: pa.Table) -> None:
        self._require_writable()
        if not _TABLE_NAME.match(name) or name in CORE_TABLES:
            raise StoreError(f"cannot write table {name!r}: not a name, or one of the store's own tables")
        self._con.register("_aux", table)
        try:
            self._con.execute("BEGIN TRANSACTION")
            self._con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _aux")
            self._con.execute("COMMIT")
        except duckdb.Error as exc:
            self._con.execute("ROLLBACK")
            raise StoreError(f"cannot write table {name}: {exc}") from exc
        finally:
            self._con.unregister("_aux")

    # -- events ------------------------------------------------------------------------------------

    def put_events(self, events: Sequence[Event]) -> None:
        """Store ``events`` (curated or detected), replacing stored events with the same id."""
        self._require_writable()
        self._transaction(lambda: put_events(self._con, events), "cannot store events")

    def replace_detected_events(
        self, events: Sequence[Event], *, since: dt.date | None, until: dt.date | None
    ) -> int:
        """Replace the detected events starting in since..until by ``events``; returns how many were
        dropped.  Curated events are never touched."""
        self._require_writable()
        if any(not e.detected for e in events):
            raise StoreError("replace_detected_events takes detected events only")
        dropped: list[int] = []

        def work() -> None:
            dropped.append(delete_detected(self._con, since, until))
            put_events(self._con, events)

        self._transaction(work, "cannot store detected events")
        return dropped[0]

    def events(self, filters: EventFilters | None = None) -> list[Event]:
        return self.read(lambda cur: select_events(cur, filters))

    def _transaction(self, work: Callable[[], object], what: str) -> None:
        try:
            self._con.execute("BEGIN TRANSACTION")
            work()
            self._con.execute("COMMIT")
        except duckdb.Error as exc:
            self._con.execute("ROLLBACK")
            raise StoreError(f"{what}: {exc}") from exc

    def parquet_glob(self, kind: str) -> str:
        if kind not in ("measurements", "verdicts"):
            raise StoreError(f"no Parquet data of kind {kind!r}")
        return str(self._root / kind / "**" / "*.parquet")

    def check(self) -> list[str]:
        problems: list[str] = []
        registered = dict(self._con.execute("SELECT path, rows FROM files WHERE state = 'done'").fetchall())
        on_disk = (
            {str(p.relative_to(self._root)) for p in self._root.rglob("*") if p.is_file()}
            if self._root.is_dir()
            else set()
        )
        problems += [f"unregistered file {p}" for p in sorted(on_disk - set(registered))]
        problems += [f"registered file missing: {p}" for p in sorted(set(registered) - on_disk)]
        for table in ("measurements", "verdicts"):
            per_file = dict(self._con.execute(f"SELECT file, count(*) FROM {table} GROUP BY file").fetchall())
            for rel, n in per_file.items():
                if rel not in registered:
                    problems.append(f"{table} rows point to unregistered file {rel}")
                elif rel in on_disk:
                    rows = pq.ParquetFile(self._root / rel).metadata.num_rows
                    if rows != n or registered[rel] != n:
                        problems.append(f"{rel}: {rows} rows in Parquet, {n} in the catalogue")
            dup = self._con.execute(
                f"SELECT count(*) - count(DISTINCT measurement_uid) FROM {table}"
            ).fetchone()
            if dup and dup[0]:
                problems.append(f"{dup[0]} duplicate measurement_uid in {table}")
        kinds = dict(self._con.execute("SELECT path, kind FROM files WHERE state = 'done'").fetchall())
        for table in ("measurements", "verdicts"):
            used = {r[0] for r in self._con.execute(f"SELECT DISTINCT file FROM {table}").fetchall()}
            problems += [
                f"registered file {p} holds no catalogue rows"
                for p, k in sorted(kinds.items())
                if k == table and p not in used
            ]
        return problems


def _verdict_dict(row: VerdictRow) -> dict[str, Any]:
    return {
        "measurement_uid": row.measurement_uid,
        "domain": row.domain,
        "outcome": row.outcome,
        "layer": row.layer,
        "reason": row.reason,
        "confidence": row.confidence,
        "confirmed": row.confirmed,
        "fingerprint": row.fingerprint,
        "blocking": row.blocking,
        "accessible": row.accessible,
    }


def open_store(path: Path | str | None = None, *, read_only: bool = False) -> DuckDBStore:
    """Open (creating if needed, unless ``read_only``) the store at ``path`` or the default path."""
    return DuckDBStore(path if path is not None else default_db_path(), read_only=read_only)

"""Parquet files written outside the store's process (Dask workers), for the store to register.

A worker writes its measurements or verdicts flat under ``<parquet root>/.staging/<run>/`` — one file per
partition (date × country × test), laid out as the store's own writer lays them out (``store.parquet``) —
and hands back only the files' paths, partitions and catalogue rows (a small Arrow table).  The single
writer then de-duplicates, journals, renames and registers them with ``DuckDBStore.add_measurement_files``
/ ``add_verdict_files``.  Nothing under ``.staging`` is ever registered, so opening the store for writing
deletes it whole: a worker or client killed at any point leaves no trace in the store.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from netfreedom.ingest import Record
from netfreedom.store.base import Analysed, VerdictRow
from netfreedom.store.parquet import measurement_table, table_keys, unique
from netfreedom.store.parquet import write as write_parquet
from netfreedom.store.schema import VERDICT_COLUMNS, VERDICT_INPUT, VERDICT_PARQUET, partition_dir

STAGING = ".staging"
# The envelope columns a verdict copies from its measurement (the rest comes from the analysis).
VERDICT_ENVELOPE = [n for n, _, _ in VERDICT_COLUMNS[3:] if n not in VERDICT_INPUT.names]
# What re-analysis reads of a stored measurement: its identity, the envelope columns its verdict copies, raw.
ANALYSIS_COLUMNS = ("measurement_uid", *VERDICT_ENVELOPE, "raw")


@dataclass(frozen=True)
class StagedFile:
    """One staged file: its path relative to the Parquet root, its partition folder, its rows
    and bytes."""

    path: str
    partition: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class Staged:
    """What a worker hands back: its staged files and their catalogue rows (the columns of the catalogue
    table — verdicts, or measurements without ``raw`` — plus ``file``, the staged path)."""

    files: tuple[StagedFile, ...]
    rows: pa.Table


def new_run() -> str:
    """A fresh staging folder name for one run (relative to the Parquet root)."""
    return f"{STAGING}/{secrets.token_hex(8)}"


def drop_staging(root: Path | str, run: str) -> None:
    """Remove a run's staging folder, and the staging folder itself once no other run uses it."""
    base = Path(root)
    shutil.rmtree(base / run, ignore_errors=True)
    with contextlib.suppress(OSError):  # not empty: another run is staging; or already gone
        (base / STAGING).rmdir()


def verdict_input(rows: Sequence[VerdictRow]) -> pa.Table:
    """Verdict rows as an Arrow table in the ``VERDICT_INPUT`` schema."""
    return pa.table(
        {name: [getattr(r, name) for r in rows] for name in VERDICT_INPUT.names}, schema=VERDICT_INPUT
    )


def verdict_table(
    given: pa.Table, envelopes: pa.Table, *, analysis_version: int, fingerprints_id: str
) -> pa.Table:
    """Complete verdicts (``VERDICT_PARQUET``): each row of ``given`` (``VERDICT_INPUT``) joined with its
    measurement's envelope columns from ``envelopes``.  Like ``add_verdicts``, the first verdict of a
    measurement wins and a verdict for a measurement not in ``envelopes`` is dropped."""
    seen: set[str] = set()
    keep = []
    for u in given.column("measurement_uid").to_pylist():
        keep.append(u not in seen)
        seen.add(u)
    given = given.filter(pa.array(keep, pa.bool_()))
    where = pc.index_in(given.column("measurement_uid"), value_set=envelopes.column("measurement_uid"))
    found = pc.is_valid(where)
    given, where = given.filter(found), where.filter(found)
    env = envelopes.select(VERDICT_ENVELOPE).take(where)
    n = given.num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "measurement_uid": given.column("measurement_uid"),
        "analysis_version": pa.array([analysis_version] * n, pa.int32()),
        "fingerprints_id": pa.array([fingerprints_id] * n, pa.string()),
    }
    for name in VERDICT_PARQUET.names[3:]:
        columns[name] = env.column(name) if name in VERDICT_ENVELOPE else given.column(name)
    return pa.table(columns).cast(VERDICT_PARQUET)


def stage_verdicts(root: Path | str, run: str, name: str, table: pa.Table) -> Staged:
    """On a worker: write ``table`` (``VERDICT_PARQUET``) as staged files (``stage_table``)."""
    return stage_table(root, run, name, table, [partition_dir("verdicts", *k) for k in table_keys(table)])


def stage_measurements(root: Path | str, run: str, name: str, records: Sequence[Record]) -> Staged:
    """On a worker: the records (the first of each uid) as staged measurement files, laid out as the
    store's own writer lays them out; the catalogue rows leave ``raw`` out."""
    table, keys = measurement_table(unique(records))
    return stage_table(root, run, name, table, [partition_dir("measurements", *k) for k in keys])


def stage_analysed(
    root: Path | str, run: str, name: str, records: Sequence[Record], analysed: Analysed
) -> tuple[Staged, Staged]:
    """On a worker: the records as ``stage_measurements`` stages them, and their verdicts
    (``analysed.verdicts[i]`` is the verdict of ``records[i]``) beside them, one per staged measurement,
    stamped and laid out as ``add_measurements(records, analysed)`` stores them.  The store registers the
    two together (``add_measurement_files(measurements, verdicts)``)."""
    if len(analysed.verdicts) != len(records):
        raise ValueError("stage_analysed: one verdict per record is needed")
    table, keys = measurement_table(unique(records))
    # As ``add_measurements`` joins them: the first verdict of each staged measurement.
    verdicts = verdict_table(
        verdict_input(analysed.verdicts),
        table,
        analysis_version=analysed.analysis_version,
        fingerprints_id=analysed.fingerprints_id,
    )
    measurements = stage_table(root, run, name, table, [partition_dir("measurements", *k) for k in keys])
    return measurements, stage_verdicts(root, run, f"{name}-v", verdicts)


def stage_table(root: Path | str, run: str, name: str, table: pa.Table, partitions: Sequence[str]) -> Staged:
    """Write ``table`` as one file per partition (``partitions[i]`` is row i's folder), flat in the run's
    folder as ``<root>/<run>/<name>-<n>.parquet`` (the partition is recorded beside it, and the file moves
    there when registered); the files and their catalogue rows (without ``raw``, plus ``file``, the
    staged path).  The partition folders are made here, on the worker, so that the single client that
    registers every task's files only renames (a fresh store's thousands of ``mkdir`` were a quarter of
    its work); a folder left empty by a task that fails holds no registered file, so nothing reads it."""
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(partitions):
        groups.setdefault(key, []).append(i)
    files: list[StagedFile] = []
    parts: list[pa.Table] = []
    folder = Path(root) / run
    folder.mkdir(parents=True, exist_ok=True)
    catalogue = table.drop_columns(["raw"]) if "raw" in table.column_names else table
    for n, (partition, indices) in enumerate(groups.items()):
        (Path(root) / partition).mkdir(parents=True, exist_ok=True)
        rel = f"{run}/{name}-{n}.parquet"
        path = folder / f"{name}-{n}.parquet"
        take = pa.array(indices, pa.int64())
        write_parquet(table.take(take), path)
        files.append(StagedFile(rel, partition, len(indices), path.stat().st_size))
        parts.append(catalogue.take(take).append_column("file", pa.array([rel] * len(indices), pa.string())))
    rows = (
        # one chunk: a quarter of the pickle and a fraction of the time to load it and to insert it
        pa.concat_tables(parts).combine_chunks()
        if parts
        else catalogue.schema.empty_table().append_column("file", pa.array([], pa.string()))
    )
    return Staged(tuple(files), rows)

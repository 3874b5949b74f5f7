"""``analyze --engine dask``: the same verdict code mapped over the store's measurement Parquet files.

The client asks the catalogue which measurement files still hold measurements without a verdict, groups
them (in path order, i.e. by date × country × test) into tasks of about ``task_rows`` measurements, and
sends each task to a worker.  The worker reads its files straight from the Parquet root and runs the
``Analyzer`` — the very function the local engine runs on each batch — and returns verdict rows; the client
hands them to ``Store.add_verdicts``, which writes them as verdict Parquet partitions and registers them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netfreedom.pipeline.scale.cluster import EngineOptions, connect, run_in_order, workers_of
from netfreedom.store import Store, StoredMeasurement, VerdictRow

# One batch of stored measurements in, one verdict row per measurement out (pure, picklable: a module-level
# function or a functools.partial of one, so that it can be shipped to the workers).
Analyzer = Callable[[Sequence[StoredMeasurement]], list[VerdictRow]]

TASK_ROWS = 5_000
READ_BATCH = 1_000
WRITE_ROWS = 2_000  # verdict rows per store write: the local engine's batch (pipeline.analyze.BATCH_SIZE)


@dataclass(frozen=True)
class FileGroup:
    """One task: Parquet files (relative to the Parquet root) holding about ``rows`` measurements."""

    files: tuple[str, ...]
    rows: int


@dataclass
class AnalyzeRun:
    """What one run did."""

    tasks: int = 0
    measurements: int = 0  # measurements analysed by the workers
    verdicts: int = 0  # verdicts added to the store
    workers: int = 0
    seconds: float = 0.0


def pending_files(store: Store) -> list[tuple[str, int, int]]:
    """Measurement files (relative paths) holding measurements without a verdict, with their rows and
    bytes, in path order (date, country, test)."""
    table = store.query(
        "SELECT m.file AS file, any_value(f.rows) AS rows, any_value(f.bytes) AS bytes "
        "FROM measurements m JOIN files f ON f.path = m.file "
        "WHERE NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.measurement_uid = m.measurement_uid) "
        "GROUP BY m.file ORDER BY m.file"
    )
    columns = (table.column(n).to_pylist() for n in ("file", "rows", "bytes"))
    return list(zip(*columns, strict=True))


def plan(
    files: Sequence[tuple[str, int, int]], workers: int, task_rows: int = TASK_ROWS
) -> Iterator[FileGroup]:
    """Group consecutive files into tasks of at most ``task_rows`` rows, and of about an eighth of a
    worker's share of the bytes (work follows bytes: a web_connectivity body weighs more than a ping), so
    every worker gets several tasks and none waits long for the last one.  A big file is a task alone."""
    total = sum(b or 0 for _, _, b in files)
    task_bytes = max(1, total // (8 * max(1, workers)))
    group: list[str] = []
    rows = size = 0
    for path, n, b in files:
        group.append(path)
        rows += n or 0
        size += b or 0
        if rows >= task_rows or size >= task_bytes:
            yield FileGroup(tuple(group), rows)
            group, rows, size = [], 0, 0
    if group:
        yield FileGroup(tuple(group), rows)


def read_measurements(path: Path, batch_size: int = READ_BATCH) -> Iterator[list[StoredMeasurement]]:
    """The measurements of one Parquet file, in batches (the columns are the store's contract)."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:
        for rb in pf.iter_batches(batch_size=batch_size):
            yield [StoredMeasurement(**row) for row in rb.to_pylist()]


def analyze_group(task: FileGroup, root: str, analyzer: Analyzer) -> tuple[int, list[VerdictRow]]:
    """On a worker: analyse every measurement of the task's files; (measurements read, verdict rows)."""
    rows: list[VerdictRow] = []
    seen = 0
    for rel in task.files:
        for batch in read_measurements(Path(root) / rel):
            seen += len(batch)
            rows.extend(analyzer(batch))
    return seen, rows


def analyze_on_cluster(
    store: Store,
    analyzer: Analyzer,
    *,
    analysis_version: int,
    fingerprints_id: str,
    options: EngineOptions | None = None,
    client: Any = None,
    task_rows: int = TASK_ROWS,
    write_rows: int = WRITE_ROWS,
    progress: Callable[[AnalyzeRun], None] | None = None,
    observe: Callable[[list[VerdictRow]], None] | None = None,
) -> AnalyzeRun:
    """Analyse every stored measurement without a verdict on a Dask cluster (``client``, or one made from
    ``options``).  Idempotent like the local engine: the store adds verdicts only where there are none.

    Resetting verdicts when the analysis version or fingerprints change is the caller's job, as locally.
    """
    if client is None:
        with connect(options or EngineOptions()) as own:
            return analyze_on_cluster(
                store,
                analyzer,
                analysis_version=analysis_version,
                fingerprints_id=fingerprints_id,
                client=own,
                task_rows=task_rows,
                write_rows=write_rows,
                progress=progress,
                observe=observe,
            )
    started = time.perf_counter()
    run = AnalyzeRun(workers=workers_of(client))
    # Ship the analyzer (and the fingerprints it holds) once to every worker, not once per task.
    shipped = client.scatter(analyzer, broadcast=True, hash=False)

    # Each ``add_verdicts`` call has a fixed cost (a join against the catalogue, a transaction), so results
    # are written in batches of ``write_rows`` rather than one call per task.
    buffer: list[VerdictRow] = []

    def flush() -> None:
        run.verdicts += store.add_verdicts(
            buffer, analysis_version=analysis_version, fingerprints_id=fingerprints_id
        )
        buffer.clear()
        if progress:
            progress(run)

    def write(_: FileGroup, result: tuple[int, list[VerdictRow]]) -> None:
        seen, rows = result
        run.measurements += seen
        if observe:
            observe(rows)
        buffer.extend(rows)
        if len(buffer) >= write_rows:
            flush()

    run.tasks = run_in_order(
        client,
        analyze_group,
        plan(pending_files(store), run.workers, task_rows),
        str(store.parquet_root),
        shipped,
        window=2 * run.workers + 1,
        on_result=write,
    )
    if buffer:
        flush()
    run.seconds = time.perf_counter() - started
    return run

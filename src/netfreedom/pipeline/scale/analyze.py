"""``analyze --engine dask``: the same verdict code mapped over the store's measurement Parquet files.

The client asks the catalogue which measurement files still hold measurements without a verdict, groups
them (in path order, i.e. by date × country × test) into tasks of about ``task_rows`` measurements, and
sends each task to a worker.  The worker reads its files straight from the Parquet root, runs the
``Analyzer`` — the very function the local engine runs on each batch — and writes the verdicts itself as
staged Parquet files, one per partition (``store.staged``); it returns only their paths and catalogue rows.
The client, the single writer, hands each task's files to ``Store.add_verdict_files``, which journals,
renames and registers them in one transaction.  Writing Parquet is thus spread over the workers, and the
client's share of a task is a few renames and one insert.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from netfreedom.pipeline.scale.cluster import (
    EngineOptions,
    connect,
    preflight,
    run_in_order,
    ship_pickled,
    unpickled,
    wait_for_workers,
)
from netfreedom.store import Store, StoredMeasurement, VerdictRow
from netfreedom.store.schema import MEASUREMENT_PARQUET
from netfreedom.store.staged import (
    Staged,
    drop_staging,
    new_run,
    stage_verdicts,
    verdict_input,
    verdict_table,
)

# One batch of stored measurements in, one verdict row per measurement out (pure, picklable: a module-level
# function or a functools.partial of one, so that it can be shipped to the workers).
Analyzer = Callable[[Sequence[StoredMeasurement]], list[VerdictRow]]

TASK_ROWS = 5_000
READ_BATCH = 1_000


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
    """Group consecutive files into tasks of at most ``task_rows`` rows, sized by bytes (work follows
    bytes: a web_connectivity body weighs more than a ping) and shrinking as the work left shrinks
    (guided self-scheduling): a task takes a quarter of a worker's share of the bytes still to plan, and
    never less than a sixteenth of its share of the whole.  The workers start on large tasks and finish
    together on small ones, so none waits long for the last.  A big file is a task alone."""
    share = max(1, workers)
    remaining = sum(b or 0 for _, _, b in files)
    floor = max(1, remaining // (16 * share))
    target = max(floor, remaining // (4 * share))
    group: list[str] = []
    rows = size = 0
    for path, n, b in files:
        group.append(path)
        rows += n or 0
        size += b or 0
        if rows >= task_rows or size >= target:
            yield FileGroup(tuple(group), rows)
            remaining -= size
            target = max(floor, remaining // (4 * share))
            group, rows, size = [], 0, 0
    if group:
        yield FileGroup(tuple(group), rows)


@dataclass(frozen=True)
class Target:
    """Where and how a task's verdicts are staged: the Parquet root, the run's staging folder, and the
    version and fingerprints they are stamped with."""

    root: str
    run: str
    analysis_version: int
    fingerprints_id: str


def analyze_group(task: FileGroup, analyzer: Analyzer | str, target: Target) -> tuple[int, Staged]:
    """On a worker: analyse every measurement of the task's files with ``analyzer`` (or the analyzer
    shipped to the workers under that key) and stage the verdicts under ``run``; (measurements read,
    staged verdicts)."""
    import pyarrow.parquet as pq

    if isinstance(analyzer, str):
        analyzer = cast(Analyzer, unpickled(analyzer))

    given: list[VerdictRow] = []
    envelopes: list[pa.Table] = []
    seen = 0
    for rel in task.files:
        with pq.ParquetFile(Path(target.root) / rel) as pf:
            for rb in pf.iter_batches(batch_size=READ_BATCH):
                batch = [StoredMeasurement(**row) for row in rb.to_pylist()]
                seen += len(batch)
                given.extend(analyzer(batch))
                envelopes.append(pa.Table.from_batches([rb.drop_columns(["raw"])]))
    table = verdict_table(
        verdict_input(given),
        # Files written before a column was added lack it: unify by name.
        pa.concat_tables(envelopes, promote_options="default")
        if envelopes
        else MEASUREMENT_PARQUET.empty_table(),
        analysis_version=target.analysis_version,
        fingerprints_id=target.fingerprints_id,
    )
    # Named after the task's first file: unique within the run, and stable for a retried task.
    name = task.files[0].replace("/", "_").removesuffix(".parquet") if task.files else "empty"
    return seen, stage_verdicts(target.root, target.run, name, table)


def analyze_on_cluster(
    store: Store,
    analyzer: Analyzer,
    *,
    analysis_version: int,
    fingerprints_id: str,
    options: EngineOptions | None = None,
    client: Any = None,
    task_rows: int = TASK_ROWS,
    progress: Callable[[AnalyzeRun], None] | None = None,
    observe: Callable[[pa.Table], None] | None = None,
) -> AnalyzeRun:
    """Analyse every stored measurement without a verdict on a Dask cluster (``client``, or one made from
    ``options``).  Idempotent like the local engine: the store adds verdicts only where there are none.
    The workers need the store's Parquet root at the same path (a shared file system on a real cluster).

    ``observe`` sees each task's verdict rows (an Arrow table in the verdict schema, plus ``file``) before
    they are registered.  Resetting verdicts when the analysis version or fingerprints change is the
    caller's job, as locally.
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
                progress=progress,
                observe=observe,
            )
    started = time.perf_counter()
    run = AnalyzeRun(workers=wait_for_workers(client))
    preflight(client, store.parquet_root)
    # The analyzer (and the fingerprints it holds) goes once to every worker, not once per task; as a
    # worker plugin, so a worker that restarts gets it again.

    def register(_: FileGroup, result: tuple[int, Staged]) -> None:
        seen, staged = result
        run.measurements += seen
        if observe:
            observe(staged.rows)
        run.verdicts += store.add_verdict_files(staged)
        if progress:
            progress(run)

    staging = new_run()
    try:
        with ship_pickled(client, analyzer) as key:
            run.tasks = run_in_order(
                client,
                analyze_group,
                plan(pending_files(store), run.workers, task_rows),
                key,
                Target(str(store.parquet_root), staging, analysis_version, fingerprints_id),
                window=4 * run.workers + 1,
                on_result=register,
            )
    finally:
        # Files of tasks that failed or were cancelled (a task still running may add more: opening the
        # store for writing deletes the whole staging folder).
        drop_staging(store.parquet_root, staging)
    run.seconds = time.perf_counter() - started
    return run

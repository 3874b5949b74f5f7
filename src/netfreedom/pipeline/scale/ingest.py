"""``ingest --engine dask``: the OONI archive (or local folders) read in parallel, by partition.

The client lists the sources (archive listings are cheap and pruned by the filters level by level) and
groups the objects by partition — date × country × test name, read from the archive layout — into tasks
of at most ``task_bytes``.  Workers download (through the same cache and mirrors) and parse them with the
same readers as the local engine, analyse each measurement as they read it (``pipeline.ingest.verdict_row``,
with the fingerprints shipped to every worker once, compiled), and write the good records and their
verdicts as staged Parquet files laid out as the store's writer lays them out
(``store.staged.stage_analysed``: compressing the raw JSON, the largest share of ingest, happens on the
workers); they send back only the files' catalogue rows, the problems and the counts.  The client's single
store writer registers each task's measurement and verdict files together, in one transaction, in task
order (``Store.add_measurement_files``), so de-duplication ("first seen wins": a measurement already
stored is dropped with its verdict), the verdicts and the counts are the same as a local run over the same
sources.  OONI aggregation results (small) travel back as rows and are stored by the client; aggregation
API URLs are read by the client itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netfreedom.analysis import ANALYSIS_VERSION
from netfreedom.fetch import Fetcher
from netfreedom.ingest import (
    MAX_LINE,
    ArchiveObject,
    Filters,
    Incomplete,
    Opened,
    Problem,
    Record,
    Skipped,
    bucket_time,
    is_aggregation_url,
    is_archive_url,
    list_archive,
    parse_archive_url,
    read_file,
    stamp_bucket,
)
from netfreedom.ingest.folder import walk
from netfreedom.ingest.layout import LAYOUTS, Level
from netfreedom.models.aggregation import AggregateRow
from netfreedom.models.verdict import Reason
from netfreedom.pipeline.ingest import MAX_ERRORS, Analysis, IngestSummary, accepts_aggregate, verdict_row
from netfreedom.pipeline.ingest import ingest as ingest_locally
from netfreedom.pipeline.scale.cluster import (
    EngineOptions,
    connect,
    preflight,
    run_in_order,
    ship_pickled,
    unpickled,
    wait_for_workers,
)
from netfreedom.store import Analysed, Store, VerdictRow
from netfreedom.store.staged import Staged, drop_staging, new_run, stage_analysed, stage_measurements

TASK_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class SourceGroup:
    """One task: measurement files or archive object URLs of one partition (date, country, test)."""

    partition: tuple[str, ...]
    sources: tuple[str, ...]
    bytes: int
    sizes: tuple[int, ...] = ()  # each source's size from the listing (0: unknown)


@dataclass
class IngestPart:
    """What a worker read from one task: its good records (filtered) staged as files, with their verdicts
    (ingest with analysis), problems, counts."""

    staged: Staged | None = None
    verdicts: Staged | None = None  # one per staged measurement
    accepted: int = 0  # good records that passed the filters (the staged files hold the first of each uid)
    analysis_errors: int = 0  # verdicts where an analyzer raised (of every accepted record, as locally)
    problems: list[Problem] = field(default_factory=list)
    rejected: int = 0
    lines: int = 0
    filtered: int = 0
    files: int = 0
    bytes_read: int = 0
    aggregates: list[AggregateRow] = field(default_factory=list)
    incomplete: list[Incomplete] = field(default_factory=list)


def partition_of(path: str) -> tuple[str, ...] | None:
    """(day, country, test) from a path in an archive layout, None elsewhere."""
    segments = path.split("/")
    root = next((i for i in range(len(segments) - 1, -1, -1) if segments[i] in LAYOUTS), None)
    if root is None:
        return None
    levels = LAYOUTS[segments[root]]
    values = dict(zip(levels, segments[root + 1 :], strict=False))
    if len(values) < len(levels):
        return None
    return (values[Level.DAY], values[Level.COUNTRY], values[Level.TEST])


def list_sources(
    specs: Sequence[str], filters: Filters, fetcher: Fetcher
) -> Iterator[tuple[str, int] | Problem | Skipped | Incomplete]:
    """On the client: every file or object URL to read, with its size (0 when unknown), in stable order;
    what is left unread on purpose is ``Skipped``, a listing that fails ``Incomplete`` (as in a local
    run), never an exception."""
    for spec in specs:
        if is_archive_url(spec):
            src = parse_archive_url(spec, fetcher.s3_endpoint)
            target = fetcher.resolve(src.base + "/")
            if not target.startswith(("http://", "https://")):
                yield from _local(Path(target) / src.prefix, filters)
                continue
            for entry in list_archive(spec, filters, fetcher):
                yield (entry.url, entry.size or 0) if isinstance(entry, ArchiveObject) else entry
        else:
            yield from _local(Path(spec), filters)


def _local(path: Path, filters: Filters) -> Iterator[tuple[str, int] | Problem | Skipped]:
    if path.is_dir():
        for p in walk(path, filters):
            yield p if isinstance(p, Problem | Skipped) else (str(p), p.stat().st_size)
    else:
        yield str(path), path.stat().st_size if path.is_file() else 0


def group_sources(listed: Sequence[tuple[str, int]], task_bytes: int = TASK_BYTES) -> list[SourceGroup]:
    """Group by partition (files outside an archive layout are a partition each), then split partitions
    above ``task_bytes``; partitions keep the order in which they were first listed."""
    by_partition: dict[tuple[str, ...], list[tuple[str, int]]] = {}
    for source, size in listed:
        key = partition_of(urllib.parse.unquote(source)) or (source,)
        by_partition.setdefault(key, []).append((source, size))
    groups: list[SourceGroup] = []
    for key, items in by_partition.items():
        chunk: list[tuple[str, int]] = []
        size = 0
        for source, n in items:
            if chunk and size + n > task_bytes:
                groups.append(_group(key, chunk))
                chunk, size = [], 0
            chunk.append((source, n))
            size += n
        groups.append(_group(key, chunk))
    return groups


def _group(key: tuple[str, ...], chunk: list[tuple[str, int]]) -> SourceGroup:
    return SourceGroup(key, tuple(s for s, _ in chunk), sum(n for _, n in chunk), tuple(n for _, n in chunk))


@dataclass(frozen=True)
class Job:
    """What every task of a run shares: the filters, a fetcher's settings (plain values: a Fetcher without
    its HTTP client), the reading limits, where to stage files (the store's Parquet root and the run's
    staging folder), and the key of the ``Analysis`` shipped to the workers (None: store only)."""

    filters: Filters
    fetcher: Fetcher
    max_line: int
    max_errors: int
    root: str
    run: str
    dimensions: Mapping[str, str] = field(default_factory=dict)
    cwd: str = ""  # the client's working folder: relative local sources are read from there
    analysis: str | None = None


def for_workers(fetcher: Fetcher) -> Fetcher:
    """The fetcher's settings as a worker needs them: without its HTTP client, and with the cache and the
    local mirror folders as absolute paths (a worker's working folder is not the client's)."""
    mirrors = {
        prefix: target if "://" in target else os.path.abspath(target)
        for prefix, target in fetcher.mirrors.items()
    }
    return dataclasses.replace(
        fetcher, cache_dir=Path(fetcher.cache_dir).absolute(), mirrors=mirrors, requests=0, _client=None
    )


def ingest_group(task: SourceGroup, job: Job) -> IngestPart:
    """On a worker: download (URLs) and read the task's sources with the local engine's readers, analyse
    each good record as it is read (with ``job.analysis``), and stage the records and their verdicts in the
    run's folder."""
    from netfreedom.errors import FetchError

    filters, fetcher, max_line, max_errors = job.filters, job.fetcher, job.max_line, job.max_errors
    analysis: Analysis | None = unpickled(job.analysis) if job.analysis is not None else None
    part = IngestPart()
    records: list[Record] = []
    verdicts: list[VerdictRow] = []
    own = dataclasses.replace(fetcher, requests=0, _client=None)

    def problem(p: Problem) -> None:
        part.rejected += 1
        if p.line > 0:
            part.lines += 1
        if len(part.problems) < max_errors:
            part.problems.append(p)

    try:
        for n, source in enumerate(task.sources):
            size = task.sizes[n] if n < len(task.sizes) and task.sizes[n] else None
            if is_archive_url(source):
                try:
                    path, display = own.fetch(source, size=size), source
                except FetchError as exc:
                    part.incomplete.append(Incomplete(source, f"download failed: {exc.reason}"))
                    continue
            else:
                path, display = Path(job.cwd, source), source
            bucket = bucket_time(urllib.parse.unquote(urllib.parse.urlsplit(source).path))
            # With analysis the envelope and the typed keys are decoded in one pass (as the local ingest)
            items = read_file(
                path, display, max_line=max_line, dimensions=job.dimensions, keys=analysis is not None
            )
            for item in stamp_bucket(items, bucket):
                if isinstance(item, AggregateRow):
                    part.lines += 1
                    if filters.active and not accepts_aggregate(filters, item):
                        part.filtered += 1
                    else:
                        part.aggregates.append(item)
                elif isinstance(item, Record):
                    part.lines += 1
                    if filters.active and not filters.accepts(item):
                        part.filtered += 1
                    else:
                        if analysis is not None:
                            row = verdict_row(item, analysis.fingerprints)
                            part.analysis_errors += row.reason == Reason.ANALYSIS_ERROR.value
                            verdicts.append(row)
                        records.append(item.bare())  # the decoded keys are not kept with the task's records
                elif isinstance(item, Problem):
                    problem(item)
                elif isinstance(item, Opened):
                    part.files += 1
                    part.bytes_read += item.size or 0
    finally:
        own.close()
    part.accepted = len(records)
    if records:
        # Named after the task's sources: unique within the run, and the same for a retried task.
        name = hashlib.sha256("\n".join(task.sources).encode("utf-8", "surrogatepass")).hexdigest()[:20]
        if analysis is None:
            part.staged = stage_measurements(job.root, job.run, name, records)
        else:
            stamped = Analysed(
                verdicts=verdicts, analysis_version=ANALYSIS_VERSION, fingerprints_id=analysis.fingerprints_id
            )
            part.staged, part.verdicts = stage_analysed(job.root, job.run, name, records, stamped)
    return part


def ingest_on_cluster(
    store: Store,
    sources: Sequence[str],
    *,
    filters: Filters | None = None,
    fetcher: Fetcher | None = None,
    options: EngineOptions | None = None,
    client: Any = None,
    max_errors: int = MAX_ERRORS,
    max_line: int = MAX_LINE,
    task_bytes: int = TASK_BYTES,
    progress: Callable[[IngestSummary], None] | None = None,
    dimensions: Mapping[str, str] | None = None,
    analysis: Analysis | None = None,
) -> IngestSummary:
    """Ingest ``sources`` into ``store`` with the work spread over a Dask cluster; never raises on bad
    input (bad lines and files are counted and listed as in ``pipeline.ingest.ingest``).  With
    ``analysis`` the workers analyse every measurement as they read it, and each verdict is stored with
    its measurement, in the same transaction, as ``pipeline.ingest.ingest`` stores it."""
    filters = filters or Filters()
    api = [s for s in sources if is_aggregation_url(s)]
    if api:
        first = ingest_locally(
            store,
            api,
            filters=filters,
            fetcher=fetcher,
            max_errors=max_errors,
            dimensions=dimensions,
            analysis=analysis,
        )
        rest = [s for s in sources if not is_aggregation_url(s)]
        if not rest:
            return first
        second = ingest_on_cluster(
            store,
            rest,
            filters=filters,
            fetcher=fetcher,
            options=options,
            client=client,
            max_errors=max(0, max_errors - len(first.errors)),
            max_line=max_line,
            task_bytes=task_bytes,
            progress=progress,
            dimensions=dimensions,
            analysis=analysis,
        )
        return first.merged(second)
    fetcher = fetcher or Fetcher()
    if client is None:
        with connect(options or EngineOptions()) as own:
            return ingest_on_cluster(
                store,
                sources,
                filters=filters,
                fetcher=fetcher,
                client=own,
                max_errors=max_errors,
                max_line=max_line,
                task_bytes=task_bytes,
                progress=progress,
                dimensions=dimensions,
                analysis=analysis,
            )
    summary = IngestSummary()
    workers = wait_for_workers(client)
    preflight(client, store.parquet_root)

    def note(p: Problem) -> None:
        summary.rejected += 1
        if p.line > 0:
            summary.lines += 1
        if len(summary.errors) < max_errors:
            summary.errors.append(p)

    requests_before = fetcher.requests
    listed: list[tuple[str, int]] = []
    for item in list_sources(sources, filters, fetcher):
        if isinstance(item, Problem):
            note(item)
        elif isinstance(item, Skipped | Incomplete):
            summary.note(item)
        else:
            listed.append(item)
    summary.requests = fetcher.requests - requests_before

    def write(_: SourceGroup, part: IngestPart) -> None:
        summary.files += part.files
        summary.lines += part.lines
        summary.rejected += part.rejected
        summary.filtered += part.filtered
        summary.bytes_read += part.bytes_read
        summary.errors.extend(part.problems[: max(0, max_errors - len(summary.errors))])
        if part.aggregates:
            stored = store.add_aggregates(part.aggregates)
            summary.aggregate_rows += stored.added
            summary.aggregate_duplicates += stored.duplicates
            summary.aggregate_updated += stored.updated
        summary.incomplete.extend(part.incomplete)
        summary.analysis_errors += part.analysis_errors
        if part.staged is not None:
            result = store.add_measurement_files(part.staged, part.verdicts)
            summary.ingested += result.added
            summary.verdicts += result.verdicts
            # Repeats inside the task never reached a file; the rest the store already held.
            summary.duplicates += result.duplicates + part.accepted - part.staged.rows.num_rows
        if progress:
            progress(summary)

    if analysis is not None and analysis.fingerprints is not None:
        # Compiled here, once (about a second): the workers get the compiled automata.
        _ = analysis.fingerprints.problems
    staging = new_run()
    try:
        # DuckDB's memory capped while the client registers the tasks' files (docs/scaling.md, Memory)
        with (
            store.bounded(),
            ship_pickled(client, analysis) if analysis is not None else nullcontext() as key,
        ):
            run_in_order(
                client,
                ingest_group,
                group_sources(listed, task_bytes),
                Job(
                    filters,
                    for_workers(fetcher),
                    max_line,
                    max_errors,
                    str(store.parquet_root),
                    staging,
                    dict(dimensions or {}),
                    os.getcwd(),
                    key,
                ),
                window=2 * workers + 1,
                on_result=write,
            )
    finally:
        # Files of tasks that failed or were cancelled (opening the store for writing also deletes them).
        drop_staging(store.parquet_root, staging)
    return summary

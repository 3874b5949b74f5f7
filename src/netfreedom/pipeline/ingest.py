"""Ingest: read sources, filter, and write the good records to the store in bounded batches.

Memory is bounded by one batch (``batch_size`` measurements or ``batch_bytes`` of raw JSON, whichever
comes first) and its Arrow copy, plus one line; the reader streams everything else, and nothing is kept
from one batch to the next (bench/memory.py: peak RSS flat from 0.5 to 5 GB of input).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netfreedom.analysis import ANALYSIS_VERSION, FingerprintDB, analyze, analyze_decoded
from netfreedom.fetch import Fetcher
from netfreedom.ingest import (
    MAX_LINE,
    Filters,
    Incomplete,
    Opened,
    Problem,
    Record,
    Skipped,
    is_archive_url,
    measurement_files,
    normalise_test,
    read_sources,
)
from netfreedom.models.aggregation import AggregateRow
from netfreedom.models.measurement import first_input
from netfreedom.models.verdict import Reason
from netfreedom.pipeline.analyze import domain_of, release_arrow_memory
from netfreedom.store import Analysed, Store, VerdictRow

BATCH_SIZE = 20_000
BATCH_BYTES = 32 * 1024 * 1024
AGGREGATE_BATCH = 50_000
MAX_ERRORS = 100


RESUME = (
    "re-run the same command to resume: downloaded objects are read from the cache and measurements "
    "already stored are not added again"
)


@dataclass
class IngestSummary:
    """Counts of one ingest run.  ``rejected`` counts every problem (bad lines and unreadable files);
    ``errors`` lists the first ``max_errors`` of them.  ``skipped`` counts what was left unread on purpose,
    by reason; ``incomplete`` lists the parts of archive walks that failed (listings, downloads) — a run
    with any is incomplete and the command exits non-zero.  ``requests`` counts HTTP requests."""

    files: int = 0
    lines: int = 0
    ingested: int = 0
    duplicates: int = 0
    rejected: int = 0
    filtered: int = 0
    bytes_read: int = 0
    # OONI aggregation rows: new cells, cells already stored with the same counts, cells whose counts
    # were replaced.  Their rows count in ``lines`` (and ``filtered``/``rejected``) like measurements.
    aggregate_rows: int = 0
    aggregate_duplicates: int = 0
    aggregate_updated: int = 0
    requests: int = 0
    # Verdicts stored with the new measurements (ingest with analysis), and those where an analyzer raised.
    verdicts: int = 0
    analysis_errors: int = 0
    errors: list[Problem] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    incomplete: list[Incomplete] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        """False when the sources held no measurement at all — empty files or folders, or only bad lines
        (each reported): the command then exits 1, as ``analyze FILE`` does."""
        return (
            self.ingested
            + self.duplicates
            + self.filtered
            + self.aggregate_rows
            + self.aggregate_duplicates
            + self.aggregate_updated
            > 0
        )

    def merged(self, other: IngestSummary) -> IngestSummary:
        """The counts of two runs together (errors: this run's, then the other's)."""
        out = IngestSummary()
        for name in (
            "files",
            "lines",
            "ingested",
            "duplicates",
            "rejected",
            "filtered",
            "bytes_read",
            "aggregate_rows",
            "aggregate_duplicates",
            "aggregate_updated",
            "requests",
            "verdicts",
            "analysis_errors",
        ):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        out.errors = [*self.errors, *other.errors]
        out.skipped = self.skipped + other.skipped
        out.incomplete = [*self.incomplete, *other.incomplete]
        return out

    @property
    def complete(self) -> bool:
        """False when a part of an archive walk failed: the sources hold more than was read."""
        return not self.incomplete

    def note(self, item: Skipped | Incomplete) -> None:
        if isinstance(item, Skipped):
            self.skipped[item.reason] += 1
        else:
            self.incomplete.append(item)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "lines": self.lines,
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "filtered": self.filtered,
            "aggregate_rows": self.aggregate_rows,
            "aggregate_duplicates": self.aggregate_duplicates,
            "aggregate_updated": self.aggregate_updated,
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": dict(sorted(self.skipped.items())),
            "requests": self.requests,
            "complete": self.complete,
            "incomplete": [{"file": e.file, "reason": e.reason} for e in self.incomplete],
            "resume": None if self.complete else RESUME,
            "verdicts": self.verdicts,
            "analysis_errors": self.analysis_errors,
            "errors": [{"file": e.file, "line": e.line, "reason": e.reason} for e in self.errors],
            "errors_listed": len(self.errors),
        }


Progress = Callable[[IngestSummary], None]


@dataclass(frozen=True)
class Analysis:
    """Analyse while ingesting: each new measurement's verdict, by the current rules and ``fingerprints``
    (None: without fingerprints), is stored with it, stamped as ``analyze --db`` stamps its verdicts."""

    fingerprints: FingerprintDB | None

    @property
    def fingerprints_id(self) -> str:
        return self.fingerprints.id if self.fingerprints is not None else "none"


def verdict_row(record: Record, fingerprints: FingerprintDB | None) -> VerdictRow:
    """The verdict of one record, from what its reader decoded: the typed keys it decoded with the envelope
    in one pass (``read_sources(..., keys=True)``), else the envelope's raw ``test_keys``, decoded here."""
    env = record.envelope
    if record.keys is not None:
        verdict = analyze_decoded(env, record.keys, fingerprints)
    else:
        verdict = analyze(env, env.test_keys, fingerprints)
    return VerdictRow.of(record.uid, domain_of(first_input(env)), verdict)


def local_size(sources: Sequence[str], filters: Filters) -> int | None:
    """Total bytes of the local files that will be read (for a progress bar); None with an archive URL."""
    total = 0
    for spec in sources:
        if is_archive_url(spec):
            return None
        path = Path(spec)
        try:
            if path.is_dir():
                total += sum(p.stat().st_size for p in measurement_files(path, filters))
            elif path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def ingest(
    store: Store,
    sources: Sequence[str],
    *,
    filters: Filters | None = None,
    fetcher: Fetcher | None = None,
    batch_size: int = BATCH_SIZE,
    batch_bytes: int = BATCH_BYTES,
    max_errors: int = MAX_ERRORS,
    max_line: int = MAX_LINE,
    progress: Progress | None = None,
    dimensions: Mapping[str, str] | None = None,
    analysis: Analysis | None = None,
) -> IngestSummary:
    """Read ``sources`` (files, folders, archive URLs, aggregation results) into ``store``; never raises on
    bad input.  ``dimensions`` complete aggregation rows (``--dimension``).  With ``analysis`` every
    measurement is analysed as it is read and its verdict stored in the same batch and transaction.

    One thread: a writer thread overlapping Parquet compression with decoding was measured and gave
    nothing on a loaded 2-core machine, so the simpler sequential loop stays.
    """
    filters = filters or Filters()
    summary = IngestSummary()
    requests_before = fetcher.requests if fetcher is not None else 0
    batch: list[Record] = []
    verdicts: list[VerdictRow] = []
    fingerprints = analysis.fingerprints if analysis is not None else None
    aggregates: list[AggregateRow] = []
    size = 0
    pending_bytes = 0

    def flush_aggregates() -> None:
        nonlocal aggregates
        if aggregates:
            result = store.add_aggregates(aggregates)
            summary.aggregate_rows += result.added
            summary.aggregate_duplicates += result.duplicates
            summary.aggregate_updated += result.updated
            aggregates = []

    def flush() -> None:
        nonlocal batch, verdicts, size
        if batch:
            analysed = None
            if analysis is not None:
                analysed = Analysed(
                    verdicts=verdicts,
                    analysis_version=ANALYSIS_VERSION,
                    fingerprints_id=analysis.fingerprints_id,
                )
            result = store.add_measurements(batch, analysed)
            summary.ingested += result.added
            summary.duplicates += result.duplicates
            summary.verdicts += result.verdicts
            batch, verdicts, size = [], [], 0
            release_arrow_memory()
        if progress:
            progress(summary)

    # With analysis the reader decodes envelope and typed keys in one pass; each record's keys are dropped
    # once it is analysed (``Record.bare``), so a batch holds what it did without analysis.
    items = read_sources(
        sources, filters, fetcher, max_line=max_line, dimensions=dimensions, keys=analysis is not None
    )
    with store.bounded():  # DuckDB's memory capped while streaming (docs/scaling.md, Memory)
        for item in items:
            if isinstance(item, AggregateRow):
                summary.lines += 1
                if filters.active and not accepts_aggregate(filters, item):
                    summary.filtered += 1
                    continue
                aggregates.append(item)
                if len(aggregates) >= AGGREGATE_BATCH:
                    flush_aggregates()
            elif isinstance(item, Record):
                summary.lines += 1
                if filters.active and not filters.accepts(item):
                    summary.filtered += 1
                    continue
                if analysis is not None:
                    row = verdict_row(item, fingerprints)
                    summary.analysis_errors += row.reason == Reason.ANALYSIS_ERROR.value
                    verdicts.append(row)
                record = item.bare()
                del item  # with its decoded keys: nothing but the bare record outlives the analysis
                batch.append(record)
                size += len(record.raw)
                if len(batch) >= batch_size or size >= batch_bytes:
                    flush()
            elif isinstance(item, Problem):
                summary.rejected += 1
                if item.line > 0:
                    summary.lines += 1
                if len(summary.errors) < max_errors:
                    summary.errors.append(item)
            elif isinstance(item, Opened):
                summary.files += 1
                summary.bytes_read += pending_bytes
                pending_bytes = item.size or 0
                if progress:
                    progress(summary)
            elif isinstance(item, Skipped | Incomplete):
                summary.note(item)
        summary.bytes_read += pending_bytes
        flush_aggregates()
        flush()
    if fetcher is not None:
        summary.requests = fetcher.requests - requests_before
    return summary


def accepts_aggregate(filters: Filters, row: AggregateRow) -> bool:
    """``--since``/``--until``/``--country``/``--test`` for an aggregation row: its period must lie
    inside the window (a row straddling an edge counts measurements outside it, so it is left out)."""
    if filters.since and row.start < filters.since:
        return False
    if filters.until and row.end > filters.until:
        return False
    if filters.countries and row.probe_cc not in filters.countries:
        return False
    return not (filters.tests and normalise_test(row.test_name) not in filters.tests)

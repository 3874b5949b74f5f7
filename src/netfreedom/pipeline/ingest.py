"""Ingest: read sources, filter, and write the good records to the store in bounded batches.

Memory is bounded by three batches (``batch_size`` measurements or ``batch_bytes`` of raw JSON, whichever
comes first: one being read, one queued, one being written) plus one line; the reader streams the rest.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netfreedom.fetch import Fetcher
from netfreedom.ingest import (
    MAX_LINE,
    Filters,
    Opened,
    Problem,
    Record,
    is_archive_url,
    measurement_files,
    read_sources,
)
from netfreedom.store import Store

BATCH_SIZE = 20_000
BATCH_BYTES = 32 * 1024 * 1024
MAX_ERRORS = 100


@dataclass
class IngestSummary:
    """Counts of one ingest run.  ``rejected`` counts every problem (bad lines and unreadable files);
    ``errors`` lists the first ``max_errors`` of them."""

    files: int = 0
    lines: int = 0
    ingested: int = 0
    duplicates: int = 0
    rejected: int = 0
    filtered: int = 0
    bytes_read: int = 0
    errors: list[Problem] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        """False when nothing at all could be read (the command then exits non-zero)."""
        return self.ingested + self.duplicates + self.filtered > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "lines": self.lines,
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "filtered": self.filtered,
            "errors": [{"file": e.file, "line": e.line, "reason": e.reason} for e in self.errors],
            "errors_listed": len(self.errors),
        }


Progress = Callable[[IngestSummary], None]


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


class _Writer:
    """Writes batches to the store in a background thread, so that Parquet compression and DuckDB
    (which release the GIL) overlap with reading and decoding the next batch.  At most one batch waits
    in the queue, which bounds memory to about three batches."""

    def __init__(self, store: Store, summary: IngestSummary) -> None:
        self.store = store
        self.summary = summary
        self.queue: queue.Queue[list[Record] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="netfreedom-ingest-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (batch := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain: the main thread stops soon and reports the error
            try:
                result = self.store.add_measurements(batch)
            except BaseException as exc:  # handed to the main thread, which re-raises it
                self.error = exc
                continue
            self.summary.ingested += result.added
            self.summary.duplicates += result.duplicates

    def put(self, batch: list[Record]) -> None:
        self.check()
        self.queue.put(batch)

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()


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
) -> IngestSummary:
    """Read ``sources`` (files, folders, archive URLs) into ``store``; never raises on bad input."""
    filters = filters or Filters()
    summary = IngestSummary()
    batch: list[Record] = []
    size = 0
    pending_bytes = 0
    writer = _Writer(store, summary)
    try:
        for item in read_sources(sources, filters, fetcher, max_line=max_line):
            if isinstance(item, Record):
                summary.lines += 1
                if filters.active and not filters.accepts(item):
                    summary.filtered += 1
                    continue
                batch.append(item)
                size += len(item.raw)
                if len(batch) >= batch_size or size >= batch_bytes:
                    writer.put(batch)
                    batch, size = [], 0
                    if progress:
                        progress(summary)
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
        summary.bytes_read += pending_bytes
        if batch:
            writer.put(batch)
    finally:
        writer.close()
    writer.check()
    if progress:
        progress(summary)
    return summary

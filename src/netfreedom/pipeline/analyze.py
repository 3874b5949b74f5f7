"""Analyse measurements: files into a JSON-lines verdict file, or every unanalysed measurement of a store.

Both stream: memory is bounded by one batch.  Store mode is idempotent — it analyses only measurements
without a verdict, and first drops every stored verdict made by another ``ANALYSIS_VERSION`` or another
fingerprint set (``FingerprintDB.id``), so changed rules or fingerprints re-analyse everything.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from netfreedom.analysis import ANALYSIS_VERSION, FingerprintDB, analyze, analyze_line
from netfreedom.errors import InputError
from netfreedom.fetch import Fetcher
from netfreedom.ingest import MAX_LINE, Opened, Problem, Record, read_sources
from netfreedom.models.measurement import first_input
from netfreedom.models.verdict import Outcome, Reason, Verdict
from netfreedom.pipeline.scale.cluster import EngineOptions
from netfreedom.store import Store, StoredMeasurement, VerdictRow

__all__ = [
    "BATCH_SIZE",
    "AnalyzeSummary",
    "analyze_batch",
    "analyze_files",
    "analyze_store",
    "analyze_table",
    "domain_of",
    "release_arrow_memory",
    "verdict_record",
]

BATCH_SIZE = 500  # a web_connectivity measurement is ~100 KB of raw JSON: ~50 MB per batch
MAX_ERRORS = 100
_UNREADABLE = Verdict(outcome=Outcome.INCONCLUSIVE, reason=Reason.NO_DATA, confidence=0.0)


@dataclass
class AnalyzeSummary:
    """Counts of one run.  ``analysis_errors`` counts verdicts where an analyzer raised (bugs to fix);
    ``reset`` counts stored verdicts dropped because the rules or fingerprints changed."""

    analysis_version: int = ANALYSIS_VERSION
    fingerprints_id: str = ""
    files: int = 0
    lines: int = 0
    analysed: int = 0
    stored: int = 0
    rejected: int = 0
    reset: int = 0
    analysis_errors: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[Problem] = field(default_factory=list)
    fingerprint_problems: tuple[str, ...] = ()

    def count(self, verdict: Verdict) -> None:
        self.analysed += 1
        self.outcomes[verdict.outcome.value] += 1
        if verdict.reason is Reason.ANALYSIS_ERROR:
            self.analysis_errors += 1

    @property
    def readable(self) -> bool:
        """False when the sources held no measurement at all — empty files or folders, or only bad lines
        (each reported): ``analyze FILE`` then exits 1, as ``ingest`` does."""
        return self.analysed > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "analysis_version": self.analysis_version,
            "fingerprints_id": self.fingerprints_id,
            "files": self.files,
            "lines": self.lines,
            "analysed": self.analysed,
            "stored": self.stored,
            "rejected": self.rejected,
            "reset": self.reset,
            "analysis_errors": self.analysis_errors,
            "outcomes": dict(sorted(self.outcomes.items())),
            "errors": [{"file": e.file, "line": e.line, "reason": e.reason} for e in self.errors],
            "fingerprint_problems": list(self.fingerprint_problems),
        }


Progress = Callable[[AnalyzeSummary], None]


def domain_of(url: str | None) -> str | None:
    """The host of a URL input (what evidence groups by), None for other inputs."""
    if not url or "://" not in url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def verdict_record(record: Record, verdict: Verdict) -> dict[str, Any]:
    """The JSON verdict record of one measurement (the ``analyze --output`` format)."""
    env = record.envelope
    return {
        "measurement_uid": record.uid,
        "report_id": env.report_id,
        "input": first_input(env),
        "test_name": env.test_name,
        "test_version": env.test_version,
        "probe_cc": env.probe_cc,
        "probe_asn": env.probe_asn,
        # isoformat, not strftime: year 1 must print as 0001 (glibc's %Y gives "1").
        "measurement_start_time": record.time.astimezone(dt.UTC).isoformat(sep=" ", timespec="seconds")[:19],
        "blocking": verdict.blocking,
        "accessible": verdict.accessible,
        "outcome": verdict.outcome.value,
        "layer": verdict.layer.value if verdict.layer is not None else None,
        "reason": verdict.reason.value,
        "confidence": verdict.confidence,
        "confirmed": verdict.confirmed,
        "fingerprint": verdict.fingerprint,
        "source": {"file": record.file, "line": record.line},
    }


def _open_output(output: Path | None) -> tuple[IO[bytes], Path | None]:
    if output is None:
        return os.fdopen(os.dup(1), "wb"), None
    # Refused before any work: a folder or an unwritable place would otherwise fail only at the rename.
    if output.is_dir():
        raise InputError("is a folder; --output needs a file name", file=str(output))
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    except OSError as exc:
        raise InputError(f"cannot write the verdicts: {exc.strerror or exc}", file=str(output)) from exc
    return os.fdopen(fd, "wb"), Path(tmp)


def analyze_files(
    sources: Sequence[str],
    output: Path | None,
    fingerprints: FingerprintDB | None,
    *,
    fetcher: Fetcher | None = None,
    max_errors: int = MAX_ERRORS,
    max_line: int = MAX_LINE,
    progress: Progress | None = None,
) -> AnalyzeSummary:
    """Analyse measurement files (no store) into ``output`` (None: standard output), one JSON verdict
    record per measurement in input order.  Bad lines are counted and listed, never fatal.  The output
    file appears whole or not at all (written aside, then renamed)."""
    summary = AnalyzeSummary(
        fingerprints_id=fingerprints.id if fingerprints else "",
        fingerprint_problems=fingerprints.problems if fingerprints else (),
    )
    out, tmp = _open_output(output)
    try:
        for item in read_sources(sources, None, fetcher, max_line=max_line):
            if isinstance(item, Record):
                summary.lines += 1
                verdict = analyze(item.envelope, item.envelope.test_keys, fingerprints)
                summary.count(verdict)
                out.write(orjson.dumps(verdict_record(item, verdict)) + b"\n")
                if progress and summary.analysed % 1000 == 0:
                    progress(summary)
            elif isinstance(item, Problem):
                summary.rejected += 1
                summary.lines += item.line > 0
                if len(summary.errors) < max_errors:
                    summary.errors.append(item)
            elif isinstance(item, Opened):
                summary.files += 1
        out.close()
        if tmp is not None and output is not None:
            os.replace(tmp, output)
    except BaseException:
        out.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    return summary


def analyze_batch(batch: Sequence[StoredMeasurement], fingerprints: FingerprintDB | None) -> list[VerdictRow]:
    """Verdict rows for a batch of stored measurements (pure; picklable with ``functools.partial``, so the
    Dask engine ships it to its workers)."""
    rows: list[VerdictRow] = []
    for stored in batch:
        # None: ingest validated the line, but a damaged store row still gets a verdict.
        verdict = analyze_line(stored.raw, fingerprints) or _UNREADABLE
        rows.append(VerdictRow.of(stored.measurement_uid, domain_of(stored.input), verdict))
    return rows


def analyze_table(table: pa.Table, fingerprints: FingerprintDB | None) -> list[VerdictRow]:
    """Verdict rows for a table of stored measurements (``Store.iter_unanalysed``): only the identity,
    input and raw columns are turned into Python values, the raw JSON decoded once (``analyze_line``)."""
    uids = table.column("measurement_uid").to_pylist()
    inputs = table.column("input").to_pylist()
    raws = table.column("raw").to_pylist()
    return [
        VerdictRow.of(uid, domain_of(given), analyze_line(raw, fingerprints) or _UNREADABLE)
        for uid, given, raw in zip(uids, inputs, raws, strict=True)
    ]


def release_arrow_memory() -> None:
    """Give the memory Arrow freed back to the system.  Arrow's allocator (mimalloc) otherwise keeps the
    pages of every freed batch, and the process's resident size creeps up batch after batch (bench/memory.py:
    ~100 MiB over a 500 MB re-analysis).  Costs microseconds."""
    pa.default_memory_pool().release_unused()


def _stale_verdicts(store: Store, fingerprints_id: str) -> int:
    table = store.query(
        "SELECT count(*) AS n FROM verdicts WHERE analysis_version IS DISTINCT FROM $1 "
        "OR fingerprints_id IS DISTINCT FROM $2",
        [ANALYSIS_VERSION, fingerprints_id],
    )
    return int(table.column("n")[0].as_py())


def analyze_store(
    store: Store,
    fingerprints: FingerprintDB | None,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    cluster: EngineOptions | None = None,
) -> AnalyzeSummary:
    """Give every stored measurement a verdict by the current rules and fingerprints — in this process,
    or on a Dask cluster (``cluster``) running the same :func:`analyze_batch` over the store's Parquet."""
    fingerprints_id = fingerprints.id if fingerprints else "none"
    summary = AnalyzeSummary(
        analysis_version=ANALYSIS_VERSION,
        fingerprints_id=fingerprints_id,
        fingerprint_problems=fingerprints.problems if fingerprints else (),
    )
    stale = _stale_verdicts(store, fingerprints_id)
    if stale:
        store.reset_verdicts()
        summary.reset = stale
    if cluster is not None:
        with store.bounded():
            return _on_cluster(store, fingerprints, summary, cluster)
    with store.bounded():  # DuckDB's memory capped while streaming (docs/scaling.md, Memory)
        for table in store.iter_unanalysed(batch_size=batch_size):
            rows = analyze_table(table, fingerprints)
            for row in rows:
                summary.outcomes[row.outcome] += 1
                summary.analysis_errors += row.reason == Reason.ANALYSIS_ERROR.value
            summary.analysed += len(rows)
            summary.stored += store.add_verdicts(
                rows, analysis_version=ANALYSIS_VERSION, fingerprints_id=fingerprints_id, envelopes=table
            )
            del table, rows
            release_arrow_memory()
            if progress:
                progress(summary)
    return summary


def _on_cluster(
    store: Store, fingerprints: FingerprintDB | None, summary: AnalyzeSummary, cluster: EngineOptions
) -> AnalyzeSummary:
    from netfreedom.pipeline.scale.analyze import analyze_on_cluster

    def count(rows: pa.Table) -> None:
        for item in pc.value_counts(rows.column("outcome")).to_pylist():
            summary.outcomes[item["values"]] += item["counts"]
        errors = pc.sum(pc.equal(rows.column("reason"), Reason.ANALYSIS_ERROR.value)).as_py()
        summary.analysis_errors += errors or 0

    run = analyze_on_cluster(
        store,
        partial(analyze_batch, fingerprints=fingerprints),
        analysis_version=summary.analysis_version,
        fingerprints_id=summary.fingerprints_id,
        options=cluster,
        observe=count,
    )
    summary.analysed, summary.stored = run.measurements, run.verdicts
    return summary

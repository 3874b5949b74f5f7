"""The store's interface and the values that cross it.

``Store`` is a protocol: ``DuckDBStore`` (one DuckDB file plus Parquet partitions) implements it, and a
scale-out engine can implement it over the same Parquet.  Everything here is a plain value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import msgspec

from netfreedom.ingest import Record
from netfreedom.models.aggregation import AggregateRow
from netfreedom.models.event import Event, EventFilters
from netfreedom.models.verdict import Verdict

if TYPE_CHECKING:
    import pyarrow as pa

    from netfreedom.store.staged import Staged


class BatchResult(msgspec.Struct, frozen=True):
    added: int
    duplicates: int
    updated: int = 0  # aggregation cells whose counts were replaced by newer ones
    verdicts: int = 0  # verdicts stored with the measurements (``add_measurements(..., analysed)``)


class StoredMeasurement(msgspec.Struct, frozen=True, kw_only=True):
    """One stored measurement as analysis reads it: identity, raw JSON bytes, envelope columns, source."""

    measurement_uid: str
    raw: bytes
    measurement_start_time: dt.datetime
    test_name: str
    probe_cc: str
    probe_asn: str | None = None
    probe_network_name: str | None = None
    test_version: str | None = None
    software_name: str | None = None
    software_version: str | None = None
    input: str | None = None
    report_id: str | None = None
    source_file: str | None = None
    source_line: int | None = None
    bucket_date: dt.date | None = None
    content_key: str | None = None


class VerdictRow(msgspec.Struct, frozen=True, kw_only=True):
    """A verdict to store.  The envelope columns are joined in by the store from its catalogue."""

    measurement_uid: str
    domain: str | None
    outcome: str
    reason: str
    confidence: float
    layer: str | None = None
    confirmed: bool = False
    fingerprint: str | None = None
    blocking: str | None = None  # the probe's value as text: "false", "dns", "tcp_ip", ... or None
    accessible: bool | None = None

    @classmethod
    def of(cls, measurement_uid: str, domain: str | None, verdict: Verdict) -> VerdictRow:
        blocking = verdict.blocking
        return cls(
            measurement_uid=measurement_uid,
            domain=domain,
            outcome=verdict.outcome.value,
            reason=verdict.reason.value,
            confidence=verdict.confidence,
            layer=verdict.layer.value if verdict.layer is not None else None,
            confirmed=verdict.confirmed,
            fingerprint=verdict.fingerprint,
            blocking=None if blocking is None else str(blocking).lower(),
            accessible=verdict.accessible,
        )


class Analysed(msgspec.Struct, frozen=True, kw_only=True):
    """Verdicts made while ingesting: ``verdicts[i]`` is the verdict of the batch's ``records[i]``, made by
    rules ``analysis_version`` with fingerprints ``fingerprints_id`` (as ``add_verdicts`` stamps them)."""

    verdicts: Sequence[VerdictRow]
    analysis_version: int
    fingerprints_id: str


class Count(msgspec.Struct, frozen=True):
    key: str
    measurements: int


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    measurements: int
    verdicts: int
    parquet_files: int
    first: dt.datetime | None
    last: dt.datetime | None
    by_test_name: list[Count]
    by_probe_cc: list[Count]
    by_month: list[Count]
    # OONI aggregation rows (``aggregates``): rows, the sum of their measurement_count, sources, and the
    # rows that raw verdicts of the same country, test and day take precedence over.
    aggregate_rows: int = 0
    aggregate_measurements: int = 0
    aggregate_sources: int = 0
    aggregate_shadowed_rows: int = 0
    aggregate_by_probe_cc: list[Count] = msgspec.field(default_factory=list)


class Store(Protocol):
    """A measurement store.  One writer at a time; readers get consistent snapshots."""

    @property
    def path(self) -> Path: ...
    @property
    def parquet_root(self) -> Path: ...

    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def bounded(self) -> AbstractContextManager[None]:
        """Memory capped for a streaming loop (ingest, re-analysis); queries run uncapped."""
        ...

    def add_measurements(self, records: Sequence[Record], analysed: Analysed | None = None) -> BatchResult:
        """Store new measurements (by ``Record.uid``) atomically; known ones are counted as duplicates.
        With ``analysed``, the new measurements' verdicts are stored in the same batch and transaction
        (``BatchResult.verdicts``): a crash leaves both or neither."""
        ...

    def iter_measurements(
        self,
        *,
        batch_size: int = 500,
        without_verdicts: bool = False,
        test_names: Sequence[str] = (),
    ) -> Iterator[list[StoredMeasurement]]:
        """Stream stored measurements in batches (bounded memory)."""
        ...

    def iter_unanalysed(
        self, *, batch_size: int = 500, batch_bytes: int = 32 * 1024 * 1024
    ) -> Iterator[pa.Table]:
        """The measurements without a verdict, as Arrow tables of ``staged.ANALYSIS_COLUMNS`` only, of at
        most ``batch_size`` rows and about ``batch_bytes``; memory does not grow with the store."""
        ...

    def count_measurements(self) -> int: ...

    def add_aggregates(self, rows: Sequence[AggregateRow]) -> BatchResult:
        """Store OONI aggregation rows (``BatchResult.updated``: cells whose counts changed)."""
        ...

    def add_verdicts(
        self,
        rows: Sequence[VerdictRow],
        *,
        analysis_version: int,
        fingerprints_id: str,
        envelopes: pa.Table | None = None,
    ) -> int:
        """Store verdicts for measurements that have none yet; returns how many were added.  ``envelopes``
        (a table from ``iter_unanalysed`` holding the rows' measurements) saves the join with the
        catalogue; without it, verdicts for measurements the catalogue does not hold are dropped."""
        ...

    def add_verdict_files(self, staged: Staged) -> int:
        """Register verdict files written elsewhere (``store.staged``); returns how many verdicts were
        added."""
        ...

    def add_measurement_files(self, staged: Staged, verdicts: Staged | None = None) -> BatchResult:
        """Register measurement files written elsewhere (``store.staged.stage_measurements``); the store's
        measurements are kept (first seen wins) and the staged copies counted as duplicates.  With
        ``verdicts`` (``store.staged.stage_analysed``), the added measurements' verdicts are registered in
        the same transaction (``BatchResult.verdicts``) and the others' dropped."""
        ...

    def reset_verdicts(self) -> None:
        """Drop every verdict (table and Parquet), e.g. before re-analysing with new rules."""
        ...

    def stats(self) -> Stats: ...

    def query(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        """Run one read-only SQL statement (SELECT, SHOW, DESCRIBE, ...) and return an Arrow table."""
        ...

    def write_table(self, name: str, table: pa.Table) -> None:
        """Create or replace an auxiliary table (e.g. ``testlists``); core tables are refused."""
        ...

    def put_events(self, events: Sequence[Event]) -> None:
        """Store events (curated or detected), replacing stored events with the same id."""
        ...

    def replace_detected_events(
        self, events: Sequence[Event], *, since: dt.date | None, until: dt.date | None
    ) -> int:
        """Replace the detected events starting in since..until; returns how many were dropped."""
        ...

    def events(self, filters: EventFilters | None = None) -> list[Event]:
        """Events matching ``filters`` (``store.events.select_events``)."""
        ...

    def parquet_glob(self, kind: str) -> str:
        """A glob matching the Parquet files of ``kind`` ("measurements" or "verdicts")."""
        ...

    def check(self) -> list[str]:
        """Consistency problems between the catalogue and the Parquet files (empty when consistent)."""
        ...

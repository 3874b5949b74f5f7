"""Import curated event lists into the store: read (``events.readers``), de-duplicate across sheets and
against the events already stored (``events.dedupe``), write the new ones (``Store.put_events``).

Re-importing a list adds nothing: every row is then either an identical event already stored (same id) or
a repetition the de-duplication rule recognises.  A later edition that gives an end date to a stored event
without one updates it (counted in ``updated``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netfreedom.errors import FetchError, InputError, MissingExtraError
from netfreedom.events import RowNote, RowProblem, read_event_file
from netfreedom.events.dedupe import Deduper
from netfreedom.events.detect import (
    FAILURE_SPIKE,
    VOLUME_DROP,
    Day,
    DetectorConfig,
    Series,
    baseline_on,
    detect_all,
)
from netfreedom.events.evaluate import score
from netfreedom.fetch import Fetcher
from netfreedom.models.event import Event, EventFilters, EventKind
from netfreedom.store import Store

MAX_ERRORS = 100


@dataclass
class SheetCount:
    file: str
    sheet: str | None
    header_line: int | None
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sheet": self.sheet,
            "header_line": self.header_line,
            "rows": self.rows,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


@dataclass
class EventImportSummary:
    """Counts of one import.  ``rows`` are non-empty data rows; each is ``imported`` (a new event),
    a ``duplicate`` (an event already stored or read), or ``rejected`` (listed in ``errors``; a sheet
    without a usable header rejects all its rows with one error at line 0, an unreadable file counts 1).
    ``updated`` counts stored events given an end date; ``notes`` are kept rows with a caveat."""

    files: int = 0
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: int = 0
    sheets: list[SheetCount] = field(default_factory=list)
    errors: list[RowProblem] = field(default_factory=list)
    notes: list[RowNote] = field(default_factory=list)
    max_errors: int = MAX_ERRORS

    @property
    def readable(self) -> bool:
        return self.imported + self.duplicates > 0

    def to_json(self) -> dict[str, Any]:
        def item(p: RowProblem | RowNote) -> dict[str, Any]:
            return {"file": p.file, "sheet": p.sheet, "line": p.line, "reason": p.reason}

        return {
            "files": self.files,
            "rows": self.rows,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "updated": self.updated,
            "rejected": self.rejected,
            "sheets": [s.to_json() for s in self.sheets],
            "errors": [item(e) for e in self.errors],
            "errors_listed": len(self.errors),
            "notes": [item(n) for n in self.notes[: self.max_errors]],
        }

    def _error(self, p: RowProblem) -> None:
        if len(self.errors) < self.max_errors:
            self.errors.append(p)


def _is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def import_events(
    store: Store,
    specs: Sequence[str],
    *,
    source: str | None = None,
    mapping: Mapping[str, str] | None = None,
    fetcher: Fetcher | None = None,
    max_errors: int = MAX_ERRORS,
) -> EventImportSummary:
    """Import the event lists ``specs`` (paths or http(s) URLs) into ``store``."""
    summary = EventImportSummary(max_errors=max_errors)
    dedupe = Deduper(store.events(EventFilters(detected=False)))
    new: dict[str, Event] = {}
    changed: dict[str, Event] = {}
    for spec in specs:
        summary.files += 1
        try:
            if _is_url(spec):
                if fetcher is None:
                    raise InputError("URLs need a fetcher", file=spec)
                path = fetcher.fetch(spec)
            else:
                path = Path(spec)
                if not path.is_file():
                    raise InputError("no such file", file=spec)
            sheets = read_event_file(path, source=source, mapping=mapping, label=spec)
        except (InputError, FetchError, MissingExtraError) as exc:
            # A workbook without openpyxl installed is one file not read; the CSVs are still imported.
            summary.rejected += 1
            summary._error(RowProblem(spec, None, 0, getattr(exc, "reason", None) or str(exc)))
            continue
        for sheet in sheets:
            count = SheetCount(sheet.file, sheet.name, sheet.header_line, rows=sheet.rows)
            summary.sheets.append(count)
            summary.rows += sheet.rows
            for item in sheet.items:
                if isinstance(item, RowNote):
                    summary.notes.append(item)
                elif isinstance(item, RowProblem):
                    n = sheet.rows if item.line == 0 else 1
                    count.rejected += n
                    summary.rejected += n
                    summary._error(item)
                else:
                    kept, updated = dedupe.add(item, sheet.key)
                    if kept is None:
                        new[item.id] = item
                        count.imported += 1
                        summary.imported += 1
                        continue
                    count.duplicates += 1
                    summary.duplicates += 1
                    if updated:
                        if kept.id in new:
                            new[kept.id] = kept
                        else:
                            changed[kept.id] = kept
    summary.updated = len(changed)
    store.put_events([*new.values(), *changed.values()])
    return summary


# -- detection ---------------------------------------------------------------------------------------------

# Tests whose verdicts can show a failure the control did not see (the failure-spike signal).
SPIKE_TESTS = ("web_connectivity", "whatsapp", "telegram", "signal", "facebook_messenger")
_CC = "probe_cc SIMILAR TO '[A-Z]{2}' AND probe_cc <> 'ZZ'"


@dataclass
class DetectSummary:
    """What ``events detect`` did: the series it read (per source), the events it stored (replacing the
    detected events of the period), and how they compare with the curated events of the store."""

    series: int = 0
    countries: int = 0
    networks: int = 0
    days: int = 0
    sources: dict[str, int] = field(default_factory=dict)  # country-days read from raw / aggregates
    detected: int = 0
    replaced: int = 0
    by_signal: dict[str, int] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from netfreedom.models.event import event_record

        return {
            "series": self.series,
            "countries": self.countries,
            "networks": self.networks,
            "days": self.days,
            "sources": self.sources,
            "detected": self.detected,
            "replaced": self.replaced,
            "by_signal": self.by_signal,
            "evaluation": self.evaluation,
            "events": [event_record(e) for e in self.events],
        }


def _where_days(column: str, since: dt.date | None, until: dt.date | None) -> tuple[str, list[Any]]:
    parts, params = [], []
    if since is not None:
        parts.append(f"CAST({column} AS DATE) >= ?")
        params.append(since)
    if until is not None:
        parts.append(f"CAST({column} AS DATE) <= ?")
        params.append(until)
    return (" AND ".join(parts) or "TRUE"), params


def _raw_counts(store: Store, by_asn: bool, since: dt.date | None, until: dt.date | None) -> dict[Any, Day]:
    """(cc, asn | None, day) → counts from the raw measurements and their verdicts."""
    asn = "coalesce(probe_asn, '')" if by_asn else "NULL"
    where, params = _where_days("measurement_start_time", since, until)
    out: dict[Any, Day] = {}
    volume = store.query(
        f"SELECT probe_cc, {asn} AS asn, CAST(measurement_start_time AS DATE) AS day, count(*) AS n "
        f"FROM measurements WHERE {_CC} AND {where} GROUP BY ALL",
        params,
    ).to_pylist()
    for r in volume:
        out[(r["probe_cc"], r["asn"], r["day"])] = Day(measurements=int(r["n"]))
    tests = ", ".join(f"'{t}'" for t in SPIKE_TESTS)
    failures = store.query(
        f"SELECT probe_cc, {asn} AS asn, CAST(measurement_start_time AS DATE) AS day, "
        "count(*) FILTER (WHERE outcome IN ('ok', 'blocked')) AS tested, "
        "count(*) FILTER (WHERE outcome = 'blocked') AS blocked "
        f"FROM verdicts WHERE {_CC} AND test_name IN ({tests}) AND {where} GROUP BY ALL",
        params,
    ).to_pylist()
    for r in failures:
        key = (r["probe_cc"], r["asn"], r["day"])
        n = out.get(key, Day()).measurements
        out[key] = Day(measurements=n, tested=int(r["tested"]), blocked=int(r["blocked"]))
    return out


def _has_table(store: Store, name: str) -> bool:
    found = store.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ?", [name])
    return bool(found.column("n")[0].as_py())


def _aggregate_counts(
    store: Store, since: dt.date | None, until: dt.date | None, *, by_asn: bool = False
) -> dict[Any, Day]:
    """(cc, asn | None, day) → counts from OONI's aggregates of daily (or hourly) grain, in the layer a
    consumer reads (``models.aggregation.layer_sql``: per country and test, the most complete set of rows;
    summing a layer gives the country's totals; ``by_asn``: the layers with the network bound, keyed
    ``AS<n>`` like raw measurements); tested = measurements − failures, blocked = anomalies.  Raw
    measurements are not used to shadow rows here: ``daily_series`` does it by span."""
    from netfreedom.models.aggregation import layer_sql

    if not _has_table(store, "aggregates"):
        return {}
    where, params = _where_days("period_start", since, until)
    tests = ", ".join(f"'{t}'" for t in SPIKE_TESTS)
    picked = layer_sql(("probe_asn",) if by_asn else (), where=f"grain IN ('day', 'hour') AND {where}")
    asn = "'AS' || CAST(probe_asn AS VARCHAR)" if by_asn else "NULL"
    rows = store.query(
        f"WITH picked AS ({picked}) "
        f"SELECT probe_cc, {asn} AS asn, CAST(period_start AS DATE) AS day, sum(measurement_count) AS n, "
        f"sum(CASE WHEN test_name IN ({tests}) THEN measurement_count - failure_count ELSE 0 END) AS tested, "
        f"sum(CASE WHEN test_name IN ({tests}) THEN anomaly_count ELSE 0 END) AS blocked "
        f"FROM picked WHERE {_CC} GROUP BY ALL",
        params,
    ).to_pylist()
    return {
        (r["probe_cc"], r["asn"], r["day"]): Day(int(r["n"]), max(0, int(r["tested"])), int(r["blocked"]))
        for r in rows
    }


def _raw_wins(raw: dict[Any, Day], agg: dict[Any, Day]) -> dict[Any, Day]:
    """The aggregate rows outside the span of days the raw measurements cover for the same key (country,
    or country and network) — not day by day: a shutdown day has no raw measurement, and the aggregates
    must not fill it in."""
    span: dict[tuple[str, str | None], tuple[dt.date, dt.date]] = {}
    for cc, asn, d in raw:
        lo, hi = span.get((cc, asn), (d, d))
        span[cc, asn] = (min(lo, d), max(hi, d))
    out = {}
    for (cc, asn, d), day in agg.items():
        covered = span.get((cc, asn))
        if covered is None or not covered[0] <= d <= covered[1]:
            out[cc, asn, d] = day
    return out


def daily_series(
    store: Store,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    networks: bool = True,
    config: DetectorConfig | None = None,
) -> tuple[list[Series], dict[str, int]]:
    """Per-country (and, where volume allows, per-network) daily series from the raw measurements and the
    daily aggregates (per network: the aggregate layers with the network bound): from a country's (or
    network's) first to its last day of raw measurements the raw counts are used, on other days OONI's
    aggregates (raw wins; a shutdown day inside the raw span stays empty).  Each
    series runs from its first day to the last day of any series (a country falling silent at the end is
    a drop).  Data from ``window`` days before ``since`` is read for the baseline."""
    config = config or DetectorConfig()
    read_since = since - dt.timedelta(days=config.window) if since else None
    raw = _raw_counts(store, False, read_since, until)
    merged = _raw_wins(raw, _aggregate_counts(store, read_since, until))
    sources = {"raw": len(raw), "aggregates": len(merged)}
    merged.update(raw)
    if networks:
        raw_networks = _raw_counts(store, True, read_since, until)
        per_network = _raw_wins(raw_networks, _aggregate_counts(store, read_since, until, by_asn=True))
        per_network.update(raw_networks)
        totals: dict[tuple[str, str], int] = {}
        for (cc, asn, _), day in per_network.items():
            totals[cc, asn] = totals.get((cc, asn), 0) + day.measurements
        # Only networks with enough volume for a baseline at all.
        enough = {k for k, n in totals.items() if k[1] and n >= config.min_baseline * config.min_history}
        merged.update({k: v for k, v in per_network.items() if (k[0], k[1]) in enough})
    grouped: dict[tuple[str, str | None], dict[dt.date, Day]] = {}
    for (cc, asn, day), counts in merged.items():
        grouped.setdefault((cc, asn), {})[day] = counts
    if not grouped:
        return [], sources
    last = max(max(days) for days in grouped.values())
    if until is not None:
        last = min(last, until)
    series = [
        Series(cc, min(days), last, days, asn=asn)
        for (cc, asn), days in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]
    return series, sources


def detect_events(
    store: Store,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    networks: bool = True,
    config: DetectorConfig | None = None,
    dry_run: bool = False,
) -> DetectSummary:
    """Detect events in the store's series, store them in place of the detected events starting in
    since..until (curated events are never touched), and compare them with the curated events."""
    config = config or DetectorConfig()
    series, sources = daily_series(store, since=since, until=until, networks=networks, config=config)
    found = [
        e
        for e in detect_all(series, config)
        if (since is None or e.start >= since) and (until is None or e.start <= until)
    ]
    summary = DetectSummary(
        series=len(series),
        countries=sum(1 for s in series if s.asn is None),
        networks=sum(1 for s in series if s.asn is not None),
        days=sum(len(s.days) for s in series),
        sources=sources,
        detected=len(found),
        events=found,
    )
    for e in found:
        summary.by_signal[e.signal or ""] = summary.by_signal.get(e.signal or "", 0) + 1
    if not dry_run:
        summary.replaced = store.replace_detected_events(found, since=since, until=until)
    curated = store.events(EventFilters(detected=False, since=since, until=until))
    summary.evaluation = evaluate_against(found, curated, series, config)
    return summary


def evaluate_against(
    detected: Sequence[Event], curated: Sequence[Event], series: Sequence[Series], config: DetectorConfig
) -> dict[str, Any]:
    """Precision of the country-level detected events against curated events, and recall of the curated
    events the series could show (a country series with a baseline of at least ``min_baseline`` on the
    event's start day), per signal and for national events."""
    by_cc = {s.iso2: s for s in series if s.asn is None}

    def evaluable(e: Event) -> bool:
        s = by_cc.get(e.iso2)
        base = baseline_on(s, e.start, config) if s else None
        return base is not None and base >= config.min_baseline

    national = [e for e in detected if e.asn is None]
    out: dict[str, Any] = {}
    for name, signal, kinds in (
        ("volume_drop", VOLUME_DROP, (EventKind.SHUTDOWN, EventKind.THROTTLING)),
        ("failure_spike", FAILURE_SPIKE, (EventKind.SERVICE_BLOCKING, EventKind.THROTTLING)),
    ):
        mine = [e for e in national if e.signal == signal]
        refs = [e for e in curated if e.kind in kinds]
        s = score(mine, refs, evaluable=evaluable)
        out[name] = {
            "detected": s.detected,
            "true_positives": s.true_positives,
            "precision": s.precision,
            "curated": len(refs),
            "curated_evaluable": s.reference,
            "found": s.found,
            "recall": s.recall,
        }
    return out

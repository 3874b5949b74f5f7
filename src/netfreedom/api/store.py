"""``netfreedom.open(path) -> Store``: the store as Arrow tables, for notebooks and for the CLI.

Every method takes the filters of ``api.filters`` (``since, until, probe_cc, probe_asn, test_name, domain,
category``, …) and returns a ``pyarrow.Table`` with the columns and types documented in docs/python.md and
pinned by tests/test_python_api.py (``SCHEMAS``).  The figures come from the one place that computes each:
``evidence.model.evidence`` (evidence), ``evidence.tables.read_index`` (index and flags),
``store.events`` (events), ``analysis.analyze_line`` (analyze).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec
import pyarrow as pa

from netfreedom.analysis import FingerprintDB, analyze_line
from netfreedom.api.filters import Filters, Many, When, many
from netfreedom.api.schemas import INDEX_COLUMNS, SCHEMAS
from netfreedom.errors import InputError
from netfreedom.evidence import model as evidence_model
from netfreedom.evidence.facts import has_table
from netfreedom.evidence.listing import Conditions, Selection, select_rows
from netfreedom.evidence.model import host_sql
from netfreedom.models.event import EventFilters, EventKind, event_record
from netfreedom.models.verdict import Verdict
from netfreedom.store import DuckDBStore, Stats, default_db_path, open_store
from netfreedom.store import aggregates as aggregate_table

__all__ = ["SCHEMAS", "Store", "analyze", "open"]


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return table.select(schema.names).cast(schema)


class Store:
    """A netfreedom store, read-only unless opened with ``write=True``.  Use it as a context manager (or
    call ``close()``).  ``store`` is the underlying ``netfreedom.store.DuckDBStore`` (ingest, analyze)."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store

    @property
    def path(self) -> Path:
        return self.store.path

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.store.read_only else "read-write"
        return f"<netfreedom.Store {str(self.path)!r} {mode}>"

    # -- reading ------------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        """One read-only SQL statement over the store's tables (docs/architecture.md), as Arrow."""
        return self.store.query(sql, params)

    def stats(self) -> Stats:
        """Counts of measurements and verdicts, first and last time, by test name, country and month."""
        return self.store.stats()

    def _rows(self, table: str, selection: Selection, limit: int | None) -> pa.Table:
        return _cast(select_rows(self.query, table, selection, limit=limit), SCHEMAS[table])

    def measurements(
        self,
        *,
        since: When = None,
        until: When = None,
        probe_cc: str | None = None,
        probe_asn: str | int | None = None,
        test_name: Many = None,
        domain: str | None = None,
        category: Many = None,
        input: str | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """Stored measurements (envelope columns, one row per measurement), oldest first.  ``category``
        needs verdicts (categories are assigned to analysed URLs)."""
        filters = Filters.of(since, until, probe_cc, probe_asn, test_name, domain, category, input)
        return self._rows("measurements", filters.selection(), limit)

    def verdicts(
        self,
        *,
        since: When = None,
        until: When = None,
        probe_cc: str | None = None,
        probe_asn: str | int | None = None,
        test_name: Many = None,
        domain: str | None = None,
        category: Many = None,
        input: str | None = None,
        outcome: str | None = None,
        confirmed: bool | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """One row per verdict (per analysed measurement), oldest first; ``outcome`` is ok, blocked, down
        or inconclusive; ``confirmed`` keeps verdicts confirmed by a blockpage (or not)."""
        filters = Filters.of(since, until, probe_cc, probe_asn, test_name, domain, category, input)
        flag = None if confirmed is None else bool(confirmed)
        return self._rows("verdicts", filters.selection(outcome=outcome, confirmed=flag), limit)

    def evidence(
        self,
        axis: str | list[str] = "country",
        period: str = "all",
        *,
        measure: str = "url_blocking",
        since: When = None,
        until: When = None,
        probe_cc: str | None = None,
        probe_asn: str | int | None = None,
        test_name: Many = None,
        domain: str | None = None,
        category: Many = None,
        url: str | None = None,
        kind: Many = None,
        level: float = 0.9,
        examples: int = 5,
    ) -> pa.Table:
        """The evidence model's figures of ``measure`` (``url_blocking``, ``test_blocking``,
        ``verdict_counts``, … — ``netfreedom.evidence.model.measures()``) cut by ``axis`` (country,
        network, domain, url, category, test, method, kind; a list for several) and ``period`` (all,
        year, quarter, month, week, day) over ``[since, until)``."""
        filters = Filters.of(since, until, probe_cc, probe_asn, test_name, domain, category)
        axes = [axis] if isinstance(axis, str) else list(axis)
        try:
            kinds = tuple(evidence_model.Kind(k) for k in many(kind))
        except ValueError as exc:
            known = ", ".join(k.value for k in evidence_model.Kind)
            raise InputError(f"unknown kind in {kind!r} (known: {known})") from exc
        flt = evidence_model.Filters(
            country=filters.probe_cc,
            network=filters.probe_asn,
            domain=filters.domain,
            url=url,
            categories=filters.category,
            tests=self._test_names(filters.test_name),
            kinds=kinds,
        )
        try:
            wanted = [evidence_model.Axis(a) for a in axes]
        except ValueError as exc:
            known = ", ".join(a.value for a in evidence_model.Axis)
            raise InputError(f"unknown axis in {axes!r} (known: {known})") from exc
        return evidence_model.evidence(
            self.query,
            measure,
            axes=wanted,
            window=filters.window(period),
            filters=flt,
            level=level,
            examples=examples,
        )

    def countries(self, *, since: When = None, until: When = None, level: float = 0.9) -> pa.Table:
        """One row per country measured in ``[since, until)``: coverage, site and test figures and the
        measured interference score — the table of ``netfreedom evidence countries`` and
        ``/api/v1/countries`` (``netfreedom.evidence.countries.country_summaries``).  ``score`` is null
        unless ``score_status`` is ``scored`` (docs/methodology.md, "Measured interference score")."""
        from netfreedom.evidence.countries import country_summaries

        return country_summaries(self.query, Filters.of(since, until).window(), level=level)

    def _test_names(self, normalised: tuple[str, ...]) -> tuple[str, ...]:
        """The stored test names a ``test_name`` filter means (it compares without case or underscores)."""
        if not normalised or not has_table(self.query, "verdicts"):
            return normalised
        marks = ", ".join("?" for _ in normalised)
        found = self.query(
            f"SELECT DISTINCT test_name FROM verdicts WHERE replace(lower(test_name), '_', '') IN ({marks}) "
            "ORDER BY 1",
            list(normalised),
        )
        return tuple(found.column(0).to_pylist()) or normalised

    def index(self, year: int) -> pa.Table:
        """The index of ``year`` as built by ``netfreedom index build``: one row per country, by rank."""
        from netfreedom.evidence.tables import read_index, result_row, stored_years

        result = read_index(self.query, year)
        if result is None:
            built = ", ".join(map(str, stored_years(self.query))) or "none"
            raise InputError(f"no index built for {year} (built: {built})", file=str(self.path))
        codes = [c.code for c in result.countries[0].categories] if result.countries else []
        head = [c for c in INDEX_COLUMNS if c[0] != "total"]
        at = [n for n, _ in head].index("country") + 1
        columns = [*head[:at], *((code, pa.float64()) for code in codes), ("total", pa.float64()), *head[at:]]
        records: list[dict[str, Any]] = []
        for c in result.countries:
            row = result_row(result, c) | {"flags": len(c.flags)}
            row.update({cat.code: cat.score for cat in c.categories})
            records.append(row)
        return pa.Table.from_pylist(records, schema=pa.schema(columns))

    def flags(self, year: int) -> pa.Table:
        """The review flags of ``year``'s index: one row per flag (``code`` the indicator or category, null
        for the country as a whole)."""
        from netfreedom.evidence.tables import read_index

        result = read_index(self.query, year)
        if result is None:
            return SCHEMAS["flags"].empty_table()
        records = [
            {"year": year, "iso2": c.iso2, "country": c.country, "code": f.code or None}
            | {"kind": f.kind.value, "message": f.message}
            for c in result.countries
            for f in c.flags
        ]
        return pa.Table.from_pylist(records, schema=SCHEMAS["flags"])

    def events(
        self,
        *,
        probe_cc: str | None = None,
        since: When = None,
        until: When = None,
        kind: str | None = None,
        source: str | None = None,
        detected: bool | None = None,
    ) -> pa.Table:
        """Curated and detected events (shutdowns, throttling, service blocking) overlapping the days
        ``[since, until]`` — as ``netfreedom events list`` and ``/api/v1/events`` select them."""
        filters = Filters.of(since, until, probe_cc)
        try:
            event_kind = EventKind(kind) if kind else None
        except ValueError as exc:
            raise InputError(f"unknown event kind {kind!r}") from exc
        window = filters.window()
        selected = self.store.events(
            EventFilters(
                country=filters.probe_cc,
                since=window.since if filters.since else None,
                until=window.until - dt.timedelta(days=1) if filters.until else None,
                kind=event_kind,
                source=source,
                detected=detected,
            )
        )
        names = SCHEMAS["events"].names
        records = [{n: v for n, v in event_record(e, dates=True).items() if n in names} for e in selected]
        return pa.Table.from_pylist(records, schema=SCHEMAS["events"])

    def aggregates(
        self,
        *,
        since: When = None,
        until: When = None,
        probe_cc: str | None = None,
        probe_asn: str | int | None = None,
        test_name: Many = None,
        domain: str | None = None,
        category: Many = None,
        input: str | None = None,
        layer: str | None = None,
        grain: str | None = None,
    ) -> pa.Table:
        """Stored aggregation rows (``netfreedom ingest`` of OONI's aggregation API output), one per cell,
        whose period overlaps ``[since, until)``.  ``layer`` is the set of dimensions a row is broken down
        by (``''``, ``probe_asn``, ``domain``, ``probe_asn,domain``, …): rows of different layers count the
        same measurements, so sum within one layer (the evidence measure ``aggregate_rates`` chooses them
        as the one rule says)."""
        filters = Filters.of(since, until, probe_cc, probe_asn, test_name, domain, category, input)
        where = Conditions()
        if filters.since:
            where.add("a.period_end > ?", filters.since)
        if filters.until:
            where.add("a.period_start < ?", filters.until)
        for column, value in (("probe_cc", filters.probe_cc), ("input", filters.input), ("layer", layer)):
            if value is not None:
                where.add(f"a.{column} = ?", value)
        if grain is not None:
            where.add("a.grain = ?", grain)
        if filters.probe_asn:
            where.add("a.probe_asn = ?", int(filters.probe_asn[2:]))
        if filters.test_name:
            tests = filters.test_name
            where.add(f"replace(lower(a.test_name), '_', '') IN ({where.marks(tests)})", *tests)
        if filters.domain:
            where.add(f"{host_sql('a.domain')} = {host_sql('CAST(? AS VARCHAR)')}", filters.domain)
        if filters.category:
            categories = filters.category
            where.add(f"upper(a.category_code) IN ({where.marks(categories)})", *categories)
        schema = SCHEMAS["aggregates"]
        if not has_table(self.query, aggregate_table.TABLE):
            return schema.empty_table()
        order = "a.probe_cc, a.test_name, a.layer, a.period_start, a.probe_asn, a.domain, a.input"
        sql = f"SELECT a.* FROM {aggregate_table.TABLE} a WHERE {where.sql()} ORDER BY {order}"
        rows = self.query(sql, where.params)
        return _cast(rows, schema)

    # -- analysing ----------------------------------------------------------------------------------

    def analyze(
        self, measurement: Mapping[str, Any] | bytes | str, fingerprints: FingerprintDB | None = None
    ) -> Verdict:
        """The verdict for one measurement in memory (same as :func:`netfreedom.analyze`)."""
        return analyze(measurement, fingerprints)


def analyze(
    measurement: Mapping[str, Any] | bytes | str, fingerprints: FingerprintDB | None = None
) -> Verdict:
    """The verdict for one OONI measurement (a dict, or its JSON text), with ``fingerprints`` when given
    (``netfreedom.analysis.fingerprint_sources.load_fingerprints``) — what ``netfreedom analyze`` gives it."""
    if isinstance(measurement, Mapping):
        line = msgspec.json.encode(measurement)
    elif isinstance(measurement, str):
        line = measurement.encode("utf-8", "surrogatepass")
    else:
        line = bytes(measurement)
    verdict = analyze_line(line, fingerprints)
    if verdict is None:
        raise InputError("not an OONI measurement (a JSON object with test_name and a start time)")
    return verdict


def open(path: str | Path | None = None, *, write: bool = False) -> Store:
    """Open the store at ``path`` (default ``$NETFREEDOM_DB`` or ``./netfreedom.duckdb``): read-only
    unless ``write`` (one writing process at a time).  A missing store is a ``StoreError`` (read-only) or
    is created (``write``)."""
    target = Path(path) if path is not None else default_db_path()
    return Store(open_store(target, read_only=not write))

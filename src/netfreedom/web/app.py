"""The read-only API: index, countries, aggregation, measurements and events, in JSON or CSV.

Every evidence figure comes from the one evidence model (``evidence.model``, ``evidence.countries``,
``evidence.listing``): the API counts nothing itself.

Every request gets its own DuckDB cursor on one read-only connection (cursors are safe across threads) and
a deadline: a query still running after ``query_timeout`` seconds is interrupted and answered with 503.
Page sizes are bounded.  Errors are JSON ``{"error": message}`` (the ``Error`` schema) — never a stack
trace — and every response, errors included, carries a Content-Security-Policy, so even a measured URL
rendered by a client cannot run script from here (``web.security``, which also answers ``HEAD``).  Days are
``YYYY-MM-DD`` in one supported range (``models.days``); anything else is a 422.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import pyarrow as pa
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from netfreedom import __version__
from netfreedom.api import filters as api_filters
from netfreedom.errors import InputError, StoreError
from netfreedom.evidence import facts, listing
from netfreedom.evidence.countries import COLUMNS as SUMMARY_COLUMNS
from netfreedom.evidence.countries import country_evidence, country_summaries
from netfreedom.evidence.listing import explorer_url
from netfreedom.evidence.model import Axis, Filters, Period, Window, evidence
from netfreedom.evidence.tables import edition_window, indicator_evidence
from netfreedom.models.days import DAY_PATTERN, FIRST_DAY, LAST_DAY, day_range
from netfreedom.models.event import OUTPUT_COLUMNS, EventFilters, EventKind, event_record
from netfreedom.report.model import load_flags, load_index, load_scores
from netfreedom.report.ooni import PATTERNS, OoniQuery, ooni_aggregation, ooni_csv, ooni_json
from netfreedom.report.site import evidence_countries
from netfreedom.report.tabular import to_csv
from netfreedom.store.events import select_events
from netfreedom.web.pages import landing_page, reference_page
from netfreedom.web.security import SecureResponses

# The columns /api/v1/measurements answers, in order: the listing's but the network's name.
MEASUREMENT_COLUMNS: Sequence[str] = tuple(c for c in listing.COLUMNS if c != "probe_network_name")
MAX_PAGE = 1000
MAX_OFFSET = 1_000_000
T = TypeVar("T")

Format = Literal["json", "csv"]
CC = Annotated[str, PathParam(pattern=r"^[A-Za-z]{2}$", description="ISO 3166 alpha-2 country code")]
_RANGE = f"YYYY-MM-DD, {FIRST_DAY}..{LAST_DAY}"
_DAY = {"format": "date"}
Since = Annotated[
    str | None,
    Query(pattern=DAY_PATTERN, json_schema_extra=_DAY, description=f"first day (UTC), inclusive; {_RANGE}"),
]
Until = Annotated[
    str | None,
    Query(
        pattern=DAY_PATTERN,
        json_schema_extra=_DAY,
        description=f"last day (UTC), inclusive; {_RANGE}; not before since (else 422)",
    ),
]


class Error(BaseModel):
    """Every error answer: a message for a person, never a stack trace."""

    error: str


_ERROR = {"model": Error, "description": "Error (JSON)"}
# Documented on every operation: what the API answers besides a 200.
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {**_ERROR, "description": "Not found"},
    422: {**_ERROR, "description": "Invalid parameters"},
    500: {**_ERROR, "description": "Internal error"},
    503: {**_ERROR, "description": "Busy, or the store cannot answer yet"},
}
# Operations with ``format=csv``: their 200 is JSON or CSV.
TABULAR: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV (format=csv)"}
}


def _days(since: str | None, until: str | None) -> tuple[dt.date | None, dt.date | None]:
    try:
        return day_range(since, until)
    except InputError as exc:
        raise HTTPException(422, exc.reason) from exc


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    @classmethod
    def of(cls, table: Any, names: Sequence[str] | None = None) -> Table:
        """From an Arrow table (columns renamed to ``names`` when given)."""
        cols = tuple(names or table.column_names)
        data = [c.to_pylist() for c in table.columns]
        return cls(cols, list(zip(*data, strict=True)) if data else [])


class AggAxis(StrEnum):
    """The axes ``/api/v1/aggregation`` speaks (its own names; each is a period or an evidence axis)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    DOMAIN = "domain"
    URL = "url"
    ASN = "asn"
    CATEGORY = "category"
    PROBE_CC = "probe_cc"
    TEST_NAME = "test_name"
    METHOD = "method"


_AGG_PERIODS: dict[AggAxis, Period] = {
    AggAxis.DAY: Period.DAY,
    AggAxis.WEEK: Period.WEEK,
    AggAxis.MONTH: Period.MONTH,
    AggAxis.QUARTER: Period.QUARTER,
    AggAxis.YEAR: Period.YEAR,
}
_AGG_AXES: dict[AggAxis, Axis] = {
    AggAxis.DOMAIN: Axis.DOMAIN,
    AggAxis.URL: Axis.URL,
    AggAxis.ASN: Axis.NETWORK,
    AggAxis.CATEGORY: Axis.CATEGORY,
    AggAxis.PROBE_CC: Axis.COUNTRY,
    AggAxis.TEST_NAME: Axis.TEST,
    AggAxis.METHOD: Axis.METHOD,
}
COUNTS = ("measurements", "ok", "blocked", "confirmed", "down", "inconclusive", "networks")


@dataclass(frozen=True)
class ApiFilters:
    """Which verdicts to count.  ``until`` is inclusive (a day)."""

    probe_cc: str | None = None
    probe_asn: str | None = None
    domain: str | None = None
    category: str | None = None
    test_name: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def model(self) -> Filters:
        return Filters(
            country=self.probe_cc,
            network=self.probe_asn,
            domain=self.domain,
            categories=(self.category,) if self.category else (),
            tests=(self.test_name,) if self.test_name else (),
        )

    def window(self, period: Period = Period.ALL) -> Window:
        return window_of(self.since, self.until, period)


def window_of(since: dt.date | None, until: dt.date | None, period: Period = Period.ALL) -> Window:
    """The model's window for an inclusive day range (either end open)."""
    default = Window()
    return Window(since or default.since, until + dt.timedelta(days=1) if until else default.until, period)


def _relabel(label: str, finer: Period, coarser: Period) -> str:
    """The label of the ``coarser`` period holding the first day of the ``finer`` period ``label``."""
    if finer is Period.WEEK:
        year, week = label.split("-W")
        day = dt.date.fromisocalendar(int(year), int(week), 1)
    elif finer is Period.QUARTER:
        year, quarter = label.split("-Q")
        day = dt.date(int(year), 3 * int(quarter) - 2, 1)
    else:
        day = dt.date.fromisoformat(label if finer is Period.DAY else f"{label}-01")
    if coarser is Period.YEAR:
        return f"{day.year}"
    if coarser is Period.QUARTER:
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if coarser is Period.MONTH:
        return day.strftime("%Y-%m")
    return day.strftime("%G-W%V")


class _Filters:
    """The filter query parameters shared by aggregation and measurements."""

    def __init__(
        self,
        *,
        probe_cc: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
        # At most 9 digits: every ASN fits the cube's INTEGER column (the schema says so, not a later 422).
        probe_asn: Annotated[str | None, Query(pattern=r"^(AS|as)?[0-9]{1,9}$")] = None,
        domain: Annotated[str | None, Query(max_length=253, pattern=r"^[A-Za-z0-9._:\[\]-]+$")] = None,
        category: Annotated[str | None, Query(pattern=r"^[A-Za-z_]{2,12}$")] = None,
        test_name: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = None,
        since: Since = None,
        until: Until = None,
    ) -> None:
        first, last = _days(since, until)
        self.value = ApiFilters(probe_cc, probe_asn, domain, category, test_name, first, last)


def _ooni(max_length: int, name: str, description: str | None = None) -> Any:
    """An OONI aggregation parameter: its form is ``report.ooni.PATTERNS``, which ``OoniQuery.parse`` checks
    after naming the bad item of a list (so the schema states it without FastAPI checking it first)."""
    form = {"pattern": PATTERNS[name]}
    return Query(max_length=max_length, description=description, json_schema_extra=form)


def _csv(table: Table) -> Response:
    return Response(to_csv(table.columns, table.rows), media_type="text/csv; charset=utf-8")


def _respond(table: Table, fmt: Format, **extra: Any) -> Response:
    if fmt == "csv":
        return _csv(table)
    return JSONResponse({**extra, "columns": list(table.columns), "results": table.records()})


def create_app(db: Path, *, site: Path | None = None, query_timeout: float = 10.0) -> FastAPI:
    """The API over the store at ``db`` (opened read-only); ``site`` is served at ``/`` when given."""
    import duckdb

    if not db.is_file():
        raise StoreError(f"no store at {db}")
    if site is not None and not (site / "index.html").is_file():
        raise InputError("no site here (write one with `netfreedom report --output DIR`)", file=str(site))
    try:
        root = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise StoreError(f"cannot open {db} read-only: {exc}") from exc
    root.execute("SET TimeZone = 'UTC'")

    app = FastAPI(
        title="netfreedom API",
        version=__version__,
        description="Read-only access to the index, country evidence, verdict aggregations and measurements. "
        "Every list endpoint answers JSON or, with `format=csv`, CSV.",
        docs_url=None,  # the interactive docs load scripts from a CDN: /docs is web.pages' plain reference
        redoc_url=None,
        responses=ERRORS,
    )
    app.add_middleware(SecureResponses)

    @contextmanager
    def cursor() -> Iterator[Any]:
        cur = root.cursor()
        timer = threading.Timer(query_timeout, cur.interrupt)
        timer.start()
        try:
            yield cur
        except duckdb.InterruptException as exc:
            raise HTTPException(
                503, f"query took longer than {query_timeout:g} s; narrow the filters"
            ) from exc
        except duckdb.Error as exc:
            raise HTTPException(500, "the store could not answer this query") from exc
        finally:
            timer.cancel()
            cur.close()

    def run(fn: Callable[[Any], T]) -> T:
        with cursor() as cur:
            return fn(cur)

    def need_facts(cur: Any) -> None:
        if facts.is_stale(cur):
            raise HTTPException(503, "the evidence tables are missing or stale: run `netfreedom build`")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # exc.headers: a 405's Allow (web.security adds HEAD to it).
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "path"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse({"error": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.get("/api/v1/index", summary="The ranking of one edition", responses=TABULAR)
    def index(
        year: Annotated[
            int | None, Query(ge=1900, le=2999, description="edition; default the latest")
        ] = None,
        format: Format = "json",
    ) -> Response:
        data = run(load_index)
        if not data.editions:
            raise HTTPException(404, "no index in this store")
        y = data.latest if year is None else year
        if y not in data.editions:
            raise HTTPException(404, f"no {year} edition (have {', '.join(map(str, sorted(data.editions)))})")
        rows = data.editions[y]
        codes = sorted({c for r in rows for c, _ in r.categories})
        cols = (
            "year",
            "iso2",
            "country",
            "rank",
            "rank_low",
            "rank_high",
            "total",
            "total_low",
            "total_high",
            "status",
            "change",
            "scale",
            *codes,
            "flags",
        )
        table = Table(
            cols,
            [
                (
                    r.year,
                    r.iso2,
                    r.country,
                    r.rank,
                    r.rank_low,
                    r.rank_high,
                    r.total,
                    r.total_low,
                    r.total_high,
                    r.status,
                    r.change,
                    r.scale,
                    *(dict(r.categories).get(c) for c in codes),
                    r.flags,
                )
                for r in rows
            ],
        )
        return _respond(table, format, year=y, editions=sorted(data.editions))

    def evidence_window(cur: Any, since: dt.date | None, until: dt.date | None) -> tuple[Window, str]:
        """The window asked for, else the latest edition's coverage period, else all time; and which."""
        if since or until:
            return window_of(since, until), "asked"
        found = edition_window(facts.query_of(cur))
        if found:
            return found[1], f"coverage period of the {found[0]} edition"
        return Window(), "all measurements"

    @app.get(
        "/api/v1/countries",
        summary="Countries with an index score or measurement evidence, with their evidence summary",
        responses=TABULAR,
    )
    def countries(since: Since = None, until: Until = None, format: Format = "json") -> Response:
        first, last = _days(since, until)

        def load(cur: Any) -> tuple[Table, Window, str]:
            need_facts(cur)
            query = facts.query_of(cur)
            data = load_index(cur)
            latest = {r.iso2: r for r in data.editions.get(data.latest, ())} if data.latest else {}
            window, why = evidence_window(cur, first, last)
            with_evidence = evidence_countries(query)
            summaries = (
                {r["iso2"]: r for r in country_summaries(query, window, countries=with_evidence).to_pylist()}
                if with_evidence
                else {}
            )
            names = [n for n, _ in SUMMARY_COLUMNS if n not in ("iso2", "country", "examples")]
            rows = []
            for cc in sorted(set(latest) | set(with_evidence)):
                r = latest.get(cc)
                s = summaries.get(cc)
                rows.append(
                    (
                        cc,
                        r.country if r else (s["country"] if s else None),
                        r.total if r else None,
                        r.status if r else None,
                        r.rank if r else None,
                        cc in with_evidence,
                        *(s[n] if s else (window.label if n == "period" else None) for n in names),
                    )
                )
            cols = ("iso2", "country", "total", "status", "rank", "has_evidence", *names)
            return Table(cols, rows), window, why

        table, window, why = run(load)
        return _respond(table, format, period=window.label, period_is=why)

    @app.get("/api/v1/countries/{cc}", summary="One country: scores, history, flags and evidence")
    def country(cc: CC, since: Since = None, until: Until = None) -> JSONResponse:
        cc = cc.upper()
        first, last = _days(since, until)

        def load(cur: Any) -> dict[str, Any]:
            need_facts(cur)
            query = facts.query_of(cur)
            data = load_index(cur)
            history = data.history(cc)
            window, why = evidence_window(cur, first, last)
            found = None
            if cc in evidence_countries(query):
                found = country_evidence(query, cc, window)
            if not history and found is None:
                raise HTTPException(404, f"nothing known about {cc}")
            latest = history[-1] if history else None
            summary = dict(found.summary) if found else {}
            out: dict[str, Any] = {
                "iso2": cc,
                "country": latest.country if latest else summary.get("country"),
                "period": window.label,
                "period_is": why,
                **{k: v for k, v in summary.items() if k not in ("iso2", "country", "period")},
                "latest": asdict(latest) if latest else None,
                "history": [
                    {"year": h.year, "total": h.total, "status": h.status, "rank": h.rank} for h in history
                ],
                "scores": [asdict(s) for s in load_scores(cur, latest.year, cc)] if latest else [],
                "flags": [asdict(f) for f in load_flags(cur, latest.year, cc)] if latest else [],
                "indicator_evidence": [
                    {**e, "explorer_urls": [u for u in map(explorer_url, e["examples"] or ()) if u]}
                    for e in (indicator_evidence(query, latest.year, cc) if latest else [])
                ],
                "evidence": asdict(found) if found else None,
            }
            return out

        return JSONResponse(run(load))

    @app.get(
        "/api/v1/aggregation",
        summary="OONI's aggregation API: counts by up to two axes, from raw verdicts and OONI aggregates",
        description="Parameters and answer as OONI's `/api/v1/aggregation`; unknown parameters are a 422. "
        "Verdicts count as: ok → ok_count, blocked → anomaly_count, confirmed → confirmed_count, "
        "down and inconclusive → failure_count (docs/report.md).",
        responses=TABULAR,
    )
    def ooni_aggregation_api(
        request: Request,
        *,
        probe_cc: Annotated[str | None, _ooni(4096, "probe_cc", "comma-separated")] = None,
        probe_asn: Annotated[str | None, _ooni(4096, "probe_asn", "AS123 or 123, comma-separated")] = None,
        test_name: Annotated[str | None, _ooni(4096, "test_name", "with or without underscores")] = None,
        domain: Annotated[str | None, _ooni(8192, "domain")] = None,
        input: Annotated[str | None, _ooni(8192, "input")] = None,
        category_code: Annotated[str | None, _ooni(4096, "category_code")] = None,
        since: Annotated[str | None, _ooni(40, "since", "inclusive, YYYY-MM-DD[THH:MM:SS]")] = None,
        until: Annotated[str | None, _ooni(40, "until", "exclusive")] = None,
        time_grain: Annotated[str | None, _ooni(10, "time_grain", "hour|day|week|month|year|auto")] = None,
        axis_x: Annotated[str | None, _ooni(40, "axis_x")] = None,
        axis_y: Annotated[str | None, _ooni(40, "axis_y")] = None,
        format: Annotated[str | None, _ooni(10, "format", "JSON or CSV")] = None,
        download: Annotated[str | None, Query(max_length=10)] = None,
    ) -> Response:
        given: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            given[key] = f"{given[key]},{value}" if key in given else value
        try:
            query = OoniQuery.parse(given)
        except InputError as exc:
            raise HTTPException(422, str(exc.args[0] if exc.args else exc)) from exc

        def load(cur: Any) -> list[dict[str, Any]]:
            try:
                return ooni_aggregation(cur, query)
            except InputError as exc:
                raise HTTPException(422, str(exc.args[0] if exc.args else exc)) from exc

        rows = run(load)
        headers = {"Content-Disposition": "attachment; filename=aggregation." + query.format.lower()}
        extra = headers if query.download else None
        if query.format == "CSV":
            return Response(ooni_csv(query, rows), media_type="text/csv; charset=utf-8", headers=extra)
        return JSONResponse(ooni_json(query, rows), headers=extra)

    @app.get("/api/v1/counts", summary="netfreedom's verdict counts by up to two axes", responses=TABULAR)
    def counts(
        filters: Annotated[_Filters, Depends()],
        axis_x: AggAxis | None = None,
        axis_y: AggAxis | None = None,
        format: Format = "json",
    ) -> Response:
        wanted = [a for a in (axis_x, axis_y) if a is not None]
        if len(wanted) == 2 and wanted[0] == wanted[1]:
            wanted = wanted[:1]
        # Two time axes: counted by the finer; the coarser labels each row by the finer period's first day
        # (a week belongs to the month, quarter and year of its Monday).
        times = sorted((a for a in wanted if a in _AGG_PERIODS), key=list(_AGG_PERIODS).index)

        def load(cur: Any) -> Table:
            need_facts(cur)
            query = facts.query_of(cur)
            if not facts.has_table(query, "verdicts"):
                return Table(COUNTS, [] if wanted else [(0,) * len(COUNTS)])
            table = evidence(
                query,
                "verdict_counts",
                axes=[_AGG_AXES[a] for a in wanted if a in _AGG_AXES],
                window=filters.value.window(_AGG_PERIODS[times[0]] if times else Period.ALL),
                filters=filters.value.model(),
            )
            # The API's own column names, the axes in the order asked, then the counts.
            names = {"period": times[0].value if times else "period"}
            names.update({_AGG_AXES[a].value: a.value for a in wanted if a in _AGG_AXES})
            keys = [a.value for a in wanted]
            table = table.rename_columns([names.get(c, c) for c in table.column_names])
            if len(times) == 2:
                finer, coarser = (_AGG_PERIODS[t] for t in times)
                labels = [_relabel(v, finer, coarser) for v in table.column(times[0].value).to_pylist()]
                table = table.append_column(times[1].value, pa.array(labels, pa.string()))
            out = Table.of(table.select([*keys, *COUNTS]))
            if not keys:
                return out if out.rows else Table(out.columns, [(0,) * len(COUNTS)])
            rows = sorted(
                out.rows, key=lambda r: tuple((v is None, "" if v is None else v) for v in r[: len(keys)])
            )
            return Table(out.columns, rows)

        return _respond(run(load), format)

    @app.get(
        "/api/v1/measurements",
        summary="Verdicts of single measurements, newest first, paged",
        responses=TABULAR,
    )
    def list_measurements(
        filters: Annotated[_Filters, Depends()],
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        format: Format = "json",
    ) -> Response:
        def load(cur: Any) -> tuple[Table, int]:
            # the one listing of single verdicts (as Store.verdicts selects them), newest first
            f = filters.value
            wanted = api_filters.Filters.of(
                f.since, f.until, f.probe_cc, f.probe_asn, f.test_name, f.domain, f.category
            )
            found, total = listing.page(facts.query_of(cur), wanted.selection(), limit=limit, offset=offset)
            return Table.of(found.select(MEASUREMENT_COLUMNS)), total

        table, total = run(load)
        if format == "csv":
            return _csv(table)
        nxt = offset + limit if offset + limit < total else None
        return JSONResponse(
            {
                "total": total,
                "limit": limit,
                "offset": offset,
                "next_offset": nxt,
                "columns": list(table.columns),
                "results": table.records(),
            }
        )

    @app.get(
        "/api/v1/events",
        responses=TABULAR,
        summary="Shutdowns, throttling and service blocking: curated and detected events",
        description="Events of a country and period, by country and start day.  An event is in "
        "`since`..`until` (both days inclusive) when it starts on or before `until` and its last day is on "
        "or after `since` (an event without an end date lasts its start day, unless its source says it is "
        "ongoing).  `detected=false` keeps curated events only (Access Now STOP, CenAlert, ...), "
        "`detected=true` the events netfreedom detected in measurements.  Paged: `limit` (at most 1000) and "
        "`offset`; JSON adds `total` and `next_offset`.",
    )
    def list_events(
        *,
        country: Annotated[
            str | None, Query(pattern=r"^[A-Za-z]{2}$", description="ISO 3166 alpha-2 country code")
        ] = None,
        since: Since = None,
        until: Until = None,
        kind: EventKind | None = None,
        source: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = None,
        detected: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        format: Format = "json",
    ) -> Response:
        first, last = _days(since, until)
        filters = EventFilters(
            country=country.upper() if country else None,
            since=first,
            until=last,
            kind=kind,
            source=source,
            detected=detected,
        )
        events = run(lambda cur: select_events(cur, filters))
        page = [event_record(e) for e in events[offset : offset + limit]]
        table = Table(OUTPUT_COLUMNS, [tuple(r[c] for c in OUTPUT_COLUMNS) for r in page])
        if format == "csv":
            return _csv(table)
        nxt = offset + limit if offset + limit < len(events) else None
        return JSONResponse(
            {
                "count": len(page),
                "total": len(events),
                "limit": limit,
                "offset": offset,
                "next_offset": nxt,
                "columns": list(table.columns),
                "results": table.records(),
            }
        )

    @app.get("/docs", include_in_schema=False)
    def reference() -> HTMLResponse:
        return HTMLResponse(reference_page(app.openapi()))

    if site is not None and site.is_dir():
        app.mount("/", StaticFiles(directory=site, html=True), name="site")
    else:

        @app.get("/", include_in_schema=False)
        def landing() -> HTMLResponse:
            return HTMLResponse(landing_page(app.openapi()))

    return app

"""The read-only API: index, countries, aggregation, measurements and events, in JSON or CSV.

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
from dataclasses import asdict
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
from netfreedom.api.store import count_rows, select_rows
from netfreedom.errors import InputError, StoreError
from netfreedom.models.days import DAY_PATTERN, FIRST_DAY, LAST_DAY, day_range
from netfreedom.models.event import OUTPUT_COLUMNS, EventFilters, EventKind, event_record
from netfreedom.report.aggregate import MEASUREMENT_COLUMNS, Axis, Filters, Table, aggregate, cube_is_fresh
from netfreedom.report.evidence_view import countries_with_evidence, country_evidence
from netfreedom.report.model import has_table, load_flags, load_index, load_scores
from netfreedom.report.ooni import OoniQuery, ooni_aggregation, ooni_csv, ooni_json
from netfreedom.report.tabular import to_csv
from netfreedom.store.events import select_events
from netfreedom.web.pages import landing_page, reference_page
from netfreedom.web.security import SecureResponses

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


def _cursor_query(cur: Any) -> Callable[[str, Sequence[object] | None], pa.Table]:
    """A ``Query`` on a read cursor: an interrupted query stays a DuckDB error (the 503 above)."""

    def query(sql: str, params: Sequence[object] | None = None) -> pa.Table:
        return cur.sql(sql, params=list(params) if params else None).to_arrow_table()

    return query


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _days(since: str | None, until: str | None) -> tuple[dt.date | None, dt.date | None]:
    try:
        return day_range(since, until)
    except InputError as exc:
        raise HTTPException(422, exc.reason) from exc


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
        self.value = Filters(probe_cc, probe_asn, domain, category, test_name, first, last)


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

    def need_cube(cur: Any) -> None:
        if not has_table(cur, "report_facts") or (has_table(cur, "verdicts") and not cube_is_fresh(cur)):
            raise HTTPException(503, "the aggregation tables are missing or stale: run `netfreedom build`")

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

    @app.get(
        "/api/v1/countries",
        summary="Countries with an index score or measurement evidence",
        responses=TABULAR,
    )
    def countries(format: Format = "json") -> Response:
        def load(cur: Any) -> Table:
            data = load_index(cur)
            latest = {r.iso2: r for r in data.editions.get(data.latest, ())} if data.latest else {}
            evidence = set(countries_with_evidence(cur)) if has_table(cur, "report_facts") else set()
            rows = []
            for cc in sorted(set(latest) | evidence):
                r = latest.get(cc)
                rows.append(
                    (
                        cc,
                        r.country if r else None,
                        r.total if r else None,
                        r.status if r else None,
                        r.rank if r else None,
                        cc in evidence,
                    )
                )
            return Table(("iso2", "country", "total", "status", "rank", "has_evidence"), rows)

        return _respond(run(load), format)

    @app.get("/api/v1/countries/{cc}", summary="One country: scores, history, flags and evidence")
    def country(cc: CC) -> JSONResponse:
        cc = cc.upper()

        def load(cur: Any) -> dict[str, Any]:
            data = load_index(cur)
            history = data.history(cc)
            evidence = None
            if has_table(cur, "report_facts") and cc in countries_with_evidence(cur):
                evidence = country_evidence(cur, cc)
            if not history and evidence is None:
                raise HTTPException(404, f"nothing known about {cc}")
            latest = history[-1] if history else None
            out: dict[str, Any] = {
                "iso2": cc,
                "country": latest.country if latest else None,
                "latest": asdict(latest) if latest else None,
                "history": [
                    {"year": h.year, "total": h.total, "status": h.status, "rank": h.rank} for h in history
                ],
                "scores": [asdict(s) for s in load_scores(cur, latest.year, cc)] if latest else [],
                "flags": [asdict(f) for f in load_flags(cur, latest.year, cc)] if latest else [],
                "evidence": asdict(evidence) if evidence else None,
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
        probe_cc: Annotated[str | None, Query(max_length=4096, description="comma-separated")] = None,
        probe_asn: Annotated[
            str | None, Query(max_length=4096, description="AS123 or 123, comma-separated")
        ] = None,
        test_name: Annotated[
            str | None, Query(max_length=4096, description="with or without underscores")
        ] = None,
        domain: Annotated[str | None, Query(max_length=8192)] = None,
        input: Annotated[str | None, Query(max_length=8192)] = None,
        category_code: Annotated[str | None, Query(max_length=4096)] = None,
        since: Annotated[
            str | None, Query(max_length=40, description="inclusive, YYYY-MM-DD[THH:MM:SS]")
        ] = None,
        until: Annotated[str | None, Query(max_length=40, description="exclusive")] = None,
        time_grain: Annotated[
            str | None, Query(max_length=10, description="hour|day|week|month|year|auto")
        ] = None,
        axis_x: Annotated[str | None, Query(max_length=40)] = None,
        axis_y: Annotated[str | None, Query(max_length=40)] = None,
        format: Annotated[str | None, Query(max_length=10, description="JSON or CSV")] = None,
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
        axis_x: Axis | None = None,
        axis_y: Axis | None = None,
        format: Format = "json",
    ) -> Response:
        def load(cur: Any) -> Table:
            need_cube(cur)
            return aggregate(cur, filters.value, axis_x, axis_y)

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
            # the Python API's selection of single verdicts (Store.verdicts), newest first
            f = filters.value
            wanted = api_filters.Filters.of(
                f.since, f.until, f.probe_cc, f.probe_asn, f.test_name, f.domain, f.category
            )
            query = _cursor_query(cur)
            page = select_rows(query, "verdicts", wanted, limit=limit, offset=offset, newest_first=True)
            columns = [page.column(c).to_pylist() for c in MEASUREMENT_COLUMNS]
            rows = [tuple(_plain(v) for v in row) for row in zip(*columns, strict=True)]
            return Table(tuple(MEASUREMENT_COLUMNS), rows), count_rows(query, "verdicts", wanted)

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

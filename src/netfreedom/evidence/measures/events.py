"""``events``: shutdowns, throttling and service blocking in the window — curated and, separately, detected.

Read from the store's ``events`` table (docs/events.md): an event counts in the window ``[since, until)`` when
it touches one of its days (``models.event.overlap_sql``, the one definition of "an event in a period").
Cut by country only, over the whole window.  Columns after ``period`` and ``country``: ``curated`` and
``detected`` (events), ``curated_shutdown``, ``curated_throttling``, ``curated_service_blocking``,
``detected_shutdown``, ``detected_service_blocking`` … (one column per kind and origin), ``events`` (a list of
``{id, source, detected, kind, scope, start, end, ongoing, area}``, by start day) and ``sources``
(``events``).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from netfreedom.errors import InputError
from netfreedom.evidence.facts import has_table
from netfreedom.evidence.model import Axis, Measure, Period, Query, Request, Source, register
from netfreedom.models.event import EventKind, overlap_sql

KINDS = tuple(k.value for k in EventKind)
COUNT_COLUMNS = (
    "curated",
    "detected",
    *(f"curated_{k}" for k in KINDS),
    *(f"detected_{k}" for k in KINDS),
)
EVENT_STRUCT = pa.struct(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("detected", pa.bool_()),
        ("kind", pa.string()),
        ("scope", pa.string()),
        ("start", pa.date32()),
        ("end", pa.date32()),
        ("ongoing", pa.bool_()),
        ("area", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("period", pa.string()),
        ("country", pa.string()),
        *((c, pa.int64()) for c in COUNT_COLUMNS),
        ("events", pa.list_(EVENT_STRUCT)),
        ("sources", pa.string()),
    ]
)


def compute(query: Query, request: Request) -> pa.Table:
    if request.window.period is not Period.ALL:
        raise InputError("events are counted over the whole window (period 'all')")
    if not has_table(query, "events"):
        return SCHEMA.empty_table()
    since = request.window.since
    last = request.window.until - dt.timedelta(days=1)
    where = [overlap_sql("?", "?")]
    params: list[object] = [since, last]
    if request.filters.country:
        where.append("iso2 = ?")
        params.append(request.filters.country.upper())
    rows = query(
        "SELECT iso2, id, source, detected, kind, scope, start_date, end_date, ongoing, area FROM events "
        f"WHERE {' AND '.join(where)} ORDER BY iso2, start_date, detected, id",
        params,
    ).to_pylist()
    by_cc: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        by_cc.setdefault(str(r["iso2"]), []).append(r)
    out: dict[str, list[object]] = {name: [] for name in SCHEMA.names}
    for cc, events in sorted(by_cc.items()):
        out["period"].append(request.window.label)
        out["country"].append(cc)
        for column in COUNT_COLUMNS:
            origin, _, kind = column.partition("_")
            out[column].append(
                sum(
                    1
                    for e in events
                    if bool(e["detected"]) == (origin == "detected") and kind in ("", e["kind"])
                )
            )
        out["events"].append(
            [
                {
                    "id": e["id"],
                    "source": e["source"],
                    "detected": e["detected"],
                    "kind": e["kind"],
                    "scope": e["scope"],
                    "start": e["start_date"],
                    "end": e["end_date"],
                    "ongoing": e["ongoing"],
                    "area": e["area"],
                }
                for e in events
            ]
        )
        out["sources"].append(Source.EVENTS.value)
    return pa.Table.from_pydict(out, schema=SCHEMA)


MEASURE = register(
    Measure(
        id="events",
        title="Shutdowns, throttling and service blocking (curated and detected events)",
        source=Source.EVENTS,
        axes=frozenset({Axis.COUNTRY}),
        compute=compute,
        description="Events touching the window, per country: curated and detected apart, by kind.",
    )
)

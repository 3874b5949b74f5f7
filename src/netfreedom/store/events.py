"""The ``events`` table: curated and detected events (``models.event.Event``), one row per event id.

Functions take a DuckDB connection or cursor, so the store (writer), the site builder and the API (read-only
cursors) all use the same SQL: ``select_events`` is the one filter behind ``events list``,
``/api/v1/events``, the country pages and the index's ``events`` measure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
import pyarrow as pa

from netfreedom.models.event import (
    OUTPUT_COLUMNS,
    Event,
    EventFilters,
    event_record,
    overlap_sql,
)

TABLE = "events"
EVENTS_DDL = """CREATE TABLE IF NOT EXISTS events (
    id VARCHAR PRIMARY KEY,
    source VARCHAR NOT NULL,
    detected BOOLEAN NOT NULL,
    iso2 VARCHAR NOT NULL,
    country VARCHAR NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE,
    ongoing BOOLEAN NOT NULL,
    kind VARCHAR NOT NULL,        -- shutdown | throttling | service_blocking
    scope VARCHAR,                -- national | regional | network
    area VARCHAR,
    services VARCHAR[] NOT NULL,
    networks VARCHAR[] NOT NULL,
    cause VARCHAR,
    link VARCHAR,
    links VARCHAR[] NOT NULL,
    description VARCHAR,
    origin VARCHAR,
    signal VARCHAR,
    asn VARCHAR,
    baseline DOUBLE,
    observed DOUBLE,
    ratio DOUBLE,
    confidence DOUBLE,
    imported TIMESTAMPTZ NOT NULL
)"""
# The table's names of ``OUTPUT_COLUMNS`` (``start`` and ``end`` are SQL keywords).
_NAMES = {"start": "start_date", "end": "end_date"}
COLUMNS = tuple(_NAMES.get(c, c) for c in OUTPUT_COLUMNS)
# An event's Arrow types, by ``OUTPUT_COLUMNS`` name (the Python API's ``events`` table takes its own).
_TYPES: dict[str, pa.DataType] = {
    "detected": pa.bool_(),
    "start": pa.date32(),
    "end": pa.date32(),
    "ongoing": pa.bool_(),
    "services": pa.list_(pa.string()),
    "networks": pa.list_(pa.string()),
    "links": pa.list_(pa.string()),
    **{c: pa.float64() for c in ("baseline", "observed", "ratio", "confidence")},
}
ARROW = pa.schema([(c, _TYPES.get(c, pa.string())) for c in OUTPUT_COLUMNS])


def put_events(con: Any, events: Sequence[Event]) -> None:
    """Insert ``events``, replacing any stored event with the same id (in the caller's transaction)."""
    if not events:
        return
    rows = pa.Table.from_pylist([event_record(e, dates=True) for e in events], schema=ARROW)
    table = rows.rename_columns(list(COLUMNS))
    con.register("_events_in", table)
    try:
        cols = ", ".join(COLUMNS)
        con.execute(f"INSERT OR REPLACE INTO events ({cols}, imported) SELECT {cols}, now() FROM _events_in")
    finally:
        con.unregister("_events_in")


def delete_detected(con: Any, since: dt.date | None, until: dt.date | None) -> int:
    """Delete detected events starting in since..until (None = open); returns how many."""
    where: list[str] = ["detected"]
    params: list[Any] = []
    if since is not None:
        where.append("start_date >= ?")
        params.append(since)
    if until is not None:
        where.append("start_date <= ?")
        params.append(until)
    found = con.execute(f"SELECT count(*) FROM events WHERE {' AND '.join(where)}", params).fetchone()
    con.execute(f"DELETE FROM events WHERE {' AND '.join(where)}", params)
    return int(found[0]) if found else 0


def has_events(con: Any) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'"
    ).fetchone()
    return bool(found and found[0])


def _where(f: EventFilters) -> tuple[str, list[Any]]:
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if f.country:
        where.append("iso2 = ?")
        params.append(f.country.upper())
    where.append(overlap_sql(None if f.since is None else "?", None if f.until is None else "?"))
    params.extend(d for d in (f.since, f.until) if d is not None)
    if f.kind is not None:
        where.append("kind = ?")
        params.append(str(f.kind))
    if f.source:
        where.append("source = ?")
        params.append(f.source)
    if f.detected is not None:
        where.append("detected = ?")
        params.append(f.detected)
    return " AND ".join(where), params


def select_events(con: Any, filters: EventFilters | None = None, *, limit: int | None = None) -> list[Event]:
    """Events matching ``filters``, by country, start day, source and id.  An empty list when the store has
    no events table (an old store, or a read-only one never written since)."""
    if not has_events(con):
        return []
    where, params = _where(filters or EventFilters())
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM events WHERE {where} "
        "ORDER BY iso2, start_date, detected, source, id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    rows = con.execute(sql, params).fetchall()
    return [_event(dict(zip(COLUMNS, r, strict=True))) for r in rows]


def _event(r: dict[str, Any]) -> Event:
    """An ``events`` row back as the ``Event`` that ``event_record`` made it from."""
    values = {name: r[_NAMES.get(name, name)] for name in OUTPUT_COLUMNS}
    for name in ("services", "networks", "links"):
        values[name] = values[name] or []
    values["scope"] = values["scope"] or None
    return msgspec.convert(values, Event)

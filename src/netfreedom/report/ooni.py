"""OONI's aggregation API (``/api/v1/aggregation``), answered from raw verdicts and aggregation rows alike.

Parameters are OONI's: ``probe_cc``, ``probe_asn`` (``AS123`` or ``123``), ``test_name`` (with or without
underscores), ``domain``, ``input``, ``category_code`` (each a comma-separated list), ``since`` (inclusive)
and ``until`` (exclusive; a date or a UTC date-time), ``time_grain`` (``hour``, ``day``, ``week``,
``month``, ``year``, ``auto`` = day), ``axis_x``/``axis_y`` (``measurement_start_day``, ``probe_cc``,
``probe_asn``, ``test_name``, ``domain``, ``input``, ``category_code``, ``blocking_type``), ``format``
(``JSON``/``CSV``) and ``download``.  Any other parameter is an error, not silently ignored.

The answer has OONI's shape: ``{"v": 0, "dimension_count": N, "result": rows}`` (one object instead of a
list without axes), each row holding ``anomaly_count, confirmed_count, failure_count, measurement_count,
ok_count`` and one key per axis; CSV columns in alphabetical order, as OONI writes them.

Verdicts count as ``models.aggregation`` says (ok → ok, blocked → anomaly, confirmed → confirmed,
down/inconclusive → failure); ``blocking_type`` is how a blocked verdict was blocked (``dns``, ``tcp``,
``tls``, ``http``, ``blockpage`` when confirmed).  Aggregation rows are read per ``layer_sql`` (one
layer per country and test, raw verdicts winning on the days they cover), at grains that nest in the one
asked for (days into weeks, months and years; hours into anything; months into years), and only when their
period lies inside ``since``..``until``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netfreedom.errors import InputError
from netfreedom.models.aggregation import (
    AXES,
    COUNTS,
    OPTIONAL,
    TIME_AXIS,
    Grain,
    canonical_test,
    layer_sql,
)
from netfreedom.models.days import in_range
from netfreedom.report.tabular import to_csv

PARAMETERS = frozenset(
    {
        "probe_cc",
        "probe_asn",
        "test_name",
        "domain",
        "input",
        "category_code",
        "since",
        "until",
        "time_grain",
        "axis_x",
        "axis_y",
        "format",
        "download",
    }
)
_LISTS = ("probe_cc", "probe_asn", "test_name", "domain", "input", "category_code")
_GRAINS = ("hour", "day", "week", "month", "year")
# Which stored grains add up exactly into a period of the asked grain.
_NESTS: dict[str, tuple[str, ...]] = {
    "hour": ("hour",),
    "day": ("hour", "day"),
    "week": ("hour", "day", "week"),
    "month": ("hour", "day", "month"),
    "year": ("hour", "day", "month", "year"),
}


@dataclass(frozen=True)
class OoniQuery:
    """A parsed aggregation query.  ``until`` is exclusive."""

    probe_cc: tuple[str, ...] = ()
    probe_asn: tuple[int, ...] = ()
    test_name: tuple[str, ...] = ()
    domain: tuple[str, ...] = ()
    input: tuple[str, ...] = ()
    category_code: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    time_grain: str = "day"
    axis_x: str | None = None
    axis_y: str | None = None
    format: str = "JSON"
    download: bool = False

    @property
    def axes(self) -> tuple[str, ...]:
        out: list[str] = []
        for a in (self.axis_x, self.axis_y):
            if a and a not in out:
                out.append(a)
        return tuple(out)

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> OoniQuery:
        """From query parameters (each given once); an ``InputError`` names the bad one."""
        unknown = sorted(set(params) - PARAMETERS)
        if unknown:
            raise InputError(
                f"unknown parameter {unknown[0]!r} (OONI's are: {', '.join(sorted(PARAMETERS))})"
            )
        values: dict[str, Any] = {}
        for key in _LISTS:
            items = [v.strip() for v in params.get(key, "").split(",") if v.strip()]
            values[key] = tuple(_value(key, v) for v in items)
        for key in ("since", "until"):
            if params.get(key, "").strip():
                values[key] = _time(key, params[key].strip())
        if values.get("since") and values.get("until") and values["since"] >= values["until"]:
            raise InputError("since must be before until")
        grain = params.get("time_grain", "auto").strip().lower() or "auto"
        if grain not in (*_GRAINS, "auto"):
            raise InputError(f"time_grain: {grain!r} is not one of {', '.join((*_GRAINS, 'auto'))}")
        values["time_grain"] = "day" if grain == "auto" else grain
        for key in ("axis_x", "axis_y"):
            axis = params.get(key, "").strip()
            if axis and axis not in AXES:
                raise InputError(f"{key}: {axis!r} is not one of {', '.join(AXES)}")
            values[key] = axis or None
        fmt = params.get("format", "JSON").strip().upper() or "JSON"
        if fmt not in ("JSON", "CSV"):
            raise InputError(f"format: {params['format']!r} is not JSON or CSV")
        values["format"] = fmt
        values["download"] = params.get("download", "").strip().lower() in ("1", "true", "yes")
        return cls(**values)


def _value(key: str, text: str) -> Any:
    if key == "probe_cc":
        if len(text) != 2 or not text.isalpha() or not text.isascii():
            raise InputError(f"probe_cc: {text!r} is not a two-letter country code")
        return text.upper()
    if key == "probe_asn":
        digits = text.upper().removeprefix("AS")
        if not digits.isdigit() or len(digits) > 10 or int(digits) > 2**32 - 1:
            raise InputError(f"probe_asn: {text!r} is not an ASN (AS123 or 123)")
        return int(digits)
    if len(text) > 2048:
        raise InputError(f"{key}: longer than 2048 characters")
    if key == "test_name":
        return canonical_test(text)
    if key == "domain":
        return text.lower()
    if key == "category_code":
        return text.upper()
    return text


def _time(key: str, text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
        when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset past year 1 or 9999
        raise InputError(f"{key}: {text[:40]!r} is not a date (YYYY-MM-DD) or date-time") from None
    in_range(when.date(), key)  # the one supported range of days (models.days)
    return when


def _midnight(when: dt.datetime | None) -> bool:
    return when is None or when.time() == dt.time(0)


def _has_table(con: Any, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
        [name],
    ).fetchone()
    return bool(row and row[0])


def _in(column: str, values: tuple[Any, ...], params: list[Any]) -> str:
    params.append(list(values))
    return f"list_contains(?, {column})"


_FAILURE = "CAST(count(*) FILTER (v.outcome IN ('down', 'inconclusive')) AS BIGINT)"


def _raw_cells(con: Any, q: OoniQuery, params: list[Any]) -> str | None:
    """Cells from raw verdicts: the cube by day, or ``verdicts`` itself for hours or cut days."""
    if not _has_table(con, "report_facts") or not _has_table(con, "verdicts"):
        return None
    exact = q.time_grain == "hour" or not (_midnight(q.since) and _midnight(q.until))
    if exact:
        # The cube's categories: per country and URL, as it joined them from the test lists.
        source = (
            "FROM verdicts v LEFT JOIN report_urls u ON u.input = coalesce(v.input, '') "
            "AND u.domain = lower(coalesce(v.domain, '')) "
            "LEFT JOIN (SELECT DISTINCT probe_cc, url_id, category FROM report_facts) c "
            "ON c.probe_cc = v.probe_cc AND c.url_id = u.url_id"
        )
        cols = {
            "t": f"date_trunc('{q.time_grain}', v.measurement_start_time)",
            "probe_cc": "v.probe_cc",
            "probe_asn": "CAST(coalesce(TRY_CAST(substr(v.probe_asn, 3) AS BIGINT), 0) AS BIGINT)",
            "test_name": "v.test_name",
            "domain": "u.domain",
            "input": "u.input",
            "category_code": "c.category",
            "blocking_type": "CASE WHEN v.confirmed THEN 'blockpage' WHEN v.outcome = 'blocked' "
            "THEN coalesce(v.layer, 'unknown') END",
        }
        counts = (
            "CAST(count(*) FILTER (v.outcome = 'blocked') AS BIGINT) AS anomaly_count, "
            "CAST(count(*) FILTER (v.confirmed) AS BIGINT) AS confirmed_count, "
            f"{_FAILURE} AS failure_count, CAST(count(*) AS BIGINT) AS measurement_count, "
            "CAST(count(*) FILTER (v.outcome = 'ok') AS BIGINT) AS ok_count"
        )
        time_col = "v.measurement_start_time"
    else:
        source = "FROM report_facts f JOIN report_urls u USING (url_id)"
        cols = {
            "t": f"CAST(date_trunc('{q.time_grain}', f.day) AS TIMESTAMPTZ)",
            "probe_cc": "f.probe_cc",
            "probe_asn": "CAST(f.asn AS BIGINT)",
            "test_name": "f.test_name",
            "domain": "u.domain",
            "input": "u.input",
            "category_code": "f.category",
            "blocking_type": "f.method",
        }
        counts = (
            "CAST(sum(f.blocked) AS BIGINT) AS anomaly_count, "
            "CAST(sum(f.confirmed) AS BIGINT) AS confirmed_count, "
            "CAST(sum(f.down + f.inconclusive) AS BIGINT) AS failure_count, "
            "CAST(sum(f.n) AS BIGINT) AS measurement_count, CAST(sum(f.ok) AS BIGINT) AS ok_count"
        )
        time_col = "CAST(f.day AS TIMESTAMPTZ)"
    where = _filters(q, cols, params)
    if q.since:
        where.append(f"{time_col} >= ?")
        params.append(q.since)
    if q.until:
        where.append(f"{time_col} < ?")
        params.append(q.until)
    keys = ", ".join(f"{cols[k]} AS {k}" for k in ("t", *_DIMS))
    return f"SELECT {keys}, {counts} {source} WHERE {' AND '.join(where) or 'TRUE'} GROUP BY ALL"


_DIMS = ("probe_cc", "probe_asn", "test_name", "domain", "input", "category_code", "blocking_type")


def _filters(q: OoniQuery, cols: Mapping[str, str], params: list[Any]) -> list[str]:
    where: list[str] = []
    for key in _LISTS:
        values = getattr(q, key)
        if values:
            where.append(_in(cols[key], values, params))
    return where


def _aggregate_cells(con: Any, q: OoniQuery, params: list[Any], raw: bool) -> str | None:
    if not _has_table(con, "aggregates"):
        return None
    needed = tuple(d for d in OPTIONAL if d in q.axes or (d in _LISTS and getattr(q, d)))
    inner: list[Any] = []
    where = _filters(q, {d: d for d in _DIMS}, inner)
    time_axis = TIME_AXIS in q.axes
    grains = _NESTS[q.time_grain] if time_axis else (*_GRAINS, Grain.RANGE.value)
    where.append(_in("grain", grains, inner))
    if q.since:
        where.append("period_start >= ?")
        inner.append(q.since)
    if q.until:
        where.append("period_end <= ?")
        inner.append(q.until)
    raw_days = "SELECT DISTINCT probe_cc, test_name, day FROM report_facts" if raw else None
    chosen = layer_sql(needed, where=" AND ".join(where), raw_days=raw_days)
    params.extend(inner)
    t = f"date_trunc('{q.time_grain}', period_start)"
    return f"SELECT {t} AS t, {', '.join(_DIMS)}, {', '.join(COUNTS)} FROM ({chosen})"


def ooni_aggregation(con: Any, q: OoniQuery) -> list[dict[str, Any]]:
    """The result rows (counts and axis keys), ordered by the axes."""
    params: list[Any] = []
    parts = []
    raw = _raw_cells(con, q, params)
    if raw:
        parts.append(raw)
    agg = _aggregate_cells(con, q, params, raw is not None)
    if agg:
        parts.append(agg)
    keys = [("t" if a == TIME_AXIS else a) for a in q.axes]
    sums = ", ".join(f"CAST(coalesce(sum({c}), 0) AS BIGINT) AS {c}" for c in COUNTS)
    if not parts:
        rows: list[tuple[Any, ...]] = [] if keys else [(0, 0, 0, 0, 0)]
    else:
        union = " UNION ALL ".join(f"({p})" for p in parts)
        group = f"GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else ""
        select = ", ".join([*keys, sums])
        rows = con.execute(f"SELECT {select} FROM ({union}) cells {group}", params).fetchall()
    out = []
    for row in rows:
        record = dict(zip((*q.axes, *COUNTS), row, strict=True))
        if TIME_AXIS in record:
            record[TIME_AXIS] = _time_key(record[TIME_AXIS], q.time_grain)
        out.append(record)
    return out


def _time_key(value: Any, grain: str) -> Any:
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ") if grain == "hour" else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def ooni_json(q: OoniQuery, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """OONI's JSON envelope."""
    result: Any = rows if q.axes else (rows[0] if rows else dict.fromkeys(COUNTS, 0))
    return {"v": 0, "dimension_count": len(q.axes), "result": result}


def ooni_csv(q: OoniQuery, rows: list[dict[str, Any]]) -> str:
    """OONI's CSV: the row keys in alphabetical order."""
    columns = sorted((*q.axes, *COUNTS))
    return to_csv(columns, ([r.get(c) for c in columns] for r in rows))

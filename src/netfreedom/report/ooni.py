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

Verdicts are counted by the evidence model's ``verdict_counts`` measure (by whole UTC days) and mapped as
``models.aggregation`` says (ok → ok, blocked → anomaly, confirmed → confirmed, down/inconclusive →
failure); ``blocking_type`` is how a blocked verdict was blocked (``dns``, ``tcp``, ``tls``, ``http``,
``blockpage`` when confirmed).  Aggregation rows are read per ``layer_sql`` (one
layer per country and test, raw verdicts winning on the days they cover), at grains that nest in the one
asked for (days into weeks, months and years; hours into anything; months into years), and only when their
period lies inside ``since``..``until``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netfreedom.errors import InputError
from netfreedom.evidence.facts import has_table, query_of
from netfreedom.evidence.model import EPOCH, FAR, Axis, Filters, Period, Window, evidence
from netfreedom.models.aggregation import (
    AXES,
    COUNTS,
    OPTIONAL,
    RAW_DAYS_FROM_VERDICTS,
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
MAX_ASN = 2**32 - 1
MAX_ITEM = 2048  # characters in one item of a list


def _upto(n: int) -> str:
    """A regular expression for the decimal numbers 0..``n`` (leading zeros allowed, at most as many digits
    as ``n`` has)."""
    digits = str(n)
    out = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, d in enumerate(digits):
        if d != "0":
            rest = len(digits) - i - 1
            out.append(digits[:i] + f"[0-{int(d) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    out.append(digits)
    return "(?:" + "|".join(out) + ")"


def _anycase(*words: str) -> str:
    return (
        "(?:"
        + "|".join("".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in w) for w in words)
        + ")"
    )


def _spaced(item: str, *, many: bool = False) -> str:
    """``item`` with spaces around it, or nothing; with ``many``, any number of them separated by commas."""
    one = f" *(?:(?:{item}) *)?"
    return f"^{one}(?:,{one})*$" if many else f"^{one}$"


# A calendar day in the supported range (models.days: 1900-01-01..2999-12-31), leap days included.
_LEAP = "(?:(?:19|2[0-9])(?:0[48]|[2468][048]|[13579][26])|2000|2400|2800)"
_DAY = (
    "(?:(?:19[0-9]{2}|2[0-9]{3})-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-"
    f"(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|{_LEAP}-02-29)"
)
_TIME = "(?:[T ](?:[01][0-9]|2[0-3])(?::[0-5][0-9](?::[0-5][0-9](?:\\.[0-9]{1,6})?)?)?Z?)?"
# What each parameter may be, as a regular expression: stated in the OpenAPI schema and checked by
# ``OoniQuery.parse`` (after its own checks, which name the bad item), so that what the schema allows is
# accepted.  ``parse`` strips more than spaces; the schema states the plain forms.
PATTERNS: dict[str, str] = {
    "probe_cc": _spaced("[A-Za-z]{2}", many=True),
    "probe_asn": _spaced(f"(?:[Aa][Ss])?{_upto(MAX_ASN)}", many=True),
    **dict.fromkeys(
        ("test_name", "domain", "input", "category_code"), f"^[^,]{{0,{MAX_ITEM}}}(?:,[^,]{{0,{MAX_ITEM}}})*$"
    ),
    "since": _spaced(_DAY + _TIME),
    "until": _spaced(_DAY + _TIME),
    "time_grain": _spaced(_anycase(*_GRAINS, "auto")),
    "axis_x": _spaced("|".join(AXES)),
    "axis_y": _spaced("|".join(AXES)),
    "format": _spaced(_anycase("json", "csv")),
}
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
        for key, pattern in PATTERNS.items():
            if key in params and not re.fullmatch(pattern, params[key]):
                raise InputError(f"{key}: {params[key][:40]!r} is not of the form the API schema gives")
        return cls(**values)


def _value(key: str, text: str) -> Any:
    if key == "probe_cc":
        if len(text) != 2 or not text.isalpha() or not text.isascii():
            raise InputError(f"probe_cc: {text!r} is not a two-letter country code")
        return text.upper()
    if key == "probe_asn":
        digits = text.upper().removeprefix("AS")
        if not digits.isdigit() or len(digits) > len(str(MAX_ASN)) or int(digits) > MAX_ASN:
            raise InputError(f"probe_asn: {text!r} is not an ASN (AS123 or 123)")
        return int(digits)
    if len(text) > MAX_ITEM:
        raise InputError(f"{key}: longer than {MAX_ITEM} characters")
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


# OONI's axes as the evidence model's.
_MODEL_AXES: dict[str, Axis] = {
    "probe_cc": Axis.COUNTRY,
    "probe_asn": Axis.NETWORK,
    "test_name": Axis.TEST,
    "domain": Axis.DOMAIN,
    "input": Axis.URL,
    "category_code": Axis.CATEGORY,
    "blocking_type": Axis.METHOD,
}
_PERIODS = {"day": Period.DAY, "week": Period.WEEK, "month": Period.MONTH, "year": Period.YEAR}
# Filters the model takes one value of: with several, the axis is added and the rows are kept here.
_SINGLE = {"probe_cc": "country", "probe_asn": "network", "domain": "domain", "input": "url"}
_Key = tuple[Any, ...]


def _raw(con: Any, q: OoniQuery) -> dict[_Key, list[int]]:
    """Counts from raw verdicts, by the query's axes, through the evidence model's ``verdict_counts`` (the
    one count of verdicts); OONI's counts per ``models.aggregation``."""
    query = query_of(con)
    if not has_table(query, "verdicts") or not con.execute("SELECT count(*) FROM verdicts").fetchall()[0][0]:
        return {}
    time_axis = TIME_AXIS in q.axes
    if time_axis and q.time_grain == "hour":
        raise InputError("time_grain=hour: raw measurements are counted by day (use day or coarser)")
    single: dict[str, Any] = {}
    extra: list[str] = []
    for key, name in _SINGLE.items():
        values = getattr(q, key)
        if len(values) == 1:
            if key == "probe_asn" and values[0] > 2**31 - 1:
                return {}  # the evidence facts hold ASNs as 32-bit signed integers: no raw verdict has it
            single[name] = f"AS{values[0]}" if key == "probe_asn" else values[0]
        elif len(values) > 1 and key not in q.axes:
            extra.append(key)
    dims = [a for a in q.axes if a != TIME_AXIS] + extra
    since = q.since.date() if q.since else EPOCH
    until = q.until.date() + dt.timedelta(days=0 if q.until.time() == dt.time(0) else 1) if q.until else FAR
    window = Window(since, until, _PERIODS[q.time_grain] if time_axis else Period.ALL)
    filters = Filters(**single, categories=q.category_code, tests=q.test_name)
    table = evidence(
        query, "verdict_counts", axes=[_MODEL_AXES[d] for d in dims], window=window, filters=filters
    )
    out: dict[_Key, list[int]] = {}
    for r in table.to_pylist():
        if not r["measurements"]:
            continue
        values = {d: r[_MODEL_AXES[d].value] for d in dims}
        if "probe_asn" in values and values["probe_asn"] is not None:
            values["probe_asn"] = int(str(values["probe_asn"]).removeprefix("AS"))
        if any(values[k] not in getattr(q, k) for k in extra):
            continue
        if time_axis:
            values[TIME_AXIS] = _period_start(r["period"], q.time_grain)
        cell = tuple(values[a] for a in q.axes)
        counts = [r["blocked"], r["confirmed"], r["down"] + r["inconclusive"], r["measurements"], r["ok"]]
        _add(out, cell, counts)
    return out


def _period_start(label: str, grain: str) -> str:
    """The model's period label (``2018-05``, ``2018-W19``, ``2018``) as the first day of the period."""
    if grain == "week":
        year, week = label.split("-W")
        return dt.date.fromisocalendar(int(year), int(week), 1).isoformat()
    if grain == "month":
        return label + "-01"
    if grain == "year":
        return label + "-01-01"
    return label


def _add(out: dict[_Key, list[int]], key: _Key, counts: Sequence[int]) -> None:
    found = out.get(key)
    if found is None:
        out[key] = [int(c) for c in counts]
    else:
        for i, c in enumerate(counts):
            found[i] += int(c)


def _aggregates(con: Any, q: OoniQuery, out: dict[_Key, list[int]]) -> None:
    """Counts from OONI's aggregation rows (``layer_sql``), added to ``out``."""
    if not has_table(query_of(con), "aggregates"):
        return
    needed = tuple(d for d in OPTIONAL if d in q.axes or (d in _LISTS and getattr(q, d)))
    params: list[Any] = []
    where: list[str] = []
    for key in _LISTS:
        values = getattr(q, key)
        if values:
            where.append(f"list_contains(?, {key})")
            params.append(list(values))
    time_axis = TIME_AXIS in q.axes
    where.append("list_contains(?, grain)")
    params.append(list(_NESTS[q.time_grain] if time_axis else (*_GRAINS, Grain.RANGE.value)))
    if q.since:
        where.append("period_start >= ?")
        params.append(q.since)
    if q.until:
        where.append("period_end <= ?")
        params.append(q.until)
    raw_days = RAW_DAYS_FROM_VERDICTS if has_table(query_of(con), "verdicts") else None
    chosen = layer_sql(needed, where=" AND ".join(where), raw_days=raw_days)
    keys = [f"date_trunc('{q.time_grain}', period_start)" if a == TIME_AXIS else a for a in q.axes]
    group = f"GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    sums = ", ".join(f"CAST(sum({c}) AS BIGINT)" for c in COUNTS)
    rows = con.execute(f"SELECT {', '.join([*keys, sums])} FROM ({chosen}) {group}", params).fetchall()
    for row in rows:
        if row[len(keys)] is None:  # no row at all (no axes): nothing to add
            continue
        cell = tuple(
            _time_key(v, q.time_grain) if a == TIME_AXIS else v for a, v in zip(q.axes, row, strict=False)
        )
        _add(out, cell, row[len(keys) :])


def ooni_aggregation(con: Any, q: OoniQuery) -> list[dict[str, Any]]:
    """The result rows (axis keys and counts), ordered by the axes."""
    cells = _raw(con, q)
    _aggregates(con, q, cells)
    if not q.axes and not cells:
        cells[()] = [0] * len(COUNTS)
    ordered = sorted(cells.items(), key=lambda kv: tuple((v is None, v) for v in kv[0]))
    return [dict(zip((*q.axes, *COUNTS), (*key, *counts), strict=True)) for key, counts in ordered]


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

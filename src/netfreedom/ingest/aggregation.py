"""Read OONI aggregation results (``/api/v1/aggregation``), recognised by content.

Forms: the API's JSON (``{"v": 0, "dimension_count": N, "result": [rows]}``, ``result`` a single object
when the query had no axis), a bare JSON list of rows, one row object, and the API's CSV export (a header
naming the count columns and the axes).  Columns are found by name, in any order and case.  Dimensions a
file lacks because they were the query's filters come from ``dimensions`` (``--dimension KEY=VALUE``, or
the query string of an API URL given as SOURCE): the same keys as OONI's query (``probe_cc``,
``probe_asn``, ``test_name``, ``domain``, ``input``, ``category_code``, ``since``, ``until``,
``time_grain``).

Each row becomes an ``AggregateRow`` or a ``Problem`` (file, line — the CSV line, or the item number in a
JSON list — and reason): a count that is not a non-negative integer, counts that do not add up (any count
above ``measurement_count``, or ``ok + anomaly > measurement``), an unknown axis, a dimension missing from
both the row and ``dimensions``, a row contradicting a given dimension, a repeated cell.  The other rows
are kept.  The time grain is the query's ``time_grain`` (or the column's name, ``measurement_start_month``
…); without either it is read from the values (hours when any time is not midnight, else years, months or
weeks when every value starts one and they are that far apart, else days).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import io
import itertools
import re
import urllib.parse
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import msgspec

from netfreedom.errors import FetchError, InputError
from netfreedom.fetch import Fetcher
from netfreedom.ingest.records import BOM, Opened, Problem
from netfreedom.models.aggregation import (
    COUNTS,
    DIMENSIONS,
    TIME_AXIS,
    TIME_COLUMNS,
    AggregateRow,
    Grain,
    canonical_test,
    period_end,
)

# Keys a ``--dimension`` or an API URL's query may set.
DIMENSION_KEYS = (*DIMENSIONS, "since", "until", "time_grain")
# OONI's other query parameters: they shape the answer, not what a row counts.
_URL_SHAPE = frozenset({"axis_x", "axis_y", "format", "download"})
MAX_FILE = 256 * 1024 * 1024
_HEAD = 64 * 1024
_MAX_TEXT = 8192
_CC = re.compile(r"^[A-Za-z]{2}$")
_ASN = re.compile(r"^(?:AS)?(\d{1,10})$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_MAX_ASN = 2**32 - 1
# A measurement's envelope has these; an aggregation row never does.
_MEASUREMENT_KEYS = frozenset({"test_keys", "measurement_start_time", "report_id", "test_start_time"})
_Raw: TypeAlias = tuple[int, dict[str, Any]] | Problem  # (line, fields) or a problem already


def parse_dimensions(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings (``--dimension``) → a mapping; an ``InputError`` for a bad pair or key."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lower()
        if not sep or not key or not value.strip():
            raise InputError(f"--dimension {pair!r}: use KEY=VALUE")
        if key not in DIMENSION_KEYS:
            raise InputError(f"--dimension {key}: not a dimension (use one of {', '.join(DIMENSION_KEYS)})")
        if key in out and out[key] != value.strip():
            raise InputError(f"--dimension {key} given twice with different values")
        out[key] = value.strip()
    problem = check_dimensions(out)
    if problem:
        raise InputError(f"--dimension: {problem}")
    return out


def check_dimensions(dims: Mapping[str, str]) -> str | None:
    try:
        for key in ("since", "until"):
            if key in dims:
                _parse_time(dims[key])
        if "probe_cc" in dims:
            _cc(dims["probe_cc"])
        if "probe_asn" in dims:
            _asn(dims["probe_asn"])
        if dims.get("time_grain", "auto").lower() not in {*Grain, "auto"} - {"range"}:
            return f"time_grain {dims['time_grain']!r} is not hour, day, week, month, year or auto"
    except ValueError as exc:
        return str(exc)
    return None


def is_aggregation_url(spec: str) -> bool:
    """An OONI aggregation API URL (``https://HOST/…/aggregation?…``)."""
    parts = urllib.parse.urlsplit(spec)
    return parts.scheme in ("http", "https") and parts.path.rstrip("/").endswith("/aggregation")


def url_dimensions(url: str) -> dict[str, str]:
    """The dimensions an API URL's query fixes; an ``InputError`` for a parameter that is not OONI's or
    that leaves rows counting less than a whole cell (``ooni_run_link_id``)."""
    dims: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True):
        key = name.lower()
        if key in _URL_SHAPE or not value:
            continue
        if key not in DIMENSION_KEYS:
            raise InputError(f"query parameter {key!r} is not one netfreedom can store rows for", file=url)
        if "," in value and key in DIMENSIONS:
            continue  # several values: the rows must carry this axis themselves
        dims[key] = value
    problem = check_dimensions(dims)
    if problem:
        raise InputError(problem, file=url)
    return dims


def looks_like_aggregation(head: bytes) -> bool:
    """True when the first bytes of a file are an OONI aggregation result (JSON or CSV)."""
    text = head.removeprefix(BOM).lstrip()
    if text.startswith((b"{", b"[")):
        return b'"measurement_count"' in text and b'"anomaly_count"' in text
    first = text.split(b"\n", 1)[0].lower()
    return b"measurement_count" in first and b"anomaly_count" in first and b"," in first


def read_head(data: bytes) -> bytes:
    """The first bytes of a file's content (gunzipped when it is gzip, as far as ``data`` goes), for
    ``looks_like_aggregation``."""
    if data.startswith(b"\x1f\x8b"):
        try:
            return zlib.decompressobj(wbits=31).decompress(data, _HEAD)
        except zlib.error:
            return b""
    return data[:_HEAD]


def aggregation_rows(data: bytes, name: str) -> Iterator[_Raw] | None:
    """The raw rows of an aggregation result (bytes, gzip undone), or None when ``data`` is JSON that is
    not one (a measurement that merely mentions the count names)."""
    data = data.removeprefix(BOM)
    body = data.lstrip()
    if not body.startswith((b"{", b"[")):
        return _csv_rows(data, name)
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(doc, dict) and "result" in doc and isinstance(doc["result"], (list, dict)):
        doc = doc["result"]
    items = doc if isinstance(doc, list) else [doc]
    first = next((i for i in items if isinstance(i, dict)), None)
    if first is None or "measurement_count" not in first or _MEASUREMENT_KEYS & set(first):
        return None
    return _json_rows(items, name)


def read_aggregation(
    data: bytes, name: str, dimensions: Mapping[str, str] | None = None
) -> Iterator[AggregateRow | Problem]:
    """Parse a whole aggregation result (bytes, gzip undone by the caller)."""
    dims = dict(dimensions or {})
    problem = check_dimensions(dims)
    if problem:
        yield Problem(name, 0, f"dimension: {problem}")
        return
    rows = aggregation_rows(data, name)
    if rows is None:
        yield Problem(name, 0, "not an OONI aggregation result (JSON without count rows)")
        return
    yield from build_rows(rows, name, dims)


def read_aggregation_url(
    url: str, fetcher: Fetcher, dimensions: Mapping[str, str] | None = None
) -> Iterator[AggregateRow | Problem | Opened]:
    """Download an API URL through the cache (a day's copy is reused; mirrors apply) and read it; the
    URL's query parameters are dimensions, ``dimensions`` add to them."""
    try:
        dims = {**url_dimensions(url), **(dimensions or {})}
    except InputError as exc:
        yield Opened(url, None)
        yield Problem(url, 0, exc.args[0] if exc.args else str(exc))
        return
    try:
        path = fetcher.fetch(url, max_age=86_400)
        data = path.read_bytes()
    except (FetchError, OSError) as exc:
        yield Opened(url, None)
        yield Problem(url, 0, f"download failed: {exc}")
        return
    yield Opened(url, len(data))
    if data.startswith(b"\x1f\x8b"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            yield Problem(url, 0, f"not a valid gzip answer ({exc})")
            return
    if not looks_like_aggregation(data[:_HEAD]):
        yield Problem(url, 0, "the answer is not an OONI aggregation result")
        return
    yield from read_aggregation(data, url, dims)


# -- parsing ------------------------------------------------------------------------------------------------


def _json_rows(items: list[Any], name: str) -> Iterator[_Raw]:
    for number, item in enumerate(items, 1):
        if isinstance(item, dict):
            yield number, item
        else:
            yield Problem(name, number, f"a result row must be a JSON object, not {_type(item)}")


def _csv_rows(data: bytes, name: str) -> Iterator[_Raw]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Problem(name, 0, f"invalid UTF-8 at byte {exc.start}")
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        yield Problem(name, 0, "no CSV header")
        return
    columns = [h.strip().lower() for h in header]
    width = len(columns)
    try:
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                yield Problem(name, line, f"{len(row)} fields where the header has {width}")
                continue
            yield line, dict(zip(columns, row, strict=True))
    except csv.Error as exc:
        yield Problem(name, reader.line_num, f"invalid CSV: {exc}; the rest of the file was not read")


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


class _Bad(ValueError):
    pass


def _count(value: Any, key: str) -> int:
    kind = type(value)
    if kind is int and value >= 0:
        return int(value)
    if kind is str and value.isdigit():
        return int(value)
    if isinstance(value, bool) or value is None:
        raise _Bad(f"{key} must be a non-negative integer, not {_type(value)}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        n = int(value.strip())
    else:
        shown = repr(value) if isinstance(value, (str, float)) else _type(value)
        raise _Bad(f"{key} must be a non-negative integer, not {shown}")
    if n < 0:
        raise _Bad(f"{key} is negative ({n})")
    return n


def _cc(value: Any) -> str:
    if not isinstance(value, str) or not _CC.match(value.strip()):
        raise _Bad(f"probe_cc must be a two-letter country code, not {value!r}")
    return value.strip().upper()


def _asn(value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad("probe_asn must be a number or ASnnn, not a boolean")
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and (m := _ASN.match(value.strip())):
        n = int(m.group(1))
    else:
        raise _Bad(f"probe_asn must be a number or ASnnn, not {value!r}")
    if not 0 <= n <= _MAX_ASN:
        raise _Bad(f"probe_asn {n} is out of range")
    return n


def _text(value: Any, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(f"{key} must be a string, not {_type(value)}")
    if len(value) > _MAX_TEXT:
        raise _Bad(f"{key} is longer than {_MAX_TEXT} characters")
    return value.strip()


def _parse_time(value: Any) -> dt.datetime:
    """An API time value as UTC: ``YYYY-MM-DD``, ISO date-times (``Z``, offsets, fractions), ``YYYY-MM``,
    ``YYYY``."""
    if not isinstance(value, str):
        raise _Bad(f"time must be a string, not {_type(value)}")
    text = value.strip()
    if m := _MONTH.match(text):
        return dt.datetime(int(m.group(1)), int(m.group(2)), 1, tzinfo=dt.UTC)
    if m := _YEAR.match(text):
        return dt.datetime(int(m.group(1)), 1, 1, tzinfo=dt.UTC)
    try:
        when = dt.datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        raise _Bad(f"not a date or time: {value!r}") from None
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def _infer_grain(starts: set[dt.datetime]) -> Grain:
    if any(s.hour or s.minute or s.second or s.microsecond for s in starts):
        return Grain.HOUR
    if len(starts) < 2:
        return Grain.DAY
    ordered = sorted(starts)
    gaps = [(b - a).days for a, b in itertools.pairwise(ordered)]
    if all(s.month == 1 and s.day == 1 for s in starts) and min(gaps) >= 365:
        return Grain.YEAR
    if all(s.day == 1 for s in starts) and min(gaps) >= 28:
        return Grain.MONTH
    if len({s.weekday() for s in starts}) == 1 and min(gaps) >= 7:
        return Grain.WEEK
    return Grain.DAY


_KNOWN = frozenset({*COUNTS, *DIMENSIONS, *TIME_COLUMNS})
_TIME_KEYS = tuple(TIME_COLUMNS)


def build_rows(rows: Iterator[_Raw], name: str, dims: Mapping[str, str]) -> Iterator[AggregateRow | Problem]:
    """Validate the rows; the grain needs every row's time first, so rows are held (they are small)."""
    given_grain = dims.get("time_grain", "auto").lower()
    since = _parse_time(dims["since"]) if "since" in dims else None
    until = _parse_time(dims["until"]) if "until" in dims else None
    fixed: dict[str, Any] = {k: dims[k] for k in DIMENSIONS if k in dims}
    times = _Memo(_parse_time)
    held: list[tuple[int, dict[str, Any], dt.datetime | None, str | None]] = []
    starts: set[dt.datetime] = set()
    for raw in rows:
        if isinstance(raw, Problem):
            yield raw
            continue
        line, fields = raw
        try:
            if not fields.keys() <= _KNOWN:
                _check_unknown(fields)
            time_keys = [k for k in _TIME_KEYS if fields.get(k) not in (None, "")]
            if len(time_keys) > 1:
                raise _Bad(f"two time axes: {time_keys[0]} and {time_keys[1]}")
            start = times(fields[time_keys[0]]) if time_keys else None
            column_grain = TIME_COLUMNS[time_keys[0]] if time_keys else None
            if start is None and (since is None or until is None):
                raise _Bad(
                    f"missing dimension {TIME_AXIS}: no time axis, and no since and until "
                    "(give --dimension since=… --dimension until=…)"
                )
        except _Bad as exc:
            yield Problem(name, line, str(exc))
            continue
        if start is not None:
            starts.add(start)
        held.append((line, fields, start, column_grain))
    inferred = _infer_grain(starts) if given_grain == "auto" else Grain(given_grain)
    maker = _RowMaker(name, fixed, since, until)
    seen: dict[tuple[Any, ...], int] = {}
    for line, fields, start, column_grain in held:
        try:
            grain = Grain(column_grain) if column_grain else inferred
            row = maker.row(line, fields, start, grain)
        except _Bad as exc:
            yield Problem(name, line, str(exc))
            continue
        key = (
            row.grain,
            row.start,
            row.end,
            row.probe_cc,
            row.test_name,
            row.probe_asn,
            row.domain,
            row.input,
            row.category_code,
            row.blocking_type,
        )
        first = seen.setdefault(key, line)
        if first != line:
            yield Problem(name, line, f"the same cell as line {first} (dimensions and period repeat)")
            continue
        yield row


def _check_unknown(fields: Mapping[str, Any]) -> None:
    unknown = sorted(k for k, v in fields.items() if k not in _KNOWN and v not in ("", None))
    if unknown:
        if _MEASUREMENT_KEYS & set(fields):
            raise _Bad("a measurement, not an aggregation row")
        raise _Bad(f"unknown axis {unknown[0]!r} (axes: {', '.join(sorted(_KNOWN - set(COUNTS)))})")


class _Memo:
    """A function of one hashable value, remembered: exports repeat the same days, countries, networks and
    test names on every row, and normalising them once is most of the speed of reading."""

    def __init__(self, fn: Any) -> None:
        self._fn = fn
        self._known: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        try:
            return self._known[value]
        except KeyError:
            out = self._known[value] = self._fn(value)
            return out
        except TypeError:  # unhashable (a list where a value belongs): let the function say why
            return self._fn(value)


class _RowMaker:
    def __init__(
        self,
        name: str,
        fixed: Mapping[str, Any],
        since: dt.datetime | None,
        until: dt.datetime | None,
    ) -> None:
        self.name = name
        self.since = since
        self.until = until
        self.norm = {key: _Memo(functools.partial(_dimension, key)) for key in DIMENSIONS}
        self.fixed = {key: self.norm[key](value) for key, value in fixed.items()}
        self.raw_fixed = dict(fixed)
        self.ends = _Memo(lambda sg: period_end(*sg))

    def row(
        self, line: int, fields: Mapping[str, Any], start: dt.datetime | None, grain: Grain
    ) -> AggregateRow:
        try:
            anomaly = _count(fields["anomaly_count"], "anomaly_count")
            confirmed = _count(fields["confirmed_count"], "confirmed_count")
            failure = _count(fields["failure_count"], "failure_count")
            total = _count(fields["measurement_count"], "measurement_count")
            ok = _count(fields["ok_count"], "ok_count")
        except KeyError as exc:
            raise _Bad(f"missing field {exc.args[0]!r}") from None
        if anomaly > total or confirmed > total or failure > total or ok > total:
            key, value = max(
                (
                    ("anomaly_count", anomaly),
                    ("confirmed_count", confirmed),
                    ("failure_count", failure),
                    ("ok_count", ok),
                ),
                key=lambda kv: kv[1],
            )
            raise _Bad(f"{key} {value} is more than measurement_count {total}")
        if ok + anomaly > total:
            raise _Bad(f"ok_count + anomaly_count ({ok} + {anomaly}) is more than measurement_count {total}")
        values: dict[str, Any] = {}
        fixed = self.fixed
        for key in DIMENSIONS:
            if key in fields:
                mine = self.norm[key](fields[key])
                if key in fixed and mine != fixed[key]:
                    raise _Bad(f"{key} {mine!r} contradicts the dimension {key}={self.raw_fixed[key]}")
                values[key] = mine
            else:
                values[key] = fixed.get(key)
        for key in ("probe_cc", "test_name"):
            if not values[key]:
                raise _Bad(f"missing dimension {key}: not in the row, and not given (--dimension {key}=…)")
        if start is None:
            assert self.since is not None and self.until is not None  # checked when the row was read
            if self.since >= self.until:
                raise _Bad("since is not before until")
            grain, begin, end = Grain.RANGE, self.since, self.until
        else:
            begin, end = start, self.ends((start, grain))
        return AggregateRow(
            file=self.name,
            line=line,
            grain=grain,
            start=begin,
            end=end,
            probe_cc=values["probe_cc"],
            test_name=values["test_name"],
            probe_asn=values["probe_asn"],
            domain=values["domain"],
            input=values["input"],
            category_code=values["category_code"],
            blocking_type=values["blocking_type"],
            anomaly_count=anomaly,
            confirmed_count=confirmed,
            failure_count=failure,
            measurement_count=total,
            ok_count=ok,
        )


def _dimension(key: str, value: Any) -> Any:
    if key == "probe_cc":
        return _cc(value)
    if key == "probe_asn":
        return _asn(value)
    if key == "test_name":
        text = _text(value, key)
        if not text:
            raise _Bad("test_name is empty")
        return canonical_test(text)
    text = _text(value, key)
    if key == "domain":
        return text.lower()
    if key == "category_code":
        return text.upper()
    return text

"""OONI aggregation results: the vocabulary shared by their reader, the store, evidence and the API.

OONI's aggregation API (``/api/v1/aggregation``) answers counts of measurements per cell of up to two axes,
the query's filters fixing the other dimensions.  netfreedom stores each such row as an ``AggregateRow``
whose every dimension is either *bound* (an axis of the export, a filter of the query, or a
``--dimension`` given at ingest) or unbound (NULL: the row counts every value of it).  The set of bound
optional dimensions is the row's *layer*: two exports of the same data at different breakdowns (per day,
and per day × network) are two layers, and a consumer reads exactly one layer per country and test, so
nothing is counted twice (``layer_sql``).

How netfreedom's verdicts map onto OONI's counts (the same mapping answers OONI-shaped queries over raw
measurements): ``measurement_count`` = every verdict, ``ok_count`` = outcome ``ok``, ``anomaly_count`` =
outcome ``blocked`` (confirmed or not), ``confirmed_count`` = ``confirmed`` (a subset of the anomalies),
``failure_count`` = outcome ``down`` or ``inconclusive``.  So ``ok + anomaly + failure = measurement`` for
verdicts; OONI's own rows keep ``ok + anomaly <= measurement``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from enum import StrEnum

import msgspec

# The count columns of an OONI aggregation row, in the API's order.
COUNTS = ("anomaly_count", "confirmed_count", "failure_count", "measurement_count", "ok_count")
# Dimensions every stored row has bound: which country and which test it counts.
REQUIRED = ("probe_cc", "test_name")
# Dimensions a row may leave unbound (it then counts every value).  Their order is the layer's spelling.
OPTIONAL = ("probe_asn", "domain", "input", "category_code", "blocking_type")
DIMENSIONS = REQUIRED + OPTIONAL
# The time axis, under OONI's name, and the names of the other grains a file may use for it.
TIME_AXIS = "measurement_start_day"
TIME_COLUMNS = {
    "measurement_start_day": None,  # the grain is the query's time_grain, or read from the values
    "measurement_start_hour": "hour",
    "measurement_start_week": "week",
    "measurement_start_month": "month",
    "measurement_start_year": "year",
}
AXES = (TIME_AXIS, *DIMENSIONS)

# Test names OONI publishes; a name written without underscores (``webconnectivity``, as OONI Explorer's
# URLs and older tools do) is read as the one here.  Other names are kept as given.
OONI_TESTS = (
    "web_connectivity",
    "http_requests",
    "dns_consistency",
    "http_invalid_request_line",
    "http_header_field_manipulation",
    "http_host",
    "bridge_reachability",
    "tcp_connect",
    "meek_fronted_requests_test",
    "vanilla_tor",
    "tor",
    "torsf",
    "psiphon",
    "riseupvpn",
    "openvpn",
    "facebook_messenger",
    "telegram",
    "whatsapp",
    "signal",
    "ndt",
    "dash",
    "dnscheck",
    "stunreachability",
    "urlgetter",
    "echcheck",
    "simplequicping",
    "tlsmiddlebox",
    "portfiltering",
    "browser_web",
)
_BY_SQUASHED = {t.replace("_", ""): t for t in OONI_TESTS}


def canonical_test(name: str) -> str:
    """``webconnectivity`` / ``Web_Connectivity`` → ``web_connectivity``; unknown names lower-cased."""
    low = name.strip().lower()
    return _BY_SQUASHED.get(low.replace("_", ""), low)


class Grain(StrEnum):
    """How long a row's period is.  ``range``: the row has no time axis and covers the query's
    ``since``..``until``."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    RANGE = "range"


def period_end(start: dt.datetime, grain: Grain) -> dt.datetime:
    """The exclusive end of the period of ``grain`` starting at ``start`` (not for ``range``)."""
    if grain is Grain.HOUR:
        return start + dt.timedelta(hours=1)
    if grain is Grain.DAY:
        return start + dt.timedelta(days=1)
    if grain is Grain.WEEK:
        return start + dt.timedelta(days=7)
    if grain is Grain.MONTH:
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)
    if grain is Grain.YEAR:
        leap_day = (start.month, start.day) == (2, 29)
        return start.replace(year=start.year + 1, day=28 if leap_day else start.day)
    raise ValueError("a range has no fixed length")


def layer_of(bound: set[str] | frozenset[str]) -> str:
    """The layer name: the bound optional dimensions in ``OPTIONAL``'s order, comma-joined ('' = none)."""
    return ",".join(d for d in OPTIONAL if d in bound)


class AggregateRow(msgspec.Struct, frozen=True, kw_only=True):
    """One validated aggregation row.  Unbound optional dimensions are None; a bound one whose value was
    empty is '' (``probe_asn`` 0).  ``start``/``end`` (UTC, end exclusive) are the period it counts."""

    file: str
    line: int
    grain: Grain
    start: dt.datetime
    end: dt.datetime
    probe_cc: str
    test_name: str
    probe_asn: int | None
    domain: str | None
    input: str | None
    category_code: str | None
    blocking_type: str | None
    anomaly_count: int
    confirmed_count: int
    failure_count: int
    measurement_count: int
    ok_count: int

    @property
    def layer(self) -> str:
        return layer_of({d for d in OPTIONAL if getattr(self, d) is not None})


# The one definition of which aggregate rows count.  Raw verdicts win: an aggregate row is left out when
# the store holds verdicts of the same country and test on any day inside its period.  Of what is left, one
# layer per country and test is read — among the layers that bind every dimension in ``needed``, the one
# counting the most measurements in the window (the most complete), then the fewest bound dimensions.
RAW_DAYS_FROM_VERDICTS = (
    "SELECT DISTINCT probe_cc, test_name, CAST(measurement_start_time AS DATE) AS day FROM verdicts"
)


def raw_covers(alias: str) -> str:
    """SQL true when raw verdicts (the CTE ``raw_days``) cover the aggregate row ``alias``: same country
    and test, on a day inside its period."""
    return (
        f"EXISTS (SELECT 1 FROM raw_days r WHERE r.probe_cc = {alias}.probe_cc AND "
        f"r.test_name = {alias}.test_name AND r.day >= CAST({alias}.period_start AS DATE) AND "
        f"CAST(r.day AS TIMESTAMPTZ) < {alias}.period_end)"
    )


def layer_sql(needed: tuple[str, ...] = (), *, where: str = "TRUE", raw_days: str | None = None) -> str:
    """A SELECT of the ``aggregates`` rows a consumer should read (all columns), for a query that needs
    the optional dimensions ``needed`` bound and keeps the rows matching ``where`` (SQL over the
    ``aggregates`` columns, alias-free, parameters left to the caller).  ``raw_days`` is a SELECT of the
    ``(probe_cc, test_name, day)`` that raw verdicts cover (``RAW_DAYS_FROM_VERDICTS``, or the same from a
    cube); None when the store has none."""
    for d in needed:
        if d not in OPTIONAL:
            raise ValueError(f"not an optional dimension: {d}")
    qualifies = " AND ".join(f"{d} IS NOT NULL" for d in needed) or "TRUE"
    shadow = f"AND NOT {raw_covers('a')}" if raw_days else ""
    return f"""WITH {f"raw_days AS ({raw_days})," if raw_days else ""}
    candidates AS (
        SELECT a.* FROM aggregates a WHERE ({qualifies}) AND ({where}) {shadow}
    ),
    layers AS (
        SELECT probe_cc, test_name, layer, grain, sum(measurement_count) AS total,
            length(layer) - length(replace(layer, ',', '')) + CAST(layer <> '' AS INTEGER) AS bound
        FROM candidates GROUP BY ALL
    ),
    chosen AS (
        SELECT probe_cc, test_name,
            arg_min(layer || '|' || grain, (-total, bound, grain, layer)) AS pick
        FROM layers GROUP BY ALL
    )
    SELECT c.* FROM candidates c JOIN chosen USING (probe_cc, test_name)
    WHERE c.layer || '|' || c.grain = chosen.pick"""

"""Aggregates of verdicts: per country and period, the share of tested URLs found blocked and confirmed, by
Citizen Lab category, by blocking method, by network (ASN) and by domain, each with the counts of
measurements and networks behind it.

The unit is the *tested URL*: a URL with at least one conclusive verdict (``ok`` or ``blocked``) in the
country and period.  A URL counts as blocked when at least ``majority`` of its conclusive verdicts are
``blocked`` (one probe on one bad afternoon is not a blocking policy), or when any verdict is confirmed by a
blockpage fingerprint.  Categories come from the ``testlists`` table (a country's own list first, then the
global and regional lists), joined on the verdict's domain.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pyarrow as pa

from netfreedom.errors import StoreError

# How evidence reads the store: one read-only SQL statement with parameters in, an Arrow table out
# (``Store.query``; evidence sits beside the store, so it is handed the function rather than importing it).
Query = Callable[[str, Sequence[object] | None], pa.Table]

UNCATEGORISED = "UNCAT"
DEFAULT_MAJORITY = 0.5


class Period(StrEnum):
    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"
    ALL = "all"  # one period: the whole window asked for


_PERIOD_SQL = {
    Period.YEAR: "strftime(v.t, '%Y')",
    Period.QUARTER: "strftime(v.t, '%Y') || '-Q' || CAST(quarter(v.t) AS VARCHAR)",
    Period.MONTH: "strftime(v.t, '%Y-%m')",
    Period.ALL: "'all'",
}


class Axis(StrEnum):
    CATEGORY = "category"
    METHOD = "method"  # dns / tcp / tls / http, or blockpage when a fingerprint confirmed it
    ASN = "asn"
    DOMAIN = "domain"


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One figure: in ``probe_cc`` during ``period``, of ``tested`` URLs under ``key``, how many blocked."""

    probe_cc: str
    period: str
    axis: Axis
    key: str
    label: str
    tested: int
    blocked: int
    confirmed: int
    measurements: int
    networks: int

    @property
    def share_blocked(self) -> float:
        return self.blocked / self.tested if self.tested else 0.0

    @property
    def share_confirmed(self) -> float:
        return self.confirmed / self.tested if self.tested else 0.0


@dataclass(slots=True)
class Grain:
    """Verdicts of one URL (or test) on one network in one country and period."""

    probe_cc: str
    period: str
    item: str  # URL for URL tests, test name otherwise
    domain: str
    asn: str
    network: str
    test_name: str
    categories: tuple[str, ...]
    measurements: int
    conclusive: int
    blocked: int
    confirmed: int
    methods: tuple[str, ...]


@dataclass(slots=True)
class Tally:
    measurements: int = 0
    conclusive: int = 0
    blocked: int = 0
    confirmed: int = 0
    asns: set[str] = field(default_factory=set)
    methods: set[str] = field(default_factory=set)

    def add(self, g: Grain) -> None:
        self.measurements += g.measurements
        self.conclusive += g.conclusive
        self.blocked += g.blocked
        self.confirmed += g.confirmed
        if g.asn:
            self.asns.add(g.asn)
        self.methods.update(g.methods)

    def is_blocked(self, majority: float) -> bool:
        return self.confirmed > 0 or (self.blocked > 0 and self.blocked >= majority * self.conclusive)


def has_table(query: Query, name: str) -> bool:
    table = query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ?", [name])
    return bool(table.column("n")[0].as_py())


def fetch(query: Query, sql: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
    """Rows of a query as tuples."""
    table = query(sql, params)
    columns = [c.to_pylist() for c in table.columns]
    return list(zip(*columns, strict=True)) if columns else []


_GRAIN_SQL = """
WITH v AS (
    SELECT probe_cc AS cc,
           timezone('UTC', measurement_start_time) AS t,
           CASE WHEN input LIKE 'http%' THEN input ELSE test_name END AS item,
           input LIKE 'http%' AS is_url,
           lower(coalesce(domain, '')) AS domain,
           coalesce(probe_asn, '') AS asn,
           coalesce(probe_network_name, '') AS network,
           test_name, outcome, confirmed,
           CASE WHEN confirmed THEN 'blockpage' ELSE coalesce(layer, 'unknown') END AS method
    FROM verdicts
    WHERE measurement_start_time >= ? AND measurement_start_time < ? {cc_filter}
),
tl AS (SELECT upper(coalesce(cc, '')) AS cc, lower(domain) AS domain, category_code FROM {testlists}),
listed_own AS (SELECT cc, domain, list(DISTINCT category_code ORDER BY category_code) AS cats
        FROM tl WHERE length(cc) = 2 GROUP BY ALL),
listed_global AS (SELECT domain, list(DISTINCT category_code ORDER BY category_code) AS cats
         FROM tl WHERE length(cc) <> 2 GROUP BY ALL)
SELECT v.cc, {period} AS period, v.item, any_value(v.domain), v.asn, any_value(v.network),
       any_value(v.test_name),
       any_value(CASE WHEN v.is_url THEN coalesce(listed_own.cats, listed_global.cats) END) AS cats,
       count(*) AS n,
       count(*) FILTER (WHERE v.outcome IN ('ok', 'blocked')) AS conclusive,
       count(*) FILTER (WHERE v.outcome = 'blocked') AS blocked,
       count(*) FILTER (WHERE v.confirmed) AS confirmed,
       list(DISTINCT v.method ORDER BY v.method) FILTER (WHERE v.outcome = 'blocked') AS methods
FROM v
LEFT JOIN listed_own ON listed_own.cc = v.cc AND listed_own.domain = v.domain
LEFT JOIN listed_global ON listed_global.domain = v.domain
GROUP BY v.cc, period, v.item, v.asn
ORDER BY v.cc, period, v.item, v.asn
"""


def grains(
    query: Query,
    since: dt.date,
    until: dt.date,
    *,
    period: Period = Period.ALL,
    probe_cc: str | None = None,
) -> list[Grain]:
    """Verdicts in [since, until) grouped by country, period, URL (or test) and network."""
    if not has_table(query, "verdicts"):
        raise StoreError("the store has no verdicts yet: run `netfreedom analyze` first")
    testlists = (
        "testlists"
        if has_table(query, "testlists")
        else (
            "(SELECT NULL::VARCHAR AS cc, NULL::VARCHAR AS domain, NULL::VARCHAR AS category_code "
            "WHERE false)"
        )
    )
    sql = _GRAIN_SQL.format(
        cc_filter="AND probe_cc = ?" if probe_cc else "",
        testlists=testlists,
        period=_PERIOD_SQL[period],
    )
    start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC)
    params: list[Any] = [start, end] + ([probe_cc.upper()] if probe_cc else [])
    rows = fetch(query, sql, params)
    return [
        Grain(
            probe_cc=r[0],
            period=r[1],
            item=r[2],
            domain=r[3],
            asn=r[4],
            network=r[5],
            test_name=r[6],
            categories=tuple(r[7]) if r[7] else ((UNCATEGORISED,) if r[2].startswith("http") else ()),
            measurements=r[8],
            conclusive=r[9],
            blocked=r[10],
            confirmed=r[11],
            methods=tuple(r[12] or ()),
        )
        for r in rows
    ]


def summarise(
    rows: Iterable[Grain],
    axis: Axis,
    *,
    majority: float = DEFAULT_MAJORITY,
    labels: dict[str, str] | None = None,
) -> list[Aggregate]:
    """Fold grains (URL tests only) into one figure per country × period × key of ``axis``."""
    # (cc, period, key) -> url -> tally; a URL counts once per key, however many networks tested it.
    per_key: dict[tuple[str, str, str], dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    names: dict[str, str] = dict(labels or {})
    for g in rows:
        if not g.item.startswith("http"):
            continue
        if axis is Axis.CATEGORY:
            keys: Iterable[str] = g.categories
        elif axis is Axis.ASN:
            keys = (g.asn or "unknown",)
            if g.network:
                names.setdefault(g.asn or "unknown", g.network)
        elif axis is Axis.DOMAIN:
            keys = (g.domain,)
        else:
            keys = ("all",)
        for key in keys:
            per_key[(g.probe_cc, g.period, key)][g.item].add(g)
    out: list[Aggregate] = []
    if axis is Axis.METHOD:
        # A URL counts under every method it was blocked by; tested = every tested URL in the country.
        for (cc, period, _), urls in sorted(per_key.items()):
            tested = [t for t in urls.values() if t.conclusive]
            by_method: dict[str, list[Tally]] = defaultdict(list)
            for t in tested:
                if t.is_blocked(majority):
                    for m in t.methods:
                        by_method[m].append(t)
            for method, ts in sorted(by_method.items()):
                out.append(_aggregate((cc, period, axis), method, method, len(tested), ts, majority=majority))
        return out
    for (cc, period, key), urls in sorted(per_key.items()):
        tested = [t for t in urls.values() if t.conclusive]
        # Measurements and networks count everything behind the key, inconclusive ones included.
        out.append(
            _aggregate(
                (cc, period, axis),
                key,
                names.get(key, ""),
                len(tested),
                list(urls.values()),
                majority=majority,
            )
        )
    return out


def _aggregate(
    where: tuple[str, str, Axis], key: str, label: str, n_tested: int, ts: list[Tally], *, majority: float
) -> Aggregate:
    cc, period, axis = where
    asns: set[str] = set()
    for t in ts:
        asns |= t.asns
    return Aggregate(
        probe_cc=cc,
        period=period,
        axis=axis,
        key=key,
        label=label,
        tested=n_tested,
        blocked=sum(1 for t in ts if t.conclusive and t.is_blocked(majority)),
        confirmed=sum(1 for t in ts if t.conclusive and t.confirmed),
        measurements=sum(t.measurements for t in ts),
        networks=len(asns),
    )


def evidence_table(
    query: Query,
    axis: Axis,
    since: dt.date,
    until: dt.date,
    *,
    period: Period = Period.YEAR,
    probe_cc: str | None = None,
    majority: float = DEFAULT_MAJORITY,
) -> list[Aggregate]:
    """Per country × period × ``axis``: tested URLs, blocked, confirmed, measurements, networks."""
    return summarise(grains(query, since, until, period=period, probe_cc=probe_cc), axis, majority=majority)

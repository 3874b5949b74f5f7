"""The grain form of the evidence aggregates: verdicts grouped by country, period, URL (or test) and network,
folded into figures in Python by ``summarise``.

A grain never spans two countries, so grains can be computed per country anywhere (the Dask engine runs
``grains`` per country folder on its workers) and folded in one place.  ``summarise(grains(...), axis)`` gives
exactly the figures of ``aggregate.evidence_table`` (which folds everything inside the store in one SQL
statement, and is what the local engine uses); a test holds the two to the same answers.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from netfreedom.evidence.base import (
    DEFAULT_MAJORITY,
    Aggregate,
    Axis,
    Period,
    Query,
    base_sql,
    fetch,
    window_params,
)


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
    is_url: bool = True


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


# max(), not any_value(): a URL measured by two tests must give the same grain on every engine and run.
_GRAIN_TAIL = """
SELECT cc, period, item, max(domain), asn, max(network), max(test_name), max(cats),
       count(*) AS n, count(*) FILTER (WHERE conclusive), count(*) FILTER (WHERE blocked),
       count(*) FILTER (WHERE confirmed),
       list(DISTINCT method ORDER BY method) FILTER (WHERE blocked) AS methods,
       bool_or(is_url)
FROM vc
GROUP BY cc, period, item, asn
ORDER BY cc, period, item, asn
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
    rows = fetch(
        query, base_sql(query, period, probe_cc) + _GRAIN_TAIL, window_params(since, until, probe_cc)
    )
    return [
        Grain(
            probe_cc=r[0],
            period=r[1],
            item=r[2],
            domain=r[3],
            asn=r[4],
            network=r[5],
            test_name=r[6],
            categories=tuple(r[7] or ()),
            measurements=r[8],
            conclusive=r[9],
            blocked=r[10],
            confirmed=r[11],
            methods=tuple(r[12] or ()),
            is_url=bool(r[13]),
        )
        for r in rows
    ]


def summarise(
    rows: Iterable[Grain],
    axis: Axis,
    *,
    majority: float = DEFAULT_MAJORITY,
) -> list[Aggregate]:
    """Fold grains (URL tests only) into one figure per country × period × key of ``axis``; the same figures,
    in the same order, as ``aggregate.evidence_table``."""
    # (cc, period, key) -> url -> tally; a URL counts once per key, however many networks tested it.
    per_key: dict[tuple[str, str, str], dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    names: dict[tuple[str, str, str], str] = {}  # (cc, period, ASN) -> network name
    for g in rows:
        if not g.is_url:
            continue
        if axis is Axis.CATEGORY:
            keys: Iterable[str] = g.categories
        elif axis is Axis.ASN:
            keys = (g.asn or "unknown",)
            where = (g.probe_cc, g.period, keys[0])
            names[where] = max(names.get(where, ""), g.network)
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
                names.get((cc, period, key), ""),
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

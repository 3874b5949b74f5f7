"""Aggregates of verdicts: per country and period, the share of tested URLs found blocked and confirmed, by
Citizen Lab category, by blocking method, by network (ASN) and by domain, each with the counts of
measurements and networks behind it.

The unit is the *tested URL*: a URL with at least one conclusive verdict (``ok`` or ``blocked``) in the
country and period.  A URL counts as blocked when at least ``majority`` of its conclusive verdicts are
``blocked`` (one probe on one bad afternoon is not a blocking policy), or when any verdict is confirmed by a
blockpage fingerprint.  Categories come from the ``testlists`` table (a country's own list first, then the
global and regional lists), joined on the verdict's domain.

All counting happens in SQL, in the store: millions of verdicts fold into one row per figure.
"""

from __future__ import annotations

import datetime as dt

from netfreedom.evidence.base import (
    DEFAULT_MAJORITY,
    IS_BLOCKED_SQL,
    UNCATEGORISED,
    Aggregate,
    Axis,
    Period,
    Query,
    base_sql,
    fetch,
    has_table,
    window_params,
)
from netfreedom.evidence.grains import Grain, Tally, grains, summarise

__all__ = [
    "DEFAULT_MAJORITY",
    "UNCATEGORISED",
    "Aggregate",
    "Axis",
    "Grain",
    "Period",
    "Query",
    "Tally",
    "evidence_table",
    "fetch",
    "grains",
    "has_table",
    "summarise",
]

_BY_KEY = """,
keyed AS (SELECT cc, period, {key} AS key, item, asn, network, conclusive, blocked, confirmed FROM vc
          WHERE is_url),
items AS (SELECT cc, period, key, item, count(*) AS n, count(*) FILTER (WHERE conclusive) AS c,
                 count(*) FILTER (WHERE blocked) AS b, count(*) FILTER (WHERE confirmed) AS f
          FROM keyed GROUP BY ALL),
per_key AS (SELECT cc, period, key,
                   count(*) FILTER (WHERE c > 0) AS tested,
                   count(*) FILTER (WHERE c > 0 AND {is_blocked}) AS blocked_urls,
                   count(*) FILTER (WHERE c > 0 AND f > 0) AS confirmed_urls,
                   sum(n) AS measurements
            FROM items GROUP BY ALL),
nets AS (SELECT cc, period, key, count(DISTINCT nullif(asn, '')) AS networks, max(network) AS label
         FROM keyed GROUP BY ALL)
SELECT p.cc, p.period, p.key, {label}, p.tested, p.blocked_urls, p.confirmed_urls, p.measurements, n.networks
FROM per_key p JOIN nets n USING (cc, period, key)
ORDER BY p.cc, p.period, p.key
"""

_BY_METHOD = """,
items AS (SELECT cc, period, item, count(*) AS n, count(*) FILTER (WHERE conclusive) AS c,
                 count(*) FILTER (WHERE blocked) AS b, count(*) FILTER (WHERE confirmed) AS f
          FROM vc WHERE is_url GROUP BY ALL),
tested AS (SELECT cc, period, count(*) FILTER (WHERE c > 0) AS tested FROM items GROUP BY ALL),
blocked_items AS (SELECT * FROM items WHERE c > 0 AND {is_blocked}),
item_methods AS (SELECT DISTINCT cc, period, item, method FROM vc WHERE is_url AND blocked),
per_method AS (SELECT m.cc, m.period, m.method AS key, count(*) AS blocked_urls,
                      count(*) FILTER (WHERE bi.f > 0) AS confirmed_urls, sum(bi.n) AS measurements
               FROM item_methods m JOIN blocked_items bi USING (cc, period, item) GROUP BY ALL),
nets AS (SELECT m.cc, m.period, m.method AS key, count(DISTINCT nullif(vc.asn, '')) AS networks
         FROM item_methods m JOIN blocked_items USING (cc, period, item)
         JOIN vc ON vc.cc = m.cc AND vc.period = m.period AND vc.item = m.item
         GROUP BY ALL)
SELECT p.cc, p.period, p.key, p.key, t.tested, p.blocked_urls, p.confirmed_urls, p.measurements,
       coalesce(n.networks, 0)
FROM per_method p JOIN tested t USING (cc, period) LEFT JOIN nets n USING (cc, period, key)
ORDER BY p.cc, p.period, p.key
"""

_KEYS = {
    Axis.CATEGORY: ("unnest(cats)", "''"),
    Axis.DOMAIN: ("domain", "''"),
    Axis.ASN: ("CASE WHEN asn = '' THEN 'unknown' ELSE asn END", "n.label"),
}


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
    """Per country × period × ``axis`` key, over [since, until): tested URLs, blocked, confirmed,
    measurements (inconclusive ones included) and networks behind them.

    For ``Axis.METHOD`` a URL counts under every method it was blocked by, and ``tested`` is every tested URL
    of the country and period.  ``grains.summarise(grains.grains(...), axis)`` gives the same rows.
    """
    base = base_sql(query, period, probe_cc)
    if axis is Axis.METHOD:
        tail = _BY_METHOD.format(is_blocked=IS_BLOCKED_SQL)
    else:
        key, label = _KEYS[axis]
        tail = _BY_KEY.format(key=key, label=label, is_blocked=IS_BLOCKED_SQL)
    rows = fetch(query, base + tail, [*window_params(since, until, probe_cc), majority])
    return [
        Aggregate(
            probe_cc=r[0],
            period=r[1],
            axis=axis,
            key=r[2],
            label=r[3] or "",
            tested=int(r[4]),
            blocked=int(r[5]),
            confirmed=int(r[6]),
            measurements=int(r[7]),
            networks=int(r[8]),
        )
        for r in rows
    ]

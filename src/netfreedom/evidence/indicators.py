"""Evidence figures for a methodology's rules: per country, what the measurements say about each indicator
the methodology maps to evidence (e.g. B1 ← blocking of news, political and human-rights URLs)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from netfreedom.evidence.base import (
    DEFAULT_MAJORITY,
    IS_BLOCKED_SQL,
    Period,
    Query,
    base_sql,
    fetch,
    window_params,
)
from netfreedom.index.methodology import EvidenceRule, Measure, Methodology
from netfreedom.index.results import EvidenceFigure

# Items of one rule per country.  Parameter after the window: the rule's categories or tests; then majority.
_FIGURE = """,
chosen AS (SELECT * FROM vc WHERE {match}),
items AS (SELECT cc, item, count(*) AS n, count(*) FILTER (WHERE conclusive) AS c,
                 count(*) FILTER (WHERE blocked) AS b, count(*) FILTER (WHERE confirmed) AS f
          FROM chosen GROUP BY ALL),
per_cc AS (SELECT cc, count(*) FILTER (WHERE c > 0) AS tested,
                  count(*) FILTER (WHERE c > 0 AND {is_blocked}) AS blocked_items,
                  count(*) FILTER (WHERE c > 0 AND f > 0) AS confirmed_items,
                  sum(n) AS measurements
           FROM items GROUP BY cc),
nets AS (SELECT cc, count(DISTINCT nullif(asn, '')) AS networks FROM chosen GROUP BY cc)
SELECT p.cc, p.tested, p.blocked_items, p.confirmed_items, p.measurements, n.networks
FROM per_cc p JOIN nets n USING (cc)
"""

_MATCH = {
    Measure.URL_BLOCKING: "is_url AND list_has_any(cats, ?::VARCHAR[])",
    Measure.TEST_BLOCKING: "NOT is_url AND list_contains(?::VARCHAR[], test_name)",
}


def indicator_figures(
    query: Query,
    methodology: Methodology,
    year: int,
    *,
    majority: float = DEFAULT_MAJORITY,
) -> dict[str, list[EvidenceFigure]]:
    """iso2 → one figure per evidence rule, over the methodology's coverage period for edition ``year``.

    Every country with any verdict in the period gets a figure for every rule (possibly ``tested = 0``), so
    the engine can tell "no evidence" from "not looked at".
    """
    since, until = methodology.coverage(year)
    period = f"{since.isoformat()}/{until.isoformat()}"
    base = base_sql(query, Period.ALL, None)
    window = window_params(since, until, None)
    countries = [r[0] for r in fetch(query, base + " SELECT DISTINCT cc FROM v ORDER BY cc", window)]
    out: dict[str, list[EvidenceFigure]] = {cc: [] for cc in countries}
    for rule in methodology.evidence:
        if rule.measure is Measure.EVENTS:
            continue
        values = list(rule.categories if rule.measure is Measure.URL_BLOCKING else rule.tests)
        sql = base + _FIGURE.format(match=_MATCH[rule.measure], is_blocked=IS_BLOCKED_SQL)
        found = {r[0]: r[1:] for r in fetch(query, sql, [*window, values, majority])}
        for cc in countries:
            tested, blocked, confirmed, measurements, networks = found.get(cc, (0, 0, 0, 0, 0))
            out[cc].append(
                EvidenceFigure(
                    iso2=cc,
                    indicator=rule.indicator,
                    measure=rule.measure,
                    tested=int(tested),
                    blocked=int(blocked),
                    confirmed=int(confirmed),
                    measurements=int(measurements),
                    networks=int(networks),
                    period=period,
                )
            )
    event_rules = [r for r in methodology.evidence if r.measure is Measure.EVENTS]
    if event_rules:
        for cc, figures in event_figures(query, event_rules, since, until).items():
            out.setdefault(cc, []).extend(figures)
    return out


def _describe_event(e: dict[str, Any]) -> str:
    end = e["end"].isoformat() if e["end"] else ("ongoing" if e["ongoing"] else "?")
    area = (e["area"] or "")[:60] + ("…" if len(e["area"] or "") > 60 else "")
    what = str(e["kind"]).replace("_", " ") + (" (detected)" if e["detected"] else "")
    return f"{e['start'].isoformat()}..{end} {what}" + (f", {area}" if area else "") + f" [{e['id']}]"


def event_figures(
    query: Query, rules: Sequence[EvidenceRule], since: dt.date, until: dt.date
) -> dict[str, list[EvidenceFigure]]:
    """iso2 → one figure per events rule, for every country with an event touching ``[since, until)``
    (the ``events`` evidence measure): curated events of the rule's kinds in ``blocked``, detected ones in
    ``confirmed``, each described in ``events``, curated first."""
    from netfreedom.evidence.model import Window, evidence

    window = Window(since, until)
    out: dict[str, list[EvidenceFigure]] = {}
    for row in evidence(query, "events", window=window).to_pylist():
        for rule in rules:
            mine = [e for e in row["events"] if e["kind"] in rule.kinds]
            curated = [e for e in mine if not e["detected"]]
            detected = [e for e in mine if e["detected"]]
            out.setdefault(row["country"], []).append(
                EvidenceFigure(
                    iso2=row["country"],
                    indicator=rule.indicator,
                    measure=Measure.EVENTS,
                    tested=len(mine),
                    blocked=len(curated),
                    confirmed=len(detected),
                    measurements=0,
                    networks=0,
                    period=window.label,
                    events=tuple(_describe_event(e) for e in [*curated, *detected]),
                )
            )
    return out

"""Evidence figures for a methodology's rules: per country, what the measurements say about each indicator
the methodology maps to evidence (e.g. B1 ← blocking of news, political and human-rights URLs)."""

from __future__ import annotations

from collections import defaultdict

from netfreedom.evidence.aggregate import DEFAULT_MAJORITY, Grain, Query, Tally, grains
from netfreedom.index.methodology import EvidenceRule, Measure, Methodology
from netfreedom.index.results import EvidenceFigure


def figure(rule: EvidenceRule, cc: str, rows: list[Grain], *, majority: float, period: str) -> EvidenceFigure:
    """The figure for one rule from one country's grains."""
    items: dict[str, Tally] = defaultdict(Tally)
    wanted_cats = set(rule.categories)
    wanted_tests = set(rule.tests)
    for g in rows:
        if rule.measure is Measure.URL_BLOCKING:
            if g.item.startswith("http") and wanted_cats.intersection(g.categories):
                items[g.item].add(g)
        elif g.test_name in wanted_tests and not g.item.startswith("http"):
            items[g.test_name].add(g)
    tested = [t for t in items.values() if t.conclusive]
    asns: set[str] = set()
    for t in items.values():
        asns |= t.asns
    return EvidenceFigure(
        iso2=cc,
        indicator=rule.indicator,
        measure=rule.measure,
        tested=len(tested),
        blocked=sum(1 for t in tested if t.is_blocked(majority)),
        confirmed=sum(1 for t in tested if t.confirmed),
        measurements=sum(t.measurements for t in items.values()),  # inconclusive ones included
        networks=len(asns),
        period=period,
    )


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
    by_cc: dict[str, list[Grain]] = defaultdict(list)
    for g in grains(query, since, until):
        by_cc[g.probe_cc].append(g)
    return {
        cc: [figure(rule, cc, rows, majority=majority, period=period) for rule in methodology.evidence]
        for cc, rows in sorted(by_cc.items())
    }

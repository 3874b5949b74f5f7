"""Evidence figures for a methodology's rules: per country, what the measurements say about each indicator
the methodology maps to evidence (e.g. B1 ← blocking of news, political and human-rights URLs), computed by
the registered measures ``url_blocking`` and ``test_blocking`` over the edition's coverage period — or, for a
country without raw verdicts in that period, ``aggregate_items`` over OONI's published aggregates (the same
item rule on their counts; a URL rule needs exports broken down by input and category) — and what the record
of events says (the ``events`` measure) for the rules that read events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from netfreedom.evidence.facts import has_table, require_verdicts
from netfreedom.evidence.model import Filters, Query, Window, evidence
from netfreedom.index.methodology import EvidenceRule, Measure, Methodology
from netfreedom.index.results import EvidenceFigure


def coverage_window(methodology: Methodology, year: int) -> Window:
    """The window of edition ``year``: its coverage period, ``[since, until)``."""
    since, until = methodology.coverage(year)
    return Window(since, until)


def indicator_figures(
    query: Query, methodology: Methodology, year: int, *, level: float = 0.9
) -> dict[str, list[EvidenceFigure]]:
    """iso2 → one figure per evidence rule, over the methodology's coverage period for edition ``year``.

    Every country with any verdict in the period gets a figure for every measurement rule (possibly
    ``tested = 0``), so the engine can tell "no evidence" from "not looked at"; events rules add a figure
    for every country with an event in the period.
    """
    window = coverage_window(methodology, year)
    out: dict[str, list[EvidenceFigure]] = {}
    from_aggregates: list[str] = []
    if not has_table(query, "events"):
        require_verdicts(query)  # nothing to read at all: the store's error, not silence
    if has_table(query, "verdicts"):
        counts = evidence(query, "verdict_counts", window=window)
        raw = set(counts.column("country").to_pylist())
        known = evidence(query, "aggregate_rates", window=window).column("country").to_pylist()
        from_aggregates = sorted({cc for cc in known if cc and cc not in raw})
        out = {cc: [] for cc in sorted(raw | set(from_aggregates))}
    for rule in methodology.evidence:
        if rule.measure is Measure.EVENTS or not out:
            continue
        if rule.measure is Measure.URL_BLOCKING:
            flt = Filters(categories=rule.categories)
            table = evidence(query, "url_blocking", window=window, filters=flt, level=level)
        else:
            flt = Filters(tests=rule.tests)
            table = evidence(query, "test_blocking", window=window, filters=flt, level=level)
        found = {r["country"]: r for r in table.to_pylist()}
        if from_aggregates:
            items = evidence(query, "aggregate_items", window=window, filters=flt, level=level)
            found.update({r["country"]: r for r in items.to_pylist() if r["country"] in from_aggregates})
        for cc, figures in out.items():
            r = found.get(cc)
            figures.append(
                EvidenceFigure(
                    iso2=cc,
                    indicator=rule.indicator,
                    measure=rule.measure,
                    tested=r["tested"] if r else 0,
                    blocked=r["blocked"] if r else 0,
                    confirmed=r["confirmed"] if r else 0,
                    measurements=r["measurements"] if r else 0,
                    networks=r["networks"] if r else 0,
                    period=window.label,
                    blocked_low=r["blocked_low"] if r else 0.0,
                    blocked_high=r["blocked_high"] if r else 1.0,
                    confirmed_low=r["confirmed_low"] if r else 0.0,
                    confirmed_high=r["confirmed_high"] if r else 1.0,
                    examples=tuple(r["examples"]) if r else (),
                )
            )
    event_rules = [r for r in methodology.evidence if r.measure is Measure.EVENTS]
    if event_rules:
        for cc, figures in event_figures(query, event_rules, window.since, window.until).items():
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

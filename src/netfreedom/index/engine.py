"""The index engine: methodology + expert scores (+ evidence) → category and total scores, status,
competition rank, change from last year, score and rank intervals, and review flags.

Everything here is a pure function of its arguments; the same inputs (and the methodology's seed) give the
same result, bit for bit.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from netfreedom.index.countries import name_of
from netfreedom.index.methodology import EvidenceRule, Measure, Methodology, Scale
from netfreedom.index.results import (
    CategoryResult,
    CountryResult,
    EvidenceFigure,
    Flag,
    FlagKind,
    IndexResult,
)
from netfreedom.index.review import change_flags, evidence_flags
from netfreedom.index.scores import CountryScore


@dataclass(frozen=True, slots=True)
class Component:
    """One summand of a country's total: an indicator score, or a whole category when only that is known."""

    code: str
    category: str
    low: float
    high: float
    maximum: float

    @property
    def point(self) -> float:
        return (self.low + self.high) / 2


def components(score: CountryScore, methodology: Methodology) -> tuple[list[Component], list[str]]:
    """The summands of ``score`` (already on the methodology's scale) and the codes that are missing."""
    parts: list[Component] = []
    missing: list[str] = []
    for cat in methodology.categories:
        entry = score.categories.get(cat.code)
        if entry is not None:
            if entry.low is None or entry.high is None:
                missing.append(cat.code)
            else:
                parts.append(
                    Component(cat.code, cat.code, float(entry.low), float(entry.high), float(cat.max))
                )
            continue
        for ind in methodology.indicators_of(cat.code):
            ie = score.indicators.get(ind.code)
            if ie is None or ie.low is None or ie.high is None:
                missing.append(ind.code)
            else:
                parts.append(Component(ind.code, cat.code, float(ie.low), float(ie.high), float(ind.max)))
    return parts, missing


def competition_ranks(totals: Mapping[str, float], methodology: Methodology) -> dict[str, int]:
    """Standard competition ranking ("1224"): a country's rank is 1 + the number of strictly freer ones."""
    sign = 1.0 if methodology.scale is Scale.ZERO_BEST else -1.0
    ordered = sorted(sign * v for v in totals.values())
    return {iso2: bisect.bisect_left(ordered, sign * total) + 1 for iso2, total in totals.items()}


def _widen(
    parts: list[Component], code: str, less: float, more: float, methodology: Methodology
) -> list[Component]:
    """Add doubt to the component covering ``code``: ``less`` points of restriction below its range and
    ``more`` above (whatever the scale).  When only a category score is known, the doubt goes on the
    category that holds the indicator."""
    category = methodology.category_of(code)
    out = []
    for p in parts:
        if p.code == code or (p.code == category and p.category == category):
            if methodology.scale is Scale.ZERO_BEST:  # the value is the restriction
                low, high = p.low - less, p.high + more
            else:
                low, high = p.low - more, p.high + less
            out.append(Component(p.code, p.category, max(0.0, low), min(float(p.maximum), high), p.maximum))
        else:
            out.append(p)
    return out


def evidence_doubt(
    rule: EvidenceRule, figure: EvidenceFigure | None, methodology: Methodology, score: CountryScore
) -> tuple[float, float]:
    """Points of restriction (below, above) the evidence adds to the doubt about ``rule``'s indicator.

    Thin evidence (fewer than ``min_tested`` items): the evidence's own interval, half its width in points of
    the indicator either side — no figure at all is the whole range.  Contradicting evidence (the flag
    ``evidence_contradicts``): the range reaches up to the restriction the lower end of the evidence's
    interval implies (share × the indicator's points).  Otherwise none.
    """
    maximum = methodology.max_of(rule.indicator)
    low, high = (0.0, 1.0) if figure is None else _interval_of(rule, figure)
    if figure is None or figure.tested < rule.min_tested:
        half = (high - low) / 2 * maximum
        return half, half
    entry = score.indicators.get(rule.indicator)
    if entry is not None and entry.low is not None and entry.high is not None:
        ends = (entry.low, entry.high)
        claimed = max(methodology.restriction(v, maximum) for v in ends)
    else:
        category = methodology.category_of(rule.indicator)
        centry = score.categories.get(category)
        if centry is None or centry.low is None or centry.high is None:
            return 0.0, 0.0
        cmax = methodology.max_of(category)
        claimed = max(methodology.restriction(v, cmax) for v in (centry.low, centry.high))
    share = figure.share_confirmed if rule.basis == "confirmed" else figure.share_blocked
    if claimed <= rule.little_restriction and share >= rule.contradicts_at:
        return 0.0, max(0.0, (low - claimed) * maximum)
    return 0.0, 0.0


def _interval_of(rule: EvidenceRule, figure: EvidenceFigure) -> tuple[float, float]:
    if rule.basis == "confirmed":
        return figure.confirmed_low, figure.confirmed_high
    return figure.blocked_low, figure.blocked_high


def _quantile_bounds(values: list[float], level: float) -> tuple[float, float]:
    values = sorted(values)
    n = len(values)
    lo = values[max(0, math.floor((1 - level) / 2 * (n - 1)))]
    hi = values[min(n - 1, math.ceil((1 + level) / 2 * (n - 1)))]
    return lo, hi


def simulate(
    parts: Mapping[str, list[Component]], methodology: Methodology
) -> dict[str, tuple[float, float, int, int]]:
    """Monte Carlo over score ranges: per country (total low, total high, best rank, worst rank).

    Each draw picks every ranged component uniformly in its range (whole points when the methodology rounds
    to whole points and the range ends are whole), sums, rounds and ranks all countries together.
    """
    settings = methodology.uncertainty
    rng = random.Random(settings.seed)
    whole = methodology.decimals == 0
    legacy = methodology.scale is Scale.ZERO_BEST
    fixed = {iso2: sum(p.low for p in ps if p.low == p.high) for iso2, ps in parts.items()}
    ranged = {iso2: [p for p in ps if p.low != p.high] for iso2, ps in parts.items()}
    order = sorted(parts)
    totals: dict[str, list[float]] = {iso2: [] for iso2 in order}
    ranks: dict[str, list[float]] = {iso2: [] for iso2 in order}
    for _ in range(settings.draws):
        draw: dict[str, float] = {}
        for iso2 in order:
            total = fixed[iso2]
            for p in ranged[iso2]:
                # Draw the restriction (the 0-best value) whatever the scale, so a build on either scale
                # sees the same draws, mirrored, and reports mirrored intervals.
                lo, hi = (p.low, p.high) if legacy else (p.maximum - p.high, p.maximum - p.low)
                if whole and lo.is_integer() and hi.is_integer():
                    x = float(rng.randint(int(lo), int(hi)))
                else:
                    x = rng.uniform(lo, hi)
                total += x if legacy else p.maximum - x
            draw[iso2] = methodology.round(total)
            totals[iso2].append(draw[iso2])
        for iso2, rank in competition_ranks(draw, methodology).items():
            ranks[iso2].append(rank)
    out = {}
    for iso2 in order:
        t_lo, t_hi = _quantile_bounds(totals[iso2], settings.level)
        r_lo, r_hi = _quantile_bounds(ranks[iso2], settings.level)
        out[iso2] = (t_lo, t_hi, int(r_lo), int(r_hi))
    return out


def _category_results(
    parts: list[Component], missing: list[str], methodology: Methodology
) -> tuple[CategoryResult, ...]:
    out = []
    for cat in methodology.categories:
        mine = [p for p in parts if p.category == cat.code]
        if any(methodology.category_of(code) == cat.code for code in missing):
            out.append(CategoryResult(cat.code, cat.name, cat.max, None))
            continue
        out.append(
            CategoryResult(
                cat.code,
                cat.name,
                cat.max,
                methodology.round(sum(p.point for p in mine)),
                methodology.round(sum(p.low for p in mine)),
                methodology.round(sum(p.high for p in mine)),
            )
        )
    return tuple(out)


def total_of(score: CountryScore, methodology: Methodology) -> float | None:
    """The rounded total of one country-year on the methodology's scale; None when anything is missing."""
    parts, missing = components(score.on_scale(methodology), methodology)
    return None if missing else methodology.round(sum(p.point for p in parts))


def build_index(
    methodology: Methodology,
    scores: Iterable[CountryScore],
    year: int,
    *,
    evidence: Mapping[str, Sequence[EvidenceFigure]] | None = None,
    previous_totals: Mapping[str, float] | None = None,
) -> IndexResult:
    """Compile the index for ``year``.

    ``scores`` are validated country-years (any scale; converted here); those of ``year - 1`` give the change
    and the change flags, and ``previous_totals`` (iso2 → total on this methodology's scale, e.g. from a
    stored earlier build) fills the change for countries without last year's scores.  ``evidence`` (iso2 →
    figures) enables the evidence flags and widens the intervals where evidence is thin or contradicts the
    score (``evidence_doubt``).  Without ``evidence`` no evidence flag is raised at all.
    """
    all_scores = [s.on_scale(methodology) for s in scores]
    current = {s.iso2: s for s in all_scores if s.year == year}
    before = {s.iso2: s for s in all_scores if s.year == year - 1}
    parts: dict[str, list[Component]] = {}  # as scored: point totals and category ranges come from these
    doubt: dict[str, list[Component]] = {}  # widened where evidence is thin: only the simulation uses these
    missing: dict[str, list[str]] = {}
    flags: dict[str, list[Flag]] = {}
    for iso2, score in current.items():
        ps, miss = components(score, methodology)
        parts[iso2] = ps
        flags[iso2] = []
        if miss:
            flags[iso2].append(Flag(FlagKind.MISSING, ",".join(miss), f"not assessed: {', '.join(miss)}"))
        if evidence is not None:
            figures = evidence.get(iso2, ())
            ev_flags, _thin = evidence_flags(score, methodology, figures)
            flags[iso2].extend(ev_flags)
            by_rule = {f.indicator: f for f in figures}
            for rule in methodology.evidence:
                # Events rules never make evidence thin (the absence of events proves nothing).
                if rule.measure is Measure.EVENTS:
                    continue
                less, more = evidence_doubt(rule, by_rule.get(rule.indicator), methodology, score)
                if less or more:
                    ps = _widen(ps, rule.indicator, less, more, methodology)
        if iso2 in before:
            flags[iso2].extend(change_flags(score, before[iso2], methodology))
        doubt[iso2] = ps
        missing[iso2] = miss

    complete = {iso2: ps for iso2, ps in parts.items() if not missing[iso2]}
    totals = {iso2: methodology.round(sum(p.point for p in ps)) for iso2, ps in complete.items()}
    ranks = competition_ranks(totals, methodology)
    uncertain = {iso2: doubt[iso2] for iso2 in complete}
    if any(p.low != p.high for ps in uncertain.values() for p in ps):
        intervals = simulate(uncertain, methodology)
    else:
        intervals = {iso2: (t, t, ranks[iso2], ranks[iso2]) for iso2, t in totals.items()}

    results = []
    for iso2, score in sorted(current.items()):
        total = totals.get(iso2)
        prev: float | None = None
        if iso2 in before:
            prev = total_of(before[iso2], methodology)
        elif previous_totals is not None and iso2 in previous_totals:
            prev = methodology.round(previous_totals[iso2])
        change = methodology.round(total - prev) if total is not None and prev is not None else None
        lo, hi, r_lo, r_hi = intervals.get(iso2, (None, None, None, None))
        results.append(
            CountryResult(
                iso2=iso2,
                country=score.country or name_of(iso2),
                year=year,
                categories=_category_results(parts[iso2], missing[iso2], methodology),
                total=total,
                status=methodology.status_for(total) if total is not None else None,
                rank=ranks.get(iso2),
                previous_total=prev,
                change=change,
                total_low=lo,
                total_high=hi,
                rank_low=r_lo,
                rank_high=r_hi,
                flags=tuple(flags[iso2]),
                evidence=tuple(evidence.get(iso2, ())) if evidence is not None else (),
            )
        )
    results.sort(key=lambda r: (r.rank is None, r.rank or 0, r.country))
    return IndexResult(methodology.id, methodology.version, methodology.scale, year, tuple(results))

"""Review flags: where an expert score and the measurement evidence disagree, and where a score moved more
than the methodology allows without a justification.  Flags ask a human to look; they change no score."""

from __future__ import annotations

from collections.abc import Sequence

from netfreedom.index.methodology import EvidenceRule, Measure, Methodology
from netfreedom.index.results import EvidenceFigure, Flag, FlagKind
from netfreedom.index.scores import CountryScore, ScoreEntry


def _scored(score: CountryScore, code: str, methodology: Methodology) -> tuple[ScoreEntry, str] | None:
    """The entry scoring ``code``: the indicator itself, else its category's score (category-level data)."""
    if code in score.indicators:
        return score.indicators[code], code
    category = methodology.category_of(code)
    if category in score.categories:
        return score.categories[category], category
    return None


def _describe(rule: EvidenceRule) -> str:
    return "/".join(rule.categories) + " URLs" if rule.categories else "/".join(rule.tests) + " tests"


MAX_LISTED_EVENTS = 12


def _claims(entry: ScoreEntry, scored_code: str, methodology: Methodology) -> tuple[float, float] | None:
    """The least and most restriction the entry's range claims (fractions of its points)."""
    if entry.low is None or entry.high is None:
        return None
    maximum = methodology.max_of(scored_code)
    ends = (methodology.restriction(entry.low, maximum), methodology.restriction(entry.high, maximum))
    return min(ends), max(ends)


def event_flags(
    score: CountryScore, methodology: Methodology, figures: Sequence[EvidenceFigure]
) -> list[Flag]:
    """``evidence_contradicts`` where a score claims little restriction and the curated record shows at
    least ``min_events`` events of the rule's kinds in the coverage period; the events are listed."""
    flags: list[Flag] = []
    by_target = {f.indicator: f for f in figures if f.measure is Measure.EVENTS}
    for rule in methodology.evidence:
        if rule.measure is not Measure.EVENTS:
            continue
        found = _scored(score, rule.indicator, methodology)
        fig = by_target.get(rule.indicator)
        if found is None or fig is None or fig.blocked < rule.min_events:
            continue
        entry, scored_code = found
        claims = _claims(entry, scored_code, methodology)
        if claims is None or claims[1] > rule.little_restriction:
            continue
        level = "" if scored_code == rule.indicator else f" (checked against category {scored_code})"
        listed = "; ".join(fig.events[:MAX_LISTED_EVENTS])
        more = len(fig.events) - MAX_LISTED_EVENTS
        detected = f" and {fig.confirmed} detected in measurements" if fig.confirmed else ""
        flags.append(
            Flag(
                FlagKind.EVIDENCE_CONTRADICTS,
                rule.indicator,
                f"{rule.indicator}{level}: score claims little restriction, but the record shows "
                f"{fig.blocked} {'/'.join(rule.kinds).replace('_', ' ')} event"
                f"{'' if fig.blocked == 1 else 's'}{detected} in {fig.period}: {listed}"
                + (f"; … and {more} more" if more > 0 else ""),
            )
        )
    return flags


def _examples(fig: EvidenceFigure) -> str:
    return f"; e.g. {', '.join(fig.examples[:3])}" if fig.examples else ""


def evidence_flags(
    score: CountryScore, methodology: Methodology, figures: Sequence[EvidenceFigure]
) -> tuple[list[Flag], set[str]]:
    """Flags from comparing ``score`` (on the methodology's scale) with ``figures``; also the rule targets
    whose evidence is too thin to check (fewer than ``min_tested`` items tested).  Events rules are
    checked by ``event_flags`` (they never make evidence thin)."""
    flags = event_flags(score, methodology, figures)
    thin: set[str] = set()
    figures = [f for f in figures if f.measure is not Measure.EVENTS]
    rules = [r for r in methodology.evidence if r.measure is not Measure.EVENTS]
    by_target = {f.indicator: f for f in figures}
    if not figures and rules:
        # No measurement at all in the period: one flag for the country, not one per rule.
        codes = [r.indicator for r in rules if _scored(score, r.indicator, methodology)]
        if codes:
            message = f"no measurements in the coverage period to check {', '.join(codes)}"
            flags.append(Flag(FlagKind.THIN_EVIDENCE, ",".join(codes), message))
        return flags, set(codes)
    for rule in rules:
        found = _scored(score, rule.indicator, methodology)
        if found is None:
            continue
        entry, scored_code = found
        if entry.low is None or entry.high is None:
            continue
        maximum = methodology.max_of(scored_code)
        # The whole range must make the claim: a range reaching into heavy restriction does not say "none".
        least = min(methodology.restriction(entry.low, maximum), methodology.restriction(entry.high, maximum))
        most = max(methodology.restriction(entry.low, maximum), methodology.restriction(entry.high, maximum))
        fig = by_target.get(rule.indicator)
        what = _describe(rule)
        level = "" if scored_code == rule.indicator else f" (checked against category {scored_code})"
        if fig is None or fig.tested < rule.min_tested:
            thin.add(rule.indicator)
            tested = fig.tested if fig else 0
            flags.append(
                Flag(
                    FlagKind.THIN_EVIDENCE,
                    rule.indicator,
                    f"{rule.indicator}: only {tested} {what} tested "
                    f"(need {rule.min_tested}) to check the score",
                )
            )
            continue
        share = fig.share_confirmed if rule.basis == "confirmed" else fig.share_blocked
        count = fig.confirmed if rule.basis == "confirmed" else fig.blocked
        if most <= rule.little_restriction and share >= rule.contradicts_at:
            flags.append(
                Flag(
                    FlagKind.EVIDENCE_CONTRADICTS,
                    rule.indicator,
                    f"{rule.indicator}{level}: score claims little restriction, but {count} of {fig.tested} "
                    f"{what} tested were {'confirmed ' if rule.basis == 'confirmed' else ''}blocked "
                    f"({fig.measurements} measurements, {fig.networks} networks{_examples(fig)})",
                )
            )
        elif least >= rule.heavy_restriction and fig.blocked == 0 and scored_code == rule.indicator:
            # Only an indicator score says "heavy blocking"; a heavy category may be heavy for other reasons.
            flags.append(
                Flag(
                    FlagKind.EVIDENCE_ABSENT,
                    rule.indicator,
                    f"{rule.indicator}{level}: score claims heavy restriction, but none of {fig.tested} "
                    f"{what} tested was blocked ({fig.measurements} measurements, {fig.networks} networks"
                    f"{_examples(fig)})",
                )
            )
    return flags, thin


def _moves(now: dict[str, ScoreEntry], before: dict[str, ScoreEntry], limit: float, level: str) -> list[Flag]:
    flags = []
    for code, entry in now.items():
        old = before.get(code)
        if old is None or entry.point is None or old.point is None:
            continue
        delta = entry.point - old.point
        if abs(delta) > limit and not entry.justification:
            flags.append(
                Flag(
                    FlagKind.UNJUSTIFIED_CHANGE,
                    code,
                    f"{level} {code} moved {delta:+g} points from last year (more than {limit:g}) "
                    f"with no justification",
                )
            )
    return flags


def change_flags(now: CountryScore, before: CountryScore, methodology: Methodology) -> list[Flag]:
    """Scores that moved more than the methodology's limits since last year without a justification.

    Compared level by level: indicators against indicators; categories against categories, where a
    category scored indicator by indicator counts as justified when any of its indicators is.
    """
    review = methodology.review
    flags = _moves(dict(now.indicators), dict(before.indicators), review.indicator_change, "indicator")
    now_cats = _category_entries(now, methodology)
    before_cats = _category_entries(before, methodology)
    flags.extend(_moves(now_cats, before_cats, review.category_change, "category"))
    return flags


def _category_entries(score: CountryScore, methodology: Methodology) -> dict[str, ScoreEntry]:
    out = dict(score.categories)
    for cat in methodology.categories:
        if cat.code in out:
            continue
        entries = [score.indicators.get(i.code) for i in methodology.indicators_of(cat.code)]
        if any(e is None or e.low is None or e.high is None for e in entries):
            continue
        lows = sum(e.low for e in entries if e is not None and e.low is not None)
        highs = sum(e.high for e in entries if e is not None and e.high is not None)
        just = "; ".join(e.justification for e in entries if e is not None and e.justification)
        out[cat.code] = ScoreEntry(cat.code, lows, highs, just)
    return out

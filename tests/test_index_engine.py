from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from netfreedom.index.engine import build_index, competition_ranks
from netfreedom.index.methodology import Measure, Scale, load_methodology
from netfreedom.index.results import EvidenceFigure, FlagKind
from netfreedom.index.scores import CountryScore, ScoreEntry

LEGACY = load_methodology("fotn-legacy")
CURRENT = load_methodology("fotn")


def cats(iso2: str, year: int, a: float, b: float, c: float, **kw: object) -> CountryScore:
    entries = {k: ScoreEntry(k, v, v) for k, v in (("A", a), ("B", b), ("C", c))}
    return CountryScore(iso2=iso2, year=year, scale=Scale.ZERO_BEST, categories=entries, **kw)  # type: ignore[arg-type]


def indicators(iso2: str, year: int, values: dict[str, object], **just: str) -> CountryScore:
    """Every indicator at 0 (legacy: no restriction) unless given; a tuple is a range, None is missing."""
    out = {}
    for ind in LEGACY.indicators:
        v = values.get(ind.code, 0)
        if v is None:
            out[ind.code] = ScoreEntry(ind.code, None, None)
        elif isinstance(v, tuple):
            out[ind.code] = ScoreEntry(ind.code, float(v[0]), float(v[1]), just.get(ind.code, ""))
        else:
            out[ind.code] = ScoreEntry(ind.code, float(v), float(v), just.get(ind.code, ""))  # type: ignore[arg-type]
    return CountryScore(iso2=iso2, year=year, scale=Scale.ZERO_BEST, indicators=out)


def test_competition_ranking_ties_share_a_rank() -> None:
    assert competition_ranks({"A": 6, "B": 6, "C": 15, "D": 15, "E": 20}, LEGACY) == {
        "A": 1,
        "B": 1,
        "C": 3,
        "D": 3,
        "E": 5,
    }
    assert competition_ranks({"A": 94, "B": 94, "C": 85}, CURRENT) == {"A": 1, "B": 1, "C": 3}


def test_indicator_scores_add_up_to_categories_and_total() -> None:
    score = indicators("EE", 2018, {"A1": 2, "A2": 1, "B1": 3, "C8": 3})
    [r] = build_index(LEGACY, [score], 2018).countries
    assert [(c.code, c.score) for c in r.categories] == [("A", 3), ("B", 3), ("C", 3)]
    assert (r.total, r.status, r.rank) == (9, "Free", 1)
    [r100] = build_index(CURRENT, [score], 2018).countries
    assert [c.score for c in r100.categories] == [22, 32, 37] and r100.total == 91 and r100.status == "Free"


def test_missing_indicator_gives_no_total_and_no_rank_never_zero() -> None:
    scores = [indicators("EE", 2018, {"B6": None}), cats("IS", 2018, 0, 1, 5)]
    result = build_index(LEGACY, scores, 2018)
    ee = result.country("EE")
    assert ee.total is None and ee.status is None and ee.rank is None
    assert ee.category("B").score is None and ee.category("A").score == 0
    assert [(f.kind, f.code) for f in ee.flags] == [(FlagKind.MISSING, "B6")]
    assert result.country("IS").rank == 1
    assert result.countries[-1].iso2 == "EE"  # unranked last


def test_change_from_last_year_and_unjustified_change_flags() -> None:
    before = indicators("EE", 2017, {"B1": 1, "C3": 2})
    quiet = indicators("EE", 2018, {"B1": 2, "C3": 2})
    jump = indicators("EE", 2018, {"B1": 5, "C3": 2})
    explained = indicators("EE", 2018, {"B1": 5, "C3": 2}, B1="new blocking orders against news sites")
    r = build_index(LEGACY, [before, quiet], 2018).country("EE")
    assert (r.previous_total, r.change, r.flags) == (3, 1, ())
    r = build_index(LEGACY, [before, jump], 2018).country("EE")
    assert r.change == 4
    assert {(f.kind, f.code) for f in r.flags} == {
        (FlagKind.UNJUSTIFIED_CHANGE, "B1"),
        (FlagKind.UNJUSTIFIED_CHANGE, "B"),
    }
    assert "indicator B1 moved +4 points from last year (more than 2)" in r.flags[0].message
    r = build_index(LEGACY, [before, explained], 2018).country("EE")
    assert r.change == 4 and r.flags == ()


def test_change_on_the_100_best_scale_and_from_stored_totals() -> None:
    r = build_index(CURRENT, [cats("EE", 2017, 0, 3, 3), cats("EE", 2018, 1, 3, 3)], 2018).country("EE")
    assert (r.total, r.previous_total, r.change) == (93, 94, -1)
    r = build_index(CURRENT, [cats("EE", 2018, 1, 3, 3)], 2018, previous_totals={"EE": 90}).country("EE")
    assert r.change == 3


def test_category_change_flag_for_published_scores() -> None:
    r = build_index(LEGACY, [cats("EE", 2017, 0, 3, 3), cats("EE", 2018, 0, 8, 3)], 2018).country("EE")
    assert [(f.kind, f.code) for f in r.flags] == [(FlagKind.UNJUSTIFIED_CHANGE, "B")]


def test_integer_values_from_the_api_work_like_floats() -> None:
    entries = {"A": ScoreEntry("A", 0, 2), "B": ScoreEntry("B", 3, 3), "C": ScoreEntry("C", 3, 3)}
    score = CountryScore(iso2="EE", year=2018, scale=Scale.ZERO_BEST, categories=entries)
    [r] = build_index(LEGACY, [score], 2018).countries
    assert (r.total, r.total_low, r.total_high) == (7, 6, 8)


def test_ranges_give_score_and_rank_intervals_reproducibly() -> None:
    scores = [
        indicators("AA", 2018, {"B1": (0, 6)}),  # 0..6
        indicators("BB", 2018, {"A1": 3}),  # exactly 3
        indicators("CC", 2018, {"A1": 6, "A3": 4}),  # exactly 10
    ]
    a = build_index(LEGACY, scores, 2018)
    b = build_index(LEGACY, scores, 2018)
    assert a == b  # fixed seed: the same intervals every run
    aa, bb, cc = a.country("AA"), a.country("BB"), a.country("CC")
    assert aa.total == 3 and aa.rank == 1 and bb.rank == 1  # the midpoint of 0..6 ties with 3
    assert aa.category("B").low == 0 and aa.category("B").high == 6
    assert aa.total_low is not None and aa.total_high is not None
    assert 0 <= aa.total_low <= 1 and 5 <= aa.total_high <= 6
    assert (aa.rank_low, aa.rank_high) == (1, 2)
    assert (bb.total_low, bb.total_high) == (3, 3) and (bb.rank_low, bb.rank_high) == (1, 2)
    assert (cc.rank_low, cc.rank_high) == (3, 3)
    other_seed = dataclasses.replace(LEGACY, uncertainty=dataclasses.replace(LEGACY.uncertainty, draws=50))
    assert build_index(other_seed, scores, 2018).country("AA").total == 3


def _figure(
    iso2: str, code: str, tested: int, blocked: int, confirmed: int, *, low: float = 0.0, high: float = 1.0
) -> EvidenceFigure:
    measure = Measure.TEST_BLOCKING if code == "A3" else Measure.URL_BLOCKING
    return EvidenceFigure(
        iso2, code, measure, tested, blocked, confirmed, tested * 3, 2, "", low, high, low, high, ("m1",)
    )


def test_evidence_contradicting_a_no_blocking_score_is_flagged_and_cleared() -> None:
    evidence = {
        "IR": [_figure("IR", "B1", 40, 12, 10), _figure("IR", "A3", 4, 0, 0), _figure("IR", "C4", 8, 0, 0)]
    }
    no_blocking = indicators("IR", 2018, {})
    r = build_index(LEGACY, [no_blocking], 2018, evidence=evidence).country("IR")
    assert [(f.kind, f.code) for f in r.flags] == [(FlagKind.EVIDENCE_CONTRADICTS, "B1")]
    assert "10 of 40 NEWS/POLR/HUMR/LGBT/REL URLs tested were confirmed blocked" in r.flags[0].message
    assert r.evidence == tuple(evidence["IR"])
    honest = indicators("IR", 2018, {"B1": 5})
    r = build_index(LEGACY, [honest], 2018, evidence=evidence).country("IR")
    assert r.flags == ()
    # The evidence widens a contradicted score's interval towards it: at least 15 % of the URLs confirmed
    # blocked means at least 0.9 of B1's 6 points of restriction.
    sure = {"IR": [_figure("IR", "B1", 40, 12, 10, low=0.15, high=0.4), *evidence["IR"][1:]]}
    r = build_index(LEGACY, [no_blocking], 2018, evidence=sure).country("IR")
    assert r.total == 0 and r.total_low == 0 and r.total_high is not None and r.total_high >= 1
    r = build_index(LEGACY, [honest], 2018, evidence=sure).country("IR")
    assert (r.total_low, r.total_high) == (r.total, r.total)  # not contradicted: no doubt added
    # same on the other scale: 6 of 6 on 100-best claims no restriction
    r = build_index(CURRENT, [no_blocking.on_scale(CURRENT)], 2018, evidence=evidence).country("IR")
    assert [f.code for f in r.flags] == ["B1"]


def test_heavy_score_without_any_blocking_is_flagged() -> None:
    evidence = {
        "EE": [_figure("EE", "B1", 50, 0, 0), _figure("EE", "A3", 4, 0, 0), _figure("EE", "C4", 8, 0, 0)]
    }
    r = build_index(LEGACY, [indicators("EE", 2018, {"B1": 5})], 2018, evidence=evidence).country("EE")
    assert [(f.kind, f.code) for f in r.flags] == [(FlagKind.EVIDENCE_ABSENT, "B1")]


def test_app_blocking_uses_blocked_not_confirmed() -> None:
    evidence = {
        "IR": [_figure("IR", "B1", 40, 0, 0), _figure("IR", "A3", 4, 2, 0), _figure("IR", "C4", 8, 0, 0)]
    }
    r = build_index(LEGACY, [indicators("IR", 2018, {})], 2018, evidence=evidence).country("IR")
    assert [(f.kind, f.code) for f in r.flags] == [(FlagKind.EVIDENCE_CONTRADICTS, "A3")]
    assert (
        "2 of 4 whatsapp/telegram/facebook_messenger/signal tests tested were blocked blocked"
        not in r.flags[0].message
    )


def _thin(width: float) -> dict[str, list[EvidenceFigure]]:
    return {
        "EE": [
            _figure("EE", "B1", 3, 0, 0, high=width),
            _figure("EE", "A3", 4, 0, 0, high=0.0),
            _figure("EE", "C4", 8, 0, 0, high=0.0),
        ]
    }


def test_thin_evidence_is_flagged_and_widens_the_interval_by_its_own_interval() -> None:
    r = build_index(LEGACY, [indicators("EE", 2018, {"B1": 2})], 2018, evidence=_thin(0.5)).country("EE")
    assert [(f.kind, f.code) for f in r.flags] == [(FlagKind.THIN_EVIDENCE, "B1")]
    assert r.total == 2 and r.total_low is not None and r.total_high is not None
    # the evidence's interval is half of B1's 6 points wide: 1.5 points of doubt either side
    assert r.total_low < 2 < r.total_high and r.total_high - r.total_low <= 3
    wide = build_index(LEGACY, [indicators("EE", 2018, {"B1": 2})], 2018, evidence=_thin(1.0)).country("EE")
    assert wide.total_low is not None and wide.total_high is not None
    assert wide.total_high - wide.total_low > r.total_high - r.total_low  # thinner evidence, wider interval
    top = build_index(CURRENT, [indicators("EE", 2018, {"B1": 0})], 2018, evidence=_thin(0.5)).country("EE")
    assert top.total == 100 and top.total_high == 100  # clipped at the maximum
    assert top.total_low is not None and top.total_low < 100
    none = build_index(LEGACY, [indicators("EE", 2018, {"B1": 2})], 2018, evidence={}).country("EE")
    assert [(f.kind, f.code) for f in none.flags] == [(FlagKind.THIN_EVIDENCE, "B1,A3,C4")]
    assert none.flags[0].message == "no measurements in the coverage period to check B1, A3, C4"
    assert none.total_low is not None and none.total_low < 2  # still doubt, on every mapped indicator
    without = build_index(LEGACY, [indicators("EE", 2018, {"B1": 2})], 2018).country("EE")
    assert without.flags == () and (without.total_low, without.total_high) == (2, 2)


def test_category_level_scores_are_checked_at_category_level() -> None:
    evidence = {
        "IR": [_figure("IR", "B1", 40, 12, 10), _figure("IR", "A3", 4, 0, 0), _figure("IR", "C4", 8, 0, 0)]
    }
    r = build_index(LEGACY, [cats("IR", 2018, 0, 2, 3)], 2018, evidence=evidence).country("IR")
    assert [(f.kind, f.code) for f in r.flags] == [(FlagKind.EVIDENCE_CONTRADICTS, "B1")]
    assert "(checked against category B)" in r.flags[0].message
    r = build_index(LEGACY, [cats("IR", 2018, 15, 30, 35)], 2018, evidence=evidence).country("IR")
    assert r.flags == ()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 25), st.integers(0, 35), st.integers(0, 40), st.integers(0, 3)),
        min_size=1,
        max_size=12,
    )
)
def test_both_scales_agree_on_status_rank_and_intervals(rows: list[tuple[int, int, int, int]]) -> None:
    scores = []
    for n, (a, b, c, spread) in enumerate(rows):
        entries = {
            "A": ScoreEntry("A", a, a),
            "B": ScoreEntry("B", max(0, b - spread), min(35, b + spread)),
            "C": ScoreEntry("C", c, c),
        }
        scores.append(
            CountryScore(iso2=f"Q{chr(65 + n)}", year=2018, scale=Scale.ZERO_BEST, categories=entries)
        )
    few = dataclasses.replace(LEGACY.uncertainty, draws=200)  # keeps the property test fast
    legacy = build_index(dataclasses.replace(LEGACY, uncertainty=few), scores, 2018)
    current = build_index(dataclasses.replace(CURRENT, uncertainty=few), scores, 2018)
    for x in legacy.countries:
        y = current.country(x.iso2)
        assert x.total is not None and y.total is not None
        assert x.total + y.total == 100 and x.status == y.status and x.rank == y.rank
        assert (x.rank_low, x.rank_high) == (y.rank_low, y.rank_high)
        assert x.total_low is not None and y.total_high is not None and x.total_low + y.total_high == 100
        assert x.total_low <= x.total <= (x.total_high or 0)
        better = sum(1 for o in legacy.countries if (o.total or 0) < x.total)
        assert x.rank == better + 1

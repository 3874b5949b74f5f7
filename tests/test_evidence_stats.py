"""The estimators of ``evidence.stats``: exact values on known cases, and coverage on simulated countries.

Simulation (seeded, about a second): a country has ``k`` networks; network ``a`` blocks each tested URL with
its own probability ``π_a`` ~ Beta(mean ``p``, intra-network correlation ``ρ``) and tests ``m_a`` URLs
(exponential sizes around ``m``); every verdict has a confidence of 0.5, 0.9 or 1.0.  The nominal level is
90 %; the stated tolerance is: every scenario covers ``p`` in at least 85 % of draws, and the mean over the
grid is at least 88 %.  The same data read as independent URLs (no clustering) fall well short — that is
what the design effect is for.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from netfreedom.evidence import stats

LEVEL = 0.9


def _counts(rng: random.Random, p: float, rho: float, k: int, m: float) -> tuple[float, ...]:
    """One simulated country: (tested, blocked, Σw, Σw·y, networks, Σm², Σy²/m)."""
    a, b = p * (1 - rho) / rho, (1 - p) * (1 - rho) / rho
    n = s = 0
    q2 = r = w = wb = 0.0
    for _ in range(k):
        size = max(1, int(rng.expovariate(1 / m)))
        pi = rng.betavariate(a, b)
        y = sum(rng.random() < pi for _ in range(size))
        n, s, q2, r = n + size, s + y, q2 + size * size, r + y * y / size
        for j in range(size):
            weight = rng.choice((0.5, 0.9, 1.0))
            w += weight
            wb += weight if j < y else 0.0
    return n, s, w, wb, k, q2, r


def _intervals(rows: list[tuple[float, ...]]) -> list[tuple[float, float]]:
    """The intervals of many simulated countries, computed as the measures compute them: a column at once."""
    cols = [pa.array(c, pa.float64()) for c in zip(*rows, strict=True)]
    out = stats.shares(
        cols[0],
        cols[1],
        weight=cols[2],
        weighted_blocked=cols[3],
        clusters=cols[4],
        sum_m2=cols[5],
        sum_y2_m=cols[6],
        level=LEVEL,
    )
    return list(zip(out["low"].to_pylist(), out["high"].to_pylist(), strict=True))


def test_interval_coverage_on_simulated_countries() -> None:
    rng = random.Random(20261205)
    coverage = []
    for p in (0.1, 0.3, 0.5):
        for rho in (0.02, 0.1, 0.3):
            for k in (1, 4, 12):
                for m in (5, 25):
                    draws = 150
                    intervals = _intervals([_counts(rng, p, rho, k, m) for _ in range(draws)])
                    hits = sum(low <= p <= high for low, high in intervals)
                    coverage.append(((p, rho, k, m), hits / draws))
    worst = min(coverage, key=lambda c: c[1])
    assert worst[1] >= 0.85, worst
    assert sum(c for _, c in coverage) / len(coverage) >= 0.88


def test_clustering_matters() -> None:
    """Many URLs from few, very different networks: independent-URL intervals miss the share."""
    rng = random.Random(7)
    draws = 300
    rows = [_counts(rng, 0.3, 0.3, 4, 25) for _ in range(draws)]
    clustered_hits = sum(low <= 0.3 <= high for low, high in _intervals(rows))
    naive_hits = 0
    for n, s, *_ in rows:
        low, high = stats.wilson(s / n, n, LEVEL)
        naive_hits += low <= 0.3 <= high
    assert naive_hits / draws < 0.7
    assert clustered_hits / draws >= 0.85


def test_intervals_narrow_with_more_networks() -> None:
    rng = random.Random(11)
    few = _intervals([_counts(rng, 0.2, 0.05, 3, 25) for _ in range(100)])
    many = _intervals([_counts(rng, 0.2, 0.05, 30, 25) for _ in range(100)])
    width = lambda intervals: sum(h - lo for lo, h in intervals) / len(intervals)  # noqa: E731
    assert width(many) < width(few) / 2
    assert width(many) < 0.15


def test_known_values() -> None:
    # Wilson 90 % for 0 of 1 is [0, z²/(1+z²)].
    z = stats.z_of(LEVEL)
    low, high = stats.wilson(0.0, 1.0, LEVEL)
    assert low == 0 and high == pytest.approx(z * z / (1 + z * z))
    assert stats.t_of(LEVEL, 10) == pytest.approx(1.8125, abs=0.005)  # Student's t, 10 df
    assert stats.t_of(LEVEL, 30) == pytest.approx(1.6973, abs=0.003)
    nothing = stats.share(0, 0)
    assert (nothing.value, nothing.low, nothing.high) == (None, 0.0, 1.0)
    # One network holding 500 URLs is not 500 independent looks: the design effect shrinks the sample.
    one = stats.share(500, 0)
    assert one.design_effect > 100 and one.effective_n < 5 and one.high > 0.3
    # Half-confidence verdicts count half.
    assert stats.share(
        10, 5, weight=5.0, weighted_blocked=2.5, clusters=10, sum_m2=10, sum_y2_m=5
    ).effective_n == pytest.approx(5.0)
    # The scalar form is the column form on one row.
    row = _counts(random.Random(3), 0.3, 0.1, 5, 10)
    n, s, w, wb, k, q2, r = row
    one = stats.share(int(n), int(s), weight=w, weighted_blocked=wb, clusters=int(k), sum_m2=q2, sum_y2_m=r)
    assert (one.low, one.high) == _intervals([row])[0]
    # The interval always holds the observed share.
    skewed = stats.share(10, 9, weight=10.0, weighted_blocked=1.0)
    assert skewed.low <= 0.9 <= skewed.high


def test_score_degrades_honestly() -> None:
    # Nothing tested: no score — not 100 ("perfectly free") from no evidence.
    nothing = stats.score([stats.share(0, 0)])
    assert (nothing.value, nothing.low, nothing.high) == (None, None, None)
    assert nothing.status == "not_enough_evidence" and nothing.weight == 0
    # One tested URL: an interval some 75 points wide, too wide for a point score.
    thin = stats.score([stats.share(1, 0)])
    assert thin.value is None and thin.status == "not_enough_evidence" and thin.kinds == 1
    thick = stats.score([stats.share(400, 0, clusters=40, sum_m2=40 * 100, sum_y2_m=0)])
    assert thick.value == 100 and thick.status == "scored" and thick.low is not None and thick.low > 90
    mixed = stats.score([stats.share(100, 50, clusters=10, sum_m2=1000, sum_y2_m=250), stats.share(2, 0)])
    assert mixed.value == pytest.approx(75.0) and mixed.kinds == 2
    assert mixed.low is not None and mixed.high is not None and mixed.low < 75 < mixed.high


def test_score_needs_half_the_weights_and_a_narrow_interval() -> None:
    weights = [0.5, 0.2, 0.2, 0.1]  # sites, apps, circumvention, middleboxes
    untested = stats.share(0, 0)
    many_ok = stats.share(400, 0, clusters=40, sum_m2=40 * 100, sum_y2_m=0)
    many_blocked = stats.share(400, 400, clusters=40, sum_m2=40 * 100, sum_y2_m=400)
    # One middlebox detection: 10 % of the weights speak for the country — no score, not 0.
    one_box = stats.score([untested, untested, untested, stats.share(1, 1)], weights)
    assert (one_box.value, one_box.status, one_box.weight) == (None, "not_enough_evidence", 0.1)
    # However much the middlebox test was run, it does not carry half the weights.
    boxes = stats.score([untested, untested, untested, many_blocked], weights)
    assert boxes.value is None and boxes.weight == 0.1
    # Apps and circumvention together carry 0.4: still not enough; with the middleboxes 0.5 is.
    assert stats.score([untested, many_ok, many_ok, untested], weights).value is None
    tools = stats.score([untested, many_ok, many_ok, many_blocked], weights)
    assert tools.status == "scored" and tools.value == 80 and tools.weight == 0.5
    # Sites alone are enough when measured well, and the interval rule is checked on the rounded bounds.
    sites = stats.score([many_ok, untested, untested, untested], weights)
    assert sites.status == "scored" and sites.value == 100 and sites.weight == 0.5
    ten = stats.score([stats.share(10, 0)])  # 10 URLs on one network: 100 (50-100), exactly 50 wide
    assert (ten.value, ten.low, ten.high) == (100, 50, 100)
    assert stats.score([stats.share(10, 0)], max_width=49.9).value is None
    # Networks that disagree (5 block all of their 10 URLs, 5 none) are not enough: 25-75 on sites.
    split = stats.share(100, 50, clusters=10, sum_m2=1000, sum_y2_m=50)
    assert stats.score([split]).value is None
    # Networks that agree (each blocks half) are: 50 (40.2-59.8).
    even = stats.score([stats.share(100, 50, clusters=10, sum_m2=1000, sum_y2_m=25)])
    assert (even.value, even.low, even.high, even.status) == (50, 40.2, 59.8, "scored")

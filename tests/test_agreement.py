"""Spearman's ρ and its bootstrap interval, checked against values computed by hand and invariants."""

from __future__ import annotations

import math
import random

import pytest

from netfreedom.index.agreement import agreement, ranks, spearman


def test_ranks_average_ties() -> None:
    assert ranks([10, 30, 20, 30]) == [1.0, 3.5, 2.0, 3.5]
    assert ranks([]) == []


def test_spearman_known_values() -> None:
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(0.8207826816681233)  # scipy's value
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [10, 20, 1000]) == pytest.approx(1.0)  # ranks, not values
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="length"):
        spearman([1, 2], [1])


def test_agreement_is_seeded_and_brackets_rho() -> None:
    rng = random.Random(7)
    pairs = {f"C{i:02d}": (float(i), i + rng.gauss(0, 8)) for i in range(40)}
    a = agreement(pairs, seed=1, resamples=500)
    b = agreement(pairs, seed=1, resamples=500)
    c = agreement(pairs, seed=2, resamples=500)
    assert a == b and (a.low, a.high) != (c.low, c.high)
    assert a.low <= a.rho <= a.high and a.n == 40 and a.resamples == 500
    assert 0.4 < a.rho < 1
    # The widest rank gap comes first; ranks read as rankings (1 = highest value).
    worst = a.disagreements[0]
    assert abs(worst.difference) == max(abs(d.difference) for d in a.disagreements)
    assert agreement({"a": (1, 1), "b": (2, 2), "c": (3, 3)}).disagreements[0].rank_x in (1.0, 2.0, 3.0)
    perfect = agreement({k: (float(i), float(i) * 2) for i, k in enumerate("abcdefgh")}, resamples=200)
    assert perfect.rho == pytest.approx(1.0) and perfect.low == pytest.approx(1.0)
    assert perfect.disagreements[0].difference == 0


def test_agreement_refuses_too_little() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        agreement({"a": (1, 2), "b": (2, 3)})
    with pytest.raises(ValueError, match="same value"):
        agreement({"a": (1, 2), "b": (1, 3), "c": (1, 4)})

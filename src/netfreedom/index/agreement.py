"""How two rankings of the same countries agree: Spearman's ρ with a seeded bootstrap interval.

Used to check the measured interference score against an expert index (``evidence validate``).  Pure:
values in, an ``Agreement`` out; the same inputs and seed give the same interval on every machine.

ρ is Pearson's correlation of the ranks (ties get their average rank), so it is defined with ties too.  The
interval is the percentile bootstrap: countries are resampled with replacement ``resamples`` times and ρ
recomputed; a resample whose ranks are all equal on one side has no ρ and is drawn again (at most
``resamples`` times more).  The countries that disagree most are those whose two ranks lie furthest apart.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Disagreement:
    """One country's rank under each ranking (1 = highest value) and the difference ``rank_x - rank_y``."""

    key: str
    x: float
    y: float
    rank_x: float
    rank_y: float

    @property
    def difference(self) -> float:
        return self.rank_x - self.rank_y


@dataclass(frozen=True)
class Agreement:
    rho: float
    low: float
    high: float
    n: int
    level: float
    resamples: int
    seed: int
    disagreements: tuple[Disagreement, ...]


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1 (smallest) to n; tied values share their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        shared = (i + j) / 2 + 1
        for k in range(i, j + 1):
            out[order[k]] = shared
        i = j + 1
    return out


def _pearson(a: Sequence[float], b: Sequence[float]) -> float:
    n = len(a)
    ma = sum(a) / n
    mb = sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va == 0 or vb == 0:
        return math.nan
    return cov / math.sqrt(va * vb)


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's ρ of two equally long sequences (NaN when one side is constant)."""
    if len(xs) != len(ys):
        raise ValueError("the two sequences differ in length")
    if len(xs) < 2:
        return math.nan
    return _pearson(ranks(xs), ranks(ys))


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def agreement(
    pairs: Mapping[str, tuple[float, float]],
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    top: int = 5,
) -> Agreement:
    """ρ of the ``x`` and ``y`` values of ``pairs`` (key → (x, y)), its bootstrap interval and the ``top``
    countries whose ranks differ most.  Needs at least 3 pairs and both sides not constant."""
    keys = sorted(pairs)
    if len(keys) < 3:
        raise ValueError(f"{len(keys)} countries: at least 3 are needed for a rank correlation")
    if not 0 < level < 1:
        raise ValueError("level must lie between 0 and 1")
    xs = [float(pairs[k][0]) for k in keys]
    ys = [float(pairs[k][1]) for k in keys]
    rho = spearman(xs, ys)
    if math.isnan(rho):
        raise ValueError("one of the rankings gives every country the same value")
    rng = random.Random(seed)
    n = len(keys)
    draws: list[float] = []
    attempts = 0
    while len(draws) < resamples and attempts < 2 * resamples:
        attempts += 1
        picks = [rng.randrange(n) for _ in range(n)]
        value = spearman([xs[i] for i in picks], [ys[i] for i in picks])
        if not math.isnan(value):
            draws.append(value)
    draws.sort()
    tail = (1 - level) / 2
    low, high = (_quantile(draws, tail), _quantile(draws, 1 - tail)) if draws else (math.nan, math.nan)
    # Rank 1 = the highest value on each side, which is how rankings are read.
    rx = [n + 1 - r for r in ranks(xs)]
    ry = [n + 1 - r for r in ranks(ys)]
    spread = sorted(
        (Disagreement(k, xs[i], ys[i], rx[i], ry[i]) for i, k in enumerate(keys)),
        key=lambda d: (-abs(d.difference), d.key),
    )
    return Agreement(rho, low, high, n, level, len(draws), seed, tuple(spread[:top]))

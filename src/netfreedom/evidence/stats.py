"""The statistics of evidence figures, pure functions of counts (docs/methodology.md, "Statistics").

**Blocked share.**  Of ``tested`` items, ``blocked`` were found blocked: the share is ``blocked / tested``.
Its interval is a Wilson score interval computed on an *effective* sample:

* verdicts are weighted by their ``confidence``: an item's weight ``w`` is the mean confidence of its
  conclusive verdicts, the weighted share is ``Σ w·y / Σ w`` and ``Σ w`` items count as observations (an
  item seen only through verdicts of confidence 0.5 is half an observation);
* items are clustered by network (each item belongs to the network that gave most of its conclusive
  verdicts): networks share a blocking policy, so 500 URLs seen from one ASN are not 500 independent looks
  at a country.  The intra-cluster correlation ``ρ`` is estimated by one-way ANOVA over the networks, never
  below :data:`RHO_FLOOR`, and :data:`RHO_PRIOR` when there are too few networks to estimate it; the design
  effect is ``1 + (m̄ − 1)·ρ`` with ``m̄ = Σ m_a² / Σ m_a`` (Kish), and the effective sample size
  ``Σ w / deff``.

The interval is then widened, if need be, to contain the observed share.  No item tested: no share, and
the interval is the whole of [0, 1].

**Measured interference score.**  ``100 · (1 − I)`` where ``I`` is the weighted mean of the blocked shares
of the kinds that were tested (``evidence.countries.SCORE_WEIGHTS``: sites 0.5, apps 0.2, circumvention 0.2,
middleboxes 0.1, renormalised over the kinds tested); its interval combines the kinds' interval
half-widths in quadrature, each side separately (see :func:`score`).  Nothing tested: 100 with the interval
0–100 — no interference observed, and none could have been.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

RHO_FLOOR = 0.02  # networks are never assumed wholly independent of each other
RHO_PRIOR = 0.3  # assumed correlation within a network when fewer than MIN_CLUSTERS networks tested
MIN_CLUSTERS = 3


@dataclass(frozen=True, slots=True)
class Share:
    """A blocked share and its interval; ``value`` is None when nothing was tested."""

    value: float | None
    low: float
    high: float
    effective_n: float
    design_effect: float

    @property
    def half_width_low(self) -> float:
        return 0.0 if self.value is None else self.value - self.low

    @property
    def half_width_high(self) -> float:
        return 0.0 if self.value is None else self.high - self.value


def z_of(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def t_of(level: float, df: float) -> float:
    """Student's t quantile for a central ``level`` (Cornish-Fisher expansion around the normal one; within
    1 % of the exact value for df ≥ 3, a little conservative below)."""
    z = z_of(level)
    if math.isinf(df):
        return z
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def wilson(p: float, n: float, level: float, df: float = math.inf) -> tuple[float, float]:
    """Wilson score interval for a proportion ``p`` observed on (effective) sample size ``n`` > 0; with
    ``df`` the normal quantile is replaced by Student's t (few clusters)."""
    z = t_of(level, df)
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z2 / (4 * n * n), 0.0)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def intra_cluster_correlation(n: int, blocked: int, clusters: int, sum_m2: float, sum_y2_m: float) -> float:
    """ANOVA estimate of the intra-cluster correlation of a 0/1 outcome.

    ``n`` items in ``clusters`` clusters of sizes ``m_a`` (``sum_m2`` = Σ m_a²) with ``y_a`` blocked items
    each (``blocked`` = Σ y_a, ``sum_y2_m`` = Σ y_a² / m_a). Clamped to [RHO_FLOOR, 1]; RHO_PRIOR when
    fewer than MIN_CLUSTERS clusters (or no item in any cluster beyond the first) make an estimate
    meaningless.
    """
    if clusters < MIN_CLUSTERS or n <= clusters:
        return RHO_PRIOR
    ssb = sum_y2_m - blocked * blocked / n
    ssw = blocked - sum_y2_m
    msb = ssb / (clusters - 1)
    msw = ssw / (n - clusters)
    m0 = (n - sum_m2 / n) / (clusters - 1)
    denom = msb + (m0 - 1) * msw
    if denom <= 0:  # every item alike: the data say nothing about clustering
        return RHO_FLOOR
    return min(1.0, max(RHO_FLOOR, (msb - msw) / denom))


def share(
    tested: int,
    blocked: int,
    *,
    weight: float | None = None,
    weighted_blocked: float | None = None,
    clusters: int = 1,
    sum_m2: float | None = None,
    sum_y2_m: float | None = None,
    level: float = 0.9,
) -> Share:
    """The blocked share of ``tested`` items with its interval (module docstring).

    ``weight``/``weighted_blocked``: Σ w and Σ w·y (default: every weight 1).  ``clusters``, ``sum_m2`` and
    ``sum_y2_m``: the network clustering of the items (default: one network holding them all).
    """
    if tested <= 0:
        return Share(None, 0.0, 1.0, 0.0, 1.0)
    observed = blocked / tested
    w = float(tested if weight is None else weight)
    wb = float(blocked if weighted_blocked is None else weighted_blocked)
    m2 = float(tested * tested if sum_m2 is None else sum_m2)
    y2m = float(blocked * blocked / tested if sum_y2_m is None else sum_y2_m)
    rho = intra_cluster_correlation(tested, blocked, clusters, m2, y2m)
    mean_size = m2 / tested
    deff = max(1.0, 1 + (mean_size - 1) * rho)
    n_eff = w / deff
    if n_eff <= 0:
        return Share(observed, 0.0, 1.0, 0.0, deff)
    p = min(1.0, max(0.0, wb / w)) if w > 0 else observed
    # The between-network spread is known from k networks only: Student's t with k − 1 degrees of freedom.
    df = clusters - 1 if clusters >= MIN_CLUSTERS else math.inf
    low, high = wilson(p, n_eff, level, df)
    return Share(observed, min(low, observed), max(high, observed), n_eff, deff)


@dataclass(frozen=True, slots=True)
class Score:
    """The measured interference score (100 = no interference observed) and its interval."""

    value: float | None
    low: float | None
    high: float | None
    kinds: int  # how many kinds of test contributed


def score(shares: Sequence[Share], weights: Sequence[float] | None = None) -> Score:
    """``100 · (1 − I)``, ``I`` the weighted mean of the tested kinds' blocked shares (weights renormalised
    over the kinds with any tested item; default equal).  The interval combines the kinds' interval
    half-widths in quadrature on each side (the kinds are measured by different tests).  When no kind was
    tested, no interference was observed but none could have been: 100, interval 0–100."""
    ws = list(weights) if weights is not None else [1.0] * len(shares)
    tested = [(s, w) for s, w in zip(shares, ws, strict=True) if s.value is not None and w > 0]
    if not tested:
        return Score(100.0, 0.0, 100.0, 0)
    total = sum(w for _, w in tested)
    mean = sum((s.value or 0.0) * w for s, w in tested) / total
    up = math.sqrt(sum((w * s.half_width_high) ** 2 for s, w in tested)) / total
    down = math.sqrt(sum((w * s.half_width_low) ** 2 for s, w in tested)) / total
    hi_share, lo_share = min(1.0, mean + up), max(0.0, mean - down)
    return Score(
        round(100 * (1 - mean), 1),
        round(100 * (1 - hi_share), 1),
        round(100 * (1 - lo_share), 1),
        len(tested),
    )

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
half-widths in quadrature, each side separately (see :func:`score`).

A point score is given only on enough evidence: the kinds tested must carry at least
:data:`MIN_SCORE_WEIGHT` of the weights (sites alone do; one middlebox test does not speak for a country's
sites, apps and tools) and the score's interval must be at most :data:`MAX_SCORE_WIDTH` points wide.
Otherwise — and when nothing was tested at all — there is no score, no interval, and the status
``not_enough_evidence``: neither 100 ("perfectly free") from no evidence nor 0 from one test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import pyarrow as pa
import pyarrow.compute as pc

RHO_FLOOR = 0.02  # networks are never assumed wholly independent of each other
RHO_PRIOR = 0.3  # assumed correlation within a network when fewer than MIN_CLUSTERS networks tested
MIN_CLUSTERS = 3
# The measured score's minimum evidence (docs/methodology.md, "Measured interference score").
MIN_SCORE_WEIGHT = 0.5  # share of the score's weights the tested kinds must carry
MAX_SCORE_WIDTH = 50.0  # widest interval (points of 0–100) a point score is given with
SCORED = "scored"
NOT_ENOUGH_EVIDENCE = "not_enough_evidence"
NO_MEASUREMENTS = "no_measurements"


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
    return float(_t(level, pa.array([df], pa.float64()))[0].as_py())


def _t(level: float, df: pa.Array) -> pa.Array:
    z = z_of(level)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    inv = pc.divide(1.0, df)  # df = inf: 0, the normal quantile
    return pc.add(z, pc.multiply(inv, pc.add(g1, pc.multiply(inv, pc.add(g2, pc.multiply(inv, g3))))))


def wilson(p: float, n: float, level: float, df: float = math.inf) -> tuple[float, float]:
    """Wilson score interval for a proportion ``p`` observed on (effective) sample size ``n`` > 0; with
    ``df`` the normal quantile is replaced by Student's t (few clusters)."""
    low, high = _wilson(_f([p]), _f([n]), level, _f([df]))
    return float(low[0].as_py()), float(high[0].as_py())


def _f(values: Sequence[float]) -> pa.Array:
    return pa.array(values, pa.float64())


def _wilson(p: pa.Array, n: pa.Array, level: float, df: pa.Array) -> tuple[pa.Array, pa.Array]:
    t = _t(level, df)
    t2 = pc.multiply(t, t)
    denom = pc.add(1.0, pc.divide(t2, n))
    centre = pc.divide(pc.add(p, pc.divide(t2, pc.multiply(2.0, n))), denom)
    spread = pc.add(
        pc.divide(pc.multiply(p, pc.subtract(1.0, p)), n), pc.divide(t2, pc.multiply(4.0, pc.multiply(n, n)))
    )
    half = pc.divide(pc.multiply(t, pc.sqrt(pc.max_element_wise(spread, 0.0))), denom)
    return pc.max_element_wise(pc.subtract(centre, half), 0.0), pc.min_element_wise(pc.add(centre, half), 1.0)


def intra_cluster_correlation(n: int, blocked: int, clusters: int, sum_m2: float, sum_y2_m: float) -> float:
    """ANOVA estimate of the intra-cluster correlation of a 0/1 outcome.

    ``n`` items in ``clusters`` clusters of sizes ``m_a`` (``sum_m2`` = Σ m_a²) with ``y_a`` blocked items
    each (``blocked`` = Σ y_a, ``sum_y2_m`` = Σ y_a² / m_a).  Clamped to [RHO_FLOOR, 1]; RHO_PRIOR when fewer
    than MIN_CLUSTERS clusters (or no item in any cluster beyond the first) make an estimate meaningless.
    """
    rho = _icc(_f([n]), _f([blocked]), _f([clusters]), _f([sum_m2]), _f([sum_y2_m]))
    return float(rho[0].as_py())


def _icc(n: pa.Array, s: pa.Array, k: pa.Array, q2: pa.Array, r: pa.Array) -> pa.Array:
    estimable = pc.and_(pc.greater_equal(k, MIN_CLUSTERS), pc.greater(n, k))
    one = pc.if_else(estimable, 1.0, 0.0)
    # Denominators made harmless where no estimate is made (the result is then replaced).
    k1 = pc.if_else(estimable, pc.subtract(k, 1.0), 1.0)
    nk = pc.if_else(estimable, pc.subtract(n, k), 1.0)
    nn = pc.if_else(pc.greater(n, 0.0), n, 1.0)
    msb = pc.divide(pc.subtract(r, pc.divide(pc.multiply(s, s), nn)), k1)
    msw = pc.divide(pc.subtract(s, r), nk)
    m0 = pc.divide(pc.subtract(n, pc.divide(q2, nn)), k1)
    denom = pc.add(msb, pc.multiply(pc.subtract(m0, 1.0), msw))
    positive = pc.greater(denom, 0.0)
    raw = pc.divide(pc.subtract(msb, msw), pc.if_else(positive, denom, 1.0))
    clamped = pc.min_element_wise(pc.max_element_wise(raw, RHO_FLOOR), 1.0)
    rho = pc.if_else(positive, clamped, RHO_FLOOR)  # every item alike: the data say nothing about clustering
    return pc.if_else(pc.equal(one, 1.0), rho, RHO_PRIOR)


def shares(
    tested: pa.Array,
    blocked: pa.Array,
    *,
    weight: pa.Array,
    weighted_blocked: pa.Array,
    clusters: pa.Array,
    sum_m2: pa.Array,
    sum_y2_m: pa.Array,
    level: float,
) -> dict[str, pa.Array]:
    """:func:`share` for whole columns at once (Arrow arrays of equal length): ``value`` (null when nothing
    was tested), ``low``, ``high``, ``effective_n``, ``design_effect``."""
    n, b = pc.cast(tested, pa.float64()), pc.cast(blocked, pa.float64())
    w, wb = pc.cast(weight, pa.float64()), pc.cast(weighted_blocked, pa.float64())
    k, q2, r = pc.cast(clusters, pa.float64()), pc.cast(sum_m2, pa.float64()), pc.cast(sum_y2_m, pa.float64())
    any_tested = pc.greater(n, 0.0)
    nn = pc.if_else(any_tested, n, 1.0)
    observed = pc.divide(b, nn)
    rho = _icc(n, b, k, q2, r)
    deff = pc.max_element_wise(pc.add(1.0, pc.multiply(pc.subtract(pc.divide(q2, nn), 1.0), rho)), 1.0)
    n_eff = pc.divide(w, deff)
    usable = pc.and_(any_tested, pc.greater(n_eff, 0.0))
    p = pc.if_else(pc.greater(w, 0.0), pc.divide(wb, pc.if_else(pc.greater(w, 0.0), w, 1.0)), observed)
    p = pc.min_element_wise(pc.max_element_wise(p, 0.0), 1.0)
    # The between-network spread is known from k networks only: Student's t with k − 1 degrees of freedom.
    df = pc.if_else(pc.greater_equal(k, MIN_CLUSTERS), pc.subtract(k, 1.0), math.inf)
    low, high = _wilson(p, pc.if_else(usable, n_eff, 1.0), level, df)
    low = pc.if_else(usable, pc.min_element_wise(low, observed), 0.0)
    high = pc.if_else(usable, pc.max_element_wise(high, observed), 1.0)
    return {
        "value": pc.if_else(any_tested, observed, pa.scalar(None, pa.float64())),
        "low": low,
        "high": high,
        "effective_n": pc.if_else(any_tested, n_eff, 0.0),
        "design_effect": pc.if_else(any_tested, deff, 1.0),
    }


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
    out = shares(
        _f([tested]),
        _f([blocked]),
        weight=_f([float(tested if weight is None else weight)]),
        weighted_blocked=_f([float(blocked if weighted_blocked is None else weighted_blocked)]),
        clusters=_f([clusters]),
        sum_m2=_f([float(tested * tested if sum_m2 is None else sum_m2)]),
        sum_y2_m=_f([float(blocked * blocked / tested if sum_y2_m is None and tested else sum_y2_m or 0.0)]),
        level=level,
    )
    got = {name: array[0].as_py() for name, array in out.items()}
    return Share(got["value"], got["low"], got["high"], got["effective_n"], got["design_effect"])


@dataclass(frozen=True, slots=True)
class Score:
    """The measured interference score (100 = no interference observed) and its interval; all three None
    unless ``status`` is :data:`SCORED`."""

    value: float | None
    low: float | None
    high: float | None
    kinds: int  # how many kinds of test contributed
    weight: float = 0.0  # the share of the weights carried by the kinds tested (0–1)
    status: str = NO_MEASUREMENTS  # SCORED, NOT_ENOUGH_EVIDENCE or NO_MEASUREMENTS


def score(
    shares: Sequence[Share],
    weights: Sequence[float] | None = None,
    *,
    min_weight: float = MIN_SCORE_WEIGHT,
    max_width: float = MAX_SCORE_WIDTH,
) -> Score:
    """``100 · (1 − I)``, ``I`` the weighted mean of the tested kinds' blocked shares (weights renormalised
    over the kinds with any tested item; default equal).  The interval combines the kinds' interval
    half-widths in quadrature on each side (the kinds are measured by different tests).

    Given only when the kinds tested carry at least ``min_weight`` of the weights and the interval (as
    rounded) is at most ``max_width`` points wide; otherwise value and interval are None and the status is
    :data:`NOT_ENOUGH_EVIDENCE` (``kinds`` and ``weight`` still say what was tested)."""
    ws = list(weights) if weights is not None else [1.0] * len(shares)
    tested = [(s, w) for s, w in zip(shares, ws, strict=True) if s.value is not None and w > 0]
    whole = sum(w for w in ws if w > 0)
    if not tested:
        return Score(None, None, None, 0, 0.0, NOT_ENOUGH_EVIDENCE)
    total = sum(w for _, w in tested)
    covered = round(total / whole, 6)
    mean = sum((s.value or 0.0) * w for s, w in tested) / total
    up = math.sqrt(sum((w * s.half_width_high) ** 2 for s, w in tested)) / total
    down = math.sqrt(sum((w * s.half_width_low) ** 2 for s, w in tested)) / total
    hi_share, lo_share = min(1.0, mean + up), max(0.0, mean - down)
    value, low, high = (
        round(100 * (1 - mean), 1),
        round(100 * (1 - hi_share), 1),
        round(100 * (1 - lo_share), 1),
    )
    if covered < min_weight or high - low > max_width:
        return Score(None, None, None, len(tested), covered, NOT_ENOUGH_EVIDENCE)
    return Score(value, low, high, len(tested), covered, SCORED)

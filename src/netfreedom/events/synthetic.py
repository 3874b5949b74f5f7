"""Realistic synthetic daily series with injected outages, to measure the detector where real data is thin.

Volunteer measurement volume is noisy, and the generator puts in what makes it so:

- a level per country, log-uniform from ``min_level`` to ``max_level`` measurements a day (most countries
  have few volunteers, a few have many);
- overdispersed day-to-day noise (gamma-Poisson, i.e. negative binomial with dispersion ``dispersion``);
- a weekly rhythm (weekends 20 % lower) and a slow random-walk trend;
- volunteer churn: now and then the level steps up or down for good (a heavy volunteer starts or stops);
- pipeline dips: a few days a year on which every country's volume falls (the probe apps or the pipeline);
- a small background share of blocked verdicts (false positives of the analysis, real long-term blocking),
  and failure bursts that are not censorship: a day or two on which a volunteer behind a captive portal or
  a broken network makes 20–70 % of the verdicts look blocked.

Injected, and returned as the truth (``Event``s, ``source`` = ``synthetic``): national shutdowns (volume to
0–15 % for 1–7 days), regional shutdowns (volume to 70–95 %: mostly invisible nationally, on purpose),
throttling (volume to 30–70 % for 2–14 days) and service blocking (blocked share to 30–90 % for 2–30 days).
Seeded, pure Python, deterministic.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from netfreedom.events.detect import Day, Series
from netfreedom.models.event import Event, EventKind, EventScope

WARM_UP = 35  # days before the first injected event


@dataclass(frozen=True)
class SyntheticConfig:
    countries: int = 60
    days: int = 365
    start: dt.date = dt.date(2023, 1, 1)
    min_level: float = 2.0
    max_level: float = 3000.0
    dispersion: float = 6.0
    churn_per_year: float = 3.0
    pipeline_dips_per_year: float = 4.0
    shutdowns_per_year: float = 1.5
    regional_per_year: float = 2.0
    throttling_per_year: float = 0.7
    blocking_per_year: float = 1.2
    tested_share: float = 0.6
    failure_bursts_per_year: float = 4.0


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n < 50:
        return sum(1 for _ in range(n) if rng.random() < p)
    return min(n, max(0, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p) or 1e-9)))))


def _iso2_codes(n: int) -> list[str]:
    import pycountry

    codes = sorted(str(c.alpha_2) for c in pycountry.countries)
    step = max(1, len(codes) // n)
    return codes[::step][:n]


def generate(seed: int = 1, config: SyntheticConfig | None = None) -> tuple[list[Series], list[Event]]:
    """Country series and the injected events (the truth)."""
    cfg = config or SyntheticConfig()
    rng = random.Random(seed)
    days = [cfg.start + dt.timedelta(days=i) for i in range(cfg.days)]
    dips = {
        rng.randrange(cfg.days): rng.uniform(0.05, 0.4)
        for _ in range(_poisson(rng, cfg.pipeline_dips_per_year * cfg.days / 365))
    }
    series: list[Series] = []
    truth: list[Event] = []
    for iso2 in _iso2_codes(cfg.countries):
        one, injected = _country(rng, iso2, cfg, days, dips)
        series.append(one)
        truth += injected
    return series, truth


_DEPTH = {
    (EventKind.SHUTDOWN, EventScope.NATIONAL): (0.0, 0.15),
    (EventKind.THROTTLING, EventScope.NATIONAL): (0.3, 0.7),
    (EventKind.SHUTDOWN, EventScope.REGIONAL): (0.7, 0.95),
}


def _country(
    rng: random.Random, iso2: str, cfg: SyntheticConfig, days: list[dt.date], dips: dict[int, float]
) -> tuple[Series, list[Event]]:
    level = math.exp(rng.uniform(math.log(cfg.min_level), math.log(cfg.max_level)))
    volume = [1.0] * cfg.days
    blocked_share = [rng.uniform(0.0, 0.08)] * cfg.days
    walk, factor = 0.0, 1.0
    steps = {rng.randrange(cfg.days): rng.uniform(0.4, 1.6) for _ in range(_poisson(rng, cfg.churn_per_year))}
    for i, d in enumerate(days):
        walk = max(-1.0, min(1.0, walk + rng.gauss(0, 0.02)))
        factor *= steps.get(i, 1.0)
        volume[i] = level * factor * math.exp(walk) * (0.8 if d.weekday() >= 5 else 1.0) * dips.get(i, 1.0)
    truth: list[Event] = []
    plan = (
        (EventKind.SHUTDOWN, EventScope.NATIONAL, cfg.shutdowns_per_year, (1, 7)),
        (EventKind.SHUTDOWN, EventScope.REGIONAL, cfg.regional_per_year, (1, 10)),
        (EventKind.THROTTLING, EventScope.NATIONAL, cfg.throttling_per_year, (2, 14)),
        (EventKind.SERVICE_BLOCKING, EventScope.NATIONAL, cfg.blocking_per_year, (2, 30)),
    )
    for kind, scope, rate, (shortest, longest) in plan:
        for _ in range(_poisson(rng, rate * cfg.days / 365)):
            first = rng.randrange(WARM_UP, cfg.days)  # after the detector has a baseline
            last = min(cfg.days - 1, first + rng.randint(shortest, longest) - 1)
            if kind is EventKind.SERVICE_BLOCKING:
                share = rng.uniform(0.3, 0.9)
                for i in range(first, last + 1):
                    blocked_share[i] = share
            else:
                depth = rng.uniform(*_DEPTH[kind, scope])
                for i in range(first, last + 1):
                    volume[i] *= depth
            truth.append(
                Event(
                    id=f"synthetic-{iso2}-{len(truth)}",
                    source="synthetic",
                    iso2=iso2,
                    country=iso2,
                    start=days[first],
                    end=days[last],
                    kind=kind,
                    scope=scope,
                    description=f"injected; level {level:.0f}/day",
                )
            )
    for _ in range(_poisson(rng, cfg.failure_bursts_per_year * cfg.days / 365)):
        first = rng.randrange(cfg.days)
        share = rng.uniform(0.2, 0.7)
        for i in range(first, min(cfg.days, first + rng.randint(1, 2))):
            blocked_share[i] = max(blocked_share[i], share)
    counts: dict[dt.date, Day] = {}
    for i, d in enumerate(days):
        n = _poisson(rng, volume[i] * rng.gammavariate(cfg.dispersion, 1 / cfg.dispersion))
        if n:
            tested = _binomial(rng, n, cfg.tested_share)
            counts[d] = Day(measurements=n, tested=tested, blocked=_binomial(rng, tested, blocked_share[i]))
    return Series(iso2, days[0], days[-1], counts), truth

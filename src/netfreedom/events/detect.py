"""Detect outages and blocking in per-country (or per-network) daily series — pure, no I/O.

The input is a ``Series``: for one country (and optionally one network) and each day, how many measurements
there were (``measurements``), how many verdicts could show interference (``tested``: not inconclusive) and
how many showed it with the control seeing nothing wrong (``blocked``).  Raw measurements and OONI's
aggregates both give such series (``pipeline.events`` builds them), so one detector serves both.

Two signals, each against a robust trailing baseline:

- **volume drop** (IODA's rule for active measurements, adapted to volunteer volume): a day whose
  measurement count is below ``drop_fraction`` × the median of the previous ``window`` days, when that
  median is at least ``min_baseline`` measurements a day — or, for runs of at least ``soft_min_days``
  days, below ``soft_fraction`` × that median.  Days already flagged are left out of later baselines, so
  an outage does not become normal, for at most ``max_days`` days in a row: a longer drop is taken as a new
  level (volunteers come and go), and its first ``max_days`` days stay one event.  A day on which the
  *world's* volume also fell below ``global_fraction`` of its own baseline is not flagged: a drop seen
  everywhere is the pipeline or the probe apps, not a shutdown (the world is every *other* country, so a
  big country's own shutdown does not hide itself).
- **failure spike**: a day whose blocked share (``blocked / tested``, with at least ``min_tested``
  verdicts) is at least ``spike_delta`` above the trailing median share and at least ``spike_factor``
  times it — failures the control did not see — on at least ``spike_min_days`` days of one event (a
  volunteer behind a captive portal makes a day or two look blocked).

Flagged days closer than ``merge_gap`` days apart make one event.  Each event carries the signal, the
baseline (median measurements a day, or the median share), the observed value (mean over its days), their
ratio, and a confidence in 0..1: ``(1 − ratio) × (1 − exp(−baseline / min_baseline))`` for drops (deeper
drops from larger baselines score higher), ``(share − baseline share) × (1 − exp(−tested / min_tested))``
for spikes.  It is a score for ranking and thresholds, not a probability.  The defaults were tuned for
precision on synthetic series (docs/events.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from netfreedom.models.countries import name_of
from netfreedom.models.event import Event, EventKind, EventScope

DETECTED_SOURCE = "netfreedom-detect"
VOLUME_DROP = "volume_drop"
FAILURE_SPIKE = "failure_spike"


@dataclass(frozen=True, slots=True)
class Day:
    measurements: int = 0
    tested: int = 0
    blocked: int = 0


@dataclass(frozen=True)
class Series:
    """Daily counts of one country (``asn`` None) or one network, from ``first`` to ``last`` inclusive;
    days missing from ``days`` had no measurement at all."""

    iso2: str
    first: dt.date
    last: dt.date
    days: Mapping[dt.date, Day] = field(default_factory=dict)
    asn: str | None = None

    def day(self, d: dt.date) -> Day:
        return self.days.get(d, _EMPTY)


_EMPTY = Day()


@dataclass(frozen=True)
class DetectorConfig:
    window: int = 28
    min_history: int = 14
    drop_fraction: float = 0.1
    soft_fraction: float = 0.25
    soft_min_days: int = 2
    min_baseline: float = 50.0
    max_days: int = 30
    global_fraction: float = 0.5
    min_tested: int = 20
    spike_delta: float = 0.3
    spike_factor: float = 3.0
    spike_min_days: int = 3
    merge_gap: int = 1
    min_confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class Flag:
    day: dt.date
    baseline: float
    observed: float
    tested: int = 0


def _dates(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    d = first
    while d <= last:
        yield d
        d += dt.timedelta(days=1)


def pipeline_dips(world: Series, config: DetectorConfig) -> set[dt.date]:
    """Days on which the world's volume (a series of other countries) fell below ``global_fraction`` of
    its trailing median, when that median is at least ``min_baseline`` (else it says nothing)."""
    flags = _drops(world, config, config.global_fraction, min_baseline=config.min_baseline, skip=set())
    return {f.day for f in flags}


def _drops(
    series: Series,
    config: DetectorConfig,
    fraction: float,
    *,
    min_baseline: float,
    skip: set[dt.date],
    soft: float | None = None,
) -> list[Flag]:
    """Days below ``fraction`` × baseline, plus runs of at least ``soft_min_days`` consecutive days below
    ``soft`` × baseline."""
    candidates: list[Flag] = []
    history: list[int] = []  # unflagged daily counts, oldest first
    loose = max(fraction, soft or 0.0)
    streak: list[int] = []  # counts of the current run of flagged days
    for d in _dates(series.first, series.last):
        n = series.day(d).measurements
        if len(streak) >= config.max_days:
            history += streak  # a drop this long is a new level, not an outage
            streak = []
        window = history[-config.window :]
        if len(window) >= config.min_history:
            base = statistics.median(window)
            if base >= min_baseline and n < loose * base and d not in skip:
                candidates.append(Flag(d, float(base), float(n)))
                streak.append(n)
                continue
        streak = []
        history.append(n)
    if soft is None or soft <= fraction:
        return candidates
    keep: list[Flag] = []
    for run in _runs(candidates, 0):
        if len(run) >= config.soft_min_days:
            keep += run
        else:
            keep += [f for f in run if f.observed < fraction * f.baseline]
    return keep


def _spikes(series: Series, config: DetectorConfig) -> list[Flag]:
    flags: list[Flag] = []
    history: list[float] = []
    for d in _dates(series.first, series.last):
        day = series.day(d)
        if day.tested < config.min_tested:
            continue
        share = day.blocked / day.tested
        window = history[-config.window :]
        if len(window) >= config.min_history:
            base = statistics.median(window)
            if share >= base + config.spike_delta and share >= config.spike_factor * base:
                flags.append(Flag(d, base, share, day.tested))
                continue
        history.append(share)
    return flags


def _runs(flags: Sequence[Flag], gap: int) -> list[list[Flag]]:
    runs: list[list[Flag]] = []
    for f in flags:
        if runs and (f.day - runs[-1][-1].day).days <= gap + 1:
            runs[-1].append(f)
        else:
            runs.append([f])
    return runs


def _event(series: Series, signal: str, run: list[Flag], config: DetectorConfig) -> Event:
    baseline = statistics.median(f.baseline for f in run)
    observed = statistics.fmean(f.observed for f in run)
    if signal == VOLUME_DROP:
        ratio = observed / baseline if baseline else 0.0
        confidence = max(0.0, 1 - ratio) * (1 - math.exp(-baseline / config.min_baseline))
        kind = EventKind.SHUTDOWN
    else:
        ratio = observed / baseline if baseline else math.inf
        tested = statistics.fmean(f.tested for f in run)
        confidence = max(0.0, observed - baseline) * (1 - math.exp(-tested / config.min_tested))
        kind = EventKind.SERVICE_BLOCKING
    start, end = run[0].day, run[-1].day
    key = f"{series.iso2}|{series.asn or ''}|{signal}|{start.isoformat()}"
    eid = f"{DETECTED_SOURCE}-{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}"
    where = f"AS{series.asn}" if series.asn and series.asn.isdigit() else series.asn
    return Event(
        id=eid,
        source=DETECTED_SOURCE,
        iso2=series.iso2,
        country=name_of(series.iso2),
        start=start,
        end=end,
        kind=kind,
        scope=EventScope.NETWORK if series.asn else EventScope.NATIONAL,
        area=where,
        detected=True,
        signal=signal,
        asn=series.asn,
        baseline=round(baseline, 4),
        observed=round(observed, 4),
        ratio=round(ratio, 4) if math.isfinite(ratio) else None,
        confidence=round(min(1.0, confidence), 4),
        description=(
            f"measurements fell to {observed:.0f}/day against a median of {baseline:.0f}/day"
            if signal == VOLUME_DROP
            else f"blocked share rose to {observed:.0%} against a median of {baseline:.0%}"
        ),
    )


def detect(
    series: Series, config: DetectorConfig | None = None, *, dips: set[dt.date] | None = None
) -> list[Event]:
    """Detected events of one series, by start day.  ``dips``: pipeline-wide dips (``pipeline_dips``)."""
    config = config or DetectorConfig()
    out: list[Event] = []
    drops = _drops(
        series,
        config,
        config.drop_fraction,
        min_baseline=config.min_baseline,
        skip=dips or set(),
        soft=config.soft_fraction,
    )
    out += [_event(series, VOLUME_DROP, run, config) for run in _runs(drops, config.merge_gap)]
    spikes = _runs(_spikes(series, config), config.merge_gap)
    out += [_event(series, FAILURE_SPIKE, run, config) for run in spikes if len(run) >= config.spike_min_days]
    return sorted(
        (e for e in out if (e.confidence or 0) >= config.min_confidence),
        key=lambda e: (e.start, e.signal or ""),
    )


def baseline_on(series: Series, day: dt.date, config: DetectorConfig) -> float | None:
    """The median daily volume of the ``window`` days before ``day`` (None without ``min_history`` days of
    series before it): whether the detector could have seen an event starting that day."""
    first = max(series.first, day - dt.timedelta(days=config.window))
    if day > series.last or (day - first).days < config.min_history:
        return None
    return float(
        statistics.median(series.day(d).measurements for d in _dates(first, day - dt.timedelta(days=1)))
    )


def _totals(series: Iterable[Series]) -> dict[dt.date, int]:
    total: dict[dt.date, int] = {}
    for s in series:
        for d, day in s.days.items():
            total[d] = total.get(d, 0) + day.measurements
    return total


def detect_all(series: Sequence[Series], config: DetectorConfig | None = None) -> list[Event]:
    """Detected events of every series.  For each country, the days on which the *rest of the world*
    (every other country) also dipped (``pipeline_dips``) are left out of the volume rule."""
    config = config or DetectorConfig()
    countries = [s for s in series if s.asn is None]
    if not countries:
        return []
    world = _totals(countries)
    first = min(s.first for s in countries)
    last = max(s.last for s in countries)
    own = {s.iso2: s for s in countries}
    dips: dict[str, set[dt.date]] = {}
    out: list[Event] = []
    for s in series:
        if s.iso2 not in dips:
            mine = own.get(s.iso2)
            rest = {d: n - (mine.day(d).measurements if mine else 0) for d, n in world.items()}
            rest_series = Series("ZZ", first, last, {d: Day(measurements=n) for d, n in rest.items() if n})
            dips[s.iso2] = pipeline_dips(rest_series, config)
        out += detect(s, config, dips=dips[s.iso2])
    return out

"""Precision and recall of ``events detect``'s detector on synthetic series with injected outages.

    python bench/detect_events.py [--seeds 5] [--countries 60] [--days 365]

Generates realistic volunteer-measurement series (``netfreedom.events.synthetic``: overdispersed noise,
weekly rhythm, trend, volunteer churn, pipeline dips) with injected national shutdowns, regional shutdowns,
throttling and service blocking, runs the detector with its defaults and with a few other settings, and
prints, as Markdown tables (docs/events.md quotes them):

- precision of each signal (volume drops, failure spikes): detected events matching an injected one;
- recall per injected kind, for countries whose median volume reaches the detector's minimum baseline and
  for the others (which it is built not to judge);
- the time per run (median), against the time to generate the series (the baseline in the same run).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable

from netfreedom.events.detect import FAILURE_SPIKE, VOLUME_DROP, DetectorConfig, Series, detect_all
from netfreedom.events.evaluate import score
from netfreedom.events.synthetic import SyntheticConfig, generate
from netfreedom.models.event import Event, EventKind, EventScope

CLASSES = {
    "national shutdown": lambda e: e.kind is EventKind.SHUTDOWN and e.scope is EventScope.NATIONAL,
    "throttling": lambda e: e.kind is EventKind.THROTTLING,
    "regional shutdown": lambda e: e.scope is EventScope.REGIONAL,
    "service blocking": lambda e: e.kind is EventKind.SERVICE_BLOCKING,
}
SETTINGS = {
    "default": DetectorConfig(),
    "min_baseline 20": DetectorConfig(min_baseline=20),
    "drop 0.2, soft 0.3": DetectorConfig(drop_fraction=0.2, soft_fraction=0.3),
    "no soft runs": DetectorConfig(soft_fraction=0.1),
    "IODA-like 0.3, 7-day window": DetectorConfig(
        drop_fraction=0.3, soft_fraction=0.3, window=7, min_history=7
    ),
    "no world guard": DetectorConfig(global_fraction=0.0),
    "one-day spikes": DetectorConfig(spike_min_days=1),
}


def _pct(n: int, d: int) -> str:
    return f"{n / d:.2f} ({n}/{d})" if d else "n/a"


def _level(s: Series) -> float:
    return statistics.median([s.day(d).measurements for d in s.days] or [0])


def _judged(levels: dict[str, float], minimum: float, big: bool) -> Callable[[Event], bool]:
    return lambda e: (levels[e.iso2] >= minimum) == big


def evaluate(runs: list[tuple[list[Series], list[Event]]], config: DetectorConfig) -> dict[str, list[int]]:
    totals: dict[str, list[int]] = {}

    def add(key: str, hit: int, of: int) -> None:
        t = totals.setdefault(key, [0, 0])
        t[0] += hit
        t[1] += of

    for series, truth in runs:
        levels = {s.iso2: _level(s) for s in series}
        found = detect_all(series, config)
        for signal in (VOLUME_DROP, FAILURE_SPIKE):
            s = score([e for e in found if e.signal == signal], truth)
            add(f"precision {signal}", s.true_positives, s.detected)
        for name, keep in CLASSES.items():
            ref = [e for e in truth if keep(e)]
            for big in (True, False):
                s = score(found, ref, evaluable=_judged(levels, config.min_baseline, big))
                add(f"recall {name} {'big' if big else 'small'}", s.found, s.reference)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--countries", type=int, default=60)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    synth = SyntheticConfig(countries=args.countries, days=args.days)
    t0 = time.perf_counter()
    runs = [generate(seed, synth) for seed in range(1, args.seeds + 1)]
    generate_s = (time.perf_counter() - t0) / args.seeds
    injected = sum(len(t) for _, t in runs)
    print(
        f"{args.seeds} synthetic worlds × {args.countries} countries × {args.days} days, {injected} injected"
    )
    head = ["setting", "precision, volume drops", "precision, failure spikes"]
    head += [f"recall, {c}" for c in CLASSES]
    print("\n| " + " | ".join(head) + " |")
    print("|---|---|---|---|---|---|---|")
    times = []
    for name, config in SETTINGS.items():
        t0 = time.perf_counter()
        t = evaluate(runs, config)
        times.append(time.perf_counter() - t0)
        cells = [_pct(*t[f"precision {VOLUME_DROP}"]), _pct(*t[f"precision {FAILURE_SPIKE}"])]
        cells += [_pct(*t[f"recall {c} big"]) for c in CLASSES]
        print(f"| {name} | " + " | ".join(cells) + " |")
    default = evaluate(runs, SETTINGS["default"])
    print("\nRecall in countries below the minimum baseline (default settings; not judged by design):")
    for c in CLASSES:
        print(f"- {c}: {_pct(*default[f'recall {c} small'])}")
    per_run = statistics.median(times) / args.seeds
    print(
        f"\ndetector: median {per_run:.2f} s per world ({args.countries} countries × {args.days} days); "
        f"generating one world: {generate_s:.2f} s (ratio {per_run / generate_s:.2f})"
    )
    print("defaults:", dataclasses.asdict(DetectorConfig()))


if __name__ == "__main__":
    main()

"""Benchmark analysis: parse+analyse rate against orjson parse-only on the same corpus, in the same run.

    python bench/analyze.py [--size-mb 200] [--repeat 3] [--fingerprints-dir ../shared/data]

The corpus comes from ``bench/corpus.py`` (re-issued shared measurements, ~2/3 of the bytes
web_connectivity).  Each pass reads one corpus file at a time into memory (reading is not timed) and
times, per line: ``orjson.loads`` (the baseline), and envelope decode + :func:`netfreedom.analysis.analyze`
with fingerprints (what ``netfreedom analyze`` does per measurement).  Figures are medians of ``--repeat``
passes; the target is parse+analyse >= 50 % of the parse-only rate.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from corpus import SHARED, build_corpus  # noqa: E402

from netfreedom.analysis import FingerprintDB, analyze_line  # noqa: E402
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir  # noqa: E402


def _parse_only(lines: list[bytes]) -> None:
    loads = orjson.loads
    for line in lines:
        loads(line)


def _analyser(db: FingerprintDB | None) -> Callable[[list[bytes]], None]:
    """What the store's analysis runs on each line (``pipeline.analyze.analyze_batch``)."""

    def run(lines: list[bytes]) -> None:
        for line in lines:
            analyze_line(line, db)

    return run


def _pass(files: list[Path], work: Callable[[list[bytes]], None]) -> float:
    total = 0.0
    for path in files:
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
        start = time.perf_counter()
        work(lines)
        total += time.perf_counter() - start
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fingerprints-dir", type=Path, default=SHARED / "data")
    args = ap.parse_args(argv)

    info = build_corpus(size_mb=args.size_mb, fmt="jsonl")
    files = [Path(info.path) / f for f in info.files if f.endswith(".jsonl")]
    mb = info.bytes / 1e6
    db = load_fingerprints(sources_in_dir(args.fingerprints_dir))
    print(f"corpus: {info.measurements} measurements, {mb:.1f} MB in {len(files)} files ({info.path})")
    print(f"fingerprints: {len(db)} ({db.id}), {args.repeat} passes each, medians\n")

    cases = [
        ("parse-only (orjson.loads)", _parse_only),
        ("parse+analyse, no fingerprints", _analyser(None)),
        ("parse+analyse (with fingerprints)", _analyser(db)),
    ]
    medians: dict[str, float] = {}
    for name, work in cases:
        times = [_pass(files, work) for _ in range(args.repeat)]
        medians[name] = statistics.median(times)
    base = medians[cases[0][0]]
    print(f"{'':36} {'seconds':>8} {'meas/s':>10} {'MB/s':>8} {'vs parse':>9}")
    for name, _ in cases:
        t = medians[name]
        print(f"{name:36} {t:8.2f} {info.measurements / t:10.0f} {mb / t:8.1f} {base / t:9.0%}")
    ratio = base / medians[cases[2][0]]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nratio parse+analyse / parse-only: {ratio:.0%} (target >= 50%)   peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

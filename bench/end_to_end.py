"""End to end on the archive's test mix: orjson parse-only, ``ingest`` with analysis, ``analyze --db``.

Builds (or reuses) a corpus of re-issued shared measurements with the archive's test mix (``--wc-share`` of
the measurements are web_connectivity, default 0.85; bench/corpus.py), then runs, interleaved in each of
``--repeat`` rounds, each in its own child process (timed inside it, after imports and fingerprint loading):

- parse-only: read the files line by line and ``orjson.loads`` each line (the baseline);
- ingest: ``pipeline.ingest.ingest`` with analysis (fingerprints on) into a fresh store — what
  ``netfreedom ingest`` does;
- ingest --no-analyze: the same without analysis (the store path alone);
- re-analysis: ``analyze --db`` of that store after its verdicts were dropped (a new ANALYSIS_VERSION or
  fingerprints) — ``pipeline.analyze.analyze_store``.

Prints medians of measurements/s, MB/s, ratio to parse-only (median of the per-round ratios), CPU seconds,
measurements per CPU-second (the per-core rate docs/scaling.md uses) and peak RSS, with the load average.

    python bench/end_to_end.py               # 200 MB, 3 rounds (targets: ingest 0.20, re-analysis 0.30)
    python bench/end_to_end.py --quick        # 20 MB, 1 round
    git archive REV | tar -x -C /tmp/before && python bench/end_to_end.py --repeat 5 --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import SHARED, build_corpus  # noqa: E402

PHASES = ("parse", "ingest", "ingest-no-analyze", "reanalyze")
LABELS = {
    "parse": "parse-only (orjson)",
    "ingest": "ingest + analysis",
    "ingest-no-analyze": "ingest --no-analyze",
    "reanalyze": "analyze --db (redo)",
}


def _fingerprints() -> object:
    from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir

    fingerprints = load_fingerprints(sources_in_dir(SHARED / "data"))
    assert fingerprints.problems is not None  # compiles the matchers now: a one-off per process, untimed
    return fingerprints


def child(phase: str, db: str, files: list[str]) -> None:
    """Inside the child process: run ``phase`` once and print its timing as JSON."""
    sys.path.insert(0, str(HERE.parent / "src"))
    import orjson
    import pyarrow as pa

    from netfreedom.pipeline.analyze import analyze_store
    from netfreedom.pipeline.ingest import Analysis, ingest
    from netfreedom.store import open_store

    doc: dict[str, float] = {}
    if phase == "parse":
        count = 0
        cpu, start = time.process_time(), time.perf_counter()
        for name in files:
            with open(name, "rb") as f:
                for line in f:
                    if line.strip():
                        orjson.loads(line)
                        count += 1
        doc = {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "n": count}
    else:
        fingerprints = _fingerprints()
        with open_store(db) as store:
            # DuckDB imports pandas on its first Arrow use: a one-off per process, kept out of the rate.
            store.read(lambda c: c.register("_warm", pa.table({"a": [1]})))
            if phase == "reanalyze":
                store.reset_verdicts()  # as a new ANALYSIS_VERSION or fingerprint set does, untimed
            cpu, start = time.process_time(), time.perf_counter()
            if phase == "reanalyze":
                n = analyze_store(store, fingerprints).stored  # type: ignore[arg-type]
            else:
                analysis = Analysis(fingerprints) if phase == "ingest" else None  # type: ignore[arg-type]
                summary = ingest(store, files, analysis=analysis)
                n = summary.ingested
                doc["verdicts"] = summary.verdicts
            doc.update(seconds=time.perf_counter() - start, cpu=time.process_time() - cpu, n=n)
    doc["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(doc))


def _run(phase: str, db: Path, files: list[Path], script: Path = Path(__file__)) -> dict[str, float]:
    if phase.startswith("ingest"):
        for p in (db, db.with_name(db.name + ".wal"), db.with_name(db.stem + ".parquet")):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
    out = subprocess.run(
        [sys.executable, str(script), "--child", phase, str(db), *map(str, files)],
        capture_output=True,
        text=True,
        env={**os.environ, "NETFREEDOM_SHARED": str(SHARED)},  # a baseline tree elsewhere reads the same data
    )
    if out.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{out.stderr}")
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> int:
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4:])
        return 0
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--wc-share", type=float, default=0.85, help="web_connectivity share (default 0.85)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="20 MB, 1 round")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="another netfreedom source tree (e.g. `git archive REV | tar -x -C DIR`): each step also runs "
        "from it, interleaved, and the CPU time after / before is printed",
    )
    args = ap.parse_args()
    if args.quick:
        args.size_mb, args.repeat = 20, 1

    info = build_corpus(args.size_mb, "jsonl", days=1, wc_share=args.wc_share)
    files = [Path(info.path) / f for f in info.files]
    mb = info.bytes / 1e6
    n = info.measurements
    print(
        f"corpus: {info.path} ({len(files)} files, {n} measurements, {mb:.1f} MB, {mb * 1e3 / n:.0f} KB each)"
    )
    load_start = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {p: [] for p in PHASES}
    before: dict[str, list[dict[str, float]]] = {p: [] for p in PHASES}
    with tempfile.TemporaryDirectory(dir=HERE / ".corpus", prefix="e2e-") as work:
        for r in range(args.repeat):
            trees = [(runs, Path(__file__), Path(work))]
            if args.baseline is not None:
                base = (before, args.baseline.resolve() / "bench" / "end_to_end.py", Path(work) / "baseline")
                base[2].mkdir(exist_ok=True)
                trees = [*trees, base] if r % 2 else [base, *trees]  # alternate which goes first
            for into, script, folder in trees:
                for phase in PHASES:
                    # re-analysis reads the store ingest + analysis wrote (--no-analyze writes another)
                    db = folder / ("plain.duckdb" if phase == "ingest-no-analyze" else "store.duckdb")
                    run = _run(phase, db, files, script)
                    if phase != "reanalyze":
                        assert run["n"] == n, (phase, run)
                    into[phase].append(run)
            print(
                f"round {r + 1}: "
                + "  ".join(f"{p} {runs[p][-1]['seconds']:.2f} s" for p in PHASES)
                + f"  (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    parse = [x["seconds"] for x in runs["parse"]]
    print()
    print(
        f"{'':22} {'meas/s':>9} {'MB/s':>7} {'ratio':>6} {'CPU s':>6} {'CPU ratio':>9} {'meas/CPU-s':>10} "
        f"{'peak RSS':>9}"
    )
    parse_cpu = [x["cpu"] for x in runs["parse"]]
    for phase in PHASES:
        seconds = statistics.median(x["seconds"] for x in runs[phase])
        cpu = statistics.median(x["cpu"] for x in runs[phase])
        ratio = statistics.median(p / x["seconds"] for p, x in zip(parse, runs[phase], strict=True))
        cpu_ratio = statistics.median(p / x["cpu"] for p, x in zip(parse_cpu, runs[phase], strict=True))
        peak = max(x["peak"] for x in runs[phase]) / 2**20
        print(
            f"{LABELS[phase]:22} {n / seconds:9.0f} {mb / seconds:7.1f} {ratio:6.2f} {cpu:6.2f} "
            f"{cpu_ratio:9.2f} {n / cpu:10.0f} {peak:7.0f} MiB"
        )
    print(
        "ratio = parse-only time / phase time (wall clock), CPU ratio the same in CPU seconds of the process "
        "(all its threads; less sensitive to other load); medians of the rounds' ratios. "
        "Targets: ingest + analysis >= 0.20, analyze --db >= 0.30"
    )
    print(
        f"verdicts stored by ingest: {runs['ingest'][-1].get('verdicts')}; "
        f"by re-analysis: {runs['reanalyze'][-1]['n']:.0f}"
    )
    if args.baseline is not None:
        print(f"against {args.baseline} (each step run from both trees, interleaved):")
        for phase in PHASES[1:]:
            after = [x["cpu"] for x in runs[phase]]
            old = [x["cpu"] for x in before[phase]]
            changes = [a / b for a, b in zip(after, old, strict=True)]
            print(
                f"  {LABELS[phase]:22} CPU s {statistics.median(old):.2f} -> {statistics.median(after):.2f}, "
                f"after / before {statistics.median(changes):.3f} "
                f"(rounds {min(changes):.2f}-{max(changes):.2f}); peak RSS "
                f"{max(x['peak'] for x in before[phase]) / 2**20:.0f} -> "
                f"{max(x['peak'] for x in runs[phase]) / 2**20:.0f} MiB"
            )
    load_end = os.getloadavg()
    print(
        f"rounds: {args.repeat}; medians; {os.cpu_count()} CPUs; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.1f}' for x in load_start)} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in load_end)} at the end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ingest throughput against an orjson parse-only baseline on the same bytes, and peak memory.

Prints medians over ``--repeat`` runs: MB/s and measurements/s for (a) parse-only — read the corpus line by
line and ``orjson.loads`` each line — and (b) ``netfreedom`` ingest of the same files into a fresh store
(child process, timed inside it), their ratio, and the ingest process's peak RSS.

    python bench/ingest.py --size-mb 200            # the issue's figure (target: ratio >= 0.35, RSS < 600 MB)
    python bench/ingest.py --size-mb 20 --repeat 1  # quick look
"""

from __future__ import annotations

import argparse
import gzip
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

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import build_corpus  # noqa: E402


def parse_only(files: list[Path]) -> tuple[float, float, int]:
    count = 0
    cpu = time.process_time()
    start = time.perf_counter()
    for path in files:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as f:
            for line in f:
                if line.strip():
                    orjson.loads(line)
                    count += 1
    return time.perf_counter() - start, time.process_time() - cpu, count


def child(db: str, batch_size: int, files: list[str]) -> None:
    """Run inside the child process: ingest ``files`` into ``db`` and print timing as JSON."""
    sys.path.insert(0, str(HERE.parent / "src"))
    import pyarrow as pa

    from netfreedom.pipeline.ingest import ingest
    from netfreedom.store import open_store

    with open_store(db) as store:
        # DuckDB imports pandas on its first Arrow use: a one-off per process, kept out of the rate.
        store.read(lambda c: c.register("_warm", pa.table({"a": [1]})))
        cpu = time.process_time()  # all threads of the process
        start = time.perf_counter()
        summary = ingest(store, files, batch_size=batch_size)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    doc = {"seconds": seconds, "cpu": cpu, "ingested": summary.ingested, "rejected": summary.rejected}
    print(json.dumps({**doc, "peak": peak}))


def run_ingest(files: list[Path], work: Path, batch_size: int) -> dict[str, float]:
    db = work / "bench.duckdb"
    for p in (db, work / "bench.duckdb.wal", work / "bench.parquet"):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(db), str(batch_size), *map(str, files)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    result["store_mb"] = sum(p.stat().st_size for p in work.rglob("*") if p.is_file()) / 1e6
    return result


def main() -> int:
    if len(sys.argv) > 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--format", choices=("jsonl", "jsonl.gz"), default="jsonl")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=20_000)
    args = ap.parse_args()

    # One day of the archive: the store partitions by day, and an archive day is what one ingests.
    info = build_corpus(args.size_mb, args.format, days=1)
    files = [Path(info.path) / f for f in info.files]
    mb = info.bytes / 1e6
    n = info.measurements
    print(f"corpus: {info.path} ({len(files)} {args.format} files, {n} measurements, {mb:.1f} MB)")

    parse_times = []
    parse_cpu = []
    for _ in range(args.repeat):
        seconds, cpu, count = parse_only(files)
        assert count == info.measurements
        parse_times.append(seconds)
        parse_cpu.append(cpu)
    ingest_runs = []
    with tempfile.TemporaryDirectory(dir=HERE / ".corpus", prefix="store-") as work:
        for _ in range(args.repeat):
            run = run_ingest(files, Path(work), args.batch_size)
            assert run["ingested"] == info.measurements and run["rejected"] == 0, run
            ingest_runs.append(run)
    parse_s = statistics.median(parse_times)
    ingest_s = statistics.median(r["seconds"] for r in ingest_runs)
    peak = max(r["peak"] for r in ingest_runs) / 2**20
    print(
        f"parse-only (orjson): {mb / parse_s:8.1f} MB/s  {info.measurements / parse_s:10.0f} measurements/s"
    )
    print(
        f"ingest:              {mb / ingest_s:8.1f} MB/s  {info.measurements / ingest_s:10.0f} measurements/s"
    )
    print(f"ratio ingest/parse:  {parse_s / ingest_s:8.2f}   (target >= 0.35; wall clock)")
    cpu_ratio = statistics.median(parse_cpu) / statistics.median(r["cpu"] for r in ingest_runs)
    print(f"ratio by CPU time:   {cpu_ratio:8.2f}   (less sensitive to other load on the machine)")
    print(f"peak RSS (ingest):   {peak:8.0f} MiB (target < 600)")
    print(f"store size:          {ingest_runs[-1]['store_mb']:8.1f} MB for {mb:.1f} MB of JSON")
    load = os.getloadavg()[0]
    print(f"runs: {args.repeat}; medians; {os.cpu_count()} CPUs, load average {load:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())

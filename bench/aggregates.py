"""Ingest speed of OONI aggregation exports: a synthetic 100 k-row export, JSON and CSV.

For each format, median of ``--runs`` runs of:

* ``baseline`` — parsing the same bytes with the standard library alone (``json.loads``; ``csv.reader``
  into lists), what any script reading the export does at least;
* ``read`` — netfreedom's reader (``ingest.read_aggregation``): parsing, validating every row, the grain;
* ``ingest`` — the whole ``pipeline.ingest.ingest`` of the file into a fresh store (read + the store's
  ``aggregates`` table, one transaction per 50 000 rows);
* ``re-ingest`` — the same file again into that store (every row a duplicate, nothing written).

Prints rows per second and each time's ratio to the baseline.  Run: ``python bench/aggregates.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from netfreedom.ingest import read_aggregation
from netfreedom.pipeline.ingest import ingest
from netfreedom.store import open_store

AXES = ("measurement_start_day", "probe_asn", "probe_cc")
COUNTS = ("anomaly_count", "confirmed_count", "failure_count", "measurement_count", "ok_count")


def synthetic_rows(n: int, seed: int = 1) -> list[dict[str, object]]:
    """``n`` rows per day × network × country, the shape of OONI's per-network export of one test."""
    rng = random.Random(seed)
    countries = [f"{a}{b}" for a in "ABCDEFGHIJ" for b in "ABCDEFGHIJ"][:50]
    day0 = dt.date(2025, 1, 1)
    rows: list[dict[str, object]] = []
    i = 0
    while len(rows) < n:
        cc = countries[i % len(countries)]
        asn = 1000 + (i // len(countries)) % 200
        day = day0 + dt.timedelta(days=i // (len(countries) * 200))
        total = rng.randint(1, 500)
        anomaly = rng.randint(0, total // 4)
        failure = rng.randint(0, (total - anomaly) // 10)
        rows.append(
            {
                "anomaly_count": anomaly,
                "confirmed_count": rng.randint(0, anomaly // 5) if anomaly else 0,
                "failure_count": failure,
                "measurement_count": total,
                "measurement_start_day": day.isoformat(),
                "ok_count": total - anomaly - failure,
                "probe_asn": asn,
                "probe_cc": cc,
            }
        )
        i += 1
    return rows


def as_json(rows: list[dict[str, object]]) -> bytes:
    return json.dumps({"v": 0, "dimension_count": 3, "result": rows}).encode()


def as_csv(rows: list[dict[str, object]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=sorted(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = synthetic_rows(args.rows)
    dims = {"test_name": "web_connectivity"}
    print(f"{args.rows} rows, median of {args.runs} runs")
    print(f"{'format':6} {'step':10} {'seconds':>8} {'rows/s':>10} {'× baseline':>10}")
    with tempfile.TemporaryDirectory(prefix="nf-bench-agg-") as tmp:
        for fmt, data in (("json", as_json(rows)), ("csv", as_csv(rows))):
            path = Path(tmp) / f"export.{fmt}"
            path.write_bytes(data)

            def baseline(data: bytes = data, fmt: str = fmt) -> object:
                if fmt == "json":
                    return json.loads(data)
                return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))

            def read(data: bytes = data, name: str = str(path)) -> object:
                return sum(1 for _ in read_aggregation(data, name, dims))

            count = 0

            def fresh(path: Path = path) -> None:
                nonlocal count
                count += 1
                db = Path(tmp) / f"{path.name}-{count}.duckdb"
                with open_store(db) as store:
                    s = ingest(store, [str(path)], dimensions=dims)
                assert s.aggregate_rows == args.rows and s.rejected == 0, s

            def again(path: Path = path) -> None:
                db = Path(tmp) / f"{path.name}-1.duckdb"
                with open_store(db) as store:
                    s = ingest(store, [str(path)], dimensions=dims)
                assert s.aggregate_duplicates == args.rows and s.aggregate_rows == 0, s

            base = median_time(baseline, args.runs)
            for step, fn in (("baseline", baseline), ("read", read), ("ingest", fresh), ("re-ingest", again)):
                t = base if step == "baseline" else median_time(fn, args.runs)
                print(f"{fmt:6} {step:10} {t:8.3f} {args.rows / t:10.0f} {t / base:10.2f}")
            print(f"{fmt:6} {'bytes':10} {len(data):8d}")


if __name__ == "__main__":
    main()

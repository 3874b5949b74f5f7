"""Peak memory against input size: ``ingest`` (with and without analysis) and ``analyze --db``.

Builds (or reuses, under ``bench/.corpus/``) corpora of increasing size with the archive's test mix
(bench/corpus.py: re-issued real measurements, ``--wc-share`` of them web_connectivity, default 0.85; each
corpus in both the plain ``.jsonl`` form and the archive's ``.jsonl.gz``), and for each size runs, each in
its own child process, the commands a user runs:

- ``netfreedom ingest FILES --db A --fingerprints-dir ../shared/data`` (analysis with fingerprints);
- ``netfreedom ingest FILES --db B --no-analyze``;
- ``netfreedom analyze --db B --fingerprints-dir ../shared/data`` (the re-analysis path: every stored
  measurement read back from Parquet and given a verdict);
- with ``--gzip``: the first again on the ``.jsonl.gz`` form.

For each it prints the child's peak RSS (``ru_maxrss`` from ``wait4``), the peak of the process's RSS over
the second half of the run (a leak shows there), DuckDB's own peak memory (``duckdb_memory()``, sampled
every 0.2 s) and Arrow's peak allocation, the wall time and measurements/s, and at the end each peak as a
ratio to the same step's at the smallest size (the baseline: 1.00 = flat) and the slope of peak RSS
against input size (MiB per GB of input; flat = near zero) with the load average.  Stores are deleted
after each size.

    python bench/memory.py                         # 500, 1000, 2000, 5000 MB (the issue's 5 GB)
    python bench/memory.py --quick                 # 50, 100, 200 MB: a couple of minutes
    python bench/memory.py --sizes 200,1000 --gzip
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import SHARED, build_corpus  # noqa: E402

STEPS = ("ingest", "ingest-no-analyze", "analyze-db", "ingest-gz")
LABELS = {
    "ingest": "ingest + analysis",
    "ingest-no-analyze": "ingest --no-analyze",
    "analyze-db": "analyze --db",
    "ingest-gz": "ingest + analysis (.gz)",
}
SAMPLE_S = 0.2
MiB = 2**20


class _Sampler(threading.Thread):
    """Samples this process's RSS, Arrow's allocation and DuckDB's buffer memory until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, int, int, int]] = []  # (time, rss, arrow, duckdb)
        # Each store connection's own cursor, made when it opened: the sampler never calls the store's
        # connection itself (DuckDB refuses a call on a connection busy in another thread).
        self.connections: dict[int, Any] = {}
        self.lock = threading.Lock()
        self.tags: dict[str, int] = {}  # DuckDB's peak memory by tag (duckdb_memory())
        self._done = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _duckdb(self) -> int:
        total = 0
        with self.lock:  # the store closes a connection only under this lock (see ``child``)
            for cur in list(self.connections.values()):
                try:
                    rows = cur.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory()").fetchall()
                except Exception:  # a connection closed between two samples
                    continue
                for tag, used in rows:
                    self.tags[tag] = max(self.tags.get(tag, 0), int(used))
                # connections to one file share one buffer pool: the largest, not the sum
                total = max(total, sum(int(used) for _, used in rows))
        return total

    def run(self) -> None:
        import pyarrow as pa

        while not self._done.is_set():
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * self._page
            self.samples.append((time.perf_counter(), rss, pa.total_allocated_bytes(), self._duckdb()))
            self._done.wait(SAMPLE_S)

    def stop(self) -> None:
        self._done.set()
        self.join()


def child(result: str, argv: list[str]) -> None:
    """Inside the child process: run the CLI in-process with a sampler beside it; write what it saw."""
    import duckdb
    import pyarrow as pa

    sampler = _Sampler()
    connect = duckdb.connect

    def watched(*args: Any, **kwargs: Any) -> Any:
        con = connect(*args, **kwargs)
        with sampler.lock:
            sampler.connections[id(con)] = con.cursor()
        return con

    duckdb.connect = watched  # type: ignore[assignment]
    from netfreedom.cli import main
    from netfreedom.store.duckdb_store import DuckDBStore

    close = DuckDBStore.close

    def closing(store: DuckDBStore) -> None:
        with sampler.lock:
            cur = sampler.connections.pop(id(store._con), None)
            if cur is not None:
                cur.close()
        close(store)

    DuckDBStore.close = closing  # type: ignore[method-assign]

    sys.argv = ["netfreedom", *argv]
    start = time.perf_counter()
    sampler.start()
    code: object = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    seconds = time.perf_counter() - start
    sampler.stop()
    half = start + seconds / 2
    samples = sampler.samples
    doc = {
        "code": code,
        "seconds": seconds,
        "rss_late": max((s[1] for s in samples if s[0] >= half), default=0),
        # the pool's own high-water mark (the samples would miss short peaks)
        "arrow_peak": max(
            max((s[2] for s in samples), default=0), pa.default_memory_pool().max_memory() or 0
        ),
        "duckdb_peak": max((s[3] for s in samples), default=0),
        "duckdb_tags": {k: v for k, v in sorted(sampler.tags.items(), key=lambda kv: -kv[1]) if v >= MiB},
    }
    Path(result).write_text(json.dumps(doc))


def _remove_store(db: Path) -> None:
    for p in (db, db.with_name(db.name + ".wal"), db.with_name(db.stem + ".parquet")):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def _run(argv: list[str], work: Path) -> dict[str, Any]:
    result = work / "result.json"
    result.unlink(missing_ok=True)
    env = {**os.environ, "COLUMNS": "200"}
    with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", str(result), *argv], stdout=out, stderr=err, env=env
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not result.is_file():
        raise SystemExit(
            f"netfreedom {' '.join(argv[:3])}... failed ({proc.returncode}):\n{(work / 'stderr').read_text()}"
        )
    doc: dict[str, Any] = json.loads(result.read_text())
    doc["peak"] = usage.ru_maxrss * 1024
    doc["cpu"] = usage.ru_utime + usage.ru_stime
    summary = json.loads((work / "stdout").read_text().strip().splitlines()[-1])
    doc["n"] = summary.get("ingested", summary.get("stored", 0))
    doc["summary"] = summary
    return doc


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys against xs (0 with fewer than two distinct xs)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
        return 0
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sizes", default="500,1000,2000,5000", help="corpus sizes in MB (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="sizes 50,100,200 MB")
    ap.add_argument("--gzip", action="store_true", help="also ingest (with analysis) the .jsonl.gz form")
    ap.add_argument("--wc-share", type=float, default=0.85, help="web_connectivity share (default 0.85)")
    ap.add_argument("--days", type=int, default=3, help="days the measurements span (default 3)")
    args = ap.parse_args()
    sizes = [50, 100, 200] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    steps = [s for s in STEPS if args.gzip or s != "ingest-gz"]
    fingerprints = str(SHARED / "data")

    load_start = os.getloadavg()
    print(f"{os.cpu_count()} CPUs; load average {'/'.join(f'{x:.1f}' for x in load_start)}", flush=True)
    rows: list[tuple[int, float, int, str, dict[str, Any]]] = []
    for size in sizes:
        info = build_corpus(size, "both", days=args.days, wc_share=args.wc_share)
        folder = Path(info.path)
        plain = [str(folder / f) for f in info.files if f.endswith(".jsonl")]
        gz = [str(folder / f) for f in info.files if f.endswith(".jsonl.gz")]
        gb = info.bytes / 1e9
        print(
            f"\n{size} MB: {info.path} ({len(plain)} files, {info.measurements} measurements, "
            f"{info.bytes / 1e6:.0f} MB)",
            flush=True,
        )
        with tempfile.TemporaryDirectory(dir=HERE / ".corpus", prefix="memory-") as tmp:
            work = Path(tmp)
            a, b = work / "a.duckdb", work / "b.duckdb"
            commands = {
                "ingest-no-analyze": ["ingest", *plain, "--db", str(b), "--no-analyze", "--json"],
                "analyze-db": ["analyze", "--db", str(b), "--fingerprints-dir", fingerprints, "--json"],
                "ingest": ["ingest", *plain, "--db", str(a), "--fingerprints-dir", fingerprints, "--json"],
                "ingest-gz": ["ingest", *gz, "--db", str(a), "--fingerprints-dir", fingerprints, "--json"],
            }
            for step in ("ingest-no-analyze", "analyze-db", "ingest", "ingest-gz"):
                if step not in steps:
                    continue
                if step.startswith("ingest"):
                    _remove_store(a)
                doc = _run(commands[step], work)
                if step == "analyze-db":
                    _remove_store(b)
                if doc["n"] != info.measurements:
                    raise SystemExit(f"{step}: {doc['n']} measurements, expected {info.measurements}")
                rows.append((size, gb, info.measurements, step, doc))
                late = doc["rss_late"] / MiB
                print(
                    f"  {LABELS[step]:24} peak RSS {doc['peak'] / MiB:6.0f} MiB (2nd half {late:5.0f}), "
                    f"DuckDB {doc['duckdb_peak'] / MiB:4.0f} MiB, Arrow {doc['arrow_peak'] / MiB:4.0f} MiB, "
                    f"{doc['seconds']:6.1f} s, {doc['n'] / doc['seconds']:5.0f} measurements/s "
                    f"(load {os.getloadavg()[0]:.1f}); DuckDB by tag: "
                    + ", ".join(f"{k} {v / MiB:.0f}" for k, v in doc["duckdb_tags"].items()),
                    flush=True,
                )
            _remove_store(a)

    print()
    print(
        f"{'step':24} {'input MB':>8} {'meas.':>7} {'peak RSS':>9} {'2nd half':>8} {'DuckDB':>7} "
        f"{'Arrow':>6} {'s':>7} {'meas/s':>7} {'CPU s':>7} {'vs smallest':>11}"
    )
    smallest = {step: doc["peak"] for _, _, _, step, doc in sorted(rows, key=lambda r: -r[0])}
    for _, gb, n, step, doc in sorted(rows, key=lambda r: (steps.index(r[3]), r[0])):
        late = doc["rss_late"] / MiB
        print(
            f"{LABELS[step]:24} {gb * 1e3:8.0f} {n:7d} {doc['peak'] / MiB:5.0f} MiB {late:4.0f} MiB "
            f"{doc['duckdb_peak'] / MiB:3.0f} MiB {doc['arrow_peak'] / MiB:2.0f} MiB {doc['seconds']:7.1f} "
            f"{n / doc['seconds']:7.0f} {doc['cpu']:7.1f} {doc['peak'] / smallest[step]:11.2f}"
        )
    print("vs smallest: peak RSS / the same step's peak RSS at the smallest size (1.00 = flat)")
    print()
    worst = max(doc["peak"] for *_, doc in rows) / MiB
    for step in steps:
        got = [(gb, doc["peak"] / MiB) for _, gb, _, s, doc in rows if s == step]
        slope = _slope([g for g, _ in got], [p for _, p in got])
        print(f"{LABELS[step]:24} slope of peak RSS against input: {slope:+6.1f} MiB per GB")
    load_end = os.getloadavg()
    print(
        f"largest peak RSS {worst:.0f} MiB (target < 1024 MiB at 5 GB in); {os.cpu_count()} CPUs; "
        f"load average (1/5/15 min) {'/'.join(f'{x:.1f}' for x in load_start)} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in load_end)} at the end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

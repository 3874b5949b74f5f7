"""Scale-out: the ≥ 200 MB corpus ingested with analysis and re-analysed by the Dask engine with 1 and 2
workers, and by the local engine.

Builds (or reuses) the corpus with bench/corpus.py, in files of ``--file-mb`` (an ingest task per file, as
per archive object), starts a 1-worker and a 2-worker local cluster, then in
``--repeat`` rounds that interleave the engines (local, 1 worker, 2 workers):

- ingests the corpus with analysis (one pass: the workers analyse as they read, with the shared blockpage
  fingerprints) into a fresh store, and
- drops every verdict of one store and analyses it again (re-analysis, ``analyze --db``), also with the same
  Dask tasks on plain process pools of 1 and 2 processes (what the 2 cores give without Dask).

Prints median wall-clock rates (measurements/s and MB/s of raw JSON) and CPU seconds, each engine against
the local one, the 2-worker speed-up over 1 worker for both (the issue's target: ≥ 1.6 on 2 free cores; also
round by round), the workers' peak memory, each cluster's first run (which also imports netfreedom and
loads the fingerprints on every worker) and the machine's load, which matters: the speed-up is only
meaningful on cores nobody else is using.

    python bench/scale.py                          # the issue's figure: 200 MB, 5 rounds
    python bench/scale.py --quick                  # 20 MB, 3 rounds: a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from corpus import CORPUS_ROOT, SHARED, build_corpus  # noqa: E402


def _rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _cpu() -> float:
    return time.process_time()


def timed_local(store: Any, fingerprints: Any) -> tuple[float, float]:
    """Wall-clock seconds and CPU seconds (this process) of one analysis of the whole store."""
    from netfreedom.pipeline.analyze import analyze_store

    store.reset_verdicts()
    start, cpu = time.perf_counter(), time.process_time()
    summary = analyze_store(store, fingerprints)
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert summary.stored == store.count_measurements(), summary
    return took, cpu


def timed_ingest(work: Path, files: list[str], fingerprints: Any, client: Any | None) -> tuple[float, float]:
    """Wall-clock seconds and CPU seconds (this process, or all Dask workers together) of one ingest with
    analysis of the corpus into a fresh store, with the local engine (``client`` None) or on the cluster."""
    from netfreedom.pipeline.ingest import Analysis, ingest
    from netfreedom.pipeline.scale.ingest import ingest_on_cluster
    from netfreedom.store import open_store

    folder = Path(tempfile.mkdtemp(prefix="ingest-", dir=work))
    try:
        with open_store(folder / "store.duckdb") as store:
            before = sum(client.run(_cpu).values()) if client is not None else time.process_time()
            start = time.perf_counter()
            if client is None:
                summary = ingest(store, files, analysis=Analysis(fingerprints))
            else:
                summary = ingest_on_cluster(store, files, client=client, analysis=Analysis(fingerprints))
            took = time.perf_counter() - start
            after = sum(client.run(_cpu).values()) if client is not None else time.process_time()
            assert summary.verdicts == summary.ingested == store.count_measurements() > 0, summary
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return took, after - before


def timed_dask(store: Any, fingerprints: Any, client: Any) -> tuple[float, float]:
    """Wall-clock seconds and CPU seconds (all workers together) of one analysis of the whole store."""
    from netfreedom.pipeline.analyze import analyze_store
    from netfreedom.pipeline.scale import EngineOptions

    store.reset_verdicts()
    before = sum(client.run(_cpu).values())
    start = time.perf_counter()
    summary = analyze_store(store, fingerprints, cluster=EngineOptions(scheduler=client.scheduler.address))
    took = time.perf_counter() - start
    cpu = sum(client.run(_cpu).values()) - before
    assert summary.stored == store.count_measurements(), summary
    return took, cpu


_ANALYZER: Any = None


def _pool_init(analyzer: Any) -> None:
    global _ANALYZER
    _ANALYZER = analyzer


def _pool_task(task: Any, target: Any) -> tuple[Any, float]:
    from netfreedom.pipeline.scale.analyze import analyze_group

    start = time.process_time()
    result = analyze_group(task, _ANALYZER, target)
    return result, time.process_time() - start


def timed_processes(store: Any, fingerprints: Any, pool: Any, workers: int) -> tuple[float, float]:
    """The hardware's share of the speed-up: the Dask engine's own tasks (``analyze_group``, same plan,
    same registration in this process) on a plain process pool, without Dask's scheduler, comms and
    worker machinery.  Wall-clock seconds and the tasks' CPU seconds."""
    import functools

    from netfreedom.analysis import ANALYSIS_VERSION
    from netfreedom.pipeline.scale.analyze import Target, pending_files, plan
    from netfreedom.store.staged import new_run

    store.reset_verdicts()
    start = time.perf_counter()
    target = Target(str(store.parquet_root), new_run(), ANALYSIS_VERSION, fingerprints.id)
    futures = [pool.submit(_pool_task, task, target) for task in plan(pending_files(store), workers)]
    cpu = 0.0
    for future in futures:  # registered in task order, like run_in_order
        (_, staged), task_cpu = future.result()
        cpu += task_cpu
        store.add_verdict_files(staged)
    took = time.perf_counter() - start
    shutil.rmtree(store.parquet_root / target.run, ignore_errors=True)
    assert store.count_verdicts() == store.count_measurements() if hasattr(store, "count_verdicts") else True
    del functools
    return took, cpu


def timed_evidence(store: Any, client: Any | None) -> float:
    from netfreedom.evidence.model import Axis, Period, Window, evidence
    from netfreedom.pipeline.scale.evidence import evidence_on_cluster

    window = Window(dt.date(2024, 1, 1), dt.date(2025, 1, 1), Period.MONTH)
    axes = (Axis.COUNTRY, Axis.URL)
    start = time.perf_counter()
    if client is None:
        evidence(store.query, "url_blocking", axes=axes, window=window)
    else:
        evidence_on_cluster(store, "url_blocking", axes=axes, window=window, client=client)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5, help="rounds of local, 1 worker, 2 workers (default 5)")
    ap.add_argument("--memory-limit", default="1GiB", help="per Dask worker (default 1GiB)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary store")
    ap.add_argument(
        "--file-mb",
        type=int,
        default=4,
        help="corpus file size (default 4): a file is one ingest task, as an archive object is, so files of "
        "a tenth of the corpus or more leave a worker idle",
    )
    ap.add_argument("--quick", action="store_true", help="a quick look: --size-mb 20 --file-mb 1 --repeat 3")
    args = ap.parse_args()
    if args.quick:
        args.size_mb, args.file_mb, args.repeat = 20, 1, 3

    from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir
    from netfreedom.pipeline.analyze import analyze_batch
    from netfreedom.pipeline.ingest import ingest
    from netfreedom.pipeline.scale import EngineOptions, connect
    from netfreedom.store import open_store

    # Files of --file-mb (kept apart from other benches' corpora of the same size, which have 32 MB files).
    info = build_corpus(
        size_mb=args.size_mb, fmt="jsonl", file_mb=args.file_mb, root=CORPUS_ROOT / f"files-{args.file_mb}mb"
    )
    mb = info.bytes / 1e6
    print(f"corpus: {info.path} ({len(info.files)} files, {info.measurements} measurements, {mb:.1f} MB)")
    fingerprints = load_fingerprints(sources_in_dir(SHARED / "data"))
    _ = fingerprints.problems  # compiled before any clock starts (every engine ships or uses them compiled)
    work = Path(tempfile.mkdtemp(prefix="nf-scale-"))
    files = [str(Path(info.path) / f) for f in info.files]
    load_start = os.getloadavg()[0]
    names = {1: "dask 1w", 2: "dask 2w"}
    results: dict[str, list[tuple[float, float]]] = {"local": [], **{n: [] for n in names.values()}}
    results.update({"procs 1": [], "procs 2": []})
    ingests: dict[str, list[tuple[float, float]]] = {"local": [], **{n: [] for n in names.values()}}
    evidence: dict[str, float] = {}
    peaks: dict[str, float] = {}
    first: dict[str, float] = {}
    try:
        with (
            ExitStack() as stack,
            open_store(work / "store.duckdb") as store,
            connect(EngineOptions(workers=1, memory_limit=args.memory_limit)) as one,
            connect(EngineOptions(workers=2, memory_limit=args.memory_limit)) as two,
        ):
            clients = {names[1]: one, names[2]: two}
            # The same tasks on plain process pools: what 2 cores give this workload without Dask.
            analyzer = functools.partial(analyze_batch, fingerprints=fingerprints)
            spawn = multiprocessing.get_context("spawn")
            pools = {
                f"procs {k}": stack.enter_context(
                    ProcessPoolExecutor(k, mp_context=spawn, initializer=_pool_init, initargs=(analyzer,))
                )
                for k in (1, 2)
            }
            # The store the re-analysis rounds work on (stored without verdicts: each round makes them).
            ingest(store, files)
            n = store.count_measurements()
            # A fresh cluster's first run also imports netfreedom and loads the fingerprints on every
            # worker: reported on its own, not mixed into the medians.
            for name, client in clients.items():
                first[name] = timed_ingest(work, files, fingerprints, client)[0]
                first[name + " re"] = timed_dask(store, fingerprints, client)[0]
            for name, pool in pools.items():
                first[name] = timed_processes(store, fingerprints, pool, int(name.split()[1]))[0]
            # Rounds interleave the engines, so that a slow minute of this shared machine hits all three
            # alike; the speed-up is also taken round by round (1 worker over 2 workers of the same round).
            for _ in range(args.repeat):
                ingests["local"].append(timed_ingest(work, files, fingerprints, None))
                for name, client in clients.items():
                    ingests[name].append(timed_ingest(work, files, fingerprints, client))
                results["local"].append(timed_local(store, fingerprints))
                for name, client in clients.items():
                    results[name].append(timed_dask(store, fingerprints, client))
                for name, pool in pools.items():
                    results[name].append(timed_processes(store, fingerprints, pool, int(name.split()[1])))
            evidence["local"] = timed_evidence(store, None)
            for name, client in clients.items():
                evidence[name] = timed_evidence(store, client)
                peaks[name] = max(client.run(_rss_mib).values())
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()[0]

    imed = {k: statistics.median(w for w, _ in v) for k, v in ingests.items()}
    icpu = {k: statistics.median(c for _, c in v) for k, v in ingests.items()}
    print(f"\ningest with analysis of {n} measurements ({mb:.1f} MB), median of {args.repeat} round(s):")
    print(
        f"{'engine':<10} {'wall s':>7} {'meas/s':>7} {'MB/s':>6} {'vs local':>8} "
        f"{'CPU s':>7} {'meas/CPU-s':>10} {'first run':>9}"
    )
    for name, secs in imed.items():
        once = f"{first[name]:.1f} s" if name in first else ""
        print(
            f"{name:<10} {secs:7.1f} {n / secs:7.0f} {mb / secs:6.2f} {imed['local'] / secs:8.2f} "
            f"{icpu[name]:7.1f} {n / icpu[name]:10.0f} {once:>9}"
        )
    print(
        "CPU s: the local process (read, analyse, write) or all Dask workers together (the client's"
        " registering not included)"
    )

    med = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in results.items()}
    print(f"\nre-analysis of {n} measurements ({mb:.1f} MB), median of {args.repeat} round(s):")
    print(
        f"{'engine':<10} {'wall s':>7} {'meas/s':>7} {'MB/s':>6} {'vs local':>8} "
        f"{'CPU s':>7} {'meas/CPU-s':>10} {'RSS/worker':>18} {'first run':>9}"
    )
    for name, secs in med.items():
        peak = f"{peaks[name]:.0f} MiB" if name in peaks else f"{_rss_mib():.0f} MiB (client)"
        once = f"{first[name + ' re']:.1f} s" if name + " re" in first else ""
        print(
            f"{name:<10} {secs:7.1f} {n / secs:7.0f} {mb / secs:6.2f} {med['local'] / secs:8.2f} "
            f"{cpu[name]:7.1f} {n / cpu[name]:10.0f} {peak:>18} {once:>9}"
        )
    print("\nspeed-up 2 workers / 1 worker (target >= 1.6 on 2 free cores):")
    for label, runs in (("ingest with analysis", ingests), ("re-analysis", results)):
        paired = [a[0] / b[0] for a, b in zip(runs[names[1]], runs[names[2]], strict=True)]
        speedup = statistics.median(w for w, _ in runs[names[1]]) / statistics.median(
            w for w, _ in runs[names[2]]
        )
        print(
            f"  {label:<21} {speedup:.2f}   round by round: "
            + " ".join(f"{r:.2f}" for r in paired)
            + f"  (median {statistics.median(paired):.2f})"
        )
    plain = [a[0] / b[0] for a, b in zip(results["procs 1"], results["procs 2"], strict=True)]
    print(
        f"the same tasks on plain process pools, 2 over 1: {med['procs 1'] / med['procs 2']:.2f}"
        f"  (round by round: {' '.join(f'{r:.2f}' for r in plain)})  -- what these 2 cores give without Dask"
    )
    print(
        "CPU s: the local process, all Dask workers together, or the pool's tasks (the client's writing not"
        " included)"
    )
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in evidence.items())
    print(f"evidence url_blocking (country × URL × month, 2024): {timings}")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_start:.1f} at the start, "
        f"{load_end:.1f} at the end (other work counts too); client RSS now {_rss_mib():.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

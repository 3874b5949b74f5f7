"""Probe benchmark: measurements per second against the censorship lab, at --parallel 1 and 32.

    python bench/probe.py [--urls 500] [--repeat 3] [--parallel 1 32] [--timeout 1]

The lab (DNS servers, web servers, middleboxes and the lab's control) runs in a child process, so the probe
measured here does not share its interpreter with the servers it talks to.  The URLs cycle through the
lab's fast cases (ok, NXDOMAIN, injected and bogon DNS, refused, reset, http-diff, blockpage, down), each
made unique by a query string; the cases that only end at a timeout (hang, drop) are left out because they
measure the timeout, not the probe.  Every run writes real JSON lines (to a temporary file) with the
summary keys computed by the analysis code.  Figures: the median of ``--repeat`` runs per parallelism, in
measurements/s, the speed-up against ``--parallel 1`` measured in the same run, and the peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from netfreedom.probe.lab import Lab
from netfreedom.probe.measure import ProbeSettings
from netfreedom.probe.runner import Vantage, run

FAST = {
    "ok",
    "dns-nxdomain",
    "dns-inject",
    "dns-bogon",
    "tcp-refused",
    "http-reset",
    "http-diff",
    "blockpage",
    "down",
}


def serve_lab(conn: Connection) -> None:
    with Lab("127.0.9") as lab:
        conn.send(
            {
                "control_url": lab.control_url,
                "resolver": (lab.censored_dns.host, lab.censored_dns.port),
                "routes": lab.probe_routes,
                "urls": [c.url for c in lab.cases if c.name in FAST],
            }
        )
        conn.recv()  # until the parent says stop


def once(urls: list[str], settings: ProbeSettings, parallel: int, out: Path) -> float:
    started = time.perf_counter()
    with out.open("wb") as handle:
        count = asyncio.run(run(urls, settings, handle, vantage=Vantage("ZZ", "AS0"), parallel=parallel))
    elapsed = time.perf_counter() - started
    assert count == len(urls)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--urls", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args()

    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=serve_lab, args=(child,), daemon=True)
    server.start()
    world: dict[str, Any] = parent.recv()
    settings = ProbeSettings(
        control_url=world["control_url"],
        resolver=tuple(world["resolver"]),
        timeout=args.timeout,
        routes=world["routes"],
    )
    base = world["urls"]
    urls = [f"{base[i % len(base)]}?n={i}" for i in range(args.urls)]
    me = psutil.Process()
    rates: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for parallel in args.parallel:
                runs = [once(urls, settings, parallel, Path(tmp) / "out.jsonl") for _ in range(args.repeat)]
                rates[parallel] = statistics.median(runs)
                spread = ", ".join(f"{r:.1f}" for r in runs)
                rate = rates[parallel]
                print(f"--parallel {parallel:>3}: {rate:8.1f} measurements/s (median; runs: {spread})")
    finally:
        parent.send("stop")
        server.join(timeout=15)
    baseline = rates[args.parallel[0]]
    for parallel, rate in rates.items():
        print(f"speed-up at --parallel {parallel}: {rate / baseline:.1f}x of --parallel {args.parallel[0]}")
    print(f"{args.urls} URLs per run; probe process peak RSS {me.memory_info().rss / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()

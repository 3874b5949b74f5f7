"""Kill an ingest process mid-run (SIGKILL): the store stays consistent and a re-run completes it.

Ingest analyses as it reads (offline here: without fingerprints), so each batch writes measurement and
verdict files under one journal and registers both in one transaction: after the kill every kept
measurement has its verdict and no verdict lacks its measurement."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from netfreedom.store import open_store

from .conftest import cli_env

BATCH = 150


def make_input(measurements_dir: Path, folder: Path, total: int) -> None:
    template = orjson.loads((measurements_dir / "dash.jsonl").read_bytes().splitlines()[0])
    folder.mkdir()
    countries = ["IT", "IR", "CN", "RU", "TR", "BR", "IN", "US"]
    for part in range(4):
        with open(folder / f"part-{part}.jsonl", "wb") as out:
            for i in range(part * total // 4, (part + 1) * total // 4):
                cc = countries[i % len(countries)]
                day = 1 + (i // len(countries)) % 6
                doc = dict(template)
                doc["measurement_uid"] = f"202403{day:02d}120000.{i:06d}_{cc}_dash_{i:016x}"
                doc["probe_cc"] = cc
                doc["measurement_start_time"] = f"2024-03-{day:02d} 12:00:00"
                out.write(orjson.dumps(doc) + b"\n")


def test_sigkill_mid_ingest_leaves_a_consistent_store(tmp_path: Path, measurements_dir: Path) -> None:
    total = 6000
    src = tmp_path / "src"
    make_input(measurements_dir, src, total)
    db = tmp_path / "s.duckdb"
    parquet = tmp_path / "s.parquet"
    cmd = [
        sys.executable,
        "-m",
        "netfreedom",
        "ingest",
        str(src),
        "--db",
        str(db),
        "--batch-size",
        str(BATCH),
    ]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        # Wait until batches are being written (some final Parquet files exist), then kill at once.
        while time.monotonic() < deadline and proc.poll() is None:
            if parquet.is_dir() and len(list(parquet.rglob("*.parquet"))) >= 60:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "ingest finished before it could be killed; make the input larger"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with open_store(db) as store:  # opening for writing removes the killed batch's files
        assert store.check() == []
        kept = store.count_measurements()
        files_on_disk = len(list(parquet.rglob("*.parquet")))
        registered = store.query("SELECT count(*) AS n FROM files").column("n").to_pylist()[0]
        verdicts = store.stats().verdicts
        unanalysed = store.query(
            "SELECT count(*) AS n FROM measurements ANTI JOIN verdicts USING (measurement_uid)"
        ).to_pylist()
    assert verdicts == kept and unanalysed == [{"n": 0}]
    assert kept < total
    assert kept % BATCH == 0  # whole batches only: before or after a batch, never half of one
    assert files_on_disk == registered
    assert not list(parquet.rglob("*.tmp"))

    rerun = subprocess.run([*cmd, "--json"], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    doc = json.loads(rerun.stdout)
    assert doc["ingested"] == total - kept and doc["duplicates"] == kept
    assert doc["verdicts"] == total - kept
    with open_store(db, read_only=True) as store:
        assert store.count_measurements() == total
        assert store.check() == []
        uids = store.query("SELECT count(DISTINCT measurement_uid) AS n FROM measurements").to_pylist()
        assert uids == [{"n": total}]
        assert store.stats().verdicts == total

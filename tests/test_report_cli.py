"""`netfreedom report` and `netfreedom serve` as a user runs them: real processes, a real store, loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from ._report_data import SAMPLE_LISTS, sample_verdicts, write_index_tables, write_verdicts
from .conftest import DATA, cli_env


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cli") / "store.duckdb"
    write_verdicts(db, sample_verdicts(200), SAMPLE_LISTS)
    write_index_tables(db, DATA / "fotn" / "fotn_2018.csv")
    duckdb.connect(str(db)).close()
    return db


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", *args], capture_output=True, text=True, env=cli_env()
    )


def test_report_writes_the_site_then_nothing(store: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    mirror = f"https://unpkg.com/world-atlas@2.0.2/={DATA / 'geo'}"
    first = _run(
        "report",
        "--db",
        str(store),
        "--output",
        str(site),
        "--mirror",
        mirror,
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert first.returncode == 0, first.stderr
    assert "evidence tables rebuilt" in first.stdout
    assert (site / "country" / "CN.html").is_file() and 'id="world"' in (site / "index.html").read_text()
    second = _run(
        "report",
        "--db",
        str(store),
        "--output",
        str(site),
        "--map-url",
        str(DATA / "geo" / "countries-50m.json"),
    )
    assert second.returncode == 0, second.stderr
    assert "(0 files written" in second.stdout and "rebuilt" not in second.stdout


def test_report_errors_are_clean(tmp_path: Path) -> None:
    r = _run("report", "--db", str(tmp_path / "none.duckdb"), "--output", str(tmp_path / "s"))
    assert r.returncode == 2 and "no store at" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("<html>")
    db = tmp_path / "s.duckdb"
    write_verdicts(db, sample_verdicts(5), [])
    r = _run("report", "--db", str(db), "--output", str(tmp_path / "s"), "--map-url", str(bad))
    assert r.returncode == 2 and "not a TopoJSON" in r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_loopback(store: Path, tmp_path: Path) -> None:
    # The cube must exist for aggregation: `report` builds it.
    assert _run("report", "--db", str(store), "--output", str(tmp_path / "site"), "--no-map").returncode == 0
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netfreedom",
            "serve",
            "--db",
            str(store),
            "--port",
            str(port),
            "--site",
            str(tmp_path / "site"),
        ],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(base + "/api/v1/index", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert r.status_code == 200 and len(r.json()["results"]) == 65
        csv_text = httpx.get(base + "/api/v1/counts", params={"axis_x": "probe_cc", "format": "csv"}).text
        assert csv_text.splitlines()[0].startswith("probe_cc,measurements,ok,blocked")
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "Content-Security-Policy" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)

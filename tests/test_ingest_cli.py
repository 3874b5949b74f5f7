"""Acceptance: the shared measurements ingest completely, once, and ``stats`` agrees."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from netfreedom.store import open_store

from .conftest import cli_env


def run_cli(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", *map(str, args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=cwd,
        timeout=120,
    )


def shared_counts(folder: Path) -> Counter[str]:
    """Measurements per test name, read independently of netfreedom (plain json)."""
    counts: Counter[str] = Counter()
    for path in folder.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                counts[json.loads(line)["test_name"]] += 1
    return counts


def test_ingest_twice_then_stats(tmp_path: Path, measurements_dir: Path) -> None:
    expected = shared_counts(measurements_dir)
    total = sum(expected.values())
    assert total == 90 and len(expected) == 36
    db = tmp_path / "s.duckdb"

    first = run_cli("ingest", measurements_dir, "--db", db, "--json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["ingested"] == total
    assert doc["lines"] == total
    assert doc["duplicates"] == 0 and doc["rejected"] == 0 and doc["errors"] == []
    assert doc["files"] == len(list(measurements_dir.glob("*.jsonl")))

    second = run_cli("ingest", measurements_dir, "--db", db, "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["ingested"] == 0 and again["duplicates"] == total

    stats = run_cli("stats", "--db", db, "--json")
    assert stats.returncode == 0, stats.stderr
    s = json.loads(stats.stdout)
    assert s["measurements"] == total
    assert s["by_test_name"] == dict(expected)
    assert sum(s["by_probe_cc"].values()) == total
    assert sum(s["by_month"].values()) == total
    assert all(len(m) == 7 and m[4] == "-" for m in s["by_month"])

    with open_store(db, read_only=True) as store:
        assert store.check() == []


def test_human_output_and_default_db_from_env(tmp_path: Path, measurements_dir: Path) -> None:
    env = cli_env()
    env["NETFREEDOM_DB"] = str(tmp_path / "env.duckdb")
    out = subprocess.run(
        [sys.executable, "-m", "netfreedom", "ingest", str(measurements_dir / "dash.jsonl")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "ingested 1" in out.stdout
    assert (tmp_path / "env.duckdb").is_file()
    stats = subprocess.run(
        [sys.executable, "-m", "netfreedom", "stats"], capture_output=True, text=True, env=env, timeout=120
    )
    assert stats.returncode == 0, stats.stderr
    assert "1 measurements" in stats.stdout and "dash" in stats.stdout


def test_nothing_readable_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"not json\n")
    out = run_cli("ingest", bad, tmp_path / "missing.jsonl", "--db", tmp_path / "s.duckdb", "--json")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    doc = json.loads(out.stdout)
    reasons = {(Path(e["file"]).name, e["line"]): e["reason"] for e in doc["errors"]}
    assert reasons[("bad.jsonl", 1)].startswith("invalid JSON")
    assert reasons[("missing.jsonl", 0)] == "file does not exist"


def test_bad_option_is_a_clean_error(tmp_path: Path, measurements_dir: Path) -> None:
    out = run_cli("ingest", measurements_dir, "--db", tmp_path / "s.duckdb", "--since", "yesterday")
    assert out.returncode == 2
    assert "not a date" in " ".join(out.stderr.split()) and "Traceback" not in out.stderr


def test_stats_without_store_is_a_clean_error(tmp_path: Path) -> None:
    out = run_cli("stats", "--db", tmp_path / "none.duckdb")
    assert out.returncode == 2
    assert "no store" in " ".join(out.stderr.split()) and "Traceback" not in out.stderr
    assert not (tmp_path / "none.duckdb").exists()

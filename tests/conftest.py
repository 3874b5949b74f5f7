"""Shared fixtures.  Tests read real data from ../shared/data (never copied into the repo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NETFREEDOM_SHARED", ROOT.parent / "shared")).resolve()
DATA = SHARED / "data"
MEASUREMENTS = DATA / "ooni" / "measurements"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"shared test data not found at {DATA} (set NETFREEDOM_SHARED)")
    return DATA


@pytest.fixture(scope="session")
def measurements_dir(shared_data: Path) -> Path:
    return shared_data / "ooni" / "measurements"


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


def cli_env() -> dict[str, str]:
    """Environment for running ``python -m netfreedom`` in a subprocess from a source checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NETFREEDOM_DB", None)
    # ingest and analyze read the fingerprints from the shared data, never from their public homes: no test
    # reaches the internet (a test of the default homes maps them with --mirror and drops this variable).
    env["NETFREEDOM_FINGERPRINTS_DIR"] = str(DATA)
    return env


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float | None = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m netfreedom ARGS`` in a subprocess (``cli_env`` plus ``env``), output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", *args],
        capture_output=True,
        text=True,
        env=cli_env() | env,
        cwd=cwd,
        timeout=timeout,
    )

"""The light core: ``pip install netfreedom`` (no extras) in a fresh virtual environment, built from this
checkout's wheel, runs ingest, analyze, index build and report; commands that need an extra say which
``pip install 'netfreedom[...]'`` to run.  Slow (a wheel build and an install), still run in CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netfreedom.pipeline.index import import_fh

from .conftest import DATA, MEASUREMENTS, ROOT

# Distributions the core must not pull in (the extras' and the browser driver's).  h11, which the probe
# extra names, is not here: httpx (core, for downloads) depends on it through httpcore.
NOT_IN_CORE = {"fastapi", "starlette", "uvicorn", "dask", "distributed", "openpyxl", "dnspython"}
NOT_IN_CORE |= {"playwright", "pandas"}


def _env(cache: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NETFREEDOM_DB", "VIRTUAL_ENV")}
    if cache is not None:
        env["NETFREEDOM_CACHE"] = str(cache)  # nothing may come from a cache outside the test
    return env


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("core")
    wheels = base / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        env=_env(),
        cwd=base,
    )
    (wheel,) = wheels.glob("netfreedom-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, env=_env(), cwd=base)
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "netfreedom"), *args],
        capture_output=True,
        text=True,
        env=_env(cwd / "netfreedom-cache"),
        cwd=cwd,
    )


@pytest.mark.slow
def test_the_core_install_has_no_extra_dependencies(core_venv: Path) -> None:
    listing = subprocess.run(
        [str(core_venv / "bin" / "pip"), "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )
    names = {d["name"].lower() for d in json.loads(listing.stdout)}
    assert "netfreedom" in names and "duckdb" in names and "pyarrow" in names
    assert names & NOT_IN_CORE == set()


@pytest.mark.slow
def test_the_core_install_runs_ingest_analyze_index_and_report(core_venv: Path, tmp_path: Path) -> None:
    scores = tmp_path / "fh-2018.csv"
    import_fh(DATA / "fotn" / "fotn_2018_freedomhouse.xlsx", scores)  # the dev install can read .xlsx
    db = str(tmp_path / "store.duckdb")
    steps = [
        ("ingest", str(MEASUREMENTS), "--db", db),
        ("analyze", "--db", db, "--fingerprints-dir", str(DATA)),
        ("index", "build", "--methodology", "fotn-legacy", "--scores", str(scores), "--year", "2018",
         "--db", db, "--testlists", str(DATA / "test-lists" / "lists")),
        ("report", "--output", str(tmp_path / "site"), "--db", db, "--no-map"),
    ]  # fmt: skip
    for args in steps:
        done = _run(core_venv, *args, cwd=tmp_path)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    shown = _run(core_venv, "index", "show", "--year", "2018", "--format", "csv", "--db", db, cwd=tmp_path)
    assert shown.returncode == 0 and len(shown.stdout.splitlines()) == 66  # header + 65 countries
    assert (tmp_path / "site" / "index.html").is_file()
    stats = _run(core_venv, "stats", "--db", db, "--json", cwd=tmp_path)
    counts = json.loads(stats.stdout)
    assert counts["measurements"] > 0 and counts["verdicts"] == counts["measurements"]


@pytest.mark.slow
def test_commands_whose_extra_is_missing_say_what_to_install(core_venv: Path, tmp_path: Path) -> None:
    workbook = str(DATA / "fotn" / "fotn_2018_freedomhouse.xlsx")
    cases = [
        (("serve", "--db", str(tmp_path / "x.duckdb")), "web"),
        (("index", "import-fh", workbook, "--out", str(tmp_path / "fh.csv")), "fh"),
        (("probe", "run", "--url", "https://example.org/", "--control", "http://127.0.0.1:9",
          "--output", str(tmp_path / "out.jsonl"), "--yes"), "probe"),
        (("control", "serve", "--port", "0"), "probe,web"),
        (("lab", "--dir", str(tmp_path / "lab")), "probe,web"),
        (("ingest", str(MEASUREMENTS), "--db", str(tmp_path / "d.duckdb"), "--engine", "dask"), "dask"),
    ]  # fmt: skip
    for args, extra in cases:
        done = _run(core_venv, *args, cwd=tmp_path)
        message = " ".join(done.stderr.split())  # Rich may wrap the line
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert f"pip install 'netfreedom[{extra}]'" in message, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "fh.csv").exists()


@pytest.mark.slow
def test_the_readme_quick_start_installs_what_the_example_needs(core_venv: Path, tmp_path: Path) -> None:
    # Last in this file: it adds the [fh] extra to the core environment.
    args = ["build", str(ROOT / "examples" / "fotn-2018"), "--mirror", str(DATA)]
    args += ["--db", str(tmp_path / "store.duckdb"), "--output", str(tmp_path / "site")]
    without = _run(core_venv, *args, cwd=tmp_path)
    assert without.returncode == 2 and "pip install 'netfreedom[fh]'" in " ".join(without.stderr.split())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install -q -e '.[fh]' && .venv/bin/netfreedom build examples/fotn-2018" in readme
    (wheel,) = (core_venv.parent / "wheels").glob("netfreedom-*.whl")
    pip = [str(core_venv / "bin" / "pip"), "install", "-q", f"{wheel}[fh]"]
    subprocess.run(pip, check=True, env=_env(), cwd=tmp_path)
    built = _run(core_venv, *args, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "65 countries" in built.stderr and (tmp_path / "site" / "index.html").is_file()

"""A new user's first hour, as real processes: build the example project, then find its store with the
commands the build prints (``--project``), read it while ``serve`` holds it, and serve the API without a
site (a landing page and an offline reference at /docs)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ._report_data import example_project
from .conftest import DATA, MEASUREMENTS, cli_env


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = cli_env()
    env["NETFREEDOM_CACHE"] = str(cwd / "cache")
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A folder holding the example project (``project/``), built offline; the build's output."""
    home = tmp_path_factory.mktemp("home")
    example_project(home, MEASUREMENTS)
    r = _run("build", "project", "--mirror", str(DATA), cwd=home)
    assert r.returncode == 0, r.stderr
    return home, r


def test_build_prints_the_next_commands(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    home, r = built
    lines = r.stderr.splitlines()
    assert lines[-4] == f"store: {home / 'project' / 'build' / 'netfreedom.duckdb'}; next:"
    # Run through `python -m netfreedom`, the program is shown as `netfreedom`.
    assert [line.strip() for line in lines[-3:]] == [
        "netfreedom stats --project project",
        "netfreedom index show --project project --year 2018",
        "netfreedom serve --project project",
    ]


def test_without_a_store_the_error_names_the_stores_nearby(
    built: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    home, _ = built
    for command in (["stats"], ["index", "show", "--year", "2018"], ["report", "-o", "out"], ["serve"]):
        r = _run(*command, cwd=home)
        assert r.returncode == 2, (command, r.stderr)
        assert r.stderr == "error: no store at netfreedom.duckdb (stores nearby: --project project)\n"
    # Somewhere with no store at all, the error says how to make one.
    r = _run("stats", cwd=tmp_path)
    assert r.returncode == 2
    assert "no store at netfreedom.duckdb (run `netfreedom build PROJECT_DIR` or" in r.stderr
    r = _run("stats", "--db", "x.duckdb", "--project", str(home / "project"), cwd=tmp_path)
    assert r.returncode == 2 and "give --db or --project, not both" in r.stderr


def test_the_printed_commands_find_the_store(built: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    home, _ = built
    r = _run("stats", "--project", "project", "--json", cwd=home)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["measurements"] == 90
    r = _run("index", "show", "--project", "project", "--year", "2018", "--format", "json", cwd=home)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["countries"]) == 65
    # report --project writes the project's site (its output folder), with its title.
    site = home / "project" / "build" / "site"
    (site / "methodology.html").unlink()
    r = _run("report", "--project", "project", "--mirror", str(DATA), cwd=home)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("site: ") and f" in {site} (" in r.stdout, r.stdout
    assert (site / "methodology.html").is_file()
    assert "Freedom on the Net 2018" in (site / "methodology.html").read_text()


@pytest.fixture()
def serving(
    request: pytest.FixtureRequest, built: tuple[Path, subprocess.CompletedProcess[str]]
) -> Iterator[str]:
    home, _ = built
    proc = subprocess.Popen(
        [sys.executable, "-m", "netfreedom", "serve", *request.param, "--port", "0"],
        env=cli_env(),
        cwd=home,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.match(r"serving (http://127\.0\.0\.1:\d+)/", line)
        assert found, line + proc.stderr.read()
        base = found.group(1)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("serving", [["--project", "project"]], indirect=True)
def test_serve_project_serves_its_site_and_readers_still_work(
    serving: str, built: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    home, _ = built
    page = httpx.get(serving + "/")
    assert page.status_code == 200 and "<title>Freedom on the Net 2018" in page.text
    assert httpx.get(serving + "/api/v1/index", params={"year": 2018}).status_code == 200
    # serve opens the store read-only, so other readers open it too while it runs.
    r = _run("stats", "--project", "project", "--json", cwd=home)
    assert r.returncode == 0, r.stderr
    r = _run("index", "show", "--project", "project", "--year", "2018", "--format", "csv", cwd=home)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 66, r.stderr


@pytest.mark.parametrize("serving", [["--db", "project/build/netfreedom.duckdb"]], indirect=True)
def test_serve_without_a_site_has_a_landing_page_and_docs(serving: str) -> None:
    home = httpx.get(serving + "/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    for link in ("/docs", "/openapi.json", "/api/v1/index", "/api/v1/countries"):
        assert f'href="{link}"' in home.text, link
    assert "<script" not in home.text
    docs = httpx.get(serving + "/docs")
    assert docs.status_code == 200 and "<script" not in docs.text
    paths = httpx.get(serving + "/openapi.json").json()["paths"]
    for path in paths:
        assert f"<code>GET {path}</code>" in docs.text, path
    # Parameters are listed with their types and limits.
    assert re.search(r"<code>limit</code></td><td>query</td><td>integer</td>", docs.text), docs.text[:2000]


def test_lab_prints_a_probe_command_that_runs_as_printed(tmp_path: Path) -> None:
    import shlex

    lab = subprocess.Popen(
        [sys.executable, "-m", "netfreedom", "lab", "--net", "127.0.71", "--dir", "lab"],
        env=cli_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert lab.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("then: "):
            line = lab.stdout.readline()
            assert line, "".join(lines) + (lab.stderr.read() if lab.stderr else "")
            lines.append(line.rstrip("\n"))
        probe = shlex.split(lines[-2])
        analyze = shlex.split(lines[-1].removeprefix("then: "))
        assert probe[:3] == ["netfreedom", "probe", "run"] and probe[-1] == "--yes", probe
        cases = sum(1 for line in (tmp_path / "lab" / "lab.csv").read_text().splitlines()[1:] if line)
        env = cli_env()
        env["NETFREEDOM_CONFIG_DIR"] = str(tmp_path / "config")  # a first run: the notice is shown
        run = subprocess.run(
            [sys.executable, "-m", *probe], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        assert "acceptance remembered" in run.stderr
        assert len((tmp_path / "lab.jsonl").read_text().splitlines()) == cases
        verdicts = subprocess.run(
            [sys.executable, "-m", *analyze], env=cli_env(), cwd=tmp_path, capture_output=True, text=True
        )
        assert verdicts.returncode == 0, verdicts.stderr
        assert len(verdicts.stdout.splitlines()) == cases
    finally:
        lab.terminate()
        lab.wait(timeout=10)

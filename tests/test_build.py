"""`netfreedom build` on the shipped example project, offline through --mirror, and `netfreedom init`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from netfreedom.errors import ConfigError
from netfreedom.pipeline.project import load_project, write_starter

from ._report_data import EXAMPLE
from .conftest import DATA, ROOT, cli_env


def _build(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = cli_env()
    env["NETFREEDOM_CACHE"] = str(cache)
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", "build", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _snapshot(db: Path, site: Path) -> tuple[dict[str, int], dict[Path, int]]:
    con = duckdb.connect(str(db), read_only=True)
    tables = {
        t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # type: ignore[index]
        for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    con.close()
    return tables, {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()}


def test_example_builds_offline_and_a_second_build_changes_nothing(tmp_path: Path) -> None:
    db, site = tmp_path / "store.duckdb", tmp_path / "site"
    args = ["examples/fotn-2018", "--mirror", str(DATA), "--db", str(db), "--output", str(site)]
    first = _build(*args, cache=tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    assert re.search(r"✓ ingest +90 new", first.stderr), first.stderr
    # Ingest analyses as it reads: the analyze step finds every verdict current.
    assert re.search(r"✓ ingest +90 new, .*; 90 analysed", first.stderr), first.stderr
    assert re.search(r"= analyze +verdicts up to date", first.stderr), first.stderr
    assert re.search(r"✓ index +2018: 65 countries", first.stderr)
    html = (site / "index.html").read_text()
    assert len(re.findall(r'<tr data-cc="[A-Z]{2}">', html)) == 65
    assert not list((tmp_path / "cache").glob("*")), "a mirrored build must not download anything"
    before = _snapshot(db, site)
    assert before[0]["verdicts"] == 90 and before[0]["index_results"] == 65
    # OONI's aggregation exports listed in the project: Iraq is known from them alone.
    assert before[0]["aggregates"] == 1908
    iraq = (site / "country" / "IQ.html").read_text()
    assert all(f'id="{i}"' in iraq for i in ("aggregates-only", "aggregate-tests", "aggregate-score"))
    assert 'id="aggregates-only"' not in (site / "country" / "IE.html").read_text()  # one raw measurement
    # The ranking page and docs/methodology.md state the agreement with the experts, as computed here.
    # The sample measures too few countries well enough for a measured score (docs/methodology.md), so
    # there is no rank correlation, and the page says why.
    no_rho = r'id="validation">.*no rank correlation for 2018: 1 country has both a measured score'
    assert re.search(no_rho, html)
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from validation_docs import render
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert render(db) in (ROOT / "docs" / "methodology.md").read_text(encoding="utf-8")

    second = _build(*args, cache=tmp_path / "cache")
    assert second.returncode == 0, second.stderr
    for step in ("ingest", "test lists", "analyze", "index", "report"):
        assert re.search(rf"^= {step} ", second.stderr, re.M), second.stderr
    assert "0 files written" in second.stderr
    assert _snapshot(db, site) == before


def test_build_errors_are_clear(tmp_path: Path) -> None:
    r = _build(str(tmp_path), cache=tmp_path / "cache")
    assert r.returncode == 2 and "no netfreedom.toml here" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "netfreedom.toml").write_text('years = [2018]\ncolour = "red"\n[index]\nscores = ["s"]\n')
    r = _build(str(tmp_path), cache=tmp_path / "cache")
    assert r.returncode == 2 and "unknown field `colour`" in r.stderr


def test_project_validation(tmp_path: Path) -> None:
    f = tmp_path / "netfreedom.toml"
    f.write_text("years = [2018]\n[[sources]]\npath = 'a'\nurl = 'b'\n[index]\nscores = ['s']\n")
    with pytest.raises(ConfigError, match="exactly one of `path` or `url`"):
        load_project(tmp_path)
    f.write_text("years = [2018\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_project(tmp_path)
    f.write_text("years = []\n[index]\nscores = ['s']\n")
    with pytest.raises(ConfigError, match="at least one edition"):
        load_project(tmp_path)


def test_one_mirror_root_serves_every_remote_input(tmp_path: Path) -> None:
    project = load_project(EXAMPLE)
    mirrors = project.mirrors([str(DATA), "https://example.org/x=" + str(tmp_path)])
    from netfreedom.fetch import Fetcher

    f = Fetcher(cache_dir=tmp_path / "cache", mirrors=mirrors)
    assert Path(f.resolve(project.map)) == DATA / "geo" / "countries-50m.json"
    assert Path(f.resolve(project.testlists + "global.csv")) == DATA / "test-lists" / "lists" / "global.csv"
    assert project.fingerprints.dns and Path(f.resolve(project.fingerprints.dns)).is_file()
    assert project.fingerprints.cp_false_positives
    assert Path(f.resolve(project.fingerprints.cp_false_positives)).is_file()
    wb = project.index.freedom_house[0].url
    assert wb and Path(f.resolve(wb)).resolve() == DATA / "fotn" / "fotn_2018_freedomhouse.xlsx"
    assert f.resolve("https://example.org/x/y.csv") == str(tmp_path) + "/y.csv"
    # Anything else falls back to ROOT/host/path, as parse_mirrors does.
    assert f.resolve("https://other.example/a/b") == str(DATA) + "/other.example/a/b"


def test_init_writes_a_project_that_loads(tmp_path: Path) -> None:
    env = cli_env()
    r = subprocess.run(
        [sys.executable, "-m", "netfreedom", "init", str(tmp_path / "p")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "p" / "netfreedom.toml").read_text()
    assert text.endswith('"\n')
    project = load_project(tmp_path / "p")
    assert project.years == [2018] and project.sources[0].path == "measurements/"
    assert (tmp_path / "p" / "scores").is_dir() and (tmp_path / "p" / "measurements").is_dir()
    with pytest.raises(ConfigError, match="already exists"):
        write_starter(tmp_path / "p", title="x", year=2024)
    # It builds offline as written: test_qa_cli.py::test_starter_project_builds_offline_from_the_mirror
    # Another edition can be asked for (it then needs score files of its own in q/scores/).
    r = subprocess.run(
        [sys.executable, "-m", "netfreedom", "init", str(tmp_path / "q"), "--year", "2024"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0 and load_project(tmp_path / "q").years == [2024]


def test_project_aggregates_are_ingested(tmp_path: Path) -> None:
    from netfreedom.fetch import Fetcher
    from netfreedom.pipeline.build import _ingest
    from netfreedom.store import open_store

    folder = DATA / "ooni" / "aggregation"
    (tmp_path / "netfreedom.toml").write_text(
        "years = [2025]\n[index]\nscores = ['s']\n"
        f"[[aggregates]]\npath = '{folder / 'IQ_signal_day-asn.csv'}'\n"
        "dimensions = { probe_cc = 'IQ', test_name = 'signal' }\n"
        f"[[aggregates]]\npath = '{folder / 'IE_signal_day.csv'}'\n"
        "dimensions = { probe_cc = 'IE', test_name = 'signal' }\n"
    )
    project = load_project(tmp_path)
    fetcher = Fetcher(cache_dir=tmp_path / "cache")
    with open_store(tmp_path / "s.duckdb") as store:
        first = _ingest(project, store, fetcher, lambda step, message: None)
        second = _ingest(project, store, fetcher, lambda step, message: None)
        rows = store.query("SELECT probe_cc, count(*) AS n FROM aggregates GROUP BY 1 ORDER BY 1").to_pylist()
    assert first.changed and "253 aggregation rows new or updated" in first.detail
    assert not second.changed and "0 aggregation rows" in second.detail
    assert rows == [{"probe_cc": "IE", "n": 30}, {"probe_cc": "IQ", "n": 223}]
    for bad, message in (
        ("[[aggregates]]\nurl = 'https://example.org/x'\n", "not an aggregation API URL"),
        ("[[aggregates]]\npath = 'x'\ndimensions = { country = 'IQ' }\n", "not a dimension"),
        ("[[aggregates]]\n", "exactly one of `path` or `url`"),
    ):
        (tmp_path / "netfreedom.toml").write_text("years = [2025]\n[index]\nscores = ['s']\n" + bad)
        with pytest.raises(ConfigError, match=message):
            load_project(tmp_path)

"""CLI messages are one line whatever the terminal width says and however long the paths in them are.

Rich hard-wraps at $COLUMNS (or 80) when output is not a terminal; these tests run the real command line
with $COLUMNS=20 and paths of ~250 characters, so a message that wraps (or a test that relies on a short temp
folder) fails here rather than on a machine whose temp folder happens to be shorter.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.table import Table

from netfreedom.cli._console import make_console

from .conftest import DATA, MEASUREMENTS, cli_env


@pytest.fixture()
def long_dir(tmp_path: Path) -> Path:
    folder = tmp_path / ("d" * 120) / ("e" * 120)
    folder.mkdir(parents=True)
    return folder


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = cli_env()
    env.pop("NETFREEDOM_FINGERPRINTS_DIR")  # these tests map the default homes with --mirror
    env["COLUMNS"] = "20"
    env["TERMINAL_WIDTH"] = "20"
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


def _lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def test_store_error_is_one_line(long_dir: Path) -> None:
    db = long_dir / "none.duckdb"
    commands = (
        ["report", "--output", str(long_dir / "site")],
        ["stats"],
        ["index", "show", "--year", "2018"],
    )
    for command in commands:
        r = _run(*command, "--db", str(db))
        assert r.returncode == 2, (command, r.stderr)
        assert len(r.stderr.splitlines()) == 1, (command, r.stderr)
        assert r.stderr.startswith("error: no store at ") and str(db) in r.stderr, (command, r.stderr)


def test_build_error_names_the_whole_folder(long_dir: Path) -> None:
    r = _run("build", str(long_dir))
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and str(long_dir) in r.stderr, r.stderr


def test_analyze_error_with_a_long_path_is_one_line(long_dir: Path) -> None:
    missing = long_dir / "measurements.jsonl"
    r = _run("analyze", str(missing), "-o", "-", "--no-fingerprints")
    assert r.returncode == 1, r.stderr
    [line] = _lines_with(r.stderr, "does not exist")
    assert str(missing) in line, r.stderr


def test_ingest_rejects_are_listed_one_per_line(long_dir: Path, tmp_path: Path) -> None:
    bad = long_dir / "bad.jsonl"
    bad.write_text('{"not": "a measurement"}\nnot json\n')
    r = _run("ingest", str(bad), "--db", str(tmp_path / "s.duckdb"))
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines()[0].startswith("files 1  lines 2  ingested 0")
    listed = _lines_with(r.stdout, str(bad))
    assert [line.split(str(bad))[1][:3] for line in listed] == [":1:", ":2:"], r.stdout


def test_usage_errors_are_plain_lines(long_dir: Path) -> None:
    r = _run("stats", "--bogus")
    assert r.returncode == 2
    assert "Error: No such option: --bogus" in r.stderr.splitlines(), r.stderr
    assert "╭" not in r.stderr  # no boxes
    missing = long_dir / "x.csv"
    r = _run("index", "build", "--methodology", "fotn", "--scores", str(missing), "--year", "2024")
    assert r.returncode == 2
    assert len(_lines_with(r.stderr, str(missing))) == 1, r.stderr


def test_help_has_no_bool_labels() -> None:
    r = _run("analyze", "--help")
    assert r.returncode == 0
    assert "--no-fingerprints" in r.stdout and "<bool>" not in r.stdout


def test_terminal_console_soft_wraps_messages_and_fits_tables() -> None:
    buf = io.StringIO()
    console = make_console(file=buf, force_terminal=True, width=30, color_system=None)
    url = "https://example.org/" + "long/" * 20 + "00-LEGEND-new_category_codes.csv"
    console.print(f"error: cannot fetch {url}")
    table = Table()
    table.add_column("cell")
    table.add_row("word " * 20)
    console.print(table)
    lines = buf.getvalue().splitlines()
    assert lines[0] == f"error: cannot fetch {url}"  # the terminal folds it; no newline is inserted
    assert max(len(line) for line in lines[1:]) <= 30  # tables still fit the terminal


def test_console_off_a_terminal_never_wraps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "10")
    buf = io.StringIO()
    console = make_console(file=buf)
    assert not console.is_terminal
    table = Table()
    table.add_column("cell")
    table.add_row("word " * 20)
    message = "a message that is far longer than ten columns " * 5
    console.print(message)
    console.print(table)
    lines = buf.getvalue().splitlines()
    assert lines[0] == message
    assert any(("word " * 20).strip() in line for line in lines)


def test_unreachable_inputs_name_the_options_that_do_without_them(long_dir: Path, tmp_path: Path) -> None:
    # Every remote home is mapped to a folder that does not exist: the fetch fails without any network.
    gone = f"https://raw.githubusercontent.com/={long_dir / 'missing'}"
    sample = MEASUREMENTS / "dash.jsonl"
    r = _run("analyze", str(sample), "-o", "-", "--mirror", gone, "--cache-dir", str(tmp_path / "c"))
    assert r.returncode == 2
    [line] = r.stderr.splitlines()
    assert str(long_dir) in line
    assert all(opt in line for opt in ("--fingerprints-dir", "--no-fingerprints", "--mirror")), line
    r = _run(
        "index", "build", "--methodology", "fotn-legacy", "--scores", str(DATA / "fotn" / "fotn_2018.csv"),
        "--year", "2018", "--db", str(tmp_path / "s.duckdb"), "--testlists", "public", "--mirror", gone,
        "--cache-dir", str(tmp_path / "c"),
    )  # fmt: skip
    assert r.returncode == 2
    [line] = r.stderr.splitlines()
    assert "--testlists DIR" in line and "--mirror" in line, line
    r = _run("index", "show", "--db", str(tmp_path / "s.duckdb"), "--year", "2018")
    assert r.returncode == 2, "the failed build stored nothing"

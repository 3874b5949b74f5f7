"""Bad input at the command line, as a demanding user gives it: a clear one-line error, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from netfreedom.pipeline.project import load_project

from .conftest import cli_env


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", *args], capture_output=True, text=True, env=cli_env(), cwd=cwd
    )


def _clean_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def test_error_quoting_markup_like_input_is_printed_as_text(tmp_path: Path) -> None:
    # A path holding "[/]" once crashed the error printer itself (Rich markup).
    missing = tmp_path / "no[/]dir[bold]"
    message = _clean_error(_run("build", str(missing)))
    assert "no[/]dir[bold]" in message
    assert "no netfreedom.toml" in message


def test_init_where_no_folder_can_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    message = _clean_error(_run("init", str(blocker / "project")))
    assert "cannot create the project" in message
    assert str(blocker / "project") in message


def test_init_title_with_quotes_and_backslashes_stays_valid_toml(tmp_path: Path) -> None:
    title = 'The "free" net \\ index <b>'
    result = _run("init", str(tmp_path / "p"), "--title", title, "--year", "2018")
    assert result.returncode == 0, result.stderr
    project = load_project(tmp_path / "p")
    assert project.title == title


def test_analyze_store_mode_without_a_store(tmp_path: Path) -> None:
    db = tmp_path / "typo.duckdb"
    # No fingerprint source is reachable here: the store check must come first, and must not create one.
    message = _clean_error(_run("analyze", "--db", str(db), "--cache-dir", str(tmp_path / "cache")))
    assert f"no store at {db}" in message
    assert not db.exists()
    assert not (tmp_path / "cache").exists()

"""Documentation that cannot drift: the CLI reference is generated from --help, and every command and
option the CLI has appears in it."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def test_cli_reference_is_fresh() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_docs.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr


def test_readme_names_every_top_level_command() -> None:
    import typer

    from netfreedom.cli import app

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    missing = [n for n in names if f"netfreedom {n}" not in readme]
    assert missing == []

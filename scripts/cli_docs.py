"""Write docs/cli.md from the command line's own --help, so the reference cannot drift from the code.

python scripts/cli_docs.py          # rewrite docs/cli.md
python scripts/cli_docs.py --check  # exit 1 if docs/cli.md is stale (a test runs this)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

os.environ["TYPER_USE_RICH"] = "0"  # plain click help: stable text, no boxes or colours

import typer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from netfreedom.cli import app  # noqa: E402

OUT = ROOT / "docs" / "cli.md"


def _sections(cmd: Any, path: list[str], parent: Any) -> list[str]:
    # Typer may use its own copy of click, so go through the command's own context class.
    ctx = cmd.context_class(cmd, info_name=path[-1], parent=parent, max_content_width=100, terminal_width=100)
    title = f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`"
    out = [title, "", "```text", cmd.get_help(ctx).rstrip(), "```", ""]
    if hasattr(cmd, "list_commands"):
        for name in sorted(cmd.list_commands(ctx)):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out += _sections(sub, [*path, name], ctx)
    return out


def render() -> str:
    root = typer.main.get_command(app)
    head = [
        "# Command-line reference",
        "",
        "Generated from `--help` by `scripts/cli_docs.py`; a test fails when this file is stale.",
        "",
    ]
    return "\n".join(head + _sections(root, ["netfreedom"], None))


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run `python scripts/cli_docs.py`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

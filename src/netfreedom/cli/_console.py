"""The one way the command line makes a Rich console.

Rich hard-wraps at the terminal's width, and off a terminal at ``$COLUMNS`` or 80 columns, inserting newlines
into messages: a path or URL in an error came out split across lines, and whether a message still held a
path depended on the length of that path.  Every console the CLI creates comes from :func:`make_console`:

- off a terminal (a pipe, a file, a test), nothing is ever wrapped: a message is one line and a table row
  is one line, whatever ``$COLUMNS`` says;
- on a terminal, messages are soft-wrapped (printed whole; the terminal folds long lines without inserting
  newlines, so a path or URL copies as one piece), while tables still fit the terminal's width.
"""

from __future__ import annotations

import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console


class Format(StrEnum):
    """What a command that prints a table prints: a Rich table, CSV or JSON."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]

# Wide enough for any message or table row; Rich pads only when asked (justify, expand).
_UNBOUNDED = 1 << 20


def make_console(*, stderr: bool = False, **options: Any) -> Console:
    """A console on stdout (or stderr) that never hard-wraps messages; ``options`` go to ``Console``."""
    options.setdefault("highlight", False)
    console = Console(stderr=stderr, soft_wrap=True, **options)
    if not console.is_terminal and "width" not in options:
        console.width = _UNBOUNDED
    return console


def command(*args: str | Path) -> str:
    """A netfreedom command line the user can paste: the program as they ran it (``.venv/bin/netfreedom``
    runs without an activated virtualenv), arguments quoted for the shell."""
    ran = sys.argv[0] if sys.argv else ""
    program = ran if Path(ran).name == "netfreedom" else "netfreedom"
    return " ".join(shlex.quote(str(a)) for a in (program, *args))

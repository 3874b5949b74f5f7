"""The ``netfreedom`` command line.

Each command lives in its own module in this package and exposes ``register(app)``; this module finds
them, so adding a command never edits a shared list.  Commands import their heavy dependencies (DuckDB,
FastAPI, Dask, ...) inside the command function, so ``netfreedom --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.markup import escape

from netfreedom import __version__
from netfreedom.errors import NetfreedomError

from ._console import make_console

app = typer.Typer(
    name="netfreedom",
    help="An open, evidence-based internet freedom index: measurements → verdicts → evidence → index.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Click's plain help and usage errors: one line per message (Rich's boxes hard-wrap paths), and flags
    # without Typer's type labels ("<bool>").  docs/cli.md is this same text.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

err_console = make_console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"netfreedom {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """An open, evidence-based internet freedom index."""


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()


def main() -> None:
    """Entry point: run the app; a NetfreedomError is a clear message and exit 2, never a traceback."""
    try:
        app()
    except NetfreedomError as exc:
        # The message quotes user input (paths, URLs) that may look like Rich markup.
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)

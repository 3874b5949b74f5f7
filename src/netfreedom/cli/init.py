"""``netfreedom init``: write a commented starter project."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder for the new project.")],
        *,
        title: Annotated[str, typer.Option(help="Title of the published index.")] = "Internet freedom index",
        year: Annotated[int | None, typer.Option(help="Edition to compute (default: this year).")] = None,
    ) -> None:
        """Create DIR/netfreedom.toml (commented) and DIR/scores/; then edit it and `netfreedom build DIR`."""
        from netfreedom.pipeline.project import write_starter

        written = write_starter(directory, title=title, year=year or dt.datetime.now(dt.UTC).year)
        for path in written:
            typer.echo(f"wrote {path}")
        typer.echo(
            f"next: edit {written[0]}, add score files to {directory / 'scores'}, "
            f"run `netfreedom build {directory}`"
        )

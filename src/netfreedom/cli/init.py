"""``netfreedom init``: write a commented starter project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder for the new project.")],
        *,
        title: Annotated[str, typer.Option(help="Title of the published index.")] = "Internet freedom index",
        year: Annotated[
            int | None,
            typer.Option(
                help="Edition to compute (default 2018: the starter imports Freedom House's 2018 scores; "
                "another year needs score files in DIR/scores/)."
            ),
        ] = None,
    ) -> None:
        """Create DIR/netfreedom.toml (commented), DIR/scores/ and DIR/measurements/.

        The project builds as written: from the public homes of its inputs, or offline with
        `netfreedom build DIR --mirror ROOT`.  Then add your scores and measurements and build again.
        """
        from netfreedom.pipeline.project import STARTER_YEAR, write_starter

        from ._console import command

        written = write_starter(directory, title=title, year=year or STARTER_YEAR)
        for path in written:
            typer.echo(f"wrote {path}")
        typer.echo(
            f"next: `{command('build', directory)}` (offline: add --mirror ROOT); then edit {written[0]}, "
            f"add score files to {directory / 'scores'} and measurements to {directory / 'measurements'}"
        )

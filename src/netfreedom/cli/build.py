"""``netfreedom build``: run a project end to end (ingest → analyze → evidence → index → report)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

MIRROR_HELP = (
    "Serve remote inputs from here: a folder or base URL laid out as the project's mirror_layout table says, "
    "or URL_PREFIX=TARGET (repeatable)."
)


def register(app: typer.Typer) -> None:
    @app.command()
    def build(
        project_dir: Annotated[
            Path, typer.Argument(metavar="[PROJECT_DIR]", help="Folder holding netfreedom.toml.")
        ] = Path("."),
        *,
        mirror: Annotated[list[str] | None, typer.Option(help=MIRROR_HELP)] = None,
        cache_dir: Annotated[
            Path | None,
            typer.Option(help="Download cache (env NETFREEDOM_CACHE; default ~/.cache/netfreedom)."),
        ] = None,
        db: Annotated[
            Path | None, typer.Option("--db", help="Store file (default: the project's `store`).")
        ] = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Site folder (default: the project's `output`).")
        ] = None,
    ) -> None:
        """Build a project: ingest its measurements, analyse them, compile the index, publish the site.

        Incremental: a step whose inputs did not change does nothing, and unchanged site files are left as
        they are.  With --mirror every remote input is read from a local copy (offline builds).
        """
        from rich.markup import escape

        from netfreedom.fetch import DEFAULT_CACHE, Fetcher
        from netfreedom.pipeline.build import build_project
        from netfreedom.pipeline.project import load_project
        from netfreedom.report.publish import load_world, publish

        from ._console import command, make_console
        from ._hints import PROJECT, fetch_hint

        console = make_console(stderr=True)
        project = load_project(project_dir)
        db_path = db or project.store_path
        out = output or project.output_path
        fetcher = Fetcher(cache_dir=cache_dir or DEFAULT_CACHE, mirrors=project.mirrors(mirror or []))
        started = time.perf_counter()
        try:
            with fetch_hint(PROJECT), console.status("starting") as status:

                def progress(step: str, message: str) -> None:
                    status.update(f"[bold]{step}[/]: {escape(message)}")

                results = build_project(project, db=db_path, fetcher=fetcher, progress=progress)
                for r in results:
                    mark = "[green]✓[/]" if r.changed else "[dim]=[/]"
                    console.print(f"{mark} {r.step:<11} {escape(r.detail)} [dim]({r.seconds:.1f} s)[/]")
                status.update("[bold]report[/]: map")
                world = load_world(fetcher, project.map)
                status.update("[bold]report[/]: evidence tables and pages")
                t = time.perf_counter()
                rebuilt, site = publish(db_path, out, world=world, title=project.title)
        finally:
            fetcher.close()
        mark = "[green]✓[/]" if site.changed or rebuilt else "[dim]=[/]"
        console.print(
            f"{mark} {'report':<11} {site.pages} pages, {len(site.written)} files written, "
            f"{site.files - len(site.written)} unchanged{'; evidence tables rebuilt' if rebuilt else ''} "
            f"[dim]({time.perf_counter() - t:.1f} s)[/]"
        )
        console.print(
            f"built in {time.perf_counter() - started:.1f} s: open {escape(str(out / 'index.html'))}"
        )
        where: list[str | Path] = ["--db", db_path] if db is not None else ["--project", project_dir]
        console.print(f"store: {escape(str(db_path))}; next:")
        site_opt: list[str | Path] = ["--site", out] if output is not None else []
        next_commands: list[list[str | Path]] = [
            ["stats", *where],
            ["index", "show", *where, "--year", str(max(project.years))],
            ["serve", *where, *site_opt],
        ]
        for args in next_commands:
            console.print(f"  {escape(command(*args))}")

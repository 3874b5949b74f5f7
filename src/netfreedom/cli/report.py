"""``netfreedom report``: publish the store as a static site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._hints import MAP, fetch_hint
from ._store import DbOpt, ProjectOpt

MIRROR_HELP = "Serve remote inputs from here: BASE_URL_OR_FOLDER, or URL_PREFIX=TARGET (repeatable)."


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        *,
        output: Annotated[
            Path | None,
            typer.Option(
                "--output", "-o", metavar="DIR", help="Folder for the site (default: the project's)."
            ),
        ] = None,
        db: DbOpt = None,
        project: ProjectOpt = None,
        title: Annotated[str | None, typer.Option(help="Site title (default: the project's).")] = None,
        map_url: Annotated[
            str | None,
            typer.Option(
                metavar="URL|FILE",
                help="world-atlas TopoJSON (default: the project's, or world-atlas's home).",
            ),
        ] = None,
        no_map: Annotated[bool, typer.Option("--no-map", help="Publish without the world map.")] = False,
        mirror: Annotated[list[str] | None, typer.Option(help=MIRROR_HELP)] = None,
        cache_dir: Annotated[
            Path | None,
            typer.Option(help="Download cache (env NETFREEDOM_CACHE; default ~/.cache/netfreedom)."),
        ] = None,
    ) -> None:
        """Write the static site (ranking, map, country pages, methodology, downloads) from the store.

        The site works from the file system with no network.  Files whose content did not change are
        left untouched.  With --project, the store, site folder, title, map and mirror layout come from
        the project's netfreedom.toml.
        """
        from netfreedom.errors import InputError
        from netfreedom.fetch import DEFAULT_CACHE, Fetcher, parse_mirrors
        from netfreedom.pipeline.project import load_project, locate_store
        from netfreedom.report.geo import WORLD_ATLAS_URL
        from netfreedom.report.publish import load_world, publish

        db_path = locate_store(db, project)
        proj = load_project(project) if project is not None else None
        out = output or (proj.output_path if proj else None)
        if out is None:
            raise InputError("say where the site goes: --output DIR (or --project DIR)")
        world = None
        if not no_map:
            mirrors = proj.mirrors(mirror or []) if proj else parse_mirrors(mirror or [])
            fetcher = Fetcher(cache_dir=cache_dir or DEFAULT_CACHE, mirrors=mirrors)
            try:
                with fetch_hint(MAP):
                    world = load_world(fetcher, map_url or (proj.map if proj else WORLD_ATLAS_URL))
            finally:
                fetcher.close()
        default_title = proj.title if proj else "Internet freedom index"
        rebuilt, site = publish(db_path, out, world=world, title=title or default_title)
        typer.echo(
            f"site: {site.pages} pages in {out} ({len(site.written)} files written, "
            f"{site.files - len(site.written)} unchanged){'; evidence tables rebuilt' if rebuilt else ''}"
        )

"""``netfreedom report``: publish the store as a static site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DB_HELP = "Store file (env NETFREEDOM_DB; default ./netfreedom.duckdb)."
MIRROR_HELP = "Serve remote inputs from here: BASE_URL_OR_FOLDER, or URL_PREFIX=TARGET (repeatable)."


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        *,
        output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the site.")],
        db: Annotated[Path | None, typer.Option("--db", help=DB_HELP)] = None,
        title: Annotated[str, typer.Option(help="Site title.")] = "Internet freedom index",
        map_url: Annotated[str | None, typer.Option(help="world-atlas TopoJSON (URL or file).")] = None,
        no_map: Annotated[bool, typer.Option("--no-map", help="Publish without the world map.")] = False,
        mirror: Annotated[list[str] | None, typer.Option(help=MIRROR_HELP)] = None,
        cache_dir: Annotated[
            Path | None,
            typer.Option(help="Download cache (env NETFREEDOM_CACHE; default ~/.cache/netfreedom)."),
        ] = None,
    ) -> None:
        """Write the static site (ranking, map, country pages, methodology, downloads) from the store.

        The site works from the file system with no network.  Files whose content did not change are
        left untouched.
        """
        from netfreedom.fetch import DEFAULT_CACHE, Fetcher, parse_mirrors
        from netfreedom.report.geo import WORLD_ATLAS_URL
        from netfreedom.report.publish import load_world, publish
        from netfreedom.store import default_db_path

        db_path = db or default_db_path()
        if not db_path.is_file():
            from netfreedom.errors import StoreError

            raise StoreError(f"no store at {db_path} (run `netfreedom ingest` or `netfreedom build` first)")
        world = None
        if not no_map:
            fetcher = Fetcher(cache_dir=cache_dir or DEFAULT_CACHE, mirrors=parse_mirrors(mirror or []))
            try:
                world = load_world(fetcher, map_url or WORLD_ATLAS_URL)
            finally:
                fetcher.close()
        rebuilt, site = publish(db_path, output, world=world, title=title)
        typer.echo(
            f"site: {site.pages} pages in {output} ({len(site.written)} files written, "
            f"{site.files - len(site.written)} unchanged){'; aggregation tables rebuilt' if rebuilt else ''}"
        )

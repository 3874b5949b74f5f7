"""Publish a store: refresh the aggregation cube, fetch the map, write the site.  Used by ``report`` and
``build``."""

from __future__ import annotations

from pathlib import Path

from netfreedom.fetch import Fetcher
from netfreedom.report.aggregate import refresh_cube
from netfreedom.report.geo import WORLD_ATLAS_URL, WorldMap, world_map
from netfreedom.report.site import SiteResult, write_site


def load_world(fetcher: Fetcher, url: str = WORLD_ATLAS_URL) -> WorldMap:
    """The world map from world-atlas, through the fetcher's cache and mirrors."""
    return world_map(fetcher.fetch(url).read_bytes())


def publish(db: Path | None, output: Path, *, world: WorldMap | None, title: str) -> tuple[bool, SiteResult]:
    """Refresh the cube if the verdicts changed (needs write access), then write the site.

    Returns whether the cube was rebuilt and what the site writer did.
    """
    from netfreedom.store import open_store

    with open_store(db) as store:
        rebuilt = store.run(refresh_cube)
        site = store.read(lambda con: write_site(con, output, world=world, title=title))
    return rebuilt, site

"""Publish a store: refresh the evidence tables, fetch the map, write the site.  Used by ``report`` and
``build``."""

from __future__ import annotations

from pathlib import Path

from netfreedom.errors import InputError
from netfreedom.evidence import facts
from netfreedom.fetch import Fetcher
from netfreedom.report.geo import WORLD_ATLAS_URL, WorldMap, world_map
from netfreedom.report.site import SiteResult, write_site


def load_world(fetcher: Fetcher, url: str = WORLD_ATLAS_URL) -> WorldMap:
    """The world map from world-atlas (a URL, through the fetcher's cache and mirrors, or a local file)."""
    try:
        if url.startswith(("http://", "https://")):
            data = fetcher.fetch(url).read_bytes()
        else:
            data = Path(url).read_bytes()
        return world_map(data)
    except OSError as exc:
        raise InputError(f"cannot read the map: {exc.strerror or exc}", file=url) from exc
    except InputError as exc:
        # world_map judges bytes; the user needs to know which map they came from.
        raise InputError(exc.reason, file=url) from exc


def publish(db: Path | None, output: Path, *, world: WorldMap | None, title: str) -> tuple[bool, SiteResult]:
    """Refresh the evidence tables (``evidence.facts``) if the verdicts or test lists changed (needs write
    access), then write the site.

    Returns whether the evidence tables were rebuilt and what the site writer did.
    """
    from netfreedom.store import open_store

    # Checked before the store is touched, so a mistyped --output costs nothing.
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the site folder: {exc.strerror or exc}", file=str(output)) from exc
    with open_store(db) as store:
        rebuilt = store.run(facts.refresh)
        try:
            site = store.read(lambda con: write_site(con, output, world=world, title=title))
        except OSError as exc:
            raise InputError(f"cannot write the site: {exc}", file=str(output)) from exc
    return rebuilt, site

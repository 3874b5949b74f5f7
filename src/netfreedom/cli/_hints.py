"""What to do when a remote input cannot be fetched (offline, or its home is gone): each command names the
options that serve that input from a local copy or do without it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from netfreedom.errors import FetchError

FINGERPRINTS = (
    "offline? read the fingerprint files from a folder with --fingerprints-dir DIR, skip them with "
    "--no-fingerprints, or map their URLs with --mirror URL_PREFIX=FOLDER"
)
TESTLISTS = (
    "offline? give a copy of Citizen Lab's lists/ folder with --testlists DIR, or map the URL with "
    "--mirror URL_PREFIX=FOLDER"
)
MAP = (
    "offline? give world-atlas's countries-50m.json with --map-url FILE, publish without the map with "
    "--no-map, or map the URL with --mirror URL_PREFIX=FOLDER"
)
PROJECT = (
    "offline? build from a local copy with --mirror ROOT (laid out as the project's [mirror_layout]), "
    "or point netfreedom.toml at local files"
)


@contextmanager
def fetch_hint(hint: str) -> Iterator[None]:
    """Re-raise a ``FetchError`` from the block with ``hint`` added to its message."""
    try:
        yield
    except FetchError as exc:
        raise exc.with_hint(hint) from exc

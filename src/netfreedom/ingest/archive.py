"""The OONI archive over HTTPS: S3 ListObjectsV2 listings (anonymous), pruned by the filters level by
level, and objects downloaded one at a time through ``netfreedom.fetch.Fetcher`` (cache and mirrors).

Accepted sources::

    s3://ooni-data-eu-fra/raw/                         the public bucket (any key prefix, or none)
    https://ooni-data-eu-fra.s3.eu-central-1.amazonaws.com/raw/20240101/
    https://HOST/PREFIX                                  any S3-compatible endpoint, virtual-host style
    https://HOST/…/NAME.jsonl.gz (or .tar.gz, .json…)   one object

From the bucket root, ``raw/`` and ``jsonl/`` are walked; elsewhere everything below the prefix.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from netfreedom.errors import FetchError, InputError
from netfreedom.fetch import Fetcher
from netfreedom.ingest.files import is_measurement_file, read_file
from netfreedom.ingest.folder import read_folder
from netfreedom.ingest.layout import LAYOUTS, Filters, Level
from netfreedom.ingest.lines import MAX_LINE
from netfreedom.ingest.records import Item, Problem

OONI_BUCKET = "ooni-data-eu-fra"
ENDPOINTS = {OONI_BUCKET: "https://ooni-data-eu-fra.s3.eu-central-1.amazonaws.com"}
# Enumerating day prefixes costs one request per day; above this span one listing of days is cheaper.
_ENUMERATE_DAYS = 31
_SHAPES = {
    Level.DAY: str.isdigit,
    Level.HOUR: str.isdigit,
    Level.COUNTRY: str.isupper,
    Level.TEST: str.isidentifier,
}


@dataclass(frozen=True)
class ArchiveSource:
    base: str  # the bucket's endpoint, no trailing slash
    prefix: str  # a key prefix ("" for the whole bucket) or one object's key


def is_archive_url(spec: str) -> bool:
    return spec.startswith(("s3://", "http://", "https://"))


def parse_archive_url(spec: str) -> ArchiveSource:
    parts = urllib.parse.urlsplit(spec)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise InputError(f"no bucket in {spec!r} (use s3://BUCKET/PREFIX)")
        base = ENDPOINTS.get(parts.netloc, f"https://{parts.netloc}.s3.amazonaws.com")
    elif parts.scheme in ("http", "https") and parts.netloc:
        base = f"{parts.scheme}://{parts.netloc}"
    else:
        raise InputError(f"not an archive URL: {spec!r}")
    prefix = urllib.parse.unquote(parts.path).lstrip("/")
    if prefix and not prefix.endswith("/") and not is_measurement_file(prefix):
        prefix += "/"
    return ArchiveSource(base, prefix)


class Lister:
    """ListObjectsV2 over HTTP(S): yields common prefixes and (key, size) of objects, across pages."""

    def __init__(self, base: str, fetcher: Fetcher) -> None:
        self.base = base
        self.fetcher = fetcher
        self.requests = 0

    def url(self, prefix: str, delimiter: str | None, token: str | None) -> str:
        query = {"list-type": "2", "prefix": prefix}
        if delimiter:
            query["delimiter"] = delimiter
        if token:
            query["continuation-token"] = token
        return f"{self.base}/?{urllib.parse.urlencode(query)}"

    def list(self, prefix: str, delimiter: str | None) -> Iterator[tuple[str, int | None]]:
        """Yield ``(prefix, None)`` for sub-prefixes and ``(key, size)`` for objects."""
        token: str | None = None
        while True:
            url = self.url(prefix, delimiter, token)
            self.requests += 1
            body = self.fetcher.get_bytes(url)
            try:
                root = ET.fromstring(body)
            except ET.ParseError as exc:
                raise FetchError(f"the listing is not valid XML ({exc})", url=url) from exc
            for p in root.iterfind("{*}CommonPrefixes/{*}Prefix"):
                if p.text:
                    yield p.text, None
            for c in root.iterfind("{*}Contents"):
                key = c.findtext("{*}Key")
                size = c.findtext("{*}Size")
                if key:
                    yield key, int(size) if size and size.isdigit() else None
            token = root.findtext("{*}NextContinuationToken")
            if root.findtext("{*}IsTruncated") != "true" or not token:
                return


def _layout_position(segments: list[str]) -> tuple[str, int] | None:
    """(layout name, number of levels fixed by the prefix) when the prefix is inside a layout."""
    root = next((i for i in range(len(segments) - 1, -1, -1) if segments[i] in LAYOUTS), None)
    if root is None:
        return None
    levels = LAYOUTS[segments[root]]
    fixed = segments[root + 1 :]
    if len(fixed) > len(levels):
        return None
    if not all(_SHAPES[level](seg) for level, seg in zip(levels, fixed, strict=False)):
        return None
    return segments[root], len(fixed)


def iter_keys(lister: Lister, prefix: str, filters: Filters) -> Iterator[tuple[str, int | None]]:
    """Measurement object keys below ``prefix`` (ending in "/" or empty), pruned by ``filters``."""
    if not prefix:
        for top in LAYOUTS:
            yield from iter_keys(lister, top + "/", filters)
        return
    segments = prefix.rstrip("/").split("/")
    pos = _layout_position(segments)
    if pos is not None:
        layout, fixed = pos
        levels = LAYOUTS[layout]
        if fixed == len(levels):
            for key, size in lister.list(prefix, None):
                if size is not None and is_measurement_file(key):
                    yield key, size
            return
        nxt = levels[fixed]
        direct: list[str] | None = None
        if nxt is Level.COUNTRY and filters.countries:
            direct = sorted(filters.countries)
        elif nxt is Level.DAY and filters.since and filters.until:
            first = filters.since.date()
            last = (filters.until - dt.timedelta(microseconds=1)).date()
            if (last - first).days < _ENUMERATE_DAYS:
                span = range((last - first).days + 1)
                direct = [(first + dt.timedelta(days=n)).strftime("%Y%m%d") for n in span]
        if direct is not None:
            for value in direct:
                yield from iter_keys(lister, f"{prefix}{value}/", filters)
            return
    for key, size in lister.list(prefix, "/"):
        if size is None:
            if filters.allows_path(key.rstrip("/").split("/")):
                yield from iter_keys(lister, key, filters)
        elif is_measurement_file(key):
            yield key, size


def read_archive(
    spec: str, filters: Filters, fetcher: Fetcher, *, max_line: int = MAX_LINE
) -> Iterator[Item]:
    """Read every measurement object of an archive URL, downloading (into the cache) one at a time."""
    src = parse_archive_url(spec)
    listing_target = fetcher.resolve(src.base + "/")
    if not listing_target.startswith(("http://", "https://")):
        # A mirror that is a local folder: walk it like any folder (same pruning, no listing requests).
        yield from read_folder(Path(listing_target) / src.prefix, filters, max_line=max_line)
        return
    lister = Lister(src.base, fetcher)
    if src.prefix and not src.prefix.endswith("/"):
        keys: Iterator[tuple[str, int | None]] = iter([(src.prefix, None)])
    else:
        keys = iter_keys(lister, src.prefix, filters)
    while True:
        try:
            key, _size = next(keys)
        except StopIteration:
            return
        except FetchError as exc:
            yield Problem(spec, 0, f"cannot list the archive: {exc}")
            return
        url = f"{src.base}/{urllib.parse.quote(key)}"
        try:
            path = fetcher.fetch(url)
        except FetchError as exc:
            yield Problem(url, 0, f"download failed: {exc}")
            continue
        yield from read_file(path, display=url, max_line=max_line)

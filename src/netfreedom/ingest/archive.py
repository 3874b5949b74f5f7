"""The OONI archive over HTTP(S): S3 ListObjectsV2 listings (anonymous), pruned by the filters level by
level, and objects downloaded one at a time through ``netfreedom.fetch.Fetcher`` (cache, mirrors, retries).

Accepted sources::

    s3://ooni-data-eu-fra/                              the public bucket (any key prefix, or none)
    https://ooni-data-eu-fra.s3.eu-central-1.amazonaws.com/raw/20240101/
    https://HOST/PREFIX                                  an S3-compatible endpoint, virtual-host style
    http://HOST:PORT/BUCKET/PREFIX                       path style (a host with a port, an IP address,
                                                         localhost, or s3.REGION.amazonaws.com)
    s3://BUCKET/PREFIX with Fetcher.s3_endpoint          path style at any endpoint (``--s3-endpoint``)
    https://HOST/…/NAME.jsonl.gz (or .tar.gz, .json…)   one object

From the bucket root, the layout is chosen by date (``layout.LAYOUT_DAYS``): ``jsonl/`` only for buckets
up to 2020-10-20, ``raw/`` from then on.  Each prefix level is listed once: a level the filters fix is
addressed directly when that is cheaper (countries, test names in ``raw/``, up to 31 days of ``raw/``),
a date range starts the listing at its first day (``start-after``) and stops after its last, and below the
last level the filters can prune one flat listing returns every object.  Objects are read as OONI reads
them: one of each postcan/``.jsonl.gz`` twin pair, empty objects and legacy index files (``.json.gz``) and
``.lz4`` cans skipped and reported.  A listing or download that still fails after the fetcher's retries is
an ``Incomplete`` item: the walk goes on with the rest, and the run must say it is incomplete.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import posixpath
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from netfreedom.errors import FetchError, InputError
from netfreedom.fetch import Fetcher
from netfreedom.ingest.files import is_measurement_file, read_file
from netfreedom.ingest.folder import read_folder
from netfreedom.ingest.layout import (
    LAYOUT_DAYS,
    LAYOUTS,
    TWIN_REASON,
    Filters,
    Level,
    bucket_time,
    layout_values,
    pair_twins,
    stamp_bucket,
)
from netfreedom.ingest.lines import MAX_LINE
from netfreedom.ingest.records import Incomplete, Item, Problem, Skipped

OONI_BUCKET = "ooni-data-eu-fra"
ENDPOINTS = {OONI_BUCKET: "https://ooni-data-eu-fra.s3.eu-central-1.amazonaws.com"}
# Addressing day prefixes directly costs one request per day (each is listed anyway): worth it for the dense
# days of raw/ up to a month; longer spans list the days once, from the first (start-after).
_ENUMERATE_DAYS = 31
# What the archive holds that is read: OONI's readers take these two suffixes in raw/ and jsonl/.
_ARCHIVE_SUFFIXES = (".jsonl.gz", ".tar.gz")
_S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


@dataclass(frozen=True)
class ArchiveSource:
    base: str  # the bucket's URL (endpoint, plus "/BUCKET" in path style), no trailing slash
    prefix: str  # a key prefix ("" for the whole bucket) or one object's key

    @property
    def is_object(self) -> bool:
        return bool(self.prefix) and not self.prefix.endswith("/")

    def url(self, key: str) -> str:
        return f"{self.base}/{urllib.parse.quote(key)}"


@dataclass(frozen=True)
class ArchiveObject:
    """One object to read: its URL, key and size (from the listing; None for a URL given directly)."""

    url: str
    key: str
    size: int | None


def is_archive_url(spec: str) -> bool:
    return spec.startswith(("s3://", "http://", "https://"))


def _path_style(host: str, port: int | None) -> bool:
    if port is not None or host == "localhost":
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.startswith(("s3.", "s3-")) and host.endswith(".amazonaws.com")
    return True


def parse_archive_url(spec: str, s3_endpoint: str | None = None) -> ArchiveSource:
    parts = urllib.parse.urlsplit(spec)
    path = urllib.parse.unquote(parts.path).lstrip("/")
    if parts.scheme == "s3":
        if not parts.netloc:
            raise InputError(f"no bucket in {spec!r} (use s3://BUCKET/PREFIX)")
        if s3_endpoint:
            base = f"{s3_endpoint.rstrip('/')}/{parts.netloc}"
        else:
            base = ENDPOINTS.get(parts.netloc, f"https://{parts.netloc}.s3.amazonaws.com")
    elif parts.scheme in ("http", "https") and parts.netloc:
        base = f"{parts.scheme}://{parts.netloc}"
        try:
            port = parts.port
        except ValueError as exc:
            raise InputError(f"not an archive URL: {spec!r} ({exc})") from exc
        if _path_style(parts.hostname or "", port):
            bucket, _, path = path.partition("/")
            if not bucket:
                raise InputError(f"no bucket in the path of {spec!r} (use {base}/BUCKET/PREFIX)")
            base = f"{base}/{bucket}"
    else:
        raise InputError(f"not an archive URL: {spec!r}")
    if path and not path.endswith("/") and not _object_name(path):
        path += "/"
    return ArchiveSource(base, path)


def _object_name(key: str) -> bool:
    return is_measurement_file(key) or key.lower().endswith(".lz4")


class Lister:
    """ListObjectsV2 over HTTP(S): yields common prefixes and (key, size) of objects, across pages.
    ``requests`` counts the listing requests made (retries included)."""

    def __init__(self, base: str, fetcher: Fetcher) -> None:
        self.base = base
        self.fetcher = fetcher
        self.requests = 0

    def url(
        self, prefix: str, delimiter: str | None, token: str | None, start_after: str | None = None
    ) -> str:
        query = {"list-type": "2", "prefix": prefix}
        if delimiter:
            query["delimiter"] = delimiter
        if token:
            query["continuation-token"] = token
        elif start_after:
            query["start-after"] = start_after
        return f"{self.base}/?{urllib.parse.urlencode(query)}"

    def list(
        self, prefix: str, delimiter: str | None, start_after: str | None = None
    ) -> Iterator[tuple[str, int | None]]:
        """Yield ``(prefix, None)`` for sub-prefixes and ``(key, size)`` for objects, in key order."""
        token: str | None = None
        while True:
            url = self.url(prefix, delimiter, token, start_after)
            before = self.fetcher.requests
            try:
                body = self.fetcher.get_bytes(url)
            finally:
                self.requests += max(1, self.fetcher.requests - before)
            root = _listing(body, url)
            entries: list[tuple[str, int | None]] = []
            for p in root.iterfind("{*}CommonPrefixes/{*}Prefix"):
                if p.text:
                    entries.append((p.text, None))
            for c in root.iterfind("{*}Contents"):
                key = c.findtext("{*}Key")
                size = c.findtext("{*}Size")
                if key:
                    entries.append((key, int(size) if size and size.isdigit() else None))
            # S3 sends a page's prefixes and objects in two groups; one key order makes early stops exact.
            yield from sorted(entries)
            truncated = (root.findtext("{*}IsTruncated") or "").strip().lower() == "true"
            if not truncated:
                return
            token = root.findtext("{*}NextContinuationToken")
            if not token:
                raise FetchError(
                    "the listing says it is truncated (IsTruncated) but gives no continuation token; "
                    "the rest of it cannot be read",
                    url=url,
                )


def _listing(body: bytes, url: str) -> ET.Element:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise FetchError(f"the answer is not an S3 listing (not XML: {exc})", url=url) from exc
    tag = root.tag.rsplit("}", 1)[-1]
    if tag == "Error":
        code = root.findtext("{*}Code") or root.findtext("Code") or "unknown"
        raise FetchError(f"S3 error {code} in the listing", url=url, code=code)
    if tag != "ListBucketResult":
        raise FetchError(
            f"the answer is not an S3 listing (a <{tag}> document, not <ListBucketResult>); for a "
            "path-style endpoint give s3://BUCKET/PREFIX with --s3-endpoint URL, or http://HOST:PORT/BUCKET/",
            url=url,
        )
    return root


def _layout_position(segments: list[str]) -> tuple[str, int] | None:
    """(layout name, number of levels fixed by the prefix) when the prefix is inside a layout."""
    found = layout_values(segments)
    if found is None:
        return None
    layout, values = found
    root = len(segments) - 1 - segments[::-1].index(layout)
    if len(values) != len(segments) - root - 1:
        return None  # a segment of the wrong shape, or deeper than the layout
    return layout, len(values)


def _day_range(layout: str, filters: Filters) -> tuple[dt.date | None, dt.date | None]:
    """The bucket days of ``layout`` that the filters can select (inclusive; None: open)."""
    lo, hi = LAYOUT_DAYS[layout]
    if filters.since:
        first = filters.since.date()
        lo = first if lo is None else max(lo, first)
    if filters.until:
        last = (filters.until - dt.timedelta(microseconds=1)).date()
        hi = last if hi is None else min(hi, last)
    return lo, hi


def _prunes(level: Level, layout: str, filters: Filters) -> bool:
    if level is Level.COUNTRY:
        return bool(filters.countries)
    if level is Level.TEST:
        return bool(filters.tests)
    if level is Level.DAY:
        return bool(filters.since or filters.until)
    # Hours: only when a bound falls inside a day (jsonl/ buckets are daily).
    bounds = [b for b in (filters.since, filters.until) if b is not None]
    return layout == "raw" and any(b.time() != dt.time(0) for b in bounds)


def _day_of(key: str, depth: int) -> str | None:
    segments = key.split("/")
    return segments[depth] if len(segments) > depth else None


def walk_keys(lister: Lister, prefix: str, filters: Filters) -> Iterator[tuple[str, int | None] | Incomplete]:
    """Object keys (with sizes) below ``prefix`` (ending in "/" or empty), pruned by ``filters``, in key
    order; a listing that fails is an ``Incomplete`` (naming the prefix) and the walk goes on with the next
    prefix."""
    if not prefix:
        for top in LAYOUTS:
            lo, hi = _day_range(top, filters)
            if lo is None or hi is None or lo <= hi:
                yield from walk_keys(lister, top + "/", filters)
        return
    segments = prefix.rstrip("/").split("/")
    pos = _layout_position(segments)
    try:
        if pos is None:
            yield from _flat(lister, prefix, filters)
            return
        layout, fixed = pos
        levels = LAYOUTS[layout]
        if fixed == len(levels) or not any(_prunes(lv, layout, filters) for lv in levels[fixed:]):
            yield from _flat(lister, prefix, filters)
            return
        nxt = levels[fixed]
        lo, hi = _day_range(layout, filters)
        direct: list[str] | None = None
        if nxt is Level.COUNTRY and filters.countries:
            direct = sorted(filters.countries)
        elif nxt is Level.TEST and filters.tests and layout == "raw":
            direct = sorted(filters.tests)
        elif nxt is Level.DAY and layout == "raw" and lo and hi and (hi - lo).days < _ENUMERATE_DAYS:
            direct = [(lo + dt.timedelta(days=n)).strftime("%Y%m%d") for n in range((hi - lo).days + 1)]
        if direct is not None:
            for value in direct:
                yield from walk_keys(lister, f"{prefix}{value}/", filters)
            return
        if nxt is Level.DAY and not any(_prunes(lv, layout, filters) for lv in levels[fixed + 1 :]):
            # Only the days prune: one flat listing from the first day, stopped after the last.
            yield from _flat(lister, prefix, filters, lo, hi)
            return
        start = f"{prefix}{lo:%Y%m%d}" if nxt is Level.DAY and lo else None
        for key, size in lister.list(prefix, "/", start):
            if nxt is Level.DAY and hi and (key[len(prefix) : len(prefix) + 8]) > f"{hi:%Y%m%d}":
                return
            if size is None:
                if filters.allows_path(key.rstrip("/").split("/")):
                    yield from walk_keys(lister, key, filters)
            else:
                yield key, size
    except FetchError as exc:
        yield Incomplete(prefix, f"cannot list {prefix or 'the bucket'}: {exc.reason}")


def _flat(
    lister: Lister, prefix: str, filters: Filters, lo: dt.date | None = None, hi: dt.date | None = None
) -> Iterator[tuple[str, int | None]]:
    """Every object below ``prefix`` in one listing (no delimiter), kept when its folder is allowed by
    the filters; with ``lo``/``hi`` the next segment is a day: start at ``lo``, stop after ``hi``."""
    depth = prefix.count("/")
    start = f"{prefix}{lo:%Y%m%d}" if lo else None
    last = f"{hi:%Y%m%d}" if hi else None
    for key, size in lister.list(prefix, None, start):
        if last is not None and (_day_of(key, depth) or "") > last:
            return
        if size is not None and filters.allows_path(key.split("/")[:-1]):
            yield key, size


def _skip_reason(key: str, size: int | None) -> str | None:
    """Why OONI's readers would leave this listed object unread, or None to read it.  In the archive
    layouts only ``.jsonl.gz`` and postcans are measurements; elsewhere any measurement file is read."""
    low = key.lower()
    if low.endswith(".lz4"):
        return "lz4 can (the legacy canned/ format, not read; jsonl/ and raw/ hold the same measurements)"
    if low.endswith(".json.gz"):
        return "legacy index file (.json.gz)"
    in_layout = layout_values(key.split("/")[:-1]) is not None
    if not (low.endswith(_ARCHIVE_SUFFIXES) if in_layout else is_measurement_file(low)):
        return "not a measurement object"
    if size == 0:
        return "empty object"
    return None


def list_archive(
    spec: str, filters: Filters, fetcher: Fetcher
) -> Iterator[ArchiveObject | Skipped | Incomplete | Problem]:
    """What a walk of an archive URL reads, in key order: ``ArchiveObject`` to download, ``Skipped`` for
    objects left unread (with the reason), ``Incomplete`` for listings that failed.  Folder by folder,
    one of each postcan/jsonl.gz twin pair is kept (``layout.pair_twins``)."""
    src = parse_archive_url(spec, fetcher.s3_endpoint)
    if src.is_object:
        yield ArchiveObject(src.url(src.prefix), src.prefix, None)
        return
    found = _layout_position(src.prefix.rstrip("/").split("/")) if src.prefix else None
    if found is not None:
        lo, hi = _day_range(found[0], filters)
        if lo is not None and hi is not None and lo > hi:
            first, last = LAYOUT_DAYS[found[0]]
            held = f"from {first} on" if first else f"up to {last}"
            yield Problem(
                spec,
                0,
                f"{found[0]}/ holds buckets {held}, none in the --since/--until window; give the bucket "
                "root (e.g. s3://ooni-data-eu-fra/), which chooses the layout by date",
            )
            return
    lister = Lister(src.base, fetcher)
    folder: str | None = None
    pending: list[tuple[str, int | None]] = []

    def flush() -> Iterator[ArchiveObject | Skipped]:
        _, twins = pair_twins([k for k, _ in pending])
        twin_set = set(twins)
        for key, size in pending:
            reason = TWIN_REASON if key in twin_set else _skip_reason(key, size)
            yield Skipped(src.url(key), reason) if reason else ArchiveObject(src.url(key), key, size)
        pending.clear()

    for item in walk_keys(lister, src.prefix, filters):
        if isinstance(item, Incomplete):
            if folder is not None and (folder + "/").startswith(item.file):
                # The folder being gathered may miss objects (a twin's postcan, say): it failed with it.
                pending.clear()
            yield from flush()
            folder = None
            yield Incomplete(spec, item.reason)
            continue
        here = posixpath.dirname(item[0])
        if here != folder:
            yield from flush()
            folder = here
        pending.append(item)
    yield from flush()


def read_archive(
    spec: str, filters: Filters, fetcher: Fetcher, *, max_line: int = MAX_LINE, keys: bool = False
) -> Iterator[Item]:
    """Read every measurement object of an archive URL, downloading (into the cache) one at a time."""
    src = parse_archive_url(spec, fetcher.s3_endpoint)
    listing_target = fetcher.resolve(src.base + "/")
    if not listing_target.startswith(("http://", "https://")):
        # A mirror that is a local folder: walk it like any folder (same pruning, no listing requests).
        yield from read_folder(Path(listing_target) / src.prefix, filters, max_line=max_line, keys=keys)
        return
    for entry in list_archive(spec, filters, fetcher):
        if not isinstance(entry, ArchiveObject):
            yield entry
            continue
        try:
            path = fetcher.fetch(entry.url, size=entry.size)
        except FetchError as exc:
            yield Incomplete(entry.url, f"download failed: {exc.reason}")
            continue
        items = read_file(path, display=entry.url, max_line=max_line, keys=keys)
        yield from stamp_bucket(items, bucket_time(entry.key))

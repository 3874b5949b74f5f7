"""Read measurement sources: local files and folders, and the OONI archive over HTTPS.

Readers stream (memory does not grow with the input) and yield ``Record`` for each good measurement,
``Problem`` for each bad line or file, ``Opened`` when a file starts, ``Skipped`` for what is left unread
on purpose and ``Incomplete`` for a part of an archive walk that failed; they never raise on bad input.
Formats: ``.jsonl``, ``.jsonl.gz``, ``.json`` (one measurement or a list), ``.post`` and OONI postcans
(``.tar.gz`` of ``.post`` entries), folders in the archive layouts, and archive URLs (see ``archive``).
OONI aggregation results (JSON or CSV files, or an API URL) are recognised by content and yield
``AggregateRow``s (see ``aggregation``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from netfreedom.fetch import Fetcher
from netfreedom.ingest.aggregation import (
    DIMENSION_KEYS,
    is_aggregation_url,
    parse_dimensions,
    read_aggregation,
    read_aggregation_url,
)
from netfreedom.ingest.archive import (
    ArchiveObject,
    ArchiveSource,
    is_archive_url,
    list_archive,
    parse_archive_url,
    read_archive,
)
from netfreedom.ingest.files import is_measurement_file, read_file
from netfreedom.ingest.folder import measurement_files, read_folder
from netfreedom.ingest.layout import By, Filters, bucket_time, normalise_test, parse_when, stamp_bucket
from netfreedom.ingest.lines import MAX_LINE
from netfreedom.ingest.records import (
    Incomplete,
    Item,
    Opened,
    Problem,
    Record,
    Skipped,
    bucket_of,
    content_key,
    content_uid,
    decode_measurement,
    is_content_uid,
)

__all__ = [
    "DIMENSION_KEYS",
    "MAX_LINE",
    "ArchiveObject",
    "ArchiveSource",
    "By",
    "Filters",
    "Incomplete",
    "Item",
    "Opened",
    "Problem",
    "Record",
    "Skipped",
    "bucket_of",
    "bucket_time",
    "content_key",
    "content_uid",
    "decode_measurement",
    "is_aggregation_url",
    "is_archive_url",
    "is_content_uid",
    "is_measurement_file",
    "list_archive",
    "measurement_files",
    "normalise_test",
    "parse_archive_url",
    "parse_dimensions",
    "parse_when",
    "read_aggregation",
    "read_aggregation_url",
    "read_file",
    "read_folder",
    "read_source",
    "read_sources",
    "stamp_bucket",
]


def read_source(
    spec: str,
    filters: Filters | None = None,
    fetcher: Fetcher | None = None,
    *,
    max_line: int = MAX_LINE,
    dimensions: Mapping[str, str] | None = None,
    keys: bool = False,
) -> Iterator[Item]:
    """Read one SOURCE as given on the command line: a file, a folder, an archive URL, or an OONI
    aggregation API URL.  ``dimensions`` complete aggregation rows (``--dimension``).  ``keys``: records
    carry their typed test keys, decoded with the envelope in one pass (``decode_measurement``)."""
    filters = filters or Filters()
    if is_aggregation_url(spec):
        own = fetcher is None
        fetcher = fetcher or Fetcher()
        try:
            yield from read_aggregation_url(spec, fetcher, dimensions)
        finally:
            if own:
                fetcher.close()
        return
    if is_archive_url(spec):
        own = fetcher is None
        fetcher = fetcher or Fetcher()
        try:
            yield from read_archive(spec, filters, fetcher, max_line=max_line, keys=keys)
        finally:
            if own:
                fetcher.close()
        return
    path = Path(spec)
    if path.is_dir():
        yield from read_folder(path, filters, max_line=max_line, dimensions=dimensions, keys=keys)
    else:
        items = read_file(path, spec, max_line=max_line, dimensions=dimensions, keys=keys)
        yield from stamp_bucket(items, bucket_time(path.as_posix()))


def read_sources(
    specs: Sequence[str],
    filters: Filters | None = None,
    fetcher: Fetcher | None = None,
    *,
    max_line: int = MAX_LINE,
    dimensions: Mapping[str, str] | None = None,
    keys: bool = False,
) -> Iterator[Item]:
    for spec in specs:
        yield from read_source(spec, filters, fetcher, max_line=max_line, dimensions=dimensions, keys=keys)

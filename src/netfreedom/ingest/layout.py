"""Filters, and the OONI archive layout that lets them prune folders and listings before any download.

Layouts (the test name in paths is written without underscores, e.g. ``webconnectivity``)::

    raw/YYYYMMDD/HH/CC/TESTNAME/…           since 2020-10-21: *.jsonl.gz and postcans (*.tar.gz)
    jsonl/TESTNAME/CC/YYYYMMDD/00/…         before: *.jsonl.gz

A path segment is only interpreted when it has the expected shape, so any other folder is walked whole.
``jsonl/`` holds buckets up to 2020-10-20 and ``raw/`` from 2020-10-20 on (``LAYOUT_DAYS``): a walk of the
archive chooses the layout by date, both across the boundary.

The archive is organised by *bucket* (upload) time, which is never earlier than the measurement time;
pruning uses it.  Which time selects a measurement is ``By``: the bucket date (OONI's own semantics, the
default wherever a bucket is known — archive URLs and folders in the archive layout) keeps every
measurement of the selected buckets, so consecutive windows cover the archive exactly once; the
measurement time selects by when the measurement was taken, and then a measurement uploaded after
``--until`` is not found by a pruned walk.

In each folder of ``raw/`` OONI's uploader writes, for every hour × country × test, a postcan
``….tar.gz`` and a ``….jsonl.gz`` twin holding the same measurements without their uid: only one of a
pair is read (``pair_twins``), the postcan, which carries the uids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from netfreedom.errors import InputError
from netfreedom.ingest.records import Item, Record, bucket_of


class Level(StrEnum):
    DAY = "day"
    HOUR = "hour"
    COUNTRY = "country"
    TEST = "test"


LAYOUTS: dict[str, tuple[Level, ...]] = {
    "raw": (Level.DAY, Level.HOUR, Level.COUNTRY, Level.TEST),
    "jsonl": (Level.TEST, Level.COUNTRY, Level.DAY, Level.HOUR),
}
# The buckets (upload days, inclusive) each layout holds in OONI's archive; None: open-ended.
LAYOUT_DAYS: dict[str, tuple[dt.date | None, dt.date | None]] = {
    "raw": (dt.date(2020, 10, 20), None),
    "jsonl": (None, dt.date(2020, 10, 20)),
}
POSTCAN_SUFFIX = ".tar.gz"
TWIN_SUFFIX = ".jsonl.gz"
TWIN_REASON = "jsonl.gz twin of a postcan that is read (the same measurements without uids)"


class By(StrEnum):
    """Which time ``--since``/``--until`` select on."""

    BUCKET_DATE = "bucket-date"
    MEASUREMENT_TIME = "measurement-time"


_SHAPE = {
    Level.DAY: re.compile(r"^\d{8}$"),
    Level.HOUR: re.compile(r"^\d{2}$"),
    Level.COUNTRY: re.compile(r"^[A-Z]{2}$"),
    Level.TEST: re.compile(r"^[A-Za-z0-9_]+$"),
}


def normalise_test(name: str) -> str:
    """Test names compare without case or underscores: ``web_connectivity`` is ``webconnectivity``."""
    return name.replace("_", "").lower()


def parse_when(text: str, *, end: bool = False) -> dt.datetime:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD[T ]HH:MM[:SS]`` in UTC.  With ``end``, a bare date means the end of
    that day (so ``--until 2024-01-31`` includes the 31st)."""
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"):
        try:
            when = dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        if end and fmt == "%Y-%m-%d":
            # The end of 9999-12-31 is past the calendar: the last representable instant bounds it.
            try:
                when += dt.timedelta(days=1)
            except OverflowError:
                when = dt.datetime.max.replace(tzinfo=dt.UTC)
        return when
    raise InputError(f"not a date or time: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)")


@dataclass(frozen=True)
class Filters:
    """Which measurements to keep.  ``since`` is inclusive, ``until`` exclusive (see ``parse_when``)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    countries: frozenset[str] = field(default_factory=frozenset)
    tests: frozenset[str] = field(default_factory=frozenset)  # normalised (``normalise_test``)
    # None: by bucket date where the record's bucket is known, else by measurement time.
    by: By | None = None

    @classmethod
    def build(
        cls,
        since: str | None = None,
        until: str | None = None,
        countries: Sequence[str] = (),
        tests: Sequence[str] = (),
        by: By | str | None = None,
    ) -> Filters:
        ccs = frozenset(c.strip().upper() for c in countries if c.strip())
        bad = sorted(c for c in ccs if not _SHAPE[Level.COUNTRY].match(c))
        if bad:
            raise InputError(f"not a two-letter country code: {', '.join(bad)}")
        out = cls(
            since=parse_when(since) if since else None,
            until=parse_when(until, end=True) if until else None,
            countries=ccs,
            tests=frozenset(normalise_test(t.strip()) for t in tests if t.strip()),
            by=By(by) if by else None,
        )
        if out.since and out.until and out.since >= out.until:
            raise InputError("--since must be before --until")
        return out

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.countries or self.tests)

    def selecting_time(self, record: Record) -> dt.datetime:
        """The time ``since``/``until`` compare with: the bucket's start (``By.BUCKET_DATE``, and by default
        wherever the bucket is known) or the measurement time."""
        if self.by is not By.MEASUREMENT_TIME:
            bucket = bucket_of(record)
            if bucket is not None:
                return bucket
        return record.time

    def accepts(self, record: Record) -> bool:
        if self.since or self.until:
            when = self.selecting_time(record)
            if self.since and when < self.since:
                return False
            if self.until and when >= self.until:
                return False
        if self.countries and (record.envelope.probe_cc or "ZZ").upper() not in self.countries:
            return False
        return not (self.tests and normalise_test(record.envelope.test_name) not in self.tests)

    def _overlaps(self, start: dt.datetime, length: dt.timedelta) -> bool:
        if self.since and start + length <= self.since:
            return False
        return not (self.until and start >= self.until)

    def allows_path(self, segments: Sequence[str]) -> bool:
        """False when a folder or key prefix (its segments) lies entirely outside the filters."""
        # The innermost "raw"/"jsonl" folder: an outer folder of that name is just where the copy lives.
        root = next((i for i in range(len(segments) - 1, -1, -1) if segments[i] in LAYOUTS), None)
        if root is None:
            return True
        levels = LAYOUTS[segments[root]]
        values: dict[Level, str] = {}
        for level, seg in zip(levels, segments[root + 1 :], strict=False):
            if not _SHAPE[level].match(seg):
                break
            values[level] = seg
        if segments[root] == "jsonl":
            values.pop(Level.HOUR, None)  # legacy buckets are daily; "00" stands for the whole day
        return self.allows_values(values)

    def allows_values(self, values: dict[Level, str]) -> bool:
        if Level.COUNTRY in values and self.countries and values[Level.COUNTRY] not in self.countries:
            return False
        if Level.TEST in values and self.tests and normalise_test(values[Level.TEST]) not in self.tests:
            return False
        if Level.DAY in values:
            try:
                day = dt.datetime.strptime(values[Level.DAY], "%Y%m%d").replace(tzinfo=dt.UTC)
            except ValueError:
                return True
            if not self._overlaps(day, dt.timedelta(days=1)):
                return False
            if Level.HOUR in values and int(values[Level.HOUR]) < 24:
                start = day + dt.timedelta(hours=int(values[Level.HOUR]))
                return self._overlaps(start, dt.timedelta(hours=1))
        return True


def layout_values(segments: Sequence[str]) -> tuple[str, dict[Level, str]] | None:
    """The innermost layout of a path (its segments) and the level values that the path fixes."""
    root = next((i for i in range(len(segments) - 1, -1, -1) if segments[i] in LAYOUTS), None)
    if root is None:
        return None
    values: dict[Level, str] = {}
    for level, seg in zip(LAYOUTS[segments[root]], segments[root + 1 :], strict=False):
        if not _SHAPE[level].match(seg):
            break
        values[level] = seg
    return segments[root], values


def bucket_time(path: str) -> dt.datetime | None:
    """The start of the archive bucket a file or key lies in (``raw/``: its hour, ``jsonl/``: its day),
    None outside the layouts."""
    found = layout_values(path.split("/")[:-1])
    if found is None or Level.DAY not in found[1]:
        return None
    layout, values = found
    try:
        day = dt.datetime.strptime(values[Level.DAY], "%Y%m%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    hour = values.get(Level.HOUR)
    if layout == "raw" and hour is not None and int(hour) < 24:
        return day + dt.timedelta(hours=int(hour))
    return day


def stamp_bucket(items: Iterable[Item], bucket: dt.datetime | None) -> Iterator[Item]:
    """The items of one file, each record marked with the bucket the file lies in."""
    if bucket is None:
        yield from items
        return
    for item in items:
        yield dataclasses.replace(item, bucket=bucket) if isinstance(item, Record) else item


def pair_twins(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Names of one folder split into (to read, twins left unread): a ``….jsonl.gz`` is left when the
    postcan ``….tar.gz`` of the same stem is there, as OONI's readers use one format per pair."""
    stems = {n[: -len(POSTCAN_SUFFIX)] for n in names if n.endswith(POSTCAN_SUFFIX)}
    keep: list[str] = []
    twins: list[str] = []
    for n in names:
        if n.endswith(TWIN_SUFFIX) and n[: -len(TWIN_SUFFIX)] in stems:
            twins.append(n)
        else:
            keep.append(n)
    return keep, twins

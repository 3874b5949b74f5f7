"""Filters, and the OONI archive layout that lets them prune folders and listings before any download.

Layouts (the test name in paths is written without underscores, e.g. ``webconnectivity``)::

    raw/YYYYMMDD/HH/CC/TESTNAME/…           since 2020-10-21: *.jsonl.gz and postcans (*.tar.gz)
    jsonl/TESTNAME/CC/YYYYMMDD/00/…         before: *.jsonl.gz

A path segment is only interpreted when it has the expected shape, so any other folder is walked whole.
The archive is organised by *bucket* (upload) time, which is never earlier than the measurement time;
pruning uses it, then every record is filtered again on its own time.  As with OONI's own tools, a
measurement uploaded after ``--until`` is not found by a pruned walk.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from netfreedom.errors import InputError
from netfreedom.ingest.records import Record


class Level(StrEnum):
    DAY = "day"
    HOUR = "hour"
    COUNTRY = "country"
    TEST = "test"


LAYOUTS: dict[str, tuple[Level, ...]] = {
    "raw": (Level.DAY, Level.HOUR, Level.COUNTRY, Level.TEST),
    "jsonl": (Level.TEST, Level.COUNTRY, Level.DAY, Level.HOUR),
}
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

    @classmethod
    def build(
        cls,
        since: str | None = None,
        until: str | None = None,
        countries: Sequence[str] = (),
        tests: Sequence[str] = (),
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
        )
        if out.since and out.until and out.since >= out.until:
            raise InputError("--since must be before --until")
        return out

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.countries or self.tests)

    def accepts(self, record: Record) -> bool:
        if self.since and record.time < self.since:
            return False
        if self.until and record.time >= self.until:
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

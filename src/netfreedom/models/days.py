"""Days as people give them (API query parameters): ISO ``YYYY-MM-DD``, inside one supported range.

One definition for every endpoint and report that takes a day, so that no day reaches date arithmetic
(a month's end, the day after ``until``) where it would overflow: 9999-12-31 plus one day does not exist.
The range is the index's (editions 1900-2999).
"""

from __future__ import annotations

import datetime as dt
import re

from netfreedom.errors import InputError

__all__ = ["DAY_PATTERN", "FIRST_DAY", "LAST_DAY", "day_range", "in_range", "parse_day"]

FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)
# The shape of a day in the range (the calendar itself, e.g. no 02-30, is checked by parse_day).
DAY_PATTERN = r"^(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_SHAPE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def parse_day(text: str, name: str) -> dt.date:
    """``text`` as a day; InputError (``"<name>: ..."``) when it is not one or is outside the range."""
    if not _SHAPE.match(text):
        raise InputError(f"{name}: not a day (YYYY-MM-DD): {text[:40]!r}")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{name}: not a day: {exc}") from exc
    return in_range(day, name)


def in_range(day: dt.date, name: str) -> dt.date:
    """``day`` (or a date-time's day) when it lies in the supported range, else InputError."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(f"{name}: {day} is outside the supported range {FIRST_DAY}..{LAST_DAY}")
    return day


def day_range(since: str | None, until: str | None) -> tuple[dt.date | None, dt.date | None]:
    """Both ends of an inclusive period, checked (``since`` after ``until`` is an InputError)."""
    first = parse_day(since, "since") if since is not None else None
    last = parse_day(until, "until") if until is not None else None
    if first and last and first > last:
        raise InputError("since is after until")
    return first, last

"""Events: dated restrictions of connectivity in a country, curated by others or detected in measurements.

Curated events come from lists such as Access Now's #KeepItOn STOP data or CenAlert (``detected`` false);
detected events are found by ``netfreedom events detect`` in measurement volume and failures (``detected``
true, with the ``signal``, ``baseline``, ``observed`` value, their ``ratio`` and a ``confidence``).  The two
are kept apart everywhere: a detected event never counts as a curated one.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import msgspec


class EventKind(StrEnum):
    SHUTDOWN = "shutdown"  # the internet (or a network: mobile, broadband) cut off
    THROTTLING = "throttling"  # slowed down on purpose
    SERVICE_BLOCKING = "service_blocking"  # platforms or sites blocked while the internet stays up


class EventScope(StrEnum):
    NATIONAL = "national"
    REGIONAL = "regional"  # one or several regions, cities, villages
    NETWORK = "network"  # some networks (operators) only


# ``Event.last_day`` in SQL over the ``events`` table's columns.
LAST_DAY_SQL = "CASE WHEN end_date IS NOT NULL THEN end_date WHEN ongoing THEN NULL ELSE start_date END"


def overlap_sql(since: str | None, until: str | None) -> str:
    """``Event.overlaps`` in SQL over an ``events`` row: true when it touches the days ``since``..``until``
    (SQL expressions, inclusive, read in that order; None = open).  The one SQL spelling every reader of
    events uses (the store's filter, the ``events`` evidence measure); a test holds it equal to the rule."""
    clauses = ["TRUE"]
    if since is not None:
        clauses.append(f"coalesce(({LAST_DAY_SQL}) >= {since}, TRUE)")
    if until is not None:
        clauses.append(f"start_date <= {until}")
    return f"({' AND '.join(clauses)})"


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One event.  ``end`` None means ongoing or unknown (``ongoing`` tells when the source said so)."""

    id: str
    source: str
    iso2: str
    country: str
    start: dt.date
    end: dt.date | None = None
    ongoing: bool = False
    kind: EventKind
    scope: EventScope | None = None
    area: str | None = None
    services: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    cause: str | None = None
    link: str | None = None  # the first source link
    links: tuple[str, ...] = ()  # every source link given
    description: str | None = None
    origin: str | None = None  # where it was read: ``file!sheet:line`` (or ``file:line``)
    detected: bool = False
    # Detected events only: what the detector saw.
    signal: str | None = None  # e.g. ``volume_drop``, ``failure_spike``
    asn: str | None = None  # the network, when detected per network
    baseline: float | None = None
    observed: float | None = None
    ratio: float | None = None
    confidence: float | None = None

    @property
    def last_day(self) -> dt.date | None:
        """The last day the event is known to last: its end; None (open) when the source says it is
        ongoing; its start when the end is simply unknown (so an old event with no end date does not
        count in every later year)."""
        if self.end is not None:
            return self.end
        return None if self.ongoing else self.start

    def overlaps(self, since: dt.date | None, until: dt.date | None) -> bool:
        """True when the event touches the days ``since``..``until`` (inclusive; None = open), its end
        read as ``last_day``.  The one definition of "an event in a period"; ``overlap_sql`` is its SQL
        spelling, held equal to it by a test."""
        if until is not None and self.start > until:
            return False
        last = self.last_day
        return not (since is not None and last is not None and last < since)


# The columns of an event in CSV and JSON output (CLI, API, site downloads), in order.
OUTPUT_COLUMNS = (
    "id",
    "source",
    "detected",
    "iso2",
    "country",
    "start",
    "end",
    "ongoing",
    "kind",
    "scope",
    "area",
    "services",
    "networks",
    "cause",
    "link",
    "links",
    "description",
    "origin",
    "signal",
    "asn",
    "baseline",
    "observed",
    "ratio",
    "confidence",
)


def event_record(e: Event, *, dates: bool = False) -> dict[str, object]:
    """An event as a dict with ``OUTPUT_COLUMNS`` as keys: JSON-ready (enums and dates as text, lists as
    lists), or with ``dates`` as ``datetime.date`` values (for Arrow and the store)."""
    values = msgspec.to_builtins(e, builtin_types=(dt.date,) if dates else ())
    return {c: list(values[c]) if isinstance(values[c], tuple) else values[c] for c in OUTPUT_COLUMNS}


class EventFilters(msgspec.Struct, frozen=True, kw_only=True):
    """What ``events list`` and ``/api/v1/events`` select.  ``since``/``until`` keep events overlapping the
    days since..until (inclusive); ``detected`` None keeps both curated and detected events."""

    country: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    kind: EventKind | None = None
    source: str | None = None
    detected: bool | None = None

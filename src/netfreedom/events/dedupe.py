"""Event identity: stable ids, and the rule that finds one event repeated in several sheets of a list.

**Id.**  ``<source>-<16 hex>``: BLAKE2b of the event's country, start day, kind, area, services, networks,
links and description, normalised (case, spaces).  The same row read again gets the same id, so importing a
file twice adds nothing; where it was read (file, sheet, line) is not part of it.

**Repeated events.**  Access Now's STOP workbook repeats an event that is still going on in the sheets of
the following years (the Tigray shutdown of 2020-11-04 is in the 2020, 2021 and 2022 sheets), often with
edits: another area wording ("Nationwide" / "Entire country"), a later end date, more links.  A row is the
same event as one already kept when, in order:

1. its id is one already kept (an identical row), or else
2. it is from *another* sheet (or file) of the same source, has the same country and start day, and its
   area is similar to the kept event's: both national (``National``, ``Nationwide``, ``Entire country``,
   empty), or sharing at least half of the words of the shorter one (``Cox's Bazar refugee camp`` /
   ``Refugee Camps in Cox Bazar district``), or one of them empty.  Among several candidates the most
   similar wins, and a kept event absorbs at most one row of each sheet (rows of one sheet are distinct
   events by construction: India lists several same-day shutdowns in different districts).

The event kept is the first one read; sheets are read oldest first, so it is the record of the year the
event began.  When it has no end date and a repetition has one, that end date is taken (the later sheet
knew more).  The kind is not compared: STOP re-classified some carried-over events (Chad 2018-03-28 is
"full network" in the 2016-2018 sheet and "service-based" in 2019).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from netfreedom.events.classify import fold_area, is_national_area
from netfreedom.models.event import Event

AREA_THRESHOLD = 0.5
_STOP_WORDS = frozenset(
    {
        "and",
        "in",
        "of",
        "the",
        "a",
        "s",
        "state",
        "states",
        "province",
        "provinces",
        "region",
        "regions",
        "district",
        "districts",
        "township",
        "townships",
        "city",
        "town",
        "county",
        "parts",
        "part",
        "some",
    }
)


def event_id(
    *,
    source: str,
    iso2: str,
    start: str,
    kind: str,
    area: str | None,
    services: Iterable[str],
    networks: Iterable[str],
    links: Iterable[str],
    description: str | None,
) -> str:
    parts = [
        iso2.upper(),
        start,
        kind,
        fold_area(area),
        "|".join(sorted(s.lower() for s in services)),
        "|".join(sorted(n.lower() for n in networks)),
        "|".join(links),
        fold_area(description),
    ]
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()
    return f"{_slug(source)}-{digest}"


def _slug(source: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", source.lower()).strip("-") or "events"


def _words(area: str | None) -> set[str]:
    out = set()
    for w in fold_area(area).split():
        if w in _STOP_WORDS:
            continue
        out.add(w[:-1] if len(w) > 3 and w.endswith("s") else w)
    return out


def area_similarity(a: str | None, b: str | None) -> float:
    """1 when both areas are national (or empty); otherwise the share of the shorter area's words found in
    the other (0.5 when exactly one is empty or national and the other is not: a weak match)."""
    na = not fold_area(a) or is_national_area(a)
    nb = not fold_area(b) or is_national_area(b)
    if na and nb:
        return 1.0
    if not fold_area(a) or not fold_area(b):
        return AREA_THRESHOLD
    if na or nb:
        return 0.0
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


class Deduper:
    """Applies the rule above to a stream of events: ``add(event, sheet)`` returns the kept event the row
    repeats (possibly updated with an end date), or None when the row is a new event (then kept)."""

    def __init__(self, known: Iterable[Event] = ()) -> None:
        self.kept: dict[str, Event] = {}
        self.sheet_of: dict[str, str] = {}
        self._by_day: dict[tuple[str, str, object], list[str]] = {}
        self._absorbed: set[tuple[str, str]] = set()
        for e in known:
            self._keep(e, e.origin.rsplit(":", 1)[0] if e.origin else "")

    def _keep(self, e: Event, sheet: str) -> None:
        self.kept[e.id] = e
        self.sheet_of[e.id] = sheet
        self._by_day.setdefault((e.source, e.iso2, e.start), []).append(e.id)

    def add(self, e: Event, sheet: str) -> tuple[Event | None, bool]:
        """``(kept, changed)``: the kept event this row repeats and whether the row changed it (an end
        date filled in); ``(None, False)`` when it is new."""
        if e.id in self.kept:
            return self.kept[e.id], False
        best: tuple[float, str] | None = None
        for kid in self._by_day.get((e.source, e.iso2, e.start), ()):
            if self.sheet_of[kid] == sheet or (kid, sheet) in self._absorbed:
                continue
            score = area_similarity(self.kept[kid].area, e.area)
            if score >= AREA_THRESHOLD and (best is None or score > best[0]):
                best = (score, kid)
        if best is None:
            self._keep(e, sheet)
            return None, False
        kid = best[1]
        self._absorbed.add((kid, sheet))
        kept = self.kept[kid]
        if kept.end is None and e.end is not None and e.end >= kept.start:
            import msgspec

            kept = msgspec.structs.replace(kept, end=e.end, ongoing=False)
            self.kept[kid] = kept
            return kept, True
        return kept, False

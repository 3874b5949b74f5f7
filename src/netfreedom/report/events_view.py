"""Events on the site: a country's curated and detected events, and the timeline band drawn over the
monthly chart.

Event text (areas, services, descriptions) and links come from curated lists, i.e. from outside: every text
reaching the markup goes through ``markupsafe.escape`` (or Jinja's autoescape), and a link is only ever an
``href`` when it is an http(s) URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from netfreedom.models.event import Event, EventFilters, EventKind
from netfreedom.store.events import select_events

# Lanes of the band, top to bottom: curated kinds, then detected events.
LANES = (
    ("shutdown", "Shutdowns"),
    ("throttling", "Throttling"),
    ("service_blocking", "Service blocking"),
    ("detected", "Detected"),
)
MAX_MONTHS = 240


@dataclass
class CountryEvents:
    curated: list[Event] = field(default_factory=list)
    detected: list[Event] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.curated or self.detected)

    def counts(self) -> dict[str, int]:
        """Curated events per kind (the page's summary line)."""
        out = {k.value: 0 for k in EventKind}
        for e in self.curated:
            out[e.kind.value] += 1
        return out


def country_events(con: Any, cc: str) -> CountryEvents:
    """The country's events, newest first, curated and detected apart."""
    events = select_events(con, EventFilters(country=cc))
    events.sort(key=lambda e: (e.start, e.id), reverse=True)
    return CountryEvents(
        curated=[e for e in events if not e.detected], detected=[e for e in events if e.detected]
    )


def safe_links(e: Event) -> list[str]:
    """The event's source links that may be an ``href`` (http and https only)."""
    return [u for u in e.links if u.lower().startswith(("http://", "https://"))]


def _month(d: dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _months_between(first: dt.date, last: dt.date) -> list[str]:
    out: list[str] = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month) and len(out) < MAX_MONTHS:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def band_months(events: CountryEvents, months: Sequence[str] | None) -> list[str]:
    """The months the band spans: those of the monthly chart (so the two line up) widened to take in every
    event, at most the last ``MAX_MONTHS``."""
    every = events.curated + events.detected
    days = [d for e in every for d in (e.start, e.last_day or e.start)]
    days += [dt.date(int(m[:4]), int(m[5:7]), 1) for m in months or ()]
    if not days:
        return []
    first, last = min(days), max(days)
    if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        months_back = last.year * 12 + last.month - 1 - (MAX_MONTHS - 1)
        first = dt.date(months_back // 12, months_back % 12 + 1, 1)
    return _months_between(first, last)


def event_band(
    events: CountryEvents,
    months: Sequence[str] | None = None,
    *,
    width: int = 720,
    left: int = 40,
    right: int = 8,
    lane: int = 14,
) -> Markup:
    """An SVG band: one lane per kind (and one for detected events), each event a bar from its start to its
    last day (an ongoing event runs to the band's end), over the months of the monthly chart."""
    span = band_months(events, months)
    if not span or not events:
        return Markup("")
    index = {m: i for i, m in enumerate(span)}
    slot = (width - left - right) / len(span)
    height = lane * len(LANES) + 20

    def x(d: dt.date, end: bool = False) -> float | None:
        i = index.get(_month(d))
        if i is None:
            return None
        days = (dt.date(d.year + d.month // 12, d.month % 12 + 1, 1) - dt.date(d.year, d.month, 1)).days
        frac = (d.day - (0 if end else 1)) / days
        return left + (i + frac) * slot

    first_day = dt.date(int(span[0][:4]), int(span[0][5:]), 1)
    out = [
        f'<svg class="event-band" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Events by month">'
    ]
    for n in range(len(LANES)):
        y = (n + 1) * lane - 1
        out.append(f'<line class="lane" x1="{left}" x2="{width - right}" y1="{y}" y2="{y}"/>')
    last_month = span[-1]
    for e in [*events.curated, *events.detected]:
        lane_key = "detected" if e.detected else e.kind.value
        row = next(i for i, (k, _) in enumerate(LANES) if k == lane_key)
        start = e.start if _month(e.start) in index else (first_day if e.start < first_day else None)
        if start is None:
            continue  # after the band
        last = e.last_day
        x0 = x(start)
        if last is None or _month(last) > last_month:
            x1: float | None = float(width - right)
        elif last < first_day:
            continue  # before the band
        else:
            x1 = x(last, end=True)
        if x0 is None or x1 is None:
            continue
        when = f"{e.start}" + (f" – {e.end}" if e.end else (" – ongoing" if e.ongoing else ""))
        what = e.signal if e.detected else e.kind.value.replace("_", " ")
        tip = escape(f"{when}: {what}" + (f", {e.area}" if e.area else "") + f" ({e.source})")
        cls = f"ev ev-{lane_key}" + (" ev-ongoing" if e.ongoing else "")
        out.append(
            f'<rect class="{cls}" x="{x0:.1f}" y="{row * lane + 2}" width="{max(x1 - x0, 2.0):.1f}" '
            f'height="{lane - 5}"><title>{tip}</title></rect>'
        )
    every = max(1, len(span) // 8)
    for i, m in enumerate(span):
        if i % every == 0:
            out.append(
                f'<text class="tick" x="{left + (i + 0.5) * slot:.1f}" y="{height - 4}" '
                f'text-anchor="middle">{escape(m)}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


def events_context(con: Any, cc: str, months: Sequence[str] | None) -> dict[str, Any]:
    """What the country page's events section needs (``templates/_events.html.j2``)."""
    events = country_events(con, cc)
    return {
        "events": events,
        "events_svg": event_band(events, months) if events else Markup(""),
        "events_aligned": bool(months) and band_months(events, months) == list(months or ()),
        "safe_links": safe_links,
    }

"""The map's colours: the methodology's status bands (Free, Partly Free, Not Free), each cut in two shades.

Shades are ordered from the freest (``s0``, deep green) to the least free (deep red): the freer half of the
freest band, its other half, then the next band's two halves, and so on.  A country's colour is its stored
status's band and the half its total falls in, so the map always agrees with the status pill beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from netfreedom.report.model import Methodology, Ranked

NODATA = "nodata"


@dataclass(frozen=True)
class Shade:
    css: str  # s0 … s5
    status: str
    low: float  # inclusive range of rounded totals, low <= high
    high: float


def shades(methodology: Methodology | None) -> tuple[Shade, ...]:
    """The map's shades for ``methodology``, freest first; none without a methodology or status bands."""
    if methodology is None or not methodology.statuses:
        return ()
    zero_best = methodology.zero_best
    # Freest band first: the lowest totals on a 0-best scale, the highest on a 100-best one.
    bands = sorted(methodology.statuses, key=lambda b: b.min if zero_best else -b.max)
    out: list[Shade] = []
    for band in bands:
        cut = math.floor((band.min + band.max) / 2)
        lower, upper = (band.min, float(cut)), (float(cut + 1), band.max)
        halves = (lower, upper) if zero_best else (upper, lower)
        for low, high in halves:
            if low <= high:
                out.append(Shade(f"s{len(out)}", band.name, low, high))
    return tuple(out)


def shade_of(row: Ranked | None, palette: tuple[Shade, ...]) -> str:
    """The CSS class colouring ``row`` on the map: its status band's shade holding its total."""
    if row is None or row.total is None:
        return NODATA
    total = row.total
    in_band = [s for s in palette if s.status == row.status]
    for s in in_band:
        if s.low <= round(total) <= s.high:
            return s.css
    # A total between the halves' bounds (decimals) or outside them: the band's nearer shade.
    if in_band:
        return min(in_band, key=lambda s: min(abs(total - s.low), abs(total - s.high))).css
    return NODATA


def legend(palette: tuple[Shade, ...]) -> list[tuple[str, list[Shade]]]:
    """The shades grouped by status, freest status first: what the map's legend prints."""
    out: list[tuple[str, list[Shade]]] = []
    for s in palette:
        if out and out[-1][0] == s.status:
            out[-1][1].append(s)
        else:
            out.append((s.status, [s]))
    return out

"""Small inline SVG charts (history across editions, monthly timeline, share bars).

Charts are drawn server-side so pages need no script to show them.  Every text that reaches the markup goes
through ``markupsafe.escape``; the result is ``Markup`` so the templates (autoescaped) keep it as is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from netfreedom.report.model import Ranked


@dataclass(frozen=True)
class MonthRow:
    """One month of a country's verdicts (a ``verdict_counts`` row by month)."""

    month: str  # YYYY-MM
    measurements: int
    ok: int
    blocked: int
    confirmed: int
    down: int
    networks: int

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> MonthRow:
        return cls(
            str(row["period"]),
            int(row["measurements"]),
            int(row["ok"]),
            int(row["blocked"]),
            int(row["confirmed"]),
            int(row["down"]),
            int(row["networks"]),
        )


def bar(share: float, *, width: int = 120, cls: str = "bar") -> Markup:
    """A horizontal bar for a share in [0, 1]."""
    share = min(max(share, 0.0), 1.0)
    return Markup(
        f'<svg class="{escape(cls)}" width="{width}" height="10" viewBox="0 0 {width} 10" aria-hidden="true">'
        f'<rect class="track" width="{width}" height="10" rx="2"/>'
        f'<rect class="fill" width="{share * width:.1f}" height="10" rx="2"/></svg>'
    )


def interval(total: float | None, low: float | None, high: float | None, *, width: int = 170) -> Markup:
    """The score on a 0–100 axis: a bar from the interval's low to its high end, the score a dark mark on
    it, ticks at 0, 50 and 100, and the two ends printed after it."""
    if total is None:
        return Markup("")
    lo = total if low is None else low
    hi = total if high is None else high
    pad = 4

    def x(v: float) -> float:
        return pad + v / 100 * (width - 2 * pad)

    ticks = "".join(
        f'<line class="tick" x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{y0}" y2="{18 - y0}"/>'
        for v, y0 in ((0, 3), (50, 5), (100, 3))
    )
    label = f"{lo:g}–{hi:g}" if lo != hi else f"{total:g}"
    return Markup(
        f'<span class="interval"><svg width="{width}" height="18" viewBox="0 0 {width} 18" role="img" '
        f'aria-label="{escape(f"score {total:g}, interval {lo:g} to {hi:g} on 0 to 100")}">'
        f'<line class="axis" x1="{pad}" x2="{width - pad}" y1="9" y2="9"/>{ticks}'
        f'<rect class="range" x="{x(lo):.1f}" y="4" width="{max(x(hi) - x(lo), 3):.1f}" height="10" rx="2"/>'
        f'<rect class="point" x="{x(total) - 1.5:.1f}" y="1" width="3" height="16" rx="1"/></svg>'
        f'<span class="ends">{escape(label)}</span></span>'
    )


def history(points: Sequence[Ranked], *, width: int = 520, height: int = 180) -> Markup:
    """The total across editions, with the uncertainty band; empty when there is one edition or none."""
    pts = [p for p in points if p.total is not None]
    if not pts:
        return Markup("")
    left, right, top, bottom = 36, 12, 12, 26
    years = [p.year for p in pts]
    y0, y1 = min(years), max(years)
    span = max(y1 - y0, 1)

    def x(year: int) -> float:
        return left + (year - y0) / span * (width - left - right) if y1 > y0 else width / 2

    def y(v: float) -> float:
        return top + (1 - v / 100) * (height - top - bottom)

    out = [
        f'<svg class="history" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Total score by edition">'
    ]
    for v in (0, 25, 50, 75, 100):
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        out.append(f'<text class="tick" x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    hi = [p.total_high if p.total_high is not None else p.total for p in pts]
    lo = [p.total_low if p.total_low is not None else p.total for p in pts]
    band_top = [f"{x(p.year):.1f},{y(v or 0):.1f}" for p, v in zip(pts, hi, strict=True)]
    band_bot = [f"{x(p.year):.1f},{y(v or 0):.1f}" for p, v in zip(pts, lo, strict=True)]
    out.append(f'<polygon class="band" points="{" ".join(band_top + band_bot[::-1])}"/>')
    line = " ".join(f"{x(p.year):.1f},{y(p.total):.1f}" for p in pts if p.total is not None)
    out.append(f'<polyline class="line" points="{line}"/>')
    for p in pts:
        assert p.total is not None
        label = escape(f"{p.year}: {p.total:g} ({p.status})")
        out.append(
            f'<circle class="dot {escape(status_class(p.status))}" '
            f'cx="{x(p.year):.1f}" cy="{y(p.total):.1f}" '
            f'r="4"><title>{label}</title></circle>'
        )
        out.append(
            f'<text class="tick" x="{x(p.year):.1f}" y="{height - 8}" text-anchor="middle">{p.year}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 measurement``, ``2 measurements``: a count with its noun."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def _month_index(month: str) -> int:
    year, mon = month[:7].split("-")
    return int(year) * 12 + int(mon) - 1


def _month_name(index: int, *, with_year: bool = True) -> str:
    year, mon = divmod(index, 12)
    name = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[mon]
    return f"{name} {year}" if with_year else name


def month_span(months: Sequence[MonthRow]) -> list[str]:
    """Every month (``YYYY-MM``) from the first to the last of ``months``: the timeline's time axis."""
    if not months:
        return []
    indexes = [_month_index(m.month) for m in months]
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(min(indexes), max(indexes) + 1)]


def timeline(months: Sequence[MonthRow], *, width: int = 720, height: int = 160) -> Markup:
    """Stacked monthly bars on a true time axis (a month without measurements is an empty slot): ok,
    blocked (confirmed darker), down, the rest inconclusive."""
    if not months:
        return Markup("")
    left, right, top, bottom = 40, 8, 10, 24
    by_index = {_month_index(m.month): m for m in months}
    first, last = min(by_index), max(by_index)
    slots = last - first + 1
    peak = max(m.measurements for m in months) or 1
    slot = (width - left - right) / slots
    bw = max(min(slot * 0.8, 28), 1.5)

    def h(v: float) -> float:
        return v / peak * (height - top - bottom)

    out = [
        f'<svg class="timeline" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(f"Measurements per month, {_month_name(first)} to {_month_name(last)}")}">'
    ]
    out.append(f'<text class="tick" x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text>')
    out.append(f'<text class="tick" x="{left - 6}" y="{height - bottom}" text-anchor="end">0</text>')
    base_y = height - bottom
    out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{base_y}" y2="{base_y}"/>')
    # Ticks: each month when the span is short, else each January (the year), thinned to about 12 labels.
    if slots <= 12:
        ticks = [(i, _month_name(i, with_year=i == first or i % 12 == 0)) for i in range(first, last + 1)]
    else:
        years = [i for i in range(first, last + 1) if i % 12 == 0]
        step = max(1, -(-len(years) // 12))
        ticks = [(i, str(i // 12)) for i in years[::step]]
        if not ticks or ticks[0][0] - first >= 3:
            ticks.insert(0, (first, _month_name(first)))
    for i, label in ticks:
        cx = left + (i - first + 0.5) * slot
        out.append(f'<line class="grid" x1="{cx:.1f}" x2="{cx:.1f}" y1="{base_y}" y2="{base_y + 4}"/>')
        out.append(
            f'<text class="tick" x="{cx:.1f}" y="{height - 8}" text-anchor="middle">{escape(label)}</text>'
        )
    for i, m in sorted(by_index.items()):
        x0 = left + (i - first) * slot + (slot - bw) / 2
        base = float(base_y)
        parts = [
            ("ok", m.ok),
            ("confirmed", m.confirmed),
            ("blocked", m.blocked - m.confirmed),
            ("down", m.down),
            ("other", m.measurements - m.ok - m.blocked - m.down),
        ]
        tip = escape(
            f"{_month_name(i)}: {plural(m.measurements, 'measurement')}, {m.blocked:,} blocked "
            f"({m.confirmed:,} confirmed), {m.ok:,} ok, {m.down:,} down, {plural(m.networks, 'network')}"
        )
        out.append(f"<g><title>{tip}</title>")
        for cls, value in parts:
            if value <= 0:
                continue
            out.append(
                f'<rect class="{cls}" x="{x0:.1f}" y="{base - h(value):.1f}" width="{bw:.1f}" '
                f'height="{h(value):.1f}"/>'
            )
            base -= h(value)
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def status_class(status: str) -> str:
    """CSS class for a status name: ``Partly Free`` → ``partly-free``."""
    return "status-" + "-".join(status.lower().split()) if status else "status-none"

"""Small inline SVG charts (history across editions, monthly timeline, share bars).

Charts are drawn server-side so pages need no script to show them.  Every text that reaches the markup goes
through ``markupsafe.escape``; the result is ``Markup`` so the templates (autoescaped) keep it as is.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from netfreedom.report.evidence_view import MonthRow
from netfreedom.report.model import Ranked


def bar(share: float, *, width: int = 120, cls: str = "bar") -> Markup:
    """A horizontal bar for a share in [0, 1]."""
    share = min(max(share, 0.0), 1.0)
    return Markup(
        f'<svg class="{escape(cls)}" width="{width}" height="10" viewBox="0 0 {width} 10" aria-hidden="true">'
        f'<rect class="track" width="{width}" height="10" rx="2"/>'
        f'<rect class="fill" width="{share * width:.1f}" height="10" rx="2"/></svg>'
    )


def interval(total: float | None, low: float | None, high: float | None, *, width: int = 110) -> Markup:
    """The score on a 0–100 axis with its uncertainty interval as a whisker."""
    if total is None:
        return Markup("")
    lo = total if low is None else low
    hi = total if high is None else high

    def x(v: float) -> float:
        return 5 + v / 100 * (width - 10)

    return Markup(
        f'<svg class="interval" width="{width}" height="14" viewBox="0 0 {width} 14" role="img" '
        f'aria-label="{escape(f"{lo:g} to {hi:g}")}">'
        f'<line class="axis" x1="5" x2="{width - 5}" y1="7" y2="7"/>'
        f'<rect class="range" x="{x(lo):.1f}" y="3" width="{max(x(hi) - x(lo), 1.5):.1f}" height="8" rx="2"/>'
        f'<circle class="point" cx="{x(total):.1f}" cy="7" r="3"/></svg>'
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


def timeline(months: Sequence[MonthRow], *, width: int = 720, height: int = 160) -> Markup:
    """Stacked monthly bars: ok, blocked (confirmed darker), down, the rest inconclusive."""
    if not months:
        return Markup("")
    left, right, top, bottom = 40, 8, 10, 24
    peak = max(m.measurements for m in months) or 1
    slot = (width - left - right) / len(months)
    bw = max(min(slot * 0.8, 28), 1.5)

    def h(v: float) -> float:
        return v / peak * (height - top - bottom)

    out = [
        f'<svg class="timeline" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Measurements per month">'
    ]
    out.append(f'<text class="tick" x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text>')
    out.append(f'<text class="tick" x="{left - 6}" y="{height - bottom}" text-anchor="end">0</text>')
    every = max(1, len(months) // 8)
    for i, m in enumerate(months):
        x0 = left + i * slot + (slot - bw) / 2
        base = float(height - bottom)
        parts = [
            ("ok", m.ok),
            ("confirmed", m.confirmed),
            ("blocked", m.blocked - m.confirmed),
            ("down", m.down),
            ("other", m.measurements - m.ok - m.blocked - m.down),
        ]
        tip = escape(
            f"{m.month}: {m.measurements} measurements, {m.blocked} blocked ({m.confirmed} confirmed), "
            f"{m.ok} ok, {m.down} down, {m.networks} networks"
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
        if i % every == 0:
            out.append(
                f'<text class="tick" x="{x0 + bw / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                f"{escape(m.month)}</text>"
            )
    out.append("</svg>")
    return Markup("".join(out))


def status_class(status: str) -> str:
    """CSS class for a status name: ``Partly Free`` → ``partly-free``."""
    return "status-" + "-".join(status.lower().split()) if status else "status-none"

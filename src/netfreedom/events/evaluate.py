"""How well detected events match a reference list (curated events, or the outages injected into a synthetic
series): precision, recall, and the matching rule — pure.

A detected event **matches** a reference event of the same country when their days overlap, give or take
``tolerance`` days (a reference event lasts ``Event.last_day``; an ongoing one has no last day), and their
kinds agree: a volume drop matches a shutdown or throttling, a failure spike matches service blocking or
throttling.  Precision is the share of detected events matching some reference event; recall the share of
reference events (those the series could show: see ``evaluable``) matched by some detected event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from netfreedom.events.detect import FAILURE_SPIKE, VOLUME_DROP
from netfreedom.models.event import Event, EventKind

MATCHING_KINDS = {
    VOLUME_DROP: frozenset({EventKind.SHUTDOWN, EventKind.THROTTLING}),
    FAILURE_SPIKE: frozenset({EventKind.SERVICE_BLOCKING, EventKind.THROTTLING}),
}


def matches(detected: Event, reference: Event, tolerance: int = 1) -> bool:
    if detected.iso2 != reference.iso2:
        return False
    if reference.kind not in MATCHING_KINDS.get(detected.signal or "", frozenset()):
        return False
    tol = dt.timedelta(days=tolerance)
    last = reference.last_day
    end = detected.end or detected.start
    return detected.start <= (last + tol if last else dt.date.max) and end >= reference.start - tol


@dataclass(frozen=True)
class Score:
    detected: int
    true_positives: int  # detected events matching a reference event
    reference: int  # reference events the series could show
    found: int  # of those, matched by a detected event

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.detected if self.detected else None

    @property
    def recall(self) -> float | None:
        return self.found / self.reference if self.reference else None


def score(
    detected: Sequence[Event],
    reference: Sequence[Event],
    *,
    evaluable: Callable[[Event], bool] = lambda e: True,
    tolerance: int = 1,
) -> Score:
    """Precision and recall of ``detected`` against ``reference`` (see the module docstring); reference
    events for which ``evaluable`` is false (no series, or no baseline, where and when they happened) count
    neither way for recall, and still make a detection a true positive."""
    by_cc: dict[str, list[Event]] = {}
    for r in reference:
        by_cc.setdefault(r.iso2, []).append(r)
    tp = sum(1 for d in detected if any(matches(d, r, tolerance) for r in by_cc.get(d.iso2, ())))
    population = [r for r in reference if evaluable(r)]
    found = sum(1 for r in population if any(matches(d, r, tolerance) for d in detected if d.iso2 == r.iso2))
    return Score(len(detected), tp, len(population), found)

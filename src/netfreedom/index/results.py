"""What the index engine returns, and the evidence figures it reads.  Plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from netfreedom.index.methodology import Measure, Scale


@dataclass(frozen=True, slots=True)
class EvidenceFigure:
    """Measurement evidence for one country and one evidence rule (made by the ``evidence`` package).

    ``tested`` counts items with a conclusive verdict (URLs for ``url_blocking``, tests for
    ``test_blocking``); ``blocked`` and ``confirmed`` count those found blocked / confirmed blocked;
    ``measurements`` and ``networks`` (distinct ASNs) say how much data stands behind the figure;
    ``blocked_low/high`` and ``confirmed_low/high`` are the intervals of the two shares (network clustering
    and verdict confidence accounted for: ``evidence.stats``); ``examples`` are measurement ids behind it.

    For the ``events`` measure: ``blocked`` counts the curated events of the rule's kinds touching the
    period, ``confirmed`` the detected ones, ``tested`` both; ``measurements`` and ``networks`` are 0;
    ``events`` describes each (``2019-08-05..2021-02-05 throttling, Jammu and Kashmir [accessnow-stop-…]``),
    curated first.
    """

    iso2: str
    indicator: str
    measure: Measure
    tested: int
    blocked: int
    confirmed: int
    measurements: int
    networks: int
    period: str = ""
    blocked_low: float = 0.0
    blocked_high: float = 1.0
    confirmed_low: float = 0.0
    confirmed_high: float = 1.0
    examples: tuple[str, ...] = ()
    events: tuple[str, ...] = ()

    @property
    def share_blocked(self) -> float:
        return self.blocked / self.tested if self.tested else 0.0

    @property
    def share_confirmed(self) -> float:
        return self.confirmed / self.tested if self.tested else 0.0


class FlagKind(StrEnum):
    EVIDENCE_CONTRADICTS = "evidence_contradicts"  # score says little restriction; evidence shows blocking
    EVIDENCE_ABSENT = "evidence_absent"  # score says heavy restriction; ample tests found none
    THIN_EVIDENCE = "thin_evidence"  # too few tests to check the score (widens the interval)
    UNJUSTIFIED_CHANGE = "unjustified_change"  # moved more than the set amount, no justification
    MISSING = "missing"  # an indicator or category was not assessed: no total, no rank


@dataclass(frozen=True, slots=True)
class Flag:
    kind: FlagKind
    code: str  # the indicator or category concerned
    message: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.code}"


@dataclass(frozen=True, slots=True)
class CategoryResult:
    code: str
    name: str
    max: int
    score: float | None  # rounded; None when an indicator is missing
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class CountryResult:
    iso2: str
    country: str
    year: int
    categories: tuple[CategoryResult, ...]
    total: float | None
    status: str | None
    rank: int | None
    previous_total: float | None = None
    change: float | None = None
    total_low: float | None = None
    total_high: float | None = None
    rank_low: int | None = None  # best rank within the interval
    rank_high: int | None = None
    flags: tuple[Flag, ...] = ()
    evidence: tuple[EvidenceFigure, ...] = ()

    def category(self, code: str) -> CategoryResult:
        for cat in self.categories:
            if cat.code == code:
                return cat
        raise KeyError(code)


@dataclass(frozen=True, slots=True)
class IndexResult:
    methodology_id: str
    methodology_version: str
    scale: Scale
    year: int
    countries: tuple[CountryResult, ...]

    def country(self, iso2: str) -> CountryResult:
        for c in self.countries:
            if c.iso2 == iso2.upper():
                return c
        raise KeyError(iso2)

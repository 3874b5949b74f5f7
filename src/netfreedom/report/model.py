"""What the site and the API show, loaded from the store's index tables (see docs/architecture.md).

The index engine writes ``index_results``, ``index_scores``, ``index_flags`` and ``index_methodology``; this
module reads them into plain frozen values so templates and API handlers never touch SQL.  Every table is
optional: a store with verdicts but no index yet still publishes its evidence.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

ZERO_BEST = "0-best"


@dataclass(frozen=True)
class CategoryDef:
    code: str
    name: str
    max: float


@dataclass(frozen=True)
class IndicatorDef:
    code: str
    category: str
    max: float
    question: str
    guidance: str


@dataclass(frozen=True)
class StatusDef:
    name: str
    min: float
    max: float


@dataclass(frozen=True)
class Methodology:
    id: str
    version: str
    title: str
    scale: str
    categories: tuple[CategoryDef, ...]
    indicators: tuple[IndicatorDef, ...]
    statuses: tuple[StatusDef, ...]
    # The edition's coverage period [since, until): the measurements its scores are checked against.
    coverage: tuple[dt.date, dt.date] | None = None
    evidence: tuple[dict[str, Any], ...] = ()  # the evidence rules, as index.methodology.EvidenceRule
    review: dict[str, float] = field(default_factory=dict)
    uncertainty: dict[str, Any] = field(default_factory=dict)

    @property
    def zero_best(self) -> bool:
        return self.scale == ZERO_BEST

    @property
    def coverage_last(self) -> dt.date | None:
        """The last day of the coverage period."""
        return self.coverage[1] - dt.timedelta(days=1) if self.coverage else None


@dataclass(frozen=True)
class Ranked:
    """One country in one edition."""

    year: int
    iso2: str
    country: str
    total: float | None
    total_low: float | None
    total_high: float | None
    status: str
    rank: int | None
    rank_low: int | None
    rank_high: int | None
    change: float | None
    scale: str
    categories: tuple[tuple[str, float | None], ...]
    flags: int

    @property
    def freedom(self) -> float | None:
        """0 = least free … 1 = most free, whatever the scale: what the map colours."""
        if self.total is None:
            return None
        share = self.total / 100.0
        return 1.0 - share if self.scale == ZERO_BEST else share

    @property
    def improved(self) -> bool | None:
        """True when the change is towards more freedom (down on a 0-best scale)."""
        if not self.change:
            return None
        return self.change < 0 if self.scale == ZERO_BEST else self.change > 0


@dataclass(frozen=True)
class Score:
    code: str
    level: str
    score: float | None
    low: float | None
    high: float | None
    max: float | None
    justification: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Flag:
    code: str | None
    kind: str
    message: str


@dataclass(frozen=True)
class IndexData:
    editions: dict[int, tuple[Ranked, ...]]
    methodologies: dict[int, Methodology]

    @property
    def latest(self) -> int | None:
        return max(self.editions) if self.editions else None

    def history(self, iso2: str) -> list[Ranked]:
        return [r for y in sorted(self.editions) for r in self.editions[y] if r.iso2 == iso2]


def has_table(con: Any, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
        [name],
    ).fetchall()  # every row: DuckDB refuses other work on a connection with a result left unread
    return bool(rows and rows[0][0])


def _methodology(doc: dict[str, Any]) -> Methodology:
    return Methodology(
        id=str(doc.get("id", "")),
        version=str(doc.get("version", "")),
        title=str(doc.get("title") or doc.get("name") or doc.get("id", "")),
        scale=str(doc.get("scale", ZERO_BEST)),
        categories=tuple(
            CategoryDef(str(c["code"]), str(c.get("name", c["code"])), float(c.get("max", 0)))
            for c in doc.get("categories", [])
        ),
        indicators=tuple(
            IndicatorDef(
                str(i["code"]),
                str(i.get("category", "")),
                float(i.get("max", 0)),
                str(i.get("question", "")),
                str(i.get("guidance", "")),
            )
            for i in doc.get("indicators", [])
        ),
        statuses=tuple(
            StatusDef(str(s["name"]), float(s["min"]), float(s["max"])) for s in doc.get("statuses", [])
        ),
        coverage=_coverage(doc.get("coverage")),
        evidence=tuple(dict(r) for r in doc.get("evidence", [])),
        review={str(k): float(v) for k, v in doc.get("review", {}).items()},
        uncertainty=dict(doc.get("uncertainty", {})),
    )


def _coverage(value: Any) -> tuple[dt.date, dt.date] | None:
    """Stores written before the coverage period was recorded have none."""
    if not isinstance(value, dict):
        return None
    return dt.date.fromisoformat(value["since"]), dt.date.fromisoformat(value["until"])


def load_index(con: Any) -> IndexData:
    """Every edition in the store, each country's category scores attached."""
    if not has_table(con, "index_results"):
        return IndexData({}, {})
    methodologies: dict[int, Methodology] = {}
    if has_table(con, "index_methodology"):
        for year, doc in con.execute("SELECT year, document FROM index_methodology").fetchall():
            parsed = json.loads(doc) if isinstance(doc, str) else doc
            methodologies[int(year)] = _methodology(parsed)
    cats: dict[tuple[int, str], list[tuple[str, float | None]]] = {}
    if has_table(con, "index_scores"):
        for year, iso2, code, score in con.execute(
            "SELECT year, iso2, code, score FROM index_scores WHERE level = 'category' ORDER BY code"
        ).fetchall():
            cats.setdefault((int(year), iso2), []).append((code, None if score is None else float(score)))
    flags: dict[tuple[int, str], int] = {}
    if has_table(con, "index_flags"):
        for year, iso2, n in con.execute(
            "SELECT year, iso2, count(*) FROM index_flags GROUP BY ALL"
        ).fetchall():
            flags[(int(year), iso2)] = int(n)
    editions: dict[int, list[Ranked]] = {}
    rows = con.execute(
        "SELECT year, iso2, country, total, total_low, total_high, status, rank, rank_low, rank_high, "
        "change, scale FROM index_results ORDER BY year, rank NULLS LAST, country"
    ).fetchall()
    for year, iso2, country, total, lo, hi, status, rank, rlo, rhi, change, scale in rows:
        y = int(year)
        editions.setdefault(y, []).append(
            Ranked(
                year=y,
                iso2=str(iso2),
                country=str(country),
                total=_f(total),
                total_low=_f(lo),
                total_high=_f(hi),
                status=str(status or ""),
                rank=None if rank is None else int(rank),
                rank_low=None if rlo is None else int(rlo),
                rank_high=None if rhi is None else int(rhi),
                change=_f(change),
                scale=str(scale or ZERO_BEST),
                categories=tuple(cats.get((y, str(iso2)), [])),
                flags=flags.get((y, str(iso2)), 0),
            )
        )
    return IndexData({y: tuple(v) for y, v in editions.items()}, methodologies)


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def load_scores(con: Any, year: int, iso2: str) -> list[Score]:
    if not has_table(con, "index_scores"):
        return []
    out = []
    for code, level, score, low, high, mx, just, sources in con.execute(
        "SELECT code, level, score, low, high, max, justification, sources FROM index_scores "
        "WHERE year = ? AND iso2 = ? ORDER BY code",
        [year, iso2],
    ).fetchall():
        out.append(
            Score(
                str(code),
                str(level),
                _f(score),
                _f(low),
                _f(high),
                _f(mx),
                str(just or ""),
                tuple(str(s) for s in (sources or ())),
            )
        )
    return out


def load_flags(con: Any, year: int, iso2: str) -> list[Flag]:
    if not has_table(con, "index_flags"):
        return []
    return [
        Flag(None if code is None else str(code), str(kind), str(message))
        for code, kind, message in con.execute(
            "SELECT code, kind, message FROM index_flags WHERE year = ? AND iso2 = ? ORDER BY code, kind",
            [year, iso2],
        ).fetchall()
    ]

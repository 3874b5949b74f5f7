"""Does the measured interference score rank countries as the experts do?  ``netfreedom evidence validate``.

For one edition ``year`` of the stored index, every country with both an expert total and a measured score
(``evidence.countries.country_summaries`` over ``window``: raw verdicts, else OONI's aggregates) is a pair
(measured score, expert freedom).  Both read "higher = freer": the measured score is 100 when no
interference was observed; an expert total on a 0-best scale (FOTN up to 2018: 0 = most free) is turned
around as ``100 − total``.  Agreement is Spearman's ρ of the pairs with a seeded percentile-bootstrap
interval (``index.agreement``): ρ near 1 means the measurements order countries as the experts do.  The
countries whose two ranks lie furthest apart are listed, so a reader can see where they disagree (and ask
whether the measurements or the experts miss something).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from netfreedom.evidence.countries import country_summaries
from netfreedom.evidence.facts import fetch, has_table
from netfreedom.evidence.model import Query, Window
from netfreedom.index.agreement import Agreement, agreement

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Pair:
    iso2: str
    country: str
    measured: float
    measured_low: float | None
    measured_high: float | None
    expert_total: float
    expert_freedom: float  # on the 100 = most free scale
    sources: str  # where the measured score comes from: raw, aggregates, or both


@dataclass(frozen=True)
class Validation:
    year: int
    period: str  # the measurement window's label
    scale: str  # the expert index's scale (0-best or 100-best)
    pairs: tuple[Pair, ...]
    agreement: Agreement | None  # None when fewer than 3 countries (or a constant ranking)
    note: str = ""  # why there is no agreement figure

    def to_json(self) -> dict[str, Any]:
        a = self.agreement
        ranks = {d.key: d for d in a.disagreements} if a else {}
        return {
            "year": self.year,
            "period": self.period,
            "scale": self.scale,
            "n": len(self.pairs),
            "rho": a.rho if a else None,
            "rho_low": a.low if a else None,
            "rho_high": a.high if a else None,
            "level": a.level if a else LEVEL,
            "resamples": a.resamples if a else 0,
            "seed": a.seed if a else None,
            "note": self.note,
            "disagreements": [
                {
                    "iso2": d.key,
                    "country": next(p.country for p in self.pairs if p.iso2 == d.key),
                    "measured": d.x,
                    "expert_freedom": d.y,
                    "measured_rank": d.rank_x,
                    "expert_rank": d.rank_y,
                }
                for d in ranks.values()
            ],
            "countries": [p.__dict__ for p in self.pairs],
        }

    def summary(self) -> str:
        """One sentence: ρ, its interval, n, the window."""
        a = self.agreement
        if a is None:
            return f"{self.year}: no rank correlation ({self.note})"
        return (
            f"Spearman ρ = {a.rho:.2f} ({a.level:.0%} bootstrap interval {a.low:.2f} to {a.high:.2f}, "
            f"{a.resamples} resamples, seed {a.seed}) between the measured score and the {self.year} "
            f"expert index, over {a.n} countries; {_period_words(self.period)}"
        )


def _period_words(label: str) -> str:
    if label == "all":
        return "all measurements"
    since, _, until = label.partition("/")
    return f"measurements from {since} until {until} (exclusive)"


def expert_totals(query: Query, year: int) -> tuple[str, dict[str, tuple[str, float]]]:
    """The stored index's scale and ``iso2 → (country, total)`` for ``year`` (empty when not built)."""
    if not has_table(query, "index_results"):
        return "", {}
    rows = fetch(
        query,
        "SELECT iso2, country, total, scale FROM index_results WHERE year = ? AND total IS NOT NULL",
        [year],
    )
    scale = rows[0][3] if rows else ""
    return scale, {r[0]: (r[1], float(r[2])) for r in rows}


def validate(
    query: Query,
    year: int,
    window: Window | None = None,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
    top: int = 5,
    exclude: Sequence[str] = (),
) -> Validation:
    """The agreement of the measured score over ``window`` (default: all time) with edition ``year``."""
    window = window or Window()
    scale, experts = expert_totals(query, year)
    if not experts:
        return Validation(year, window.label, scale, (), None, f"no {year} edition in the store")
    summaries = country_summaries(query, window, countries=sorted(experts))
    pairs: list[Pair] = []
    thin = 0  # measured, but not enough evidence for a score
    for r in summaries.to_pylist():
        cc = r["iso2"]
        if not r.get("measurements") or cc in exclude:
            continue
        if r.get("score") is None:
            thin += 1
            continue
        name, total = experts[cc]
        freedom = 100 - total if scale == "0-best" else total
        pairs.append(
            Pair(
                cc,
                name,
                float(r["score"]),
                r.get("score_low"),
                r.get("score_high"),
                total,
                freedom,
                str(r.get("sources") or "raw"),
            )
        )
    pairs.sort(key=lambda p: p.iso2)
    try:
        a = agreement(
            {p.iso2: (p.measured, p.expert_freedom) for p in pairs},
            resamples=resamples,
            level=level,
            seed=seed,
            top=top,
        )
    except ValueError as exc:
        if len(pairs) >= 3:
            return Validation(year, window.label, scale, tuple(pairs), None, str(exc))
        n = len(pairs)
        note = (
            f"{n} {'country has' if n == 1 else 'countries have'} both a measured score and a {year} total, "
            f"{thin} more {'was' if thin == 1 else 'were'} measured without enough evidence for a score; "
            "at least 3 are needed"
        )
        return Validation(year, window.label, scale, tuple(pairs), None, note)
    return Validation(year, window.label, scale, tuple(pairs), a)

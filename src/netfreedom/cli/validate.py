"""``netfreedom evidence validate``: how the measured score's rank order agrees with the expert index."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netfreedom.errors import InputError

from .ingest import DB_HELP

if TYPE_CHECKING:
    from netfreedom.evidence.model import Query, Window


def register_validate(evidence_app: typer.Typer) -> None:
    @evidence_app.command("validate")
    def validate(
        *,
        year: Annotated[
            int, typer.Option("--year", "-y", help="The expert index edition (built in the store).")
        ],
        db: Annotated[Path | None, typer.Option("--db", help=DB_HELP)] = None,
        since: Annotated[
            str | None, typer.Option(help="First day of the measurements (YYYY-MM-DD); default: all time.")
        ] = None,
        until: Annotated[
            str | None, typer.Option(help="Day after the last one (YYYY-MM-DD), exclusive.")
        ] = None,
        coverage: Annotated[
            bool,
            typer.Option(
                "--coverage", help="Measurements of the edition's coverage period (its methodology's)."
            ),
        ] = False,
        resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = 2000,
        level: Annotated[float, typer.Option(min=0.5, max=0.999, help="Interval level.")] = 0.95,
        seed: Annotated[int, typer.Option(help="Bootstrap seed (same seed, same interval).")] = 0,
        top: Annotated[int, typer.Option(min=0, help="Countries that disagree most, listed.")] = 5,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Spearman's ρ between the measured interference score and an expert index edition.

        Every country with both an expert total for YEAR and a measured score (raw measurements, else
        OONI's aggregates) counts; the interval is a seeded percentile bootstrap over countries.  The
        countries whose two ranks differ most are listed.  Exit 1 when fewer than 3 countries qualify.
        """
        from netfreedom.evidence.validation import validate as run
        from netfreedom.store import open_store

        from ._console import make_console

        with open_store(db, read_only=True) as store:
            window = _window(store.query, year, since, until, coverage)
            result = run(store.query, year, window, resamples=resamples, level=level, seed=seed, top=top)
        if as_json:
            sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        else:
            out = make_console()
            out.print(result.summary(), markup=False)
            if result.agreement is not None and result.agreement.disagreements:
                out.print("disagree most (rank 1 = most free):", markup=False)
                names = {p.iso2: p.country for p in result.pairs}
                for d in result.agreement.disagreements:
                    out.print(
                        f"  {d.key} {names[d.key]}: measured {d.x:g} (rank {d.rank_x:g}), "
                        f"expert {d.y:g} (rank {d.rank_y:g})",
                        markup=False,
                    )
        if result.agreement is None:
            raise typer.Exit(1)


def _window(query: Query, year: int, since: str | None, until: str | None, coverage: bool) -> Window:
    """The measurement window: the edition's coverage period (as its index build stated it), or the days
    given (all time by default)."""
    from netfreedom.evidence.facts import fetch, has_table
    from netfreedom.evidence.model import EPOCH, FAR, Window

    if coverage:
        if since or until:
            raise InputError("--coverage and --since/--until exclude each other")
        rows = (
            fetch(query, "SELECT DISTINCT period FROM index_evidence WHERE year = ?", [year])
            if has_table(query, "index_evidence")
            else []
        )
        if len(rows) != 1:
            raise InputError(
                f"no coverage period stored for {year} (run `netfreedom build` or `index build`)"
            )
        return Window.parse(rows[0][0])
    try:
        first = dt.date.fromisoformat(since) if since else EPOCH
        last = dt.date.fromisoformat(until) if until else FAR
    except ValueError as exc:
        raise InputError(f"not a day (YYYY-MM-DD): {exc}") from exc
    return Window(first, last)

"""``netfreedom evidence validate``: how the measured score's rank order agrees with the expert index."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from netfreedom.errors import InputError

from ._store import DbOpt

if TYPE_CHECKING:
    from netfreedom.evidence.model import Query, Window


def register_validate(evidence_app: typer.Typer) -> None:
    @evidence_app.command("validate")
    def validate(
        *,
        year: Annotated[
            int, typer.Option("--year", "-y", help="The expert index edition (built in the store).")
        ],
        db: DbOpt = None,
        since: Annotated[
            dt.datetime | None,
            typer.Option("--since", formats=["%Y-%m-%d"], help="First day (UTC) of the measurements."),
        ] = None,
        until: Annotated[
            dt.datetime | None,
            typer.Option(
                "--until", formats=["%Y-%m-%d"], help="Last day (UTC) of the measurements, inclusive."
            ),
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
        from netfreedom.evidence import facts
        from netfreedom.evidence.validation import validate as run
        from netfreedom.store import open_store

        from ._console import make_console

        with open_store(db, read_only=True) as store:
            facts.require_verdicts(store.query)
            query = facts.reading(store.query, store.read(facts.is_stale))
            window = _window(query, year, since, until, coverage)
            result = run(query, year, window, resamples=resamples, level=level, seed=seed, top=top)
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


def _window(
    query: Query, year: int, since: dt.datetime | None, until: dt.datetime | None, coverage: bool
) -> Window:
    """The measurement window: the edition's coverage period, or the days given (all time by default)."""
    from netfreedom.evidence.model import Window
    from netfreedom.evidence.tables import edition_window

    if coverage:
        if since or until:
            raise InputError("--coverage and --since/--until exclude each other")
        found = edition_window(query, year)
        if found is None:
            raise InputError(f"no {year} edition in the store (run `netfreedom build` or `index build`)")
        return found[1]
    default = Window()
    start = since.date() if since else default.since
    end = until.date() + dt.timedelta(days=1) if until else default.until
    return Window(start, end)

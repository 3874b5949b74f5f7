"""``netfreedom evidence``: the measured evidence, as the site and the API show it (one evidence model)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer

from netfreedom.errors import InputError

from ._console import Format, FormatOpt
from ._store import DbOpt
from .validate import register_validate

COLUMNS = (
    "iso2",
    "country",
    "measurements",
    "networks",
    "tested_urls",
    "blocked_urls",
    "confirmed_urls",
    "blocked_share",
    "blocked_low",
    "blocked_high",
    "score",
    "score_low",
    "score_high",
    "score_status",
    "sources",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if not value.is_integer() else str(int(value))
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def register(app: typer.Typer) -> None:
    evidence_app = typer.Typer(
        help="Measured evidence: per-country figures from the one evidence model.", no_args_is_help=True
    )
    app.add_typer(evidence_app, name="evidence")
    register_validate(evidence_app)

    @evidence_app.command("countries")
    def countries(
        *,
        since: Annotated[
            dt.datetime | None,
            typer.Option("--since", formats=["%Y-%m-%d"], help="First day (UTC) of the period."),
        ] = None,
        until: Annotated[
            dt.datetime | None,
            typer.Option("--until", formats=["%Y-%m-%d"], help="Last day (UTC) of the period, inclusive."),
        ] = None,
        year: Annotated[
            int | None,
            typer.Option("--year", help="The coverage period of this edition (see --methodology)."),
        ] = None,
        methodology: Annotated[
            str | None,
            typer.Option(
                "--methodology",
                help="With --year: a shipped id or a TOML file (default: the stored edition's).",
            ),
        ] = None,
        fmt: FormatOpt = Format.TABLE,
        db: DbOpt = None,
    ) -> None:
        """One row per country with measurements in the period: measurements, networks, tested, blocked and
        confirmed URLs, the blocked share with its interval, and the measured interference score (100 = no
        interference observed) with its interval — or, when too little was tested for a score, none and
        the status not_enough_evidence.

        The period is --since/--until, or --year's coverage period, or (neither given) the latest built
        edition's coverage period, else all time.
        """
        from netfreedom.evidence import facts
        from netfreedom.evidence.countries import country_summaries
        from netfreedom.evidence.model import Window
        from netfreedom.evidence.tables import edition_window
        from netfreedom.index.methodology import load_methodology
        from netfreedom.store import open_store

        if year is not None and (since or until):
            raise InputError("give either --since/--until or --year, not both")
        if methodology is not None and year is None:
            raise InputError("--methodology only chooses the coverage period of --year")
        with open_store(db, read_only=True) as store:
            facts.require_verdicts(store.query)
            # Stale evidence tables (verdicts added since the last publish) are not read: counted inline.
            query = facts.reading(store.query, store.read(facts.is_stale))
            if since or until:
                default = Window()
                start = since.date() if since else default.since
                end = until.date() + dt.timedelta(days=1) if until else default.until
                window = Window(start, end)
                what = "asked"
            elif year is not None:
                if methodology is None:
                    found = edition_window(query, year)
                    if found is None:
                        raise InputError(f"no {year} edition in the store: give --methodology")
                    window = found[1]
                else:
                    window = Window(*load_methodology(methodology).coverage(year))
                what = f"coverage period of {year}"
            else:
                found = edition_window(query)
                window, what = (found[1], f"coverage period of {found[0]}") if found else (Window(), "all")
            table = country_summaries(query, window)
        rows = table.to_pylist()
        if fmt is Format.JSON:
            doc = {"period": window.label, "period_is": what, "countries": rows}
            sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
            return
        columns = [*COLUMNS, *(c for c in table.column_names if c not in COLUMNS)]
        if fmt is Format.CSV:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([_cell(r[c]) for c in columns] for r in rows)
            return
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        shown = [c for c in COLUMNS if c != "country"]
        out = Table(title=f"Evidence by country, {window.label} ({what})", title_justify="left")
        for col in shown:
            out.add_column(col, justify="left" if col == "iso2" else "right", overflow="fold")
        for r in rows:
            out.add_row(*(escape(_cell(r[c])) for c in shown))
        Console(highlight=False, width=max(120, Console().width)).print(out)

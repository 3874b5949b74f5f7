"""``netfreedom stats``: what is in the store."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ._store import DbOpt, ProjectOpt

RAW_WINS = (
    "Raw measurements win: aggregation rows of a country, test and day that raw verdicts also cover "
    "are not read (shadowed)."
)


def register(app: typer.Typer) -> None:
    @app.command()
    def stats(
        *,
        db: DbOpt = None,
        project: ProjectOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Count stored measurements by test name, probe country and month, and OONI aggregation rows.

        Where raw measurements and aggregation rows cover the same country, test and day, the raw
        measurements win: evidence and the API read those aggregation rows no more (counted as shadowed).
        """
        from rich.markup import escape
        from rich.table import Table

        import netfreedom
        from netfreedom.pipeline.project import locate_store

        from ._console import make_console

        with netfreedom.open(locate_store(db, project)) as store:
            s = store.stats()
        groups = {
            "by_test_name": s.by_test_name,
            "by_probe_cc": s.by_probe_cc,
            "by_month": s.by_month,
        }
        if as_json:
            doc = {
                "measurements": s.measurements,
                "verdicts": s.verdicts,
                "parquet_files": s.parquet_files,
                "first": s.first.isoformat() if s.first else None,
                "last": s.last.isoformat() if s.last else None,
                **{k: {c.key: c.measurements for c in v} for k, v in groups.items()},
                "aggregate_rows": s.aggregate_rows,
                "aggregate_measurements": s.aggregate_measurements,
                "aggregate_sources": s.aggregate_sources,
                "aggregate_shadowed_rows": s.aggregate_shadowed_rows,
                "aggregate_by_probe_cc": {c.key: c.measurements for c in s.aggregate_by_probe_cc},
                "aggregate_rule": RAW_WINS,
            }
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
            return
        out = make_console()
        span = f" from {s.first:%Y-%m-%d} to {s.last:%Y-%m-%d}" if s.first and s.last else ""
        out.print(
            f"{s.measurements} measurements{span}; {s.verdicts} verdicts; {s.parquet_files} Parquet files"
        )
        if s.aggregate_rows:
            out.print(
                f"{s.aggregate_rows} aggregation rows counting {s.aggregate_measurements} measurements "
                f"from {s.aggregate_sources} sources; {s.aggregate_shadowed_rows} rows shadowed"
            )
            out.print(RAW_WINS)
        for title, counts in (
            ("test_name", s.by_test_name),
            ("probe_cc", s.by_probe_cc),
            ("month", s.by_month),
        ):
            table = Table(title=f"by {title}", title_justify="left")
            table.add_column(title)
            table.add_column("measurements", justify="right")
            for c in counts:
                table.add_row(escape(c.key), str(c.measurements))
            out.print(table)

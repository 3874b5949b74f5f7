"""``netfreedom index``: import published scores, build the index into the store, show it."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from netfreedom.index.methodology import Scale

from ._console import Format, FormatOpt
from ._engine import Engine, EngineOpt, SchedulerOpt, WorkersOpt, engine_options
from ._hints import TESTLISTS, fetch_hint
from ._store import DbOpt, ProjectOpt


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _interval(pair: list[Any] | None) -> str:
    return "" if pair is None else f"{_fmt(pair[0])}-{_fmt(pair[1])}"


def _flat(row: dict[str, Any]) -> dict[str, str]:
    """A row for text output: intervals as ``low-high``, flags as ``kind:code`` joined by ``;``."""
    out = {k: _fmt(v) for k, v in row.items() if k not in ("interval", "rank_interval", "flags")}
    change = row.get("change")
    out["change"] = "" if change is None else (f"{change:+g}" if change else "0")
    out["interval"] = _interval(row["interval"])
    out["rank_interval"] = _interval(row["rank_interval"])
    out["flags"] = ";".join(f"{f['kind']}:{f['code']}" for f in row["flags"])
    return out


def _num(v: float | None) -> float | int | None:
    if v is None:
        return None
    return int(v) if float(v).is_integer() else v


def _rows(table: Any, flags: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Plain rows (country, iso2, each category, total, status, rank, change, interval, rank_interval,
    flags) from the API's ``index`` and ``flags`` tables, and the category codes."""
    names = table.schema.names
    cats = names[names.index("country") + 1 : names.index("total")]
    by_country: dict[str, list[dict[str, str]]] = {}
    for f in flags.to_pylist():
        by_country.setdefault(f["iso2"], []).append(
            {"kind": f["kind"], "code": f["code"] or "", "message": f["message"]}
        )
    out = []
    for c in table.to_pylist():
        row: dict[str, Any] = {"country": c["country"], "iso2": c["iso2"]}
        row.update({code: _num(c[code]) for code in cats})
        row.update(
            total=_num(c["total"]),
            status=c["status"],
            rank=c["rank"],
            change=_num(c["change"]),
            interval=[_num(c["total_low"]), _num(c["total_high"])] if c["total_low"] is not None else None,
            rank_interval=[c["rank_low"], c["rank_high"]] if c["rank_low"] is not None else None,
            flags=by_country.get(c["iso2"], []),
        )
        out.append(row)
    return out, cats


def register(app: typer.Typer) -> None:
    index_app = typer.Typer(
        help="The index: import published scores, build from methodology + scores + evidence, show.",
        no_args_is_help=True,
    )
    app.add_typer(index_app, name="index")

    @index_app.command("import-fh")
    def import_fh(
        workbook: Annotated[
            Path, typer.Argument(metavar="FILE.xlsx", help="Freedom House FOTN score workbook.")
        ],
        *,
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Score CSV to write (default ./fh-YEAR.csv).")
        ] = None,
        year: Annotated[
            int | None,
            typer.Option(help="Edition to read (default: every edition in the file; year from the title)."),
        ] = None,
        scale: Annotated[
            Scale | None,
            typer.Option(help="Scale of the workbook (default: 0-best up to 2018, 100-best after)."),
        ] = None,
    ) -> None:
        """Read Freedom House's published "Freedom on the Net" workbook into a score file for `index build`.

        2019 and later ("FOTN Country Score Data"): the 21 indicator scores per country, the category and
        total columns checked against them, any number of editions (the Edition column; --year keeps one).
        2018 and earlier: category-level scores (A, B, C).  Columns are found by name; names are resolved
        to ISO codes; the scale is recorded.  Rows that cannot be read, or do not add up, are listed as
        warnings naming sheet and row; exit 2 when the layout is unknown or no row could be read.
        """
        from netfreedom.pipeline.index import import_fh as run_import

        result, written = run_import(workbook, out, year=year, scale=scale)
        for problem in result.problems:
            typer.echo(f"warning: {problem}", err=True)
        years = result.years
        scales = ", ".join(sorted({s.value for s in result.scales.values()}))
        level = "indicator" if result.layout == "indicators" else "category"
        if len(years) == 1:
            head = f"{len(result.scores)} countries, edition {years[0]}"
            typer.echo(f"{head}, scale {scales}, {level} scores → {written}")
        else:
            editions = ", ".join(str(y) for y in years)
            typer.echo(
                f"{len(result.scores)} country-editions, editions {editions}, scale {scales}, {level} scores"
                f" → {written}"
            )

    @index_app.command("build")
    def build(
        *,
        methodology: Annotated[
            str, typer.Option(help="Methodology file (.toml) or shipped id: fotn (100-best), fotn-legacy.")
        ],
        scores: Annotated[
            list[Path],
            typer.Option(
                "--scores", help="Score files (.toml, .csv) or folders; repeat. Include last year's."
            ),
        ],
        year: Annotated[int, typer.Option(help="Edition year to build.")],
        db: DbOpt = None,
        testlists: Annotated[
            str | None,
            typer.Option(
                help="Load Citizen Lab test lists into the store first: a folder, 'public', or a base URL."
            ),
        ] = None,
        mirror: Annotated[
            list[str] | None,
            typer.Option(help="Serve test-list URLs from here: BASE_URL_OR_FOLDER, or URL_PREFIX=TARGET."),
        ] = None,
        cache_dir: Annotated[Path | None, typer.Option(help="Download cache (env NETFREEDOM_CACHE).")] = None,
        evidence: Annotated[
            bool, typer.Option(help="Check scores against the verdicts in the store.")
        ] = True,
        engine: EngineOpt = Engine.LOCAL,
        scheduler: SchedulerOpt = None,
        workers: WorkersOpt = None,
    ) -> None:
        """Compile the index for YEAR: scores, status, rank, change, intervals and review flags, stored.

        With --engine dask the evidence figures are computed on a Dask cluster, one task per country,
        straight from the store's verdict Parquet (the same figures as the local engine's).
        """
        from netfreedom.errors import InputError
        from netfreedom.pipeline.index import build as run_build
        from netfreedom.pipeline.index import load_testlists

        cluster = engine_options(engine, scheduler, workers)  # refuses a missing dask extra here
        if cluster is not None and not evidence:
            raise InputError("--engine dask computes the evidence; it has nothing to do with --no-evidence")
        lists = None
        if testlists:
            with fetch_hint(TESTLISTS):
                lists = load_testlists(testlists, mirrors=mirror or (), cache_dir=cache_dir)
        report = run_build(methodology, scores, year, db, lists=lists, use_evidence=evidence, cluster=cluster)
        for note in report.notes:
            typer.echo(f"note: {note}", err=True)
        result = report.result
        ranked = sum(1 for c in result.countries if c.rank is not None)
        flags = sum(len(c.flags) for c in result.countries)
        lists_note = (
            f", {report.testlist_rows} test-list rows loaded" if report.testlist_rows is not None else ""
        )
        typer.echo(
            f"index {year} ({report.methodology.id} v{report.methodology.version}, {result.scale.value}): "
            f"{len(result.countries)} countries, {ranked} ranked, {flags} review flags, "
            f"evidence for {report.evidence_countries} countries{lists_note} → {report.db}"
        )

    @index_app.command("show")
    def show(
        *,
        year: Annotated[int, typer.Option(help="Edition year.")],
        db: DbOpt = None,
        project: ProjectOpt = None,
        fmt: FormatOpt = Format.TABLE,
    ) -> None:
        """Print the stored index: country, iso2, categories, total, status, rank, change, interval, flags."""
        import netfreedom
        from netfreedom.pipeline.project import locate_store

        # The Python API's tables: one way to read an index.
        with netfreedom.open(locate_store(db, project)) as store:
            table = store.index(year)
            flags = store.flags(year)
        data, cats = _rows(table, flags)
        first = table.slice(0, 1).to_pylist()
        methodology, scale = (first[0]["methodology_id"], first[0]["scale"]) if first else ("", "")
        columns = [
            "country",
            "iso2",
            *cats,
            "total",
            "status",
            "rank",
            "change",
            "interval",
            "rank_interval",
            "flags",
        ]
        if fmt is Format.JSON:
            doc = {"year": year, "methodology": methodology, "scale": scale, "countries": data}
            sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
            return
        flat = [_flat(r) for r in data]
        if fmt is Format.CSV:
            writer = csv.DictWriter(
                sys.stdout, fieldnames=columns, lineterminator="\n", extrasaction="ignore"
            )
            writer.writeheader()
            writer.writerows(flat)
            return
        from rich.markup import escape
        from rich.table import Table

        from ._console import make_console

        shown = Table(title=f"Index {year} ({methodology}, {scale})", title_justify="left")
        numeric = {*cats, "total", "rank", "change"}
        for col in columns:
            shown.add_column(col, justify="right" if col in numeric else "left", overflow="fold")
        for r in flat:
            shown.add_row(*(escape(r.get(c, "")) for c in columns))
        out = make_console()
        if out.is_terminal:
            out.width = max(120, out.width)
        out.print(shown)

"""``netfreedom analyze``: verdicts for measurement files (to JSON lines) or for the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from netfreedom.pipeline.analyze import AnalyzeSummary

from ._engine import Engine, EngineOpt, SchedulerOpt, WorkersOpt, engine_options
from ._fingerprints import CacheDirOpt, FingerprintsDirOpt, MirrorOpt, NoFingerprintsOpt, load_fingerprints
from ._store import DbOpt

_SHOWN_ERRORS = 20


def _print(summary: AnalyzeSummary, *, store_mode: bool, to_stderr: bool) -> None:
    from rich.markup import escape

    from ._console import make_console

    out = make_console(stderr=to_stderr)
    outcomes = "  ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items()))
    if store_mode:
        head = f"analysed {summary.analysed}  stored {summary.stored}"
        if summary.reset:
            head += f"  (re-analysis: {summary.reset} verdicts of other rules/fingerprints dropped)"
    else:
        head = (
            f"files {summary.files}  lines {summary.lines}  analysed {summary.analysed}  "
            f"rejected {summary.rejected}"
        )
    out.print(head)
    if outcomes:
        out.print(f"  {outcomes}")
    if summary.analysis_errors:
        out.print(f"  [bold red]analysis errors {summary.analysis_errors}[/] (a bug: please report)")
    if summary.fingerprint_problems:
        first = escape(summary.fingerprint_problems[0])
        out.print(f"  fingerprint rows skipped {len(summary.fingerprint_problems)} (first: {first})")
    for e in summary.errors[:_SHOWN_ERRORS]:
        out.print(escape(f"  {e.file}:{e.line}: {e.reason}"))  # input text: never markup
    hidden = summary.rejected - min(len(summary.errors), _SHOWN_ERRORS)
    if hidden > 0:
        out.print(f"  … and {hidden} more (see --json)")


class _Bar:
    """A live count on stderr while a long run goes (terminals only; never with --json)."""

    def __init__(self) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from ._console import make_console

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("analyse {task.fields[counts]}"),
            TimeElapsedColumn(),
            console=make_console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task("analyse", counts="")
        self.progress.start()

    @classmethod
    def start(cls, enabled: bool) -> _Bar | None:
        from ._console import make_console

        return cls() if enabled and make_console(stderr=True).is_terminal else None

    def update(self, summary: AnalyzeSummary) -> None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items()))
        self.progress.update(self.task, counts=f"{summary.analysed} measurements ({counts})")

    def stop(self) -> None:
        self.progress.stop()


def register(app: typer.Typer) -> None:
    @app.command()
    def analyze(
        files: Annotated[
            list[str] | None,
            typer.Argument(
                metavar="[FILE...]",
                help="Measurement files or folders to analyse without a store (needs --output).",
            ),
        ] = None,
        *,
        output: Annotated[
            str | None,
            typer.Option("--output", "-o", help="Verdicts as JSON lines (FILE mode); - for stdout."),
        ] = None,
        db: DbOpt = None,
        fingerprints_dir: FingerprintsDirOpt = None,
        mirror: MirrorOpt = None,
        cache_dir: CacheDirOpt = None,
        no_fingerprints: NoFingerprintsOpt = False,
        batch_size: Annotated[
            int, typer.Option(min=1, help="Measurements per store batch (bounds memory).")
        ] = 500,
        max_errors: Annotated[
            int, typer.Option(min=0, help="Errors listed in FILE mode (all are counted).")
        ] = 100,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary object.")] = False,
        engine: EngineOpt = Engine.LOCAL,
        scheduler: SchedulerOpt = None,
        workers: WorkersOpt = None,
    ) -> None:
        """Turn measurements into verdicts (outcome, layer, reason, confidence, confirmed blockpage).

        With FILE arguments: analyse them without a store and write one JSON verdict record per
        measurement, in input order, to --output (exit 1 when the files held no measurement at all).
        Without: analyse every stored measurement that has no verdict yet (re-analysing all when the rules
        or the fingerprints changed).  Fingerprints come from their public homes (cached; --mirror maps
        them) or --fingerprints-dir.
        """
        from netfreedom.errors import InputError, StoreError
        from netfreedom.fetch import DEFAULT_CACHE, Fetcher, parse_mirrors
        from netfreedom.pipeline.analyze import analyze_files, analyze_store
        from netfreedom.store import default_db_path, open_store

        if files and output is None:
            raise InputError("analysing files needs --output OUT.jsonl (or --output - for stdout)")
        if not files and output is not None:
            raise InputError("--output is for FILE mode; store mode writes verdicts into the store (--db)")
        cluster = engine_options(engine, scheduler, workers)
        if files and cluster is not None:
            raise InputError("--engine dask analyses the store; FILE mode runs in this process")
        db_path = db or default_db_path()
        if not files and not db_path.exists():
            # Checked before the fingerprints are fetched: a mistyped --db must not cost a download, nor
            # leave an empty store behind.
            raise StoreError(f"no store at {db_path} (run `netfreedom ingest` or `netfreedom build` first)")
        fetcher = Fetcher(cache_dir=cache_dir or DEFAULT_CACHE, mirrors=parse_mirrors(mirror or []))
        bar = _Bar.start(not as_json)
        progress = bar.update if bar else None
        try:
            db_fp = load_fingerprints(fingerprints_dir, fetcher, not no_fingerprints)
            if files:
                to_stdout = output == "-"
                summary = analyze_files(
                    files,
                    None if to_stdout else Path(str(output)),
                    db_fp,
                    fetcher=fetcher,
                    max_errors=max_errors,
                    progress=progress,
                )
            else:
                to_stdout = False
                with open_store(db_path) as store:
                    summary = analyze_store(
                        store, db_fp, batch_size=batch_size, progress=progress, cluster=cluster
                    )
        finally:
            fetcher.close()
            if bar:
                bar.stop()
        if as_json:
            stream = sys.stderr if to_stdout else sys.stdout
            stream.write(json.dumps(summary.to_json(), ensure_ascii=False) + "\n")
        else:
            _print(summary, store_mode=not files, to_stderr=to_stdout)
        if files and not summary.readable:
            raise typer.Exit(1)

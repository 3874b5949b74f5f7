"""``netfreedom ingest``: read measurement sources into the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from netfreedom.analysis import FingerprintDB
    from netfreedom.fetch import Fetcher

from ._engine import Engine, EngineOpt, SchedulerOpt, WorkersOpt, engine_options
from ._fingerprints import CacheDirOpt, FingerprintsDirOpt, MirrorOpt, NoFingerprintsOpt, load_fingerprints

DB_HELP = (
    "Store file (env NETFREEDOM_DB; default ./netfreedom.duckdb).  DuckDB's memory limit: env "
    "NETFREEDOM_DUCKDB_MEMORY (default: 256MB while ingesting or analysing, DuckDB's own otherwise)."
)
_SOURCES_HELP = (
    "Files (.json, .jsonl, .jsonl.gz, .post, postcan .tar.gz), folders, or archive URLs "
    "(s3://ooni-data-eu-fra/ — the layout, jsonl/ before 2020-10-21 or raw/ after, is chosen by date —, "
    "https://ooni-data-eu-fra.s3.eu-central-1.amazonaws.com/raw/…, path style http://HOST:PORT/BUCKET/…). "
    "OONI aggregation results are recognised by content (the API's JSON or CSV, a JSON list of rows), "
    "and an aggregation API URL (https://api.ooni.io/api/v1/aggregation?…) is read with its query "
    "parameters as dimensions."
)
_BY_HELP = (
    "What --since/--until select on: bucket-date (the day a measurement reached the archive; OONI's "
    "semantics, consecutive windows cover the archive once) or measurement-time.  Default: bucket-date "
    "where the bucket is known (archive URLs, folders in the archive layout), else measurement-time."
)


def _split(values: list[str] | None) -> list[str]:
    return [v for value in values or [] for v in value.split(",") if v.strip()]


def _fingerprints(folder: Path | None, fetcher: Fetcher, skip: bool) -> FingerprintDB | None:
    """The fingerprints to analyse with.  Offline, when the default ones cannot be fetched, the
    measurements are still stored and analysed without them (said on stderr): their verdicts are stamped
    so, and `analyze --db` redoes them once the fingerprints can be had."""
    from rich.markup import escape

    from netfreedom.errors import FetchError

    from ._console import make_console

    try:
        return load_fingerprints(folder, fetcher, not skip)
    except FetchError as exc:
        if folder is not None:
            raise
        make_console(stderr=True).print(
            f"note: analysing without fingerprints ({escape(str(exc))}); `netfreedom analyze --db` "
            "redoes these verdicts once the fingerprints can be fetched"
        )
        return None


def register(app: typer.Typer) -> None:
    @app.command()
    def ingest(
        sources: Annotated[list[str], typer.Argument(metavar="SOURCE...", help=_SOURCES_HELP)],
        *,
        db: Annotated[Path | None, typer.Option("--db", help=DB_HELP)] = None,
        since: Annotated[
            str | None, typer.Option(help="Only measurements from this UTC date/time on.")
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(help="Only measurements before this time (a bare date includes that day)."),
        ] = None,
        country: Annotated[
            list[str] | None,
            typer.Option("--country", "-c", help="Only these probe countries (repeat or comma-separate)."),
        ] = None,
        test: Annotated[
            list[str] | None,
            typer.Option("--test", "-t", help="Only these test names (repeat or comma-separate)."),
        ] = None,
        by: Annotated[
            str | None, typer.Option("--by", help=_BY_HELP, metavar="bucket-date|measurement-time")
        ] = None,
        s3_endpoint: Annotated[
            str | None,
            typer.Option(
                "--s3-endpoint",
                metavar="URL",
                help="A path-style S3-compatible endpoint (MinIO, Ceph…) serving s3://BUCKET/PREFIX sources.",
            ),
        ] = None,
        retries: Annotated[
            int,
            typer.Option(
                min=0,
                help="Retries of a failed listing or download (backoff 0.5 s, doubling; longer after S3 "
                "SlowDown).  A part of an archive walk that still fails makes the run incomplete (exit 1).",
            ),
        ] = 4,
        mirror: MirrorOpt = None,
        cache_dir: CacheDirOpt = None,
        fingerprints_dir: FingerprintsDirOpt = None,
        no_fingerprints: NoFingerprintsOpt = False,
        no_analyze: Annotated[
            bool,
            typer.Option(
                "--no-analyze",
                help="Store the measurements without verdicts (`netfreedom analyze --db` makes them later).",
            ),
        ] = False,
        batch_size: Annotated[
            int,
            typer.Option(
                min=1,
                help="Measurements per store batch (bounds memory). The Dask engine writes one batch per "
                "task (a partition's objects, up to 32 MB).",
            ),
        ] = 20_000,
        dimension: Annotated[
            list[str] | None,
            typer.Option(
                "--dimension",
                "-d",
                metavar="KEY=VALUE",
                help="A dimension aggregation rows lack because it was the query's filter "
                "(probe_cc, probe_asn, test_name, domain, input, category_code, since, until, time_grain); "
                "repeatable.",
            ),
        ] = None,
        max_errors: Annotated[int, typer.Option(min=0, help="Errors listed (all are counted).")] = 100,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print one JSON object instead of a summary.")
        ] = False,
        engine: EngineOpt = Engine.LOCAL,
        scheduler: SchedulerOpt = None,
        workers: WorkersOpt = None,
    ) -> None:
        """Read measurements into the store: validated, de-duplicated, in Parquet partitions, each
        analysed as it is read (its verdict stored with it; --no-analyze to skip).

        Verdicts use the fingerprints `analyze` uses (their public homes, cached; --mirror,
        --fingerprints-dir, --no-fingerprints), so `analyze --db` then finds nothing to redo.

        OONI aggregation results go to their own table (one row per cell, with its grain and source).
        Bad lines and files are counted and listed (file, line, reason); objects left unread on purpose (the
        .jsonl.gz twin of a postcan, empty objects, index files) are counted by reason.  Exit 1 when the
        sources held no measurement at all (empty files or folders, or only bad lines), or when a part of an
        archive walk failed after retries (the summary says how to resume).
        """
        from netfreedom.errors import InputError
        from netfreedom.fetch import DEFAULT_CACHE, Fetcher, parse_mirrors
        from netfreedom.ingest import Filters, parse_dimensions
        from netfreedom.pipeline.ingest import Analysis
        from netfreedom.pipeline.ingest import ingest as run_ingest
        from netfreedom.store import open_store

        from ._ingest_view import Bar, print_summary

        if by is not None and by not in ("bucket-date", "measurement-time"):
            raise InputError(f"--by must be bucket-date or measurement-time, not {by!r}")
        filters = Filters.build(since, until, _split(country), _split(test), by)
        dimensions = parse_dimensions(dimension or [])
        cluster = engine_options(engine, scheduler, workers)
        batching: dict[str, Any] = {"batch_size": batch_size}
        if cluster is not None:
            from functools import partial

            from netfreedom.pipeline.scale.ingest import ingest_on_cluster

            run_ingest = partial(ingest_on_cluster, options=cluster)
            batching = {}  # workers write one set of files per task
        fetcher = Fetcher(
            cache_dir=cache_dir or DEFAULT_CACHE,
            mirrors=parse_mirrors(mirror or []),
            retries=retries,
            s3_endpoint=s3_endpoint,
        )
        bar = None
        try:
            analysis = (
                None if no_analyze else Analysis(_fingerprints(fingerprints_dir, fetcher, no_fingerprints))
            )
            bar = None if as_json else Bar.start(sources, filters)
            with open_store(db) as store:
                summary = run_ingest(
                    store,
                    sources,
                    filters=filters,
                    fetcher=fetcher,
                    max_errors=max_errors,
                    **batching,
                    progress=bar.update if bar else None,
                    dimensions=dimensions,
                    analysis=analysis,
                )
        finally:
            fetcher.close()
            if bar:
                bar.stop()
        if as_json:
            sys.stdout.write(json.dumps(summary.to_json(), ensure_ascii=False) + "\n")
        else:
            print_summary(summary)
        if not summary.readable or not summary.complete:
            raise typer.Exit(1)

"""``netfreedom events``: import curated event lists, list events, detect events in measurements."""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netfreedom.events.detect import DetectorConfig
from netfreedom.models.event import EventKind

from ._console import Format, FormatOpt, make_console
from ._store import DbOpt

DEFAULT_DROP = DetectorConfig.drop_fraction
DEFAULT_BASELINE = DetectorConfig.min_baseline
_SHOWN = 20
_MAP_HELP = (
    "Name a column for a role when the list calls it otherwise: ROLE=HEADER (repeat or comma-separate). "
    "Roles: country, country_code, start, end, area, scope, kind, extent, networks, operators, services, "
    "cause, links, description, status."
)


class Which(StrEnum):
    ALL = "all"
    CURATED = "curated"
    DETECTED = "detected"


def _day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {value!r}", param_hint=option) from exc


def register(app: typer.Typer) -> None:
    events_app = typer.Typer(
        help="Shutdowns and blocking events: import curated lists, list them, detect them in measurements.",
        no_args_is_help=True,
    )
    app.add_typer(events_app, name="events")

    @events_app.command("import")
    def import_(
        files: Annotated[
            list[str],
            typer.Argument(
                metavar="FILE|URL...",
                help="Event lists: Access Now STOP workbooks (.xlsx, every sheet) or CSV lists.",
            ),
        ],
        *,
        source: Annotated[
            str | None,
            typer.Option(
                help="Source name stored with each event (default from the file name, e.g. "
                "accessnow-stop, cenalert)."
            ),
        ] = None,
        mapping: Annotated[list[str] | None, typer.Option("--map", help=_MAP_HELP)] = None,
        db: DbOpt = None,
        mirror: Annotated[
            list[str] | None,
            typer.Option(help="Serve URLs from here: BASE_URL_OR_FOLDER, or URL_PREFIX=TARGET."),
        ] = None,
        cache_dir: Annotated[
            Path | None,
            typer.Option(help="Download cache (env NETFREEDOM_CACHE; default ~/.cache/netfreedom)."),
        ] = None,
        max_errors: Annotated[int, typer.Option(min=0, help="Errors listed (all are counted).")] = 100,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print one JSON object instead of a summary.")
        ] = False,
    ) -> None:
        """Import curated events into the store; events repeated across sheets or imports are stored once.

        Bad rows (no country, no start date, unknown country) are counted and listed with file, sheet and
        line; the rest are kept.  Exit 1 only if nothing could be read.
        """
        from rich.markup import escape

        from netfreedom.events.cells import parse_mapping
        from netfreedom.fetch import DEFAULT_CACHE, Fetcher, parse_mirrors
        from netfreedom.pipeline.events import import_events
        from netfreedom.store import open_store

        columns = parse_mapping(mapping or [])
        fetcher = Fetcher(cache_dir=cache_dir or DEFAULT_CACHE, mirrors=parse_mirrors(mirror or []))
        try:
            with open_store(db) as store:
                s = import_events(
                    store, files, source=source, mapping=columns, fetcher=fetcher, max_errors=max_errors
                )
        finally:
            fetcher.close()
        if as_json:
            sys.stdout.write(json.dumps(s.to_json(), ensure_ascii=False) + "\n")
        else:
            out = make_console()
            out.print(
                f"files {s.files}  rows {s.rows}  imported {s.imported}  duplicates {s.duplicates}  "
                f"updated {s.updated}  rejected {s.rejected}"
            )
            for c in s.sheets:
                where = f"{c.file}!{c.sheet}" if c.sheet is not None else c.file
                out.print(
                    escape(
                        f"  {where}: rows {c.rows}  imported {c.imported}  duplicates {c.duplicates}  "
                        f"rejected {c.rejected}"
                    )
                )
            for e in s.errors[:_SHOWN]:
                out.print(
                    escape(
                        f"  error {e.file}" + (f"!{e.sheet}" if e.sheet else "") + f":{e.line}: {e.reason}"
                    )
                )
            for n in s.notes[:_SHOWN]:
                out.print(
                    escape(f"  note {n.file}" + (f"!{n.sheet}" if n.sheet else "") + f":{n.line}: {n.reason}")
                )
            hidden = len(s.errors) + len(s.notes) - min(len(s.errors), _SHOWN) - min(len(s.notes), _SHOWN)
            if hidden > 0:
                out.print(f"  … and {hidden} more (see --json)")
        if not s.readable:
            raise typer.Exit(1)

    @events_app.command("list")
    def list_(
        *,
        country: Annotated[str | None, typer.Option("--country", "-c", help="ISO alpha-2 code.")] = None,
        since: Annotated[
            str | None, typer.Option(help="Events lasting into or after this day (YYYY-MM-DD).")
        ] = None,
        until: Annotated[str | None, typer.Option(help="Events starting on or before this day.")] = None,
        kind: Annotated[EventKind | None, typer.Option(help="Only this kind.")] = None,
        source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
        which: Annotated[
            Which, typer.Option("--which", help="Curated events, detected events, or both.")
        ] = Which.ALL,
        db: DbOpt = None,
        fmt: FormatOpt = Format.TABLE,
    ) -> None:
        """List stored events, by country and start day.

        An event is in since..until when it starts on or before UNTIL and its last day is on or after
        SINCE (an event without an end date lasts its start day, unless its source says it is ongoing).
        """
        from netfreedom.models.event import OUTPUT_COLUMNS, EventFilters, event_record
        from netfreedom.report.tabular import to_csv
        from netfreedom.store import open_store

        if country is not None and (len(country) != 2 or not country.isalpha()):
            raise typer.BadParameter("an ISO alpha-2 code, e.g. IN", param_hint="--country")
        filters = EventFilters(
            country=country.upper() if country else None,
            since=_day(since, "--since"),
            until=_day(until, "--until"),
            kind=kind,
            source=source,
            detected=None if which is Which.ALL else which is Which.DETECTED,
        )
        with open_store(db, read_only=True) as store:
            events = store.events(filters)
        records = [event_record(e) for e in events]
        if fmt is Format.JSON:
            sys.stdout.write(
                json.dumps({"count": len(records), "events": records}, ensure_ascii=False) + "\n"
            )
            return
        if fmt is Format.CSV:
            sys.stdout.write(to_csv(OUTPUT_COLUMNS, ([r[c] for c in OUTPUT_COLUMNS] for r in records)))
            return
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=f"{len(records)} events", title_justify="left")
        shown = ("iso2", "start", "end", "kind", "scope", "source", "area", "services", "link")
        for col in shown:
            table.add_column(col, overflow="fold")
        for e in events:
            end = e.end.isoformat() if e.end else ("ongoing" if e.ongoing else "")
            source_text = e.source + (" (detected)" if e.detected else "")
            row = (
                e.iso2,
                e.start.isoformat(),
                end,
                str(e.kind),
                str(e.scope or ""),
                source_text,
                e.area or "",
                ", ".join(e.services),
                e.link or "",
            )
            table.add_row(*(escape(v) for v in row))
        make_console().print(table)

    @events_app.command("detect")
    def detect(
        *,
        since: Annotated[str | None, typer.Option(help="First day events may start (YYYY-MM-DD).")] = None,
        until: Annotated[str | None, typer.Option(help="Last day events may start (YYYY-MM-DD).")] = None,
        db: DbOpt = None,
        networks: Annotated[
            bool, typer.Option("--networks/--no-networks", help="Also per network where volume allows.")
        ] = True,
        drop_fraction: Annotated[
            float,
            typer.Option(min=0.0, max=1.0, help="A day below this share of the trailing median is a drop."),
        ] = DEFAULT_DROP,
        min_baseline: Annotated[
            float,
            typer.Option(min=1.0, help="Trailing median (measurements a day) below which no drop is called."),
        ] = DEFAULT_BASELINE,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Detect and report, store nothing.")] = False,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print one JSON object instead of a summary.")
        ] = False,
    ) -> None:
        """Detect shutdowns and blocking in the store's measurements and daily aggregates.

        Per country (and per network where volume allows) and day: drops of measurement volume against the
        trailing median, and spikes of failures the control did not see.  Detected events replace the
        detected events starting in the period; curated events are never touched.  Prints how they compare
        with the curated events of the store (precision, recall); see docs/events.md.
        """
        import dataclasses

        from rich.markup import escape

        from netfreedom.pipeline.events import detect_events
        from netfreedom.store import open_store

        config = dataclasses.replace(DetectorConfig(), drop_fraction=drop_fraction, min_baseline=min_baseline)
        first, last = _day(since, "--since"), _day(until, "--until")
        if first and last and first > last:
            raise typer.BadParameter("--since is after --until", param_hint="--since")
        with open_store(db, read_only=dry_run) as store:
            s = detect_events(
                store, since=first, until=last, networks=networks, config=config, dry_run=dry_run
            )
        if as_json:
            sys.stdout.write(json.dumps(s.to_json(), ensure_ascii=False, default=str) + "\n")
            return
        out = make_console()
        out.print(
            f"series {s.series} ({s.countries} countries, {s.networks} networks)  country-days raw "
            f"{s.sources.get('raw', 0)} aggregates {s.sources.get('aggregates', 0)}  detected {s.detected}"
            + ("" if dry_run else f"  replaced {s.replaced}")
        )
        for e in s.events[:_SHOWN]:
            where = e.iso2 + (f" AS{e.asn}" if e.asn else "")
            out.print(
                escape(
                    f"  {where} {e.start}..{e.end} {e.signal}: {e.description} "
                    f"(ratio {e.ratio}, confidence {e.confidence})"
                )
            )
        for name, m in s.evaluation.items():
            p = "n/a" if m["precision"] is None else f"{m['precision']:.2f}"
            r = "n/a" if m["recall"] is None else f"{m['recall']:.2f}"
            out.print(
                f"  vs curated, {name}: precision {p} ({m['true_positives']}/{m['detected']})  recall {r} "
                f"({m['found']}/{m['curated_evaluable']} curated events the series could show; "
                f"{m['curated']} in all)"
            )

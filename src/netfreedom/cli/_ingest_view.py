"""Terminal output of ``ingest``: a progress bar on stderr and the summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from netfreedom.ingest import Filters
from netfreedom.pipeline.ingest import RESUME, IngestSummary, local_size

from ._console import make_console

_SHOWN_ERRORS = 20


@dataclass
class Bar:
    progress: Progress
    task: TaskID

    @classmethod
    def start(cls, sources: Sequence[str], filters: Filters) -> Bar | None:
        console = make_console(stderr=True)
        if not console.is_terminal:
            return None
        progress = Progress(
            TextColumn("ingest"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        task = progress.add_task("ingest", total=local_size(sources, filters), counts="")
        progress.start()
        return cls(progress, task)

    def update(self, s: IngestSummary) -> None:
        counts = f"{s.files} files, {s.ingested} new, {s.duplicates} dup, {s.rejected} bad"
        self.progress.update(self.task, completed=s.bytes_read, counts=counts)

    def stop(self) -> None:
        self.progress.stop()


def print_summary(s: IngestSummary) -> None:
    out = make_console()
    skipped = sum(s.skipped.values())
    out.print(
        f"files {s.files}  lines {s.lines}  ingested {s.ingested}  duplicates {s.duplicates}  "
        f"rejected {s.rejected}"
        + (f"  filtered {s.filtered}" if s.filtered else "")
        + (f"  skipped {skipped}" if skipped else "")
        + (f"  requests {s.requests}" if s.requests else "")
    )
    if s.aggregate_rows or s.aggregate_duplicates or s.aggregate_updated:
        out.print(
            f"aggregation rows: new {s.aggregate_rows}  duplicates {s.aggregate_duplicates}  "
            f"updated {s.aggregate_updated}"
        )
    for reason, n in sorted(s.skipped.items()):
        out.print(escape(f"  skipped {n}: {reason}"))
    if s.verdicts or s.analysis_errors:
        out.print(
            f"verdicts stored {s.verdicts}"
            + (
                f"  [bold red]analysis errors {s.analysis_errors}[/] (a bug: please report)"
                if s.analysis_errors
                else ""
            )
        )
    for e in s.errors[:_SHOWN_ERRORS]:
        # File names and reasons come from the input: print them as text, never as markup.
        out.print(escape(f"  {e.file}:{e.line}: {e.reason}"))
    hidden = s.rejected - min(len(s.errors), _SHOWN_ERRORS)
    if hidden > 0:
        out.print(f"  … and {hidden} more (see --json)")
    if s.incomplete:
        out.print(f"INCOMPLETE: {len(s.incomplete)} part(s) of the archive walk failed after retries:")
        for part in s.incomplete[:_SHOWN_ERRORS]:
            out.print(escape(f"  {part.file}: {part.reason}"))
        if len(s.incomplete) > _SHOWN_ERRORS:
            out.print(f"  … and {len(s.incomplete) - _SHOWN_ERRORS} more (see --json)")
        out.print(f"The walk is incomplete; {RESUME}.")

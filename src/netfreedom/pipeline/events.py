"""Import curated event lists into the store: read (``events.readers``), de-duplicate across sheets and
against the events already stored (``events.dedupe``), write the new ones (``Store.put_events``).

Re-importing a list adds nothing: every row is then either an identical event already stored (same id) or
a repetition the de-duplication rule recognises.  A later edition that gives an end date to a stored event
without one updates it (counted in ``updated``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netfreedom.errors import FetchError, InputError
from netfreedom.events import RowNote, RowProblem, read_event_file
from netfreedom.events.dedupe import Deduper
from netfreedom.fetch import Fetcher
from netfreedom.models.event import Event, EventFilters
from netfreedom.store import Store

MAX_ERRORS = 100


@dataclass
class SheetCount:
    file: str
    sheet: str | None
    header_line: int | None
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sheet": self.sheet,
            "header_line": self.header_line,
            "rows": self.rows,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


@dataclass
class EventImportSummary:
    """Counts of one import.  ``rows`` are non-empty data rows; each is ``imported`` (a new event),
    a ``duplicate`` (an event already stored or read), or ``rejected`` (listed in ``errors``; a sheet
    without a usable header rejects all its rows with one error at line 0, an unreadable file counts 1).
    ``updated`` counts stored events given an end date; ``notes`` are kept rows with a caveat."""

    files: int = 0
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: int = 0
    sheets: list[SheetCount] = field(default_factory=list)
    errors: list[RowProblem] = field(default_factory=list)
    notes: list[RowNote] = field(default_factory=list)
    max_errors: int = MAX_ERRORS

    @property
    def readable(self) -> bool:
        return self.imported + self.duplicates > 0

    def to_json(self) -> dict[str, Any]:
        def item(p: RowProblem | RowNote) -> dict[str, Any]:
            return {"file": p.file, "sheet": p.sheet, "line": p.line, "reason": p.reason}

        return {
            "files": self.files,
            "rows": self.rows,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "updated": self.updated,
            "rejected": self.rejected,
            "sheets": [s.to_json() for s in self.sheets],
            "errors": [item(e) for e in self.errors],
            "errors_listed": len(self.errors),
            "notes": [item(n) for n in self.notes[: self.max_errors]],
        }

    def _error(self, p: RowProblem) -> None:
        if len(self.errors) < self.max_errors:
            self.errors.append(p)


def _is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def import_events(
    store: Store,
    specs: Sequence[str],
    *,
    source: str | None = None,
    mapping: Mapping[str, str] | None = None,
    fetcher: Fetcher | None = None,
    max_errors: int = MAX_ERRORS,
) -> EventImportSummary:
    """Import the event lists ``specs`` (paths or http(s) URLs) into ``store``."""
    summary = EventImportSummary(max_errors=max_errors)
    dedupe = Deduper(store.events(EventFilters(detected=False)))
    new: dict[str, Event] = {}
    changed: dict[str, Event] = {}
    for spec in specs:
        summary.files += 1
        try:
            if _is_url(spec):
                if fetcher is None:
                    raise InputError("URLs need a fetcher", file=spec)
                path = fetcher.fetch(spec)
            else:
                path = Path(spec)
                if not path.is_file():
                    raise InputError("no such file", file=spec)
            sheets = read_event_file(path, source=source, mapping=mapping, label=spec)
        except (InputError, FetchError) as exc:
            summary.rejected += 1
            summary._error(RowProblem(spec, None, 0, getattr(exc, "reason", None) or str(exc)))
            continue
        for sheet in sheets:
            count = SheetCount(sheet.file, sheet.name, sheet.header_line, rows=sheet.rows)
            summary.sheets.append(count)
            summary.rows += sheet.rows
            for item in sheet.items:
                if isinstance(item, RowNote):
                    summary.notes.append(item)
                elif isinstance(item, RowProblem):
                    n = sheet.rows if item.line == 0 else 1
                    count.rejected += n
                    summary.rejected += n
                    summary._error(item)
                else:
                    kept, updated = dedupe.add(item, sheet.key)
                    if kept is None:
                        new[item.id] = item
                        count.imported += 1
                        summary.imported += 1
                        continue
                    count.duplicates += 1
                    summary.duplicates += 1
                    if updated:
                        if kept.id in new:
                            new[kept.id] = kept
                        else:
                            changed[kept.id] = kept
    summary.updated = len(changed)
    store.put_events([*new.values(), *changed.values()])
    return summary

"""Read event lists: Access Now's STOP workbook (every sheet, every layout) and event-list CSVs (CenAlert's
``country, country_code, affected_regions, start_date, end_date, cause, affected_services, link, source``,
or any CSV whose columns a ``--map`` names).

``read_event_file(path, source=, mapping=)`` yields, per sheet, a ``Sheet`` (name, header line, rows) and
per row an ``Event`` or a ``RowProblem`` (file, sheet, line, reason).  Bad rows — no country, no start
date, a country name that cannot be resolved — are problems, never exceptions; a file that cannot be read
at all raises ``InputError``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netfreedom.errors import InputError
from netfreedom.events.cells import Columns, find_header, parse_date
from netfreedom.events.classify import (
    clean,
    is_yes,
    kind_of,
    links_of,
    scope_of,
    services_of,
    split_list,
)
from netfreedom.events.dedupe import event_id
from netfreedom.models.countries import is_iso2, iso2_of
from netfreedom.models.event import Event

HEADER_SEARCH_ROWS = 20
MAX_CELL = 20_000
XLSX_SUFFIXES = (".xlsx", ".xlsm")


@dataclass(frozen=True, slots=True)
class RowProblem:
    file: str
    sheet: str | None
    line: int  # 0 = the whole sheet or file
    reason: str

    def where(self) -> str:
        return f"{self.file}!{self.sheet}:{self.line}" if self.sheet else f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class RowNote:
    """Something kept but worth saying (an end date that is not a date, an end before the start)."""

    file: str
    sheet: str | None
    line: int
    reason: str


@dataclass
class Sheet:
    """One table of a file: a workbook sheet (``name``) or the CSV itself (``name`` None)."""

    file: str
    name: str | None
    header_line: int | None
    rows: int = 0  # data rows (non-empty) below the header
    items: list[Event | RowProblem | RowNote] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The sheet's identity for de-duplication: file name (not path) and sheet name, as in ``origin``."""
        name = _name(self.file)
        return f"{name}!{self.name}" if self.name is not None else name


def _name(file: str) -> str:
    return Path(file.split("?", 1)[0]).name or file


def default_source(path: str) -> str:
    """A source name from a file name: ``accessnow_stop_2016_2022.xlsx`` → ``accessnow-stop``,
    ``cenalert_ooni_reports.csv`` → ``cenalert``."""
    name = Path(path.split("?", maxsplit=1)[0]).name.lower()
    if "stop" in name or "keepiton" in name or "accessnow" in name:
        return "accessnow-stop"
    if "cenalert" in name:
        return "cenalert"
    stem = Path(name).stem
    return "".join(c if c.isalnum() else "-" for c in stem).strip("-") or "events"


def _text(row: Sequence[Any], cols: Columns, role: str) -> str | None:
    i = cols.first.get(role)
    if i is None or i >= len(row):
        return None
    text = clean(row[i])
    return text[:MAX_CELL] if text else None


def _texts(row: Sequence[Any], cols: Columns, role: str) -> list[str]:
    out = []
    for i in cols.all.get(role, ()):
        if i < len(row):
            text = clean(row[i])
            if text:
                out.append(text[:MAX_CELL])
    return out


def row_event(
    row: Sequence[Any], cols: Columns, *, source: str, file: str, sheet: str | None, line: int
) -> list[Event | RowProblem | RowNote]:
    """One data row → its event (plus notes), or a problem."""

    def problem(reason: str) -> list[Event | RowProblem | RowNote]:
        return [RowProblem(file, sheet, line, reason)]

    name = _text(row, cols, "country")
    code = _text(row, cols, "country_code")
    iso2 = None
    if code and len(code) == 2 and code.isalpha() and is_iso2(code):
        iso2 = code.upper()
    elif name:
        iso2 = iso2_of(name)
    elif code:
        iso2 = iso2_of(code)
    if not name and not code:
        return problem("no country")
    if iso2 is None:
        return problem(f"unknown country name {(name or code)!r}")
    start_cell = row[cols.first["start"]] if cols.first["start"] < len(row) else None
    start = parse_date(start_cell)
    if start.value is None:
        return problem(start.problem or "no start date")
    notes: list[Event | RowProblem | RowNote] = []
    end_cell = row[cols.first["end"]] if "end" in cols.first and cols.first["end"] < len(row) else None
    end = parse_date(end_cell)
    end_value = end.value
    if end.problem:
        notes.append(RowNote(file, sheet, line, f"end date {end.problem}; kept as unknown"))
    if end_value is not None and end_value < start.value:
        reason = f"end {end_value} before start {start.value}; kept as unknown"
        notes.append(RowNote(file, sheet, line, reason))
        end_value = None
    status = (_text(row, cols, "status") or "").lower()
    ongoing = end_value is None and (end.ongoing or status == "ongoing")
    area = _text(row, cols, "area")
    description = _text(row, cols, "description")
    service_texts = _texts(row, cols, "services")
    kind = kind_of(
        _text(row, cols, "kind"), _text(row, cols, "extent"), " ".join(service_texts) or description
    )
    services: list[str] = [svc for i, svc in cols.flags.items() if i < len(row) and is_yes(row[i])]
    # A list with a type column lists services; otherwise (CenAlert) the text is a description: take the
    # platforms and domains it names.
    listed = bool(cols.flags) or "kind" in cols.first
    for text in service_texts:
        items = split_list(text) if listed else services_of(text)
        services += [s for s in items if s not in services]
    networks: list[str] = []
    for text in _texts(row, cols, "networks") + _texts(row, cols, "operators"):
        networks += [n for n in split_list(text) if n not in networks]
    links = links_of(*_texts(row, cols, "links"), _text(row, cols, "an_link"))
    if description is None and service_texts and not cols.flags:
        description = service_texts[0]
    eid = event_id(
        source=source,
        iso2=iso2,
        start=start.value.isoformat(),
        kind=kind,
        area=area,
        services=services,
        networks=networks,
        links=links,
        description=description,
    )
    event = Event(
        id=eid,
        source=source,
        iso2=iso2,
        country=name or iso2,
        start=start.value,
        end=end_value,
        ongoing=ongoing,
        kind=kind,
        scope=scope_of(_text(row, cols, "scope"), area),
        area=area,
        services=tuple(services),
        networks=tuple(networks),
        cause=_text(row, cols, "cause"),
        link=links[0] if links else None,
        links=tuple(links),
        description=description,
        origin=f"{_name(file)}!{sheet}:{line}" if sheet is not None else f"{_name(file)}:{line}",
    )
    return [event, *notes]


def _table(
    rows: Iterator[Sequence[Any]],
    *,
    file: str,
    sheet: str | None,
    source: str,
    mapping: Mapping[str, str] | None,
) -> Sheet:
    head: list[Sequence[Any]] = []
    for row in rows:
        head.append(row)
        if len(head) >= HEADER_SEARCH_ROWS:
            break
    at = find_header(head, mapping)
    if at is None:
        out = Sheet(file, sheet, None)
        filled = sum(1 for r in head if any(clean(c) for c in r))
        filled += sum(1 for r in rows if any(clean(c) for c in r))
        out.rows = filled
        if filled:
            out.items.append(
                RowProblem(
                    file,
                    sheet,
                    0,
                    f"no header row naming a country and a start date in the first {HEADER_SEARCH_ROWS} "
                    f"rows; {filled} row(s) not read (name the columns with --map ROLE=HEADER)",
                )
            )
        return out
    cols = Columns(head[at], mapping)
    out = Sheet(file, sheet, at + 1)

    def body() -> Iterator[tuple[int, Sequence[Any]]]:
        for n, r in enumerate(head[at + 1 :], at + 2):
            yield n, r
        n = len(head)
        for r in rows:
            n += 1
            yield n, r

    for line, row in body():
        if not any(clean(c) for c in row):
            continue
        out.rows += 1
        out.items += row_event(row, cols, source=source, file=file, sheet=sheet, line=line)
    return out


def _sheet_order(name: str, index: int) -> tuple[int, int]:
    """Sheets oldest first: by the first year in the name (``2016+2017+2018``, ``2020 Data``), else
    workbook order after them."""
    import re

    m = re.search(r"(19|20)\d\d", name)
    return (int(m.group(0)) if m else 9999, index)


def read_workbook(
    path: Path, *, source: str, mapping: Mapping[str, str] | None = None, label: str | None = None
) -> list[Sheet]:
    """Every sheet of an ``.xlsx`` workbook, oldest sheet first (see ``dedupe`` for why).  ``label`` names
    the file in problems and origins (the URL it came from), default its path."""
    import zipfile

    from netfreedom.extras import require

    require("reading .xlsx workbooks", "fh")
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    file = label or str(path)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InputError(f"cannot read workbook: {exc}", file=file) from exc
    try:
        sheets = sorted(enumerate(book.worksheets), key=lambda p: _sheet_order(p[1].title, p[0]))
        return [
            _table(
                ws.iter_rows(values_only=True),
                file=file,
                sheet=ws.title.strip(),
                source=source,
                mapping=mapping,
            )
            for _, ws in sheets
        ]
    finally:
        book.close()


def read_csv(
    path: Path, *, source: str, mapping: Mapping[str, str] | None = None, label: str | None = None
) -> Sheet:
    """A CSV event list (UTF-8 — BOM and CRLF accepted — else Latin-1; ``,``, ``;`` or tab separated, as
    the header line shows).  Lines are CSV records (a quoted cell may hold line breaks)."""
    file = label or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=file) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    csv.field_size_limit(MAX_CELL * 10)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _table(reader, file=file, sheet=None, source=source, mapping=mapping)
    except csv.Error as exc:
        raise InputError(f"not a readable CSV: {exc}", file=file) from exc


def read_event_file(
    path: Path,
    *,
    source: str | None = None,
    mapping: Mapping[str, str] | None = None,
    label: str | None = None,
) -> list[Sheet]:
    """The sheets of one event file (a workbook's sheets, or a CSV as one sheet).  ``label`` names the file
    in problems and origins (e.g. the URL it was downloaded from)."""
    file = label or str(path)
    name = source or default_source(file)
    suffix = Path(_name(file)).suffix.lower() or path.suffix.lower()
    if suffix in XLSX_SUFFIXES or (suffix != ".csv" and _is_zip(path)):
        return read_workbook(path, source=name, mapping=mapping, label=file)
    if suffix == ".xls":
        raise InputError("old .xls workbooks are not read: save it as .xlsx or CSV", file=file)
    return [read_csv(path, source=name, mapping=mapping, label=file)]


def _is_zip(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False

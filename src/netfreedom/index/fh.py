"""Read Freedom House's published "Freedom on the Net" score workbook into category-level scores.

The workbook has one sheet with a header row (``Country``, a status column, ``A: Obstacles to Access``,
``B: Limits on Content``, ``C: Violations of User Rights``, a total column) and one row per country.
Editions up to 2018 use the legacy direction (0 = most free), later editions 100 = most free; the scale is
taken from the edition year unless given.  Rows whose country cannot be resolved, or whose numbers do not
add up, are reported with the sheet and row, not silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netfreedom.errors import InputError
from netfreedom.index.countries import iso2_of
from netfreedom.index.methodology import Scale
from netfreedom.index.scores import CountryScore, ScoreEntry

LAST_LEGACY_EDITION = 2018


@dataclass(frozen=True, slots=True)
class Published:
    """What Freedom House printed for a country: total and status, to check our computation against."""

    iso2: str
    country: str
    total: float
    status: str


@dataclass
class FHImport:
    year: int
    scale: Scale
    scores: list[CountryScore] = field(default_factory=list)
    published: dict[str, Published] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _status_name(raw: str) -> str:
    """``PARTLY FREE`` → ``Partly Free``."""
    return " ".join(w.capitalize() for w in raw.split())


def _columns(header: tuple[Any, ...]) -> dict[str, int]:
    cols: dict[str, int] = {}
    for i, cell in enumerate(header):
        text = str(cell or "").strip().strip('"').lower()
        if text == "country":
            cols["country"] = i
        elif "status" in text:
            cols["status"] = i
        elif "total" in text:
            cols["total"] = i
        else:
            m = re.match(r"^([abc])\s*[:.]", text)
            if m:
                cols[m.group(1).upper()] = i
    return cols


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def read_fh_workbook(path: Path, *, year: int | None = None, scale: Scale | None = None) -> FHImport:
    """Read the workbook at ``path`` (openpyxl, read-only streaming)."""
    import zipfile

    from netfreedom.extras import require

    require("reading a Freedom House workbook (.xlsx)", "fh")
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    file = str(path)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InputError(f"cannot read workbook: {exc}", file=file) from exc
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header: tuple[Any, ...] | None = None
        line = 0
        for row in rows:
            line += 1
            if any(str(c or "").strip().lower() == "country" for c in row):
                header = row
                break
        if header is None:
            raise InputError("no header row with a 'Country' column", file=file)
        cols = _columns(header)
        needed = [c for c in ("country", "status", "A", "B", "C", "total") if c not in cols]
        if needed:
            raise InputError(f"header row {line} lacks column(s): {', '.join(needed)}", file=file, line=line)
        if year is None:
            m = re.search(r"(20\d\d)", " ".join(str(c) for c in header if c) + " " + sheet.title)
            if m is None:
                raise InputError("cannot tell the edition year; give --year", file=file)
            year = int(m.group(1))
        if scale is None:
            scale = Scale.ZERO_BEST if year <= LAST_LEGACY_EDITION else Scale.HUNDRED_BEST
        result = FHImport(year=year, scale=scale)
        source = f"Freedom House, Freedom on the Net {year} ({path.name})"
        for row in rows:
            line += 1
            if not row or all(c is None or str(c).strip() == "" for c in row):
                continue
            where = f"{file}:{sheet.title}!{line}"
            name = str(row[cols["country"]] or "").strip()
            iso2 = iso2_of(name) if name else None
            if iso2 is None:
                result.problems.append(f"{where}: unknown country name {name!r}")
                continue
            nums = {k: _number(row[cols[k]]) for k in ("A", "B", "C", "total")}
            bad = [k for k, v in nums.items() if v is None]
            if bad:
                result.problems.append(f"{where}: {name}: no number in column(s) {', '.join(bad)}")
                continue
            a, b, c, total = (float(nums[k] or 0) for k in ("A", "B", "C", "total"))
            if a + b + c != total:
                result.problems.append(f"{where}: {name}: A+B+C = {a + b + c:g} but total is {total:g}")
            if iso2 in result.published:
                result.problems.append(f"{where}: {name}: duplicate row for {iso2}")
                continue
            entries = {
                code: ScoreEntry(code, v, v, "published category score", (source,), line)
                for code, v in (("A", a), ("B", b), ("C", c))
            }
            result.scores.append(
                CountryScore(
                    iso2=iso2,
                    year=year,
                    scale=scale,
                    country=name,
                    categories=entries,
                    file=file,
                    line=line,
                )
            )
            result.published[iso2] = Published(
                iso2, name, total, _status_name(str(row[cols["status"]] or ""))
            )
        return result
    finally:
        book.close()

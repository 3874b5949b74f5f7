"""Read Freedom House's published "Freedom on the Net" score workbooks into score files.

Two layouts, both found by the names in the header row, never by position (extra or reordered columns are
fine, a title row above the header too, and the first sheet that has such a header is the one read):

* **2019 and later**, "FOTN Country Score Data": ``Country, Edition, Status, A1 … A5, A, B1 … B8, B, C1 … C8,
  C, Total``, 100 = most free, ``Status`` as ``F``/``PF``/``NF``.  Read at indicator level: the 21
  indicators are the scores; the category and total columns are checks (a row whose indicators do not add
  up to them is a warning naming sheet and row).  The ``Edition`` column lets one file hold any number of
  editions; without it the edition comes from ``--year``, then the title row, sheet name or file name.
* **2018 and earlier**: ``Country``, a status column, ``A: Obstacles to Access``, ``B: …``, ``C: …``, a
  total column; category-level scores, 0 = most free.

The scale comes from ``--scale``, else from the title or header ("100 = most free"), else from the edition
(0-best up to 2018).  An unknown layout is one error listing the columns expected.  Rows whose country
cannot be resolved, whose numbers are missing or out of range, or that repeat a country-edition are
reported with sheet and row, not silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netfreedom.errors import InputError
from netfreedom.index.countries import iso2_of
from netfreedom.index.methodology import Methodology, Scale, load_methodology
from netfreedom.index.scores import CountryScore, ScoreEntry

LAST_LEGACY_EDITION = 2018
_HEADER_SEARCH_ROWS = 40

EXPECTED_CURRENT = "Country, Edition (optional), Status, A1…A5, A, B1…B8, B, C1…C8, C, Total"
EXPECTED_LEGACY = (
    "Country, Status, A: Obstacles to Access, B: Limits on Content, C: Violations of User Rights, Total"
)

_CATEGORY_NAMES = {"obstacles to access": "A", "limits on content": "B", "violations of user rights": "C"}
_STATUS_CODES = {"F": "Free", "PF": "Partly Free", "NF": "Not Free"}
_COUNTRY_HEADERS = frozenset(
    {"country", "country name", "countries", "country/territory", "country or territory"}
)
_EDITION_HEADERS = frozenset({"edition", "year", "fotn edition", "report year", "edition year"})
_INDICATOR = re.compile(r"^([abc])\s*(\d{1,2})(?!\d)")
_CATEGORY = re.compile(r"^([abc])(?:\s*[:.)\-–—]|\s+(?:sub)?total\b|\s+score\b|$)")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")
_HUNDRED_BEST = re.compile(r"100\s*=\s*(?:the\s+)?(?:most|best|highest)\s+(?:free|freedom)", re.IGNORECASE)
_ZERO_BEST = re.compile(r"(?<!\d)0\s*=\s*(?:the\s+)?(?:most|best)\s+(?:free|freedom)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Published:
    """What Freedom House printed for a country and edition: total, status, category scores — to check our
    computation against."""

    iso2: str
    country: str
    year: int
    total: float
    status: str
    categories: dict[str, float] = field(default_factory=dict)


@dataclass
class FHImport:
    """A workbook read: scores per country-edition, what was published, and every problem (warnings)."""

    layout: str  # "indicators" (2019+) or "categories" (2018)
    scales: dict[int, Scale] = field(default_factory=dict)  # edition → scale
    scores: list[CountryScore] = field(default_factory=list)
    published: dict[tuple[str, int], Published] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def years(self) -> list[int]:
        return sorted(self.scales)

    @property
    def year(self) -> int:
        """The latest edition read."""
        return max(self.scales)

    @property
    def scale(self) -> Scale:
        return self.scales[self.year]


def _text(cell: Any) -> str:
    return " ".join(str(cell if cell is not None else "").replace("\u00a0", " ").split()).strip().strip('"')


def _status_name(raw: str) -> str:
    """``PF`` → ``Partly Free``; ``PARTLY FREE`` → ``Partly Free``."""
    text = _text(raw)
    code = text.upper().replace(" ", "")
    if code in _STATUS_CODES:
        return _STATUS_CODES[code]
    return " ".join(w.capitalize() for w in text.split())


def _columns(header: Sequence[Any], indicator_codes: Iterable[str]) -> dict[str, int]:
    """Column index of each field the header names (first occurrence wins)."""
    known = set(indicator_codes)
    cols: dict[str, int] = {}

    def put(key: str, i: int) -> None:
        cols.setdefault(key, i)

    for i, cell in enumerate(header):
        text = _text(cell).lower()
        if not text:
            continue
        indicator = _INDICATOR.match(text)
        code = f"{indicator.group(1).upper()}{int(indicator.group(2))}" if indicator else ""
        category = _CATEGORY.match(text)
        named = next((c for name, c in _CATEGORY_NAMES.items() if text.startswith(name)), None)
        if text in _COUNTRY_HEADERS:
            put("country", i)
        elif code in known:
            put(code, i)
        elif category or named:  # before "total": "A Total" / "B: subtotal" is a category
            put(category.group(1).upper() if category else named or "", i)
        elif text in _EDITION_HEADERS or text.startswith("edition"):
            put("edition", i)
        elif text == "status" or ("status" in text and "change" not in text):
            put("status", i)
        elif "total" in text or text in {"score", "overall score", "aggregate score"}:
            put("total", i)
    return cols


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(_text(value).replace(",", "."))
    except ValueError:
        return None


def _edition(value: Any) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        year = int(value)
        return year if 1990 <= year <= 2100 else None
    m = _YEAR.search(_text(value))
    return int(m.group(1)) if m else None


def _scale_hint(texts: Iterable[str]) -> Scale | None:
    joined = " ".join(texts)
    if _HUNDRED_BEST.search(joined):
        return Scale.HUNDRED_BEST
    if _ZERO_BEST.search(joined):
        return Scale.ZERO_BEST
    return None


@dataclass
class _Sheet:
    title: str
    rows: list[tuple[Any, ...]]


def _find_header(sheets: Sequence[_Sheet]) -> tuple[_Sheet, int] | None:
    for sheet in sheets:
        for i, row in enumerate(sheet.rows[:_HEADER_SEARCH_ROWS]):
            if any(_text(c).lower() in _COUNTRY_HEADERS for c in row):
                return sheet, i
    return None


def _layout_error(
    file: str, sheets: Sequence[_Sheet], found: tuple[_Sheet, int] | None, why: str
) -> InputError:
    seen = ""
    if found is not None:
        sheet, i = found
        cells = [t for c in sheet.rows[i] if (t := _text(c))]
        seen = f"; sheet {sheet.title!r} row {i + 1} has: {', '.join(cells)}"
    elif sheets:
        seen = f"; no row of sheet(s) {', '.join(repr(s.title) for s in sheets)} has a 'Country' column"
    return InputError(
        f"unknown workbook layout ({why}): expected a header row with the columns {EXPECTED_CURRENT} "
        f"(2019 and later) or {EXPECTED_LEGACY} (2018 and earlier){seen}",
        file=file,
    )


def parse_fh_sheets(
    sheets: Sequence[_Sheet],
    file: str,
    *,
    name: str,
    year: int | None = None,
    scale: Scale | None = None,
    methodology: Methodology | None = None,
) -> FHImport:
    """Read the first sheet with a header row; ``name`` (the file name) is cited as the source."""
    structure = methodology or load_methodology("fotn")
    codes = [i.code for i in structure.indicators]
    found = _find_header(sheets)
    if found is None:
        raise _layout_error(file, sheets, None, "no header row")
    sheet, header_at = found
    header = sheet.rows[header_at]
    cols = _columns(header, codes)
    present = [c for c in codes if c in cols]
    layout = "indicators" if present else "categories"
    needed = ["country", "status", "total", *(codes if present else ("A", "B", "C"))]
    lacking = [c for c in needed if c not in cols]
    if lacking:
        raise _layout_error(file, sheets, found, f"no column {', '.join(lacking)}")
    titles = [_text(c) for row in sheet.rows[: header_at + 1] for c in row if _text(c)]
    hint = _scale_hint(titles)
    fallback_year = year
    if fallback_year is None and "edition" not in cols:
        for text in (*titles, sheet.title, name):
            if m := _YEAR.search(text):
                fallback_year = int(m.group(1))
                break
        if fallback_year is None:
            raise InputError(
                "cannot tell the edition year (no Edition column, none in the title); give --year", file=file
            )
    result = FHImport(layout=layout)
    categories = [c.code for c in structure.categories]
    for offset, row in enumerate(sheet.rows[header_at + 1 :], header_at + 2):
        cells = list(row) + [None] * (len(header) - len(row))
        if all(_text(c) == "" for c in cells):
            continue
        where = f"{file}:{sheet.title}!{offset}"
        country = _text(cells[cols["country"]])
        score_cols = [cols[c] for c in (codes if layout == "indicators" else categories)]
        if not country or all(_number(cells[i]) is None for i in [*score_cols, cols["total"]]):
            if country and sum(1 for c in cells if _text(c)) > 1:
                result.problems.append(f"{where}: {country}: no scores in this row")
            continue  # a note or a blank separator, not a country
        edition = fallback_year
        if "edition" in cols:
            edition = _edition(cells[cols["edition"]])
            if edition is None:
                result.problems.append(
                    f"{where}: {country}: edition {_text(cells[cols['edition']])!r} is not a year"
                )
                continue
            if year is not None and edition != year:
                continue
        assert edition is not None
        iso2 = iso2_of(country)
        if iso2 is None:
            result.problems.append(f"{where}: unknown country name {country!r}")
            continue
        wanted = codes if layout == "indicators" else categories
        values = {c: _number(cells[cols[c]]) for c in wanted}
        bad = [c for c, v in values.items() if v is None]
        total = _number(cells[cols["total"]])
        if total is None:
            bad.append("Total")
        if bad:
            result.problems.append(f"{where}: {country} {edition}: no number in column(s) {', '.join(bad)}")
            continue
        assert total is not None
        out_of_range = [
            f"{c} = {v:g} (max {structure.max_of(c)})"
            for c, v in values.items()
            if v is not None and not 0 <= v <= structure.max_of(c)
        ]
        if out_of_range:
            result.problems.append(f"{where}: {country} {edition}: out of range: {', '.join(out_of_range)}")
            continue
        if (iso2, edition) in result.published:
            first = result.published[(iso2, edition)]
            result.problems.append(
                f"{where}: {country} {edition}: duplicate row ({first.country} read before)"
            )
            continue
        row_scale = (
            scale or hint or (Scale.ZERO_BEST if edition <= LAST_LEGACY_EDITION else Scale.HUNDRED_BEST)
        )
        if result.scales.setdefault(edition, row_scale) is not row_scale:
            result.problems.append(
                f"{where}: {country} {edition}: scale differs from the edition's other rows"
            )
            continue
        published_cats: dict[str, float] = {}
        for cat in categories:
            given = _number(cells[cols[cat]]) if cat in cols else None
            if layout == "indicators":
                summed = sum(values[i.code] or 0 for i in structure.indicators_of(cat))
                if given is not None and given != summed:
                    first_code, last_code = (structure.indicators_of(cat)[k].code for k in (0, -1))
                    result.problems.append(
                        f"{where}: {country} {edition}: {first_code}–{last_code} add up to {summed:g} "
                        f"but {cat} is {given:g}"
                    )
                published_cats[cat] = given if given is not None else summed
            else:
                published_cats[cat] = values[cat] or 0.0
        summed_total = sum(values[c] or 0 for c in wanted)
        if summed_total != total:
            what = "the indicators" if layout == "indicators" else "A+B+C"
            result.problems.append(
                f"{where}: {country} {edition}: {what} add up to {summed_total:g} but Total is {total:g}"
            )
        source = f"Freedom House, Freedom on the Net {edition} ({name})"
        level = "indicator" if layout == "indicators" else "category"
        entries = {
            c: ScoreEntry(c, v, v, f"published {level} score", (source,), offset)
            for c, v in values.items()
            if v is not None
        }
        result.scores.append(
            CountryScore(
                iso2=iso2,
                year=edition,
                scale=row_scale,
                country=country,
                indicators=entries if layout == "indicators" else {},
                categories=entries if layout == "categories" else {},
                file=file,
                line=offset,
            )
        )
        status = _status_name(_text(cells[cols["status"]]))
        result.published[(iso2, edition)] = Published(iso2, country, edition, total, status, published_cats)
    if not result.scales:
        editions = f" (edition {year})" if year is not None else ""
        raise InputError(
            f"no country row could be read{editions}: " + "; ".join(result.problems[:3] or ["no rows"]),
            file=file,
        )
    return result


def read_fh_workbook(path: Path, *, year: int | None = None, scale: Scale | None = None) -> FHImport:
    """Read the workbook at ``path`` (openpyxl, read-only streaming); ``year`` keeps only that edition."""
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
        sheets = [
            _Sheet(ws.title, [tuple(r) for r in ws.iter_rows(values_only=True)]) for ws in book.worksheets
        ]
    finally:
        book.close()
    return parse_fh_sheets(sheets, file, name=path.name, year=year, scale=scale)

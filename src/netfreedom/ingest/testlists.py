"""Citizen Lab test lists: which URLs to test, and the category each belongs to.

The lists live at github.com/citizenlab/test-lists under ``lists/``: ``global.csv``, one ``<cc>.csv`` per
country (lower-case ISO alpha-2), a few regional lists (``cis.csv``), and the category legend
``00-LEGEND-new_category_codes.csv``.  Each list is a CSV with the header
``url,category_code,category_description,date_added,source,notes``.

Reading is forgiving in the way ingest is: a bad row (no URL host, wrong column count, no category) is a
``Problem`` naming the file and line, and every good row is kept.  Old category codes still found in the
lists (``FEXP``, ``P2P``, ``DEV``, ...) are mapped to their current code through the legend's "Replaces old
code(s)" column, so the rest of netfreedom only ever sees current codes.
"""

from __future__ import annotations

import csv
import io
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from netfreedom.errors import FetchError, InputError
from netfreedom.fetch import Fetcher

PUBLIC_HOME = "https://raw.githubusercontent.com/citizenlab/test-lists/master/lists/"
LEGEND_FILE = "00-LEGEND-new_category_codes.csv"
COUNTRY_LEGEND_FILE = "00-LEGEND-country_codes.csv"
GLOBAL = "global"
REQUIRED_COLUMNS = ("url", "category_code")


@dataclass(frozen=True, slots=True)
class Category:
    """One Citizen Lab category: current code, name, the old codes it replaces, and what it covers."""

    code: str
    name: str
    replaces: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a test list.  ``list_name`` is ``global``, a lower-case country code, or a region."""

    url: str
    domain: str
    category_code: str
    list_name: str
    date_added: str = ""
    source: str = ""
    notes: str = ""
    original_code: str = ""  # as written in the file, when it was an old code mapped to a new one


@dataclass(frozen=True, slots=True)
class Problem:
    """A row (or file) that could not be used, and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


def domain_of(url: str) -> str | None:
    """The host a URL points at, lower-cased, without port or trailing dot; None when there is none.

    This is the ``domain`` the store keeps beside each verdict, so test-list rows and verdicts join on it.
    """
    try:
        host = urllib.parse.urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.rstrip(".").lower() or None


@dataclass
class TestLists:
    """Test-list entries by list name, the category legend, and the problems met while reading."""

    __test__ = False  # not a pytest class, despite the name

    lists: dict[str, list[Entry]] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def countries(self) -> list[str]:
        """Upper-case country codes that have their own list."""
        return sorted(name.upper() for name in self.lists if len(name) == 2 and name.isalpha())

    def entries(self) -> Iterator[Entry]:
        for name in sorted(self.lists):
            yield from self.lists[name]

    def for_country(self, cc: str, *, include_global: bool = True) -> list[Entry]:
        """The URLs to test in country ``cc``: its own list, then the global one (a URL once, first wins)."""
        names = [cc.lower()] + ([GLOBAL] if include_global else [])
        seen: set[str] = set()
        out: list[Entry] = []
        for name in names:
            for entry in self.lists.get(name, []):
                if entry.url not in seen:
                    seen.add(entry.url)
                    out.append(entry)
        return out

    def category_of(self, url: str, cc: str | None = None) -> str | None:
        """The category of ``url``: from country ``cc``'s list first, then any list (global first)."""
        names = ([cc.lower()] if cc else []) + [GLOBAL] + sorted(self.lists)
        for name in names:
            for entry in self.lists.get(name, []):
                if entry.url == url:
                    return entry.category_code
        return None

    def url_categories(self, cc: str | None = None) -> dict[str, str]:
        """url → category code for the lists that apply to ``cc`` (every list when ``cc`` is None).

        The country's own list wins over the global one, because it reflects local context.
        """
        mapping: dict[str, str] = {}
        names = [cc.lower(), GLOBAL] if cc else [GLOBAL, *sorted(n for n in self.lists if n != GLOBAL)]
        for name in reversed(names):
            for entry in self.lists.get(name, []):
                mapping[entry.url] = entry.category_code
        return mapping

    def domain_categories(self, cc: str | None = None) -> dict[str, set[str]]:
        """domain → every category its URLs carry in the lists that apply to ``cc``."""
        out: dict[str, set[str]] = {}
        for name in [cc.lower(), GLOBAL] if cc else sorted(self.lists):
            for entry in self.lists.get(name, []):
                out.setdefault(entry.domain, set()).add(entry.category_code)
        return out

    def rows(self) -> Iterator[tuple[str, str, str, str]]:
        """``(cc, url, domain, category_code)`` rows, ``cc`` upper-case or ``GLOBAL``/region as written."""
        for entry in self.entries():
            cc = entry.list_name.upper() if len(entry.list_name) == 2 else entry.list_name
            yield cc, entry.url, entry.domain, entry.category_code


def parse_legend(text: str, file: str) -> tuple[dict[str, Category], list[Problem]]:
    """Parse ``00-LEGEND-new_category_codes.csv`` (``Category Description,New Code,Replaces old code(s),
    Description``)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise InputError("the category legend is empty", file=file)
    names = [h.strip().lower() for h in header]
    try:
        i_name, i_code = names.index("category description"), names.index("new code")
    except ValueError as exc:
        raise InputError(
            "the category legend has no 'Category Description' and 'New Code' columns", file=file, line=1
        ) from exc
    i_old = names.index("replaces old code(s)") if "replaces old code(s)" in names else None
    i_desc = names.index("description") if "description" in names else None
    out: dict[str, Category] = {}
    problems: list[Problem] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(i_name, i_code):
            problems.append(Problem(file, line, f"expected at least {max(i_name, i_code) + 1} columns"))
            continue
        code = row[i_code].strip().upper()
        if not code:
            problems.append(Problem(file, line, "no category code"))
            continue
        old = row[i_old].split() if i_old is not None and i_old < len(row) else []
        desc = row[i_desc].strip() if i_desc is not None and i_desc < len(row) else ""
        out[code] = Category(code, row[i_name].strip(), tuple(o.upper() for o in old if o != "N/A"), desc)
    return out, problems


def _old_code_map(categories: dict[str, Category]) -> dict[str, str]:
    old: dict[str, str] = {}
    for cat in categories.values():
        for code in cat.replaces:
            if code not in categories:  # a current code is never remapped
                old[code] = cat.code
    return old


def parse_list(
    text: str, file: str, list_name: str, categories: dict[str, Category] | None = None
) -> tuple[list[Entry], list[Problem]]:
    """Parse one test list.  Returns the good entries and a problem per bad row; never raises on rows."""
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return [], [Problem(file, 1, "empty file (no header)")]
    cols = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        return [], [Problem(file, 1, f"header lacks column(s) {', '.join(missing)}")]
    index = {name: i for i, name in enumerate(cols)}
    old_codes = _old_code_map(categories or {})
    entries: list[Entry] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(cols):
            problems.append(Problem(file, line, f"expected {len(cols)} columns, found {len(row)}"))
            continue

        def get(name: str, row: list[str] = row) -> str:
            i = index.get(name)
            return row[i].strip() if i is not None else ""

        url = get("url")
        parts = urllib.parse.urlsplit(url)
        domain = domain_of(url)
        if parts.scheme not in ("http", "https") or domain is None:
            problems.append(Problem(file, line, f"not an http(s) URL: {url[:80]!r}"))
            continue
        written = get("category_code").upper()
        if not written:
            problems.append(Problem(file, line, "no category code"))
            continue
        code = old_codes.get(written, written)
        if categories and code not in categories:
            # Kept: the URL is still worth testing; the unknown code is reported so the list can be fixed.
            problems.append(Problem(file, line, f"unknown category code {written!r} (row kept)"))
        entries.append(
            Entry(
                url=url,
                domain=domain,
                category_code=code,
                list_name=list_name,
                date_added=get("date_added"),
                source=get("source"),
                notes=get("notes"),
                original_code=written if written != code else "",
            )
        )
    return entries, problems


def _is_list_file(name: str) -> bool:
    return name.endswith(".csv") and not name.startswith("00-")


def _decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=file) from exc


def read_testlists(folder: Path, countries: Iterable[str] | None = None) -> TestLists:
    """Read the test lists in ``folder`` (the ``lists`` folder, or a checkout of the repository holding it).

    ``countries`` limits the country lists read (the global and regional lists are always read).
    A file that cannot be decoded is a problem, not a crash; a missing folder is an ``InputError``.
    """
    folder = Path(folder)
    if (folder / "lists").is_dir() and not (folder / "global.csv").is_file():
        folder = folder / "lists"
    if not folder.is_dir():
        raise InputError("test-list folder does not exist", file=str(folder))
    result = TestLists()
    legend = folder / LEGEND_FILE
    if legend.is_file():
        result.categories, problems = parse_legend(_decode(legend.read_bytes(), str(legend)), str(legend))
        result.problems.extend(problems)
    else:
        result.problems.append(Problem(str(legend), 0, "no category legend; category codes not checked"))
    wanted = {c.lower() for c in countries} if countries is not None else None
    files = sorted(p for p in folder.iterdir() if p.is_file() and _is_list_file(p.name))
    if not files:
        raise InputError("no test lists (*.csv) in folder", file=str(folder))
    for path in files:
        name = path.stem.lower()
        if wanted is not None and len(name) == 2 and name not in wanted:
            continue
        try:
            text = _decode(path.read_bytes(), str(path))
        except InputError as exc:
            result.problems.append(Problem(str(path), 0, exc.reason))
            continue
        entries, problems = parse_list(text, str(path), name, result.categories)
        result.lists[name] = entries
        result.problems.extend(problems)
    return result


# The lists change a few times a month upstream: a day-old copy (or a day-old 404, for the ~200 countries
# without a list of their own) is fresh enough, and a build does not download ~250 files every time.
MAX_AGE = 24 * 3600.0


def _get(fetcher: Fetcher, url: str) -> bytes:
    return fetcher.fetch(url, max_age=MAX_AGE).read_bytes()


def fetch_testlists(
    fetcher: Fetcher, countries: Iterable[str] | None = None, *, base_url: str = PUBLIC_HOME
) -> TestLists:
    """Read the test lists from their public home (or a mirror of it) through ``fetcher`` and its cache
    (copies and 404s younger than ``MAX_AGE`` are reused).

    Without ``countries``, every country in the upstream country legend is tried and a list that does not
    exist upstream is simply absent; a country asked for by name that has no list is a ``Problem``.
    ``global.csv`` and the category legend must be there (``FetchError`` otherwise).
    """
    base = base_url.rstrip("/") + "/"
    result = TestLists()
    legend_url = base + LEGEND_FILE
    result.categories, problems = parse_legend(_decode(_get(fetcher, legend_url), legend_url), legend_url)
    result.problems.extend(problems)
    if countries is None:
        cc_url = base + COUNTRY_LEGEND_FILE
        text = _decode(_get(fetcher, cc_url), cc_url)
        reader = csv.reader(io.StringIO(text))
        next(reader, None)
        countries = [row[0].strip() for row in reader if row and len(row[0].strip()) == 2]
        asked = False
    else:
        asked = True
    names = [GLOBAL, *sorted({c.lower() for c in countries})]
    for name in names:
        url = base + name + ".csv"
        try:
            data = _get(fetcher, url)
        except FetchError as exc:
            if name == GLOBAL:
                raise
            if asked:  # the user asked for this country: say it has no list, keep the others
                result.problems.append(Problem(url, 0, f"no test list: {exc}"))
            continue  # most country codes have no list of their own
        entries, problems = parse_list(_decode(data, url), url, name, result.categories)
        result.lists[name] = entries
        result.problems.extend(problems)
    return result

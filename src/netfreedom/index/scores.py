"""Expert scores: per country and year, a score (or a low–high range) per indicator or per category.

Two file formats, both described in docs/methodology.md:

* TOML, one file per country-year: ``iso2``, ``year``, ``scale`` and tables ``[indicators]`` and/or
  ``[categories]`` whose entries are a number, or ``{score = n}``, ``{range = [low, high]}`` or
  ``{missing = true}``, each with an optional ``justification`` and ``sources``;
* CSV, many countries and years, columns
  ``iso2,country,year,scale,code,score,low,high,missing,justification,sources``.

A score not assessed must be written as ``missing`` — an absent indicator is an error, never a silent zero.
Every problem is reported with the file and line it comes from.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from netfreedom.errors import ConfigError
from netfreedom.index.countries import is_iso2
from netfreedom.index.methodology import Methodology, Scale, convert

CSV_COLUMNS = (
    "iso2",
    "country",
    "year",
    "scale",
    "code",
    "score",
    "low",
    "high",
    "missing",
    "justification",
    "sources",
)
_TRUE = {"true", "yes", "1", "missing"}


@dataclass(frozen=True, slots=True)
class ScoreEntry:
    """One indicator's (or category's) score: a point (low == high), a range, or missing (both None)."""

    code: str
    low: float | None
    high: float | None
    justification: str = ""
    sources: tuple[str, ...] = ()
    line: int = 0

    @property
    def missing(self) -> bool:
        return self.low is None or self.high is None

    @property
    def point(self) -> float | None:
        if self.low is None or self.high is None:
            return None
        return (self.low + self.high) / 2

    def converted(self, maximum: float, src: Scale, dst: Scale) -> ScoreEntry:
        if self.low is None or self.high is None or src is dst:
            return self
        a, b = convert(self.low, maximum, src, dst), convert(self.high, maximum, src, dst)
        return replace(self, low=min(a, b), high=max(a, b))


@dataclass(frozen=True)
class CountryScore:
    """An analyst's scores for one country and year, as written (on ``scale``)."""

    iso2: str
    year: int
    scale: Scale
    country: str = ""
    indicators: Mapping[str, ScoreEntry] = field(default_factory=dict)
    categories: Mapping[str, ScoreEntry] = field(default_factory=dict)
    methodology: str | None = None
    file: str = ""
    line: int = 0

    def on_scale(self, methodology: Methodology) -> CountryScore:
        """The same scores expressed on ``methodology``'s scale (exact: max − value per item)."""
        dst = methodology.scale
        if self.scale is dst:
            return self
        return replace(
            self,
            scale=dst,
            indicators={
                c: e.converted(methodology.max_of(c), self.scale, dst) for c, e in self.indicators.items()
            },
            categories={
                c: e.converted(methodology.max_of(c), self.scale, dst) for c, e in self.categories.items()
            },
        )


@dataclass(frozen=True, slots=True)
class _Problem:
    file: str
    line: int | None
    message: str


def _raise(problems: list[_Problem]) -> None:
    if not problems:
        return
    first = problems[0]
    more = ""
    if len(problems) > 1:
        rest = "; ".join(f"{p.file}:{p.line}: {p.message}" for p in problems[1:4])
        more = f" (and {len(problems) - 1} more: {rest}{' ...' if len(problems) > 4 else ''})"
    raise ConfigError(first.message + more, file=first.file, line=first.line)


# --- TOML ----------------------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\- ]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


def _key_lines(text: str) -> dict[tuple[str, str], int]:
    """(section, key) → line, for locating TOML errors (tomllib does not keep positions)."""
    lines: dict[tuple[str, str], int] = {}
    section = ""
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            section = m.group(1).replace(" ", "")
            head, _, key = section.rpartition(".")
            if head:
                lines.setdefault((head, key), n)
            continue
        m = _KEY.match(line)
        if m:
            lines.setdefault((section, m.group(1)), n)
    return lines


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _toml_entry(code: str, raw: Any, file: str, line: int, problems: list[_Problem]) -> ScoreEntry | None:
    if _number(raw) is not None:
        value = float(raw)
        return ScoreEntry(code, value, value, line=line)
    if not isinstance(raw, dict):
        problems.append(_Problem(file, line, f"{code}: expected a number or a table, got {raw!r}"))
        return None
    kinds = [k for k in ("score", "range", "missing") if k in raw]
    unknown = sorted(set(raw) - {"score", "range", "missing", "justification", "sources"})
    if unknown:
        problems.append(_Problem(file, line, f"{code}: unknown key(s) {', '.join(unknown)}"))
        return None
    if len(kinds) != 1:
        problems.append(_Problem(file, line, f"{code}: give exactly one of score, range or missing = true"))
        return None
    just = str(raw.get("justification", "")).strip()
    sources_raw = raw.get("sources", [])
    sources = (sources_raw,) if isinstance(sources_raw, str) else tuple(str(s) for s in sources_raw)
    if kinds[0] == "missing":
        if raw["missing"] is not True:
            problems.append(_Problem(file, line, f"{code}: missing must be true (or leave it out)"))
            return None
        return ScoreEntry(code, None, None, just, sources, line)
    if kinds[0] == "score":
        num = _number(raw["score"])
        if num is None:
            problems.append(_Problem(file, line, f"{code}: score must be a number, got {raw['score']!r}"))
            return None
        return ScoreEntry(code, num, num, just, sources, line)
    pair = raw["range"]
    nums = [_number(v) for v in pair] if isinstance(pair, list) else []
    if len(nums) != 2 or nums[0] is None or nums[1] is None:
        problems.append(_Problem(file, line, f"{code}: range must be [low, high], got {pair!r}"))
        return None
    low, high = nums[0], nums[1]
    if low > high:
        problems.append(_Problem(file, line, f"{code}: range low {low:g} is above high {high:g}"))
        return None
    return ScoreEntry(code, low, high, just, sources, line)


def parse_scores_toml(text: str, file: str) -> CountryScore:
    """Parse one country-year TOML score file ; ``validate`` checks it against a methodology."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", file=file, line=int(m.group(1)) if m else None) from exc
    where = _key_lines(text)
    problems: list[_Problem] = []
    for key in ("iso2", "year", "scale"):
        if key not in data:
            problems.append(_Problem(file, 1, f"missing required key {key!r}"))
    _raise(problems)
    iso2 = str(data["iso2"]).upper()
    year = data["year"]
    if not isinstance(year, int) or isinstance(year, bool):
        problems.append(_Problem(file, where.get(("", "year"), 1), f"year must be an integer, got {year!r}"))
    try:
        scale = Scale(data["scale"])
    except ValueError:
        problems.append(_Problem(file, where.get(("", "scale"), 1), "scale must be '0-best' or '100-best'"))
        scale = Scale.ZERO_BEST
    sections: dict[str, dict[str, ScoreEntry]] = {"indicators": {}, "categories": {}}
    for section, entries in sections.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            problems.append(_Problem(file, where.get(("", section), 1), f"{section} must be a table"))
            continue
        for code, raw in table.items():
            line = where.get((section, code), 1)
            entry = _toml_entry(code, raw, file, line, problems)
            if entry is not None:
                entries[code] = entry
    unknown = sorted(set(data) - {"iso2", "year", "scale", "country", "methodology", *sections})
    for key in unknown:
        problems.append(_Problem(file, where.get(("", key), 1), f"unknown key {key!r}"))
    _raise(problems)
    return CountryScore(
        iso2=iso2,
        year=int(year),
        scale=scale,
        country=str(data.get("country", "")),
        indicators=sections["indicators"],
        categories=sections["categories"],
        methodology=data.get("methodology"),
        file=file,
        line=1,
    )


# --- CSV -----------------------------------------------------------------------------------------------


def split_sources(cell: str) -> tuple[str, ...]:
    """The citations in a CSV ``sources`` cell: separated by ``;`` or line breaks, each kept whole (a
    citation has spaces); a part made only of URLs separated by spaces (older files) is one source each."""
    out: list[str] = []
    for part in re.split(r"[;\n]", cell):
        words = part.split()
        if len(words) > 1 and all("://" in w for w in words):
            out.extend(words)
        elif part.strip():
            out.append(" ".join(words))
    return tuple(out)


def join_sources(sources: Iterable[str]) -> str:
    """The CSV cell for ``sources``, read back whole by :func:`split_sources`."""
    return "; ".join(s.replace(";", ",").replace("\n", " ") for s in sources)


def _csv_float(
    value: str, name: str, code: str, *, file: str, line: int, problems: list[_Problem]
) -> float | None:
    try:
        return float(value)
    except ValueError:
        problems.append(_Problem(file, line, f"{code}: {name} {value!r} is not a number"))
        return None


def parse_scores_csv(text: str, file: str) -> list[CountryScore]:
    """Parse a many-country CSV score file; duplicates and malformed rows are errors naming the line."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    missing_cols = [c for c in ("iso2", "year", "scale", "code") if c not in header]
    if missing_cols:
        raise ConfigError(f"header lacks column(s) {', '.join(missing_cols)}", file=file, line=1)
    unknown_cols = [c for c in header if c not in CSV_COLUMNS]
    if unknown_cols:
        raise ConfigError(f"unknown column(s) {', '.join(unknown_cols)}", file=file, line=1)
    problems: list[_Problem] = []
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    seen: dict[tuple[str, int, str], int] = {}
    for row in reader:
        line = reader.line_num
        cell = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if None in row:
            problems.append(_Problem(file, line, "more cells than columns"))
            continue
        if not any(cell.values()):
            continue
        iso2, code = cell["iso2"].upper(), cell["code"].upper()
        try:
            year = int(cell["year"])
        except ValueError:
            problems.append(_Problem(file, line, f"year {cell['year']!r} is not an integer"))
            continue
        try:
            scale = Scale(cell["scale"])
        except ValueError:
            problems.append(_Problem(file, line, f"scale {cell['scale']!r} must be '0-best' or '100-best'"))
            continue
        key = (iso2, year, code)
        if key in seen:
            problems.append(
                _Problem(file, line, f"duplicate entry for {iso2} {year} {code} (first at line {seen[key]})")
            )
            continue
        seen[key] = line
        group = groups.setdefault(
            (iso2, year),
            {"scale": scale, "country": cell.get("country", ""), "line": line, "rows": []},
        )
        if group["scale"] is not scale:
            problems.append(_Problem(file, line, f"{iso2} {year}: scale differs from line {group['line']}"))
            continue
        is_missing = cell.get("missing", "").lower() in _TRUE
        given = [k for k in ("score", "low", "high") if cell.get(k)]
        just = cell.get("justification", "")
        sources = split_sources(cell.get("sources", ""))
        if is_missing:
            if given:
                problems.append(_Problem(file, line, f"{code}: marked missing but has a score"))
                continue
            group["rows"].append(ScoreEntry(code, None, None, just, sources, line))
            continue
        if given == ["score"]:
            v = _csv_float(cell["score"], "score", code, file=file, line=line, problems=problems)
            if v is not None:
                group["rows"].append(ScoreEntry(code, v, v, just, sources, line))
        elif given == ["low", "high"]:
            lo = _csv_float(cell["low"], "low", code, file=file, line=line, problems=problems)
            hi = _csv_float(cell["high"], "high", code, file=file, line=line, problems=problems)
            if lo is not None and hi is not None:
                if lo > hi:
                    problems.append(_Problem(file, line, f"{code}: range low {lo:g} is above high {hi:g}"))
                else:
                    group["rows"].append(ScoreEntry(code, lo, hi, just, sources, line))
        else:
            problems.append(
                _Problem(file, line, f"{code}: give a score, or low and high, or missing = true (got none)")
            )
    _raise(problems)
    out = []
    for (iso2, year), group in groups.items():
        # A one-letter-or-so code is ambiguous on its own; the methodology decides (see ``split_levels``).
        rows = {e.code: e for e in group["rows"]}
        out.append(
            CountryScore(
                iso2=iso2,
                year=year,
                scale=group["scale"],
                country=group["country"],
                indicators=rows,
                file=file,
                line=group["line"],
            )
        )
    return out


def split_levels(score: CountryScore, methodology: Methodology) -> CountryScore:
    """Move entries whose code is a category code into ``categories`` (CSV rows mix both levels)."""
    cats = {c.code for c in methodology.categories}
    moved = {c: e for c, e in score.indicators.items() if c in cats}
    if not moved:
        return score
    return replace(
        score,
        indicators={c: e for c, e in score.indicators.items() if c not in cats},
        categories={**score.categories, **moved},
    )


# --- validation ----------------------------------------------------------------------------------------


def check(score: CountryScore, methodology: Methodology) -> list[_Problem]:
    """Problems of one country-year against the methodology: unknown codes, out of range, absent scores."""
    problems: list[_Problem] = []
    file = score.file
    if not is_iso2(score.iso2):
        problems.append(_Problem(file, score.line, f"unknown country code {score.iso2!r}"))
    ind_codes = {i.code for i in methodology.indicators}
    cat_codes = {c.code for c in methodology.categories}
    for level, entries, known in (
        ("indicator", score.indicators, ind_codes),
        ("category", score.categories, cat_codes),
    ):
        for code, entry in entries.items():
            if code not in known:
                problems.append(
                    _Problem(
                        file, entry.line, f"unknown {level} code {code!r} for methodology {methodology.id}"
                    )
                )
                continue
            maximum = methodology.max_of(code)
            for value in {entry.low, entry.high} - {None}:
                assert value is not None
                if not 0 <= value <= maximum:
                    problems.append(
                        _Problem(file, entry.line, f"{code}: score {value:g} is out of range 0–{maximum}")
                    )
                    break
    for cat in methodology.categories:
        given = [i for i in methodology.indicators_of(cat.code) if i.code in score.indicators]
        if cat.code in score.categories:
            if given:
                problems.append(
                    _Problem(
                        file,
                        score.indicators[given[0].code].line,
                        f"category {cat.code} has both a category score and indicator scores",
                    )
                )
            continue
        for ind in methodology.indicators_of(cat.code):
            if ind.code not in score.indicators:
                problems.append(
                    _Problem(
                        file,
                        score.line,
                        f"{score.iso2} {score.year}: indicator {ind.code} has no score "
                        f"(write it as missing if it was not assessed)",
                    )
                )
    return problems


def validate(scores: Iterable[CountryScore], methodology: Methodology) -> list[CountryScore]:
    """Check every country-year against the methodology; raise one ``ConfigError`` naming file and line."""
    problems: list[_Problem] = []
    out: list[CountryScore] = []
    first: dict[tuple[str, int], CountryScore] = {}
    for raw in scores:
        score = split_levels(raw, methodology)
        key = (score.iso2, score.year)
        if key in first:
            prev = first[key]
            problems.append(
                _Problem(
                    score.file,
                    score.line,
                    f"duplicate scores for {score.iso2} {score.year} (also in {prev.file}:{prev.line})",
                )
            )
            continue
        first[key] = score
        problems.extend(check(score, methodology))
        out.append(score)
    _raise(problems)
    return out


def read_scores(paths: Iterable[str | Path]) -> list[CountryScore]:
    """Read score files: ``.toml`` (one country-year), ``.csv`` (many), or folders holding either."""
    files: list[Path] = []
    for ref in paths:
        path = Path(ref)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".toml", ".csv") and p.is_file())
            if not found:
                raise ConfigError("no .toml or .csv score files in folder", file=str(path))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError("score file does not exist", file=str(path))
    out: list[CountryScore] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read score file: {exc}", file=str(path)) from exc
        if path.suffix == ".csv":
            out.extend(parse_scores_csv(text, str(path)))
        elif path.suffix == ".toml":
            out.append(parse_scores_toml(text, str(path)))
        else:
            raise ConfigError("score files must be .toml or .csv", file=str(path))
    return out


def write_scores_csv(scores: Iterable[CountryScore]) -> str:
    """The CSV form of ``scores`` (category entries and indicator entries alike, one row each)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in scores:
        for entry in (*s.categories.values(), *s.indicators.values()):
            if entry.low is None or entry.high is None:
                cells = ["", "", "", "true"]
            elif entry.low == entry.high:
                cells = [f"{entry.low:g}", "", "", ""]
            else:
                cells = ["", f"{entry.low:g}", f"{entry.high:g}", ""]
            writer.writerow(
                [
                    s.iso2,
                    s.country,
                    s.year,
                    s.scale.value,
                    entry.code,
                    *cells,
                    entry.justification,
                    join_sources(entry.sources),
                ]
            )
    return buf.getvalue()

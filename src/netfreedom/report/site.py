"""The static site: ranking and map, a page per country, the methodology, downloads.

Pages are rendered with Jinja2 (autoescape on) from values loaded out of the store, and written only when
their bytes change, so re-publishing an unchanged store touches nothing.  The site works from ``file://``:
every script and style is a file beside the pages, the map is inline SVG, and each page carries a
Content-Security-Policy that forbids inline script and any network fetch.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from netfreedom import __version__
from netfreedom.errors import StoreError
from netfreedom.evidence import facts
from netfreedom.evidence.countries import CountryEvidence, countries_evidence, country_summaries, score_rule
from netfreedom.evidence.listing import explorer_url
from netfreedom.evidence.model import MAJORITY, Axis, Filters, Period, Query, Window, evidence
from netfreedom.evidence.tables import edition_window, indicator_evidence
from netfreedom.evidence.validation import Validation, validate
from netfreedom.report import bands, charts
from netfreedom.report.events_view import events_context
from netfreedom.report.geo import WorldMap
from netfreedom.report.model import IndexData, Ranked, load_flags, load_index, load_scores
from netfreedom.report.tabular import to_csv

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)
STATIC_FILES = ("site.css", "sort.js")


@dataclass
class SiteResult:
    output: Path
    pages: int = 0
    files: int = 0
    written: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("netfreedom.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        bar=charts.bar,
        interval=charts.interval,
        status_class=charts.status_class,
        csp=CSP,
        version=__version__,
        explorer_url=explorer_url,
        score_rule=score_rule,
    )
    env.filters["num"] = _num
    env.filters["signed"] = lambda v: "" if v is None else f"{v:+g}"
    env.filters["pct"] = lambda v: "–" if v is None else f"{v * 100:.0f}%"
    env.filters["day"] = _day
    env.filters["share"] = lambda v: f"{v * 100:g}%"  # a methodology's threshold, exactly: 2.5%, 25%
    env.filters["noun"] = lambda n, word, many=None: word if n == 1 else many or word + "s"
    return env


def _day(value: dt.date | str | None) -> str:
    """A date in plain words: 1 Jun 2017."""
    if value is None or value == "":
        return "–"
    day = dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
    return f"{day.day} {day:%b %Y}"


def _num(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.1f}"


class _Writer:
    """Writes files under the output folder only when their bytes differ (atomic replace)."""

    def __init__(self, root: Path, result: SiteResult) -> None:
        self.root = root
        self.result = result
        self.keep: set[Path] = set()

    def write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        # Page names come partly from data; nothing may land outside the site folder.
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise StoreError(f"refusing to write {rel!r} outside the site folder {self.root}")
        self.keep.add(path)
        self.result.files += 1
        if path.is_file() and path.read_bytes() == data:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
        self.result.written.append(rel)

    def prune(self, folders: Iterable[str]) -> None:
        """Remove pages this run did not produce (a country dropped from the index) in our own folders."""
        for folder in folders:
            base = self.root / folder
            if not base.is_dir():
                continue
            for path in base.iterdir():
                if path.is_file() and path not in self.keep:
                    path.unlink()
                    self.result.written.append(str(path.relative_to(self.root)))


def evidence_countries(query: Query) -> list[str]:
    """Probe countries that get a page: ISO 3166 alpha-2 shaped codes only (``ZZ`` = unknown).  probe_cc
    comes from measurements, which anyone can write; it names a file, so ``../x`` must never pass."""
    if not facts.has_table(query, "verdicts"):
        return []
    ccs = evidence(query, "verdict_counts").column("country").to_pylist()
    ccs += aggregate_countries(query)
    return sorted(
        {cc for cc in ccs if isinstance(cc, str) and len(cc) == 2 and cc.isascii() and cc.isupper()}
    )


def aggregate_countries(query: Query) -> list[str]:
    """Countries OONI's aggregation rows speak of (all time); some are known from them alone."""
    return [c for c in evidence(query, "aggregate_rates").column("country").to_pylist() if c]


def raw_measurements(query: Query, cc: str) -> int:
    """How many raw verdicts the store holds for ``cc`` (all time)."""
    found = evidence(query, "verdict_counts", filters=Filters(country=cc)).column("measurements").to_pylist()
    return int(found[0] or 0) if found else 0


def aggregate_tests(query: Query, cc: str) -> list[dict[str, Any]]:
    """A country's anomaly and confirmed rates by test from OONI's aggregates, all time (first and last
    day included), for its page."""
    rows: list[dict[str, Any]] = evidence(
        query, "aggregate_rates", axes=(Axis.TEST,), filters=Filters(country=cc)
    ).to_pylist()
    days = {
        r["test_name"]: (r["first"], r["last"])
        for r in query(
            "SELECT test_name, CAST(min(period_start) AS DATE) AS first, "
            "CAST(max(period_end) - INTERVAL 1 SECOND AS DATE) AS last FROM aggregates "
            "WHERE probe_cc = ? GROUP BY 1",
            [cc],
        ).to_pylist()
    }
    for r in rows:
        first, last = days.get(r["test"], (None, None))
        r["first"], r["last"] = (first.isoformat() if first else None), (last.isoformat() if last else None)
    return rows


def default_window(query: Query) -> Window:
    """The period evidence is shown for by default: the latest edition's coverage period, else all time."""
    found = edition_window(query)
    return found[1] if found else Window()


def describe(window: Window) -> str:
    """The window in words, with its dates (``until`` is exclusive in the label, inclusive here)."""
    if window.label == "all":
        return "all measurements"
    last = window.until - dt.timedelta(days=1)
    return f"{window.since.isoformat()} to {last.isoformat()}"


def write_site(
    con: Any, output: Path, *, world: WorldMap | None, title: str = "Internet freedom index"
) -> SiteResult:
    """Publish the store behind ``con`` (DuckDB, may be read-only) as a static site in ``output``."""
    if facts.is_stale(con):
        raise StoreError(
            "the evidence tables are missing or stale: run `netfreedom build` or `netfreedom report`"
        )
    query = facts.query_of(con)
    result = SiteResult(output)
    writer = _Writer(output, result)
    env = _env()
    index = load_index(con)
    evidence_ccs = evidence_countries(query)
    window = default_window(query)
    measured = {r["iso2"]: r for r in country_summaries(query, window).to_pylist()} if evidence_ccs else {}
    latest = index.latest
    ranked = {r.iso2: r for r in index.editions.get(latest, ())} if latest is not None else {}
    names = _country_names([*ranked, *evidence_ccs], index)
    common = {
        "title": title,
        "editions": sorted(index.editions, reverse=True),
        "latest": latest,
        "window": window,
        "window_text": describe(window),
        "window_last": window.until - dt.timedelta(days=1),
    }

    # How the measured score's ranks agree with the latest edition's: over all measurements, as
    # `netfreedom evidence validate --year Y` computes it by default.
    validation: Validation | None = validate(query, latest) if latest is not None else None
    years: list[int | None] = [*sorted(index.editions)] or [None]
    for year in years:
        rows = index.editions.get(year, ()) if year is not None else ()
        meth = index.methodologies.get(year) if year is not None else None
        palette = bands.shades(meth)
        page = env.get_template("index.html.j2").render(
            **common,
            root="",
            year=year,
            rows=rows,
            methodology=meth,
            world=world,
            shapes=_shapes_for(world, rows, evidence_ccs, palette),
            palette=palette,
            legend=bands.legend(palette),
            unranked=[(cc, names.get(cc, cc)) for cc in evidence_ccs if cc not in {r.iso2 for r in rows}],
            measured=measured if year == latest else {},
            validation=validation if year == latest else None,
        )
        rel = "index.html" if year == latest else f"edition-{year}.html"
        writer.write(rel, page.encode())
        result.pages += 1

    sections = countries_evidence(query, evidence_ccs, window) if evidence_ccs else {}
    for cc in sorted(set(ranked) | set(evidence_ccs)):
        writer.write(
            f"country/{cc}.html",
            _country_page(
                env,
                con,
                index=index,
                cc=cc,
                name=names.get(cc, cc),
                common=common,
                evidence=sections.get(cc),
            ),
        )
        result.pages += 1

    meth = index.methodologies.get(latest) if latest is not None else None
    writer.write(
        "methodology.html",
        env.get_template("methodology.html.j2")
        .render(**common, root="", methodology=meth, edition=latest, majority=MAJORITY)
        .encode(),
    )
    result.pages += 1
    downloads = _downloads(con, writer, window)
    writer.write(
        "data.html", env.get_template("data.html.j2").render(**common, root="", downloads=downloads).encode()
    )
    result.pages += 1
    for name in STATIC_FILES:
        writer.write(
            f"static/{name}", resources.files("netfreedom.report").joinpath("static", name).read_bytes()
        )
    writer.prune(["country", "data"])
    return result


def _shapes_for(
    world: WorldMap | None, rows: Iterable[Ranked], evidence: list[str], palette: tuple[bands.Shade, ...]
) -> list[dict[str, Any]]:
    if world is None:
        return []
    by = {r.iso2: r for r in rows}
    return [
        {
            "shape": s,
            "row": by.get(s.iso2),
            "bin": bands.shade_of(by.get(s.iso2), palette),
            "has_page": s.iso2 in by or s.iso2 in evidence,
        }
        for s in world.shapes
    ]


def _country_names(codes: Iterable[str], index: IndexData) -> dict[str, str]:
    import pycountry

    names = {r.iso2: r.country for rows in index.editions.values() for r in rows}
    for cc in codes:
        if cc == "ZZ":
            names[cc] = "Unknown country"
        elif cc not in names:
            c = pycountry.countries.get(alpha_2=cc)
            names[cc] = str(getattr(c, "common_name", None) or c.name) if c is not None else cc
    return names


def _country_page(
    env: jinja2.Environment,
    con: Any,
    *,
    index: IndexData,
    cc: str,
    name: str,
    common: dict[str, Any],
    evidence: CountryEvidence | None,
) -> bytes:
    hist = index.history(cc)
    row = hist[-1] if hist and hist[-1].year == index.latest else None
    year = row.year if row else None
    meth = index.methodologies.get(year) if year is not None else None
    scores = load_scores(con, year, cc) if year is not None else []
    flags = load_flags(con, year, cc) if year is not None else []
    # The edition whose coverage period the page states: the country's, else the latest one.
    edition = year if year is not None else index.latest
    edition_meth = index.methodologies.get(edition) if edition is not None else None
    months = [charts.MonthRow.of(m) for m in evidence.months] if evidence else []
    cat_names = {c.code: c for c in meth.categories} if meth else {}
    questions = {i.code: i for i in meth.indicators} if meth else {}
    query = facts.query_of(con)
    indicators = indicator_evidence(query, year, cc) if year is not None else []
    from_aggregates = aggregate_tests(query, cc)
    raw_n = raw_measurements(query, cc)
    all_time = country_summaries(query, Window(), countries=[cc]).to_pylist()[0] if from_aggregates else None
    return (
        env.get_template("country.html.j2")
        .render(
            **common,
            root="../",
            cc=cc,
            name=name,
            row=row,
            history=hist,
            methodology=meth,
            n_ranked=len(index.editions.get(year, ())) if year is not None else 0,
            category_scores=[s for s in scores if s.level == "category"],
            indicator_scores=[s for s in scores if s.level != "category"],
            cat_names=cat_names,
            questions=questions,
            flags=flags,
            evidence=evidence,
            indicator_evidence=indicators,
            edition=edition,
            coverage=edition_meth.coverage if edition_meth else None,
            coverage_last=edition_meth.coverage_last if edition_meth else None,
            aggregate_tests=from_aggregates,
            aggregates_only=bool(from_aggregates) and not raw_n,
            all_time=all_time,
            history_svg=charts.history(hist) if len(hist) > 1 else None,
            timeline_svg=charts.timeline(months) if months else None,
            # The events band spans the timeline's months (every month first to last), so the two line up.
            **events_context(con, cc, charts.month_span(months) if evidence else None),
        )
        .encode()
    )


def _downloads(con: Any, writer: _Writer, window: Window) -> list[dict[str, Any]]:
    """Write the data behind the site as CSV, JSON and Parquet; return what was written."""
    import pyarrow.parquet as pq

    query = facts.query_of(con)
    tables: list[tuple[str, str, Any]] = []
    for stem, label, name, order in (
        ("index", "Index results: every country and edition", "index_results", "year, rank NULLS LAST, iso2"),
        ("scores", "Category and indicator scores with justifications", "index_scores", "year, iso2, code"),
        ("flags", "Review flags", "index_flags", "year, iso2, code, kind"),
        (
            "indicator-evidence",
            "Measurement evidence behind each evidence-mapped indicator, with example measurement ids",
            "index_evidence",
            "year, iso2, code",
        ),
    ):
        if facts.has_table(query, name):
            tables.append((stem, label, query(f"SELECT * FROM {name} ORDER BY {order}", None)))
    if facts.has_table(query, "verdicts"):
        tables.append(
            (
                "evidence-countries",
                f"Measured evidence and interference score per country, {describe(window)}",
                country_summaries(query, window),
            )
        )
        tables.append(
            (
                "evidence-monthly",
                "Verdict counts per country, month, category and method",
                evidence(
                    query,
                    "verdict_counts",
                    axes=(Axis.COUNTRY, Axis.CATEGORY, Axis.METHOD),
                    window=Window(period=Period.MONTH),
                ),
            )
        )
    out = []
    with tempfile.TemporaryDirectory(prefix="nf-site-") as tmp:
        for stem, label, table in tables:
            cols = list(table.column_names)
            records = [{k: _jsonable(v) for k, v in r.items()} for r in table.to_pylist()]
            writer.write(f"data/{stem}.json", json.dumps(records, ensure_ascii=False, indent=1).encode())
            writer.write(f"data/{stem}.csv", _csv(cols, records))
            path = Path(tmp) / f"{stem}.parquet"
            pq.write_table(table, path, compression="zstd")
            writer.write(f"data/{stem}.parquet", path.read_bytes())
            out.append(
                {
                    "stem": stem,
                    "label": label,
                    "rows": table.num_rows,
                    "sizes": {
                        ext: (writer.root / f"data/{stem}.{ext}").stat().st_size
                        for ext in ("csv", "json", "parquet")
                    },
                }
            )
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _csv(cols: list[str], records: list[dict[str, Any]]) -> bytes:
    # A list (example measurement ids, sources) goes into one cell, space-separated.
    return to_csv(
        cols, ([" ".join(map(str, v)) if isinstance(v, list) else v for v in r.values()] for r in records)
    ).encode()

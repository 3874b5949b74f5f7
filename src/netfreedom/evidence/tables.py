"""Tables beside the verdicts in the store: ``testlists`` (the URL categories evidence is cut by) and the
``index_*`` tables holding built indexes (columns in docs/architecture.md).  ``index build`` writes them
(as Arrow tables handed to ``Store.write_table``); the report and the web API read them with ``read_index``.

Rebuilding one year replaces that year's rows and keeps every other year's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from netfreedom.evidence.facts import fetch, has_table
from netfreedom.evidence.model import Query, Window
from netfreedom.index.methodology import Measure, Methodology, Scale
from netfreedom.index.results import (
    CategoryResult,
    CountryResult,
    EvidenceFigure,
    Flag,
    FlagKind,
    IndexResult,
)
from netfreedom.index.scores import CountryScore
from netfreedom.ingest.testlists import TestLists

TESTLISTS = pa.schema(
    [("cc", pa.string()), ("url", pa.string()), ("domain", pa.string()), ("category_code", pa.string())]
)
SCHEMAS: dict[str, pa.Schema] = {
    "index_results": pa.schema(
        [
            ("year", pa.int32()),
            ("methodology_id", pa.string()),
            ("scale", pa.string()),
            ("iso2", pa.string()),
            ("country", pa.string()),
            ("total", pa.float64()),
            ("total_low", pa.float64()),
            ("total_high", pa.float64()),
            ("status", pa.string()),
            ("rank", pa.int32()),
            ("rank_low", pa.int32()),
            ("rank_high", pa.int32()),
            ("change", pa.float64()),
        ]
    ),
    "index_scores": pa.schema(
        [
            ("year", pa.int32()),
            ("iso2", pa.string()),
            ("code", pa.string()),
            ("level", pa.string()),
            ("score", pa.float64()),
            ("low", pa.float64()),
            ("high", pa.float64()),
            ("max", pa.int32()),
            ("justification", pa.string()),
            ("sources", pa.list_(pa.string())),
        ]
    ),
    "index_flags": pa.schema(
        [
            ("year", pa.int32()),
            ("iso2", pa.string()),
            ("code", pa.string()),
            ("kind", pa.string()),
            ("message", pa.string()),
        ]
    ),
    "index_methodology": pa.schema(
        [("year", pa.int32()), ("methodology_id", pa.string()), ("document", pa.string())]
    ),
    "index_evidence": pa.schema(
        [
            ("year", pa.int32()),
            ("iso2", pa.string()),
            ("code", pa.string()),
            ("measure", pa.string()),
            ("period", pa.string()),
            ("tested", pa.int32()),
            ("blocked", pa.int32()),
            ("confirmed", pa.int32()),
            ("measurements", pa.int64()),
            ("networks", pa.int32()),
            ("blocked_low", pa.float64()),
            ("blocked_high", pa.float64()),
            ("confirmed_low", pa.float64()),
            ("confirmed_high", pa.float64()),
            ("examples", pa.list_(pa.string())),
        ]
    ),
}


def lists_table(lists: TestLists) -> pa.Table:
    """The ``testlists`` table (``cc, url, domain, category_code``) for ``lists``."""
    rows = list(lists.rows())
    return pa.Table.from_pylist([dict(zip(TESTLISTS.names, r, strict=True)) for r in rows], schema=TESTLISTS)


def methodology_document(m: Methodology, year: int) -> dict[str, Any]:
    """The methodology as stored beside edition ``year``: what the site and the API explain it from (the
    edition's coverage period, its evidence rules, review limits and interval settings included)."""
    since, until = m.coverage(year)
    return {
        "id": m.id,
        "version": m.version,
        "title": m.name,
        "scale": m.scale.value,
        "categories": [{"code": c.code, "name": c.name, "max": c.max} for c in m.categories],
        "indicators": [
            {
                "code": i.code,
                "category": i.category,
                "max": i.max,
                "question": i.question,
                "guidance": i.guidance,
            }
            for i in m.indicators
        ],
        "statuses": [{"name": b.name, "min": b.min, "max": b.max} for b in m.status],
        "coverage": {"since": since.isoformat(), "until": until.isoformat()},  # until is exclusive
        "evidence": [dataclasses.asdict(r) for r in m.evidence],
        "review": dataclasses.asdict(m.review),
        "uncertainty": dataclasses.asdict(m.uncertainty),
    }


def result_row(result: IndexResult, c: CountryResult) -> dict[str, Any]:
    """One country's row of ``index_results`` (the Python API's ``index`` table adds to it)."""
    return {
        "year": result.year,
        "methodology_id": result.methodology_id,
        "scale": str(result.scale),
        "iso2": c.iso2,
        "country": c.country,
        "total": c.total,
        "total_low": c.total_low,
        "total_high": c.total_high,
        "status": c.status,
        "rank": c.rank,
        "rank_low": c.rank_low,
        "rank_high": c.rank_high,
        "change": c.change,
    }


def index_rows(
    result: IndexResult, methodology: Methodology, scores: Sequence[CountryScore]
) -> dict[str, list[dict[str, Any]]]:
    """The rows of each ``index_*`` table for one built year."""
    year = result.year
    by_iso = {s.iso2: s.on_scale(methodology) for s in scores if s.year == year}
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in SCHEMAS}
    for c in result.countries:
        out["index_results"].append(result_row(result, c))
        expert = by_iso.get(c.iso2)
        for cat in c.categories:
            entry = expert.categories.get(cat.code) if expert else None
            out["index_scores"].append(
                {
                    "year": year,
                    "iso2": c.iso2,
                    "code": cat.code,
                    "level": "category",
                    "score": cat.score,
                    "low": cat.low,
                    "high": cat.high,
                    "max": cat.max,
                    "justification": entry.justification if entry else "",
                    "sources": list(entry.sources) if entry else [],
                }
            )
        for code, e in (expert.indicators if expert else {}).items():
            out["index_scores"].append(
                {
                    "year": year,
                    "iso2": c.iso2,
                    "code": code,
                    "level": "indicator",
                    "score": e.point,
                    "low": e.low,
                    "high": e.high,
                    "max": methodology.max_of(code),
                    "justification": e.justification,
                    "sources": list(e.sources),
                }
            )
        for f in c.flags:
            out["index_flags"].append(
                {
                    "year": year,
                    "iso2": c.iso2,
                    "code": f.code or None,
                    "kind": f.kind.value,
                    "message": f.message,
                }
            )
        for ev in c.evidence:
            out["index_evidence"].append(
                {
                    "year": year,
                    "iso2": c.iso2,
                    "code": ev.indicator,
                    "measure": ev.measure.value,
                    "period": ev.period,
                    "tested": ev.tested,
                    "blocked": ev.blocked,
                    "confirmed": ev.confirmed,
                    "measurements": ev.measurements,
                    "networks": ev.networks,
                    "blocked_low": ev.blocked_low,
                    "blocked_high": ev.blocked_high,
                    "confirmed_low": ev.confirmed_low,
                    "confirmed_high": ev.confirmed_high,
                    "examples": list(ev.examples),
                }
            )
    out["index_methodology"].append(
        {
            "year": year,
            "methodology_id": result.methodology_id,
            "document": json.dumps(methodology_document(methodology, year)),
        }
    )
    return out


def index_tables(
    query: Query, result: IndexResult, methodology: Methodology, scores: Sequence[CountryScore]
) -> dict[str, pa.Table]:
    """Each ``index_*`` table as it must be after storing ``result``: other years' rows kept, this year's
    replaced.  The caller writes them (``Store.write_table``)."""
    new = index_rows(result, methodology, scores)
    tables = {}
    for name, schema in SCHEMAS.items():
        fresh = pa.Table.from_pylist(new[name], schema=schema)
        if has_table(query, name):
            old = query(f"SELECT * FROM {name} WHERE year <> ?", [result.year])
            for missing in (f for f in schema if f.name not in old.column_names):
                # A store written before a column existed: the older years' rows get nulls there.
                old = old.append_column(missing.name, pa.nulls(old.num_rows, missing.type))
            old = old.select(schema.names).cast(schema)
            fresh = pa.concat_tables([old, fresh])
        tables[name] = fresh.sort_by([("year", "ascending")]) if fresh.num_rows else fresh
    return tables


def edition_window(query: Query, year: int | None = None) -> tuple[int, Window] | None:
    """(year, coverage window) of edition ``year`` (default: the latest built); None without an index.  The
    default period of the site and the API: evidence beside an edition's scores is that edition's."""
    if not has_table(query, "index_methodology"):
        return None
    rows = fetch(query, "SELECT year, document FROM index_methodology ORDER BY year DESC")
    for y, document in rows:
        if year is not None and y != year:
            continue
        coverage = json.loads(document).get("coverage")
        if coverage:
            since, until = dt.date.fromisoformat(coverage["since"]), dt.date.fromisoformat(coverage["until"])
            return int(y), Window(since, until)
        return None
    return None


INDICATOR_EVIDENCE_COLUMNS = (
    "code, measure, period, tested, blocked, confirmed, measurements, networks, blocked_low, blocked_high, "
    "confirmed_low, confirmed_high, examples"
)


def indicator_evidence(query: Query, year: int, iso2: str) -> list[dict[str, Any]]:
    """The stored evidence figures behind ``iso2``'s indicators in edition ``year`` (``index_evidence``)."""
    if not has_table(query, "index_evidence"):
        return []
    table = query(
        f"SELECT {INDICATOR_EVIDENCE_COLUMNS} FROM index_evidence WHERE year = ? AND iso2 = ? ORDER BY code",
        [year, iso2.upper()],
    )
    return table.to_pylist()  # type: ignore[no-any-return]


def stored_years(query: Query) -> list[int]:
    if not has_table(query, "index_results"):
        return []
    return [r[0] for r in fetch(query, "SELECT DISTINCT year FROM index_results ORDER BY year")]


def previous_totals(query: Query, year: int, scale: Scale) -> dict[str, float]:
    """iso2 → stored total of ``year`` expressed on ``scale`` (exact conversion when stored on the other)."""
    if not has_table(query, "index_results"):
        return {}
    rows = fetch(
        query, "SELECT iso2, total, scale FROM index_results WHERE year = ? AND total IS NOT NULL", [year]
    )
    return {iso2: total if s == scale.value else 100 - total for iso2, total, s in rows}


def read_index(query: Query, year: int) -> IndexResult | None:
    """The stored index for ``year`` (None when it was never built)."""
    if not has_table(query, "index_methodology"):
        return None
    head = fetch(query, "SELECT methodology_id, document FROM index_methodology WHERE year = ?", [year])
    if not head:
        return None
    mid, document = head[0]
    doc = json.loads(document)
    names = {c["code"]: c["name"] for c in doc["categories"]}
    order = [c["code"] for c in doc["categories"]]
    cats: dict[str, dict[str, CategoryResult]] = {}
    for iso2, code, score, low, high, mx in fetch(
        query,
        "SELECT iso2, code, score, low, high, max FROM index_scores WHERE year = ? AND level = 'category'",
        [year],
    ):
        cats.setdefault(iso2, {})[code] = CategoryResult(code, names.get(code, code), mx, score, low, high)
    flags: dict[str, list[Flag]] = {}
    for iso2, code, kind, message in fetch(
        query, "SELECT iso2, code, kind, message FROM index_flags WHERE year = ?", [year]
    ):
        flags.setdefault(iso2, []).append(Flag(FlagKind(kind), code or "", message))
    evidence: dict[str, list[EvidenceFigure]] = {}
    for row in fetch(
        query,
        "SELECT iso2, code, measure, tested, blocked, confirmed, measurements, networks, period, "
        "blocked_low, blocked_high, confirmed_low, confirmed_high, examples "
        "FROM index_evidence WHERE year = ?",
        [year],
    ):
        fig = EvidenceFigure(
            iso2=row[0],
            indicator=row[1],
            measure=Measure(row[2]),
            tested=row[3],
            blocked=row[4],
            confirmed=row[5],
            measurements=row[6],
            networks=row[7],
            period=row[8],
            blocked_low=row[9],
            blocked_high=row[10],
            confirmed_low=row[11],
            confirmed_high=row[12],
            examples=tuple(row[13] or ()),
        )
        evidence.setdefault(row[0], []).append(fig)
    countries = []
    for r in fetch(
        query,
        "SELECT iso2, country, total, status, rank, change, total_low, total_high, rank_low, rank_high "
        "FROM index_results WHERE year = ? ORDER BY rank NULLS LAST, country",
        [year],
    ):
        iso2 = r[0]
        countries.append(
            CountryResult(
                iso2=iso2,
                country=r[1],
                year=year,
                categories=tuple(cats[iso2][c] for c in order if c in cats.get(iso2, {})),
                total=r[2],
                status=r[3],
                rank=r[4],
                previous_total=r[2] - r[5] if r[2] is not None and r[5] is not None else None,
                change=r[5],
                total_low=r[6],
                total_high=r[7],
                rank_low=r[8],
                rank_high=r[9],
                flags=tuple(flags.get(iso2, ())),
                evidence=tuple(evidence.get(iso2, ())),
            )
        )
    return IndexResult(mid, str(doc.get("version", "")), Scale(doc["scale"]), year, tuple(countries))

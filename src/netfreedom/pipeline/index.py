"""Orchestration of the index commands: import a published workbook, build an index into the store, and
read it back as rows for display or export."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netfreedom.errors import InputError
from netfreedom.index.engine import build_index
from netfreedom.index.fh import FHImport, read_fh_workbook
from netfreedom.index.methodology import Measure, Methodology, Scale, load_methodology
from netfreedom.index.results import IndexResult
from netfreedom.index.scores import read_scores, validate, write_scores_csv
from netfreedom.ingest.testlists import TestLists, fetch_testlists, read_testlists
from netfreedom.pipeline.scale.cluster import EngineOptions


def import_fh(
    xlsx: Path, out: Path | None, *, year: int | None = None, scale: Scale | None = None
) -> tuple[FHImport, Path]:
    """Read Freedom House's workbook and write its scores as a CSV score file at ``out`` (default
    ``./fh-YEAR.csv``, ``./fh-FIRST-LAST.csv`` for several editions); returns what was read and where."""
    if not xlsx.is_file():
        raise InputError("workbook does not exist", file=str(xlsx))
    result = read_fh_workbook(xlsx, year=year, scale=scale)
    if not result.scores:
        raise InputError("no country rows could be read: " + "; ".join(result.problems[:3]), file=str(xlsx))
    years = result.years
    out = out or Path(f"fh-{years[0]}.csv" if len(years) == 1 else f"fh-{years[0]}-{years[-1]}.csv")
    if out.is_dir():
        raise InputError("is a folder; --out needs a file name", file=str(out))
    tmp = out.with_name(out.name + ".part")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(write_scores_csv(result.scores), encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        if tmp.is_file():
            tmp.unlink()
        raise InputError(f"cannot write the score file: {exc.strerror or exc}", file=str(out)) from exc
    return result, out


def load_testlists(source: str, *, mirrors: Sequence[str] = (), cache_dir: Path | None = None) -> TestLists:
    """Test lists from a folder, or from their public home (``public`` or a base URL) through the fetcher."""
    from netfreedom.fetch import DEFAULT_CACHE, Fetcher, parse_mirrors
    from netfreedom.ingest.testlists import PUBLIC_HOME

    if source != "public" and not source.startswith(("http://", "https://")):
        return read_testlists(Path(source))
    fetcher = Fetcher(cache_dir=cache_dir or DEFAULT_CACHE, mirrors=parse_mirrors(list(mirrors)))
    try:
        return fetch_testlists(fetcher, base_url=PUBLIC_HOME if source == "public" else source)
    finally:
        fetcher.close()


@dataclass
class BuildReport:
    result: IndexResult
    methodology: Methodology
    db: Path
    evidence_countries: int = 0
    testlist_rows: int | None = None
    notes: list[str] = field(default_factory=list)


def build(
    methodology_ref: str | Path,
    score_paths: Sequence[str | Path],
    year: int,
    db: Path | None,
    *,
    lists: TestLists | None = None,
    use_evidence: bool = True,
    cluster: EngineOptions | None = None,
) -> BuildReport:
    """Validate scores, gather evidence from the store (when it holds verdicts or events), compile, and
    store.

    With ``cluster`` the evidence figures are computed on that Dask cluster (the same figures)."""
    from netfreedom.evidence import facts
    from netfreedom.evidence.facts import has_table
    from netfreedom.evidence.indicators import event_figures, indicator_figures
    from netfreedom.evidence.tables import index_tables, lists_table, previous_totals
    from netfreedom.store import open_store

    methodology = load_methodology(methodology_ref)
    scores = validate(read_scores(score_paths), methodology)
    if not any(s.year == year for s in scores):
        years = sorted({s.year for s in scores})
        raise InputError(f"no scores for {year} in the files given (they hold {years})")
    notes: list[str] = []
    with open_store(db) as store:
        testlist_rows = None
        if lists is not None:
            table = lists_table(lists)
            store.write_table("testlists", table)
            testlist_rows = table.num_rows
            if lists.problems:
                notes.append(f"{len(lists.problems)} test-list rows had problems, e.g. {lists.problems[0]}")
        evidence = None
        measured = has_table(store.query, "verdicts") and _has_rows(store.query, "verdicts")
        recorded = has_table(store.query, "events") and _has_rows(store.query, "events")
        if use_evidence and (measured or recorded):
            if methodology.evidence and not has_table(store.query, "testlists"):
                notes.append("no test lists in the store: URL categories unknown (give --testlists DIR)")
            if cluster is None:
                store.run(facts.refresh)  # the evidence facts as of these verdicts and test lists
                evidence = indicator_figures(store.query, methodology, year)
            else:
                from netfreedom.pipeline.scale.evidence import indicators_on_cluster

                evidence = indicators_on_cluster(store, methodology, year, options=cluster)
                # Events live in the store, not in the Parquet the workers read: added here.
                event_rules = [r for r in methodology.evidence if r.measure is Measure.EVENTS]
                if event_rules:
                    since, until = methodology.coverage(year)
                    for cc, figures in event_figures(store.query, event_rules, since, until).items():
                        evidence.setdefault(cc, []).extend(figures)
        elif use_evidence:
            notes.append("the store holds no verdicts: built without evidence")
        result = build_index(
            methodology,
            scores,
            year,
            evidence=evidence,
            previous_totals=previous_totals(store.query, year - 1, methodology.scale),
        )
        for name, table in index_tables(store.query, result, methodology, scores).items():
            store.write_table(name, table)
        path = store.path
    return BuildReport(result, methodology, path, len(evidence or {}), testlist_rows, notes)


def _has_rows(query: Any, table: str) -> bool:
    from netfreedom.evidence.facts import fetch

    return bool(fetch(query, f"SELECT 1 FROM {table} LIMIT 1"))

"""``netfreedom build``: ingest → test lists → analyze → index for a project, each step incremental.

Every step first works out whether its inputs changed since the last build and does nothing when they did
not: ingest de-duplicates by measurement uid, analysis only touches measurements without a current verdict,
and the test-list and index steps compare a signature of their inputs with the one stored in the store's
``build_state`` table.  Publishing (the aggregation cube and the site) is the caller's last step
(``report.publish``), which is incremental in the same way.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netfreedom.errors import ConfigError
from netfreedom.fetch import Fetcher
from netfreedom.pipeline.project import Project

STATE_TABLE = "build_state"

Progress = Callable[[str, str], None]
"""Called with (step, message) as a step advances."""


@dataclass(frozen=True)
class StepResult:
    step: str
    changed: bool
    detail: str
    seconds: float


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:32]


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".toml", ".csv"))
        elif path.is_file():
            yield path
        else:
            raise ConfigError("score file or folder does not exist", file=str(path))


class _State:
    """Input signatures of the last build, kept in the store so a copied store carries them."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.values: dict[str, str] = {}
        if self._exists():
            table = store.query(f"SELECT step, signature FROM {STATE_TABLE}")
            self.values = dict(
                zip(table.column("step").to_pylist(), table.column("signature").to_pylist(), strict=True)
            )

    def _exists(self) -> bool:
        table = self.store.query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = $1", [STATE_TABLE]
        )
        return bool(table.column("n")[0].as_py())

    def same(self, step: str, signature: str) -> bool:
        return self.values.get(step) == signature

    def save(self, step: str, signature: str) -> None:
        import pyarrow as pa

        self.values[step] = signature
        steps = sorted(self.values)
        self.store.write_table(
            STATE_TABLE, pa.table({"step": steps, "signature": [self.values[s] for s in steps]})
        )


def _verdicts_signature(store: Any) -> str:
    table = store.query(
        "SELECT count(*) AS n, coalesce(sum(hash(measurement_uid, outcome, confirmed, analysis_version, "
        "fingerprints_id)), 0) AS h FROM verdicts"
    )
    return f"{table.column('n')[0].as_py()}:{table.column('h')[0].as_py()}"


def _aggregates_signature(store: Any) -> str:
    table = store.query(
        "SELECT count(*) AS n, coalesce(sum(hash(probe_cc, test_name, grain, period_start, probe_asn, "
        "domain, input, measurement_count, anomaly_count, confirmed_count)), 0) AS h FROM aggregates"
    )
    return f"{table.column('n')[0].as_py()}:{table.column('h')[0].as_py()}"


def _events_signature(store: Any) -> str:
    """The events the index checks scores against (``events`` evidence rules)."""
    table = store.query(
        "SELECT count(*) AS n, "
        "coalesce(sum(hash(id, kind, start_date, end_date, ongoing, detected)), 0) AS h "
        "FROM events"
    )
    return f"{table.column('n')[0].as_py()}:{table.column('h')[0].as_py()}"


def _source_spec(project: Project, i: int) -> str:
    src = project.sources[i]
    if src.url is not None:
        return src.url
    assert src.path is not None
    path = project.path(src.path)
    if not path.exists():
        raise ConfigError(f"sources #{i + 1}: {path} does not exist", file=str(Path(project.root)))
    return str(path)


def _aggregate_spec(project: Project, i: int) -> str:
    agg = project.aggregates[i]
    if agg.url is not None:
        return agg.url
    assert agg.path is not None
    path = project.path(agg.path)
    if not path.exists():
        raise ConfigError(f"aggregates #{i + 1}: {path} does not exist", file=str(Path(project.root)))
    return str(path)


def _ingest(
    project: Project, store: Any, fetcher: Fetcher, progress: Progress, analysis: Any = None
) -> StepResult:
    """Ingest the project's sources; with ``analysis`` (``pipeline.ingest.Analysis``) each new measurement
    is analysed as it is read (one parse), so the analyze step only redoes verdicts of older rules."""
    from netfreedom.errors import FetchError
    from netfreedom.ingest import Filters
    from netfreedom.pipeline.ingest import RESUME, ingest

    t = time.perf_counter()
    added = dupes = rejected = verdicts = 0
    first_errors: list[str] = []
    incomplete: list[str] = []
    for i, src in enumerate(project.sources):
        spec = _source_spec(project, i)
        filters = Filters.build(src.since, src.until, src.countries, src.tests)

        def report(s: Any, spec: str = spec) -> None:
            progress("ingest", f"{spec}: {s.ingested} new, {s.duplicates} known, {s.rejected} rejected")

        summary = ingest(store, [spec], filters=filters, fetcher=fetcher, progress=report, analysis=analysis)
        added += summary.ingested
        verdicts += summary.verdicts
        dupes += summary.duplicates
        rejected += summary.rejected
        first_errors += [f"{e.file}:{e.line}: {e.reason}" for e in summary.errors[:3]]
        incomplete += [f"{e.file}: {e.reason}" for e in summary.incomplete[:3]]
        if summary.files == 0 and not summary.errors and summary.complete:
            # Said aloud: an archive prefix or filter that matches nothing otherwise looks like "up to date".
            first_errors.append(f"{spec}: no measurement files found")
    cells = 0
    for i, agg in enumerate(project.aggregates):
        spec = _aggregate_spec(project, i)
        summary = ingest(store, [spec], fetcher=fetcher, dimensions=agg.dimensions)
        cells += summary.aggregate_rows + summary.aggregate_updated
        dupes += summary.aggregate_duplicates
        rejected += summary.rejected
        first_errors += [f"{e.file}:{e.line}: {e.reason}" for e in summary.errors[:3]]
    if incomplete:
        # What was read is stored; the build does not go on as if the sources had been read whole.
        raise FetchError(
            f"the archive walk is incomplete ({'; '.join(incomplete[:2])}); {RESUME}",
            url=incomplete[0].split(": ", 1)[0],
        )
    detail = f"{added} new, {dupes} already stored, {rejected} rejected"
    if verdicts:
        detail += f"; {verdicts} analysed"
    if project.aggregates:
        detail += f"; {cells} aggregation rows new or updated"
    if first_errors:
        detail += " (e.g. " + "; ".join(first_errors[:2]) + ")"
    return StepResult("ingest", added + cells > 0, detail, time.perf_counter() - t)


def _testlists(
    project: Project, store: Any, fetcher: Fetcher, state: _State, progress: Progress
) -> StepResult:
    from netfreedom.evidence.tables import lists_table
    from netfreedom.ingest.testlists import fetch_testlists, read_testlists

    t = time.perf_counter()
    progress("test lists", f"reading {project.testlists}")
    source = project.testlists
    if source.startswith(("http://", "https://")):
        lists = fetch_testlists(fetcher, base_url=source)
    else:
        lists = read_testlists(project.path(source))
    table = lists_table(lists)
    signature = _sha(*(",".join(r) for r in sorted(lists.rows())))
    detail = f"{table.num_rows} URLs in {len(lists.lists)} lists"
    if lists.problems:
        detail += f", {len(lists.problems)} rows with problems"
    if state.same("testlists", signature):
        return StepResult("test lists", False, detail + " (unchanged)", time.perf_counter() - t)
    store.write_table("testlists", table)
    state.save("testlists", signature)
    return StepResult("test lists", True, detail, time.perf_counter() - t)


def _fingerprints(project: Project, fetcher: Fetcher) -> Any:
    from netfreedom.analysis.fingerprint_sources import DEFAULT_SOURCES, FingerprintSources, load_fingerprints

    spec = project.fingerprints

    def pick(value: str | None, default: str) -> str:
        if value is None:
            return default
        return value if value.startswith(("http://", "https://")) else str(project.path(value))

    sources = FingerprintSources(
        pick(spec.dns, DEFAULT_SOURCES.dns_csv),
        pick(spec.http, DEFAULT_SOURCES.http_csv),
        pick(spec.cp_blockpages, DEFAULT_SOURCES.cp_blockpages),
        pick(spec.cp_false_positives, DEFAULT_SOURCES.cp_false_positives),
    )
    return load_fingerprints(sources, fetcher)


def _analyze(store: Any, fingerprints: Any, progress: Progress) -> StepResult:
    from netfreedom.pipeline.analyze import analyze_store

    t = time.perf_counter()

    def report(s: Any) -> None:
        progress("analyze", f"{s.stored} verdicts stored")

    summary = analyze_store(store, fingerprints, progress=report)
    detail = f"{summary.stored} new verdicts" if summary.stored else "verdicts up to date"
    if summary.reset:
        detail += f" ({summary.reset} re-analysed after a rule or fingerprint change)"
    return StepResult("analyze", summary.stored > 0, detail, time.perf_counter() - t)


def _score_files(
    project: Project, fetcher: Fetcher, work: Path, progress: Progress
) -> tuple[list[Path], str]:
    """Score files of the project, Freedom House workbooks imported into CSV score files; and a signature."""
    from netfreedom.pipeline.index import import_fh

    paths = list(_files([project.path(p) for p in project.index.scores]))
    parts: list[bytes | str] = [p.read_bytes() for p in paths]
    for i, wb in enumerate(project.index.freedom_house):
        if wb.url is not None:
            progress("index", f"fetching {wb.url}")
            xlsx = fetcher.fetch(wb.url)
        else:
            assert wb.path is not None
            xlsx = project.path(wb.path)
        data = xlsx.read_bytes()
        parts.append(data)
        out = work / f"fh-{i + 1}-{hashlib.sha256(data).hexdigest()[:12]}.csv"
        if not out.is_file():
            progress("index", f"importing {xlsx.name}")
            import_fh(xlsx, out, year=wb.year)
        paths.append(out)
    return paths, _sha(*parts)


def _methodology_ref(project: Project) -> tuple[str | Path, str]:
    ref = project.index.methodology
    path = project.path(ref)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise ConfigError("methodology file does not exist", file=str(path))
        return path, _sha(path.read_bytes())
    return ref, _sha(ref)


def _index(project: Project, db: Path, fetcher: Fetcher, progress: Progress) -> StepResult:
    from netfreedom.pipeline.index import build
    from netfreedom.store import open_store

    t = time.perf_counter()
    work = db.parent / f"{db.stem}.work"
    work.mkdir(parents=True, exist_ok=True)
    scores, scores_sig = _score_files(project, fetcher, work, progress)
    ref, meth_sig = _methodology_ref(project)
    with open_store(db) as store:
        state = _State(store)
        lists_sig = state.values.get("testlists", "")
        signature = _sha(
            scores_sig,
            meth_sig,
            lists_sig,
            _verdicts_signature(store),
            _aggregates_signature(store),
            _events_signature(store),
            ",".join(map(str, sorted(project.years))),
        )
        if state.same("index", signature):
            return StepResult(
                "index", False, f"{len(project.years)} edition(s) unchanged", time.perf_counter() - t
            )
    notes: list[str] = []
    countries = 0
    for year in sorted(project.years):
        progress("index", f"building {year}")
        report = build(ref, scores, year, db)
        countries = max(countries, len(report.result.countries))
        notes += report.notes
    with open_store(db) as store:
        _State(store).save("index", signature)
    detail = f"{', '.join(map(str, sorted(project.years)))}: {countries} countries"
    if notes:
        detail += "; " + "; ".join(dict.fromkeys(notes))
    return StepResult("index", True, detail, time.perf_counter() - t)


def build_project(
    project: Project, *, db: Path, fetcher: Fetcher, progress: Progress | None = None
) -> list[StepResult]:
    """Run every step for ``project`` into the store at ``db``; returns what each step did."""
    from netfreedom.pipeline.ingest import Analysis
    from netfreedom.store import open_store

    say = progress or (lambda step, message: None)
    results: list[StepResult] = []
    db.parent.mkdir(parents=True, exist_ok=True)
    with open_store(db) as store:
        state = _State(store)
        say("ingest", "loading fingerprints")
        fingerprints = _fingerprints(project, fetcher)
        results.append(_ingest(project, store, fetcher, say, Analysis(fingerprints)))
        results.append(_testlists(project, store, fetcher, state, say))
        results.append(_analyze(store, fingerprints, say))
    results.append(_index(project, db, fetcher, say))
    return results

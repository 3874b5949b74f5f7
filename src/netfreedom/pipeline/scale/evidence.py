"""Evidence on the Dask engine: the evidence package's own queries run per country on the workers, straight
over the verdict Parquet partitions.

Every evidence figure depends on one country's verdicts only, so the verdict files are grouped by their
``probe_cc=`` folder (a sanitised value: a true country code maps to exactly one folder, while ``ZZ`` may
hold several odd codes) and each group is one task.  A task opens an in-memory DuckDB on the worker, exposes
its files as the ``verdicts`` table and the store's test lists as ``testlists`` (``over_country``), and runs
an evidence function over it:

- ``evidence.grains.grains`` (``grains_on_cluster``): the client sorts the grains as the local query does
  and folds them with ``evidence.grains.summarise``, so ``evidence_on_cluster`` gives ``evidence_table``'s
  rows, row for row;
- ``evidence.indicators.indicator_figures`` (``indicators_on_cluster``): each task returns the figures of the
  countries it holds, and the client merges them in the local query's country order.

Date partitions outside the window (the coverage period of an edition, for the indicators) are never read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from netfreedom.evidence.aggregate import (
    DEFAULT_MAJORITY,
    Aggregate,
    Axis,
    Grain,
    Period,
    Query,
    has_table,
    summarise,
)
from netfreedom.evidence.base import require_verdicts
from netfreedom.index.methodology import Methodology
from netfreedom.index.results import EvidenceFigure
from netfreedom.pipeline.scale.cluster import EngineOptions, connect, run_in_order, workers_of
from netfreedom.store import Store

_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/probe_cc=([^/]+)/")
T = TypeVar("T")
R = TypeVar("R")
WORKER_MEMORY = "512MB"  # DuckDB's own limit inside a task; it spills to disk beyond it


@dataclass(frozen=True)
class CountryFiles:
    """One task: the verdict files (relative to the Parquet root) of one ``probe_cc=`` folder."""

    folder_cc: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class Window:
    """What every task computes: grains in [since, until) cut by ``period``."""

    since: dt.date
    until: dt.date
    period: Period


def plan(store: Store, since: dt.date, until: dt.date) -> list[CountryFiles]:
    """Verdict files by country folder, keeping only date partitions inside [since, until)."""
    table = store.query(
        "SELECT path FROM files WHERE kind = 'verdicts' AND state = 'done' ORDER BY path", None
    )
    by_cc: dict[str, list[str]] = {}
    for path in table.column("path").to_pylist():
        found = _PARTITION.search(path)
        if found is None:
            continue
        day = dt.date.fromisoformat(found.group(1))
        if since <= day < until:
            by_cc.setdefault(found.group(2), []).append(path)
    return [CountryFiles(cc, tuple(files)) for cc, files in sorted(by_cc.items())]


def over_country(task: CountryFiles, root: str, testlists: pa.Table | None, fn: Callable[[Query], R]) -> R:
    """On a worker: ``fn(query)`` where ``query`` reads an in-memory DuckDB holding one country folder's
    verdict files as ``verdicts`` and the store's test lists (when it has them) as ``testlists`` — the
    tables, names and columns the evidence package's SQL expects of the store."""
    import duckdb

    con = duckdb.connect(config={"threads": 1, "memory_limit": WORKER_MEMORY})
    try:
        # As in the store: days, months and quarters are cut in UTC whatever the worker's zone.
        con.execute("SET TimeZone = 'UTC'")
        files = [str(Path(root) / f) for f in task.files]
        con.execute(
            "CREATE TABLE verdicts AS SELECT * FROM read_parquet($files, hive_partitioning = false)",
            {"files": files},
        )
        if testlists is not None:
            con.register("_testlists", testlists)
            con.execute("CREATE TABLE testlists AS SELECT * FROM _testlists")
            con.unregister("_testlists")

        def query(sql: str, params: Sequence[object] | None = None) -> pa.Table:
            return con.sql(sql, params=list(params) if params is not None else None).to_arrow_table()

        return fn(query)
    finally:
        con.close()


def grains_of(task: CountryFiles, root: str, testlists: pa.Table | None, window: Window) -> list[Grain]:
    """On a worker: the grains of one country's verdict files, by ``evidence.grains.grains``."""
    from netfreedom.evidence.grains import grains

    return over_country(
        task,
        root,
        testlists,
        lambda query: grains(query, window.since, window.until, period=window.period),
    )


def _on_countries(
    store: Store,
    since: dt.date,
    until: dt.date,
    fn: Callable[[CountryFiles, str, pa.Table | None, T], R],
    arg: T,
    *,
    client: Any,
    on_result: Callable[[CountryFiles, R], None],
) -> None:
    """``fn(task, root, testlists, arg)`` on the cluster for each country folder with verdict files in
    [since, until), results handed to ``on_result`` in task order."""
    testlists = store.query("SELECT * FROM testlists", None) if has_table(store.query, "testlists") else None
    shipped = client.scatter(testlists, broadcast=True, hash=False) if testlists is not None else None
    run_in_order(
        client,
        fn,
        plan(store, since, until),
        str(store.parquet_root),
        shipped,
        arg,
        window=2 * workers_of(client) + 1,
        on_result=on_result,
    )


def grains_on_cluster(
    store: Store,
    since: dt.date,
    until: dt.date,
    *,
    period: Period = Period.ALL,
    options: EngineOptions | None = None,
    client: Any = None,
) -> list[Grain]:
    """``evidence.grains.grains(store.query, since, until, period=)``, computed on a Dask cluster."""
    if client is None:
        with connect(options or EngineOptions()) as own:
            return grains_on_cluster(store, since, until, period=period, client=own)
    out: list[Grain] = []
    _on_countries(
        store,
        since,
        until,
        grains_of,
        Window(since, until, period),
        client=client,
        on_result=lambda _task, part: out.extend(part),
    )
    # The local query's ORDER BY (cc, period, item, asn); folder "ZZ" may hold several true countries.
    out.sort(key=lambda g: (g.probe_cc, g.period, g.item, g.asn))
    return out


def evidence_on_cluster(
    store: Store,
    axes: Sequence[Axis],
    since: dt.date,
    until: dt.date,
    *,
    period: Period = Period.YEAR,
    majority: float = DEFAULT_MAJORITY,
    options: EngineOptions | None = None,
    client: Any = None,
) -> dict[Axis, list[Aggregate]]:
    """``evidence.aggregate.evidence_table`` for each of ``axes``, from one pass over the verdicts on a
    Dask cluster."""
    rows = grains_on_cluster(store, since, until, period=period, options=options, client=client)
    return {axis: summarise(rows, axis, majority=majority) for axis in axes}


@dataclass(frozen=True)
class Figures:
    """What every indicator task computes: ``indicator_figures`` for one edition."""

    methodology: Methodology
    year: int
    majority: float


def figures_of(
    task: CountryFiles, root: str, testlists: pa.Table | None, job: Figures
) -> dict[str, list[EvidenceFigure]]:
    """On a worker: ``evidence.indicators.indicator_figures`` over one country folder's verdict files."""
    from netfreedom.evidence.indicators import indicator_figures

    return over_country(
        task,
        root,
        testlists,
        lambda query: indicator_figures(query, job.methodology, job.year, majority=job.majority),
    )


def indicators_on_cluster(
    store: Store,
    methodology: Methodology,
    year: int,
    *,
    majority: float = DEFAULT_MAJORITY,
    options: EngineOptions | None = None,
    client: Any = None,
) -> dict[str, list[EvidenceFigure]]:
    """``evidence.indicators.indicator_figures(store.query, methodology, year, majority=)``, computed on a
    Dask cluster: one task per country folder with verdicts in the edition's coverage period."""
    if client is None:
        with connect(options or EngineOptions()) as own:
            return indicators_on_cluster(store, methodology, year, majority=majority, client=own)
    require_verdicts(store.query)
    since, until = methodology.coverage(year)
    found: dict[str, list[EvidenceFigure]] = {}
    # Every figure depends on one country's verdicts only, and a true country code has one folder, so the
    # tasks' countries never overlap; folder "ZZ" answers for each of the codes it holds.
    job = Figures(methodology, year, majority)
    _on_countries(
        store, since, until, figures_of, job, client=client, on_result=lambda _t, part: found.update(part)
    )
    # The local query's ORDER BY cc: DuckDB compares strings by their UTF-8 bytes, as Python's code points.
    return {cc: found[cc] for cc in sorted(found)}

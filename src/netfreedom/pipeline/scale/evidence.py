"""Evidence on the Dask engine: the one evidence model (``evidence.model``) run per country on the workers,
straight over the verdict Parquet partitions.

Every evidence figure cut by country depends on one country's verdicts only, so the verdict files are grouped
by their ``probe_cc=`` folder (a sanitised value: a true country code maps to exactly one folder, while ``ZZ``
may hold several odd codes) and each group is one task.  A task opens an in-memory DuckDB on the worker,
exposes its files as the ``verdicts`` table and the store's test lists as ``testlists`` (``over_country``),
and runs a function of the model over it — which then reads its facts inline, by the same SQL the store
materialises:

- ``evidence.model.evidence`` (``evidence_on_cluster``): the tasks' Arrow tables are stacked and sorted as
  the local query sorts them, so the answer is the local one, row for row;
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

from netfreedom.errors import InputError
from netfreedom.evidence.facts import has_table, require_verdicts
from netfreedom.evidence.model import Axis, Filters, Query, Window
from netfreedom.index.methodology import Methodology
from netfreedom.index.results import EvidenceFigure
from netfreedom.pipeline.scale.cluster import (
    EngineOptions,
    connect,
    preflight,
    run_in_order,
    ship,
    shipped,
    wait_for_workers,
)
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


def over_country(
    task: CountryFiles, root: str, testlists: pa.Table | str | None, fn: Callable[[Query], R]
) -> R:
    """On a worker: ``fn(query)`` where ``query`` reads an in-memory DuckDB holding one country folder's
    verdict files as ``verdicts`` and the store's test lists (when it has them) as ``testlists`` — the
    tables, names and columns the evidence package's SQL expects of the store."""
    import duckdb

    if isinstance(testlists, str):  # the key under which the client shipped them
        testlists = shipped(testlists)
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


def _on_countries(
    store: Store,
    since: dt.date,
    until: dt.date,
    fn: Callable[[CountryFiles, str, str | None, T], R],
    arg: T,
    *,
    client: Any,
    on_result: Callable[[CountryFiles, R], None],
) -> None:
    """``fn(task, root, testlists, arg)`` on the cluster for each country folder with verdict files in
    [since, until), results handed to ``on_result`` in task order."""
    testlists = store.query("SELECT * FROM testlists", None) if has_table(store.query, "testlists") else None
    workers = wait_for_workers(client)
    preflight(client, store.parquet_root)
    # As a worker plugin, so that a worker that restarts gets the test lists again.
    with ship(client, testlists) as key:
        run_in_order(
            client,
            fn,
            plan(store, since, until),
            str(store.parquet_root),
            key,
            arg,
            window=2 * workers + 1,
            on_result=on_result,
        )


@dataclass(frozen=True)
class Job:
    """What every evidence task computes: ``evidence.model.evidence`` with these arguments."""

    measure: str
    axes: tuple[Axis, ...]
    window: Window
    filters: Filters
    level: float
    examples: int


def table_of(task: CountryFiles, root: str, testlists: pa.Table | str | None, job: Job) -> pa.Table:
    """On a worker: the model's figures over one country folder's verdict files."""
    from netfreedom.evidence.model import evidence

    return over_country(
        task,
        root,
        testlists,
        lambda query: evidence(
            query,
            job.measure,
            axes=job.axes,
            window=job.window,
            filters=job.filters,
            level=job.level,
            examples=job.examples,
        ),
    )


def evidence_on_cluster(
    store: Store,
    measure: str,
    *,
    axes: Sequence[Axis | str] = (Axis.COUNTRY,),
    window: Window | None = None,
    filters: Filters | None = None,
    level: float = 0.9,
    examples: int = 5,
    options: EngineOptions | None = None,
    client: Any = None,
) -> pa.Table:
    """``evidence.model.evidence(store.query, measure, ...)`` computed on a Dask cluster, one task per
    country folder.  The figures must be cut by country (``axes`` holds ``country``): a figure spanning
    countries cannot be split by them."""
    wanted = tuple(Axis(a) for a in axes)
    if Axis.COUNTRY not in wanted:
        raise InputError("on the Dask engine evidence is computed per country: cut it by country")
    if client is None:
        with connect(options or EngineOptions()) as own:
            return evidence_on_cluster(
                store,
                measure,
                axes=wanted,
                window=window,
                filters=filters,
                level=level,
                examples=examples,
                client=own,
            )
    require_verdicts(store.query)
    window = window or Window()
    job = Job(measure, wanted, window, filters or Filters(), level, examples)
    parts: list[pa.Table] = []
    _on_countries(
        store,
        window.since,
        window.until,
        table_of,
        job,
        client=client,
        on_result=lambda _task, part: parts.append(part),
    )
    if not parts:  # no verdict file in the window: the local answer is as empty, with the same columns
        from netfreedom.evidence.model import evidence

        return evidence(store.query, measure, axes=wanted, window=window, filters=job.filters)
    table = pa.concat_tables(parts)
    # The local query's ORDER BY: period, then the axes in order; folder "ZZ" may hold several countries.
    keys = ["period", *(a.value for a in wanted)]
    return table.sort_by([(k, "ascending") for k in keys])


@dataclass(frozen=True)
class Figures:
    """What every indicator task computes: ``indicator_figures`` for one edition."""

    methodology: Methodology
    year: int
    level: float


def figures_of(
    task: CountryFiles, root: str, testlists: pa.Table | str | None, job: Figures
) -> dict[str, list[EvidenceFigure]]:
    """On a worker: ``evidence.indicators.indicator_figures`` over one country folder's verdict files."""
    from netfreedom.evidence.indicators import indicator_figures

    return over_country(
        task,
        root,
        testlists,
        lambda query: indicator_figures(query, job.methodology, job.year, level=job.level),
    )


def indicators_on_cluster(
    store: Store,
    methodology: Methodology,
    year: int,
    *,
    level: float = 0.9,
    options: EngineOptions | None = None,
    client: Any = None,
) -> dict[str, list[EvidenceFigure]]:
    """``evidence.indicators.indicator_figures(store.query, methodology, year, level=)``, computed on a
    Dask cluster: one task per country folder with verdicts in the edition's coverage period."""
    if client is None:
        with connect(options or EngineOptions()) as own:
            return indicators_on_cluster(store, methodology, year, level=level, client=own)
    require_verdicts(store.query)
    since, until = methodology.coverage(year)
    found: dict[str, list[EvidenceFigure]] = {}
    # Every figure depends on one country's verdicts only, and a true country code has one folder, so the
    # tasks' countries never overlap; folder "ZZ" answers for each of the codes it holds.
    job = Figures(methodology, year, level)
    _on_countries(
        store, since, until, figures_of, job, client=client, on_result=lambda _t, part: found.update(part)
    )
    # The local query's ORDER BY cc: DuckDB compares strings by their UTF-8 bytes, as Python's code points.
    return {cc: found[cc] for cc in sorted(found)}

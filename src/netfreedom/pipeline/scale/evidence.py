"""Evidence on the Dask engine: the evidence package's grain query run per country on the workers, straight
over the verdict Parquet partitions.

Every figure of ``evidence`` can be folded from *grains* (verdicts grouped by country, period, URL and
network: ``evidence.grains``, which the evidence package holds to the same answers as its in-store SQL), and
a grain never spans two countries, so the verdict files are grouped by their ``probe_cc=`` folder (a
sanitised value: a true country code maps to exactly one folder) and each group is one task.  A task opens
an in-memory DuckDB on the worker, exposes its files as the ``verdicts`` table and the store's test lists as
``testlists``, and calls ``evidence.grains.grains``.  The client sorts the grains as the local query does and
folds them with ``evidence.grains.summarise``, so the tables are ``evidence_table``'s, row for row.  Date
partitions outside [since, until) are never read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from netfreedom.evidence.aggregate import (
    DEFAULT_MAJORITY,
    Aggregate,
    Axis,
    Grain,
    Period,
    has_table,
    summarise,
)
from netfreedom.pipeline.scale.cluster import EngineOptions, connect, run_in_order, workers_of
from netfreedom.store import Store

_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/probe_cc=([^/]+)/")
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


def grains_of(task: CountryFiles, root: str, testlists: pa.Table | None, window: Window) -> list[Grain]:
    """On a worker: the grains of one country's verdict files, by ``evidence.grains.grains``."""
    import duckdb

    from netfreedom.evidence.grains import grains

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

        return grains(query, window.since, window.until, period=window.period)
    finally:
        con.close()


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
    testlists = store.query("SELECT * FROM testlists", None) if has_table(store.query, "testlists") else None
    shipped = client.scatter(testlists, broadcast=True, hash=False) if testlists is not None else None
    out: list[Grain] = []
    run_in_order(
        client,
        grains_of,
        plan(store, since, until),
        str(store.parquet_root),
        shipped,
        Window(since, until, period),
        window=2 * workers_of(client) + 1,
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

"""The ``aggregates`` table: OONI aggregation rows, one per cell, with their grain and source.

A cell is identified by its country, test, grain, period and optional dimension values (``KEY``), NULL (not
broken down by it) told apart from any value.  Adding a row whose cell is stored already changes nothing
when the counts are equal (a duplicate) and replaces the counts when they differ (``updated``: OONI's
figures for recent days grow as late measurements arrive); re-ingesting a file therefore adds nothing.
Which rows a consumer reads (one layer per country and test; raw verdicts win) is defined once, in
``models.aggregation.layer_sql``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from netfreedom.models.aggregation import COUNTS, OPTIONAL, AggregateRow

TABLE = "aggregates"
COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("probe_cc", pa.string(), "VARCHAR NOT NULL"),
    ("test_name", pa.string(), "VARCHAR NOT NULL"),
    ("layer", pa.string(), "VARCHAR NOT NULL"),
    ("grain", pa.string(), "VARCHAR NOT NULL"),
    ("period_start", pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ NOT NULL"),
    ("period_end", pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ NOT NULL"),
    ("probe_asn", pa.int64(), "BIGINT"),
    ("domain", pa.string(), "VARCHAR"),
    ("input", pa.string(), "VARCHAR"),
    ("category_code", pa.string(), "VARCHAR"),
    ("blocking_type", pa.string(), "VARCHAR"),
    *((name, pa.int64(), "BIGINT NOT NULL") for name in COUNTS),
    ("source", pa.string(), "VARCHAR NOT NULL"),
    ("source_line", pa.int64(), "BIGINT NOT NULL"),
    ("ingested", pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ NOT NULL"),
)
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (\n    "
    + ",\n    ".join(f"{n} {sql}" for n, _, sql in COLUMNS)
    + "\n)"
)
# The identity of a cell.  NULL (not broken down by that dimension) is a value of its own here.
KEY = (
    "probe_cc",
    "test_name",
    "grain",
    "period_start",
    "period_end",
    "probe_asn",
    "domain",
    "input",
    "category_code",
    "blocking_type",
)
_SAME_CELL = " AND ".join(f"a.{k} IS NOT DISTINCT FROM b.{k}" for k in KEY)
_LAYER = "concat_ws(',', " + ", ".join(f"CASE WHEN {d} IS NOT NULL THEN '{d}' END" for d in OPTIONAL) + ")"
_IN = pa.schema([pa.field(n, t) for n, t, _ in COLUMNS if n != "layer"])
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def arrow_rows(rows: Sequence[AggregateRow], now: dt.datetime | None = None) -> pa.Table:
    """The rows as an Arrow table in the table's layout, without ``layer`` (computed by the store)."""
    now = now or dt.datetime.now(dt.UTC)
    micros: dict[dt.datetime, int] = {}  # periods repeat on every row of an export: convert each once

    def us(when: dt.datetime) -> int:
        found = micros.get(when)
        if found is None:
            found = micros[when] = (when - _EPOCH) // dt.timedelta(microseconds=1)
        return found

    stamp = pa.timestamp("us", tz="UTC")
    cols: dict[str, Any] = {
        "probe_cc": [r.probe_cc for r in rows],
        "test_name": [r.test_name for r in rows],
        "grain": [r.grain.value for r in rows],
        "period_start": pa.array([us(r.start) for r in rows], pa.int64()).cast(stamp),
        "period_end": pa.array([us(r.end) for r in rows], pa.int64()).cast(stamp),
        "probe_asn": [r.probe_asn for r in rows],
        "domain": [r.domain for r in rows],
        "input": [r.input for r in rows],
        "category_code": [r.category_code for r in rows],
        "blocking_type": [r.blocking_type for r in rows],
        **{c: [getattr(r, c) for r in rows] for c in COUNTS},
        "source": [r.file for r in rows],
        "source_line": [r.line for r in rows],
        "ingested": pa.array([us(now)] * len(rows), pa.int64()).cast(stamp),
    }
    return pa.table(cols, schema=_IN)


def add_rows(con: Any, rows: Sequence[AggregateRow]) -> tuple[int, int, int]:
    """Insert or refresh ``rows`` on the writer connection ``con`` in one transaction; returns
    ``(added, duplicates, updated)``.  A cell given twice in the batch counts once (the first)."""
    if not rows:
        return 0, 0, 0
    table = arrow_rows(rows)
    con.register("_agg_in", table)
    same = " AND ".join(f"a.{c} = b.{c}" for c in COUNTS)
    names = ", ".join(_LAYER + " AS layer" if n == "layer" else n for n, _, _ in COLUMNS)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _agg AS SELECT {names} FROM _agg_in "
            f"QUALIFY row_number() OVER (PARTITION BY {', '.join(KEY)} ORDER BY source, source_line) = 1"
        )
        changed_row = con.execute(
            f"SELECT count(*) FROM _agg b JOIN {TABLE} a ON {_SAME_CELL} WHERE NOT ({same})"
        ).fetchone()
        changed = int(changed_row[0]) if changed_row else 0
        if changed:
            sets = ", ".join(f"{c} = b.{c}" for c in (*COUNTS, "source", "source_line", "ingested"))
            con.execute(f"UPDATE {TABLE} AS a SET {sets} FROM _agg b WHERE {_SAME_CELL} AND NOT ({same})")
        before_row = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        before = int(before_row[0]) if before_row else 0
        con.execute(f"INSERT INTO {TABLE} SELECT * FROM _agg b ANTI JOIN {TABLE} a ON {_SAME_CELL}")
        after_row = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        added = (int(after_row[0]) if after_row else 0) - before
        con.execute("DROP TABLE _agg")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_agg_in")
    return added, len(rows) - added - changed, changed

"""The ``aggregates`` table: OONI aggregation rows, one per cell, with their grain and source.

A cell is identified by its country, test, layer (which optional dimensions are bound), grain, period and
dimension values (``cell``, a digest of them).  Adding a row whose cell is stored already changes nothing
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

from netfreedom.models.aggregation import COUNTS, AggregateRow

TABLE = "aggregates"
COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("cell", pa.string(), "VARCHAR NOT NULL"),
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
SCHEMA = pa.schema([pa.field(n, t) for n, t, _ in COLUMNS])
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (\n    "
    + ",\n    ".join(f"{n} {sql}" for n, _, sql in COLUMNS)
    + "\n)"
)
_SEP = "\x1f"


def cell_key(row: AggregateRow) -> str:
    """The identity of a row's cell (not a digest: DuckDB hashes it for the join)."""
    parts = [
        row.probe_cc,
        row.test_name,
        row.grain.value,
        row.start.isoformat(),
        row.end.isoformat(),
        *("\x00" if v is None else str(v) for v in _optional(row)),
    ]
    return _SEP.join(parts)


def _optional(row: AggregateRow) -> tuple[Any, ...]:
    return (row.probe_asn, row.domain, row.input, row.category_code, row.blocking_type)


def arrow_rows(rows: Sequence[AggregateRow], now: dt.datetime | None = None) -> pa.Table:
    """The rows as an Arrow table in the table's layout."""
    now = now or dt.datetime.now(dt.UTC)
    cols: dict[str, list[Any]] = {n: [] for n, _, _ in COLUMNS}
    for r in rows:
        cols["cell"].append(cell_key(r))
        cols["probe_cc"].append(r.probe_cc)
        cols["test_name"].append(r.test_name)
        cols["layer"].append(r.layer)
        cols["grain"].append(r.grain.value)
        cols["period_start"].append(r.start)
        cols["period_end"].append(r.end)
        cols["probe_asn"].append(r.probe_asn)
        cols["domain"].append(r.domain)
        cols["input"].append(r.input)
        cols["category_code"].append(r.category_code)
        cols["blocking_type"].append(r.blocking_type)
        for c in COUNTS:
            cols[c].append(getattr(r, c))
        cols["source"].append(r.file)
        cols["source_line"].append(r.line)
        cols["ingested"].append(now)
    return pa.table(cols, schema=SCHEMA)


def add_rows(con: Any, rows: Sequence[AggregateRow]) -> tuple[int, int, int]:
    """Insert or refresh ``rows`` on the writer connection ``con`` in one transaction; returns
    ``(added, duplicates, updated)``.  A cell given twice in the batch counts once (the first)."""
    if not rows:
        return 0, 0, 0
    table = arrow_rows(rows)
    con.register("_agg_in", table)
    same = " AND ".join(f"a.{c} = b.{c}" for c in COUNTS)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _agg AS SELECT * FROM _agg_in "
            "QUALIFY row_number() OVER (PARTITION BY cell ORDER BY source, source_line) = 1"
        )
        changed_row = con.execute(
            f"SELECT count(*) FROM _agg b JOIN {TABLE} a USING (cell) WHERE NOT ({same})"
        ).fetchone()
        changed = int(changed_row[0]) if changed_row else 0
        if changed:
            sets = ", ".join(f"{c} = b.{c}" for c in (*COUNTS, "source", "source_line", "ingested"))
            con.execute(
                f"UPDATE {TABLE} AS a SET {sets} FROM _agg b WHERE a.cell = b.cell AND NOT ({same})"
            )
        before_row = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        before = int(before_row[0]) if before_row else 0
        con.execute(f"INSERT INTO {TABLE} SELECT * FROM _agg b ANTI JOIN {TABLE} a USING (cell)")
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

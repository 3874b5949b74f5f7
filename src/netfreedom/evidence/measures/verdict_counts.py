"""``verdict_counts``: plain counts of verdicts by outcome — every test, every kind, no item rule.

Columns after the keys: ``measurements, ok, blocked, confirmed, down, inconclusive, networks, sources``.
A verdict of a test without a URL has no domain, URL or category (NULL under those axes).
"""

from __future__ import annotations

import pyarrow as pa

from netfreedom.evidence.facts import prelude
from netfreedom.evidence.measures._sql import joins, key_columns, source_table, where
from netfreedom.evidence.model import Axis, Measure, Query, Request, Source, register

COUNTS = ("measurements", "ok", "blocked", "confirmed", "down", "inconclusive", "networks")


def compute(query: Query, request: Request) -> pa.Table:
    exprs, names = key_columns(request, list(request.axes))
    condition, params = where(request, ())
    sql = f"""{prelude(query)}
    SELECT {", ".join(exprs)},
           CAST(sum(f.n) AS BIGINT), CAST(sum(f.ok) AS BIGINT), CAST(sum(f.blocked) AS BIGINT),
           CAST(sum(f.confirmed) AS BIGINT), CAST(sum(f.down) AS BIGINT), CAST(sum(f.inconclusive) AS BIGINT),
           count(DISTINCT f.asn) FILTER (WHERE f.asn <> 0)
    FROM {source_table(request)} f {joins(list(request.axes))}
    WHERE {condition}
    GROUP BY ALL ORDER BY ALL"""
    table = query(sql, params)
    arrays = [table.column(i).cast(pa.string()) for i in range(len(names))]
    arrays += [table.column(len(names) + i).cast(pa.int64()) for i in range(len(COUNTS))]
    arrays.append(pa.array([Source.RAW.value] * table.num_rows, pa.string()))
    return pa.Table.from_arrays(arrays, names=[*names, *COUNTS, "sources"])


MEASURE = register(
    Measure(
        id="verdict_counts",
        title="Verdicts by outcome",
        source=Source.RAW,
        axes=frozenset(Axis),
        compute=compute,
        description="Measurements, ok, blocked, confirmed, down, inconclusive and networks.",
    )
)

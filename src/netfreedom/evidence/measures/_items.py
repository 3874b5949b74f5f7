"""Blocking of items (URLs or tests): the one counting rule behind ``url_blocking`` and ``test_blocking``.

Per figure (period × axis keys): ``tested`` items (at least one conclusive verdict), ``blocked``
(:data:`netfreedom.evidence.model.IS_BLOCKED`), ``confirmed`` (a tested item with a verdict confirmed by a
blockpage fingerprint), ``measurements`` (every verdict behind the figure, inconclusive ones included),
``networks`` (distinct ASNs behind it), the blocked and confirmed shares with their intervals
(``evidence.stats.share``), the effective sample size, and up to ``Request.examples`` example measurement
ids (one blocked measurement per blocked item, or, when none is blocked, one measurement per tested item).

With the ``method`` axis an item counts under every method it was blocked by; ``tested`` is then every
tested item of the figure without the method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from netfreedom.evidence import stats
from netfreedom.evidence.facts import fetch, prelude
from netfreedom.evidence.measures._sql import joins, key_columns, source_table, where
from netfreedom.evidence.model import IS_BLOCKED, IS_TESTED, Axis, Kind, Query, Request, Source

FIGURE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("tested", pa.int64()),
    ("blocked", pa.int64()),
    ("confirmed", pa.int64()),
    ("measurements", pa.int64()),
    ("networks", pa.int64()),
    ("blocked_share", pa.float64()),
    ("blocked_low", pa.float64()),
    ("blocked_high", pa.float64()),
    ("confirmed_share", pa.float64()),
    ("confirmed_low", pa.float64()),
    ("confirmed_high", pa.float64()),
    ("effective_n", pa.float64()),
    ("examples", pa.list_(pa.string())),
    ("sources", pa.string()),
]

# Ties between networks for an item's cluster go to the lowest ASN, so every engine agrees.
_SQL = """{prelude},
f0 AS (SELECT {keys}, f.item_id, f.asn, f.method, f.ok + f.blocked AS c, f.blocked AS b, f.confirmed AS fc,
              f.n, f.conf, f.example, f.sample, f.network_name
       FROM {table} f {joins} WHERE {where}),
ia AS (SELECT {names}, item_id, asn, sum(c) AS c, sum(b) AS b, sum(fc) AS f, sum(n) AS n, sum(conf) AS conf,
              min(example) AS ex, min(sample) AS sm,
              coalesce(list(DISTINCT method) FILTER (WHERE method IS NOT NULL), []) AS methods
       FROM f0 GROUP BY ALL),
it AS (SELECT {names}, item_id, sum(c) AS c, sum(b) AS b, sum(f) AS f, sum(n) AS n, sum(conf) AS conf,
              arg_max(asn, CAST(c AS BIGINT) * 10000000000 - asn) AS cl, min(ex) AS ex, min(sm) AS sm,
              list_distinct(flatten(list(methods))) AS methods
       FROM ia GROUP BY ALL),
iy AS (SELECT *, {tested} AS t, {blocked} AS y, {tested} AND f > 0 AS yc,
              CASE WHEN c > 0 THEN conf / c ELSE 0 END AS w
       FROM it),
cl AS (SELECT {outer}, cl, count(*) AS m, count(*) FILTER (WHERE y) AS yb,
              count(*) FILTER (WHERE yc) AS yf
       FROM {source} WHERE t GROUP BY ALL),
cs AS (SELECT {outer}, count(*) AS k, sum(m * m) AS q2, sum(yb * yb / m) AS rb, sum(yf * yf / m) AS rf
       FROM cl GROUP BY ALL),
g AS (SELECT {outer}, count(*) FILTER (WHERE t) AS tested, count(*) FILTER (WHERE y) AS blocked,
             count(*) FILTER (WHERE yc) AS confirmed, sum(n) AS measurements,
             coalesce(sum(w) FILTER (WHERE t), 0) AS wt, coalesce(sum(w) FILTER (WHERE y), 0) AS wb,
             coalesce(sum(w) FILTER (WHERE yc), 0) AS wf,
             coalesce(nullif(list(ex ORDER BY ex) FILTER (WHERE y AND ex IS NOT NULL), []),
                      list(sm ORDER BY sm) FILTER (WHERE t AND sm IS NOT NULL), [])[1:{examples}] AS examples
      FROM {source} GROUP BY ALL),
nets AS (SELECT {names}, count(DISTINCT asn) FILTER (WHERE asn <> 0) AS networks FROM ia GROUP BY ALL){labels}
SELECT g.*, coalesce(cs.k, 0), coalesce(cs.q2, 0), coalesce(cs.rb, 0), coalesce(cs.rf, 0),
       coalesce(nets.networks, 0){label}
FROM g LEFT JOIN cs USING ({outer_using}) LEFT JOIN nets USING ({names_using}){label_join}
ORDER BY ALL
"""


def item_figures(query: Query, request: Request, kinds: Sequence[Kind]) -> pa.Table:
    """The figures of items of ``kinds`` for ``request`` (module docstring)."""
    axes = list(request.axes)
    by_method = Axis.METHOD in axes
    inner_axes = [a for a in axes if a is not Axis.METHOD]
    key_exprs, names = key_columns(request, inner_axes)
    condition, params = where(request, kinds)
    outer = [*names, "method"] if by_method else names
    if by_method:
        # Each tested item once per method it was blocked by (blocked items) — the figure per method keeps
        # every tested item of its group as the denominator.
        n = ", ".join(names)
        source = (
            "(SELECT iy.* REPLACE (iy.y AND list_contains(iy.methods, mm.method) AS y, "
            "iy.yc AND list_contains(iy.methods, mm.method) AS yc), mm.method FROM iy "
            f"JOIN (SELECT DISTINCT {n}, unnest(methods) AS method FROM iy WHERE y) mm USING ({n}))"
        )
    else:
        source = "iy"
    label = label_join = ""
    labels = ""
    if Axis.NETWORK in axes:
        # The name most of the figure's verdicts gave their network (ties: the first in order).
        keys = ", ".join(names)
        labels = (
            f",\nlabels AS (SELECT {keys}, first(network_name ORDER BY n DESC, network_name) AS network_name "
            f"FROM (SELECT {keys}, network_name, sum(n) AS n FROM f0 GROUP BY ALL) GROUP BY ALL)"
        )
        label = ", coalesce(labels.network_name, '') AS network_name"
        label_join = f" LEFT JOIN labels USING ({', '.join(names)})"
    sql = _SQL.format(
        prelude=prelude(query),
        keys=", ".join(key_exprs),
        names=", ".join(names),
        names_using=", ".join(names),
        outer=", ".join(outer),
        outer_using=", ".join(outer),
        table=source_table(request),
        joins=joins(inner_axes),
        where=condition,
        tested=IS_TESTED,
        blocked=IS_BLOCKED,
        source=source,
        examples=max(0, int(request.examples)),
        label=label,
        label_join=label_join,
        labels=labels,
    )
    rows = fetch(query, sql, params)
    return _table(rows, outer, request, with_label=bool(label))


def _table(rows: list[tuple[Any, ...]], keys: list[str], request: Request, *, with_label: bool) -> pa.Table:
    nk = len(keys)
    out: dict[str, list[Any]] = {k: [] for k in keys}
    if with_label:
        out["network_name"] = []
    for name, _ in FIGURE_FIELDS:
        out[name] = []
    for r in rows:
        tested, blocked, confirmed, measurements, wt, wb, wf, examples = r[nk : nk + 8]
        k, q2, rb, rf, networks = r[nk + 8 : nk + 13]
        if tested == 0 and measurements == 0:
            continue
        b = stats.share(
            int(tested),
            int(blocked),
            weight=wt,
            weighted_blocked=wb,
            clusters=int(k),
            sum_m2=q2,
            sum_y2_m=rb,
            level=request.level,
        )
        c = stats.share(
            int(tested),
            int(confirmed),
            weight=wt,
            weighted_blocked=wf,
            clusters=int(k),
            sum_m2=q2,
            sum_y2_m=rf,
            level=request.level,
        )
        for i, key in enumerate(keys):
            out[key].append(r[i])
        if with_label:
            out["network_name"].append(r[nk + 13])
        out["tested"].append(int(tested))
        out["blocked"].append(int(blocked))
        out["confirmed"].append(int(confirmed))
        out["measurements"].append(int(measurements))
        out["networks"].append(int(networks))
        out["blocked_share"].append(_r(b.value))
        out["blocked_low"].append(_r(b.low))
        out["blocked_high"].append(_r(b.high))
        out["confirmed_share"].append(_r(c.value))
        out["confirmed_low"].append(_r(c.low))
        out["confirmed_high"].append(_r(c.high))
        out["effective_n"].append(_r(b.effective_n))
        out["examples"].append(list(examples or []))
        out["sources"].append(Source.RAW.value)
    fields = [pa.field(k, pa.string()) for k in keys]
    if with_label:
        fields.append(pa.field("network_name", pa.string()))
    fields += [pa.field(n, t) for n, t in FIGURE_FIELDS]
    return pa.Table.from_pydict(out, schema=pa.schema(fields))


def _r(value: float | None) -> float | None:
    """Six decimals: the sums of confidences behind an interval are summed in parallel, in no fixed order,
    and must not make two runs over the same verdicts differ in the last bit."""
    return None if value is None else round(value, 6)

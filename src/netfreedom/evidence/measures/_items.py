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

import pyarrow as pa
import pyarrow.compute as pc

from netfreedom.evidence import stats
from netfreedom.evidence.facts import CATEGORIES, ITEMS, prelude
from netfreedom.evidence.measures._sql import AXIS_SQL, joins, key_columns, source_table, where
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
# ``ia`` holds one row per figure, item and network.  The facts are summed to that grain by their own keys
# first (``ia0``) and only then joined to what is known per item (domain, URL, categories: ``ITEM_AXES``),
# so the join and the fan-out into categories touch one row per item and network, not one per fact row.
# Example ids: a blocked item's least blocked measurement (``ex``, null on most fact rows, so cheap to carry)
# is kept through the sums; the least measurement of a tested item, the examples of figures without a
# blocked one, is looked up afterwards (``fb``…``xl``) for those figures' items only — carrying it through
# the sums for every item would be most of the work.
_SQL = """{prelude},
f0 AS NOT MATERIALIZED (SELECT {fact_keys}, f.item_id, f.asn, f.method, f.ok + f.blocked AS c, f.blocked AS b,
              f.confirmed AS fc, f.n, f.conf, f.example, f.sample, f.network_name
       FROM {table} f {joins} WHERE {where}),
{ia},
it AS (SELECT {names}, item_id, {resums}, arg_max(asn, CAST(c AS BIGINT) * 10000000000 - asn) AS cl
              {it_methods}
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
             nullif(list(ex ORDER BY ex) FILTER (WHERE y AND ex IS NOT NULL), [])[1:{examples}] AS examples
      FROM {source} GROUP BY ALL),
fb AS (SELECT {outer} FROM g WHERE examples IS NULL AND tested > 0 AND {examples} > 0),
fi AS (SELECT s.{outer_s}, s.item_id FROM {source} s JOIN fb ON {fb_on} WHERE s.t),
xs0 AS (SELECT {fact_names}, item_id, min(sample) AS sm FROM f0 f
        SEMI JOIN (SELECT DISTINCT {fi_fact}, item_id FROM fi) q ON {xs0_on} GROUP BY ALL),
xs AS ({xs}),
xl AS (SELECT {fi_outer}, list(xs.sm ORDER BY xs.sm)[1:{examples}] AS sx FROM fi JOIN xs ON {xl_on}
       WHERE xs.sm IS NOT NULL GROUP BY ALL),
nets AS (SELECT {names}, count(DISTINCT asn) FILTER (WHERE asn <> 0) AS networks FROM ia GROUP BY ALL){labels}
SELECT g.* REPLACE (coalesce(g.examples, xl.sx, []) AS examples), coalesce(cs.k, 0), coalesce(cs.q2, 0),
       coalesce(cs.rb, 0), coalesce(cs.rf, 0), coalesce(nets.networks, 0){label}
FROM g LEFT JOIN cs USING ({outer_using}) LEFT JOIN nets USING ({names_using}){label_join}
LEFT JOIN xl ON {g_xl_on}
ORDER BY ALL
"""
# Sums of an item on a network; ``methods`` (the ways it was blocked) only when the method axis asks.
_SUMS = "sum(c) AS c, sum(b) AS b, sum(fc) AS f, sum(n) AS n, sum(conf) AS conf, min(example) AS ex"
_RESUMS = "sum(c) AS c, sum(b) AS b, sum(f) AS f, sum(n) AS n, sum(conf) AS conf, min(ex) AS ex"
_METHODS = ", coalesce(list(DISTINCT method) FILTER (WHERE method IS NOT NULL), []) AS methods"
_REMETHODS = ", list_distinct(flatten(list(methods))) AS methods"
# Axes whose key is known per item (and country) rather than per fact row.
ITEM_AXES = (Axis.DOMAIN, Axis.URL, Axis.CATEGORY)


def item_figures(query: Query, request: Request, kinds: Sequence[Kind]) -> pa.Table:
    """The figures of items of ``kinds`` for ``request`` (module docstring)."""
    axes = list(request.axes)
    by_method = Axis.METHOD in axes
    inner_axes = [a for a in axes if a is not Axis.METHOD]
    _, names = key_columns(request, inner_axes)
    fact_axes = [a for a in inner_axes if a not in ITEM_AXES]
    item_axes = [a for a in inner_axes if a in ITEM_AXES]
    fact_exprs, fact_names = key_columns(request, fact_axes)
    condition, params = where(request, kinds)
    outer = [*names, "method"] if by_method else names
    # Categories are per country: keep the country through the sums when it is not an axis, and sum again
    # once the categories have replaced it.
    cc = "country" if Axis.COUNTRY in fact_axes else "_cc"
    if Axis.CATEGORY in item_axes and cc == "_cc":
        fact_exprs.append("f.probe_cc AS _cc")
        fact_names.append("_cc")
    methods = _METHODS if by_method else ""
    ia0 = f"SELECT {', '.join(fact_names)}, item_id, asn, {_SUMS}{methods} FROM f0 GROUP BY ALL"
    item_join = f"FROM {{rel}} f JOIN {ITEMS} i ON i.item_id = f.item_id"
    if Axis.CATEGORY in item_axes:
        item_join += f" LEFT JOIN {CATEGORIES} c ON c.probe_cc = f.{cc} AND c.item_id = f.item_id"
    # The figure's keys over a relation ``f`` of fact keys and items (``ia0`` or ``f0``).
    keyed = ", ".join(f"f.{n}" if n in fact_names else f"{AXIS_SQL[Axis(n)]} AS {n}" for n in names)
    if not item_axes:
        ia = f"ia AS ({ia0})"
    elif cc == "_cc" and Axis.CATEGORY in item_axes:
        resum = _RESUMS + (_REMETHODS if by_method else "")
        ia = (
            f"ia0 AS ({ia0}),\nia AS (SELECT {keyed}, f.item_id, f.asn, {resum} "
            f"{item_join.format(rel='ia0')} GROUP BY ALL)"
        )
    else:
        more = ", f.methods" if by_method else ""
        ia = (
            f"ia0 AS ({ia0}),\nia AS (SELECT {keyed}, f.item_id, f.asn, f.c, f.b, f.f, f.n, f.conf, f.ex"
            f"{more} {item_join.format(rel='ia0')})"
        )
    # The least measurement of each item the fallback examples need, by the figure's keys.
    shared = [n for n in fact_names if n in names]
    if item_axes:
        xs = f"SELECT {keyed}, f.item_id, min(f.sm) AS sm {item_join.format(rel='xs0')} GROUP BY ALL"
    else:
        xs = "SELECT * FROM xs0"
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
            f"FROM (SELECT {keyed}, f.network_name, sum(f.n) AS n {item_join.format(rel='f0')} GROUP BY ALL) "
            "GROUP BY ALL)"
        )
        label = ", coalesce(labels.network_name, '') AS network_name"
        label_join = f" LEFT JOIN labels USING ({', '.join(names)})"
    sql = _SQL.format(
        prelude=prelude(query),
        fact_keys=", ".join(fact_exprs),
        fact_names=", ".join(fact_names),
        outer_s=", s.".join(outer),
        fb_on=_same(outer, "s", "fb"),
        fi_fact=", ".join(shared),
        xs0_on=_same([*shared, "item_id"], "f", "q"),
        xs=xs,
        fi_outer=", ".join(f"fi.{n}" for n in outer),
        xl_on=_same([*names, "item_id"], "fi", "xs"),
        g_xl_on=_same(outer, "g", "xl"),
        ia=ia,
        resums=_RESUMS,
        it_methods=_REMETHODS if by_method else "",
        names=", ".join(names),
        names_using=", ".join(names),
        outer=", ".join(outer),
        outer_using=", ".join(outer),
        table=source_table(request),
        joins=joins(()),
        where=condition,
        tested=IS_TESTED,
        blocked=IS_BLOCKED,
        source=source,
        examples=max(0, int(request.examples)),
        label=label,
        label_join=label_join,
        labels=labels,
    )
    return _table(query(sql, params), outer, request, with_label=bool(label))


def _same(columns: Sequence[str], a: str, b: str) -> str:
    """A join condition: ``a`` and ``b`` agree on ``columns`` (nulls equal, as in a GROUP BY)."""
    return " AND ".join(f"{a}.{c} IS NOT DISTINCT FROM {b}.{c}" for c in columns)


def _table(found: pa.Table, keys: list[str], request: Request, *, with_label: bool) -> pa.Table:
    nk = len(keys)
    # A figure with nothing tested and no measurement behind it is no figure.
    found = found.filter(pc.or_(pc.greater(found.column(nk), 0), pc.greater(found.column(nk + 3), 0)))

    def col(i: int, kind: pa.DataType | None = None) -> pa.Array:
        return found.column(i).combine_chunks().cast(kind or pa.float64())

    tested, blocked, confirmed, measurements = (col(nk + i, pa.int64()) for i in range(4))
    wt, wb, wf = col(nk + 4), col(nk + 5), col(nk + 6)
    k, q2, rb, rf, networks = col(nk + 8), col(nk + 9), col(nk + 10), col(nk + 11), col(nk + 12, pa.int64())
    common = {"weight": wt, "clusters": k, "sum_m2": q2, "level": request.level}
    b = stats.shares(tested, blocked, weighted_blocked=wb, sum_y2_m=rb, **common)
    c = stats.shares(tested, confirmed, weighted_blocked=wf, sum_y2_m=rf, **common)
    out: dict[str, pa.Array] = {key: col(i, pa.string()) for i, key in enumerate(keys)}
    if with_label:
        out["network_name"] = col(nk + 13, pa.string())
    examples = found.column(nk + 7).combine_chunks()
    out.update(
        tested=tested,
        blocked=blocked,
        confirmed=confirmed,
        measurements=measurements,
        networks=networks,
        blocked_share=_r(b["value"]),
        blocked_low=_r(b["low"]),
        blocked_high=_r(b["high"]),
        confirmed_share=_r(c["value"]),
        confirmed_low=_r(c["low"]),
        confirmed_high=_r(c["high"]),
        effective_n=_r(b["effective_n"]),
        examples=pc.if_else(pc.is_null(examples), pa.scalar([], pa.list_(pa.string())), examples).cast(
            pa.list_(pa.string())
        ),
        sources=pa.array([Source.RAW.value] * found.num_rows, pa.string()),
    )
    return pa.table(out)


def _r(values: pa.Array) -> pa.Array:
    """Six decimals: the sums of confidences behind an interval are summed in parallel, in no fixed order,
    and must not make two runs over the same verdicts differ in the last bit."""
    return pc.round(values, 6)

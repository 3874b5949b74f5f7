"""``aggregate_rates``: anomaly and confirmed rates from OONI's published aggregation counts.

Where the store holds no raw measurements for a country, test and day, OONI's aggregation rows
(``netfreedom ingest`` of an export or an API URL; table ``aggregates``) are the evidence.  They count
measurements, not items: no URL is ever "tested" or "blocked" here, so the figures are rates of
measurements —

* ``anomaly_rate = anomaly / measurements`` (OONI's anomaly: the measurement looked interfered with),
  ``confirmed_rate = confirmed / measurements`` (a blockpage confirmed it);
* their intervals treat each day × network cell of the export as a cluster (each day when the export has no
  network breakdown): measurements of one network on one day share its policy and its outages, so the
  interval is the ratio estimator's cluster-robust one — ``V = k/(k−1) · Σ (a_i − r·n_i)² / N²`` over the
  ``k`` cells — turned into a design effect ``deff = max(1, V·N / (r(1−r)))`` and a Wilson interval on
  ``N / deff`` measurements with Student's t on ``k − 1`` degrees of freedom (``evidence.stats``).  Day-to-day
  and network-to-network variation both widen it; a test measured on one network on one day gets the plain
  binomial interval.

Which rows are read is ``models.aggregation.layer_sql``: raw verdicts win on the days they cover, one
breakdown per country and test, periods inside the window, grains that nest in the asked period.  Every row
says ``sources = aggregates``.

Columns after the keys: ``measurements, ok, anomaly, confirmed, failure, networks, days, cells,
anomaly_rate, anomaly_low, anomaly_high, confirmed_rate, confirmed_low, confirmed_high, effective_n,
design_effect, grains, sources``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from netfreedom.errors import InputError
from netfreedom.evidence import stats
from netfreedom.evidence.facts import has_table
from netfreedom.evidence.measures._items import FIGURE_FIELDS
from netfreedom.evidence.model import (
    IS_BLOCKED,
    IS_TESTED,
    Axis,
    Filters,
    Kind,
    Measure,
    Period,
    Query,
    Request,
    Source,
    Window,
    kind_sql,
    period_sql,
    register,
)
from netfreedom.models.aggregation import RAW_DAYS_FROM_VERDICTS, canonical_test, layer_sql

KIND_SQL = kind_sql("test_name", "coalesce(nullif(input, ''), 'https://aggregate.invalid/')")
AXIS_SQL: dict[Axis, str] = {
    Axis.COUNTRY: "probe_cc",
    Axis.NETWORK: "'AS' || CAST(probe_asn AS VARCHAR)",
    Axis.DOMAIN: "nullif(domain, '')",
    Axis.URL: "nullif(input, '')",
    Axis.CATEGORY: "nullif(category_code, '')",
    Axis.TEST: "test_name",
    Axis.KIND: KIND_SQL,
    Axis.METHOD: "nullif(blocking_type, '')",
}
# The optional dimension a row must have bound to be cut by an axis (or filtered on it).
_NEEDS: dict[Axis, str] = {
    Axis.NETWORK: "probe_asn",
    Axis.DOMAIN: "domain",
    Axis.URL: "input",
    Axis.CATEGORY: "category_code",
    Axis.METHOD: "blocking_type",
}
# Stored grains that add up exactly into each period.
_NESTS: dict[Period, tuple[str, ...]] = {
    Period.DAY: ("hour", "day"),
    Period.WEEK: ("hour", "day", "week"),
    Period.MONTH: ("hour", "day", "month"),
    Period.QUARTER: ("hour", "day", "month"),
    Period.YEAR: ("hour", "day", "month", "year"),
    Period.ALL: ("hour", "day", "week", "month", "year", "range"),
}
FIELDS: list[tuple[str, pa.DataType]] = [
    ("measurements", pa.int64()),
    ("ok", pa.int64()),
    ("anomaly", pa.int64()),
    ("confirmed", pa.int64()),
    ("failure", pa.int64()),
    ("networks", pa.int64()),
    ("days", pa.int64()),
    ("cells", pa.int64()),
    ("anomaly_rate", pa.float64()),
    ("anomaly_low", pa.float64()),
    ("anomaly_high", pa.float64()),
    ("confirmed_rate", pa.float64()),
    ("confirmed_low", pa.float64()),
    ("confirmed_high", pa.float64()),
    ("effective_n", pa.float64()),
    ("design_effect", pa.float64()),
    ("grains", pa.list_(pa.string())),
    ("sources", pa.string()),
]


def rate(events: int, total: int, cells: int, sum_sq: float, level: float) -> stats.Share:
    """The rate ``events / total`` with its cluster-robust interval (module docstring); ``sum_sq`` is
    ``Σ (a_i − r·n_i)²`` over the ``cells`` clusters."""
    if total <= 0:
        return stats.Share(None, 0.0, 1.0, 0.0, 1.0)
    r = events / total
    deff = 1.0
    if cells >= 2 and 0 < r < 1:
        v = cells / (cells - 1) * sum_sq / (total * total)
        deff = max(1.0, v * total / (r * (1 - r)))
    n_eff = total / deff
    df = cells - 1 if cells >= stats.MIN_CLUSTERS else math.inf
    low, high = stats.wilson(r, n_eff, level, df)
    return stats.Share(r, min(low, r), max(high, r), n_eff, deff)


def _where(request: Request) -> tuple[list[str], list[Any], list[str]]:
    """Conditions over ``aggregates`` columns, their parameters, and the optional dimensions needed."""
    w, flt = request.window, request.filters
    needed = {_NEEDS[a] for a in request.axes if a in _NEEDS}
    clauses = [
        "period_start >= ?",
        "period_end <= ?",
        "list_contains(?, grain)",
    ]
    params: list[Any] = [_stamp(w.since), _stamp(w.until), list(_NESTS[w.period])]
    if flt.country:
        clauses.append("probe_cc = ?")
        params.append(flt.country.upper())
    if flt.network:
        text = flt.network.strip().upper().removeprefix("AS")
        if not text.isdigit():
            raise InputError(f"not an ASN: {flt.network!r}")
        clauses.append("probe_asn = ?")
        params.append(int(text))
        needed.add("probe_asn")
    if flt.domain:
        clauses.append("domain = ?")
        params.append(flt.domain.lower())
        needed.add("domain")
    if flt.url:
        clauses.append("input = ?")
        params.append(flt.url)
        needed.add("input")
    if flt.categories:
        clauses.append("list_contains(?, category_code)")
        params.append([c.upper() for c in flt.categories])
        needed.add("category_code")
    if flt.tests:
        clauses.append("list_contains(?, test_name)")
        params.append([canonical_test(t) for t in flt.tests])
    if flt.kinds:
        clauses.append(f"list_contains(?, {KIND_SQL})")
        params.append([Kind(k).value for k in flt.kinds])
    return clauses, params, sorted(needed)


def _stamp(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def has_aggregates(query: Query) -> bool:
    if not has_table(query, "aggregates"):
        return False
    return bool(
        query("SELECT count(*) AS n FROM (SELECT 1 FROM aggregates LIMIT 1)", None).column(0)[0].as_py()
    )


@dataclass(frozen=True)
class _Rows:
    """The aggregation rows a request reads: ``sql`` selects them (``layer_sql``) with their ``keys`` —
    period, then the axes — as the first columns, then ``extra``; ``params`` are its parameters."""

    keys: list[str]
    sql: str
    params: list[Any]

    @staticmethod
    def schema(request: Request, fields: Sequence[tuple[str, pa.DataType]]) -> pa.Schema:
        """The figures' schema: the keys as text, then ``fields``."""
        keys = [pa.field(k, pa.string()) for k in ("period", *(a.value for a in request.axes))]
        return pa.schema(keys + [pa.field(n, t) for n, t in fields])

    @classmethod
    def of(cls, query: Query, request: Request, extra: str) -> _Rows:
        keys = ["period", *(a.value for a in request.axes)]
        clauses, params, needed = _where(request)
        chosen = layer_sql(
            tuple(needed),
            where=" AND ".join(clauses),
            raw_days=RAW_DAYS_FROM_VERDICTS if has_table(query, "verdicts") else None,
        )
        exprs = [f"{period_sql(request.window.period, 'CAST(period_start AS DATE)')} AS period"]
        exprs += [f"{AXIS_SQL[a]} AS {a.value}" for a in request.axes]
        return cls(keys, f"SELECT {', '.join(exprs)}, {extra} FROM ({chosen})", params)

    def key_values(self, values: Sequence[Any], out: dict[str, list[Any]]) -> None:
        """Append a result row's keys (its first values) to ``out``, as text."""
        for key, value in zip(self.keys, values, strict=False):
            out[key].append(None if value is None else str(value))


def compute(query: Query, request: Request) -> pa.Table:
    schema = _Rows.schema(request, FIELDS)
    if not has_aggregates(query):
        return schema.empty_table()
    rows = _Rows.of(
        query,
        request,
        "period_start, probe_asn, grain, anomaly_count AS a, confirmed_count AS c, measurement_count AS n, "
        "ok_count AS ok, failure_count AS fl",
    )
    keys, params, fields = rows.keys, rows.params, list(schema)
    names = ", ".join(keys)
    sql = f"""WITH rows AS ({rows.sql}),
    cells AS (SELECT {names}, period_start, coalesce(probe_asn, -1) AS asn,
                     sum(a) AS a, sum(c) AS c, sum(n) AS n
              FROM rows GROUP BY ALL),
    tot AS (SELECT {names}, sum(n) AS n, sum(ok) AS ok, sum(a) AS a, sum(c) AS c, sum(fl) AS fl,
                   count(DISTINCT probe_asn) FILTER (WHERE probe_asn IS NOT NULL AND probe_asn <> 0) AS nets,
                   count(DISTINCT CAST(period_start AS DATE)) AS days,
                   list(DISTINCT grain ORDER BY grain) AS grains
            FROM rows GROUP BY ALL),
    spread AS (SELECT {", ".join(f"cells.{k}" for k in keys)}, count(*) AS k,
                      sum(power(cells.a - cells.n * tot.a / tot.n, 2)) AS va,
                      sum(power(cells.c - cells.n * tot.c / tot.n, 2)) AS vc
               FROM cells JOIN tot ON {" AND ".join(f"cells.{k} IS NOT DISTINCT FROM tot.{k}" for k in keys)}
               WHERE tot.n > 0 GROUP BY ALL)
    SELECT {", ".join(f"tot.{k} AS k_{i}" for i, k in enumerate(keys))}, tot.n AS v_n, tot.ok AS v_ok,
           tot.a AS v_a, tot.c AS v_c, tot.fl AS v_fl, tot.nets AS v_nets, tot.days AS v_days,
           coalesce(spread.k, 0) AS v_k, coalesce(spread.va, 0) AS v_va, coalesce(spread.vc, 0) AS v_vc,
           tot.grains AS v_grains
    FROM tot LEFT JOIN spread ON {" AND ".join(f"spread.{k} IS NOT DISTINCT FROM tot.{k}" for k in keys)}
    ORDER BY ALL"""
    table = query(sql, params)
    out: dict[str, list[Any]] = {f.name: [] for f in fields}
    nk = len(keys)
    for row in table.to_pylist():
        values = list(row.values())
        n, ok, a, c, fl, nets, days, k, va, vc, grains = values[nk:]
        if not n:
            continue
        anomaly = rate(int(a), int(n), int(k), float(va), request.level)
        confirmed = rate(int(c), int(n), int(k), float(vc), request.level)
        rows.key_values(values, out)
        out["measurements"].append(int(n))
        out["ok"].append(int(ok))
        out["anomaly"].append(int(a))
        out["confirmed"].append(int(c))
        out["failure"].append(int(fl))
        out["networks"].append(int(nets))
        out["days"].append(int(days))
        out["cells"].append(int(k))
        out["anomaly_rate"].append(anomaly.value)
        out["anomaly_low"].append(anomaly.low)
        out["anomaly_high"].append(anomaly.high)
        out["confirmed_rate"].append(confirmed.value)
        out["confirmed_low"].append(confirmed.low)
        out["confirmed_high"].append(confirmed.high)
        out["effective_n"].append(anomaly.effective_n)
        out["design_effect"].append(anomaly.design_effect)
        out["grains"].append(list(grains or []))
        out["sources"].append(Source.AGGREGATES.value)
    return pa.Table.from_pydict(out, schema=schema)


MEASURE = register(
    Measure(
        id="aggregate_rates",
        title="Anomaly and confirmed rates from OONI's aggregation counts",
        source=Source.AGGREGATES,
        axes=frozenset(AXIS_SQL),
        compute=compute,
        description="Measurements, anomalies and confirmed blocking from published aggregates, as rates with "
        "intervals clustered by day and network (where there are no raw measurements).",
    )
)


@dataclass(frozen=True)
class CountryRates:
    """A country's evidence from aggregates in one window: each kind's anomaly rate as a ``stats.Share``
    (what the measured score averages), and the measurements and networks behind them."""

    measurements: int
    networks: int
    kinds: dict[Kind, stats.Share]


def country_rates(
    query: Query, window: Window, *, countries: Sequence[str] = (), level: float = 0.9
) -> dict[str, CountryRates]:
    """``iso2 → CountryRates`` for every country with aggregation rows in ``window`` (or of ``countries``)."""
    from netfreedom.evidence.model import evidence

    flt = Filters(country=countries[0]) if len(countries) == 1 else Filters()
    wanted = {c.upper() for c in countries}
    totals = {
        r["country"]: r
        for r in evidence(
            query, MEASURE.id, axes=(Axis.COUNTRY,), window=window, filters=flt, level=level
        ).to_pylist()
        if not wanted or r["country"] in wanted
    }
    kinds: dict[str, dict[Kind, stats.Share]] = {}
    for r in evidence(
        query, MEASURE.id, axes=(Axis.COUNTRY, Axis.KIND), window=window, filters=flt, level=level
    ).to_pylist():
        if r["country"] not in totals or r["kind"] == Kind.OTHER.value:
            continue
        share = stats.Share(
            r["anomaly_rate"], r["anomaly_low"], r["anomaly_high"], r["effective_n"], r["design_effect"]
        )
        kinds.setdefault(r["country"], {})[Kind(r["kind"])] = share
    return {
        cc: CountryRates(int(t["measurements"]), int(t["networks"]), kinds.get(cc, {}))
        for cc, t in totals.items()
    }


# -- items from aggregates: the index's evidence rules on either source ----------------------------------

# The columns of the raw item figures, so the index's rules read either source alike.
ITEM_FIELDS = FIGURE_FIELDS


def compute_items(query: Query, request: Request) -> pa.Table:
    """Per country: items (a URL of a ``sites`` test when the export breaks down by input, the test itself
    otherwise) tested and blocked by the same rule as raw verdicts (``IS_BLOCKED`` over the item's summed
    ok, anomaly and confirmed counts in the window)."""
    schema = _Rows.schema(request, ITEM_FIELDS)
    if not has_aggregates(query):
        return schema.empty_table()
    item = (
        f"CASE WHEN {KIND_SQL} = '{Kind.SITES.value}' AND nullif(input, '') IS NOT NULL THEN input "
        "ELSE test_name END"
    )
    rows = _Rows.of(
        query,
        request,
        f"{item} AS item, probe_asn, ok_count AS ok, anomaly_count AS a, confirmed_count AS f, "
        "measurement_count AS n",
    )
    keys, params = rows.keys, rows.params
    names = ", ".join(keys)
    sql = f"""WITH rows AS ({rows.sql}),
    it AS (SELECT {names}, item, sum(ok) + sum(a) AS c, sum(a) AS b, sum(f) AS f, sum(n) AS n
           FROM rows GROUP BY ALL),
    nets AS (SELECT {names}, count(DISTINCT probe_asn) FILTER (WHERE probe_asn IS NOT NULL AND probe_asn <> 0)
                    AS networks FROM rows GROUP BY ALL)
    SELECT {", ".join(f"it.{k} AS k_{i}" for i, k in enumerate(keys))},
           count(*) FILTER (WHERE {IS_TESTED}) AS v_tested, count(*) FILTER (WHERE {IS_BLOCKED}) AS v_blocked,
           count(*) FILTER (WHERE {IS_TESTED} AND f > 0) AS v_confirmed, sum(n) AS v_n,
           any_value(nets.networks) AS v_networks
    FROM it JOIN nets ON {" AND ".join(f"it.{k} IS NOT DISTINCT FROM nets.{k}" for k in keys)}
    GROUP BY ALL ORDER BY ALL"""
    out: dict[str, list[Any]] = {f.name: [] for f in schema}
    nk = len(keys)
    for row in query(sql, params).to_pylist():
        values = list(row.values())
        tested, blocked, confirmed, n, networks = (int(v or 0) for v in values[nk:])
        b = stats.share(tested, blocked, level=request.level)
        c = stats.share(tested, confirmed, level=request.level)
        rows.key_values(values, out)
        for name, value in (
            ("tested", tested),
            ("blocked", blocked),
            ("confirmed", confirmed),
            ("measurements", n),
            ("networks", networks),
            ("blocked_share", b.value),
            ("blocked_low", b.low),
            ("blocked_high", b.high),
            ("confirmed_share", c.value),
            ("confirmed_low", c.low),
            ("confirmed_high", c.high),
            ("effective_n", b.effective_n),
            ("examples", []),
            ("sources", Source.AGGREGATES.value),
        ):
            out[name].append(value)
    return pa.Table.from_pydict(out, schema=schema)


ITEMS_MEASURE = register(
    Measure(
        id="aggregate_items",
        title="Blocked tests and URLs from OONI's aggregation counts",
        source=Source.AGGREGATES,
        axes=frozenset({Axis.COUNTRY, Axis.NETWORK, Axis.TEST, Axis.KIND, Axis.CATEGORY}),
        compute=compute_items,
        description="Items (tests, or URLs where the export breaks down by input) tested and blocked by the "
        "raw verdicts' rule, from published aggregates: what the index's evidence rules read where there are "
        "no raw measurements.",
    )
)

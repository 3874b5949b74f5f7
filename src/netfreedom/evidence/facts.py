"""The grain every raw-verdict measure counts from, defined once in SQL.

``evidence_facts``: verdicts grouped by (probe_cc, day, asn, test_name, kind, item_id, network_name, method)
with counts
``n, ok, blocked, confirmed, down, inconclusive``, ``conf`` (the sum of the ``confidence`` of the conclusive
verdicts) and ``example``/``sample`` (the least measurement uid among the blocked / all verdicts of the row).
``evidence_facts_monthly`` is the same by month (``day`` = the month's first day), read when a question cuts
no month.  ``evidence_items (item_id, item, host, is_url)``: an item is a URL for ``sites`` verdicts, the test
name otherwise.  ``evidence_categories (probe_cc, item_id, category)``: a URL's categories (the country's own
list first, else the global lists, matched on the normalised host; ``UNCAT`` when none).
A fact row also keeps the ``network_name`` its verdicts reported (probes sometimes disagree on spelling:
a figure is labelled with the name most of its verdicts gave).

After analysis the publishing step materialises them (:func:`refresh`, skipped when the signature of
``verdicts`` and ``testlists`` is unchanged); :func:`prelude` lets every measure read them either way — the
tables when they exist, otherwise the same SQL as common table expressions (a store that was never published,
a Dask worker's in-memory DuckDB).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from netfreedom.errors import StoreError
from netfreedom.evidence.model import UNCATEGORISED, Kind, Query, host_sql, kind_sql

FACTS = "evidence_facts"
MONTHLY = "evidence_facts_monthly"
ITEMS = "evidence_items"
CATEGORIES = "evidence_categories"
META = "evidence_meta"
TABLES = (ITEMS, FACTS, MONTHLY, CATEGORIES)
# Part of the signature: a store whose facts were built by an older layout is rebuilt, not misread.
LAYOUT = 2

_IS_SITE = f"{kind_sql('v.test_name', 'v.input')} = '{Kind.SITES.value}'"
_ITEM = f"CASE WHEN {_IS_SITE} THEN v.input ELSE v.test_name END"

_ITEMS_SQL = f"""
SELECT CAST(row_number() OVER (ORDER BY item) AS INTEGER) AS item_id, item,
       CASE WHEN is_url THEN {host_sql("item")} ELSE '' END AS host, is_url
FROM (SELECT DISTINCT {_ITEM} AS item,
             {_IS_SITE} AS is_url
      FROM verdicts v)
"""

_FACTS_SQL = f"""
SELECT v.probe_cc,
       CAST(timezone('UTC', v.measurement_start_time) AS DATE) AS day,
       CAST(coalesce(TRY_CAST(substr(v.probe_asn, 3) AS INTEGER), 0) AS INTEGER) AS asn,
       v.test_name,
       {kind_sql("v.test_name", "v.input")} AS kind,
       i.item_id,
       coalesce(v.probe_network_name, '') AS network_name,
       CASE WHEN v.confirmed THEN 'blockpage' WHEN v.outcome = 'blocked' THEN coalesce(v.layer, 'unknown')
       END AS method,
       CAST(count(*) AS INTEGER) AS n,
       CAST(count(*) FILTER (v.outcome = 'ok') AS INTEGER) AS ok,
       CAST(count(*) FILTER (v.outcome = 'blocked') AS INTEGER) AS blocked,
       CAST(count(*) FILTER (coalesce(v.confirmed, false)) AS INTEGER) AS confirmed,
       CAST(count(*) FILTER (v.outcome = 'down') AS INTEGER) AS down,
       CAST(count(*) FILTER (v.outcome = 'inconclusive') AS INTEGER) AS inconclusive,
       CAST(coalesce(sum(least(greatest(coalesce(v.confidence, 1.0), 0.0), 1.0))
            FILTER (v.outcome IN ('ok', 'blocked')), 0) AS DOUBLE) AS conf,
       min(v.measurement_uid) FILTER (v.outcome = 'blocked') AS example,
       min(v.measurement_uid) AS sample
FROM verdicts v JOIN {ITEMS} i ON i.item = {_ITEM}
GROUP BY ALL
"""

_MONTHLY_SQL = f"""
SELECT probe_cc, CAST(date_trunc('month', day) AS DATE) AS day, asn, test_name, kind, item_id, network_name,
       method,
       CAST(sum(n) AS INTEGER) AS n, CAST(sum(ok) AS INTEGER) AS ok, CAST(sum(blocked) AS INTEGER) AS blocked,
       CAST(sum(confirmed) AS INTEGER) AS confirmed, CAST(sum(down) AS INTEGER) AS down,
       CAST(sum(inconclusive) AS INTEGER) AS inconclusive, CAST(sum(conf) AS DOUBLE) AS conf,
       min(example) AS example, min(sample) AS sample
FROM {FACTS} GROUP BY ALL
"""

_LISTED_HOST = host_sql("coalesce(nullif(url, ''), domain)")
# Test lists name the global list differently depending on the source: anything that is not a 2-letter
# country code is a global (or regional) list.  A row is matched on its URL's host (its domain without one).
_CATEGORIES_SQL = f"""
SELECT DISTINCT f.probe_cc, f.item_id, unnest(coalesce(o.cats, g.cats, ['{UNCATEGORISED}'])) AS category
FROM (SELECT DISTINCT probe_cc, item_id FROM {MONTHLY}) f
JOIN {ITEMS} i ON i.item_id = f.item_id AND i.is_url
LEFT JOIN (SELECT upper(cc) AS cc, {_LISTED_HOST} AS host, list(DISTINCT category_code) AS cats
           FROM testlists WHERE length(coalesce(cc, '')) = 2 AND category_code IS NOT NULL GROUP BY ALL) o
       ON o.cc = f.probe_cc AND o.host = i.host
LEFT JOIN (SELECT {_LISTED_HOST} AS host, list(DISTINCT category_code) AS cats
           FROM testlists WHERE length(coalesce(cc, '')) <> 2 AND category_code IS NOT NULL GROUP BY ALL) g
       ON g.host = i.host
"""

_NO_CATEGORIES_SQL = f"""
SELECT DISTINCT f.probe_cc, f.item_id, '{UNCATEGORISED}' AS category
FROM (SELECT DISTINCT probe_cc, item_id FROM {MONTHLY}) f JOIN {ITEMS} i ON i.item_id = f.item_id AND i.is_url
"""


def _definitions(has_lists: bool) -> list[tuple[str, str]]:
    return [
        (ITEMS, _ITEMS_SQL),
        (FACTS, _FACTS_SQL),
        (MONTHLY, _MONTHLY_SQL),
        (CATEGORIES, _CATEGORIES_SQL if has_lists else _NO_CATEGORIES_SQL),
    ]


def fetch(query: Query, sql: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
    """Rows of a query as tuples."""
    table = query(sql, params)
    columns = [c.to_pylist() for c in table.columns]
    return list(zip(*columns, strict=True)) if columns else []


def has_table(query: Query, name: str) -> bool:
    rows = fetch(
        query,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
        [name],
    )
    return bool(rows and rows[0][0])


def require_verdicts(query: Query) -> None:
    """Raise the store error every evidence query gives when nothing has been analysed yet."""
    if not has_table(query, "verdicts"):
        raise StoreError("the store has no verdicts yet: run `netfreedom analyze` first")


class Inline:
    """A :data:`Query` whose evidence relations are always computed inline (a store whose materialised
    tables are stale and cannot be refreshed, e.g. opened read-only)."""

    def __init__(self, query: Query) -> None:
        self.query = query

    def __call__(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        return self.query(sql, params)


def reading(query: Query, stale: bool) -> Query:
    """``query`` itself, or, when the materialised tables are ``stale``, the same reading them inline."""
    return Inline(query) if stale else query


def prelude(query: Query) -> str:
    """``WITH …`` defining the evidence relations for the statement that follows (a measure's own CTEs
    continue with ``, name AS (…)``): the materialised tables when they exist, else the facts SQL inline."""
    if not isinstance(query, Inline) and has_table(query, META):
        return "WITH _evidence AS (SELECT 1)"
    require_verdicts(query)
    parts = [f"{name} AS MATERIALIZED ({sql})" for name, sql in _definitions(has_table(query, "testlists"))]
    return "WITH " + ",\n".join(parts)


def signature(con: Any) -> str:
    """Changes whenever ``verdicts`` or ``testlists`` change in a way the facts can see."""
    query = query_of(con)
    if not has_table(query, "verdicts"):
        return f"v{LAYOUT}:none"
    [row] = fetch(
        query,
        "SELECT count(*), coalesce(max(analysis_version), 0), "
        "coalesce(sum(hash(measurement_uid, outcome, confirmed, layer, confidence, fingerprints_id)), 0) "
        "FROM verdicts",
    )
    tl: Any = (0, 0)
    if has_table(query, "testlists"):
        [tl] = fetch(
            query, "SELECT count(*), coalesce(sum(hash(cc, url, domain, category_code)), 0) FROM testlists"
        )
    return f"v{LAYOUT}:{row[0]}:{row[1]}:{row[2]}:{tl[0]}:{tl[1]}"


def query_of(con: Any) -> Query:
    """A :data:`Query` over a DuckDB connection or cursor."""

    def query(sql: str, params: Sequence[object] | None = None) -> pa.Table:
        return con.sql(sql, params=list(params) if params is not None else None).to_arrow_table()

    return query


def is_fresh(con: Any) -> bool:
    """True when the materialised facts match the store's verdicts and test lists."""
    query = query_of(con)
    if not has_table(query, META):
        return False
    rows = fetch(query, f"SELECT signature FROM {META}")
    return bool(rows) and rows[0][0] == signature(con)


def is_stale(con: Any) -> bool:
    """True when the store holds verdicts the facts do not reflect (missing or out of date)."""
    return has_table(query_of(con), "verdicts") and not is_fresh(con)


def refresh(con: Any, *, force: bool = False) -> bool:
    """Materialise the evidence relations from ``verdicts`` (and ``testlists``) when they changed; True when
    rebuilt.  ``con`` is a writable DuckDB connection; one transaction, so readers see old or new."""
    if not force and is_fresh(con):
        return False
    query = query_of(con)
    sig = signature(con)
    has_verdicts = has_table(query, "verdicts")
    has_lists = has_table(query, "testlists")
    con.execute("BEGIN TRANSACTION")
    try:
        for name in (*TABLES, META):
            con.execute(f"DROP TABLE IF EXISTS {name}")
        if has_verdicts:
            for name, sql in _definitions(has_lists):
                order = " ORDER BY probe_cc, day" if name in (FACTS, MONTHLY) else ""
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM ({sql}){order}")
        else:
            con.execute(_EMPTY)
        con.execute(f"CREATE TABLE {META} AS SELECT ? AS signature, now() AS built_at", [sig])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True


_COUNT_COLUMNS = (
    "n INTEGER, ok INTEGER, blocked INTEGER, confirmed INTEGER, down INTEGER, inconclusive INTEGER, "
    "conf DOUBLE, example VARCHAR, sample VARCHAR"
)
_GRAIN_COLUMNS = (
    "probe_cc VARCHAR, day DATE, asn INTEGER, test_name VARCHAR, kind VARCHAR, item_id INTEGER, "
    "network_name VARCHAR, method VARCHAR"
)
_EMPTY = f"""
CREATE TABLE {ITEMS} (item_id INTEGER, item VARCHAR, host VARCHAR, is_url BOOLEAN);
CREATE TABLE {FACTS} ({_GRAIN_COLUMNS}, {_COUNT_COLUMNS});
CREATE TABLE {MONTHLY} ({_GRAIN_COLUMNS}, {_COUNT_COLUMNS});
CREATE TABLE {CATEGORIES} (probe_cc VARCHAR, item_id INTEGER, category VARCHAR);
"""

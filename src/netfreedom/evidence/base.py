"""What every evidence query shares: the types of its answers, how it reads the store, and the SQL that
selects the verdicts of a window with their URL categories (see ``aggregate`` for the counting rules)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyarrow as pa

from netfreedom.errors import StoreError

# How evidence reads the store: one read-only SQL statement with positional parameters in, an Arrow
# table out (``Store.query``; evidence sits beside the store, so it is handed the function, not imported).
Query = Callable[[str, Sequence[object] | None], pa.Table]

UNCATEGORISED = "UNCAT"
DEFAULT_MAJORITY = 0.5


class Period(StrEnum):
    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"
    ALL = "all"  # one period: the whole window asked for


_PERIOD_SQL = {
    Period.YEAR: "strftime(t, '%Y')",
    Period.QUARTER: "strftime(t, '%Y') || '-Q' || CAST(quarter(t) AS VARCHAR)",
    Period.MONTH: "strftime(t, '%Y-%m')",
    Period.ALL: "'all'",
}


class Axis(StrEnum):
    CATEGORY = "category"
    METHOD = "method"  # dns / tcp / tls / http, or blockpage when a fingerprint confirmed it
    ASN = "asn"
    DOMAIN = "domain"


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One figure: in ``probe_cc`` during ``period``, of ``tested`` URLs under ``key``, how many blocked."""

    probe_cc: str
    period: str
    axis: Axis
    key: str
    label: str
    tested: int
    blocked: int
    confirmed: int
    measurements: int
    networks: int

    @property
    def share_blocked(self) -> float:
        return self.blocked / self.tested if self.tested else 0.0

    @property
    def share_confirmed(self) -> float:
        return self.confirmed / self.tested if self.tested else 0.0


def fetch(query: Query, sql: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
    """Rows of a query as tuples."""
    table = query(sql, params)
    columns = [c.to_pylist() for c in table.columns]
    return list(zip(*columns, strict=True)) if columns else []


def has_table(query: Query, name: str) -> bool:
    rows = fetch(query, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
    return bool(rows and rows[0][0])


_NO_LISTS = (
    "(SELECT NULL::VARCHAR AS cc, NULL::VARCHAR AS domain, NULL::VARCHAR AS category_code WHERE false)"
)

# The verdicts of a window, one row each, with the URL's categories.  Parameters: since, until[, cc].
_BASE = """
WITH v AS (
    SELECT probe_cc AS cc,
           {period} AS period,
           CASE WHEN input LIKE 'http%' THEN input ELSE test_name END AS item,
           coalesce(input LIKE 'http%', false) AS is_url,
           lower(coalesce(domain, '')) AS domain,
           coalesce(probe_asn, '') AS asn,
           coalesce(probe_network_name, '') AS network,
           test_name,
           outcome IN ('ok', 'blocked') AS conclusive,
           outcome = 'blocked' AS blocked,
           coalesce(confirmed, false) AS confirmed,
           CASE WHEN confirmed THEN 'blockpage' ELSE coalesce(layer, 'unknown') END AS method
    FROM (SELECT *, timezone('UTC', measurement_start_time) AS t FROM verdicts)
    WHERE measurement_start_time >= ? AND measurement_start_time < ? {cc_filter}
),
tl AS (SELECT upper(coalesce(cc, '')) AS cc, lower(domain) AS domain, category_code FROM {testlists}),
listed_own AS (SELECT cc, domain, list(DISTINCT category_code ORDER BY category_code) AS cats
               FROM tl WHERE length(cc) = 2 GROUP BY ALL),
listed_global AS (SELECT domain, list(DISTINCT category_code ORDER BY category_code) AS cats
                  FROM tl WHERE length(cc) <> 2 GROUP BY ALL),
vc AS (
    SELECT v.*, CASE WHEN v.is_url THEN coalesce(o.cats, g.cats, ['{uncat}']) ELSE [] END AS cats
    FROM v
    LEFT JOIN listed_own o ON o.cc = v.cc AND o.domain = v.domain
    LEFT JOIN listed_global g ON g.domain = v.domain
)
"""

# A tested item is blocked by the majority rule or by one confirmation.  Parameter: majority.
IS_BLOCKED_SQL = "(f > 0 OR (b > 0 AND b >= ? * c))"


def require_verdicts(query: Query) -> None:
    """Raise the store error every evidence query gives when nothing has been analysed yet."""
    if not has_table(query, "verdicts"):
        raise StoreError("the store has no verdicts yet: run `netfreedom analyze` first")


def base_sql(query: Query, period: Period, probe_cc: str | None) -> str:
    """The common table expressions over the verdicts of a window (see ``_BASE``)."""
    require_verdicts(query)
    return _BASE.format(
        period=_PERIOD_SQL[period],
        cc_filter="AND probe_cc = ?" if probe_cc else "",
        testlists="testlists" if has_table(query, "testlists") else _NO_LISTS,
        uncat=UNCATEGORISED,
    )


def window_params(since: dt.date, until: dt.date, probe_cc: str | None) -> list[object]:
    start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC)
    return [start, end] + ([probe_cc.upper()] if probe_cc else [])

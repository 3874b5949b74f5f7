"""The aggregation cube over verdicts and the queries the API and the site run on it.

Counting ``blocked`` per URL and quarter over millions of verdicts is the query OONI users say times out.
Scanning the store's ``verdicts`` table for it is slow mostly for reasons that have nothing to do with the
question: wide VARCHAR keys, time-zone aware truncation, one row per measurement.  So after every analysis
the cube ``report_facts`` is rebuilt: verdicts grouped by (country, day, network, test, URL, category,
method) with integer ids for URLs and networks, counts per outcome, sorted by country then day so DuckDB's
zone maps skip every other country; ``report_facts_url_monthly`` and ``report_facts_monthly`` are the
same counts by month (without URLs for the second), read whenever a question needs no finer grain.
Every axis the API offers (day … quarter, domain, URL, network, category, country, test, method) is a
coarsening of that grain, so the answers are exact; ``networks`` is a distinct count over the network id,
which every table keeps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

FACTS = "report_facts"
URLS = "report_urls"
META = "report_cube_meta"
NETWORKS = "report_networks"
MONTHLY = "report_facts_monthly"
URL_MONTHLY = "report_facts_url_monthly"
# Part of the signature: a store whose cube was built by an older layout is rebuilt, not misread.
CUBE_VERSION = 2

# Test lists name the global list differently depending on the source; anything that is not a country's
# own list counts as global.
_CATEGORY_SQL = """
WITH tl AS (
    SELECT upper(coalesce(cc, '')) AS cc, lower(domain) AS domain, category_code
    FROM testlists WHERE domain IS NOT NULL AND category_code IS NOT NULL
),
listed_own AS (SELECT cc, domain, min(category_code) AS category FROM tl WHERE length(cc) = 2 GROUP BY ALL),
listed_global AS (SELECT domain, min(category_code) AS category FROM tl WHERE length(cc) <> 2 GROUP BY ALL)
"""


class Axis(StrEnum):
    """What a row or column of an aggregation table is keyed by."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    DOMAIN = "domain"
    URL = "url"
    ASN = "asn"
    CATEGORY = "category"
    PROBE_CC = "probe_cc"
    TEST_NAME = "test_name"
    METHOD = "method"  # how blocked verdicts were blocked: dns / tcp / tls / http / blockpage (confirmed)


_AXIS_SQL: dict[Axis, str] = {
    Axis.DAY: "f.day",
    Axis.WEEK: "date_trunc('week', f.day)",
    Axis.MONTH: "date_trunc('month', f.day)",
    Axis.QUARTER: "date_trunc('quarter', f.day)",
    Axis.YEAR: "date_trunc('year', f.day)",
    Axis.DOMAIN: "u.domain",
    Axis.URL: "u.input",
    Axis.ASN: "'AS' || f.asn",
    Axis.CATEGORY: "f.category",
    Axis.PROBE_CC: "f.probe_cc",
    Axis.TEST_NAME: "f.test_name",
    Axis.METHOD: "f.method",
}

COUNTS = ("measurements", "ok", "blocked", "confirmed", "down", "inconclusive", "networks")


@dataclass(frozen=True)
class Filters:
    """Which verdicts to count.  ``until`` is inclusive (a day)."""

    probe_cc: str | None = None
    probe_asn: str | None = None
    domain: str | None = None
    category: str | None = None
    test_name: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    @property
    def month_aligned(self) -> bool:
        """True when ``since``/``until`` cut at month boundaries, so monthly tables answer exactly."""
        return (self.since is None or _month_start(self.since)) and (
            self.until is None or _month_end(self.until)
        )

    def where(self) -> tuple[str, list[Any]]:
        """A SQL condition over the cube (``f``, with its URLs ``u``) and its parameters.  (Rows of single
        verdicts are selected by the Python API's one filter: ``api.store.select_rows``.)"""
        clauses: list[str] = []
        params: list[Any] = []
        if self.probe_cc:
            clauses.append("f.probe_cc = ?")
            params.append(self.probe_cc.upper())
        if self.probe_asn:
            clauses.append("f.asn = ?")
            params.append(asn_number(self.probe_asn))
        if self.domain:
            clauses.append("u.domain = ?")
            params.append(self.domain.lower())
        if self.category:
            # Categories come from the test lists, joined once when the cube is built.
            clauses.append("f.category = ?")
            params.append(self.category.upper())
        if self.test_name:
            clauses.append("f.test_name = ?")
            params.append(self.test_name)
        if self.since:
            clauses.append("f.day >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("f.day <= ?")
            params.append(self.until)
        return (" AND ".join(clauses) or "TRUE"), params


def _month_start(day: dt.date) -> bool:
    return day.day == 1


def _month_end(day: dt.date) -> bool:
    return (day + dt.timedelta(days=1)).day == 1


def asn_number(asn: str) -> int:
    """``AS1234`` (or ``1234``) → 1234; a ValueError for anything else."""
    text = asn.strip().upper().removeprefix("AS")
    if not text.isdigit():
        raise ValueError(f"not an ASN: {asn!r}")
    return int(text)


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _has_table(con: Any, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
        [name],
    ).fetchone()
    return bool(row and row[0])


def verdicts_signature(con: Any) -> str:
    """Changes whenever the verdicts table changes in a way the cube can see."""
    if not _has_table(con, "verdicts"):
        return f"v{CUBE_VERSION}:none"
    row = con.execute(
        "SELECT count(*), coalesce(max(analysis_version), 0), "
        "coalesce(sum(hash(measurement_uid, outcome, confirmed, layer, fingerprints_id)), 0) FROM verdicts"
    ).fetchone()
    tl: Any = (0, 0)
    if _has_table(con, "testlists"):
        tl = con.execute(
            "SELECT count(*), coalesce(sum(hash(cc, url, domain, category_code)), 0) FROM testlists"
        ).fetchone()
    return f"v{CUBE_VERSION}:{row[0]}:{row[1]}:{row[2]}:{tl[0]}:{tl[1]}"


def cube_is_fresh(con: Any) -> bool:
    if not _has_table(con, META):
        return False
    row = con.execute(f"SELECT signature FROM {META}").fetchone()
    return bool(row) and row[0] == verdicts_signature(con)


def refresh_cube(con: Any, *, force: bool = False) -> bool:
    """Rebuild the cube from ``verdicts`` (and ``testlists``) when they changed; True when rebuilt.

    ``con`` is a writable DuckDB connection.  Runs in one transaction, so readers see the old cube or the
    new one.
    """
    if not force and cube_is_fresh(con):
        return False
    signature = verdicts_signature(con)
    has_verdicts = _has_table(con, "verdicts")
    has_lists = _has_table(con, "testlists")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("BEGIN TRANSACTION")
    try:
        for name in (FACTS, URLS, META, NETWORKS, MONTHLY, URL_MONTHLY):
            con.execute(f"DROP TABLE IF EXISTS {name}")
        if has_verdicts:
            con.execute(
                f"CREATE TABLE {URLS} AS SELECT "
                "CAST(row_number() OVER (ORDER BY input) AS INTEGER) AS url_id, "
                "input, domain FROM (SELECT DISTINCT coalesce(input, '') AS input, "
                "lower(coalesce(domain, '')) AS domain FROM verdicts)"
            )
            category = "coalesce(listed_own.category, listed_global.category)" if has_lists else "NULL"
            joins = (
                "LEFT JOIN listed_own ON listed_own.cc = v.probe_cc AND listed_own.domain = lower(v.domain) "
                "LEFT JOIN listed_global ON listed_global.domain = lower(v.domain)"
                if has_lists
                else ""
            )
            con.execute(
                f"""CREATE TABLE {FACTS} AS {_CATEGORY_SQL if has_lists else ""}
                SELECT v.probe_cc, CAST(v.measurement_start_time AS DATE) AS day,
                    CAST(coalesce(TRY_CAST(substr(v.probe_asn, 3) AS INTEGER), 0) AS INTEGER) AS asn,
                    v.test_name, u.url_id, CAST({category} AS VARCHAR) AS category,
                    CASE WHEN v.confirmed THEN 'blockpage' WHEN v.outcome = 'blocked'
                         THEN coalesce(v.layer, 'unknown') END AS method,
                    CAST(count(*) AS INTEGER) AS n,
                    CAST(count(*) FILTER (v.outcome = 'ok') AS INTEGER) AS ok,
                    CAST(count(*) FILTER (v.outcome = 'blocked') AS INTEGER) AS blocked,
                    CAST(count(*) FILTER (v.confirmed) AS INTEGER) AS confirmed,
                    CAST(count(*) FILTER (v.outcome = 'down') AS INTEGER) AS down,
                    CAST(count(*) FILTER (v.outcome = 'inconclusive') AS INTEGER) AS inconclusive
                FROM verdicts v
                JOIN {URLS} u ON u.input = coalesce(v.input, '') AND u.domain = lower(coalesce(v.domain, ''))
                {joins}
                GROUP BY ALL ORDER BY 1, 2"""
            )
            # The most common name each network reported: probes sometimes disagree on spelling.
            con.execute(
                f"CREATE TABLE {NETWORKS} AS SELECT "
                "CAST(coalesce(TRY_CAST(substr(probe_asn, 3) AS INTEGER), 0) AS INTEGER) AS asn, "
                "mode(probe_network_name) AS name FROM verdicts GROUP BY 1"
            )
        else:
            con.execute(
                f"CREATE TABLE {NETWORKS} (asn INTEGER, name VARCHAR);"
                f"CREATE TABLE {URLS} (url_id INTEGER, input VARCHAR, domain VARCHAR);"
                f"CREATE TABLE {FACTS} (probe_cc VARCHAR, day DATE, asn INTEGER, test_name VARCHAR, "
                "url_id INTEGER, category VARCHAR, method VARCHAR, n INTEGER, ok INTEGER, blocked INTEGER, "
                "confirmed INTEGER, "
                "down INTEGER, inconclusive INTEGER)"
            )
        # Coarser copies for the questions that need neither days nor (for the second) URLs: a country
        # measured every day reads a month's rows once per URL and network instead of once per day, and the
        # country × category table reads a table a fraction of the size.
        sums = (
            "CAST(sum(n) AS INTEGER) AS n, CAST(sum(ok) AS INTEGER) AS ok, "
            "CAST(sum(blocked) AS INTEGER) AS blocked, CAST(sum(confirmed) AS INTEGER) AS confirmed, "
            "CAST(sum(down) AS INTEGER) AS down, CAST(sum(inconclusive) AS INTEGER) AS inconclusive"
        )
        con.execute(
            f"CREATE TABLE {URL_MONTHLY} AS SELECT probe_cc, CAST(date_trunc('month', day) AS DATE) AS day, "
            f"asn, test_name, url_id, category, method, {sums} FROM {FACTS} GROUP BY ALL ORDER BY 1, 2"
        )
        con.execute(
            f"CREATE TABLE {MONTHLY} AS SELECT probe_cc, day, asn, test_name, category, method, {sums} "
            f"FROM {URL_MONTHLY} GROUP BY ALL ORDER BY 1, 2"
        )
        con.execute(f"CREATE TABLE {META} AS SELECT ? AS signature, now() AS built_at", [signature])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True


def aggregate(con: Any, filters: Filters, axis_x: Axis | None = None, axis_y: Axis | None = None) -> Table:
    """Counts of measurements, ok, blocked, confirmed, down, inconclusive and networks, by up to two axes."""
    axes = [a for a in (axis_x, axis_y) if a is not None]
    if len(axes) == 2 and axes[0] == axes[1]:
        axes = axes[:1]
    keys = [f"{_AXIS_SQL[a]} AS {a.value}" for a in axes]
    where, params = filters.where()
    needs_urls = any(a in (Axis.DOMAIN, Axis.URL) for a in axes) or filters.domain
    join = f"JOIN {URLS} u USING (url_id)" if needs_urls else ""
    needs_days = any(a in (Axis.DAY, Axis.WEEK) for a in axes) or not filters.month_aligned
    table = FACTS if needs_days else URL_MONTHLY if needs_urls else MONTHLY
    select = ", ".join(
        [
            *keys,
            "CAST(sum(f.n) AS BIGINT) AS measurements",
            "CAST(sum(f.ok) AS BIGINT) AS ok",
            "CAST(sum(f.blocked) AS BIGINT) AS blocked",
            "CAST(sum(f.confirmed) AS BIGINT) AS confirmed",
            "CAST(sum(f.down) AS BIGINT) AS down",
            "CAST(sum(f.inconclusive) AS BIGINT) AS inconclusive",
            "count(DISTINCT f.asn) AS networks",
        ]
    )
    group = f"GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    order = f"ORDER BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    sql = f"SELECT {select} FROM {table} f {join} WHERE {where} {group} {order}"
    cur = con.execute(sql, params)
    columns = tuple(d[0] for d in cur.description)
    rows = [tuple(_plain(v) for v in row) for row in cur.fetchall()]
    if not keys and rows and rows[0][0] is None:
        rows = [(0, 0, 0, 0, 0, 0, 0)]
    return Table(columns, rows)


def _plain(value: Any) -> Any:
    """DuckDB returns datetimes for truncated dates; the API speaks ISO dates."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


MEASUREMENT_COLUMNS: Sequence[str] = (
    "measurement_uid",
    "measurement_start_time",
    "probe_cc",
    "probe_asn",
    "test_name",
    "input",
    "domain",
    "outcome",
    "layer",
    "reason",
    "confidence",
    "confirmed",
    "fingerprint",
)

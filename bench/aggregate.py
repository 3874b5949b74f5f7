"""Evidence benchmark: 10 M synthetic verdicts, the tables researchers ask for most, through the one model.

    python bench/aggregate.py [--rows 10000000 | --quick] [--db PATH] [--keep]

``--quick`` is 1 M rows (about a tenth of the time).  With ``--db PATH --keep`` a second run reuses the store
and its evidence tables (rebuilt only when the verdicts changed), so the questions alone are timed.

Builds a DuckDB store with a ``verdicts`` table (schema of docs/architecture.md) and a ``testlists`` table,
filled with synthetic but realistically shaped rows: 60 countries with Zipf-like volumes, 5–40 networks per
country, a 1 500-URL global list plus 300 country URLs, two years, blocking concentrated on some URLs in
some countries.  Then it materialises the evidence tables (``evidence.facts.refresh``, once per analysis
run) and times, median of 5 runs each, ``evidence.model.evidence`` for:

- the URL × quarter table (``url_blocking``: tested / blocked / confirmed URLs with intervals, and
  ``verdict_counts``: counts by outcome) for the largest country (the worst case) and a median-sized one;
- the country × category table (``url_blocking``) over all rows;

and the same questions asked of the raw ``verdicts`` table in the same run (the baseline; the same numbers of
rows, asserted).  Wall-clock and CPU seconds (all threads of the process) are both printed, as medians: on
a shared machine the CPU time and the ratios are the steadier figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from netfreedom.evidence import facts
from netfreedom.evidence.model import Axis, Filters, Period, Window, evidence

COUNTRIES = 60


def build_store(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    con.execute("SET TimeZone = 'UTC'")
    # Country weights ~ 1/rank: a few countries hold most measurements, as in the OONI archive.
    con.execute(
        f"""CREATE TABLE countries AS
        SELECT i AS k, chr(CAST(65 + i // 26 % 26 AS INTEGER)) || chr(CAST(65 + i % 26 AS INTEGER)) AS cc,
               5 + (i * 7) % 36 AS networks,
               (1.0 / (i + 1)) / sum(1.0 / (i + 1)) OVER () AS w
        FROM range({COUNTRIES}) t(i)"""
    )
    con.execute(
        "CREATE TABLE cum AS SELECT k, cc, networks, sum(w) OVER (ORDER BY k) - w AS lo, "
        "sum(w) OVER (ORDER BY k) AS hi FROM countries"
    )
    con.execute(
        f"""CREATE TABLE verdicts AS
        WITH base AS (
            SELECT i, (hash(i) % 1000000) / 1000000.0 AS u, hash(i * 31) AS h1, hash(i * 17) AS h2
            FROM range({rows}) t(i)
        ), m AS (
            SELECT b.i, c.cc, c.networks, b.h1, b.h2,
                   CASE WHEN b.h1 % 6 = 0 THEN 1500 + (b.h2 % 300) ELSE b.h2 % 1500 END AS url_k
            FROM base b JOIN cum c ON b.u >= c.lo AND b.u < c.hi
        )
        SELECT
            printf('20%06d_%s_%012d', i % 1000000, cc, i) AS measurement_uid,
            3 AS analysis_version, 'bench' AS fingerprints_id,
            TIMESTAMPTZ '2017-01-01 00:00:00+00' + to_seconds(CAST(h1 % 63072000 AS BIGINT))
                AS measurement_start_time,
            cc AS probe_cc,
            'AS' || (1000 + (h2 // 7) % networks + 40 * (ascii(cc[1]) * 26 + ascii(cc[2]))) AS probe_asn,
            'Network ' || ((h2 // 7) % networks) AS probe_network_name,
            'web_connectivity' AS test_name, '0.4.3' AS test_version,
            'report-' || (i // 1500) AS report_id,
            CASE WHEN url_k >= 1500 THEN 'https://' || lower(cc) || '-site' || url_k || '.example/'
                 ELSE 'https://site' || url_k || '.example/' END AS input,
            CASE WHEN url_k >= 1500 THEN lower(cc) || '-site' || url_k || '.example'
                 ELSE 'site' || url_k || '.example' END AS domain,
            CASE WHEN hash(cc, url_k) % 10 = 0 AND h1 % 10 < 8 THEN 'blocked'
                 WHEN h1 % 40 = 1 THEN 'down' WHEN h1 % 25 = 2 THEN 'inconclusive'
                 WHEN h1 % 50 = 3 THEN 'blocked' ELSE 'ok' END AS outcome,
            CASE WHEN hash(cc, url_k) % 10 = 0 AND h1 % 10 < 8
                 THEN ['dns', 'tcp', 'http'][CAST(1 + hash(cc) % 3 AS BIGINT)]
                 ELSE NULL END AS layer,
            'ok' AS reason, 0.9 AS confidence,
            (hash(cc, url_k) % 30 = 0 AND h1 % 10 < 8) AS confirmed,
            NULL::VARCHAR AS fingerprint, NULL::VARCHAR AS blocking, NULL::BOOLEAN AS accessible
        FROM m"""
    )
    con.execute(
        """CREATE TABLE testlists AS
        SELECT 'global' AS cc, 'https://site' || k || '.example/' AS url, 'site' || k || '.example' AS domain,
               ['NEWS', 'POLR', 'HUMR', 'LGBT', 'COMT', 'ANON', 'SRCH', 'GRP', 'MMED', 'REL', 'PORN', 'GAME']
                   [CAST(1 + k % 12 AS BIGINT)]
                   AS category_code
        FROM range(1500) t(k)
        UNION ALL
        SELECT lower(c.cc), 'https://' || lower(c.cc) || '-site' || t.j || '.example/',
               lower(c.cc) || '-site' || t.j || '.example',
               ['NEWS', 'POLR', 'HUMR', 'LGBT'][CAST(1 + t.j % 4 AS BIGINT)]
        FROM countries c, range(1500, 1800) t(j)"""
    )
    con.execute("DROP TABLE cum; DROP TABLE countries")


# The baselines count the same things straight from the raw verdicts (the majority rule per URL and
# quarter, categories joined on the host, without the intervals).
RAW_URL_QUARTER = """
WITH items AS (
    SELECT input AS url, date_trunc('quarter', CAST(timezone('UTC', measurement_start_time) AS DATE)) AS q,
           count(*) FILTER (outcome IN ('ok', 'blocked')) AS c, count(*) FILTER (outcome = 'blocked') AS b,
           count(*) FILTER (confirmed) AS f, count(*) AS n, count(DISTINCT probe_asn) AS networks
    FROM verdicts WHERE probe_cc = ? GROUP BY 1, 2)
SELECT url, q, c > 0 AS tested, c > 0 AND (f > 0 OR (b > 0 AND b >= 0.5 * c)) AS blocked, n, networks
FROM items ORDER BY 1, 2"""

RAW_URL_QUARTER_COUNTS = """
SELECT input AS url, date_trunc('quarter', CAST(timezone('UTC', measurement_start_time) AS DATE)) AS quarter,
       count(*) AS measurements,
       count(*) FILTER (outcome = 'ok') AS ok, count(*) FILTER (outcome = 'blocked') AS blocked,
       count(*) FILTER (confirmed) AS confirmed, count(*) FILTER (outcome = 'down') AS down,
       count(DISTINCT probe_asn) AS networks
FROM verdicts WHERE probe_cc = ? GROUP BY 1, 2 ORDER BY 1, 2"""

RAW_COUNTRY_CATEGORY = """
WITH listed_own AS (SELECT upper(cc) AS cc, domain, list(DISTINCT category_code) AS cats FROM testlists
                    WHERE length(cc) = 2 GROUP BY ALL),
     listed_global AS (SELECT domain, list(DISTINCT category_code) AS cats FROM testlists
                       WHERE length(cc) <> 2 GROUP BY ALL),
     items AS (SELECT v.probe_cc, v.input, any_value(coalesce(o.cats, g.cats, ['UNCAT'])) AS cats,
                      count(*) FILTER (outcome IN ('ok', 'blocked')) AS c,
                      count(*) FILTER (outcome = 'blocked') AS b, count(*) FILTER (confirmed) AS f
               FROM verdicts v LEFT JOIN listed_own o ON o.cc = v.probe_cc AND o.domain = v.domain
               LEFT JOIN listed_global g ON g.domain = v.domain GROUP BY ALL),
     per AS (SELECT probe_cc, unnest(cats) AS category, c, b, f FROM items)
SELECT probe_cc, category, count(*) FILTER (WHERE c > 0) AS tested,
       count(*) FILTER (WHERE c > 0 AND (f > 0 OR (b > 0 AND b >= 0.5 * c))) AS blocked
FROM per GROUP BY 1, 2 ORDER BY 1, 2"""


def median_of(fn: object, runs: int = 5) -> tuple[float, float, int]:
    """Median wall-clock and CPU seconds of ``runs`` calls, and the rows the last one gave."""
    walls, cpus = [], []
    n = 0
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        n = fn()  # type: ignore[operator]
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="1 M rows instead of --rows")
    ap.add_argument("--db", type=Path, default=None, help="store path (default: a temp folder)")
    ap.add_argument("--keep", action="store_true", help="reuse an existing --db instead of rebuilding it")
    args = ap.parse_args()
    if args.quick:
        args.rows = 1_000_000

    tmp = tempfile.TemporaryDirectory(prefix="nf-bench-agg-")
    db = args.db or Path(tmp.name) / "bench.duckdb"
    fresh = not (args.keep and db.exists())
    if fresh and db.exists():
        db.unlink()
    con = duckdb.connect(str(db))
    if fresh:
        t = time.perf_counter()
        build_store(con, args.rows)
        print(f"store: {args.rows:,} verdict rows generated in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    rebuilt = facts.refresh(con, force=fresh)  # with --keep, only when the verdicts changed
    took = time.perf_counter() - t
    built = f"built in {took:.1f} s (once per analysis run)" if rebuilt else "reused (fresh)"
    for name in (facts.FACTS, facts.MONTHLY):
        n = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        print(f"evidence tables: {name} {n:,} rows")
    print(f"                 {built}")
    sizes = con.execute("SELECT probe_cc, count(*) FROM verdicts GROUP BY 1 ORDER BY 2 DESC").fetchall()
    largest, median_cc = sizes[0], sizes[len(sizes) // 2]
    con.close()

    ro = duckdb.connect(str(db), read_only=True)
    query = facts.query_of(ro)
    quarters = Window(period=Period.QUARTER)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nmachine: {os.cpu_count()} cores, load average {load} (timings scale with it)")
    print(
        f"\n{'question (median of 5)':52} {'model s':>8} {'raw s':>8} {'raw/model':>10}"
        f" {'model cpu':>10} {'raw cpu':>8} {'cpu ratio':>10} {'rows':>8}"
    )

    def report(label: str, model: object, raw: object) -> None:
        m, mc, n = median_of(model)
        r, rc, n_raw = median_of(raw)
        assert n == n_raw, (label, n, n_raw)
        print(f"{label:52} {m:8.3f} {r:8.3f} {r / m:9.1f}× {mc:10.3f} {rc:8.3f} {rc / mc:9.1f}× {n:8,}")

    for cc, rows in (largest, median_cc):
        flt = Filters(country=cc)
        report(
            f"URL × quarter, url_blocking, {cc} ({rows:,} rows)",
            lambda flt=flt: (
                evidence(query, "url_blocking", axes=(Axis.URL,), window=quarters, filters=flt).num_rows
            ),
            lambda cc=cc: len(ro.execute(RAW_URL_QUARTER, [cc]).fetchall()),
        )
        report(
            f"URL × quarter, verdict_counts, {cc}",
            lambda flt=flt: (
                evidence(query, "verdict_counts", axes=(Axis.URL,), window=quarters, filters=flt).num_rows
            ),
            lambda cc=cc: len(ro.execute(RAW_URL_QUARTER_COUNTS, [cc]).fetchall()),
        )
    report(
        "country × category, url_blocking, all rows",
        lambda: evidence(query, "url_blocking", axes=(Axis.COUNTRY, Axis.CATEGORY)).num_rows,
        lambda: len(ro.execute(RAW_COUNTRY_CATEGORY).fetchall()),
    )
    ro.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()

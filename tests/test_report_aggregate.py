"""The aggregation cube: exact counts on every axis, refreshed only when verdicts change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from netfreedom.api.filters import Filters as ApiFilters
from netfreedom.api.store import count_rows, select_rows
from netfreedom.report.aggregate import Axis, Filters, aggregate, refresh_cube

from ._report_data import verdict, write_verdicts

ROWS = [
    verdict("u1", "2018-01-05 10:00:00", "IR AS44244", "https://news.example/a", "blocked", layer="dns"),
    verdict(
        "u2",
        "2018-01-06 10:00:00",
        "IR AS197207",
        "https://news.example/a",
        "blocked",
        confirmed=True,
        layer="http",
    ),
    verdict("u3", "2018-04-02 10:00:00", "IR AS44244", "https://news.example/a", "ok"),
    verdict("u4", "2018-04-02 11:00:00", "IR AS44244", "https://shop.example/", "ok"),
    verdict("u5", "2018-04-03 11:00:00", "IR AS44244", "https://shop.example/", "down"),
    verdict("u6", "2018-02-01 00:00:00", "DE AS3320", "https://news.example/a", "ok"),
    verdict("u7", "2018-02-01 23:59:59", "DE AS3320", None, "inconclusive", test_name="telegram"),
]
LISTS = [
    ("global", "https://news.example/a", "news.example", "NEWS"),
    ("global", "https://shop.example/", "shop.example", "COMM"),
    ("ir", "https://news.example/a", "news.example", "POLR"),  # a country's own list wins for that country
]


@pytest.fixture()
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    db = tmp_path / "store.duckdb"
    write_verdicts(db, ROWS, LISTS)
    c = duckdb.connect(str(db))
    assert refresh_cube(c) is True
    return c


def test_url_by_quarter_counts_are_exact(con: duckdb.DuckDBPyConnection) -> None:
    table = aggregate(con, Filters(probe_cc="ir"), Axis.URL, Axis.QUARTER)
    assert table.columns[:2] == ("url", "quarter")
    got = {(r["url"], r["quarter"]): r for r in table.records()}
    q1 = got[("https://news.example/a", "2018-01-01")]
    assert (q1["measurements"], q1["blocked"], q1["confirmed"], q1["ok"], q1["networks"]) == (2, 2, 1, 0, 2)
    q2 = got[("https://shop.example/", "2018-04-01")]
    assert (q2["measurements"], q2["ok"], q2["down"], q2["networks"]) == (2, 1, 1, 1)
    assert len(got) == 3


def test_country_by_category_uses_the_countrys_own_list_first(con: duckdb.DuckDBPyConnection) -> None:
    got = {
        (r["probe_cc"], r["category"]): r["measurements"]
        for r in aggregate(con, Filters(), Axis.PROBE_CC, Axis.CATEGORY).records()
    }
    assert got == {("DE", "NEWS"): 1, ("DE", None): 1, ("IR", "POLR"): 3, ("IR", "COMM"): 2}


def test_filters_combine(con: duckdb.DuckDBPyConnection) -> None:
    only = aggregate(con, Filters(probe_cc="IR", probe_asn="AS44244", since=dt.date(2018, 4, 1)))
    assert only.records() == [
        {
            "measurements": 3,
            "ok": 2,
            "blocked": 0,
            "confirmed": 0,
            "down": 1,
            "inconclusive": 0,
            "networks": 1,
        }
    ]
    by_method = {
        r["method"]: r["measurements"]
        for r in aggregate(
            con, Filters(domain="NEWS.example", until=dt.date(2018, 1, 31)), Axis.METHOD
        ).records()
    }
    assert by_method == {"dns": 1, "blockpage": 1}
    by_test = aggregate(con, Filters(test_name="telegram"), Axis.DAY).records()
    assert by_test == [
        {
            "day": "2018-02-01",
            "measurements": 1,
            "ok": 0,
            "blocked": 0,
            "confirmed": 0,
            "down": 0,
            "inconclusive": 1,
            "networks": 1,
        }
    ]


def test_no_match_gives_zero_counts(con: duckdb.DuckDBPyConnection) -> None:
    assert aggregate(con, Filters(probe_cc="ZZ")).rows == [(0, 0, 0, 0, 0, 0, 0)]
    assert aggregate(con, Filters(probe_cc="ZZ"), Axis.MONTH).rows == []


def test_refresh_only_when_verdicts_change(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    assert refresh_cube(con) is False
    con.execute("UPDATE verdicts SET outcome = 'ok', confirmed = false WHERE measurement_uid = 'u2'")
    assert refresh_cube(con) is True
    q1 = aggregate(con, Filters(probe_cc="IR", domain="news.example"), Axis.QUARTER).records()[0]
    assert (q1["blocked"], q1["confirmed"], q1["ok"]) == (1, 0, 1)


def test_measurements_are_paged_newest_first(con: duckdb.DuckDBPyConnection) -> None:
    # what /api/v1/measurements pages: the Python API's selection of verdicts, newest first
    def query(sql: str, params: Sequence[object] | None = None) -> pa.Table:
        return con.sql(sql, params=list(params) if params else None).to_arrow_table()

    iran = ApiFilters.of(probe_cc="ir")
    page = select_rows(query, "verdicts", iran, limit=2, newest_first=True).to_pylist()
    assert count_rows(query, "verdicts", iran) == 5
    assert [r["measurement_uid"] for r in page] == ["u5", "u4"]
    page2 = select_rows(query, "verdicts", iran, limit=2, offset=4, newest_first=True).to_pylist()
    assert [r["measurement_uid"] for r in page2] == ["u1"]
    polr = ApiFilters.of(category="polr")
    cat = select_rows(query, "verdicts", polr, limit=10, newest_first=True).to_pylist()
    assert count_rows(query, "verdicts", polr) == 3 and {r["probe_cc"] for r in cat} == {"IR"}
    assert page[0]["measurement_start_time"] == dt.datetime(2018, 4, 3, 11, tzinfo=dt.UTC)


def test_monthly_table_agrees_with_the_daily_one(con: duckdb.DuckDBPyConnection) -> None:
    # A `since` filter inside a month forces the daily table; without it a monthly one answers.
    for axes in (
        (Axis.PROBE_CC, Axis.CATEGORY),
        (Axis.MONTH, Axis.ASN),
        (Axis.METHOD, None),
        (Axis.URL, Axis.QUARTER),
    ):
        monthly = aggregate(con, Filters(), *axes)
        daily = aggregate(con, Filters(since=dt.date(1970, 1, 1)), *axes)
        assert monthly == daily and monthly.rows, axes
    assert Filters(since=dt.date(2018, 1, 1), until=dt.date(2018, 2, 28)).month_aligned
    assert not Filters(until=dt.date(2018, 2, 27)).month_aligned


def test_a_changed_category_or_layer_refreshes_the_cube(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("UPDATE testlists SET category_code = 'HUMR' WHERE cc = 'ir'")
    assert refresh_cube(con) is True
    cats = {r["category"] for r in aggregate(con, Filters(probe_cc="IR"), Axis.CATEGORY).records()}
    assert cats == {"HUMR", "COMM"}
    con.execute("UPDATE verdicts SET layer = 'tcp' WHERE measurement_uid = 'u1'")
    assert refresh_cube(con) is True
    assert refresh_cube(con) is False

"""The one evidence model: registry, classification, counting rules, periods, host normalisation, and the
two ways of reading the facts (materialised or inline) giving the same figures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import pyarrow as pa
import pytest

from netfreedom.errors import InputError, StoreError
from netfreedom.evidence import facts
from netfreedom.evidence.countries import country_summaries
from netfreedom.evidence.model import (
    TEST_KINDS,
    Axis,
    Filters,
    Kind,
    Measure,
    Period,
    Query,
    Source,
    Window,
    evidence,
    host_sql,
    kind_sql,
    measures,
    register,
)

VERDICTS = """CREATE TABLE verdicts (measurement_uid VARCHAR, analysis_version INT, fingerprints_id VARCHAR,
    measurement_start_time TIMESTAMPTZ, probe_cc VARCHAR, probe_asn VARCHAR, probe_network_name VARCHAR,
    test_name VARCHAR, input VARCHAR, domain VARCHAR, outcome VARCHAR, layer VARCHAR, reason VARCHAR,
    confidence DOUBLE, confirmed BOOLEAN, fingerprint VARCHAR, blocking VARCHAR, accessible BOOLEAN)"""

# uid, time (UTC), cc, asn, test, input, outcome, layer, confidence, confirmed ("-" = NULL)
ROWS = [
    line.split()
    for line in """
u01 2020-01-05T10:00 IR AS1 web_connectivity https://www.news.example/ blocked dns 0.9 0
u02 2020-02-05T10:00 IR AS2 web_connectivity https://www.news.example/ ok - 0.9 0
u03 2020-02-05T10:00 IR AS2 web_connectivity https://b.example/ blocked http 0.9 1
u04 2020-02-05T10:00 IR AS2 web_connectivity https://c.example/ ok - 1.0 0
u05 2020-02-05T10:00 IR AS2 web_connectivity https://d.example/ blocked tcp 1.0 0
u06 2020-02-06T10:00 IR AS2 web_connectivity https://d.example/ ok - 1.0 0
u07 2020-02-07T10:00 IR AS2 web_connectivity https://d.example/ ok - 1.0 0
u08 2020-02-05T10:00 IR AS2 whatsapp - blocked tcp 0.8 0
u09 2020-02-05T10:00 GB AS3 http_invalid_request_line - blocked http 0.8 0
u10 2020-02-05T10:00 GB AS3 web_connectivity https://c.example/ ok - 1.0 0
u11 2020-02-05T10:00 GB AS3 dash - ok - 1.0 0
u12 2020-02-06T10:00 GB AS3 web_connectivity https://e.example/ inconclusive - 0.0 0
u13 2021-03-01T00:30 IR AS1 web_connectivity https://c.example/ blocked dns 1.0 0
u14 2020-02-05T10:00 US AS4 signal - blocked tls 0.9 0
""".strip().splitlines()
]


def _connect(with_lists: bool = True) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(VERDICTS)
    for r in ROWS:
        uid, time, cc, asn, test, url, outcome, layer, confidence, confirmed = (
            None if x == "-" else x for x in r
        )
        con.execute(
            "INSERT INTO verdicts VALUES (?, 1, 'x', ?::TIMESTAMP AT TIME ZONE 'UTC', ?, ?, 'net ' || ?, "
            "?, ?, NULL, ?, ?, 'r', ?::DOUBLE, ? = '1', NULL, NULL, NULL)",
            [uid, time, cc, asn, asn, test, url, outcome, layer, confidence, confirmed],
        )
    if with_lists:
        con.execute("CREATE TABLE testlists (cc VARCHAR, url VARCHAR, domain VARCHAR, category_code VARCHAR)")
        con.execute(
            "INSERT INTO testlists VALUES ('global', 'https://news.example/', 'news.example', 'NEWS'), "
            "('global', 'http://news.example', 'news.example', 'POLR'), "
            "('IR', 'http://B.example/', 'b.example', 'HUMR'), ('global', 'https://b.example/', 'b.example', "
            "'GAME')"
        )
    return con


def _query(con: duckdb.DuckDBPyConnection) -> Query:
    def query(sql: str, params: Sequence[object] | None = None) -> pa.Table:
        return con.sql(sql, params=list(params) if params is not None else None).to_arrow_table()

    return query


@pytest.fixture(params=["inline", "materialised"])
def query(request: pytest.FixtureRequest) -> Query:
    con = _connect()
    if request.param == "materialised":
        assert facts.refresh(con)
        assert not facts.refresh(con)  # unchanged: not rebuilt
    return _query(con)


def _by(table: pa.Table, *keys: str) -> dict[tuple[object, ...], dict[str, object]]:
    return {tuple(r[k] for k in keys): r for r in table.to_pylist()}


def test_registry_has_the_builtin_measures_and_refuses_a_second_owner() -> None:
    assert {"url_blocking", "test_blocking", "verdict_counts"} <= set(measures())
    assert all(
        m.source is Source.RAW for m in measures().values() if m.id in ("url_blocking", "test_blocking")
    )
    clash = Measure("url_blocking", "x", Source.RAW, frozenset({Axis.COUNTRY}), lambda q, r: pa.table({}))
    with pytest.raises(ValueError, match="already registered"):
        register(clash)


def test_a_new_measure_registers_itself_and_is_called_through_evidence() -> None:
    def compute(query: Query, request: object) -> pa.Table:
        return pa.table({"period": ["all"], "country": ["XX"], "value": [1], "sources": ["aggregates"]})

    m = register(Measure("test_only_measure", "t", Source.AGGREGATES, frozenset({Axis.COUNTRY}), compute))
    assert register(m) is m  # the same object again is fine
    table = evidence(_query(_connect()), "test_only_measure")
    assert table.column("sources").to_pylist() == ["aggregates"]


def test_unknown_measure_axis_or_window_is_a_clear_error() -> None:
    q = _query(_connect())
    with pytest.raises(InputError, match="unknown evidence measure"):
        evidence(q, "nope")
    with pytest.raises(InputError, match="cannot be cut by url"):
        evidence(q, "test_blocking", axes=("country", "url"))
    with pytest.raises(InputError, match="empty window"):
        Window(dt.date(2020, 1, 1), dt.date(2020, 1, 1))
    with pytest.raises(StoreError, match="no verdicts"):
        evidence(_query(duckdb.connect()), "url_blocking")


def test_kinds_classify_tests_and_need_a_url_for_sites() -> None:
    con = duckdb.connect()
    cases = [
        ("web_connectivity", "https://x.example/", Kind.SITES),
        ("web_connectivity", None, Kind.OTHER),
        ("web_connectivity", "dot://1.1.1.1", Kind.OTHER),
        ("whatsapp", None, Kind.APPS),
        ("facebook_messenger", None, Kind.APPS),
        ("tor", None, Kind.CIRCUMVENTION),
        ("psiphon", None, Kind.CIRCUMVENTION),
        ("http_invalid_request_line", None, Kind.MIDDLEBOXES),
        ("ndt", None, Kind.OTHER),
    ]
    for test, url, kind in cases:
        got = con.execute(f"SELECT {kind_sql('$1::VARCHAR', '$2::VARCHAR')}", [test, url])
        assert got.fetchone() == (kind.value,), (test, url)
    assert {TEST_KINDS[t] for t in ("whatsapp", "telegram", "signal", "facebook_messenger")} == {Kind.APPS}


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("https://www.feminist.org/", "feminist.org"),
        ("https://feminist.org/", "feminist.org"),
        ("http://WWW.Feminist.ORG", "feminist.org"),
        ("feminist.org", "feminist.org"),
        ("www.feminist.org/", "feminist.org"),
        ("https://user@www.feminist.org:8443/a/b?c#d", "feminist.org"),
        ("https://feminist.org./", "feminist.org"),
        ("https://www2.feminist.org/", "www2.feminist.org"),
    ],
)
def test_host_normalisation(raw: str, host: str) -> None:
    assert duckdb.connect().execute(f"SELECT {host_sql('?')}", [raw]).fetchone() == (host,)


def test_url_blocking_counts_urls_by_the_majority_rule(query: Query) -> None:
    window = Window(dt.date(2020, 1, 1), dt.date(2021, 1, 1))
    by_cc = _by(evidence(query, "url_blocking", window=window), "country")
    ir = by_cc[("IR",)]
    # news: 1 of 2 blocked (majority: blocked); b: confirmed; c: ok; d: 1 of 3 blocked (not blocked)
    assert (ir["tested"], ir["blocked"], ir["confirmed"], ir["measurements"], ir["networks"]) == (
        4,
        2,
        1,
        7,
        2,
    )
    assert ir["blocked_share"] == 0.5
    assert ir["blocked_low"] < 0.5 < ir["blocked_high"]
    assert ir["examples"] == ["u01", "u03"]  # the blocked measurements behind the two blocked URLs
    gb = by_cc[("GB",)]
    # The middlebox test and the inconclusive URL are not tested URLs: one URL tested, none blocked.
    assert (gb["tested"], gb["blocked"], gb["measurements"]) == (1, 0, 2)
    assert ("US",) not in by_cc  # a Signal test is no URL


def test_tests_without_urls_have_their_own_figures(query: Query) -> None:
    rows = _by(evidence(query, "test_blocking", axes=("country", "kind", "test")), "country", "kind", "test")
    assert rows[("IR", "apps", "whatsapp")]["blocked"] == 1
    assert rows[("GB", "middleboxes", "http_invalid_request_line")]["blocked"] == 1
    assert rows[("US", "apps", "signal")]["tested"] == 1
    assert all(k[1] != "other" for k in rows)  # dash is no blocking test


def test_categories_own_list_first_with_normalised_hosts(query: Query) -> None:
    rows = _by(evidence(query, "url_blocking", axes=("country", "category")), "country", "category")
    assert rows[("IR", "HUMR")]["blocked"] == 1  # IR's own list wins over the global GAME
    assert ("IR", "GAME") not in rows
    assert rows[("IR", "NEWS")]["tested"] == rows[("IR", "POLR")]["tested"] == 1  # www. and scheme dropped
    assert rows[("IR", "UNCAT")]["tested"] == 2  # c and d
    only = evidence(query, "url_blocking", filters=Filters(categories=("news",)))
    assert only.column("tested").to_pylist() == [1]


def test_methods_and_networks(query: Query) -> None:
    rows = _by(evidence(query, "url_blocking", axes=("country", "method")), "country", "method")
    assert rows[("IR", "blockpage")]["blocked"] == 1
    assert rows[("IR", "dns")]["blocked"] == 2  # news (2020) and c (2021)
    assert rows[("IR", "dns")]["tested"] == 4  # every tested URL of IR is the denominator
    assert ("IR", "tcp") not in rows  # d was not blocked by the majority rule
    nets = _by(evidence(query, "url_blocking", axes=("network",)), "network")
    assert nets[("AS1",)]["network_name"] == "net AS1"
    assert nets[("AS1",)]["tested"] == 2


def test_periods_are_labelled_and_never_mixed(query: Query) -> None:
    rows = evidence(
        query, "url_blocking", window=Window(period=Period.QUARTER), filters=Filters(country="IR")
    )
    assert rows.column("period").to_pylist() == ["2020-Q1", "2021-Q1"]
    months = evidence(query, "verdict_counts", window=Window(period=Period.MONTH), axes=("country",))
    assert ("2020-01", "IR") in {(r["period"], r["country"]) for r in months.to_pylist()}
    days = evidence(
        query, "verdict_counts", window=Window(dt.date(2020, 2, 6), dt.date(2020, 2, 7), Period.DAY)
    )
    assert {(r["period"], r["country"], r["measurements"]) for r in days.to_pylist()} == {
        ("2020-02-06", "GB", 1),
        ("2020-02-06", "IR", 1),
    }
    assert Window(dt.date(2018, 1, 1), dt.date(2019, 1, 1)).label == "2018-01-01/2019-01-01"
    assert Window.parse("2018-01-01/2019-01-01") == Window(dt.date(2018, 1, 1), dt.date(2019, 1, 1))


def test_country_summaries_give_the_score_with_its_interval(query: Query) -> None:
    rows = _by(country_summaries(query), "iso2")
    ir, gb, us = rows[("IR",)], rows[("GB",)], rows[("US",)]
    assert (ir["tested_urls"], ir["blocked_urls"], ir["confirmed_urls"]) == (4, 3, 1)  # all time: c too
    assert ir["apps_blocked"] == 1
    # Thin evidence gives no point score, only its coverage: Iran's 4 URLs and an app on 2 networks, the
    # UK's one URL and one middlebox test, the US's one app test (20 % of the weights).
    for r in (ir, gb, us):
        assert r["score_status"] == "not_enough_evidence", r["iso2"]
        assert r["score"] is None and r["score_low"] is None and r["score_high"] is None
    assert (ir["score_weight"], gb["score_weight"], us["score_weight"]) == (0.7, 0.6, 0.2)
    assert gb["blocked_urls"] == 0 and gb["middleboxes_blocked"] == 1
    assert us["tested_urls"] == 0 and us["blocked_share"] is None and us["apps_blocked"] == 1


def test_inline_and_materialised_facts_agree() -> None:
    inline = _query(_connect())
    con = _connect()
    facts.refresh(con)
    stored = _query(con)
    for measure, axes in [
        ("url_blocking", ("country", "category")),
        ("url_blocking", ("country", "method")),
        ("test_blocking", ("country", "test")),
        ("verdict_counts", ("country", "domain")),
    ]:
        for window in (Window(period=Period.MONTH), Window(dt.date(2020, 2, 6), dt.date(2021, 1, 1))):
            a = evidence(inline, measure, axes=axes, window=window)
            b = evidence(stored, measure, axes=axes, window=window)
            assert a.equals(b), (measure, axes, window)
    con.execute("DELETE FROM verdicts WHERE measurement_uid = 'u13'")
    assert facts.is_stale(con)
    assert facts.refresh(con) and not facts.is_stale(con)

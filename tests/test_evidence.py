"""Evidence from real measurements: ingested into a real store, analysed, cut by test-list category, and
checked against expert scores (a disagreement flag raised, then cleared)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest

from netfreedom.analysis import ANALYSIS_VERSION, analyze
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir
from netfreedom.errors import StoreError
from netfreedom.evidence.indicators import indicator_figures
from netfreedom.evidence.model import Axis, Filters, Period, Query, Window, evidence
from netfreedom.evidence.tables import lists_table, read_index
from netfreedom.index.methodology import Measure, load_methodology
from netfreedom.index.results import FlagKind
from netfreedom.ingest.testlists import domain_of, read_testlists
from netfreedom.models.measurement import Envelope, first_input
from netfreedom.pipeline.index import build
from netfreedom.pipeline.ingest import ingest
from netfreedom.store import VerdictRow, open_store

from .conftest import DATA, MEASUREMENTS

# A methodology for the test: the shipped structure, evidence over calendar years, with B1 mapped to the
# categories the shared IR measurements fall in (social networks, culture) and one tested URL enough.
METHODOLOGY = """\
extends = "fotn-legacy"
id = "test-evidence"
version = "1"

[coverage]
start_month = 1

[[evidence]]
indicator = "B1"
measure = "url_blocking"
categories = ["GRP", "CULTR", "NEWS"]
min_tested = 1
contradicts_at = 0.5
"""


def _scores(path: Path, b1: int, justification: str = "") -> Path:
    lines = ['iso2 = "IR"', "year = 2022", 'scale = "0-best"', "", "[indicators]"]
    lines += [f"{code} = 0" for code in ("A1", "A2", "A3", "A4", "A5")]
    lines += [f'B1 = {{ score = {b1}, justification = "{justification}" }}']
    lines += [f"B{i} = 0" for i in range(2, 9)]
    lines += ["", "[categories]", "C = 20"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("evidence") / "store.duckdb"
    fingerprints = load_fingerprints(sources_in_dir(DATA))
    with open_store(db) as store:
        summary = ingest(store, [str(MEASUREMENTS)])
        assert summary.ingested == summary.lines > 80 and summary.errors == []
        rows = []
        for batch in store.iter_measurements():
            for m in batch:
                env = msgspec.json.decode(m.raw, type=Envelope)
                verdict = analyze(env, env.test_keys, fingerprints)
                url = first_input(env)
                rows.append(VerdictRow.of(m.measurement_uid, domain_of(url) if url else None, verdict))
        added = store.add_verdicts(rows, analysis_version=ANALYSIS_VERSION, fingerprints_id="shared")
        assert added == len(rows)
        store.write_table("testlists", lists_table(read_testlists(DATA / "test-lists")))
    return db


def _rows(query: Query, measure: str, *axes: Axis, window: Window, **kw: Any) -> list[dict[str, Any]]:
    return evidence(query, measure, axes=(Axis.COUNTRY, *axes), window=window, **kw).to_pylist()  # type: ignore[no-any-return]


def test_tables_by_category_method_network_and_domain(store_path: Path) -> None:
    with open_store(store_path, read_only=True) as store:
        q = store.query
        year = Window(dt.date(2022, 1, 1), dt.date(2023, 1, 1), Period.YEAR)
        by_cat = {
            (r["country"], r["category"]): r for r in _rows(q, "url_blocking", Axis.CATEGORY, window=year)
        }
        grp = by_cat[("IR", "GRP")]
        assert [grp[k] for k in ("period", "tested", "blocked", "confirmed", "measurements", "networks")] == [
            "2022",
            1,
            1,
            1,
            1,
            1,
        ]
        assert grp["blocked_share"] == 1.0 and 0 < grp["blocked_low"] < 1 and grp["examples"]
        # yooz.ir is on the Iranian list but was down from everywhere: tested=0 (no conclusive verdict)
        srch = by_cat[("IR", "SRCH")]
        assert [srch[k] for k in ("tested", "blocked", "measurements", "networks")] == [0, 0, 1, 1]
        assert srch["blocked_share"] is None
        assert {k for cc, k in by_cat if cc == "IR"} == {"GRP", "SRCH"}
        ir = Filters(country="IR")
        by_method = _rows(q, "url_blocking", Axis.METHOD, window=year, filters=ir)
        # confirmed by the Iranian DNS blockpage address: the method is "blockpage"
        assert [(r["method"], r["tested"], r["blocked"], r["confirmed"]) for r in by_method] == [
            ("blockpage", 1, 1, 1)
        ]
        by_asn = _rows(q, "url_blocking", Axis.NETWORK, window=year, filters=ir)
        assert [(r["network"], r["tested"], r["blocked"]) for r in by_asn] == [("AS197207", 1, 1)]
        assert by_asn[0]["network_name"]  # the network name from the measurement
        by_domain = {r["domain"]: r for r in _rows(q, "url_blocking", Axis.DOMAIN, window=year, filters=ir)}
        assert by_domain["facebook.com"]["blocked"] == 1 and by_domain["yooz.ir"]["tested"] == 0
        quarters = _rows(
            q,
            "url_blocking",
            Axis.CATEGORY,
            window=Window(dt.date(2017, 1, 1), dt.date(2023, 1, 1), Period.QUARTER),
            filters=ir,
        )
        assert {r["period"] for r in quarters} == {"2020-Q1", "2022-Q3"}


def test_indicator_figures_follow_the_methodology(store_path: Path, tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(METHODOLOGY)
    m = load_methodology(tmp_path / "m.toml")
    with open_store(store_path, read_only=True) as store:
        figures = indicator_figures(store.query, m, 2022)
        shipped = indicator_figures(store.query, load_methodology("fotn"), 2020)
    [ir] = figures["IR"]
    assert (ir.indicator, ir.measure, ir.tested, ir.blocked, ir.period) == (
        "B1",
        Measure.URL_BLOCKING,
        1,
        1,
        "2022-01-01/2023-01-01",
    )
    # fotn edition 2020 covers June 2019 - May 2020: fa.wikipedia.org (CULTR) is not a B1 category there
    assert [(f.indicator, f.tested) for f in shipped["IR"]] == [("B1", 0), ("A3", 0), ("C4", 0)]


def test_app_tests_feed_the_app_blocking_indicator(store_path: Path) -> None:
    # fotn edition 2023 covers June 2022 - May 2023: Armenia's signal test of 2022-10 found it blocked
    with open_store(store_path, read_only=True) as store:
        figures = indicator_figures(store.query, load_methodology("fotn"), 2023)
    a3 = {f.indicator: f for f in figures["AM"]}["A3"]
    assert (a3.measure, a3.tested, a3.blocked, a3.confirmed, a3.measurements) == (
        Measure.TEST_BLOCKING,
        1,
        1,
        0,
        1,
    )
    it = {f.indicator: f for f in figures["IT"]}["A3"]
    assert (it.tested, it.blocked) == (3, 0)  # whatsapp, telegram and signal reachable in Italy


def test_disagreement_flag_raised_and_cleared(store_path: Path, tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(METHODOLOGY)
    claim_free = _scores(tmp_path / "ir-free.toml", 0)
    result = build(tmp_path / "m.toml", [claim_free], 2022, store_path).result
    flags = result.country("IR").flags
    assert [(f.kind, f.code) for f in flags] == [(FlagKind.EVIDENCE_CONTRADICTS, "B1")]
    assert (
        "1 of 1 GRP/CULTR/NEWS URLs tested were confirmed blocked (1 measurements, 1 networks; e.g. h"
        in flags[0].message
    )
    with open_store(store_path, read_only=True) as store:
        stored = read_index(store.query, 2022)
    assert stored is not None and [f.kind for f in stored.country("IR").flags] == [
        FlagKind.EVIDENCE_CONTRADICTS
    ]
    figure = stored.country("IR").evidence[0]
    assert figure.blocked == 1 and figure.examples and figure.blocked_low > 0  # traceable, with its interval

    claim_blocking = _scores(tmp_path / "ir-blocking.toml", 4, "Facebook blocked by DNS on major networks")
    result = build(tmp_path / "m.toml", [claim_blocking], 2022, store_path).result
    assert result.country("IR").flags == ()
    with open_store(store_path, read_only=True) as store:
        stored = read_index(store.query, 2022)
    assert stored is not None and stored.country("IR").flags == ()
    assert stored.country("IR").total == result.country("IR").total == 24


def test_majority_rule_and_confirmation(tmp_path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(tmp_path / "plain.duckdb"))
    con.execute(
        "CREATE TABLE verdicts (measurement_uid VARCHAR DEFAULT gen_random_uuid()::VARCHAR, "
        "measurement_start_time TIMESTAMPTZ, probe_cc VARCHAR, probe_asn VARCHAR, "
        "probe_network_name VARCHAR, test_name VARCHAR, input VARCHAR, domain VARCHAR, outcome VARCHAR, "
        "layer VARCHAR, confirmed BOOLEAN, confidence DOUBLE DEFAULT 1.0)"
    )
    rows = []
    # (url, asn, conclusive, blocked, confirmed, inconclusive)
    for url, asn, ok, blocked, confirmed, other in [
        ("https://a.example/", "AS1", 9, 1, 0, 0),  # one in ten: noise, not blocked
        ("https://b.example/", "AS1", 2, 2, 0, 0),  # half: blocked
        ("https://c.example/", "AS2", 9, 0, 1, 0),  # confirmed by a blockpage: blocked
        ("https://d.example/", "AS3", 0, 0, 0, 2),  # nothing conclusive: not tested, but counted
    ]:
        when = dt.datetime(2022, 5, 1, tzinfo=dt.UTC)
        for outcome, n in (("ok", ok), ("blocked", blocked), ("confirmed", confirmed), ("down", other)):
            for _ in range(n):
                layer = "dns" if outcome in ("blocked", "confirmed") else None
                rows.append(
                    (
                        when,
                        "XX",
                        asn,
                        "Net",
                        "web_connectivity",
                        url,
                        url[8:-1],
                        "blocked" if outcome == "confirmed" else outcome,
                        layer,
                        outcome == "confirmed",
                    )
                )
    con.executemany(
        "INSERT INTO verdicts (measurement_start_time, probe_cc, probe_asn, probe_network_name, test_name, "
        "input, domain, outcome, layer, confirmed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.execute(
        "CREATE TABLE testlists AS SELECT 'global' AS cc, '' AS url, d AS domain, 'NEWS' AS category_code "
        "FROM (VALUES ('a.example'), ('b.example'), ('c.example'), ('d.example')) t(d)"
    )

    def query(sql: str, params: object = None) -> Any:
        return con.cursor().sql(sql, params=params).to_arrow_table()

    try:
        window = Window(dt.date(2022, 1, 1), dt.date(2023, 1, 1))
        [news] = _rows(query, "url_blocking", Axis.CATEGORY, window=window)
        assert [news[k] for k in ("category", "tested", "blocked", "confirmed")] == ["NEWS", 3, 2, 1]
        assert (news["measurements"], news["networks"]) == (26, 3)  # the inconclusive URL's measurements too
        [blockpage, dns] = _rows(query, "url_blocking", Axis.METHOD, window=window)
        assert [dns[k] for k in ("method", "tested", "blocked")] == ["dns", 3, 1]  # b.example on AS1
        assert [blockpage[k] for k in ("method", "blocked", "confirmed")] == ["blockpage", 1, 1]
        d = {r["domain"]: r for r in _rows(query, "url_blocking", Axis.DOMAIN, window=window)}["d.example"]
        assert (d["tested"], d["blocked"], d["measurements"]) == (0, 0, 2)
        month = Window(dt.date(2022, 1, 1), dt.date(2023, 1, 1), Period.MONTH)
        asns = {r["network"]: r for r in _rows(query, "url_blocking", Axis.NETWORK, window=month)}
        assert [asns["AS1"][k] for k in ("period", "network_name", "tested", "blocked")] == [
            "2022-05",
            "Net",
            2,
            1,
        ]
    finally:
        con.close()


def test_no_verdicts_is_a_clear_error(tmp_path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(tmp_path / "plain.duckdb"))
    try:
        with pytest.raises(StoreError, match="no verdicts"):
            indicator_figures(
                lambda sql, params: con.sql(sql, params=params).to_arrow_table(),
                load_methodology("fotn"),
                2020,
            )
    finally:
        con.close()
    with open_store(tmp_path / "empty.duckdb") as store:  # a store without verdicts: no figures at all
        assert indicator_figures(store.query, load_methodology("fotn"), 2020) == {}


def test_cli_build_loads_test_lists_and_shows_the_flag(store_path: Path, tmp_path: Path) -> None:
    import csv
    import subprocess
    import sys

    from .conftest import cli_env

    (tmp_path / "m.toml").write_text(METHODOLOGY)
    scores = _scores(tmp_path / "ir-2020.toml", 0).read_text().replace("year = 2022", "year = 2020")
    (tmp_path / "ir-2020.toml").write_text(scores)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "netfreedom", "index", *args, "--db", str(store_path)]
        return subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), cwd=tmp_path)

    out = cli(
        "build",
        "--methodology",
        "m.toml",
        "--scores",
        "ir-2020.toml",
        "--year",
        "2020",
        "--testlists",
        str(DATA / "test-lists"),
    )
    assert out.returncode == 0, out.stderr
    assert "1 countries, 1 ranked, 1 review flags" in out.stdout and "test-list rows loaded" in out.stdout
    out = cli("show", "--year", "2020", "--format", "csv")
    [row] = list(csv.DictReader(out.stdout.splitlines()))
    # fa.wikipedia.org (CULTR on Iran's list) answered with the national blockpage address in March 2020
    assert (row["iso2"], row["total"], row["flags"]) == ("IR", "20", "evidence_contradicts:B1")
    out = cli(
        "build", "--methodology", "m.toml", "--scores", "ir-2020.toml", "--year", "2020", "--no-evidence"
    )
    assert out.returncode == 0 and "0 review flags" in out.stdout

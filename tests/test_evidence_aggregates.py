"""Evidence from OONI's aggregation counts: rates by test with intervals clustered by day and network."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from netfreedom.evidence.measures.aggregate_rates import rate
from netfreedom.evidence.model import Axis, Filters, Period, Window, evidence, measures
from netfreedom.models.aggregation import AggregateRow, Grain
from netfreedom.pipeline.ingest import ingest
from netfreedom.store import open_store

from ._report_data import verdict, write_verdicts
from .test_aggregation_ingest import exports, file_dims, plain_rows


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    db = tmp_path_factory.mktemp("agg") / "s.duckdb"
    with open_store(db) as store:
        for path in exports(shared_data):
            assert ingest(store, [str(path)], dimensions=file_dims(path)).rejected == 0
    return db


def test_registered_as_an_aggregates_measure() -> None:
    m = measures()["aggregate_rates"]
    assert m.source.value == "aggregates" and Axis.NETWORK in m.axes


def test_rates_by_country_and_test(store_path: Path, shared_data: Path) -> None:
    with open_store(store_path, read_only=True) as store:
        rows = evidence(store.query, "aggregate_rates", axes=(Axis.COUNTRY, Axis.TEST)).to_pylist()
    got = {(r["country"], r["test"]): r for r in rows}
    files = exports(shared_data)
    assert set(got) == {(file_dims(p)["probe_cc"], file_dims(p)["test_name"]) for p in files}
    for (cc, test), r in got.items():
        assert r["sources"] == "aggregates" and r["grains"] == ["day"] and r["period"] == "all"
        assert r["anomaly_rate"] == pytest.approx(r["anomaly"] / r["measurements"])
        assert r["anomaly_low"] <= r["anomaly_rate"] <= r["anomaly_high"]
        assert r["confirmed_low"] <= r["confirmed_rate"] <= r["confirmed_high"]
        # One breakdown per country and test: the sum of one file, never of two.
        sums = [
            sum(int(x["measurement_count"]) for x in plain_rows(p))
            for p in files
            if (file_dims(p)["probe_cc"], file_dims(p)["test_name"]) == (cc, test)
        ]
        assert r["measurements"] == max(sums)
    wc = got[("IQ", "web_connectivity")]
    assert wc["days"] == 31 and wc["cells"] == 31 and wc["networks"] == 0
    assert wc["design_effect"] > 1  # the anomaly rate moves from day to day far beyond binomial noise
    tg = got[("IQ", "telegram")]
    assert tg["networks"] > 5 and tg["cells"] > tg["days"]  # day × network cells


def test_network_axis_reads_only_network_breakdowns(store_path: Path) -> None:
    with open_store(store_path, read_only=True) as store:
        rows = evidence(
            store.query,
            "aggregate_rates",
            axes=(Axis.TEST, Axis.NETWORK),
            filters=Filters(country="IQ"),
            window=Window(dt.date(2025, 3, 1), dt.date(2025, 4, 1), Period.MONTH),
        ).to_pylist()
    assert rows and {r["test"] for r in rows} >= {"telegram", "signal", "psiphon"}
    assert "web_connectivity" not in {r["test"] for r in rows}  # exported without networks
    assert all(r["network"].startswith("AS") and r["period"] == "2025-03" for r in rows)


def test_interval_reflects_day_to_day_variation() -> None:
    # The same 1000 anomalies in 10000 measurements: spread evenly over 10 days, or all on one day.
    even = rate(1000, 10000, 10, sum_sq=10 * 0.0, level=0.9)
    # All on one of 10 days of 1000 measurements: residuals 900 on that day, -100 on nine others.
    lumpy = rate(1000, 10000, 10, sum_sq=900**2 + 9 * 100**2, level=0.9)
    assert even.value == lumpy.value == 0.1
    assert lumpy.high - lumpy.low > 5 * (even.high - even.low)
    assert even.design_effect == 1.0 and lumpy.design_effect > 10
    assert rate(0, 0, 0, 0.0, 0.9).value is None


def test_raw_verdicts_win(tmp_path: Path, shared_data: Path) -> None:
    db = tmp_path / "s.duckdb"
    write_verdicts(
        db,
        [
            verdict(
                "x1",
                "2025-03-06 12:00:00",
                "IQ AS5",
                "https://a.example/",
                "blocked",
                test_name="web_connectivity",
            )
        ],
        [],
    )
    path = shared_data / "ooni" / "aggregation" / "IQ_web_connectivity_day.csv"
    with open_store(db) as store:
        ingest(store, [str(path)], dimensions=file_dims(path))
        rows = evidence(store.query, "aggregate_rates", axes=(Axis.COUNTRY, Axis.TEST)).to_pylist()
    first_day = int(plain_rows(path)[0]["measurement_count"])
    total = sum(int(r["measurement_count"]) for r in plain_rows(path))
    assert rows[0]["measurements"] == total - first_day and rows[0]["days"] == 30


def test_no_aggregates_no_rows(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        assert evidence(store.query, "aggregate_rates").num_rows == 0


def test_row_layer_names() -> None:
    start = dt.datetime(2025, 3, 6, tzinfo=dt.UTC)
    row = AggregateRow(
        file="f",
        line=2,
        grain=Grain.DAY,
        start=start,
        end=start + dt.timedelta(days=1),
        probe_cc="IQ",
        test_name="signal",
        probe_asn=5,
        domain="",
        input=None,
        category_code=None,
        blocking_type=None,
        anomaly_count=0,
        confirmed_count=0,
        failure_count=0,
        measurement_count=1,
        ok_count=1,
    )
    assert row.layer == "probe_asn,domain"


def test_items_from_aggregates_follow_the_raw_rule(tmp_path: Path) -> None:
    rows = [
        # telegram mostly anomalous (blocked by the majority rule); signal fine; whatsapp one confirmed.
        ("telegram", 10, 0, 7, 3),
        ("signal", 1, 0, 0, 9),
        ("whatsapp", 1, 1, 0, 9),
    ]
    lines = [
        "test_name,anomaly_count,confirmed_count,failure_count,measurement_count,measurement_start_day,ok_count"
    ]
    lines += [f"{t},{a},{c},{f},{a + f + ok},2025-03-06,{ok}" for t, a, c, f, ok in rows]
    path = tmp_path / "apps.csv"
    path.write_text("\n".join(lines) + "\n")
    with open_store(tmp_path / "s.duckdb") as store:
        ingest(store, [str(path)], dimensions={"probe_cc": "IQ"})
        got = evidence(
            store.query, "aggregate_items", filters=Filters(tests=("telegram", "signal", "whatsapp"))
        )
        one = evidence(store.query, "aggregate_items", axes=(Axis.COUNTRY, Axis.TEST)).to_pylist()
    (r,) = got.to_pylist()
    assert (r["tested"], r["blocked"], r["confirmed"]) == (3, 2, 1)
    assert r["sources"] == "aggregates" and r["blocked_low"] <= r["blocked_share"] <= r["blocked_high"]
    assert {x["test"]: x["blocked"] for x in one} == {"signal": 0, "telegram": 1, "whatsapp": 1}


def test_every_aggregate_country_gets_a_measured_score(store_path: Path) -> None:
    from .test_ingest_cli import run_cli

    done = run_cli(
        "evidence",
        "countries",
        "--db",
        store_path,
        "--since",
        "2025-03-06",
        "--until",
        "2025-04-06",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    import json

    doc = json.loads(done.stdout)
    rows = doc["countries"] if isinstance(doc, dict) else doc
    got = {r["iso2"]: r for r in rows}
    assert set(got) == {"IQ", "IE"}
    for r in got.values():
        assert r["sources"] == "aggregates" and r["measurements"] > 0
        assert r["score_low"] <= r["score"] <= r["score_high"] and r["score_high"] - r["score_low"] > 0
    # Outside the exports' days there is nothing to score.
    later = run_cli(
        "evidence",
        "countries",
        "--db",
        store_path,
        "--since",
        "2025-05-01",
        "--until",
        "2025-05-31",
        "--format",
        "json",
    )
    doc = json.loads(later.stdout)
    assert not (doc["countries"] if isinstance(doc, dict) else doc)


def test_index_rules_read_aggregates_where_there_are_no_raw_verdicts(store_path: Path) -> None:
    from netfreedom.evidence.indicators import indicator_figures
    from netfreedom.index.methodology import Measure, load_methodology

    methodology = load_methodology("fotn")
    since, until = methodology.coverage(2025)
    assert since <= dt.date(2025, 3, 6) and dt.date(2025, 4, 7) <= until
    with open_store(store_path, read_only=True) as store:
        figures = indicator_figures(store.query, methodology, 2025)
    assert set(figures) == {"IQ", "IE"}
    tests = [f for f in figures["IQ"] if f.measure is Measure.TEST_BLOCKING]
    assert tests and any(f.tested > 0 and f.measurements > 0 for f in tests)
    sites = [f for f in figures["IQ"] if f.measure is Measure.URL_BLOCKING]
    assert all(f.tested == 0 for f in sites)  # the exports have no URLs: no evidence about URLs

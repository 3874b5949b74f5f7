"""OONI's aggregation API over a real store holding raw verdicts and the shared OONI exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from netfreedom.errors import InputError
from netfreedom.evidence import facts
from netfreedom.models.aggregation import COUNTS
from netfreedom.pipeline.ingest import ingest
from netfreedom.report.ooni import PATTERNS, OoniQuery
from netfreedom.store import open_store
from netfreedom.web import create_app

from ._report_data import SAMPLE_LISTS, sample_verdicts, verdict, write_verdicts
from .test_aggregation_ingest import exports, file_dims, plain_rows

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ACCEPTANCE = {
    "probe_cc": "IQ",
    "test_name": "web_connectivity",
    "since": "2025-03-06",
    "until": "2025-04-07",
    "axis_x": "measurement_start_day",
}


def build(db: Path, shared_data: Path, raw: list[dict[str, Any]]) -> None:
    write_verdicts(db, raw, SAMPLE_LISTS)
    with open_store(db) as store:
        for path in exports(shared_data):
            summary = ingest(store, [str(path)], dimensions=file_dims(path))
            assert summary.rejected == 0
    con = duckdb.connect(str(db))
    facts.refresh(con)
    con.close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("ooni") / "store.duckdb"
    build(db, shared_data, sample_verdicts())
    with TestClient(create_app(db), raise_server_exceptions=False) as c:
        yield c


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_acceptance_query_returns_the_file(client: TestClient, shared_data: Path) -> None:
    path = shared_data / "ooni" / "aggregation" / "IQ_web_connectivity_day.csv"
    expected = plain_rows(path)
    body = client.get("/api/v1/aggregation", params=ACCEPTANCE).json()
    assert body["v"] == 0 and body["dimension_count"] == 1
    assert len(body["result"]) == len(expected) == 31
    assert body["result"] == [
        {k: v if k == "measurement_start_day" else int(v) for k, v in row.items()} for row in expected
    ]
    r = client.get("/api/v1/aggregation", params={**ACCEPTANCE, "format": "CSV"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert _csv(r.text) == expected
    # OONI writes its CSV columns in alphabetical order, which is also the order of the shared file.
    assert r.text.splitlines() == path.read_text().splitlines()


def test_spellings_of_the_same_query(client: TestClient) -> None:
    base = client.get("/api/v1/aggregation", params=ACCEPTANCE).json()
    for variant in (
        {"test_name": "webconnectivity"},
        {"probe_cc": "iq"},
        {"format": "json"},
        {"time_grain": "auto"},
        {"until": "2025-04-07T00:00:00Z"},
    ):
        assert client.get("/api/v1/aggregation", params={**ACCEPTANCE, **variant}).json() == base, variant
    by_asn = {
        "probe_cc": "IQ",
        "test_name": "telegram",
        "probe_asn": "AS51020",
        "axis_x": "measurement_start_day",
    }
    first = client.get("/api/v1/aggregation", params=by_asn).json()["result"]
    assert (
        first == client.get("/api/v1/aggregation", params={**by_asn, "probe_asn": "51020"}).json()["result"]
    )
    assert first and all(set(r) == {"measurement_start_day", *COUNTS} for r in first)


def test_asn_axis_and_lists(client: TestClient, shared_data: Path) -> None:
    path = shared_data / "ooni" / "aggregation" / "IQ_telegram_day-asn.csv"
    plain = plain_rows(path)
    body = client.get(
        "/api/v1/aggregation",
        params={
            "probe_cc": "IQ",
            "test_name": "telegram",
            "axis_x": "probe_asn",
            "axis_y": "measurement_start_day",
        },
    ).json()
    assert body["dimension_count"] == 2
    assert sorted(
        (r["probe_asn"], r["measurement_start_day"], r["ok_count"]) for r in body["result"]
    ) == sorted((int(p["probe_asn"]), p["measurement_start_day"], int(p["ok_count"])) for p in plain)
    both = client.get(
        "/api/v1/aggregation",
        params={"probe_cc": "IQ,IE", "test_name": "signal", "axis_x": "probe_cc"},
    ).json()["result"]
    sums = {
        cc: sum(int(r["measurement_count"]) for r in plain_rows(shared_data / "ooni" / "aggregation" / name))
        for cc, name in (("IQ", "IQ_signal_day-asn.csv"), ("IE", "IE_signal_day.csv"))
    }
    assert {r["probe_cc"]: r["measurement_count"] for r in both} == sums


def test_two_breakdowns_of_the_same_data_are_not_added(client: TestClient, shared_data: Path) -> None:
    folder = shared_data / "ooni" / "aggregation"
    day = sum(
        int(r["measurement_count"]) for r in plain_rows(folder / "IQ_http_header_field_manipulation_day.csv")
    )
    asn = sum(
        int(r["measurement_count"])
        for r in plain_rows(folder / "IQ_http_header_field_manipulation_day-asn.csv")
    )
    assert day != asn  # exported at different times: OONI's figures moved by a few late measurements
    total = client.get(
        "/api/v1/aggregation", params={"probe_cc": "IQ", "test_name": "http_header_field_manipulation"}
    ).json()["result"]
    assert total["measurement_count"] == max(day, asn)  # one layer: the more complete one
    by_day = client.get(
        "/api/v1/aggregation",
        params={
            "probe_cc": "IQ",
            "test_name": "http_header_field_manipulation",
            "axis_x": "measurement_start_day",
        },
    ).json()["result"]
    assert sum(r["measurement_count"] for r in by_day) == max(day, asn)


def test_month_grain_from_days(client: TestClient, shared_data: Path) -> None:
    plain = plain_rows(shared_data / "ooni" / "aggregation" / "IE_web_connectivity_day.csv")
    months = client.get(
        "/api/v1/aggregation",
        params={
            "probe_cc": "IE",
            "test_name": "web_connectivity",
            "axis_x": "measurement_start_day",
            "time_grain": "month",
        },
    ).json()["result"]
    expected: dict[str, int] = {}
    for r in plain:
        key = r["measurement_start_day"][:7] + "-01"
        expected[key] = expected.get(key, 0) + int(r["measurement_count"])
    assert {r["measurement_start_day"]: r["measurement_count"] for r in months} == expected


def test_raw_verdicts_answer_in_oonis_counts(client: TestClient) -> None:
    ooni = client.get("/api/v1/aggregation", params={"probe_cc": "IR", "axis_x": "test_name"}).json()[
        "result"
    ]
    ours = client.get("/api/v1/counts", params={"probe_cc": "IR", "axis_x": "test_name"}).json()["results"]
    assert ooni and len(ooni) == len(ours)
    for o, n in zip(ooni, ours, strict=True):
        assert o["test_name"] == n["test_name"]
        assert o["measurement_count"] == n["measurements"]
        assert o["ok_count"] == n["ok"]
        assert o["anomaly_count"] == n["blocked"]
        assert o["confirmed_count"] == n["confirmed"]
        assert o["failure_count"] == n["down"] + n["inconclusive"]
    domains = client.get(
        "/api/v1/aggregation", params={"probe_cc": "CN", "axis_x": "domain", "axis_y": "blocking_type"}
    ).json()
    assert domains["dimension_count"] == 2 and domains["result"]
    hourly = client.get(
        "/api/v1/aggregation",
        params={"probe_cc": "IR", "axis_x": "measurement_start_day", "time_grain": "hour"},
    )
    assert hourly.status_code == 422 and "counted by day" in hourly.json()["error"]
    weekly = client.get(
        "/api/v1/aggregation",
        params={"probe_cc": "IR", "axis_x": "measurement_start_day", "time_grain": "week"},
    ).json()["result"]
    assert all(dt.date.fromisoformat(r["measurement_start_day"]).weekday() == 0 for r in weekly)
    assert sum(r["measurement_count"] for r in weekly) == sum(n["measurements"] for n in ours)
    two = client.get("/api/v1/aggregation", params={"probe_cc": "IR,CN", "axis_x": "test_name"}).json()
    one = client.get("/api/v1/aggregation", params={"probe_cc": "CN", "axis_x": "test_name"}).json()
    assert sum(r["measurement_count"] for r in two["result"]) == sum(
        r["measurement_count"] for r in ooni + one["result"]
    )
    nothing = client.get("/api/v1/aggregation", params={"probe_cc": "FR"}).json()
    assert nothing == {"v": 0, "dimension_count": 0, "result": dict.fromkeys(COUNTS, 0)}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"country": "IQ"}, "unknown parameter 'country'"),
        ({"axis_x": "url"}, "axis_x"),
        ({"time_grain": "fortnight"}, "time_grain"),
        ({"format": "xml"}, "format"),
        ({"probe_asn": "ASX"}, "probe_asn"),
        ({"probe_cc": "IRQ"}, "probe_cc"),
        ({"since": "2025-04-01", "until": "2025-03-01"}, "since must be before until"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_bad_parameters_are_422(client: TestClient, params: dict[str, str], fragment: str) -> None:
    r = client.get("/api/v1/aggregation", params=params)
    assert r.status_code == 422
    assert fragment in r.json()["error"]


def test_download_sets_a_file_name(client: TestClient) -> None:
    r = client.get("/api/v1/aggregation", params={**ACCEPTANCE, "format": "CSV", "download": "true"})
    assert r.headers["content-disposition"] == "attachment; filename=aggregation.csv"


def test_raw_verdicts_win_over_aggregates(tmp_path: Path, shared_data: Path) -> None:
    db = tmp_path / "store.duckdb"
    raw = [
        verdict(f"iq{i}", "2025-03-06 10:00:00", "IQ AS51020", f"https://site{i}.example/", outcome)
        for i, outcome in enumerate(["ok", "ok", "blocked"])
    ]
    build(db, shared_data, raw)
    with open_store(db, read_only=True) as store:
        assert store.stats().aggregate_shadowed_rows == 1
    with TestClient(create_app(db), raise_server_exceptions=False) as c:
        rows = c.get("/api/v1/aggregation", params=ACCEPTANCE).json()["result"]
    assert len(rows) == 31
    assert rows[0] == {
        "measurement_start_day": "2025-03-06",
        "anomaly_count": 1,
        "confirmed_count": 0,
        "failure_count": 0,
        "measurement_count": 3,
        "ok_count": 2,
    }
    assert rows[1]["measurement_count"] == 3158  # the next day still comes from OONI's export


def test_hour_grain_from_aggregates(tmp_path: Path) -> None:
    rows = [
        {
            "measurement_start_day": f"2025-03-06T{h:02d}:00:00Z",
            "anomaly_count": 1,
            "confirmed_count": 0,
            "failure_count": 0,
            "measurement_count": 3,
            "ok_count": 2,
        }
        for h in (10, 11)
    ]
    path = tmp_path / "hours.json"
    import json

    path.write_text(json.dumps({"v": 0, "dimension_count": 1, "result": rows}))
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        ingest(store, [str(path)], dimensions={"probe_cc": "IQ", "test_name": "signal"})
    with TestClient(create_app(db), raise_server_exceptions=False) as c:
        hours = c.get(
            "/api/v1/aggregation",
            params={"probe_cc": "IQ", "axis_x": "measurement_start_day", "time_grain": "hour"},
        ).json()["result"]
        days = c.get("/api/v1/aggregation", params={"axis_x": "measurement_start_day"}).json()["result"]
    assert [r["measurement_start_day"] for r in hours] == ["2025-03-06T10:00:00Z", "2025-03-06T11:00:00Z"]
    assert days == [
        {
            "measurement_start_day": "2025-03-06",
            "anomaly_count": 2,
            "confirmed_count": 0,
            "failure_count": 0,
            "measurement_count": 6,
            "ok_count": 4,
        }
    ]


@pytest.mark.parametrize("key", sorted(PATTERNS))
def test_every_form_the_schema_states_is_accepted(key: str) -> None:
    """The OpenAPI schema's pattern of each aggregation parameter (``PATTERNS``) allows only what
    ``OoniQuery.parse`` accepts, and ``parse`` rejects what it does not allow."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(PATTERNS[key], fullmatch=True))
    def allowed(value: str) -> None:
        OoniQuery.parse({key: value})

    allowed()
    bad = {"probe_cc": "IR,IRN", "probe_asn": "AS4294967296", "since": "2023-02-29", "until": "2023-13-01"}
    bad |= {"time_grain": "hourly", "axis_x": "country", "axis_y": " probe_cc x", "format": "XML"}
    bad |= dict.fromkeys(("test_name", "domain", "input", "category_code"), "x" * 2049)
    with pytest.raises(InputError, match=f"^{key}: "):
        OoniQuery.parse({key: bad[key]})

"""``/api/v1/events`` over a real store holding the shared STOP workbook and CenAlert list."""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from netfreedom.models.event import EventFilters
from netfreedom.pipeline.events import import_events
from netfreedom.store import open_store
from netfreedom.web import create_app

from .conftest import DATA

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


INDIA_2019 = 123


INDIA_2019 = 123


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events-api") / "store.duckdb"
    with open_store(path) as store:
        import_events(
            store,
            [
                str(DATA / "events" / "accessnow_stop_2016_2022.xlsx"),
                str(DATA / "events" / "cenalert_ooni_reports.csv"),
            ],
        )
        india = store.events(EventFilters(country="IN", since=dt.date(2019, 1, 1), until=dt.date(2020, 1, 1)))
        assert len(india) == INDIA_2019  # the API answers what the store's own filter says
    return path


@pytest.fixture(scope="module")
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(db), raise_server_exceptions=False) as c:
        yield c


def test_india_2019(client: TestClient) -> None:
    r = client.get("/api/v1/events", params={"country": "IN", "since": "2019-01-01", "until": "2020-01-01"})
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == len(body["results"]) == INDIA_2019
    starts = sorted(e["start"] for e in body["results"])
    # 121 rows of STOP's 2019 sheet, the Jammu and Kashmir throttling begun 2019-08-05 (2020 sheet), and one
    # shutdown that began on 2020-01-01 (until is inclusive, as everywhere in the API).
    assert starts[0] == "2019-01-01" and starts[-1] == "2020-01-01"
    assert sum(1 for s in starts if s.startswith("2019")) == 122
    assert {e["iso2"] for e in body["results"]} == {"IN"}
    assert body["columns"][:4] == ["id", "source", "detected", "iso2"]
    kashmir = next(
        e for e in body["results"] if e["start"] == "2019-08-03" and "Kashmir Valley" in (e["area"] or "")
    )
    assert kashmir["end"] == "2020-01-25" and kashmir["kind"] == "shutdown" and kashmir["links"]


def test_filters_and_csv(client: TestClient) -> None:
    r = client.get("/api/v1/events", params={"source": "cenalert", "kind": "throttling", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 8 and {row["kind"] for row in rows} == {"throttling"}
    assert {row["detected"] for row in rows} == {"False"}
    detected = client.get("/api/v1/events", params={"detected": "true"}).json()
    assert detected["count"] == 0
    all_events = client.get("/api/v1/events").json()
    assert all_events["total"] == 1292 and all_events["count"] == 1000 and all_events["next_offset"] == 1000
    rest = client.get("/api/v1/events", params={"offset": 1000}).json()
    assert rest["count"] == 292 and rest["next_offset"] is None
    ids = {e["id"] for e in all_events["results"]} | {e["id"] for e in rest["results"]}
    assert len(ids) == 1292
    ongoing = client.get("/api/v1/events", params={"country": "ET", "since": "2022-06-01"}).json()
    assert any(e["area"] == "Tigray" and e["ongoing"] for e in ongoing["results"])


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"country": "IND"}, "country"),
        ({"since": "2019-13-01"}, "since"),
        ({"since": "2020-01-01", "until": "2019-01-01"}, "since is after until"),
        ({"kind": "outage"}, "kind"),
        ({"detected": "perhaps"}, "detected"),
        ({"source": "<script>"}, "source"),
        ({"format": "xml"}, "format"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
    ],
)
def test_bad_parameters_are_422(client: TestClient, params: dict[str, str], fragment: str) -> None:
    r = client.get("/api/v1/events", params=params)
    assert r.status_code == 422
    assert fragment in r.json()["error"]
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_openapi_and_headers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    params = {p["name"] for p in spec["paths"]["/api/v1/events"]["get"]["parameters"]}
    assert params == {"country", "since", "until", "kind", "source", "detected", "limit", "offset", "format"}
    r = client.get("/api/v1/events", params={"country": "TD"})
    assert r.headers["x-content-type-options"] == "nosniff"


def test_a_store_without_events_answers_an_empty_list(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    duckdb.connect(str(db)).close()
    with TestClient(create_app(db), raise_server_exceptions=False) as c:
        r = c.get("/api/v1/events", params={"country": "IN"})
    assert r.status_code == 200 and r.json()["count"] == 0

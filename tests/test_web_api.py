"""The read-only API over a real DuckDB store: each endpoint in JSON and CSV, errors, bounds, headers."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from netfreedom.errors import StoreError
from netfreedom.evidence import facts
from netfreedom.web import create_app

from ._report_data import EVIL_URL, SAMPLE_LISTS, sample_verdicts, write_index_tables, write_verdicts

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    root = tmp_path_factory.mktemp("api")
    db = root / "store.duckdb"
    write_verdicts(db, sample_verdicts(), SAMPLE_LISTS)
    write_index_tables(db, shared_data / "fotn" / "fotn_2018.csv")
    con = duckdb.connect(str(db))
    facts.refresh(con)
    con.close()
    site = root / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>site</title>")
    return db


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(store, site=store.parent / "site"), raise_server_exceptions=False) as c:
        yield c


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_index_json_and_csv(client: TestClient) -> None:
    r = client.get("/api/v1/index")
    assert r.status_code == 200
    body = r.json()
    assert body["year"] == 2018 and body["editions"] == [2017, 2018]
    results = body["results"]
    assert len(results) == 65
    assert results[0]["rank"] == 1 and results[-1]["iso2"] == "CN" and results[-1]["total"] == 88
    assert {"A", "B", "C"} <= set(body["columns"])
    rows = _csv(client.get("/api/v1/index", params={"year": 2017, "format": "csv"}).text)
    assert len(rows) == 10 and rows[0]["year"] == "2017"
    assert client.get("/api/v1/index", params={"year": 1999}).json() == {
        "error": "no 1999 edition (have 2017, 2018)"
    }


def test_country(client: TestClient) -> None:
    body = client.get("/api/v1/countries/cn").json()
    assert body["iso2"] == "CN" and body["latest"]["total"] == 88 and body["latest"]["status"] == "Not Free"
    assert {s["code"] for s in body["scores"]} == {"A", "B", "C"}
    assert body["flags"][0]["message"] == "Confirmed blocking of news sites."
    ev = body["evidence"]
    assert body["measurements"] > 0 and body["networks"] == 3 and body["period"] == "2017-06-01/2018-06-01"
    assert body["tested_urls"] == ev["summary"]["tested_urls"] > 0
    # 31 URLs on 3 networks, a third blocked: the interval on sites (0.15-0.66) is too wide for a score.
    assert body["score_status"] == "not_enough_evidence" and body["score_weight"] == 0.5
    assert body["score"] is None and body["score_low"] is None and body["score_high"] is None
    assert EVIL_URL in [a["input"] for a in ev["blocked"]]  # data is returned as data, the client escapes
    de = client.get("/api/v1/countries/DE").json()
    assert de["latest"]["status"] == "Free" and de["blocked_urls"] < de["tested_urls"]
    assert de["score_status"] == "scored" and de["score_low"] <= de["score"] <= de["score_high"]
    # Another period, asked for: only what falls in it, and labelled so.
    spring = client.get("/api/v1/countries/DE", params={"since": "2018-03-01", "until": "2018-03-31"}).json()
    assert spring["period"] == "2018-03-01/2018-04-01" and spring["measurements"] < de["measurements"]
    assert client.get("/api/v1/countries/QQ").status_code == 404
    assert client.get("/api/v1/countries/CHN").status_code == 422
    lst = _csv(client.get("/api/v1/countries", params={"format": "csv"}).text)
    assert {"tested_urls", "blocked_urls", "score", "score_low", "score_high"} <= set(lst[0])
    assert len(lst) == 65 and {r["iso2"] for r in lst if r["has_evidence"] == "True"} == {
        "CN",
        "DE",
        "IR",
        "RU",
    }


def test_aggregation_axes_filters_and_csv(client: TestClient) -> None:
    r = client.get("/api/v1/counts", params={"probe_cc": "IR", "axis_x": "url", "axis_y": "quarter"})
    body = r.json()
    assert body["columns"][:2] == ["url", "quarter"]
    assert (
        sum(row["measurements"] for row in body["results"])
        == client.get("/api/v1/counts", params={"probe_cc": "IR"}).json()["results"][0]["measurements"]
    )
    blocked_sites = {row["url"] for row in body["results"] if row["blocked"]}
    assert blocked_sites and all(int(u.split("site")[1].split(".")[0]) % 3 == 0 for u in blocked_sites)
    by_cat = _csv(
        client.get(
            "/api/v1/counts", params={"axis_x": "probe_cc", "axis_y": "category", "format": "csv"}
        ).text
    )
    assert {r["category"] for r in by_cat} >= {"NEWS", "POLR", "HUMR", "LGBT", "COMT", "ANON"}
    news = client.get(
        "/api/v1/counts",
        params={
            "category": "news",
            "probe_asn": "AS4134",
            "since": "2018-03-01",
            "until": "2018-06-30",
            "axis_x": "month",
        },
    ).json()["results"]
    months = [r["month"] for r in news]
    assert months and months == sorted(months) and set(months) <= {"2018-03", "2018-04", "2018-05", "2018-06"}
    assert all(r["networks"] == 1 for r in news)
    # Two time axes: counted by the finer, each row labelled with the coarser period holding it.
    weeks = client.get("/api/v1/counts", params={"probe_cc": "IR", "axis_x": "year", "axis_y": "week"}).json()
    assert weeks["results"] and all(
        r["week"].startswith(r["year"]) or r["week"].endswith("-W01") for r in weeks["results"]
    )
    quarters = client.get("/api/v1/counts", params={"axis_x": "quarter", "axis_y": "month"}).json()["results"]
    assert all(
        int(r["month"][5:]) in range(3 * int(r["quarter"][-1]) - 2, 3 * int(r["quarter"][-1]) + 1)
        for r in quarters
    )
    for axis in ("day", "week", "domain", "asn", "test_name", "method", "year"):
        assert client.get("/api/v1/counts", params={"axis_x": axis}).status_code == 200, axis


def test_measurements_paged(client: TestClient) -> None:
    first = client.get("/api/v1/measurements", params={"probe_cc": "CN", "limit": 3}).json()
    assert first["total"] > 3 and first["next_offset"] == 3 and len(first["results"]) == 3
    newest = client.get("/api/v1/measurements", params={"probe_cc": "CN", "until": "2018-05-31", "limit": 1})
    assert newest.json()["results"][0]["measurement_uid"] == "evil"
    second = client.get("/api/v1/measurements", params={"probe_cc": "CN", "limit": 3, "offset": 3}).json()
    assert not {r["measurement_uid"] for r in first["results"]} & {
        r["measurement_uid"] for r in second["results"]
    }
    rows = _csv(
        client.get(
            "/api/v1/measurements", params={"domain": "site3.example", "format": "csv", "limit": 1000}
        ).text
    )
    assert rows and {r["domain"] for r in rows} == {"site3.example"}
    last = client.get("/api/v1/measurements", params={"probe_cc": "CN", "limit": 1000}).json()
    assert last["next_offset"] is None


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": 5000}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"probe_cc": "IRN"}, "probe_cc"),
        ({"since": "2018-13-01"}, "since"),
        ({"since": "2018-05-01", "until": "2018-04-01"}, "since is after until"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_parameters_are_json_errors(client: TestClient, params: dict[str, object], fragment: str) -> None:
    r = client.get("/api/v1/measurements", params=params)
    assert r.status_code == 422
    assert fragment in r.json()["error"]
    assert "Traceback" not in r.text


def test_headers_site_and_openapi(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "<title>site</title>" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/index", "/api/v1/countries/{cc}", "/api/v1/counts", "/api/v1/measurements"} <= set(
        spec["paths"]
    )
    assert client.get("/api/v1/nothing").json() == {"error": "Not Found"}


def test_query_timeout_interrupts(store: Path, tmp_path: Path) -> None:
    # A store big enough that sorting every row for a deep page cannot finish in 50 ms.
    db = tmp_path / "big.duckdb"
    write_verdicts(db, [], [])
    con = duckdb.connect(str(db))
    con.execute(
        "INSERT INTO verdicts SELECT 'x' || i, 1, 't', "
        "TIMESTAMPTZ '2018-01-01 00:00:00+00' + to_seconds(i % 9999), "
        "'CN', 'AS1', 'n', 'web_connectivity', 'https://a' || i || '.example/', 'a' || i || '.example', "
        "'ok', NULL, 'ok', 1, false, NULL, NULL, NULL, 'f' FROM range(1500000) t(i)"
    )
    con.close()
    with TestClient(create_app(db, query_timeout=0.05)) as c:
        r = c.get("/api/v1/measurements", params={"offset": 900000})
    assert r.status_code == 503
    assert "longer than 0.05 s" in r.json()["error"]


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store"):
        create_app(tmp_path / "nope.duckdb")

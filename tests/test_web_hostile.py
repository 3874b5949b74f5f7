"""The API under hostile requests (issue #16, defect 5 and the OpenAPI conformance items).

Out-of-range or non-date days are a 422 (one validation for every endpoint); every response, errors
included (404, 405, 422, 500), carries the security headers; a 405 names the allowed methods; HEAD works
on every API route; the OpenAPI document describes the 404s, 422s and CSV answers the API gives.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from netfreedom.evidence import facts
from netfreedom.web import create_app

from ._report_data import SAMPLE_LISTS, sample_verdicts, write_index_tables, write_verdicts

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SECURITY = ("content-security-policy", "x-content-type-options", "referrer-policy")
DATED = ("/api/v1/aggregation", "/api/v1/counts", "/api/v1/measurements", "/api/v1/events")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    db = tmp_path_factory.mktemp("api") / "store.duckdb"
    write_verdicts(db, sample_verdicts(200), SAMPLE_LISTS)
    write_index_tables(db, shared_data / "fotn" / "fotn_2018.csv")
    con = duckdb.connect(str(db))
    facts.refresh(con)
    con.close()
    return db


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[TestClient]:
    app = create_app(store)

    def boom() -> None:
        raise RuntimeError("a bug nobody foresaw")

    app.add_api_route("/api/v1/boom", boom)  # stands for any bug: the 500 path
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def secured(response: object) -> bool:
    headers = response.headers  # type: ignore[attr-defined]
    return all(name in headers for name in SECURITY) and "script-src 'self'" in headers[SECURITY[0]]


@pytest.mark.parametrize("path", DATED)
@pytest.mark.parametrize(
    "params",
    [
        {"until": "9999-12-31"},
        {"since": "9999-12-31"},
        {"since": "0001-01-01"},
        {"until": "0"},
        {"since": "1700000000"},
        {"until": "2024-02-30"},
        {"since": "2024-1-5"},
        {"until": "+2024-01-01"},
        {"since": "0001-01-01T00:00:00+01:00"},
    ],
)
def test_out_of_range_and_non_dates_are_a_422(client: TestClient, path: str, params: dict[str, str]) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    [(name, _)] = params.items()
    assert r.json()["error"].startswith(f"{name}: ")
    assert secured(r)


@pytest.mark.parametrize("path", DATED)
def test_the_ends_of_the_supported_range_answer(client: TestClient, path: str) -> None:
    r = client.get(path, params={"since": "1900-01-01", "until": "2999-12-31"})
    assert r.status_code == 200, r.text


def test_every_error_carries_the_security_headers(client: TestClient) -> None:
    crash = client.get("/api/v1/boom")
    assert crash.status_code == 500 and crash.json() == {"error": "internal error"}
    assert "a bug" not in crash.text
    for r in (
        crash,
        client.get("/api/v1/nothing"),  # 404
        client.post("/api/v1/index"),  # 405
        client.get("/api/v1/measurements", params={"limit": 0}),  # 422
        client.get("/api/v1/countries/ZZ"),  # 404 from a handler
    ):
        assert r.status_code >= 400
        assert r.headers["content-type"] == "application/json"
        assert secured(r), (r.status_code, dict(r.headers))


def test_405_names_the_allowed_methods(client: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = client.request(method, "/api/v1/index")
        assert r.status_code == 405
        assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
        assert r.json() == {"error": "Method Not Allowed"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/index",
        "/api/v1/countries",
        "/api/v1/countries/CN",
        "/api/v1/aggregation",
        "/api/v1/counts",
        "/api/v1/measurements",
        "/api/v1/events",
        "/openapi.json",
    ],
)
def test_head_answers_as_get_without_a_body(client: TestClient, path: str) -> None:
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]
    assert secured(head)
    assert client.head("/api/v1/nothing").status_code == 404


def test_the_openapi_document_describes_errors_and_csv(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    for path, item in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        operation = item["get"]
        responses = operation["responses"]
        assert {"200", "404", "422"} <= set(responses), path
        assert responses["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
        params = {p["name"]: p for p in operation.get("parameters", [])}
        if "format" in params:
            assert "text/csv" in responses["200"]["content"], path
        for day in ("since", "until"):
            # OONI's aggregation takes a date or a date-time, checked by report.ooni (with models.days).
            if day in params and path != "/api/v1/aggregation":
                assert params[day]["schema"].get("format") == "date" or "pattern" in str(
                    params[day]["schema"]
                )

"""One evidence model, one set of numbers: for every country of the example build, the site's data files,
the API's answers, ``netfreedom evidence countries`` and the index's evidence give identical figures — and the
acceptance figures of the shared sample (all time: Iran 2 blocked and 2 confirmed URLs, UK and US none)."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from netfreedom.evidence.model import Filters, Window, evidence
from netfreedom.store import open_store
from netfreedom.web import create_app

from .conftest import DATA, ROOT, run_cli

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FIGURES = (
    "measurements",
    "networks",
    "tested_urls",
    "blocked_urls",
    "confirmed_urls",
    "blocked_share",
    "blocked_low",
    "blocked_high",
    "score",
    "score_low",
    "score_high",
    "score_status",
    "score_weight",
)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=ROOT, timeout=None, COLUMNS="200")


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("example")
    db, site = root / "store.duckdb", root / "site"
    built = _cli("build", "examples/fotn-2018", "--mirror", str(DATA), "--db", str(db), "--output", str(site))
    assert built.returncode == 0, built.stderr
    return db, site


@pytest.fixture(scope="module")
def client(example: tuple[Path, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(example[0]), raise_server_exceptions=False) as c:
        yield c


def _figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in FIGURES)


def test_index_evidence_is_the_model_recomputed(example: tuple[Path, Path]) -> None:
    """Runs before the API holds the store open: stored figures = the site's file = the model, recomputed
    with the rules the edition stored."""
    db, site = example
    stored = json.loads((site / "data" / "indicator-evidence.json").read_text())
    assert stored, "the example's methodology maps indicators to evidence"
    with open_store(db, read_only=True) as store:
        document = store.query("SELECT document FROM index_methodology WHERE year = 2018", None)
        doc = json.loads(document.column("document")[0].as_py())
        rules = {(r["indicator"], r["measure"]): r for r in doc["evidence"]}
        table = store.query("SELECT * FROM index_evidence ORDER BY year, iso2, code", None).to_pylist()
        assert [r["tested"] for r in table] == [r["tested"] for r in stored]
        for figure in stored:
            if figure["measure"] == "events":  # the record of events, not measurements (test_events_index)
                continue
            rule = rules[(figure["code"], figure["measure"])]
            flt = Filters(
                country=figure["iso2"], categories=tuple(rule["categories"]), tests=tuple(rule["tests"])
            )
            found = evidence(store.query, rule["measure"], window=Window.parse(figure["period"]), filters=flt)
            [again] = found.to_pylist() or [None]
            counted = (0, 0, 0) if again is None else (again["tested"], again["blocked"], again["confirmed"])
            assert (figure["tested"], figure["blocked"], figure["confirmed"]) == counted, figure
            if again is not None:
                assert figure["examples"] == again["examples"], figure
                assert figure["blocked_low"] == again["blocked_low"], figure


def test_site_api_cli_and_index_agree_for_every_country(
    example: tuple[Path, Path], client: TestClient
) -> None:
    db, site = example
    files = {r["iso2"]: r for r in json.loads((site / "data" / "evidence-countries.json").read_text())}
    listed = client.get("/api/v1/countries").json()
    # Every country with any evidence is listed; those with measurements in the period have figures.
    api_list = {r["iso2"]: r for r in listed["results"] if r["has_evidence"] and r["measurements"]}
    cli = _cli("evidence", "countries", "--format", "json", "--db", str(db))
    assert cli.returncode == 0, cli.stderr
    doc = json.loads(cli.stdout)
    cli_rows = {r["iso2"]: r for r in doc["countries"]}
    # The default period everywhere: the 2018 edition's coverage (fotn-legacy: June 2017 to May 2018).
    assert doc["period"] == listed["period"] == "2017-06-01/2018-06-01"
    assert set(files) == set(api_list) == set(cli_rows) and len(files) >= 2
    for cc, row in files.items():
        one = client.get(f"/api/v1/countries/{cc}").json()
        assert one["period"] == row["period"] == doc["period"], cc
        assert _figures(row) == _figures(api_list[cc]) == _figures(one) == _figures(cli_rows[cc]), cc
        assert _figures(one["evidence"]["summary"]) == _figures(row), cc

    # Index evidence: the API gives the stored figures, as the site's file does.
    for figure in json.loads((site / "data" / "indicator-evidence.json").read_text()):
        api = client.get(f"/api/v1/countries/{figure['iso2']}").json()["indicator_evidence"]
        [same] = [e for e in api if e["code"] == figure["code"]]
        assert {k: same[k] for k in figure if k in same} == {k: figure[k] for k in same if k in figure}


def test_acceptance_over_all_time(example: tuple[Path, Path], client: TestClient) -> None:
    db, _ = example
    cli = _cli("evidence", "countries", "--since", "1970-01-01", "--format", "json", "--db", str(db))
    assert cli.returncode == 0, cli.stderr
    rows = {r["iso2"]: r for r in json.loads(cli.stdout)["countries"]}
    assert (rows["IR"]["blocked_urls"], rows["IR"]["confirmed_urls"]) == (2, 2)
    assert rows["GB"]["blocked_urls"] == 0 and rows["US"]["blocked_urls"] == 0
    for cc, row in rows.items():
        assert row["measurements"] > 0
        if row["score_status"] == "scored":
            assert row["score_low"] <= row["score"] <= row["score_high"], cc
            assert row["score_high"] - row["score_low"] <= 50 and row["score_weight"] >= 0.5, cc
        else:
            assert row["score_status"] == "not_enough_evidence", cc
            assert (row["score"], row["score_low"], row["score_high"]) == (None, None, None), cc
        api = client.get(f"/api/v1/countries/{cc}", params={"since": "1970-01-01"}).json()
        assert (api["tested_urls"], api["blocked_urls"]) == (row["tested_urls"], row["blocked_urls"]), cc
    # Thin evidence is not a point score: the UK's one middlebox detection is not 0, a country with
    # performance tests only (Austria) is not 100, one blocked URL (Australia) is not 0.
    assert (rows["GB"]["score_status"], rows["GB"]["score_weight"]) == ("not_enough_evidence", 0.1)
    assert (rows["AT"]["tested_urls"], rows["AT"]["score_weight"], rows["AT"]["score"]) == (0, 0.0, None)
    assert (rows["AU"]["blocked_urls"], rows["AU"]["score"]) == (1, None)
    # Enough evidence gives a score: Italy's URLs, apps and tools on 3 networks, Iraq's OONI aggregates.
    assert {cc for cc, r in rows.items() if r["score_status"] == "scored"} == {"IE", "IQ", "IT"}
    assert (rows["IT"]["score"], rows["IT"]["score_low"], rows["IT"]["score_high"]) == (100, 63.9, 100)
    # Nothing without a URL is counted as a URL: the UK's middlebox test and the US's Signal test.
    gb = client.get("/api/v1/countries/GB", params={"since": "1970-01-01"}).json()
    assert gb["middleboxes_blocked"] == 1 and gb["tested_urls"] == 0
    assert all(r["tested"] == 0 for r in gb["evidence"]["networks"])
    us = client.get("/api/v1/countries/US", params={"since": "1970-01-01"}).json()
    assert us["apps_blocked"] == 1 and us["blocked_urls"] == 0
    assert [t["test"] for t in us["evidence"]["tests"] if t["blocked"]] == ["signal"]


def test_one_listing_of_single_verdicts(example: tuple[Path, Path], client: TestClient) -> None:
    """The country page's latest blocked measurements, ``/api/v1/measurements`` and ``Store.verdicts`` are
    one selection (``evidence.listing``, which ``Store.verdicts`` reads too): the same verdicts, newest
    first, times shown alike."""
    db, _ = example
    since = {"since": "1970-01-01"}
    page = client.get("/api/v1/countries/IR", params=since).json()["evidence"]["blocked"]
    assert page and all(r["outcome"] == "blocked" and r["probe_cc"] == "IR" for r in page)
    listed = client.get("/api/v1/measurements", params={"probe_cc": "ir", **since, "limit": 1000}).json()
    api_rows = [r for r in listed["results"] if r["outcome"] == "blocked"]
    assert listed["total"] == len(listed["results"]) > len(api_rows)
    assert [{k: r[k] for k in api_rows[0]} for r in page] == api_rows
    assert all(
        r["explorer_url"] in (None, "https://explorer.ooni.org/m/" + r["measurement_uid"]) for r in page
    )
    con = duckdb.connect(str(db), read_only=True)  # as the API opens it (one configuration per file)
    try:
        stored = con.execute(
            "SELECT measurement_uid, measurement_start_time FROM verdicts WHERE probe_cc = 'IR' "
            "AND outcome = 'blocked' ORDER BY measurement_start_time DESC, measurement_uid"
        ).fetchall()
    finally:
        con.close()
    assert [uid for uid, _ in stored] == [r["measurement_uid"] for r in page]
    shown = stored[0][1].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert page[0]["measurement_start_time"] == shown


def test_thin_evidence_is_no_score_on_the_site(example: tuple[Path, Path]) -> None:
    """In the coverage period the sample holds Australia (one blocked URL) and Belgium (performance tests
    only): neither gets a point score on its page, and Australia's ranking row sorts with the unmeasured."""
    _, site = example
    html = (site / "index.html").read_text()
    cell = r'<tr data-cc="([A-Z]{2})">.*?<td class="num measured-score" data-v="([^"]*)">'
    cells = dict(re.findall(cell, html, re.S))
    assert len(cells) == 65 and set(cells.values()) == {""}  # nothing sorts as a score
    row = re.search(r'<tr data-cc="AU">.*?</tr>', html, re.S)  # Belgium has no index score, no row
    assert row is not None and ">not enough evidence</span>" in row.group(0)
    for cc in ("AU", "BE"):
        page = (site / "country" / f"{cc}.html").read_text()
        assert re.search(r'id="score">not enough evidence<', page), cc
        assert re.search(r'id="score-thin">[^<]*too little for a measured score', page), cc
    assert "1 measurement from 1 network tested 1 URL and 0 app" in (site / "country" / "AU.html").read_text()

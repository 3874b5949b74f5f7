"""The static site: ranking, map, country pages, methodology and downloads from a real DuckDB store."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import pytest

from netfreedom.errors import StoreError
from netfreedom.evidence import facts
from netfreedom.report.geo import world_map
from netfreedom.report.site import write_site

from ._report_data import EVIL_URL, SAMPLE_LISTS, sample_verdicts, write_index_tables, write_verdicts


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> tuple[Path, Path, list[dict[str, str]]]:
    root = tmp_path_factory.mktemp("site")
    db = root / "store.duckdb"
    write_verdicts(db, sample_verdicts(), SAMPLE_LISTS)
    ranked = write_index_tables(db, shared_data / "fotn" / "fotn_2018.csv")
    con = duckdb.connect(str(db))
    facts.refresh(con)
    con.close()
    ro = duckdb.connect(str(db), read_only=True)
    world = world_map((shared_data / "geo" / "countries-50m.json").read_bytes())
    write_site(ro, root / "site", world=world, title="Test index")
    ro.close()
    return db, root / "site", ranked


def test_ranking_lists_every_country_in_rank_order(built: tuple[Path, Path, list[dict[str, str]]]) -> None:
    _, site, ranked = built
    html = (site / "index.html").read_text()
    order = re.findall(r'<tr data-cc="([A-Z]{2})">', html)
    expected = [r["iso2"] for r in sorted(ranked, key=lambda r: (int(r["rank_by_total"]), r["country"]))]
    assert len(order) == 65
    assert order == expected
    assert order[-1] == "CN"
    # Every ranked country has a shape on the map, coloured by its total, linking to its page.
    for cc in order:
        assert re.search(rf'<g class="country s\d ranked" data-cc="{cc}">', html), cc
        assert (site / "country" / f"{cc}.html").is_file()


def test_pages_carry_a_csp_and_load_only_local_files(built: tuple[Path, Path, list[dict[str, str]]]) -> None:
    _, site, _ = built
    pages = list(site.rglob("*.html"))
    assert len(pages) > 65
    for page in pages:
        html = page.read_text()
        assert "script-src &#39;self&#39;" in html, page
        srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert not [s for s in srcs if s.startswith(("http:", "https:", "//"))], page
        assert "<script>" not in html and "onerror=" not in html.replace("onerror=&#34;", ""), page
    assert (site / "static" / "sort.js").is_file() and (site / "static" / "site.css").is_file()


def test_hostile_measurement_is_escaped_and_not_linked(
    built: tuple[Path, Path, list[dict[str, str]]],
) -> None:
    _, site, _ = built
    html = (site / "country" / "CN.html").read_text()
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&lt;script&gt;window.__pwned=3&lt;/script&gt;&lt;svg onload=alert(1)&gt;" in html
    assert "evil.example" in html
    assert 'href="https://evil' not in html and 'href="https://site' not in html
    assert EVIL_URL not in html


def test_country_page_shows_scores_and_evidence(built: tuple[Path, Path, list[dict[str, str]]]) -> None:
    _, site, ranked = built
    html = (site / "country" / "CN.html").read_text()
    cn = next(r for r in ranked if r["iso2"] == "CN")
    assert f'<span class="score" id="total">{cn["total"]}</span>' in html
    for code, col in (
        ("A", "A_obstacles_access"),
        ("B", "B_limits_content"),
        ("C", "C_violations_user_rights"),
    ):
        row = re.search(rf'<tr data-code="{code}">(.*?)</tr>', html, re.S)
        assert row and f'<td class="num">{cn[col]}</td>' in row.group(1)
    assert "Confirmed blocking of news sites." in html  # the review flag
    for section in ("by-category", "by-method", "top-domains", "by-asn", "anomalies"):
        assert f'id="{section}"' in html, section
    assert (
        'class="timeline"' in html and 'class="history"' not in html
    )  # one edition with history? no: CN not in 2017
    assert "AS4134" in html


def test_country_pages_state_their_evidence_period(built: tuple[Path, Path, list[dict[str, str]]]) -> None:
    db, site, _ = built
    with duckdb.connect(str(db), read_only=True) as con:
        first, _last = con.execute(
            "SELECT min(measurement_start_time)::DATE, max(measurement_start_time)::DATE FROM verdicts "
            "WHERE probe_cc = 'CN'"
        ).fetchone()
    html = (site / "country" / "CN.html").read_text()
    period = re.search(r'<p id="evidence-period">(.*?)</p>', html, re.S)
    assert period, "CN has measurements: the page says from when to when"
    text = " ".join(re.sub(r"<[^>]+>", "", period.group(1)).split())
    # The page shows the 2018 edition's coverage period (fotn-legacy: June 2017 to May 2018, its [coverage]
    # start_month = 6), where CN's measurements fall, and says so; other periods are listed by year.
    assert first < dt.date(2018, 6, 1)  # some of CN's measurements fall in it (not all: 2018 goes on)
    assert text.startswith(
        "Measurements from 1 Jun 2017 to 31 May 2018: the coverage period of the 2018 edition"
    )
    # Estonia is scored but was never measured here: the page says so instead of leaving a gap.
    ee = (site / "country" / "EE.html").read_text()
    assert 'id="evidence-period"' not in ee
    none = re.search(r'<p id="no-evidence"[^>]*>(.*?)</p>', ee, re.S)
    assert none
    assert " ".join(none.group(1).split()).startswith("No measurements from Estonia are in this store")


def test_history_chart_when_several_editions(built: tuple[Path, Path, list[dict[str, str]]]) -> None:
    _, site, ranked = built
    first = ranked[0]["iso2"]  # the helper gives the first ten countries a 2017 edition
    html = (site / "country" / f"{first}.html").read_text()
    assert 'class="history"' in html and ">2017<" in html and ">2018<" in html
    assert (site / "edition-2017.html").is_file()


def test_downloads_match_the_store(built: tuple[Path, Path, list[dict[str, str]]]) -> None:
    _, site, _ = built
    with (site / "data" / "index.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 65 + 10
    records = json.loads((site / "data" / "index.json").read_text())
    assert {r["iso2"] for r in records} == {r["iso2"] for r in rows}
    con = duckdb.connect()
    n = con.execute(f"SELECT count(*) FROM '{site / 'data' / 'index.parquet'}'").fetchone()
    assert n == (75,)
    monthly = con.execute(
        f"SELECT sum(measurements) FROM '{site / 'data' / 'evidence-monthly.parquet'}'"
    ).fetchone()
    assert monthly == (1501,)


def test_rewriting_an_unchanged_store_touches_nothing(
    built: tuple[Path, Path, list[dict[str, str]]], shared_data: Path
) -> None:
    db, site, _ = built
    before = {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()}
    ro = duckdb.connect(str(db), read_only=True)
    world = world_map((shared_data / "geo" / "countries-50m.json").read_bytes())
    result = write_site(ro, site, world=world, title="Test index")
    ro.close()
    assert result.written == []
    assert {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()} == before


def test_stale_evidence_tables_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    write_verdicts(db, sample_verdicts(20), SAMPLE_LISTS)
    con = duckdb.connect(str(db))
    facts.refresh(con)
    con.execute("DELETE FROM verdicts WHERE measurement_uid = 'u00001'").fetchall()
    with pytest.raises(StoreError, match="stale"):
        write_site(con, tmp_path / "site", world=None)
    assert facts.refresh(con) is True
    result = write_site(con, tmp_path / "site", world=None)
    assert result.pages >= 5 and (tmp_path / "site" / "index.html").is_file()


def test_map_colours_follow_the_status_bands(built: tuple[Path, Path, list[dict[str, str]]]) -> None:
    from netfreedom.evidence.tables import methodology_document
    from netfreedom.index.methodology import load_methodology
    from netfreedom.report.bands import shades
    from netfreedom.report.model import _methodology

    legacy = shades(_methodology(methodology_document(load_methodology("fotn-legacy"), 2018)))
    assert [(s.css, s.status, s.low, s.high) for s in legacy] == [
        ("s0", "Free", 0, 15),
        ("s1", "Free", 16, 30),
        ("s2", "Partly Free", 31, 45),
        ("s3", "Partly Free", 46, 60),
        ("s4", "Not Free", 61, 80),
        ("s5", "Not Free", 81, 100),
    ]
    # On the 100-best scale the freest shade holds the highest totals.
    current = shades(_methodology(methodology_document(load_methodology("fotn"), 2024)))
    assert [(s.status, s.low, s.high) for s in current[:2]] == [("Free", 86, 100), ("Free", 70, 85)]
    assert current[-1].status == "Not Free" and current[-1].low == 0
    _, site, ranked = built
    html = (site / "index.html").read_text()
    by_css = {s.css: s for s in legacy}
    for r in ranked:
        css = re.search(rf'<g class="country (s\d) ranked" data-cc="{r["iso2"]}">', html)
        assert css, r["iso2"]
        shade = by_css[css.group(1)]
        assert shade.status == r["status"] and shade.low <= float(r["total"]) <= shade.high, r
    legend = re.search(r'<div class="legend" id="map-legend">(.*?)</div>', html, re.S)
    assert legend
    text = " ".join(re.sub(r"<[^>]+>", " ", legend.group(1)).split())
    assert text == "0–15 16–30 Free 31–45 46–60 Partly Free 61–80 81–100 Not Free not scored"


def test_ranking_prints_each_interval(built: tuple[Path, Path, list[dict[str, str]]]) -> None:
    db, site, _ = built
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT iso2, total_low, total_high FROM index_results WHERE year = 2018"
        ).fetchall()
    html = (site / "index.html").read_text()
    for iso2, low, high in rows:
        row = re.search(rf'<tr data-cc="{iso2}">(.*?)</tr>', html, re.S)
        assert row and f'<span class="ends">{low:g}–{high:g}</span>' in row.group(1), iso2


def test_methodology_page_explains_the_edition(built: tuple[Path, Path, list[dict[str, str]]]) -> None:
    from netfreedom.index.methodology import Measure, load_methodology
    from netfreedom.index.results import FlagKind

    _, site, _ = built
    html = (site / "methodology.html").read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    meth = load_methodology("fotn-legacy")
    since, until = meth.coverage(2018)
    assert "checks its scores against measurements made from 1 Jun 2017 to 31 May 2018" in text
    assert since.isoformat() == "2017-06-01" and until.isoformat() == "2018-06-01"
    for rule in meth.evidence:
        row = re.search(rf'<tr id="check-{rule.indicator}-{rule.measure.value}">(.*?)</tr>', html, re.S)
        assert row, rule.indicator
        if rule.measure is Measure.EVENTS:
            assert ", ".join(rule.kinds).replace("_", " ") in row.group(1), rule.indicator
            continue
        items = rule.categories if rule.categories else rule.tests
        assert ", ".join(items) in row.group(1), rule.indicator
        assert f"At least <strong>{rule.min_tested}</strong> tested" in row.group(1)
    # Every kind of review flag the engine can raise is explained.
    for kind in FlagKind:
        assert f'id="flag-{kind.value}"' in html, kind
    assert f"more than {meth.review.indicator_change:g} points" in text
    u = meth.uncertainty
    assert f"{u.draws:,} times (seed {u.seed})" in text
    assert f"the central {u.level * 100:g}% of a country's drawn totals" in text

"""The built example site in headless Chromium: ranking order, map shapes, country scores, and hostile
measurement content that must stay inert.  Screenshots are saved in the test's temp folder."""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netfreedom.fetch import Fetcher
from netfreedom.pipeline.build import build_project
from netfreedom.pipeline.project import load_project
from netfreedom.report.publish import load_world, publish

from ._report_data import HOSTILE_NETWORK, HOSTILE_URL, example_project, hostile_measurement, iso2_of
from .conftest import DATA, MEASUREMENTS

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    hostile = tmp / "hostile.jsonl"
    hostile.write_bytes(hostile_measurement(MEASUREMENTS))
    project = load_project(example_project(tmp, MEASUREMENTS, extra=[hostile]))
    fetcher = Fetcher(cache_dir=tmp / "cache", mirrors=project.mirrors([str(DATA)]))
    try:
        steps = build_project(project, db=project.store_path, fetcher=fetcher)
        assert [s.step for s in steps] == ["ingest", "test lists", "analyze", "index"]
        publish(
            project.store_path,
            project.output_path,
            world=load_world(fetcher, project.map),
            title=project.title,
        )
    finally:
        fetcher.close()
    return project.output_path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found (Debian's chromium package; .ci/run installs it)")
    profile = tempfile.mkdtemp(prefix="nf-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


class Watch:
    """Everything a page did that it must not: dialogs, console errors, page errors, non-file requests."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def assert_clean(self) -> None:
        assert self.dialogs == []
        assert self.errors == []
        assert [c for c in self.console if c.startswith("error")] == []
        assert [u for u in self.requests if not u.startswith("file://")] == []


def _expected_ranking() -> dict[str, int]:
    with (DATA / "fotn" / "fotn_2018.csv").open(encoding="utf-8") as f:
        return {iso2_of(r["country"]): int(r["rank_by_total"]) for r in csv.DictReader(f)}


def test_ranking_map_and_sorting(site: Path, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page()
    watch = Watch(page)
    page.goto((site / "index.html").as_uri())
    expected = _expected_ranking()
    rows = page.eval_on_selector_all(
        "#ranking tbody tr", "rs => rs.map(r => [r.dataset.cc, parseInt(r.cells[0].dataset.v)])"
    )
    assert len(rows) == 65
    assert dict(rows) == expected
    assert [rank for _, rank in rows] == sorted(rank for _, rank in rows)
    assert rows[-1] == ["CN", 65] and {rows[0][0], rows[1][0]} == {"EE", "IS"}
    # One visible shape per ranked country, coloured by its total.
    shapes = page.eval_on_selector_all(
        "#world g.ranked",
        "gs => gs.map(g => { const p = g.querySelector('path'); const b = p.getBBox(); "
        "return [g.dataset.cc, b.width > 0 && b.height > 0, getComputedStyle(p).fill]; })",
    )
    assert sorted(cc for cc, _, _ in shapes) == sorted(expected)
    assert all(visible for _, visible, _ in shapes)
    fills = {cc: fill for cc, _, fill in shapes}
    assert fills["CN"] != fills["EE"] and fills["CN"] != "rgb(213, 217, 224)"
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    # The bundled script sorts: total descending puts the least free first.
    page.click("#ranking th:has-text('Total')")
    page.click("#ranking th:has-text('Total')")
    assert page.eval_on_selector("#ranking tbody tr", "r => r.dataset.cc") == "CN"
    page.fill("#filter", "iran")
    visible = page.eval_on_selector_all(
        "#ranking tbody tr", "rs => rs.filter(r => !r.hidden).map(r => r.dataset.cc)"
    )
    assert visible == ["IR"]
    watch.assert_clean()
    page.close()


def test_country_page_shows_its_scores(site: Path, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page()
    watch = Watch(page)
    page.goto((site / "index.html").as_uri())
    page.click("#ranking a:text-is('China')")
    assert page.url.endswith("/country/CN.html")
    assert page.inner_text("#total") == "88"
    cats = page.eval_on_selector_all(
        "#category-scores tbody tr", "rs => rs.map(r => [r.dataset.code, r.cells[1].innerText.split(' ')[0]])"
    )
    assert [c for c, _ in cats] == ["A", "B", "C"]
    with (DATA / "fotn" / "fotn_2018.csv").open(encoding="utf-8") as f:
        cn = next(r for r in csv.DictReader(f) if r["country"] == "China")
    assert dict(cats) == {
        "A": cn["A_obstacles_access"],
        "B": cn["B_limits_content"],
        "C": cn["C_violations_user_rights"],
    }
    assert "Not Free" in page.inner_text(".country-hero")
    page.screenshot(path=str(tmp_path / "china.png"), full_page=True)
    watch.assert_clean()
    page.close()


def test_hostile_measurement_executes_nothing(site: Path, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page()
    watch = Watch(page)
    page.goto((site / "country" / "ID.html").as_uri())
    page.wait_for_load_state("load")
    page.hover("#anomalies")
    text = page.inner_text("#anomalies")
    assert HOSTILE_URL in text  # shown, as text
    assert "<script>window.__pwned=3</script>" in text and "Evil ISP" in text and HOSTILE_NETWORK[:20] in text
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert (
        page.eval_on_selector_all(
            "#anomalies script, #anomalies img, #anomalies b, #anomalies a", "e => e.length"
        )
        == 0
    )
    assert page.eval_on_selector_all("a[href*='archive.org']", "e => e.length") == 0
    page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)
    watch.assert_clean()
    page.close()
    assert (tmp_path / "hostile.png").stat().st_size > 10_000


@pytest.mark.parametrize("width", [390, 1400])
def test_header_and_interval_bars_fit_at_phone_and_desktop_width(
    site: Path, browser: Any, tmp_path: Path, width: int
) -> None:
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    for rel in ("index.html", "country/IR.html", "methodology.html"):
        page.goto((site / rel).as_uri())
        # Nothing in the header is clipped or spills out of it: the title and every link lie inside.
        header = page.eval_on_selector("header.top", "h => h.getBoundingClientRect().toJSON()")
        boxes = page.eval_on_selector_all(
            "header.top .brand, header.top nav a", "es => es.map(e => e.getBoundingClientRect().toJSON())"
        )
        assert len(boxes) == 4
        for b in boxes:
            assert b["top"] >= header["top"] and b["bottom"] <= header["bottom"], (rel, b, header)
            assert b["left"] >= 0 and b["right"] <= width, (rel, b)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, rel
        page.screenshot(path=str(tmp_path / f"{rel.replace('/', '-')}-{width}.png"), full_page=True)
    # The ranking's interval: a visible bar from low to high, the point inside it, the ends printed.
    page.goto((site / "index.html").as_uri())
    bars = page.eval_on_selector_all(
        "#ranking tbody tr",
        "rs => rs.map(r => { const s = r.querySelector('.interval'); "
        "const range = s.querySelector('.range'); const point = s.querySelector('.point'); "
        "const a = range.getBBox(), p = point.getBBox(); "
        "return [r.dataset.cc, a.width, a.x, a.x + a.width, p.x + p.width / 2, "
        "s.querySelector('.ends').textContent]; })",
    )
    assert len(bars) == 65
    for cc, w, left, right, mid, ends in bars:
        assert w >= 3 and left - 0.5 <= mid <= right + 0.5, cc
        assert re.fullmatch(r"\d+–\d+|\d+", ends), (cc, ends)
    page.close()

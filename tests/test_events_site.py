"""Events on the static site: the band and the tables on country pages, escaped; the methodology section."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from netfreedom.evidence import facts
from netfreedom.models.event import Event, EventKind, EventScope
from netfreedom.report.events_view import CountryEvents, band_months, event_band
from netfreedom.report.site import write_site
from netfreedom.store.events import put_events

from ._report_data import SAMPLE_LISTS, sample_verdicts, write_index_tables, write_verdicts

HOSTILE = '<script>alert("area")</script>'


def _event(n: int, cc: str, start: dt.date, **kw: object) -> Event:
    fields: dict[str, object] = {
        "id": f"t-{cc}-{n}",
        "source": "test",
        "iso2": cc,
        "country": cc,
        "start": start,
        "kind": EventKind.SHUTDOWN,
        "scope": EventScope.REGIONAL,
    }
    fields.update(kw)
    return Event(**fields)  # type: ignore[arg-type]


EVENTS = [
    _event(
        1,
        "CN",
        dt.date(2018, 3, 1),
        end=dt.date(2018, 3, 4),
        area=HOSTILE,
        links=(
            "https://example.org/report?a=1&b=2",
            "javascript:alert(1)",
            'http://x.example/"onmouseover="x',
        ),
    ),
    _event(
        2, "CN", dt.date(2017, 6, 4), ongoing=True, kind=EventKind.SERVICE_BLOCKING, services=("WhatsApp",)
    ),
    _event(
        3,
        "CN",
        dt.date(2018, 5, 2),
        end=dt.date(2018, 5, 3),
        detected=True,
        source="netfreedom-detect",
        signal="volume_drop",
        baseline=120.0,
        observed=4.0,
        ratio=0.0333,
        confidence=0.9,
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    root = tmp_path_factory.mktemp("events-site")
    db = root / "store.duckdb"
    write_verdicts(db, sample_verdicts(), SAMPLE_LISTS)
    write_index_tables(db, shared_data / "fotn" / "fotn_2018.csv")
    con = duckdb.connect(str(db))
    put_events(con, EVENTS)
    facts.refresh(con)
    con.close()
    ro = duckdb.connect(str(db), read_only=True)
    write_site(ro, root / "site", world=None, title="Test index")
    ro.close()
    return root / "site"


def test_country_page_lists_curated_and_detected_events_apart(site: Path) -> None:
    page = (site / "country" / "CN.html").read_text(encoding="utf-8")
    assert 'id="events"' in page
    curated = page[page.index('id="events-curated"') : page.index('id="events-detected"')]
    assert "t-CN-1" in curated and "t-CN-2" in curated and "t-CN-3" not in curated
    detected = page[page.index('id="events-detected"') :]
    assert "t-CN-3" in detected and "volume drop" in detected
    assert "<em>ongoing</em>" in curated
    assert "2 curated events (1 shutdowns, 0 throttling, 1 service blocking) and 1 detected" in page


def test_event_text_and_links_are_escaped(site: Path) -> None:
    page = (site / "country" / "CN.html").read_text(encoding="utf-8")
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#34;area&#34;)&lt;/script&gt;" in page
    hrefs = re.findall(r'href="([^"]*)"', page[page.index('id="events"') :])
    assert "https://example.org/report?a=1&amp;b=2" in hrefs
    assert not [h for h in hrefs if h.startswith("javascript")]
    assert 'onmouseover="x' not in page  # the quote is escaped inside the href
    assert 'rel="noopener noreferrer nofollow"' in page


def test_band_draws_every_event_in_its_lane(site: Path) -> None:
    page = (site / "country" / "CN.html").read_text(encoding="utf-8")
    svg = page[page.index('<svg class="event-band"') :]
    svg = svg[: svg.index("</svg>")]
    assert len(re.findall(r'<rect class="ev ev-shutdown"', svg)) == 1
    assert len(re.findall(r'<rect class="ev ev-service_blocking ev-ongoing"', svg)) == 1
    assert len(re.findall(r'<rect class="ev ev-detected"', svg)) == 1
    assert "<title>2018-03-01 – 2018-03-04: shutdown, &lt;script&gt;" in svg


def test_pages_without_events_have_no_section(site: Path) -> None:
    assert 'id="events"' not in (site / "country" / "DE.html").read_text(encoding="utf-8")


def test_methodology_explains_curated_and_detected(site: Path) -> None:
    page = (site / "methodology.html").read_text(encoding="utf-8")
    assert 'id="events-methodology"' in page
    assert "Curated events" in page and "Detected events" in page


def test_band_spans_the_chart_months_widened_to_the_events() -> None:
    events = CountryEvents(curated=[EVENTS[0]])
    assert band_months(events, ["2018-01", "2018-02", "2018-03", "2018-04"]) == [
        "2018-01",
        "2018-02",
        "2018-03",
        "2018-04",
    ]
    assert band_months(events, ["2018-05"]) == ["2018-03", "2018-04", "2018-05"]
    assert band_months(CountryEvents(), None) == []
    assert str(event_band(CountryEvents(), None)) == ""
    old = _event(9, "CN", dt.date(1990, 1, 1))
    assert len(band_months(CountryEvents(curated=[old, EVENTS[0]]), None)) == 240  # the last 20 years at most

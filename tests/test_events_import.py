"""Curated events: reading STOP workbooks and event-list CSVs, de-duplication, the store table, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from netfreedom.events import RowNote, RowProblem, read_event_file
from netfreedom.events.cells import Columns, find_header, parse_date, parse_mapping
from netfreedom.events.classify import kind_of, scope_of, services_of
from netfreedom.events.dedupe import Deduper, area_similarity
from netfreedom.evidence.model import EPOCH, FAR, Axis, Window, evidence
from netfreedom.models.countries import iso2_of
from netfreedom.models.event import Event, EventFilters, EventKind, EventScope
from netfreedom.pipeline.events import import_events
from netfreedom.store import open_store
from netfreedom.store.events import select_events

from .conftest import DATA, ROOT, run_cli

EVENTS = DATA / "events"
STOP = EVENTS / "accessnow_stop_2016_2022.xlsx"
CENALERT = EVENTS / "cenalert_ooni_reports.csv"


def _netfreedom(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=ROOT, timeout=None)


# -- cells ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (dt.datetime(2019, 8, 5, 13, 30), dt.date(2019, 8, 5)),
        (dt.date(2020, 1, 2), dt.date(2020, 1, 2)),
        (43682, dt.date(2019, 8, 5)),  # Excel serial
        (43682.75, dt.date(2019, 8, 5)),  # Excel serial with a time of day
        ("43682", dt.date(2019, 8, 5)),  # serial written as text (CSV export)
        ("2019-08-05", dt.date(2019, 8, 5)),
        ("2019-08-05 14:00:00", dt.date(2019, 8, 5)),
        ("2019-08-05T14:00:00Z", dt.date(2019, 8, 5)),
        ("2019/8/5", dt.date(2019, 8, 5)),
        ("8/5/2019", dt.date(2019, 8, 5)),  # US order
        ("25/8/2019", dt.date(2019, 8, 25)),  # day first when it cannot be a month
        ("5.8.2019", dt.date(2019, 8, 5)),  # dots: day first
        ("5 August 2019", dt.date(2019, 8, 5)),
        ("Aug 5, 2019", dt.date(2019, 8, 5)),
        ("4/1/2018 upon CAF visit", dt.date(2018, 4, 1)),
        ("  2019-08-05  ", dt.date(2019, 8, 5)),
    ],
)
def test_dates_in_every_form_the_lists_use(cell: object, expected: dt.date) -> None:
    parsed = parse_date(cell)
    assert parsed.value == expected
    assert parsed.problem is None


@pytest.mark.parametrize("cell", [None, "", "Unknown", "Unkown ", "n/a", "-"])
def test_empty_and_unknown_dates_are_no_date_without_a_problem(cell: object) -> None:
    parsed = parse_date(cell)
    assert parsed.value is None and parsed.problem is None and not parsed.ongoing


@pytest.mark.parametrize("cell", ["ongoing", "Ongoing ", "ONGOING (as of 2022)"])
def test_ongoing_is_no_end_date_but_said(cell: str) -> None:
    parsed = parse_date(cell)
    assert parsed.value is None and parsed.ongoing


@pytest.mark.parametrize(
    "cell", ["April/2017 following the inauguration", "2019-02-30", "13/13/2019", True, -5]
)
def test_text_that_is_not_a_date_is_a_problem(cell: object) -> None:
    parsed = parse_date(cell)
    assert parsed.value is None and parsed.problem


def test_header_found_by_name_below_title_rows_and_with_odd_spelling() -> None:
    rows = [
        ("Shutdowns 2019", None, None),
        (None, None, None),
        ("ID", "Start_Date ", "END_DATE", "Country ", "Area Name", "full or service-based"),
    ]
    assert find_header(rows) == 2
    cols = Columns(rows[2])
    assert cols.first == {"start": 1, "end": 2, "country": 3, "area": 4, "extent": 5}


def test_mapping_names_columns_of_another_csv_shape(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("Land;Beginning;Finish;What\nIndia;2019-08-05;2020-03-04;Internet shutdown\n", "utf-8")
    (sheet,) = read_event_file(path)  # without a mapping: no start column
    assert [type(i) for i in sheet.items] == [RowProblem]
    assert "no header row" in sheet.items[0].reason  # type: ignore[union-attr]
    mapping = parse_mapping(["country=Land,start=Beginning", "end=Finish", "description=What"])
    (sheet,) = read_event_file(path, mapping=mapping, source="mine")
    (event,) = sheet.items
    assert isinstance(event, Event)
    assert (event.source, event.iso2, event.start, event.end) == (
        "mine",
        "IN",
        dt.date(2019, 8, 5),
        dt.date(2020, 3, 4),
    )
    assert event.kind is EventKind.SHUTDOWN


def test_mapping_rejects_unknown_roles() -> None:
    from netfreedom.errors import InputError

    with pytest.raises(InputError, match="unknown role"):
        parse_mapping(["begin=Start"])
    with pytest.raises(InputError, match="ROLE=HEADER"):
        parse_mapping(["start"])


@pytest.mark.parametrize(
    ("name", "iso2"),
    [
        ("Iran (Islamic Republic of)", "IR"),
        ("Venezuela, Bolivarian Republic of", "VE"),
        ("DemocraticRepublicCongo", "CD"),
        ("SriLanka", "LK"),
        ("Benin ", "BJ"),
        ("Somaliland", "SO"),
        ("Turkey", "TR"),
        ("Türkiye", "TR"),
        ("Palestine, State of", "PS"),
        ("Côte d'Ivoire", "CI"),
        ("Narnia", None),
    ],
)
def test_country_names_of_the_lists(name: str, iso2: str | None) -> None:
    assert iso2_of(name) == iso2


def test_kind_and_scope_rules() -> None:
    assert kind_of("Shutdown", "Service-based", None) is EventKind.SERVICE_BLOCKING
    assert kind_of("Shutdown", "Full network, Service-based", None) is EventKind.SHUTDOWN
    assert kind_of("Throttle", "Full network", None) is EventKind.THROTTLING
    assert kind_of("Shutdown, Throttle", "Full network", None) is EventKind.SHUTDOWN
    assert kind_of("Service-based", None, None) is EventKind.SERVICE_BLOCKING  # 2016-2018 sheet
    assert kind_of("Throttling", None, None) is EventKind.THROTTLING
    assert kind_of("Mobile Internet", None, None) is EventKind.SHUTDOWN
    assert kind_of(None, None, "Throttling Twitter") is EventKind.THROTTLING  # CenAlert
    assert kind_of(None, None, "Blocking WhatsApp") is EventKind.SERVICE_BLOCKING
    assert kind_of(None, None, "Internet shutdown after elections") is EventKind.SHUTDOWN
    assert scope_of("It affected locations in more than one state", "Nationwide") is EventScope.NATIONAL
    assert scope_of("Level 3", None) is EventScope.NATIONAL
    assert scope_of("It only affected one city, county, or village", "Srinagar") is EventScope.REGIONAL
    assert scope_of("Some ISPs", None) is EventScope.NETWORK
    assert scope_of(None, None) is None
    assert services_of("Blocking of rferl.org and Facebook Messenger") == ["Facebook Messenger", "rferl.org"]


def test_area_similarity() -> None:
    assert area_similarity("Nationwide", "Entire country") == 1.0
    assert area_similarity(None, "National") == 1.0
    assert area_similarity("Cox's Bazar refugee camp", "Refugee Camps in Cox Bazar district") == 1.0
    assert area_similarity("Sopore town, Jammu and Kashmir", "Srinagar, Jammu and Kashmir") < 1
    assert area_similarity("Tigray", "Western Oromia") == 0.0
    assert area_similarity("Tigray", "Nationwide") == 0.0


# -- the real lists ------------------------------------------------------------------------------------

# Rows per sheet of the shared STOP workbook, and how many of them repeat an event read before (oldest sheet
# first): docs/events.md quotes these figures.
STOP_SHEETS = {
    "2016+2017+2018": (377, 0),
    "2019": (213, 4),
    "2020 Data": (159, 4),
    "2021 Data": (182, 7),
    "2022 Data": (187, 14),
}


def test_stop_workbook_every_sheet_and_layout() -> None:
    sheets = read_event_file(STOP)
    assert [s.name for s in sheets] == [*STOP_SHEETS, "Need more details"]
    dedupe = Deduper()
    for sheet in sheets[:-1]:
        events = [i for i in sheet.items if isinstance(i, Event)]
        assert not [i for i in sheet.items if isinstance(i, RowProblem)], sheet.name
        assert len(events) == sheet.rows == STOP_SHEETS[sheet.name][0]
        repeated = sum(1 for e in events if dedupe.add(e, sheet.key)[0] is not None)
        assert repeated == STOP_SHEETS[sheet.name][1], sheet.name
        assert all(e.iso2 and len(e.iso2) == 2 and e.start for e in events)
    distinct = list(dedupe.kept.values())
    assert len(distinct) == 1118 - 29 == 1089
    # The sheet without a header is one problem naming the sheet, not a crash.
    (problem,) = sheets[-1].items
    assert isinstance(problem, RowProblem) and problem.sheet == "Need more details" and problem.line == 0
    by_id = {e.id: e for e in distinct}
    tigray = [e for e in distinct if e.iso2 == "ET" and e.start == dt.date(2020, 11, 4)]
    assert sorted(e.area or "" for e in tigray) == ["Tigray", "Western Oromia, Wellega, Kellem"]
    assert all(e.id in by_id for e in tigray)
    kinds = {k: sum(1 for e in distinct if e.kind is k) for k in EventKind}
    assert kinds[EventKind.SERVICE_BLOCKING] > 80 and kinds[EventKind.THROTTLING] > 30


def test_stop_repetition_keeps_the_oldest_record_and_learns_its_end() -> None:
    dedupe = Deduper()
    for sheet in read_event_file(STOP)[:-1]:
        for e in (i for i in sheet.items if isinstance(i, Event)):
            dedupe.add(e, sheet.key)
    (chad,) = [e for e in dedupe.kept.values() if e.iso2 == "TD" and e.start == dt.date(2018, 3, 28)]
    assert chad.origin == "accessnow_stop_2016_2022.xlsx!2016+2017+2018:224"
    assert chad.end == dt.date(2019, 7, 13)  # from the 2019 sheet; "Ongoing" in 2016-2018


def test_cenalert_every_row() -> None:
    (sheet,) = read_event_file(CENALERT)
    events = [i for i in sheet.items if isinstance(i, Event)]
    assert len(events) == sheet.rows == 203
    assert len({e.id for e in events}) == 203
    assert {e.source for e in events} == {"cenalert"}
    assert sum(1 for e in events if e.kind is EventKind.SERVICE_BLOCKING) > 180
    armenia = events[0]
    assert (armenia.iso2, armenia.start, armenia.end, armenia.services) == (
        "AM",
        dt.date(2022, 9, 13),
        dt.date(2022, 9, 21),
        ("TikTok",),
    )
    assert armenia.scope is EventScope.REGIONAL


def test_import_into_store_and_reimport_adds_nothing(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        first = import_events(store, [str(STOP), str(CENALERT)])
        assert (first.rows, first.imported, first.duplicates, first.rejected) == (1324, 1292, 29, 3)
        assert [(s.sheet, s.imported, s.duplicates) for s in first.sheets][:5] == [
            (name, rows - dup, dup) for name, (rows, dup) in STOP_SHEETS.items()
        ]
        again = import_events(store, [str(CENALERT), str(STOP)])
        assert (again.imported, again.updated, again.duplicates, again.rejected) == (0, 0, 1321, 3)
        stored = store.events()
        assert len(stored) == 1292
        assert len(store.events(EventFilters(source="cenalert"))) == 203
        assert all(not e.detected for e in stored)


def test_reimport_of_a_later_edition_matches_edited_rows(tmp_path: Path) -> None:
    """A new edition rewords an area and gives an end date: the stored event is updated, not doubled."""
    old, new = tmp_path / "stop_2021.xlsx", tmp_path / "stop_2022.xlsx"
    head = ("start_date", "end_date", "country", "area_name", "shutdown_type", "shutdown_extent")
    for path, area, end in ((old, "Entire country", None), (new, "Nationwide", dt.datetime(2022, 8, 1))):
        book = openpyxl.Workbook()
        ws = book.active
        assert ws is not None
        ws.title = "2021 Data"
        ws.append(head)
        ws.append((dt.datetime(2021, 11, 3), end, "Uzbekistan", area, "Shutdown", "Service-based"))
        ws.append((dt.datetime(2021, 11, 3), None, "Uzbekistan", "Tashkent", "Shutdown", "Full network"))
        book.save(path)
    with open_store(tmp_path / "s.duckdb") as store:
        assert import_events(store, [str(old)]).imported == 2
        s = import_events(store, [str(new)])
        assert (s.imported, s.duplicates, s.updated) == (0, 2, 1)
        stored = store.events()
    assert sorted((e.area, e.end) for e in stored) == [
        ("Entire country", dt.date(2022, 8, 1)),
        ("Tashkent", None),
    ]


def test_bad_rows_are_reported_with_file_and_line_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(
        b"\xef\xbb\xbfcountry,country_code,affected_regions,start_date,end_date,cause,affected_services,link,source\r\n"
        b"Armenia,AM,Regional,2022-09-13,2022-09-21,,Blocking TikTok,,OONI\r\n"
        b",,National,2022-09-13,,,Blocking X,,OONI\r\n"
        b"Narnia,,National,2022-09-13,,,Blocking X,,OONI\r\n"
        b"Chad,TD,National,,,,Blocking X,,OONI\r\n"
        b"Chad,TD,National,someday,,,Blocking X,,OONI\r\n"
        b'Chad,TD,National,2019-01-01,soon,,"Blocking WhatsApp, Facebook",javascript:alert(1),OONI\r\n'
        b"\r\n"
    )
    with open_store(tmp_path / "s.duckdb") as store:
        s = import_events(store, [str(path), str(tmp_path / "missing.csv")])
        stored = store.events()
    assert (s.files, s.rows, s.imported, s.rejected) == (2, 6, 2, 5)
    reasons = [(e.line, e.reason) for e in s.errors]
    assert reasons[:4] == [
        (3, "no country"),
        (4, "unknown country name 'Narnia'"),
        (5, "no start date"),
        (6, "not a date: 'someday'"),
    ]
    assert reasons[4][0] == 0 and "no such file" in reasons[4][1]
    assert [(n.line, n.reason) for n in s.notes] == [(7, "end date not a date: 'soon'; kept as unknown")]
    chad = next(e for e in stored if e.iso2 == "TD")
    assert chad.services == ("Facebook", "WhatsApp") and chad.links == ()  # only http(s) links are kept
    assert isinstance(s.notes[0], RowNote)


def test_sql_filter_is_event_overlaps(tmp_path: Path) -> None:
    """``select_events`` and the ``events`` measure filter on the days as ``Event.overlaps`` does (the rule
    and its one SQL spelling, ``models.event.overlap_sql``)."""
    day = dt.date(2020, 1, 10)
    events = []
    for n, (start, end, ongoing) in enumerate(
        [
            (-5, -1, False),
            (-5, None, False),
            (-5, None, True),
            (0, 0, False),
            (3, 8, False),
            (12, None, False),
        ]
    ):
        events.append(
            Event(
                id=f"t-{n}",
                source="t",
                iso2="IN",
                country="India",
                start=day + dt.timedelta(days=start),
                end=day + dt.timedelta(days=end) if end is not None else None,
                ongoing=ongoing,
                kind=EventKind.SHUTDOWN,
            )
        )
    with open_store(tmp_path / "s.duckdb") as store:
        store.put_events(events)
        for since in (None, day - dt.timedelta(days=2), day, day + dt.timedelta(days=5)):
            for until in (None, day, day + dt.timedelta(days=4), day + dt.timedelta(days=20)):
                f = EventFilters(since=since, until=until)
                got = {e.id for e in store.read(lambda c, f=f: select_events(c, f))}
                assert got == {e.id for e in events if e.overlaps(since, until)}, (since, until)
                # The ``events`` evidence measure reads the same SQL rule over a window of whole days.
                if since and until and since > until:
                    continue  # no such window
                window = Window(since or EPOCH, until + dt.timedelta(days=1) if until else FAR)
                rows = evidence(store.query, "events", axes=[Axis.COUNTRY], window=window).to_pylist()
                counted = {e["id"] for r in rows for e in r["events"]}
                assert counted == got, (since, until)


def test_cli_import_json_and_list(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    out = _netfreedom("events", "import", str(STOP), str(CENALERT), "--db", str(db), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["imported"], doc["duplicates"], doc["rejected"]) == (1292, 29, 3)
    assert doc["errors"][0]["sheet"] == "Need more details" and doc["errors"][0]["line"] == 0
    again = json.loads(_netfreedom("events", "import", str(STOP), "--db", str(db), "--json").stdout)
    assert again["imported"] == 0
    listed = _netfreedom(
        "events",
        "list",
        "--db",
        str(db),
        "-c",
        "in",
        "--since",
        "2019-01-01",
        "--until",
        "2019-12-31",
        "-f",
        "json",
    )
    assert listed.returncode == 0, listed.stderr
    india = json.loads(listed.stdout)
    assert india["count"] == len(india["events"]) == 122
    assert {e["iso2"] for e in india["events"]} == {"IN"}
    csv_out = _netfreedom(
        "events", "list", "--db", str(db), "--kind", "throttling", "--source", "cenalert", "-f", "csv"
    )
    lines = csv_out.stdout.splitlines()
    assert lines[0].startswith("id,source,detected,iso2") and len(lines) == 1 + 8
    table = _netfreedom("events", "list", "--db", str(db), "-c", "TD")
    assert table.returncode == 0 and "TD" in table.stdout
    bad = _netfreedom("events", "list", "--db", str(db), "--since", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_import_from_urls_on_a_loopback_server(tmp_path: Path) -> None:
    """URLs go through the fetcher's cache (and mirrors); the source and origins name the URL's file."""
    import http.server
    import threading

    def handler(*args: object, **kwargs: object) -> http.server.SimpleHTTPRequestHandler:
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format: str, *a: object) -> None:
                pass

        return Quiet(*args, directory=str(EVENTS), **kwargs)  # type: ignore[arg-type]

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        from netfreedom.fetch import Fetcher

        fetcher = Fetcher(cache_dir=tmp_path / "cache")
        with open_store(tmp_path / "s.duckdb") as store:
            urls = [f"{base}/{STOP.name}", f"{base}/{CENALERT.name}", f"{base}/missing.csv"]
            s = import_events(store, urls, fetcher=fetcher)
            events = store.events()
        fetcher.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert (s.imported, s.rejected) == (1292, 3 + 1)
    assert s.errors[-1].file == f"{base}/missing.csv" and s.errors[-1].line == 0
    assert {e.source for e in events} == {"accessnow-stop", "cenalert"}
    assert {e.origin.split("!")[0].split(":")[0] for e in events if e.origin} == {STOP.name, CENALERT.name}


def test_a_workbook_without_openpyxl_asks_for_the_fh_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # as if the [fh] extra were not installed
    with open_store(tmp_path / "s.duckdb") as store:
        s = import_events(store, [str(STOP), str(CENALERT)])
    assert (s.imported, s.rejected) == (203, 1)  # the CSV is still read
    (error,) = s.errors
    assert error.file == str(STOP) and error.line == 0
    assert "reading .xlsx workbooks needs the optional extra fh" in error.reason
    assert "pip install 'netfreedom[fh]'" in error.reason

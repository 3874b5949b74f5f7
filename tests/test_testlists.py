from __future__ import annotations

import csv
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netfreedom.errors import FetchError, InputError
from netfreedom.fetch import Fetcher
from netfreedom.ingest.testlists import (
    PUBLIC_HOME,
    Category,
    domain_of,
    fetch_testlists,
    parse_list,
    read_testlists,
)

from .conftest import DATA

LISTS = DATA / "test-lists" / "lists"
HEADER = "url,category_code,category_description,date_added,source,notes\n"


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def real_lists():  # type: ignore[no-untyped-def]
    return read_testlists(LISTS.parent)


def test_real_lists_read_every_row(real_lists) -> None:  # type: ignore[no-untyped-def]
    country_files = sorted(p for p in LISTS.glob("??.csv"))
    assert len(real_lists.countries) == len(country_files) > 100
    for name in ("global", "ir", "cn", "ru"):
        rows = _csv_rows(LISTS / f"{name}.csv")
        assert len(real_lists.lists[name]) == len(rows) > 50
    # every old code in the real lists is known to the legend: nothing dropped, nothing unknown
    assert real_lists.problems == []
    assert {"NEWS", "POLR", "HUMR", "LGBT", "COMT", "ANON"} <= set(real_lists.categories)


def test_old_category_codes_map_to_current_ones(real_lists) -> None:  # type: ignore[no-untyped-def]
    text = HEADER + "".join(
        f"https://{code.lower()}.example/,{code},x,2015-01-01,x,\n" for code in ("FEXP", "P2P", "DEV", "NEWS")
    )
    entries, problems = parse_list(text, "old.csv", "old", real_lists.categories)
    assert problems == []
    assert [(e.category_code, e.original_code) for e in entries] == [
        ("NEWS", "FEXP"),
        ("FILE", "P2P"),
        ("ECON", "DEV"),
        ("NEWS", ""),
    ]


def test_country_list_includes_global_once(real_lists) -> None:  # type: ignore[no-untyped-def]
    ir = real_lists.for_country("IR")
    urls = [e.url for e in ir]
    assert len(urls) == len(set(urls))
    own = {r["url"] for r in _csv_rows(LISTS / "ir.csv")}
    glob = {r["url"] for r in _csv_rows(LISTS / "global.csv")}
    assert set(urls) == own | glob
    assert len(real_lists.for_country("IR", include_global=False)) == len(own)


def test_category_lookup_prefers_the_country_list(real_lists) -> None:  # type: ignore[no-untyped-def]
    rows = _csv_rows(LISTS / "global.csv")
    first = rows[0]
    assert real_lists.category_of(first["url"]) == first["category_code"]
    assert real_lists.category_of("https://no-such-site.invalid/") is None
    mapping = real_lists.url_categories("IR")
    for row in _csv_rows(LISTS / "ir.csv")[:50]:
        code = row["category_code"]
        expected = {"FEXP": "NEWS", "P2P": "FILE", "DEV": "ECON"}.get(code, code)
        assert mapping[row["url"]] == expected
    domains = real_lists.domain_categories("IR")
    assert domain_of(first["url"]) in domains


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.BBC.com/persian/", "www.bbc.com"),
        ("http://derwaza.cc:8080/WebPortal/", "derwaza.cc"),
        ("https://example.org./x", "example.org"),
        ("http://[2001:db8::1]/", "2001:db8::1"),
        ("www.example.com", None),
        ("", None),
    ],
)
def test_domain_of(url: str, domain: str | None) -> None:
    assert domain_of(url) == domain


def test_bad_rows_are_reported_with_file_and_line_and_good_rows_kept(tmp_path: Path) -> None:
    text = (
        HEADER
        + "https://good.example/,NEWS,News Media,2020-01-01,citizenlab,\n"
        + "www.no-scheme.example,NEWS,News Media,2020-01-01,citizenlab,\n"
        + "https://short.example/,NEWS\n"
        + '"https://multi.example/",POLR,"Political\nCriticism",2020-01-01,citizenlab,\n'
        + "https://nocat.example/,,x,2020-01-01,citizenlab,\n"
        + "https://weird.example/,ZZZZ,x,2020-01-01,citizenlab,\n"
    )
    entries, problems = parse_list(text, "xx.csv", "xx", {c: Category(c, c) for c in ("NEWS", "POLR")})
    assert [e.url for e in entries] == [
        "https://good.example/",
        "https://multi.example/",
        "https://weird.example/",
    ]
    got = [(p.file, p.line, p.reason.split(":")[0].split(" (")[0]) for p in problems]
    assert got == [
        ("xx.csv", 3, "not an http(s) URL"),
        ("xx.csv", 4, "expected 6 columns, found 2"),
        ("xx.csv", 7, "no category code"),  # line 5-6 is one quoted two-line row
        ("xx.csv", 8, "unknown category code 'ZZZZ'"),
    ]
    assert str(problems[0]).startswith("xx.csv:3: ")


def test_missing_columns_and_folder_errors(tmp_path: Path) -> None:
    entries, problems = parse_list("address,kind\nhttps://a.example/,NEWS\n", "bad.csv", "bad")
    assert entries == [] and problems[0].line == 1 and "url" in problems[0].reason
    with pytest.raises(InputError, match="does not exist"):
        read_testlists(tmp_path / "nowhere")
    with pytest.raises(InputError, match="no test lists"):
        read_testlists(tmp_path)


def test_undecodable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "global.csv").write_text(HEADER + "https://a.example/,NEWS,News,2020-01-01,x,\n")
    (tmp_path / "zz.csv").write_bytes(HEADER.encode() + b"https://\xff\xfe.example/,NEWS,,,,\n")
    lists = read_testlists(tmp_path)
    assert len(lists.lists["global"]) == 1 and "zz" not in lists.lists
    reasons = [str(p) for p in lists.problems]
    assert any("zz.csv" in r and "not UTF-8" in r for r in reasons)
    assert any("no category legend" in r for r in reasons)


def test_fetch_from_a_local_mirror_folder(tmp_path: Path) -> None:
    fetcher = Fetcher(cache_dir=tmp_path, mirrors={PUBLIC_HOME: str(LISTS)})
    lists = fetch_testlists(fetcher, ["IR", "qq"])
    assert set(lists.lists) == {"global", "ir"}
    assert len(lists.lists["ir"]) == len(_csv_rows(LISTS / "ir.csv"))
    assert any("qq.csv" in p.file and "no test list" in p.reason for p in lists.problems)


@pytest.fixture()
def http_mirror() -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(LISTS.parent))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_every_list_over_http(tmp_path: Path, http_mirror: str) -> None:
    mirror = http_mirror + "/lists/"
    fetcher = Fetcher(cache_dir=tmp_path, mirrors={PUBLIC_HOME: mirror}, timeout=10)
    try:
        lists = fetch_testlists(fetcher)
    finally:
        fetcher.close()
    local = read_testlists(LISTS)
    countries_in_legend = {r["CountryCode"].lower() for r in _csv_rows(LISTS / "00-LEGEND-country_codes.csv")}
    assert set(lists.lists) == ({"global"} | set(local.lists)) & ({"global"} | countries_in_legend)
    assert len(lists.lists["cn"]) == len(local.lists["cn"])


def test_a_second_fetch_is_served_by_the_cache(tmp_path: Path) -> None:
    """Lists and the 404s of countries without one are cached for a day: a second build makes no request,
    so it still works with the server gone."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(LISTS.parent))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    mirror = f"http://127.0.0.1:{server.server_address[1]}/lists/"
    fetcher = Fetcher(cache_dir=tmp_path, mirrors={PUBLIC_HOME: mirror}, timeout=10)
    try:
        first = fetch_testlists(fetcher)
    finally:
        server.shutdown()
        server.server_close()
    try:
        second = fetch_testlists(fetcher)
    finally:
        fetcher.close()
    assert second.lists == first.lists and "cn" in second.lists
    assert list(tmp_path.glob("*.missing"))  # countries of the legend without a list of their own


def test_fetch_without_global_list_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "00-LEGEND-new_category_codes.csv").write_bytes(
        (LISTS / "00-LEGEND-new_category_codes.csv").read_bytes()
    )
    fetcher = Fetcher(cache_dir=tmp_path / "cache", mirrors={PUBLIC_HOME: str(tmp_path)})
    with pytest.raises(FetchError, match=r"global\.csv"):
        fetch_testlists(fetcher, ["ir"])


def test_pipeline_loads_lists_from_a_folder_or_the_public_home_mirrored(tmp_path: Path) -> None:
    from netfreedom.pipeline.index import load_testlists

    local = load_testlists(str(LISTS.parent))
    mirrored = load_testlists("public", mirrors=[f"{PUBLIC_HOME}={LISTS}"], cache_dir=tmp_path)
    assert set(mirrored.lists) <= set(local.lists) and "global" in mirrored.lists
    assert mirrored.lists["ir"] == local.lists["ir"]

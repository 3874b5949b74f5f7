"""Fingerprints: every real DNS/HTTP fingerprint is detected, false positives win, matching is bounded."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from netfreedom.analysis.fingerprint_sources import (
    CP_HOME,
    DEFAULT_SOURCES,
    OONI_HOME,
    fingerprints_from_bytes,
    load_fingerprints,
    sources_in_dir,
)
from netfreedom.analysis.fingerprints import Fingerprint, FingerprintDB, PatternType
from netfreedom.errors import ConfigError
from netfreedom.fetch import Fetcher, parse_mirrors


@pytest.fixture(scope="module", params=["hyperscan", "portable"])
def db(shared_data: Path, request: pytest.FixtureRequest) -> FingerprintDB:
    """The shared fingerprints, with each matcher: every test here holds for both."""
    loaded = load_fingerprints(sources_in_dir(shared_data))
    return FingerprintDB(loaded.fingerprints, loaded.load_problems, matcher=request.param)


def _rows(shared_data: Path, name: str) -> list[dict[str, str]]:
    # bytes, not read_text: patterns hold bare CRs that universal newlines would turn into LFs
    text = (shared_data / "ooni" / "fingerprints" / name).read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_sources_load_cleanly(db: FingerprintDB, shared_data: Path) -> None:
    assert db.problems == ()
    dns, http = _rows(shared_data, "fingerprints_dns.csv"), _rows(shared_data, "fingerprints_http.csv")
    names = {fp.name for fp in db.fingerprints}
    assert {r["name"] for r in dns + http} <= names
    # Censored Planet signatures OONI did not import are added, under OONI's ``cp.`` naming
    path = shared_data / "censoredplanet" / "blockpage_signatures.json"
    cp = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert all(("cp." + row["fingerprint"]) in names for row in cp if row)
    assert db.id.startswith("fp-")


def test_every_dns_fingerprint_is_detected(db: FingerprintDB, shared_data: Path) -> None:
    rows = _rows(shared_data, "fingerprints_dns.csv")
    assert len(rows) > 200
    for row in rows:
        # answers come with a trailing dot or other case sometimes; both must still match
        answer = row["pattern"].upper() + "." if not row["pattern"][0].isdigit() else row["pattern"]
        names = {fp.name for fp in db.match_dns(["192.0.2.200", answer])}
        assert row["name"] in names, row


def _page_for(row: dict[str, str]) -> tuple[str | None, dict[str, str] | None]:
    pattern, kind = row["pattern"], row["pattern_type"]
    value = {"contains": f"<p>before {pattern} after</p>", "prefix": pattern + "/rest", "full": pattern}[kind]
    location = row["location_found"]
    if location == "body":
        return value, None
    name = location.removeprefix("header.")
    return None, {"Date": "Mon, 1 Jan 2024", name.title(): value}


def test_every_http_literal_fingerprint_is_detected(db: FingerprintDB, shared_data: Path) -> None:
    rows = [r for r in _rows(shared_data, "fingerprints_http.csv") if r["pattern_type"] != "regexp"]
    assert len(rows) > 1600
    for row in rows:
        body, headers = _page_for(row)
        names = {fp.name for fp in db.match_page(body, headers)}
        assert row["name"] in names, row


def test_prefix_and_full_are_anchored(db: FingerprintDB) -> None:
    # ooni.kr_2: header.location full "http://www.warning.or.kr"; ooni.ae_2: prefix "http://lighthouse.du.ae"
    assert "ooni.kr_2" not in {
        fp.name for fp in db.match_page(None, {"Location": "http://www.warning.or.kr/x"})
    }
    assert "ooni.ae_2" not in {
        fp.name for fp in db.match_page(None, {"Location": "x http://lighthouse.du.ae"})
    }
    assert "ooni.ae_2" in {fp.name for fp in db.match_page(None, {"location": "http://lighthouse.du.ae/b"})}


def test_regexp_signatures_match(db: FingerprintDB) -> None:
    body = "<html><p>Sorry, but the URL you are requesting is prohibited!</p></html>"
    assert "cp.f_gen_blocked_23" in {fp.name for fp in db.match_page(body, None)}


def test_censored_planet_signatures_see_the_header_block() -> None:
    # as Censored Planet matches whole responses, its signatures also see ``Name: value`` header lines
    header = (
        b"name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,expected_countries\n"
    )
    cp = b'{"fingerprint":"a_prod_test","pattern":"Server: Test/1\\\\.0"}\n'
    db = fingerprints_from_bytes(header, header, cp)
    assert db.problems == ()
    assert [fp.name for fp in db.match_page("<html></html>", {"Server": "Test/1.0"})] == ["cp.a_prod_test"]
    assert db.match_page("<html></html>", {"Server": "Test/1x0"}) == []
    assert db.judge(db.match_page("Server: Test/1.0", None), "IT").blockpage is not None


def test_confirmation_rules() -> None:
    isp = Fingerprint("x.isp", "isp", "body", PatternType.CONTAINS, "a")
    prod = Fingerprint("x.prod", "prod", "body", PatternType.CONTAINS, "b", frozenset({"RU"}))
    assert isp.confirms("ZZ") and isp.confirms(None)
    assert prod.confirms("ru") and not prod.confirms("IT") and not prod.confirms(None)


def test_false_positive_pages_are_never_confirmed(db: FingerprintDB, shared_data: Path) -> None:
    fps = [
        r
        for r in _rows(shared_data, "fingerprints_http.csv")
        if r["scope"] == "fp" and r["pattern_type"] == "contains" and r["location_found"] == "body"
    ]
    assert len(fps) > 400
    blockpage = "Access to this site is blocked by the Authority it-security-operations@etisalat.ae"
    for row in fps:
        body = f"<html>{row['pattern']} {blockpage}</html>"
        matches = db.match_page(body, None)
        assert any(fp.name == "ooni.ae_3" for fp in matches)  # the blockpage did match...
        finding = db.judge(matches, "AE")
        assert not finding.confirmed and finding.blockpage is None, row  # ...but the false positive wins
        assert finding.false_positive is not None


def test_dns_blockpage_stands_beside_a_false_positive_page(db: FingerprintDB) -> None:
    matches = db.match_dns(["10.10.34.35"]) + db.match_page(
        "<p>Checking your browser before accessing</p>", None
    )
    finding = db.judge(matches, "IR")
    assert finding.confirmed and finding.blockpage is not None and finding.blockpage.name == "ooni.ir_5"


@pytest.mark.parametrize(
    "body",
    [
        "URL " * 500_000,  # Python's re spends minutes on "URL .* Sp.*er Gate" here
        "<meta name=" * 190_000,
        '{"msg":' * 290_000,
        ("<div>" + "x" * 1000 + "</div>\n") * 1_900,
    ],
    ids=["url", "meta", "msg", "html"],
)
def test_two_megabyte_body_in_bounded_time(db: FingerprintDB, body: str) -> None:
    body = body + "<p>FortiGuard Web Filtering</p>"
    assert len(body) >= 1_900_000
    start = time.perf_counter()
    names = {fp.name for fp in db.match_page(body, {"Server": "nginx"})}
    elapsed = time.perf_counter() - start
    assert "cp.a_prod_fortinet_1" in names
    if db.matcher == "hyperscan":  # the portable matcher is linear too, ~30x slower: tests/test_matchers.py
        assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_id_is_a_content_hash(shared_data: Path) -> None:
    folder = shared_data / "ooni" / "fingerprints"
    dns, http = (
        (folder / "fingerprints_dns.csv").read_bytes(),
        (folder / "fingerprints_http.csv").read_bytes(),
    )
    a, b = fingerprints_from_bytes(dns, http), fingerprints_from_bytes(dns.replace(b"\n", b"\r\n"), http)
    assert a.id == b.id
    lines = dns.splitlines(keepends=True)
    c = fingerprints_from_bytes(b"".join(lines[:-1]), http)
    assert c.id != a.id


@pytest.mark.parametrize("matcher", ["hyperscan", "portable"])
def test_bad_rows_are_reported_not_raised(matcher: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETFREEDOM_MATCHER", matcher)
    header = (
        b"name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,expected_countries\n"
    )
    http = header + b"a,isp,,body,contains,,5,IT\nb,isp,,body,glob,x,5,IT\nc,isp,,cookie,contains,x,5,IT\n"
    http += b"d,isp,,body,regexp,(unclosed,5,IT\ne,isp,,body,contains,fine,5,IT\nf,isp,,body,regexp,x*,5,IT\n"
    db = fingerprints_from_bytes(header, http, b'{"fingerprint": "a_x"}\nnot json\n')
    assert db.matcher == matcher
    assert [fp.name for fp in db.fingerprints] == ["d", "e", "f"]
    # 3 CSV rows, 2 CP lines, 2 patterns the matcher refuses (invalid; matches the empty string)
    assert len(db.problems) == 7
    assert {fp.name for fp in db.match_page("is fine here", None)} == {"e"}


def test_load_from_public_homes_through_a_mirror(shared_data: Path, tmp_path: Path) -> None:
    mirrors = parse_mirrors(
        [
            f"{OONI_HOME}={shared_data / 'ooni' / 'fingerprints'}",
            f"{CP_HOME}={shared_data / 'censoredplanet'}",
        ]
    )
    with_mirror = load_fingerprints(DEFAULT_SOURCES, Fetcher(cache_dir=tmp_path, mirrors=mirrors))
    assert with_mirror.id == load_fingerprints(sources_in_dir(shared_data)).id


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fingerprints_dns\.csv"):
        sources_in_dir(tmp_path)


def test_signature_dot_matches_one_character_and_bytes_bodies_are_scanned(db: FingerprintDB) -> None:
    # cp.fp_x_on_this_server: "You don.t have permission to access.*on this server\.<P>" — the "." must
    # match a typographic apostrophe (three UTF-8 bytes) as it does on text
    body = "<h1>Forbidden</h1>You don’t have permission to access /x on this server.<P>"
    assert "cp.fp_x_on_this_server" in {fp.name for fp in db.match_page(body, None)}
    assert "cp.fp_x_on_this_server" not in {fp.name for fp in db.match_page(body.replace("’", "’’"), None)}
    # a body that is not UTF-8 (decoded from base64) is matched as bytes; lone surrogates do not crash
    raw = b"FortiGuard Web Filtering" + b"\xff\xfe\x80"
    assert "cp.a_prod_fortinet_1" in {fp.name for fp in db.match_page(raw, None)}
    assert db.match_page("\ud800 plain", {"X": "\udc80"}) == []

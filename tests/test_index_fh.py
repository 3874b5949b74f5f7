"""Freedom House's 2019+ "FOTN Country Score Data" workbooks: imported at indicator level and built back to
the published totals, statuses and ranks.

The workbooks are synthesised here with openpyxl in the published layout (a title row, the header found by
name, ``Country, Edition, Status, A1 … A5, A, B1 … B8, B, C1 … C8, C, Total``, F/PF/NF, a notes sheet) with
its quirks: Freedom House's country names, several editions in one file, extra and reordered columns,
long indicator headings, rows that do not add up.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from netfreedom.errors import InputError
from netfreedom.index.engine import build_index
from netfreedom.index.fh import FHImport, read_fh_workbook
from netfreedom.index.methodology import Scale, load_methodology
from netfreedom.index.results import EvidenceFigure, FlagKind
from netfreedom.index.scores import join_sources, parse_scores_csv, split_sources, validate

from .conftest import DATA, cli_env

FOTN = load_methodology("fotn")
CODES = [i.code for i in FOTN.indicators]
CATS = ("A", "B", "C")

# 66 plain names and 6 of Freedom House's quirks: 72 countries, as in the 2024 edition.
PLAIN = [
    n.replace("_", " ")
    for n in [
        "Angola",
        "Argentina",
        "Armenia",
        "Australia",
        "Azerbaijan",
        "Bahrain",
        "Bangladesh",
        "Belarus",
        "Brazil",
        "Cambodia",
        "Canada",
        "China",
        "Colombia",
        "Costa_Rica",
        "Cuba",
        "Ecuador",
        "Egypt",
        "Estonia",
        "Ethiopia",
        "France",
        "Georgia",
        "Germany",
        "Ghana",
        "Hungary",
        "Iceland",
        "India",
        "Indonesia",
        "Iran",
        "Iraq",
        "Italy",
        "Japan",
        "Jordan",
        "Kazakhstan",
        "Kenya",
        "Lebanon",
        "Libya",
        "Malawi",
        "Malaysia",
        "Mexico",
        "Morocco",
        "Nicaragua",
        "Nigeria",
        "Pakistan",
        "Philippines",
        "Rwanda",
        "Saudi_Arabia",
        "Serbia",
        "Singapore",
        "South_Africa",
        "South_Korea",
        "Sri_Lanka",
        "Sudan",
        "Syria",
        "Taiwan",
        "Thailand",
        "Tunisia",
        "Uganda",
        "Ukraine",
        "United_Arab_Emirates",
        "United_Kingdom",
        "United_States",
        "Uzbekistan",
        "Venezuela",
        "Vietnam",
        "Zambia",
        "Zimbabwe",
    ]
]
QUIRKS = {"The Gambia": "GM", "The Netherlands": "NL", "Russia": "RU", "Türkiye": "TR", "Kyrgyzstan": "KG"}
QUIRKS |= {"Myanmar": "MM"}
COUNTRIES = [*PLAIN, *QUIRKS]
assert len(COUNTRIES) == 72 == len(set(COUNTRIES))


def _status(total: int) -> str:
    return "F" if total >= 70 else "PF" if total >= 40 else "NF"


def _edition(year: int, seed: int) -> list[dict[str, Any]]:
    """One published edition: random integer indicators within their maxima, sums, status."""
    rng = random.Random(seed)
    rows = []
    for name in COUNTRIES:
        # a spread of countries from heavily restricted to free, with ties in the totals
        level = rng.choice((0.15, 0.45, 0.6, 0.8, 0.95))
        row: dict[str, Any] = {"Country": name, "Edition": year}
        for ind in FOTN.indicators:
            row[ind.code] = max(0, min(ind.max, round(ind.max * level + rng.choice((-1, 0, 0, 1)))))
        for cat in CATS:
            row[cat] = sum(row[i.code] for i in FOTN.indicators_of(cat))
        row["Total"] = sum(row[c] for c in CATS)
        row["Status"] = _status(row["Total"])
        rows.append(row)
    if year == 2023:  # the earlier editions say "Turkey"
        for row in rows:
            row["Country"] = "Turkey" if row["Country"] == "Türkiye" else row["Country"]
    return rows


def _header() -> list[str]:
    out = ["Country", "Edition", "Status"]
    for cat in CATS:
        out += [i.code for i in FOTN.indicators_of(cat)] + [cat]
    return [*out, "Total"]


def _save(
    path: Path,
    rows: Sequence[dict[str, Any]],
    header: Sequence[str] | None = None,
    *,
    title: str | None = "Freedom on the Net 2024 country score data",
    rename: dict[str, str] | None = None,
    notes: bool = True,
    sheet_title: str = "FOTN 2024 Scores",
) -> Path:
    header = list(header or _header())
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_title
    if title is not None:
        sheet.append([title])
        sheet.append([])
    sheet.append([(rename or {}).get(h, h) for h in header])
    for row in rows:
        sheet.append([row.get(h) for h in header])
    if notes:
        extra = book.create_sheet("Notes on methodology")
        extra.append(["Freedom on the Net assesses 21 indicators; scores are on a 0-100 scale."])
        extra.append(["Country scores reflect the coverage period June 1 to May 31."])
    book.save(path)
    return path


def _ranks(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Competition ranking on the 100-best scale: 1 = freest, ties share a rank."""
    return {r["Country"]: 1 + sum(1 for o in rows if o["Total"] > r["Total"]) for r in rows}


def _iso(name: str) -> str:
    if name in QUIRKS:
        return QUIRKS[name]
    from netfreedom.index.countries import iso2_of

    code = iso2_of(name)
    assert code is not None, name
    return code


@pytest.fixture(scope="module")
def editions() -> dict[int, list[dict[str, Any]]]:
    return {2023: _edition(2023, 23), 2024: _edition(2024, 24)}


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory, editions: dict[int, list[dict[str, Any]]]) -> Path:
    path = tmp_path_factory.mktemp("fh") / "FOTN_2024_Country_Score_Data.xlsx"
    return _save(path, [*editions[2023], *editions[2024]])


@pytest.fixture(scope="module")
def imported(workbook: Path) -> FHImport:
    return read_fh_workbook(workbook)


def test_reads_every_indicator_of_every_country_and_edition(
    imported: FHImport, editions: dict[int, list[dict[str, Any]]]
) -> None:
    assert imported.problems == []
    assert imported.layout == "indicators"
    assert imported.scales == {2023: Scale.HUNDRED_BEST, 2024: Scale.HUNDRED_BEST}
    assert len(imported.scores) == 144
    for year, rows in editions.items():
        scores = {s.iso2: s for s in imported.scores if s.year == year}
        assert len(scores) == 72
        for row in rows:
            score = scores[_iso(row["Country"])]
            assert len(score.indicators) == 21 and not score.categories
            assert {c: e.low for c, e in score.indicators.items()} == {c: float(row[c]) for c in CODES}
            published = imported.published[(score.iso2, year)]
            status = {"F": "Free", "PF": "Partly Free", "NF": "Not Free"}[row["Status"]]
            assert (published.total, published.status) == (row["Total"], status)
            assert published.categories == {c: row[c] for c in CATS}
    by_name = {(s.country, s.year): s.iso2 for s in imported.scores}
    assert by_name[("Turkey", 2023)] == by_name[("Türkiye", 2024)] == "TR"
    assert by_name[("The Gambia", 2024)] == "GM" and by_name[("The Netherlands", 2024)] == "NL"
    assert by_name[("Kyrgyzstan", 2024)] == "KG" and by_name[("Myanmar", 2024)] == "MM"
    assert by_name[("Russia", 2024)] == "RU" and by_name[("South Korea", 2024)] == "KR"
    # one whole citation per source
    entry = next(iter(imported.scores[0].indicators.values()))
    assert entry.sources == ("Freedom House, Freedom on the Net 2023 (FOTN_2024_Country_Score_Data.xlsx)",)


def test_build_reproduces_published_total_status_and_rank(
    imported: FHImport, editions: dict[int, list[dict[str, Any]]]
) -> None:
    scores = validate(imported.scores, FOTN)
    for year, rows in editions.items():
        result = build_index(FOTN, scores, year)
        assert len(result.countries) == 72
        ranks = _ranks(rows)
        assert len(set(ranks.values())) < 72  # ties exist: competition ranking is exercised
        for row in rows:
            c = result.country(_iso(row["Country"]))
            assert c is not None
            assert c.total == row["Total"], row["Country"]
            assert c.status == {"F": "Free", "PF": "Partly Free", "NF": "Not Free"}[row["Status"]]
            assert c.rank == ranks[row["Country"]], row["Country"]
            assert [cat.score for cat in c.categories] == [row[k] for k in CATS]
        if year == 2024:  # the change from the 2023 edition in the same file
            tr = result.country("TR")
            assert tr is not None and tr.change == tr.total - next(
                r["Total"] for r in editions[2023] if r["Country"] == "Turkey"
            )


def test_columns_are_found_by_name(tmp_path: Path, editions: dict[int, list[dict[str, Any]]]) -> None:
    """Reordered and extra columns, long indicator headings, no title row: the same scores."""
    base = read_fh_workbook(_save(tmp_path / "base.xlsx", editions[2024]))
    header = list(reversed(_header()))
    header.insert(3, "Region")
    header.append("Score change")
    rows = [{**r, "Region": "Asia", "Score change": -1} for r in editions[2024]]
    rename = {
        "A1": "A1. Do infrastructural limitations restrict access to the internet?",
        "B3": "B3: Does the state impose restrictions?",
        "A": "A Total",  # a category, not the total
        "B": "B: Limits on Content",
        "C": "Violations of User Rights",
        "Total": "Total Score",
        "Status": "FOTN Status",
    }
    other = read_fh_workbook(_save(tmp_path / "other.xlsx", rows, header, title=None, rename=rename))
    assert other.problems == []
    from netfreedom.index.fh import _columns

    cells = ["A Total", "Total Score", "C: Violations", "B3. Question?", "FOTN Status", "Region"]
    named = _columns(cells, CODES)
    assert named == {"A": 0, "total": 1, "C": 2, "B3": 3, "status": 4}

    def values(result: FHImport) -> list[tuple[str, int, dict[str, float | None]]]:
        return [(s.iso2, s.year, {c: e.low for c, e in s.indicators.items()}) for s in result.scores]

    assert values(other) == values(base) and len(values(base)) == 72
    assert other.published == base.published


def test_rows_that_do_not_add_up_are_warnings_naming_sheet_and_row(
    tmp_path: Path, editions: dict[int, list[dict[str, Any]]]
) -> None:
    rows = [dict(r) for r in editions[2024]]
    rows[0]["A"] += 1  # header at row 3 (title, blank): the first country is row 4
    rows[1]["Total"] -= 2
    rows[2]["B4"] = None
    rows[3]["C2"] = 9  # max 4
    rows[4]["Country"] = "Atlantis"
    path = _save(tmp_path / "bad.xlsx", rows)
    result = read_fh_workbook(path)
    where = f"{path}:FOTN 2024 Scores!"
    a = rows[0]
    assert result.problems == [
        f"{where}4: {a['Country']} 2024: A1–A5 add up to {a['A'] - 1} but A is {a['A']}",
        f"{where}5: {rows[1]['Country']} 2024: the indicators add up to {rows[1]['Total'] + 2} "
        f"but Total is {rows[1]['Total']}",
        f"{where}6: {rows[2]['Country']} 2024: no number in column(s) B4",
        f"{where}7: {rows[3]['Country']} 2024: out of range: C2 = 9 (max 4)",
        f"{where}8: unknown country name 'Atlantis'",
    ]
    # the indicators are the scores: a row with a wrong published sum is still read
    assert len(result.scores) == 69 and _iso(a["Country"]) in {s.iso2 for s in result.scores}


def test_unknown_layout_is_one_error_listing_the_expected_columns(
    tmp_path: Path, editions: dict[int, list[dict[str, Any]]]
) -> None:
    header = [h for h in _header() if h != "B3"]
    path = _save(tmp_path / "no-b3.xlsx", editions[2024], header)
    with pytest.raises(InputError) as info:
        read_fh_workbook(path)
    message = str(info.value)
    assert "unknown workbook layout (no column B3)" in message
    assert "Country, Edition (optional), Status, A1…A5, A, B1…B8, B, C1…C8, C, Total" in message
    assert "sheet 'FOTN 2024 Scores' row 3 has: Country, Edition, Status, A1" in message
    nothing = _save(tmp_path / "nothing.xlsx", [], ["Nation", "Score"])
    with pytest.raises(InputError, match=r"no row of sheet\(s\) 'FOTN 2024 Scores', 'Notes on methodology'"):
        read_fh_workbook(nothing)
    out = _cli("index", "import-fh", str(path), cwd=tmp_path)
    assert out.returncode == 2 and "expected a header row with the columns" in out.stderr
    assert "Traceback" not in out.stderr


def test_edition_and_scale_from_the_title_the_column_or_the_options(
    tmp_path: Path, editions: dict[int, list[dict[str, Any]]]
) -> None:
    header = [h for h in _header() if h != "Edition"]
    one = _save(
        tmp_path / "one.xlsx",
        editions[2024],
        header,
        title="Freedom on the Net 2021 country score data (0-100 scale, 100 = most free)",
    )
    result = read_fh_workbook(one)
    assert result.years == [2021] and result.scale is Scale.HUNDRED_BEST
    assert read_fh_workbook(one, year=2022).years == [2022]
    forced = read_fh_workbook(one, scale=Scale.ZERO_BEST)
    assert forced.scale is Scale.ZERO_BEST
    # with an Edition column, --year keeps one edition of several
    both = _save(tmp_path / "both.xlsx", [*editions[2023], *editions[2024]])
    only = read_fh_workbook(both, year=2023)
    assert only.years == [2023] and len(only.scores) == 72
    with pytest.raises(InputError, match="no country row could be read"):
        read_fh_workbook(both, year=2019)
    # no title row: the sheet's name, then the file's name; none of them → ask for --year
    assert read_fh_workbook(_save(tmp_path / "untitled.xlsx", editions[2024], header, title=None)).years == [
        2024
    ]
    named = _save(tmp_path / "FOTN2020.xlsx", editions[2024], header, title=None, sheet_title="Scores")
    assert read_fh_workbook(named).years == [2020]
    untitled = _save(tmp_path / "scores.xlsx", editions[2024], header, title=None, sheet_title="Scores")
    with pytest.raises(InputError, match="cannot tell the edition year"):
        read_fh_workbook(untitled)


def test_indicator_level_evidence_flags(imported: FHImport) -> None:
    """With indicators, the evidence rules check the indicator itself (not its category)."""
    scores = validate(imported.scores, FOTN)
    by_iso = {s.iso2: s for s in scores if s.year == 2024}
    free = next(iso for iso, s in by_iso.items() if s.indicators["B1"].low == 6)  # claims no blocking
    heavy = next(iso for iso, s in by_iso.items() if s.indicators["B1"].low == 0)  # claims heavy blocking

    def figure(iso2: str, blocked: int) -> EvidenceFigure:
        return EvidenceFigure(iso2, "B1", "url_blocking", 40, blocked, blocked, 900, 5)  # type: ignore[arg-type]

    evidence = {free: [figure(free, 12)], heavy: [figure(heavy, 0)]}
    result = build_index(FOTN, scores, 2024, evidence=evidence)
    flags_free = [f for f in result.country(free).flags if f.code == "B1"]  # type: ignore[union-attr]
    flags_heavy = [f for f in result.country(heavy).flags if f.code == "B1"]  # type: ignore[union-attr]
    assert [f.kind for f in flags_free] == [FlagKind.EVIDENCE_CONTRADICTS]
    assert [f.kind for f in flags_heavy] == [FlagKind.EVIDENCE_ABSENT]  # only an indicator score can say so
    assert "checked against category" not in flags_free[0].message


def test_sources_stay_whole_through_the_csv() -> None:
    citation = "Freedom House, Freedom on the Net 2018 (fotn_2018_freedomhouse.xlsx)"
    cell = join_sources([citation, "https://example.org/a b"])
    assert split_sources(cell) == (citation, "https://example.org/a b")
    assert split_sources("https://a.example/ https://b.example/") == (
        "https://a.example/",
        "https://b.example/",
    )
    assert split_sources("") == ()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", *args], capture_output=True, text=True, env=cli_env(), cwd=cwd
    )


def test_cli_round_trip_to_the_published_ranking(
    tmp_path: Path, workbook: Path, editions: dict[int, list[dict[str, Any]]]
) -> None:
    out = _cli("index", "import-fh", str(workbook), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "144 country-editions, editions 2023, 2024, scale 100-best, indicator scores" in out.stdout
    written = tmp_path / "fh-2023-2024.csv"
    rows = list(csv.DictReader(written.open(newline="", encoding="utf-8")))
    per_country: dict[tuple[str, str], int] = {}
    for row in rows:
        per_country[(row["iso2"], row["year"])] = per_country.get((row["iso2"], row["year"]), 0) + 1
        assert split_sources(row["sources"]) == (
            f"Freedom House, Freedom on the Net {row['year']} (FOTN_2024_Country_Score_Data.xlsx)",
        )
    assert set(per_country.values()) == {21} and len(per_country) == 144
    assert len(parse_scores_csv(written.read_text(encoding="utf-8"), str(written))) == 144
    db = str(tmp_path / "store.duckdb")
    build = ("index", "build", "--methodology", "fotn", "--scores", str(written), "--db", db, "--no-evidence")
    out = _cli(*build, "--year", "2024", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = _cli("index", "show", "--year", "2024", "--db", db, "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    shown = {row["iso2"]: row for row in json.loads(out.stdout)["countries"]}
    ranks = _ranks(editions[2024])
    assert len(shown) == 72
    for row in editions[2024]:
        got = shown[_iso(row["Country"])]
        status = {"F": "Free", "PF": "Partly Free", "NF": "Not Free"}[row["Status"]]
        assert (got["total"], got["status"], got["rank"]) == (row["Total"], status, ranks[row["Country"]])


def _sources_in(db: Path, site: Path, iso2: str) -> tuple[list[list[str]], list[list[str]]]:
    """The sources of ``iso2``'s scores in the API and in the site's scores.json (`netfreedom report`)."""
    from netfreedom.web import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    out = _cli("report", "--output", str(site), "--db", str(db), "--no-map", cwd=site.parent)
    assert out.returncode == 0, out.stderr
    records = json.loads((site / "data" / "scores.json").read_text(encoding="utf-8"))
    from_site = [r["sources"] for r in records if r["iso2"] == iso2]
    with TestClient(create_app(db, site=site)) as client:
        body = client.get(f"/api/v1/countries/{iso2}").json()
    return [s["sources"] for s in body["scores"]], from_site


@pytest.mark.parametrize("edition", [2018, 2024])
def test_citations_stay_whole_in_the_api_and_scores_json(
    tmp_path: Path, workbook: Path, edition: int
) -> None:
    """Issue #11: `index import-fh` → `index build` → the API and the site's data return one citation."""
    from netfreedom.pipeline.index import build, import_fh

    xlsx = DATA / "fotn" / "fotn_2018_freedomhouse.xlsx" if edition == 2018 else workbook
    _, scores_csv = import_fh(xlsx, tmp_path / "fh.csv", year=edition)
    db = tmp_path / "store.duckdb"
    methodology = "fotn-legacy" if edition == 2018 else "fotn"
    build(methodology, [scores_csv], edition, db, use_evidence=False)
    from_api, from_site = _sources_in(db, tmp_path / "site", "EE")
    citation = [f"Freedom House, Freedom on the Net {edition} ({xlsx.name})"]
    # the scores as imported carry the citation (categories in 2018, the 21 indicators since 2019); the
    # category scores computed from indicators have none of their own
    for found in (from_api, from_site):
        cited = [s for s in found if s]
        assert cited == [citation] * (3 if edition == 2018 else 21)

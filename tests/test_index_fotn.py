"""Acceptance: Freedom House's 2018 workbook, imported and built with the shipped legacy methodology,
reproduces every published total, status and the competition rank."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from netfreedom.index.engine import build_index
from netfreedom.index.fh import read_fh_workbook
from netfreedom.index.methodology import Scale, load_methodology
from netfreedom.index.scores import parse_scores_csv, validate, write_scores_csv

from .conftest import DATA, cli_env

FOTN = DATA / "fotn"
WORKBOOK = FOTN / "fotn_2018_freedomhouse.xlsx"


def _published() -> dict[str, dict[str, str]]:
    with (FOTN / "fotn_2018.csv").open(newline="") as fh:
        return {row["country"]: row for row in csv.DictReader(fh)}


def _rsf_iso3() -> dict[str, str]:
    with (FOTN / "rsf_wpfi_2019.csv").open(newline="") as fh:
        return {row["country"]: row["iso3"] for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def imported():  # type: ignore[no-untyped-def]
    return read_fh_workbook(WORKBOOK)


def test_workbook_reads_65_countries_on_the_legacy_scale(imported) -> None:  # type: ignore[no-untyped-def]
    assert (imported.year, imported.scale) == (2018, Scale.ZERO_BEST)
    assert imported.problems == []
    assert len(imported.scores) == 65 == len({s.iso2 for s in imported.scores})
    assert {s.country for s in imported.scores} == set(_published())


def test_country_names_resolve_to_the_right_iso_codes(imported) -> None:  # type: ignore[no-untyped-def]
    import pycountry

    by_name = {s.country: s.iso2 for s in imported.scores}
    assert by_name["Turkey"] == "TR" and by_name["Russia"] == "RU" and by_name["South Korea"] == "KR"
    # Cross-check against RSF's own ISO-3 codes for every country both files name the same way.
    rsf = _rsf_iso3()
    checked = 0
    for name, iso2 in by_name.items():
        if name in rsf:
            assert pycountry.countries.get(alpha_2=iso2).alpha_3 == rsf[name], name
            checked += 1
    assert checked >= 50


def test_build_reproduces_published_totals_statuses_and_ranks(imported) -> None:  # type: ignore[no-untyped-def]
    methodology = load_methodology("fotn-legacy")
    result = build_index(methodology, validate(imported.scores, methodology), 2018)
    published = _published()
    assert len(result.countries) == 65
    for c in result.countries:
        row = published[c.country]
        assert c.total == float(row["total"]), c.country
        assert c.status == row["status"], c.country
        assert [cat.score for cat in c.categories] == [
            float(row[k]) for k in ("A_obstacles_access", "B_limits_content", "C_violations_user_rights")
        ]
        assert c.rank == int(row["rank_by_total"]), c.country
        assert (c.total_low, c.total_high, c.rank_low, c.rank_high) == (c.total, c.total, c.rank, c.rank)
        assert c.flags == ()
        # the workbook's own status and total agree too
        published_row = imported.published[(c.iso2, 2018)]
        assert published_row.total == c.total and published_row.status == c.status
    china = result.country("CN")
    assert (china.total, china.rank) == (88, 65)
    assert max(c.rank or 0 for c in result.countries) == 65
    firsts = sorted(c.country for c in result.countries if c.rank == 1)
    assert firsts == ["Estonia", "Iceland"] and result.country("EE").total == 6
    assert result.countries[2].rank == 3  # competition ranking: 1, 1, 3


def test_100_best_scale_and_back_is_identical(imported) -> None:  # type: ignore[no-untyped-def]
    legacy, current = load_methodology("fotn-legacy"), load_methodology("fotn")
    scores = validate(imported.scores, legacy)
    inverted = [s.on_scale(current) for s in scores]
    assert all(s.scale is Scale.HUNDRED_BEST for s in inverted)
    assert [s.on_scale(legacy) for s in inverted] == scores
    # through the CSV format too: written on the 100-best scale, read back, converted back
    again = validate(parse_scores_csv(write_scores_csv(inverted), "x.csv"), current)
    assert [
        (s.iso2, {k: (e.low, e.high) for k, e in s.on_scale(legacy).categories.items()}) for s in again
    ] == [(s.iso2, {k: (e.low, e.high) for k, e in s.categories.items()}) for s in scores]
    a = build_index(legacy, scores, 2018)
    b = build_index(current, inverted, 2018)
    assert [(c.iso2, c.total, c.status, c.rank) for c in a.countries] == [
        (c.iso2, 100 - (c.total or 0), c.status, c.rank) for c in b.countries
    ]
    assert b.country("IS").total == 94 and b.country("CN").total == 12


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netfreedom", *args], capture_output=True, text=True, env=cli_env(), cwd=cwd
    )


def test_cli_import_build_show(tmp_path: Path) -> None:
    out = _cli("index", "import-fh", str(WORKBOOK), "--out", "fh.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "65 countries, edition 2018, scale 0-best, category scores" in out.stdout
    db = str(tmp_path / "store.duckdb")
    out = _cli(
        "index",
        "build",
        "--methodology",
        "fotn-legacy",
        "--scores",
        "fh.csv",
        "--year",
        "2018",
        "--db",
        db,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "65 countries, 65 ranked, 0 review flags" in out.stdout
    out = _cli("index", "show", "--year", "2018", "--db", db, "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["scale"] == "0-best" and len(doc["countries"]) == 65
    first = doc["countries"][0]
    assert set(first) >= {
        "country",
        "iso2",
        "A",
        "B",
        "C",
        "total",
        "status",
        "rank",
        "change",
        "interval",
        "flags",
    }
    published = _published()
    for row in doc["countries"]:
        assert (row["total"], row["status"], row["rank"]) == (
            int(published[row["country"]]["total"]),
            published[row["country"]]["status"],
            int(published[row["country"]]["rank_by_total"]),
        )
    out = _cli("index", "show", "--year", "2018", "--db", db, "--format", "csv", cwd=tmp_path)
    rows = list(csv.DictReader(out.stdout.splitlines()))
    assert rows[-1]["country"] == "China" and rows[-1]["rank"] == "65" and rows[-1]["total"] == "88"
    out = _cli("index", "show", "--year", "2018", "--db", db, cwd=tmp_path)
    assert out.returncode == 0 and "Estonia" in out.stdout and "Not Free" in out.stdout
    # a year never built, a score file that does not exist, a bad methodology: clean errors, exit 2
    out = _cli("index", "show", "--year", "2017", "--db", db, cwd=tmp_path)
    assert out.returncode == 2 and "no index built for 2017 (built: 2018)" in out.stderr
    assert "Traceback" not in out.stderr
    out = _cli(
        "index",
        "build",
        "--methodology",
        "nope",
        "--scores",
        "fh.csv",
        "--year",
        "2018",
        "--db",
        db,
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "no methodology file or shipped id 'nope'" in out.stderr
    out = _cli(
        "index",
        "build",
        "--methodology",
        "fotn",
        "--scores",
        "fh.csv",
        "--year",
        "2019",
        "--db",
        db,
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "no scores for 2019" in out.stderr


def test_workbook_problems_are_listed_with_sheet_and_row(tmp_path: Path) -> None:
    import openpyxl

    from netfreedom.errors import InputError

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "2017"
    sheet.append(["Freedom on the Net 2017"])
    sheet.append(["Country", "Status", "A: Obstacles", "B: Limits", "C: Violations", "Total Score"])
    sheet.append(["Estonia", "FREE", 1, 2, 3, 6])
    sheet.append(["Atlantis", "FREE", 1, 1, 1, 3])
    sheet.append(["Iceland", "FREE", 1, 2, 3, 7])
    sheet.append(["Canada", "FREE", 1, None, 3, 4])
    sheet.append([])
    path = tmp_path / "fh.xlsx"
    book.save(path)
    result = read_fh_workbook(path)
    assert (result.year, result.scale) == (2017, Scale.ZERO_BEST)
    assert [s.iso2 for s in result.scores] == ["EE", "IS"]
    assert result.problems == [
        f"{path}:2017!4: unknown country name 'Atlantis'",
        f"{path}:2017!5: Iceland 2017: A+B+C add up to 6 but Total is 7",
        f"{path}:2017!6: Canada 2017: no number in column(s) B",
    ]
    garbage = tmp_path / "garbage.xlsx"
    garbage.write_bytes(b"not a workbook")
    with pytest.raises(InputError, match=r"garbage\.xlsx: cannot read workbook"):
        read_fh_workbook(garbage)


def test_change_from_a_stored_edition_on_the_other_scale(tmp_path: Path) -> None:
    from netfreedom.pipeline.index import build, import_fh

    _, csv_path = import_fh(WORKBOOK, tmp_path / "fh.csv")
    db = tmp_path / "store.duckdb"
    build("fotn-legacy", [csv_path], 2018, db, use_evidence=False)
    (tmp_path / "ee-2019.toml").write_text(
        'iso2 = "EE"\nyear = 2019\nscale = "100-best"\n[categories]\nA = 24\nB = 32\nC = 36\n'
    )
    result = build("fotn", [tmp_path / "ee-2019.toml"], 2019, db, use_evidence=False).result
    ee = result.country("EE")
    # 2018 was stored on the legacy scale as 6; on the 100-best scale that is 94
    assert (ee.total, ee.previous_total, ee.change, ee.status) == (92, 94, -2, "Free")

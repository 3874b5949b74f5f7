from __future__ import annotations

from pathlib import Path

import pytest

from netfreedom.errors import ConfigError
from netfreedom.index.methodology import Scale, load_methodology
from netfreedom.index.scores import (
    parse_scores_csv,
    read_scores,
    validate,
    write_scores_csv,
)

LEGACY = load_methodology("fotn-legacy")

FULL_TOML = """\
iso2 = "EE"
country = "Estonia"
year = 2019
scale = "0-best"
methodology = "fotn-legacy"

[indicators]
A1 = 0
A2 = { score = 1, justification = "rural gaps", sources = ["https://example.org/a2"] }
A3 = 0
A4 = 1
A5 = 0
B1 = { range = [0, 1], justification = "analysts disagree on one takedown" }
B2 = 0
B3 = 0
B4 = 1
B5 = 0
B6 = 0
B7 = 0
B8 = 0

[indicators.C1]
score = 1
justification = "strong guarantees"

[categories]
C = { score = 5 }
"""


def _write(tmp_path: Path, text: str, name: str = "ee-2019.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str, name: str = "ee-2019.toml") -> tuple[str, ConfigError]:
    path = _write(tmp_path, text, name)
    with pytest.raises(ConfigError) as info:
        validate(read_scores([path]), LEGACY)
    return str(path), info.value


def test_full_file_reads(tmp_path: Path) -> None:
    text = FULL_TOML.replace('\n[indicators.C1]\nscore = 1\njustification = "strong guarantees"\n', "")
    [score] = validate(read_scores([_write(tmp_path, text)]), LEGACY)
    assert (score.iso2, score.year, score.scale, score.country) == ("EE", 2019, Scale.ZERO_BEST, "Estonia")
    assert score.indicators["B1"].low == 0 and score.indicators["B1"].high == 1
    assert score.indicators["A2"].sources == ("https://example.org/a2",)
    assert score.categories["C"].point == 5
    converted = score.on_scale(load_methodology("fotn"))
    assert converted.indicators["B1"].low == 5 and converted.indicators["B1"].high == 6
    assert converted.categories["C"].point == 35
    assert converted.on_scale(LEGACY) == score


def test_error_category_and_indicator_scores_both_given(tmp_path: Path) -> None:
    file, err = _error(tmp_path, FULL_TOML)
    assert (err.file, err.line) == (file, 22)
    assert "category C has both a category score and indicator scores" in str(err)
    assert str(err).startswith(f"{file}:22: ")


def test_error_out_of_range(tmp_path: Path) -> None:
    text = FULL_TOML.replace("A3 = 0", "A3 = 7").replace("[indicators.C1]\nscore = 1\n", "[x]\n")
    text = text.replace('[x]\njustification = "strong guarantees"\n', "")
    file, err = _error(tmp_path, text)
    assert (err.file, err.line) == (file, 10)
    assert "A3: score 7 is out of range 0–6" in str(err)


def test_error_negative_and_reversed_range(tmp_path: Path) -> None:
    text = FULL_TOML.replace("A3 = 0", "A3 = -1").replace("B1 = { range = [0, 1]", "B1 = { range = [3, 1]")
    file, err = _error(tmp_path, text)
    assert err.file == file and err.line == 13
    assert "B1: range low 3 is above high 1" in str(err)


def test_error_unknown_code(tmp_path: Path) -> None:
    text = (
        FULL_TOML.replace("A5 = 0", "A5 = 0\nA9 = 2").split("\n[indicators.C1]")[0]
        + "\n[categories]\nC = 5\n"
    )
    file, err = _error(tmp_path, text)
    assert (err.file, err.line) == (file, 13)
    assert "unknown indicator code 'A9' for methodology fotn-legacy" in str(err)


def test_error_unknown_category_code(tmp_path: Path) -> None:
    text = FULL_TOML.split("\n[indicators.C1]", maxsplit=1)[0] + "\n[categories]\nC = 5\nD = 1\n"
    file, err = _error(tmp_path, text)
    assert (err.file, err.line) == (file, 24)
    assert "unknown category code 'D'" in str(err)


def test_error_missing_indicator_is_never_zero(tmp_path: Path) -> None:
    text = FULL_TOML.replace("B6 = 0\n", "").split("\n[indicators.C1]")[0] + "\n[categories]\nC = 5\n"
    file, err = _error(tmp_path, text)
    assert err.file == file
    assert "EE 2019: indicator B6 has no score (write it as missing if it was not assessed)" in str(err)


def test_explicit_missing_is_accepted_and_kept(tmp_path: Path) -> None:
    text = FULL_TOML.replace("B6 = 0", 'B6 = { missing = true, justification = "not assessed" }')
    text = text.split("\n[indicators.C1]")[0] + "\n[categories]\nC = 5\n"
    [score] = validate(read_scores([_write(tmp_path, text)]), LEGACY)
    assert score.indicators["B6"].missing and score.indicators["B6"].point is None


def test_error_duplicate_key_in_toml(tmp_path: Path) -> None:
    text = FULL_TOML.replace("B2 = 0", "B2 = 0\nB2 = 1")
    file, err = _error(tmp_path, text)
    assert err.file == file and err.line == 15
    assert "not valid TOML" in str(err) and "line 15" in str(err)


def test_error_duplicate_country_year_across_files(tmp_path: Path) -> None:
    text = FULL_TOML.split("\n[indicators.C1]", maxsplit=1)[0] + "\n[categories]\nC = 5\n"
    a = _write(tmp_path, text, "a.toml")
    b = _write(tmp_path, text, "b.toml")
    with pytest.raises(ConfigError) as info:
        validate(read_scores([a, b]), LEGACY)
    assert info.value.file == str(b)
    assert f"duplicate scores for EE 2019 (also in {a}:1)" in str(info.value)


def test_error_bad_entry_shapes(tmp_path: Path) -> None:
    text = FULL_TOML.replace("A4 = 1", "A4 = { score = 1, range = [0, 2] }")
    file, err = _error(tmp_path, text)
    assert (err.file, err.line) == (file, 11)
    assert "A4: give exactly one of score, range or missing = true" in str(err)
    text = FULL_TOML.replace("A4 = 1", 'A4 = "one"')
    file, err = _error(tmp_path, text)
    assert "A4: expected a number or a table, got 'one'" in str(err)


def test_error_missing_header_key_and_bad_country(tmp_path: Path) -> None:
    _, err = _error(tmp_path, FULL_TOML.replace('scale = "0-best"\n', ""))
    assert "missing required key 'scale'" in str(err)
    text = (
        FULL_TOML.replace('iso2 = "EE"', 'iso2 = "QQ"').split("\n[indicators.C1]")[0]
        + "\n[categories]\nC=5\n"
    )
    _, err = _error(tmp_path, text)
    assert "unknown country code 'QQ'" in str(err)


def test_several_problems_are_all_named(tmp_path: Path) -> None:
    text = FULL_TOML.replace("A3 = 0", "A3 = 9").replace("B2 = 0", "B2 = 8").split("\n[indicators.C1]")[0]
    _, err = _error(tmp_path, text + "\n[categories]\nC = 5\n")
    assert "A3: score 9" in str(err) and "and 1 more" in str(err) and "B2: score 8" in str(err)


CSV_HEADER = "iso2,country,year,scale,code,score,low,high,missing,justification,sources\n"


def test_csv_many_countries(tmp_path: Path) -> None:
    text = CSV_HEADER + (
        "EE,Estonia,2018,0-best,A,2,,,,published,https://a.example\n"
        "EE,Estonia,2018,0-best,B,3,,,,,\n"
        "EE,Estonia,2018,0-best,C,1,,,,,\n"
        "IS,Iceland,2018,0-best,A,1,,,,,\n"
        "IS,Iceland,2018,0-best,B,,2,4,,disagreement,a.pdf; b.pdf\n"
        "IS,Iceland,2018,0-best,C,,,,true,not assessed,\n"
    )
    path = _write(tmp_path, text, "many.csv")
    scores = {s.iso2: s for s in validate(read_scores([path]), LEGACY)}
    assert set(scores) == {"EE", "IS"}
    assert scores["IS"].categories["B"].low == 2 and scores["IS"].categories["B"].sources == (
        "a.pdf",
        "b.pdf",
    )
    assert scores["IS"].categories["C"].missing
    again = validate(parse_scores_csv(write_scores_csv(scores.values()), "again.csv"), LEGACY)

    def shape(score):  # type: ignore[no-untyped-def]
        return {c: (e.low, e.high, e.justification, e.sources) for c, e in score.categories.items()}

    assert {a.iso2: shape(a) for a in again} == {iso2: shape(s) for iso2, s in scores.items()}


@pytest.mark.parametrize(
    ("row", "line", "problem"),
    [
        ("EE,Estonia,2018,0-best,A,26,,,,,", 2, "A: score 26 is out of range 0–25"),
        ("EE,Estonia,2018,0-best,A,-1,,,,,", 2, "A: score -1 is out of range 0–25"),
        ("EE,Estonia,2018,0-best,A,,3,30,,,", 2, "A: score 30 is out of range 0–25"),
        ("EE,Estonia,2018,0-best,Z,1,,,,,", 2, "unknown indicator code 'Z'"),
        ("EE,Estonia,2018,0-best,A,,,,,,", 2, "A: give a score, or low and high, or missing = true"),
        ("EE,Estonia,2018,0-best,A,x,,,,,", 2, "A: score 'x' is not a number"),
        ("EE,Estonia,twenty,0-best,A,1,,,,,", 2, "year 'twenty' is not an integer"),
        ("EE,Estonia,2018,sideways,A,1,,,,,", 2, "scale 'sideways' must be '0-best' or '100-best'"),
        ("EE,Estonia,2018,0-best,A,1,,,true,,", 2, "A: marked missing but has a score"),
        ("EE,Estonia,2018,0-best,A,1,,,,,,extra", 2, "more cells than columns"),
    ],
)
def test_csv_errors_name_file_line_and_problem(tmp_path: Path, row: str, line: int, problem: str) -> None:
    rest = "EE,Estonia,2018,0-best,B,1,,,,,\nEE,Estonia,2018,0-best,C,1,,,,,\n"
    file, err = _error(tmp_path, CSV_HEADER + row + "\n" + rest, "many.csv")
    assert (err.file, err.line) == (file, line)
    assert problem in str(err)


def test_csv_duplicate_row(tmp_path: Path) -> None:
    text = CSV_HEADER + "EE,,2018,0-best,A,1,,,,,\nEE,,2018,0-best,B,1,,,,,\nEE,,2018,0-best,A,2,,,,,\n"
    file, err = _error(tmp_path, text, "many.csv")
    assert (err.file, err.line) == (file, 4)
    assert "duplicate entry for EE 2018 A (first at line 2)" in str(err)


def test_csv_missing_category_entirely(tmp_path: Path) -> None:
    text = CSV_HEADER + "EE,,2018,0-best,A,1,,,,,\nEE,,2018,0-best,B,1,,,,,\n"
    file, err = _error(tmp_path, text, "many.csv")
    assert (err.file, err.line) == (file, 2)
    assert "indicator C1 has no score" in str(err)


def test_csv_bad_header_and_missing_paths(tmp_path: Path) -> None:
    _, err = _error(tmp_path, "country,total\nEstonia,6\n", "many.csv")
    assert err.line == 1 and "header lacks column(s) iso2, year, scale, code" in str(err)
    with pytest.raises(ConfigError, match="score file does not exist"):
        read_scores([tmp_path / "nope.toml"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no \.toml or \.csv score files"):
        read_scores([tmp_path / "empty"])

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from netfreedom.errors import ConfigError
from netfreedom.index.methodology import (
    Measure,
    Scale,
    convert,
    load_methodology,
    parse_methodology,
    shipped,
)

SHIPPED = ["fotn", "fotn-legacy"]


def test_shipped_ids() -> None:
    assert shipped() == SHIPPED


@pytest.mark.parametrize("mid", SHIPPED)
def test_structure_invariants(mid: str) -> None:
    m = load_methodology(mid)
    assert [(c.code, c.max) for c in m.categories] == [("A", 25), ("B", 35), ("C", 40)]
    assert [len(m.indicators_of(c)) for c in "ABC"] == [5, 8, 8]
    for cat in m.categories:
        assert sum(i.max for i in m.indicators_of(cat.code)) == cat.max
    assert m.total_max == 100
    assert all(i.question.endswith("?") and len(i.question) > 30 for i in m.indicators)


@pytest.mark.parametrize("mid", SHIPPED)
def test_status_bands_cover_every_total_exactly_once(mid: str) -> None:
    m = load_methodology(mid)
    step = 10**-m.decimals
    values = [round(i * step, m.decimals) for i in range(int(100 / step) + 1)]
    for v in values:
        assert sum(b.min <= v <= b.max for b in m.status) == 1, v


def test_scales_and_thresholds_mirror_each_other() -> None:
    legacy, current = load_methodology("fotn-legacy"), load_methodology("fotn")
    assert (legacy.scale, current.scale) == (Scale.ZERO_BEST, Scale.HUNDRED_BEST)
    assert legacy.indicators == current.indicators
    for total in range(101):
        assert legacy.status_for(total) == current.status_for(100 - total)
    assert legacy.status_for(30) == "Free" and legacy.status_for(31) == "Partly Free"
    assert current.status_for(70) == "Free" and current.status_for(39) == "Not Free"


def test_conversion_is_exact_and_reversible() -> None:
    for maximum in (3, 6, 25, 100):
        for v in [x / 2 for x in range(2 * maximum + 1)]:
            there = convert(v, maximum, Scale.ZERO_BEST, Scale.HUNDRED_BEST)
            assert convert(there, maximum, Scale.HUNDRED_BEST, Scale.ZERO_BEST) == v
            assert 0 <= there <= maximum


def test_rounding_ties_go_toward_less_freedom_on_both_scales() -> None:
    legacy, current = load_methodology("fotn-legacy"), load_methodology("fotn")
    assert [legacy.round(x) for x in (0.5, 1.5, 2.5, 2.49, 60.5)] == [1, 2, 3, 2, 61]
    assert [current.round(x) for x in (99.5, 98.5, 97.5, 97.51, 39.5)] == [99, 98, 97, 98, 39]
    for tenth in range(1001):
        v = tenth / 10
        assert legacy.round(v) + current.round(100 - v) == 100


def test_evidence_rules_are_shipped() -> None:
    m = load_methodology("fotn")
    rules = {(r.indicator, r.measure): r for r in m.evidence}
    assert {"NEWS", "POLR", "HUMR"} <= set(rules["B1", Measure.URL_BLOCKING].categories)
    assert "whatsapp" in rules["A3", Measure.TEST_BLOCKING].tests
    assert rules["A3", Measure.EVENTS].kinds == ("shutdown", "throttling")
    assert rules["B1", Measure.EVENTS].kinds == ("service_blocking",)


def test_restriction_reads_both_directions() -> None:
    legacy, current = load_methodology("fotn-legacy"), load_methodology("fotn")
    assert legacy.restriction(0, 6) == 0 and current.restriction(6, 6) == 0
    assert legacy.restriction(6, 6) == 1 and current.restriction(0, 6) == 1
    assert legacy.better(6, 88) and current.better(94, 12)


# --- validation: each error names the file and the problem ----------------------------------------------


def _base() -> dict[str, Any]:
    text = (resources.files("netfreedom.index") / "methodologies" / "fotn.toml").read_text()
    return tomllib.loads(text)


def _dump(data: dict[str, Any], path: Path) -> Path:
    """A tiny TOML writer for the shapes a methodology uses (no third-party writer needed)."""

    def value(v: Any) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = [
        f"{k} = {value(v)}"
        for k, v in data.items()
        if not isinstance(v, (dict, list)) or (isinstance(v, list) and not (v and isinstance(v[0], dict)))
    ]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines.append(f"[[{k}]]")
                lines += [f"{kk} = {value(vv)}" for kk, vv in item.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_round_trip_of_the_test_writer(tmp_path: Path) -> None:
    m = load_methodology(_dump(_base(), tmp_path / "copy.toml"))
    assert m == dataclasses.replace(load_methodology("fotn"), source=m.source)


def _broken(tmp_path: Path, change: Any) -> str:
    data = _base()
    change(data)
    path = _dump(data, tmp_path / "broken.toml")
    with pytest.raises(ConfigError) as info:
        load_methodology(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    return message


def test_error_indicator_maxima_do_not_sum_to_category(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["indicators"][0]["max"] = 7

    assert "indicators of category A sum to 26 points, not its max 25" in _broken(tmp_path, change)


def test_error_categories_do_not_sum_to_100(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["categories"][0]["max"] = 30
        d["indicators"][0]["max"] = 11

    assert "category maxima sum to 105, not 100" in _broken(tmp_path, change)


def test_error_status_gap(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["status"][0]["max"] = 38

    assert "status bands Not Free and Partly Free leave a gap" in _broken(tmp_path, change)


def test_error_status_overlap(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["status"][1]["max"] = 75

    assert "status bands Partly Free and Free overlap" in _broken(tmp_path, change)


def test_error_status_not_covering(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["status"][2]["max"] = 99

    assert "status bands must cover 0 to 100" in _broken(tmp_path, change)


def test_error_unknown_scale(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["scale"] = "upside-down"

    assert "scale must be '0-best' or '100-best'" in _broken(tmp_path, change)


def test_error_indicator_in_unknown_category(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["indicators"][0]["category"] = "Z"

    assert "(A1): unknown category 'Z'" in _broken(tmp_path, change)


def test_error_duplicate_indicator(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["indicators"][1]["code"] = "A1"

    assert "duplicate code A1" in _broken(tmp_path, change)


def test_error_missing_key(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["indicators"][3]["question"]

    assert "indicators #4: missing required key 'question'" in _broken(tmp_path, change)


def test_error_evidence_for_unknown_indicator(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["evidence"][0]["indicator"] = "B9"

    assert "evidence #1: unknown indicator 'B9'" in _broken(tmp_path, change)


def test_error_unknown_measure(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["evidence"][0]["measure"] = "vibes"

    assert "unknown measure 'vibes'" in _broken(tmp_path, change)


def test_error_not_toml_and_unknown_id(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("id = [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_methodology(path)
    with pytest.raises(ConfigError, match="no methodology file or shipped id 'nope'"):
        load_methodology("nope")


def test_extends_a_file_beside_it(tmp_path: Path) -> None:
    _dump(_base(), tmp_path / "base.toml")
    (tmp_path / "mine.toml").write_text('extends = "base.toml"\nid = "mine"\nversion = "2"\n')
    m = load_methodology(tmp_path / "mine.toml")
    assert (m.id, m.version, m.scale, len(m.indicators)) == ("mine", "2", Scale.HUNDRED_BEST, 21)


def test_parse_rejects_non_integer_max() -> None:
    data = _base()
    data["categories"][0]["max"] = "25"
    with pytest.raises(ConfigError, match=r"m\.toml: categories #1: 'max' must be a int"):
        parse_methodology(data, "m.toml")

"""Events as index evidence: the ``events`` measure, the methodology's events rules, the flag they raise."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from netfreedom.errors import ConfigError, InputError
from netfreedom.evidence.model import Period, Window, evidence, measures
from netfreedom.index.engine import build_index
from netfreedom.index.methodology import Measure, Scale, load_methodology, parse_methodology
from netfreedom.index.results import EvidenceFigure, FlagKind
from netfreedom.index.scores import CountryScore, ScoreEntry
from netfreedom.models.event import Event, EventKind
from netfreedom.pipeline.events import import_events
from netfreedom.pipeline.index import build, import_fh
from netfreedom.store import open_store

from .conftest import DATA

LEGACY = load_methodology("fotn-legacy")
STOP = DATA / "events" / "accessnow_stop_2016_2022.xlsx"
CENALERT = DATA / "events" / "cenalert_ooni_reports.csv"


def _indicators(iso2: str, values: dict[str, float]) -> CountryScore:
    """Legacy scale, every indicator 0 (no restriction) unless given."""
    out = {
        i.code: ScoreEntry(i.code, values.get(i.code, 0.0), values.get(i.code, 0.0))
        for i in LEGACY.indicators
    }
    return CountryScore(iso2=iso2, year=2018, scale=Scale.ZERO_BEST, indicators=out)


def _events_figure(code: str, curated: int, detected: int = 0) -> EvidenceFigure:
    described = [f"2018-0{n + 1}-01..2018-0{n + 1}-02 shutdown, Area {n} [e-{n}]" for n in range(curated)]
    described += [f"2018-0{n + 1}-05..2018-0{n + 1}-05 shutdown (detected) [d-{n}]" for n in range(detected)]
    return EvidenceFigure(
        "IR",
        code,
        Measure.EVENTS,
        curated + detected,
        curated,
        detected,
        0,
        0,
        "2017-06-01/2018-06-01",
        events=tuple(described),
    )


def _measured(code: str, measure: Measure, tested: int) -> EvidenceFigure:
    return EvidenceFigure("IR", code, measure, tested, 0, 0, tested * 3, 2, "2017-06-01/2018-06-01")


MEASURED = [
    _measured("B1", Measure.URL_BLOCKING, 40),
    _measured("A3", Measure.TEST_BLOCKING, 4),
    _measured("C4", Measure.URL_BLOCKING, 8),
]


def test_a_no_restriction_score_against_curated_events_is_flagged_with_the_events() -> None:
    figures = {"IR": [*MEASURED, _events_figure("A3", 2, detected=1)]}
    r = build_index(LEGACY, [_indicators("IR", {})], 2018, evidence=figures).country("IR")
    assert [(f.kind, f.code) for f in r.flags] == [(FlagKind.EVIDENCE_CONTRADICTS, "A3")]
    message = r.flags[0].message
    assert "record shows 2 shutdown/throttling events and 1 detected in measurements" in message
    assert "2017-06-01/2018-06-01" in message
    assert "[e-0]" in message and "[e-1]" in message and "[d-0]" in message
    # A score that admits restriction is not contradicted.
    honest = build_index(LEGACY, [_indicators("IR", {"A3": 2})], 2018, evidence=figures).country("IR")
    assert honest.flags == ()


def test_detected_events_alone_never_raise_the_flag_and_absence_proves_nothing() -> None:
    detected_only = {"IR": [*MEASURED, _events_figure("A3", 0, detected=3)]}
    r = build_index(LEGACY, [_indicators("IR", {})], 2018, evidence=detected_only).country("IR")
    assert r.flags == ()
    heavy = build_index(LEGACY, [_indicators("IR", {"A3": 6, "B1": 6})], 2018, evidence=detected_only)
    # Heavy scores and no curated event: only the measured rules speak (B1 URLs, A3 app tests).
    assert [(f.kind, f.code) for f in heavy.country("IR").flags] == [
        (FlagKind.EVIDENCE_ABSENT, "B1"),
        (FlagKind.EVIDENCE_ABSENT, "A3"),
    ]
    # Events rules never widen the interval: same interval with and without an events figure.
    plain = build_index(LEGACY, [_indicators("IR", {})], 2018, evidence={"IR": MEASURED}).country("IR")
    assert (r.total_low, r.total_high) == (plain.total_low, plain.total_high)


def test_service_blocking_is_checked_against_b1_and_many_events_are_cut_short() -> None:
    figures = {"IR": [*MEASURED, _events_figure("B1", 9), _events_figure("A3", 0)]}
    r = build_index(LEGACY, [_indicators("IR", {})], 2018, evidence=figures).country("IR")
    assert [(f.kind, f.code) for f in r.flags] == [(FlagKind.EVIDENCE_CONTRADICTS, "B1")]
    assert "9 service blocking events" in r.flags[0].message
    many = dataclasses.replace(_events_figure("B1", 9), events=_events_figure("B1", 9).events * 2)
    r = build_index(LEGACY, [_indicators("IR", {})], 2018, evidence={"IR": [*MEASURED, many]}).country("IR")
    assert r.flags[0].message.endswith("; … and 6 more")


def test_only_events_and_no_measurements_still_one_thin_flag() -> None:
    r = build_index(LEGACY, [_indicators("IR", {})], 2018, evidence={"IR": [_events_figure("A3", 1)]})
    kinds = [(f.kind, f.code) for f in r.country("IR").flags]
    assert kinds == [(FlagKind.EVIDENCE_CONTRADICTS, "A3"), (FlagKind.THIN_EVIDENCE, "B1,A3,C4")]


def test_events_rules_are_validated() -> None:
    import tomllib
    from importlib import resources

    text = resources.files("netfreedom.index").joinpath("methodologies", "fotn.toml").read_text("utf-8")
    base = tomllib.loads(text)
    ok = parse_methodology(
        {**base, "evidence": [{"indicator": "A3", "measure": "events", "kinds": ["shutdown"]}]}, "t"
    )
    assert ok.evidence[0].kinds == ("shutdown",) and ok.evidence[0].min_events == 1
    with pytest.raises(ConfigError, match="needs kinds among shutdown, throttling, service_blocking"):
        parse_methodology(
            {**base, "evidence": [{"indicator": "A3", "measure": "events", "kinds": ["outage"]}]}, "t"
        )
    with pytest.raises(ConfigError, match="needs kinds"):
        parse_methodology({**base, "evidence": [{"indicator": "A3", "measure": "events"}]}, "t")
    with pytest.raises(ConfigError, match="min_events must be at least 1"):
        parse_methodology(
            {
                **base,
                "evidence": [
                    {"indicator": "A3", "measure": "events", "kinds": ["shutdown"], "min_events": 0}
                ],
            },
            "t",
        )


# -- over a real store -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def events_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("events-index") / "store.duckdb"
    with open_store(db) as store:
        import_events(store, [str(STOP), str(CENALERT)])
        store.put_events(
            [
                Event(
                    id="netfreedom-detect-x",
                    source="netfreedom-detect",
                    iso2="IN",
                    country="India",
                    start=dt.date(2019, 3, 1),
                    end=dt.date(2019, 3, 2),
                    kind=EventKind.SHUTDOWN,
                    detected=True,
                    signal="volume_drop",
                )
            ]
        )
    return db


def test_the_events_measure_is_registered_and_counts_the_window(events_store: Path) -> None:
    assert measures()["events"].source.value == "events"
    with open_store(events_store, read_only=True) as store:
        table = evidence(store.query, "events", window=Window(dt.date(2019, 1, 1), dt.date(2020, 1, 1)))
        india = next(r for r in table.to_pylist() if r["country"] == "IN")
        listed = store.events()
    # The same events the store's own filter selects (inclusive last day = until - 1).
    expected = [
        e for e in listed if e.iso2 == "IN" and e.overlaps(dt.date(2019, 1, 1), dt.date(2019, 12, 31))
    ]
    assert india["curated"] + india["detected"] == len(india["events"]) == len(expected)
    assert india["detected"] == 1 and india["detected_shutdown"] == 1
    assert india["curated"] == 122
    assert india["curated_shutdown"] + india["curated_throttling"] + india["curated_service_blocking"] == 122
    assert india["period"] == "2019-01-01/2020-01-01" and india["sources"] == "events"
    with open_store(events_store, read_only=True) as store:
        from netfreedom.evidence.model import Filters

        only = evidence(
            store.query,
            "events",
            window=Window(dt.date(2019, 1, 1), dt.date(2020, 1, 1)),
            filters=Filters(country="td"),
        )
        assert only.column("country").to_pylist() == ["TD"]
        with pytest.raises(InputError, match="whole window"):
            evidence(store.query, "events", window=Window(period=Period.MONTH))
        with pytest.raises(InputError, match="cannot be cut by"):
            evidence(store.query, "events", axes=("network",))


def test_index_build_flags_scores_the_record_contradicts(events_store: Path, tmp_path: Path) -> None:
    _, scores = import_fh(DATA / "fotn" / "fotn_2018_freedomhouse.xlsx", tmp_path / "fh.csv")
    report = build("fotn-legacy", [scores], 2018, events_store)
    flagged = {
        c.iso2: f for c in report.result.countries for f in c.flags if f.kind is FlagKind.EVIDENCE_CONTRADICTS
    }
    # Category-level scores: A3 is checked against category A.  South Korea's A score claims little
    # restriction; STOP records the Pyeongchang shutdown of February 2018.
    assert set(flagged) == {"KR"}
    assert "(checked against category A)" in flagged["KR"].message
    assert "Pyeongchang" in flagged["KR"].message and "[accessnow-stop-" in flagged["KR"].message
    figures = {
        (f.indicator, f.measure) for c in report.result.countries if c.iso2 == "IN" for f in c.evidence
    }
    assert figures == {("A3", Measure.EVENTS), ("B1", Measure.EVENTS)}
    quiet = build("fotn-legacy", [scores], 2018, events_store, use_evidence=False)
    assert not [f for c in quiet.result.countries for f in c.flags if f.kind is FlagKind.EVIDENCE_CONTRADICTS]

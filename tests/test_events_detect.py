"""Detection of outages and blocking in daily series: the detector, its precision on synthetic series, and
``events detect`` over a real store (raw measurements and daily aggregates)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from netfreedom.events.detect import (
    FAILURE_SPIKE,
    VOLUME_DROP,
    Day,
    DetectorConfig,
    Series,
    detect,
    detect_all,
)
from netfreedom.events.evaluate import matches, score
from netfreedom.events.synthetic import SyntheticConfig, generate
from netfreedom.models.aggregation import AggregateRow, Grain
from netfreedom.models.event import Event, EventFilters, EventKind, EventScope
from netfreedom.pipeline.events import detect_events, import_events
from netfreedom.pipeline.ingest import ingest
from netfreedom.store import open_store

from .conftest import MEASUREMENTS, ROOT, cli_env

START = dt.date(2024, 1, 1)


def _series(volume: list[int], iso2: str = "AA", blocked: dict[int, float] | None = None) -> Series:
    days = {}
    for i, n in enumerate(volume):
        share = (blocked or {}).get(i, 0.02)
        tested = n // 2
        days[START + dt.timedelta(days=i)] = Day(n, tested, round(tested * share))
    return Series(iso2, START, START + dt.timedelta(days=len(volume) - 1), days)


def _steady(n: int = 60, level: int = 100) -> list[int]:
    return [level + (7 if i % 3 == 0 else -5 if i % 3 == 1 else 0) for i in range(n)]


def test_a_shutdown_is_one_event_with_its_figures() -> None:
    volume = _steady()
    volume[40:43] = [0, 3, 2]
    (event,) = detect(_series(volume))
    assert (event.signal, event.kind, event.scope) == (VOLUME_DROP, EventKind.SHUTDOWN, EventScope.NATIONAL)
    assert (event.start, event.end) == (START + dt.timedelta(days=40), START + dt.timedelta(days=42))
    assert event.detected and event.source == "netfreedom-detect" and event.iso2 == "AA"
    assert event.baseline == 100 and event.observed == pytest.approx(5 / 3, abs=1e-3)
    assert event.ratio is not None and event.ratio < 0.02
    assert event.confidence is not None and 0.8 < event.confidence <= 1


def test_drops_the_rules_do_not_call() -> None:
    shallow = _steady()
    shallow[40] = 20  # one day at 20 %: below the soft fraction only, and for one day
    assert detect(_series(shallow)) == []
    small = [max(1, v // 10) for v in _steady()]  # a median of 10/day: under the minimum baseline
    small[40:43] = [0, 0, 0]
    assert detect(_series(small)) == []
    early = _steady()
    early[5:8] = [0, 0, 0]  # before the detector has two weeks of history
    assert detect(_series(early)) == []
    two_soft = _steady()
    two_soft[40:42] = [20, 22]  # two days at ~20 %: a soft run
    assert [e.signal for e in detect(_series(two_soft))] == [VOLUME_DROP]


def test_a_drop_everywhere_is_the_pipeline_not_a_shutdown() -> None:
    countries = []
    for cc in ("AA", "BB", "CC", "DD"):
        volume = _steady(level=200)
        volume[40] = 3  # every country on the same day
        countries.append(_series(volume, cc))
    alone = _steady(level=200)
    alone[50] = 0
    countries.append(_series(alone, "EE"))
    found = detect_all(countries)
    assert [(e.iso2, e.start) for e in found] == [("EE", START + dt.timedelta(days=50))]
    # Without the guard the shared dip is five shutdowns.
    assert len(detect_all(countries, DetectorConfig(global_fraction=0.0))) == 5


def test_a_new_lower_level_is_accepted_after_max_days() -> None:
    volume = _steady(120)
    volume[40:] = [5] * 80  # volunteers left for good
    (event,) = detect(_series(volume))
    assert event.end is not None and (event.end - event.start).days + 1 == DetectorConfig().max_days


def test_failure_spike_needs_three_days() -> None:
    volume = _steady()
    spike = detect(_series(volume, blocked={40: 0.6, 41: 0.7, 42: 0.65, 43: 0.6}))
    assert [(e.signal, e.kind) for e in spike] == [(FAILURE_SPIKE, EventKind.SERVICE_BLOCKING)]
    assert spike[0].observed == pytest.approx(0.64, abs=0.02) and spike[0].baseline == pytest.approx(
        0.02, abs=0.01
    )
    assert detect(_series(volume, blocked={40: 0.6, 41: 0.7})) == []  # a captive portal for two days


def test_matching_rule() -> None:
    detected = detect(_series([*_steady()[:40], 0, 0, *_steady()[42:]]))[0]
    curated = Event(
        id="c",
        source="c",
        iso2="AA",
        country="A",
        start=detected.start + dt.timedelta(days=2),
        kind=EventKind.SHUTDOWN,
    )
    assert matches(detected, curated)  # one day of tolerance past the detected end
    later = Event(
        id="c2",
        source="c",
        iso2="AA",
        country="A",
        start=detected.start + dt.timedelta(days=3),
        kind=EventKind.SHUTDOWN,
    )
    assert not matches(detected, later)
    blocking = Event(
        id="c3", source="c", iso2="AA", country="A", start=detected.start, kind=EventKind.SERVICE_BLOCKING
    )
    assert not matches(detected, blocking)  # a volume drop is not service blocking
    s = score([detected], [curated, later], evaluable=lambda e: e.id == "c2")
    assert (s.precision, s.recall) == (1.0, 0.0)


def test_precision_and_recall_on_synthetic_series() -> None:
    """The figures docs/events.md quotes come from bench/detect_events.py; this holds the defaults to them."""
    tp = detected = spike_tp = spikes = found = judged = 0
    for seed in (1, 2, 3, 4):
        series, truth = generate(seed, SyntheticConfig(countries=40))
        events = detect_all(series)
        drop_score = score([e for e in events if e.signal == VOLUME_DROP], truth)
        spike_score = score([e for e in events if e.signal == FAILURE_SPIKE], truth)
        tp, detected = tp + drop_score.true_positives, detected + drop_score.detected
        spike_tp, spikes = spike_tp + spike_score.true_positives, spikes + spike_score.detected
        levels = {s.iso2: sorted(d.measurements for d in s.days.values())[len(s.days) // 2] for s in series}
        national = [e for e in truth if e.kind is EventKind.SHUTDOWN and e.scope is EventScope.NATIONAL]
        recall = score(events, national, evaluable=lambda e, levels=levels: levels[e.iso2] >= 50)
        found, judged = found + recall.found, judged + recall.reference
    assert detected > 50 and tp / detected >= 0.85
    assert spikes > 50 and spike_tp / spikes >= 0.85
    assert judged > 50 and found / judged >= 0.8
    assert generate(4, SyntheticConfig(countries=40))[1] == truth  # seeded: the same world again


# -- over a store ------------------------------------------------------------------------------------------


def _measurement_lines(counts: dict[dt.date, int], cc: str, asn: str = "AS64500") -> list[bytes]:
    template = orjson.loads((MEASUREMENTS / "dummy.jsonl").read_bytes().splitlines()[0])
    lines = []
    for day, n in counts.items():
        for i in range(n):
            m = dict(template)
            t = dt.datetime.combine(day, dt.time(0, 0)) + dt.timedelta(seconds=i * 37 % 86_000)
            m.update(
                measurement_start_time=t.strftime("%Y-%m-%d %H:%M:%S"),
                test_start_time=t.strftime("%Y-%m-%d %H:%M:%S"),
                probe_cc=cc,
                probe_asn=asn,
                measurement_uid=f"{day:%Y%m%d}{cc}{i:05d}",
            )
            lines.append(orjson.dumps(m))
    return lines


def test_detect_over_raw_measurements_and_aggregates(tmp_path: Path) -> None:
    days = [START + dt.timedelta(days=i) for i in range(50)]
    raw = dict.fromkeys(days, 60)
    for d in days[35:37]:
        raw[d] = 0  # a two-day shutdown in IQ, seen in the raw measurements
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\n".join(_measurement_lines(raw, "IQ")) + b"\n")
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        ingest(store, [str(path)])
        # OONI aggregates for SD: 400 a day, a shutdown on days 30-32; and for IQ, which raw covers.
        rows = []
        for i, d in enumerate(days):
            sd = 5 if 30 <= i <= 32 else 400
            # SD as a whole, and the same measurements by network (AS15706 carries them all).
            for cc, asn, n in (("SD", None, sd), ("SD", 15706, sd), ("IQ", None, 999)):
                start = dt.datetime.combine(d, dt.time(), dt.UTC)
                rows.append(
                    AggregateRow(
                        file="agg.json",
                        line=i + 1,
                        grain=Grain.DAY,
                        start=start,
                        end=start + dt.timedelta(days=1),
                        probe_cc=cc,
                        test_name="web_connectivity",
                        probe_asn=asn,
                        domain=None,
                        input=None,
                        category_code=None,
                        blocking_type=None,
                        anomaly_count=0,
                        confirmed_count=0,
                        failure_count=0,
                        measurement_count=n,
                        ok_count=n,
                    )
                )
        store.add_aggregates(rows)
        csv = tmp_path / "curated.csv"
        csv.write_text(
            "country,start_date,end_date,shutdown_type\n"
            f"Iraq,{days[35]},{days[36]},Shutdown\nSudan,{days[31]},{days[31]},Shutdown\n"
            f"Sudan,{days[10]},{days[10]},Shutdown\n",
            encoding="utf-8",
        )
        import_events(store, [str(csv)], source="curated")
        summary = detect_events(store)
        assert summary.sources == {"raw": 50 - 2, "aggregates": 50}
        found = sorted((e.iso2, e.start, e.end, e.asn or "") for e in summary.events)
        assert found == [
            ("IQ", days[35], days[36], ""),
            ("IQ", days[35], days[36], "AS64500"),  # the one network has volume enough of its own
            ("SD", days[30], days[32], ""),
            ("SD", days[30], days[32], "AS15706"),  # from the aggregates' network layer
        ]
        drops = summary.evaluation["volume_drop"]
        assert (drops["precision"], drops["detected"]) == (1.0, 2)
        # Sudan's day-10 event is not evaluable: it has less than two weeks of history before it.
        assert (drops["found"], drops["curated_evaluable"], drops["curated"]) == (2, 2, 3)
        stored = store.events(EventFilters(detected=True))
        assert len(stored) == 4 and all(e.detected for e in stored)
        assert len(store.events(EventFilters(detected=False))) == 3  # curated untouched
        # Running again replaces, never doubles.
        again = detect_events(store)
        assert again.replaced == 4 and len(store.events(EventFilters(detected=True))) == 4


def test_cli_detect_on_the_shared_measurements(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        ingest(store, [str(MEASUREMENTS)])
    out = subprocess.run(
        [sys.executable, "-m", "netfreedom", "events", "detect", "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    # 90 measurements over many countries and years: far too thin for any baseline.
    assert doc["countries"] > 20 and doc["detected"] == 0
    assert doc["evaluation"]["volume_drop"]["precision"] is None
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "netfreedom",
            "events",
            "detect",
            "--db",
            str(db),
            "--since",
            "2024-02-01",
            "--until",
            "2024-01-01",
        ],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=ROOT,
    )
    assert bad.returncode == 2 and "after" in bad.stderr

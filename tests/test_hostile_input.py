"""Hostile lines (issue #16): a line nested a thousand levels deep, a time zone offset that moves a date past
the ends of the calendar.  Each is reported with file, line and reason; the rest of the batch is kept; no
command crashes on it (ingest, analyze FILE, analyze --db)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import tarfile
from pathlib import Path

import orjson
import pytest

from netfreedom.analysis import analyze, analyze_line
from netfreedom.errors import InputError
from netfreedom.ingest import Problem, Record, content_uid, decode_measurement, read_source
from netfreedom.ingest.layout import Filters
from netfreedom.models.measurement import Envelope, measurement_time
from netfreedom.models.registry import decode_measurement as decode_whole_measurement
from netfreedom.models.registry import decode_test_keys
from netfreedom.pipeline.analyze import analyze_batch, analyze_store
from netfreedom.pipeline.ingest import ingest
from netfreedom.store import StoredMeasurement, open_store

from .conftest import run_cli

GOOD = b'{"test_name":"dnscheck","measurement_start_time":"2024-01-01 00:00:00","measurement_uid":"%s"}'


def nested(levels: int) -> bytes:
    """``levels`` nested objects: a shape every typed field (an object) accepts until it is too deep."""
    return b'{"a":' * levels + b"1" + b"}" * levels


def deep(levels: int, where: str = "x", test_name: str = "x") -> bytes:
    """A measurement nested ``levels`` deep in the field ``where``: arrays in an unknown field (the issue's
    reproduction), objects in a known one."""
    head = f'{{"test_name":"{test_name}","measurement_start_time":"2024-01-01 00:00:00","{where}":'
    body = b"[" * levels + b"]" * levels if where == "x" else nested(levels)
    return head.encode() + body + b"}"


def good(uid: str) -> bytes:
    return GOOD % uid.encode()


# -- 1. deep nesting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [1_000, 5_000, 100_000])
@pytest.mark.parametrize("where", ["x", "test_keys", "annotations"])
def test_a_deeply_nested_line_is_a_problem_not_a_crash(levels: int, where: str) -> None:
    found = decode_measurement(deep(levels, where), "f.jsonl", 7)
    assert isinstance(found, Problem)
    assert (found.file, found.line) == ("f.jsonl", 7)
    assert found.reason.startswith("JSON nested too deeply")


def test_canonical_hashing_of_a_deep_line_never_raises() -> None:
    for levels in (900, 2_000, 100_000):
        assert content_uid(deep(levels)).startswith("h")


def test_deep_lines_in_every_format_keep_the_rest(tmp_path: Path) -> None:
    bad = deep(3_000)
    lines = [good("a"), bad, good("b"), deep(3_000, "test_keys", "web_connectivity"), good("c")]
    (tmp_path / "m.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "m.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    (tmp_path / "list.json").write_bytes(b"[" + good("d") + b"," + bad + b"," + good("e") + b"]")
    (tmp_path / "one.json").write_bytes(bad)
    (tmp_path / "one.post").write_bytes(b'{"format":"json","content":' + bad + b"}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in [("a.post", good("f")), ("b.post", bad), ("c.post", b"[" * 50_000)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / "can.tar.gz").write_bytes(gzip.compress(buf.getvalue()))

    def read(name: str) -> tuple[list[str], list[tuple[int, str]]]:
        items = list(read_source(str(tmp_path / name)))
        records = [i.uid for i in items if isinstance(i, Record)]
        problems = [(i.line, i.reason) for i in items if isinstance(i, Problem)]
        assert all(i.file == str(tmp_path / name) for i in items if isinstance(i, Problem))
        return records, problems

    for name in ("m.jsonl", "m.jsonl.gz"):
        records, problems = read(name)
        assert records == ["a", "b", "c"]
        assert [line for line, _ in problems] == [2, 4]
        assert all(reason.startswith("JSON nested too deeply") for _, reason in problems)
    records, problems = read("list.json")
    # One JSON document: like invalid JSON anywhere in it, a too-deep item loses the file, reported once.
    assert records == [] and len(problems) == 1
    assert "JSON nested too deeply" in problems[0][1]
    for name in ("one.json", "one.post"):
        records, problems = read(name)
        assert records == [] and [line for line, _ in problems] == [1]
        assert "JSON nested too deeply" in problems[0][1]
    records, problems = read("can.tar.gz")
    assert records == ["f"]
    assert [line for line, _ in problems] == [2, 3]
    assert problems[0][1] == "entry b.post: JSON nested too deeply (more levels than the JSON decoder allows)"


def test_analysis_of_deep_keys_never_raises() -> None:
    for test_name in ("web_connectivity", "dnscheck", "facebook_messenger", "signal", "no_such_test"):
        line = deep(100_000, "test_keys", test_name)
        assert analyze_line(line) is None  # not decodable as an envelope: the caller's "unreadable"
        env = Envelope(test_name=test_name, measurement_start_time="2024-01-01 00:00:00")
        verdict = analyze(env, nested(100_000))
        assert verdict.reason.value != "analysis_error"
        with pytest.raises(InputError) as caught:
            decode_test_keys(test_name, nested(100_000))
        assert "nested too deeply" in str(caught.value)
        with pytest.raises(InputError) as caught:
            decode_whole_measurement(line)
        assert "nested too deeply" in str(caught.value)


def test_a_deep_hhfm_echo_body_is_not_an_analysis_error() -> None:
    body = nested(100_000).decode()
    keys = {"requests": [{"request": {"headers": {}}, "response": {"body": body, "headers": {}}}]}
    env = Envelope(test_name="http_header_field_manipulation", measurement_start_time="2024-01-01 00:00:00")
    assert analyze(env, orjson.dumps(keys)).reason.value != "analysis_error"


def test_a_damaged_stored_row_gets_a_verdict(tmp_path: Path) -> None:
    row = StoredMeasurement(
        measurement_uid="u1",
        raw=deep(100_000, "test_keys", "web_connectivity"),
        measurement_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        test_name="web_connectivity",
        probe_cc="IT",
    )
    [verdict] = analyze_batch([row], None)
    assert verdict.outcome == "inconclusive"


def test_ingest_and_both_analyze_modes_survive_the_issue_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b"\n".join([good("a"), deep(1_000), good("b")]) + b"\n")
    db = tmp_path / "s.duckdb"
    out = run_cli("ingest", str(path), "--db", str(db), "--no-analyze", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["ingested"], doc["rejected"]) == (2, 1)
    assert doc["errors"][0]["file"] == str(path) and doc["errors"][0]["line"] == 2
    assert doc["errors"][0]["reason"].startswith("JSON nested too deeply")
    verdicts = tmp_path / "v.jsonl"
    out = run_cli("analyze", str(path), "-o", str(verdicts), "--no-fingerprints", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["analysed"], doc["rejected"]) == (2, 1)
    assert doc["errors"][0]["line"] == 2
    assert [json.loads(v)["source"]["line"] for v in verdicts.read_text().splitlines()] == [1, 3]
    out = run_cli("analyze", "--db", str(db), "--no-fingerprints", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["stored"] == 2


def test_lines_around_the_depth_limit_are_stored_and_analysed_or_reported(tmp_path: Path) -> None:
    """The limit depends on the stack of the caller (see models.decoding): around it, every line is either
    rejected with the reason or stored, and every stored one gets a verdict (an unreadable one at worst)."""
    depths = range(850, 1_050, 5)
    path = tmp_path / "edge.jsonl"
    lines = [deep(n, "test_keys", "dnscheck")[:-1] + b',"measurement_uid":"d%d"}' % n for n in depths]
    path.write_bytes(b"\n".join(lines) + b"\n")
    with open_store(tmp_path / "s.duckdb") as store:
        summary = ingest(store, [str(path)])
        assert summary.ingested + summary.rejected == len(depths)
        assert 0 < summary.ingested < len(depths)
        assert {e.reason for e in summary.errors} == {
            "JSON nested too deeply (more levels than the JSON decoder allows)"
        }
        result = analyze_store(store, None)
        assert (result.analysed, result.stored) == (summary.ingested, summary.ingested)


# -- 2. time zone offsets at the ends of the calendar ----------------------------------------------------

EDGES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01 00:30:00+00:31"]


@pytest.mark.parametrize("value", EDGES)
@pytest.mark.parametrize("field", ["measurement_start_time", "test_start_time", "bucket_date"])
def test_an_offset_past_the_calendar_is_no_usable_time(value: str, field: str) -> None:
    env = Envelope(test_name="x", **{field: value})
    assert measurement_time(env) is None
    line = orjson.dumps({"test_name": "x", field: value})
    found = decode_measurement(line, "f.jsonl", 3)
    assert isinstance(found, Problem) and found.line == 3 and found.reason.startswith("no usable time")


def test_an_edge_offset_falls_back_to_the_next_time_field() -> None:
    late, fine = "9999-12-31T23:59:59-01:00", "2024-02-03 04:05:06"
    env = Envelope(test_name="x", measurement_start_time=late, test_start_time=fine)
    assert measurement_time(env) == dt.datetime(2024, 2, 3, 4, 5, 6, tzinfo=dt.UTC)


def test_offsets_inside_the_calendar_still_convert() -> None:
    for value, expected in [
        ("0001-01-01T00:00:00-01:00", dt.datetime(1, 1, 1, 1, tzinfo=dt.UTC)),
        ("9999-12-31T22:00:00+01:00", dt.datetime(9999, 12, 31, 21, tzinfo=dt.UTC)),
        ("2024-01-01T00:00:00+05:30", dt.datetime(2023, 12, 31, 18, 30, tzinfo=dt.UTC)),
    ]:
        assert measurement_time(Envelope(test_name="x", measurement_start_time=value)) == expected


def test_until_the_last_day_of_the_calendar_is_no_upper_bound() -> None:
    filters = Filters.build(since="0001-01-01", until="9999-12-31")
    assert filters.until is not None and filters.until.year == 9999


def test_edge_times_through_ingest_and_analyze(tmp_path: Path) -> None:
    lines = [
        good("a"),
        orjson.dumps({"test_name": "x", "measurement_start_time": EDGES[0]}),
        orjson.dumps({"test_name": "x", "test_start_time": EDGES[1]}),
        orjson.dumps({"test_name": "x", "bucket_date": EDGES[1], "measurement_uid": "zz"}),
        orjson.dumps({"test_name": "dnscheck", "measurement_start_time": "0001-01-01T00:00:00-01:00"}),
        orjson.dumps({"test_name": "dnscheck", "measurement_start_time": "9999-12-31T23:59:59"}),
    ]
    path = tmp_path / "edge.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "s.duckdb"
    out = run_cli("ingest", str(path), "--db", str(db), "--no-analyze", "--json", "--until", "9999-12-31")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["ingested"], doc["rejected"]) == (3, 3)
    errors = doc["errors"]
    assert [(e["line"], e["reason"][:14]) for e in errors] == [(n, "no usable time") for n in (2, 3, 4)]
    verdicts = tmp_path / "v.jsonl"
    out = run_cli("analyze", str(path), "-o", str(verdicts), "--no-fingerprints", "--json")
    assert out.returncode == 0, out.stderr
    assert (json.loads(out.stdout)["analysed"], json.loads(out.stdout)["rejected"]) == (3, 3)
    times = [json.loads(v)["measurement_start_time"] for v in verdicts.read_text().splitlines()]
    assert times == ["2024-01-01 00:00:00", "0001-01-01 01:00:00", "9999-12-31 23:59:59"]
    out = run_cli("analyze", "--db", str(db), "--no-fingerprints", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["stored"] == 3

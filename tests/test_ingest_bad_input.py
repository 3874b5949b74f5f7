"""Malformed input, generated here: no crash, every good line kept, every bad one reported with a reason."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
import tracemalloc
import zlib
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from netfreedom.ingest import Opened, Problem, Record, decode_measurement, read_file, read_source

from .conftest import cli_env


def good_lines(measurements_dir: Path, n: int) -> list[bytes]:
    """``n`` distinct real measurements (each given its own uid so they are told apart)."""
    out = []
    for path in sorted(measurements_dir.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            doc = orjson.loads(line)
            doc["measurement_uid"] = f"20240101000000.{len(out):06d}_IT_test_{len(out):016x}"
            out.append(orjson.dumps(doc))
            if len(out) == n:
                return out
    raise AssertionError("not enough shared measurements")


def read_all(path: Path | str) -> tuple[list[Record], list[Problem]]:
    items = list(read_source(str(path)))
    return [i for i in items if isinstance(i, Record)], [i for i in items if isinstance(i, Problem)]


def uid_of(line: bytes) -> str:
    return str(orjson.loads(line)["measurement_uid"])


def test_bad_lines_in_jsonl(tmp_path: Path, measurements_dir: Path) -> None:
    good = good_lines(measurements_dir, 4)
    doc = orjson.loads(good[0])
    no_time = {k: v for k, v in doc.items() if k not in ("measurement_start_time", "test_start_time")}
    no_time["measurement_uid"] = "not-a-timed-uid"
    lines = [
        b"\xef\xbb\xbf" + good[0],  # BOM: accepted
        b"{not json",
        b"[1, 2, 3]",
        b'"just a string"',
        orjson.dumps({**doc, "probe_cc": 5, "measurement_uid": "x1"}),
        orjson.dumps({k: v for k, v in doc.items() if k != "test_name"}),
        orjson.dumps(no_time),
        good[1],
        b"",
        b'{"test_name": "dash", "measurement_start_time": "2024-01-01 00:00:00", "x": "\xff\xfe"}',
        good[2] + b"\r",
        orjson.dumps({**doc, "measurement_uid": "n1", "test_name": "brand_new_test"}),
        good[3],
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    records, problems = read_all(path)
    assert [r.uid for r in records] == [uid_of(g) for g in good[:3]] + ["n1", uid_of(good[3])]
    assert records[-2].envelope.test_name == "brand_new_test"  # unknown tests are kept
    assert records[0].raw == good[0]  # BOM stripped, bytes otherwise as read
    reasons = {p.line: p.reason for p in problems}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 10]
    assert reasons[2].startswith("invalid JSON")
    assert "not an object" in reasons[3] or "JSON array" in reasons[3]
    assert "JSON str" in reasons[4]
    assert reasons[5] == "field 'probe_cc' has the wrong type: expected str | null, got int"
    assert reasons[6] == "missing required field 'test_name'"
    assert reasons[7].startswith("no usable time")
    assert reasons[10].startswith("invalid UTF-8")
    assert all(p.file == str(path) for p in problems)


def test_truncated_gzip_keeps_complete_lines(tmp_path: Path, measurements_dir: Path) -> None:
    good = good_lines(measurements_dir, 12)
    packed = gzip.compress(b"\n".join(good) + b"\n")
    cut = packed[: len(packed) * 2 // 3]
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(cut)
    # What is recoverable, computed independently with zlib: every complete line before the damage.
    available = zlib.decompressobj(wbits=31).decompress(cut)
    complete = available.count(b"\n")
    assert 0 < complete < len(good)
    records, problems = read_all(path)
    assert [r.uid for r in records] == [uid_of(g) for g in good[:complete]]
    assert len(problems) == 1
    assert problems[0].reason.startswith("truncated gzip")
    assert problems[0].line == complete + 1


def test_not_really_gzip_and_corrupt_gzip(tmp_path: Path, measurements_dir: Path) -> None:
    good = good_lines(measurements_dir, 2)
    plain = tmp_path / "plain.jsonl.gz"  # misnamed: sniffed by content, read as text
    plain.write_bytes(b"\n".join(good))
    assert len(read_all(plain)[0]) == 2
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"garbage that is not deflate" * 10)
    records, problems = read_all(corrupt)
    assert records == [] and len(problems) == 1
    assert "gzip" in problems[0].reason


def _tar(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_postcan_with_a_corrupt_entry_and_both_body_forms(tmp_path: Path, measurements_dir: Path) -> None:
    good = good_lines(measurements_dir, 3)
    can = _tar(
        [
            ("2024010100_IT_x/a.post", b'{"format": "json", "content": ' + good[0] + b"}"),
            ("2024010100_IT_x/b.post", b"{this is not json"),
            ("2024010100_IT_x/c.post", good[1]),  # a bare measurement
            ("2024010100_IT_x/d.post", b'{"format": "yaml", "content": "---"}'),
            ("2024010100_IT_x/e.post", b'{"format":"json","content":' + good[2] + b"}"),
        ]
    )
    path = tmp_path / "can.tar.gz"
    path.write_bytes(gzip.compress(can))
    records, problems = read_all(path)
    assert [r.uid for r in records] == [uid_of(good[0]), uid_of(good[1]), uid_of(good[2])]
    assert records[0].raw == good[0]
    assert [(p.line, p.reason.split(":")[0]) for p in problems] == [
        (2, "entry 2024010100_IT_x/b.post"),
        (4, "entry 2024010100_IT_x/d.post"),
    ]
    assert "invalid JSON" in problems[0].reason and "unsupported measurement format" in problems[1].reason


def test_postcan_entry_name_gives_the_uid(tmp_path: Path, measurements_dir: Path) -> None:
    line = (measurements_dir / "dash.jsonl").read_bytes().splitlines()[0]
    uid = "20200420095240.123456_IT_dash_0123456789abcdef"
    path = tmp_path / "can.tar.gz"
    path.write_bytes(gzip.compress(_tar([(f"x/{uid}.post", b'{"format":"json","content":' + line + b"}")])))
    records, problems = read_all(path)
    assert problems == [] and [r.uid for r in records] == [uid]


def test_postcan_with_a_damaged_header_or_truncated(tmp_path: Path, measurements_dir: Path) -> None:
    good = good_lines(measurements_dir, 3)
    can = bytearray(_tar([(f"e{i}.post", g) for i, g in enumerate(good)]))
    # Damage the second entry's header (its checksum no longer matches).
    second = 512 + ((len(good[0]) + 511) // 512) * 512
    can[second : second + 8] = b"XXXXXXXX"
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(gzip.compress(bytes(can)))
    records, problems = read_all(damaged)
    assert [r.uid for r in records] == [uid_of(good[0])]
    assert len(problems) == 1 and "corrupt tar" in problems[0].reason

    packed = gzip.compress(_tar([(f"e{i}.post", g) for i, g in enumerate(good)]))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(packed[: len(packed) - 200])
    records, problems = read_all(cut)
    assert len(records) < 3 and len(problems) == 1
    assert "earlier entries were kept" in problems[0].reason


def test_json_files_single_list_and_bad(tmp_path: Path, measurements_dir: Path) -> None:
    good = good_lines(measurements_dir, 3)
    single = tmp_path / "one.json"
    single.write_bytes(b"\xef\xbb\xbf" + json.dumps(json.loads(good[0]), indent=2).encode())
    assert [r.uid for r in read_all(single)[0]] == [uid_of(good[0])]

    listed = tmp_path / "list.json"
    listed.write_bytes(b"[" + good[1] + b", 42, " + good[2] + b"]")
    records, problems = read_all(listed)
    assert [r.uid for r in records] == [uid_of(good[1]), uid_of(good[2])]
    assert [(p.line, "JSON int" in p.reason) for p in problems] == [(2, True)]

    broken = tmp_path / "broken.json"
    broken.write_bytes(b'{\n  "test_name": "x",\n  oops\n}')
    records, problems = read_all(broken)
    assert records == [] and problems[0].line == 3 and problems[0].reason.startswith("invalid JSON")


def test_empty_missing_and_directory_entries(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    records, problems = read_all(tmp_path / "empty.jsonl")
    assert records == [] and [(p.line, p.reason) for p in problems] == [(0, "empty file")]
    records, problems = read_all(tmp_path / "nope.jsonl")
    assert [(p.file, p.line, p.reason) for p in problems] == [
        (str(tmp_path / "nope.jsonl"), 0, "file does not exist")
    ]


def test_a_50_mb_line_is_rejected_in_bounded_memory(tmp_path: Path, measurements_dir: Path) -> None:
    good = good_lines(measurements_dir, 2)
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as out:
        out.write(good[0] + b"\n")
        out.write(b'{"test_name": "x", "pad": "')
        for _ in range(50):
            out.write(b"a" * 1_000_000)
        out.write(b'"}\n')
        out.write(good[1] + b"\n")
    tracemalloc.start()
    try:
        records, problems = read_all(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.uid for r in records] == [uid_of(good[0]), uid_of(good[1])]
    assert len(problems) == 1 and problems[0].line == 2
    assert "exceeds" in problems[0].reason and "50000029 bytes" in problems[0].reason
    assert peak < 40 * 1024 * 1024  # at most the 32 MiB cap plus change, never the whole line


def test_whole_folder_through_the_cli(tmp_path: Path, measurements_dir: Path) -> None:
    good = good_lines(measurements_dir, 6)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jsonl").write_bytes(good[0] + b"\nnot json\n" + good[1] + b"\n")
    (src / "b.jsonl.gz").write_bytes(gzip.compress(good[2] + b"\n" + good[3] + b"\n")[:-30])
    (src / "c.tar.gz").write_bytes(gzip.compress(_tar([("x.post", good[4]), ("y.post", b"[]")])))
    (src / "d.json").write_bytes(good[5])
    (src / "e.jsonl").write_bytes(b"")
    (src / "notes.md").write_text("# not a measurement file, skipped")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "netfreedom",
            "ingest",
            str(src),
            "--db",
            str(tmp_path / "s.duckdb"),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["files"] == 5
    assert doc["ingested"] == 5  # the truncated gzip loses its last line (no end-of-stream): reported
    assert doc["rejected"] == 4
    assert {Path(e["file"]).name for e in doc["errors"]} == {"a.jsonl", "b.jsonl.gz", "c.tar.gz", "e.jsonl"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decoding_arbitrary_bytes_never_raises(data: bytes) -> None:
    result = decode_measurement(data, "f", 1)
    assert isinstance(result, Record | Problem)
    if isinstance(result, Problem):
        assert result.reason


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.binary(max_size=80), max_size=6),
    st.sampled_from(["x.jsonl", "x.jsonl.gz", "x.tar.gz", "x.json"]),
)
def test_reading_arbitrary_files_never_raises(tmp_path_factory, chunks: list[bytes], name: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("fuzz") / name
    data = b"\n".join(chunks)
    path.write_bytes(gzip.compress(data)[: max(1, len(data))] if name.endswith(".gz") else data)
    items = list(read_file(path))
    assert isinstance(items[0], Opened)
    assert all(isinstance(i, Record | Problem | Opened) for i in items)

"""Folders and files at the edges (issue #16, smaller items): unreadable and symlinked sub-folders and
postcan entries that are links or devices are reported; a run of blank lines is skipped a buffer at a
time; one exit-status rule for empty inputs in ``ingest`` and ``analyze FILE``."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from netfreedom.ingest import Problem, Record, read_source
from netfreedom.ingest.lines import iter_lines

from .conftest import run_cli

GOOD = b'{"test_name":"dnscheck","measurement_start_time":"2024-01-01 00:00:00","measurement_uid":"%s"}'


def read(path: Path) -> tuple[list[str], list[tuple[str, int, str]]]:
    items = list(read_source(str(path)))
    records = [i.uid for i in items if isinstance(i, Record)]
    problems = [(i.file, i.line, i.reason) for i in items if isinstance(i, Problem)]
    return records, problems


def test_an_unreadable_sub_folder_is_reported(tmp_path: Path) -> None:
    """A folder that cannot be listed (here: gone between its parent's listing and its own, which works
    as root too; a folder without read permission takes the same path, os.walk's onerror)."""
    from netfreedom.ingest.folder import walk
    from netfreedom.ingest.layout import Filters

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jsonl").write_bytes(GOOD % b"a" + b"\n")
    (tmp_path / "b").mkdir()
    items = []
    for item in walk(tmp_path, Filters()):
        items.append(item)
        if isinstance(item, Path) and item.name == "x.jsonl":
            (tmp_path / "b").rmdir()
    problems = [(i.file, i.reason) for i in items if isinstance(i, Problem)]
    assert problems == [(str(tmp_path / "b"), "cannot read folder: No such file or directory")]


def test_symlinked_folders_are_reported_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.jsonl").write_bytes(GOOD % b"a" + b"\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "b.jsonl").write_bytes(GOOD % b"b" + b"\n")
    (tree / "link").symlink_to(real, target_is_directory=True)
    (tree / "loop").symlink_to(tree, target_is_directory=True)
    (tree / "file-link.jsonl").symlink_to(real / "a.jsonl")  # a link to a file is read
    records, problems = read(tree)
    assert sorted(records) == ["a", "b"]
    assert problems == [
        (str(tree / "link"), 0, "symbolic link to a folder: not followed"),
        (str(tree / "loop"), 0, "symbolic link to a folder: not followed"),
    ]


def test_postcan_links_and_devices_are_reported(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, data in [
            ("d/a.post", tarfile.REGTYPE, GOOD % b"a"),
            ("d/sym.post", tarfile.SYMTYPE, b""),
            ("d/hard.post", tarfile.LNKTYPE, b""),
            ("d/dev.post", tarfile.CHRTYPE, b""),
            ("d/fifo.post", tarfile.FIFOTYPE, b""),
            ("d/b.post", tarfile.REGTYPE, GOOD % b"b"),
        ]:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data)
            info.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            tar.addfile(info, io.BytesIO(data) if data else None)
    path = tmp_path / "can.tar.gz"
    path.write_bytes(gzip.compress(buf.getvalue()))
    records, problems = read(path)
    assert records == ["a", "b"]
    assert [(line, reason) for _, line, reason in problems] == [
        (2, "entry d/sym.post: a symbolic link (to '/etc/passwd'), not a measurement"),
        (3, "entry d/hard.post: a hard link (to '/etc/passwd'), not a measurement"),
        (4, "entry d/dev.post: a device, not a measurement"),
        (5, "entry d/fifo.post: a FIFO, not a measurement"),
    ]


class Counting(io.BufferedReader):
    calls = 0

    def readline(self, size: int | None = -1, /) -> bytes:
        Counting.calls += 1
        return super().readline(size)


@pytest.mark.parametrize("compressed", [False, True])
def test_a_run_of_blank_lines_is_skipped_a_buffer_at_a_time(tmp_path: Path, compressed: bool) -> None:
    blanks = 2_000_000
    data = GOOD % b"a" + b"\n" + b"\n" * blanks + b"  \t\r\n" * 1000 + b"  " + GOOD % b"b" + b"\n\n"
    path = tmp_path / ("x.jsonl.gz" if compressed else "x.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    records, problems = read(path)
    assert records == ["a", "b"] and problems == []
    Counting.calls = 0
    with Counting(io.FileIO(path), 1 << 20) as raw:
        stream = gzip.GzipFile(fileobj=raw) if compressed else raw
        lines = list(iter_lines(stream))
    # Line numbers still count every blank line; readline ran a handful of times, not two million.
    assert [n for n, _ in lines] == [1, blanks + 1002]
    if not compressed:  # (through gzip, GzipFile's own readline is what runs)
        assert Counting.calls < 100


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.jsonl", b""),
        ("empty.jsonl.gz", gzip.compress(b"")),
        ("newlines.jsonl", b"\n" * 1000),
        ("newlines.jsonl.gz", gzip.compress(b"\r\n \n" * 1000)),
        ("empty.json", b"  \n"),
        ("empty.json.gz", gzip.compress(b"")),
    ],
)
def test_empty_inputs_are_reported_and_exit_1_in_ingest_and_analyze(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert read(path) == ([], [(str(path), 0, "empty file")])
    for args in (
        ["ingest", str(path), "--db", str(tmp_path / "s.duckdb")],
        ["analyze", str(path), "-o", "-"],
    ):
        out = (
            run_cli(*args, "--json") if args[0] == "ingest" else run_cli(*args, "--json", "--no-fingerprints")
        )
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        summary = out.stdout if args[0] == "ingest" else out.stderr
        doc = json.loads(summary.strip().splitlines()[-1])
        assert doc["errors"] == [{"file": str(path), "line": 0, "reason": "empty file"}]


def test_an_empty_folder_is_reported_and_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "notes.md").write_text("not a measurement file")
    assert read(folder) == ([], [(str(folder), 0, "empty folder: no measurement files in it")])
    ingest = run_cli("ingest", str(folder), "--db", str(tmp_path / "s.duckdb"), "--json")
    analyze = run_cli("analyze", str(folder), "-o", str(tmp_path / "v.jsonl"), "--json", "--no-fingerprints")
    assert (ingest.returncode, analyze.returncode) == (1, 1)
    assert json.loads(ingest.stdout)["errors"][0]["reason"].startswith("empty folder")
    assert json.loads(analyze.stdout)["errors"][0]["reason"].startswith("empty folder")


def test_one_good_line_among_empty_inputs_exits_0(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "good.jsonl").write_bytes(GOOD % b"a" + b"\n")
    ingest = run_cli("ingest", str(tmp_path), "--db", str(tmp_path / "s.duckdb"), "--json")
    analyze = run_cli("analyze", str(tmp_path), "-o", str(tmp_path / "v.out"), "--json", "--no-fingerprints")
    assert (ingest.returncode, analyze.returncode) == (0, 0), (ingest.stderr, analyze.stderr)

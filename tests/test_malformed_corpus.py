"""A seeded corpus of malformed input through ``ingest``, ``analyze FILE`` and ``analyze --db`` (issue #16).

The generator writes files in every format (JSONL, gzip, JSON lists, ``.post``, postcans) mixing good
measurements (real ones from ../shared/data and small synthetic ones, each with its own uid) with the
hostile lines the adversarial pass used: invalid JSON and UTF-8, values that are not objects, wrong types,
missing fields, unusable and calendar-edge times, nesting far past the decoder's limit, NUL bytes, lone
surrogates, huge numbers, blank runs, BOMs and CRLFs.  Each command runs once over the whole corpus, and
the test asserts: no crash (exit 0, no traceback), every good line stored (and analysed) exactly once,
every bad line reported with its file, line and a reason — and nothing else reported.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import orjson
import pytest

from .conftest import cli_env

SEED = 16
FILES = 24
Line = tuple[bytes, bool]  # (bytes, good?)


def _base(uid: str, **extra: object) -> dict[str, object]:
    return {
        "test_name": "dnscheck",
        "measurement_start_time": "2024-03-01 12:00:00",
        "measurement_uid": uid,
        **extra,
    }


def _deep(levels: int) -> bytes:
    return (
        b'{"test_name":"x","measurement_start_time":"2024-01-01 00:00:00","x":'
        + b"[" * levels
        + b"]" * levels
        + b"}"
    )


# Hostile lines that no reader can accept, each with the start of the reason it must get.
BAD: list[tuple[str, Callable[[random.Random], bytes]]] = [
    ("invalid JSON", lambda r: b"{not json" + bytes([r.randrange(97, 123)])),
    ("invalid JSON", lambda r: b'{"test_name": "x", "measurement_start_time": "2024-01-01 00:00:00"'),
    ("a measurement must be a JSON object", lambda r: b"[1, 2, 3]"),
    ("a measurement must be a JSON object", lambda r: b'"just text"'),
    ("a measurement must be a JSON object", lambda r: b"42"),
    ("invalid measurement: Number out of range", lambda r: b"1e400"),
    ("field 'probe_cc' has the wrong type", lambda r: orjson.dumps(_base("w", probe_cc=r.randrange(9)))),
    ("missing required field 'test_name'", lambda r: b'{"measurement_start_time": "2024-01-01 00:00:00"}'),
    ("no usable time", lambda r: b'{"test_name": "x"}'),
    ("no usable time", lambda r: b'{"test_name": "x", "measurement_start_time": "yesterday"}'),
    (
        "no usable time",
        lambda r: b'{"test_name": "x", "measurement_start_time": "0001-01-01T00:00:00+01:00"}',
    ),
    ("no usable time", lambda r: b'{"test_name": "x", "test_start_time": "9999-12-31T23:59:59-01:00"}'),
    ("no usable time", lambda r: b'{"test_name": "x", "bucket_date": "9999-12-31T23:59:59-01:00"}'),
    (
        "invalid UTF-8",
        lambda r: b'{"test_name": "x", "measurement_start_time": "2024-01-01 00:00:00", "y": "\xff"}',
    ),
    ("JSON nested too deeply", lambda r: _deep(r.choice([1_000, 3_000, 20_000]))),
    ("invalid JSON", lambda r: b'{"test_name": "x\x00", "measurement_start_time": "2024-01-01 00:00:00"}'),
    # A lone surrogate escape: JSON's grammar allows it, but it is no text (msgspec refuses it).
    (
        "invalid JSON",
        lambda r: b'{"test_name": "x", "measurement_start_time": "2024-01-01 00:00:00", "s": "\\ud800"}',
    ),
]
# Bad items that are still valid JSON: a JSON list can hold them without losing its other items.
ITEM_BAD = [b for b in BAD if b[0] not in ("invalid JSON", "invalid UTF-8", "JSON nested too deeply")]


def good_line(r: random.Random, uid: str, real: list[dict[str, object]]) -> bytes:
    kind = r.randrange(6)
    if kind == 0 and real:
        return orjson.dumps({**r.choice(real), "measurement_uid": uid})
    if kind == 1:  # an offset inside the calendar, unknown fields, moderate nesting, unicode
        nested: object = 1
        for _ in range(40):
            nested = {"n": nested}
        return orjson.dumps(
            _base(uid, measurement_start_time="2024-01-01T00:30:00+05:30", extra=nested, t="\u65e5")
        )
    if kind == 2:  # a big integer and a float beyond double precision are legal JSON text
        return orjson.dumps(_base(uid))[:-1] + b', "big": 123456789012345678901234567890, "f": 1e-400}'
    if kind == 3:  # only a test_start_time; unknown test
        return orjson.dumps(
            {"test_name": "brand_new", "test_start_time": "2023-05-06 07:08:09", "measurement_uid": uid}
        )
    if kind == 4:
        return orjson.dumps(
            _base(uid, test_name="web_connectivity", input="https://example.org/", test_keys=None)
        )
    return orjson.dumps(_base(uid))


@dataclass
class Corpus:
    root: Path
    good: dict[str, tuple[str, int]] = field(default_factory=dict)  # uid -> (file, line)
    bad: dict[tuple[str, int], str] = field(default_factory=dict)  # (file, line) -> reason prefix


def build(root: Path, real: list[dict[str, object]], seed: int = SEED) -> Corpus:
    r = random.Random(seed)
    corpus = Corpus(root)
    serial = 0

    def uid() -> str:
        nonlocal serial
        serial += 1
        return f"20240301120000.{serial:06d}_IT_corpus_{serial:016x}"

    def mixed(
        n: int, bad_pool: list[tuple[str, Callable[[random.Random], bytes]]]
    ) -> list[tuple[bytes, str | None, str | None]]:
        out: list[tuple[bytes, str | None, str | None]] = []
        for _ in range(n):
            if r.random() < 0.45:
                reason, make = r.choice(bad_pool)
                out.append((make(r), None, reason))
            else:
                u = uid()
                out.append((good_line(r, u, real), u, None))
        return out

    for index in range(FILES):
        fmt = ["jsonl", "jsonl.gz", "json", "post", "tar.gz"][index % 5]
        name = str(root / f"case{index:02d}.{fmt}")
        if fmt in ("jsonl", "jsonl.gz"):
            entries = mixed(r.randrange(2, 9), BAD)
            chunks: list[bytes] = []
            number = 0
            for data, good_uid, reason in entries:
                for _ in range(r.choice([0, 0, 1, 3])):  # blank lines, still numbered
                    chunks.append(r.choice([b"", b"  ", b"\r"]))
                    number += 1
                number += 1
                bom = b"\xef\xbb\xbf" if number == 1 and r.random() < 0.5 else b""
                chunks.append(bom + data + (b"\r" if r.random() < 0.3 else b""))
                if good_uid:
                    corpus.good[good_uid] = (name, number)
                else:
                    corpus.bad[(name, number)] = str(reason)
            payload = b"\n".join(chunks) + b"\n" + b"\n" * r.choice([0, 5000])
            Path(name).write_bytes(gzip.compress(payload) if fmt.endswith(".gz") else payload)
        elif fmt == "json":
            entries = mixed(r.randrange(1, 6), ITEM_BAD)
            for item, (_, good_uid, reason) in enumerate(entries, 1):
                if good_uid:
                    corpus.good[good_uid] = (name, item)
                else:
                    corpus.bad[(name, item)] = str(reason)
            Path(name).write_bytes(b"[" + b",\n".join(e[0] for e in entries) + b"]")
        elif fmt == "post":
            [(data, good_uid, reason)] = mixed(1, BAD)
            body = b'{"format": "json", "content": ' + data + b"}" if r.random() < 0.5 and good_uid else data
            Path(name).write_bytes(body)
            if good_uid:
                corpus.good[good_uid] = (name, 1)
            else:
                corpus.bad[(name, 1)] = str(reason)
        else:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                for number, (data, good_uid, reason) in enumerate(mixed(r.randrange(1, 6), BAD), 1):
                    info = tarfile.TarInfo(f"2024030112_IT_corpus/e{number}.post")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                    if good_uid:
                        corpus.good[good_uid] = (name, number)
                    else:
                        corpus.bad[(name, number)] = f"entry 2024030112_IT_corpus/e{number}.post: {reason}"
            Path(name).write_bytes(gzip.compress(buf.getvalue()))
    return corpus


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "netfreedom", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=600,
    )
    assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
    assert "Traceback" not in out.stderr
    return out


def check_errors(errors: list[dict[str, object]], corpus: Corpus) -> None:
    found = {(str(e["file"]), int(str(e["line"]))): str(e["reason"]) for e in errors}
    assert len(found) == len(errors)  # each bad line reported once
    assert set(found) == set(corpus.bad)  # every bad line, and nothing else
    for where, prefix in corpus.bad.items():
        assert found[where].startswith(prefix), (where, found[where], prefix)


@pytest.fixture(scope="module")
def real(measurements_dir: Path) -> list[dict[str, object]]:
    found = []
    for name in ("dnscheck.jsonl", "web_connectivity.jsonl", "telegram.jsonl"):
        lines = (measurements_dir / name).read_bytes().splitlines()[:2]
        found.extend(orjson.loads(line) for line in lines if line.strip())
    assert len(found) >= 4
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, real: list[dict[str, object]]) -> Corpus:
    built = build(tmp_path_factory.mktemp("corpus"), real)
    assert len(built.good) > 30 and len(built.bad) > 20  # the seed gives a real mix
    assert {prefix.split(": ")[-1] for prefix in built.bad.values()} >= {
        "JSON nested too deeply",
        "no usable time",
    }
    return built


def test_the_generator_is_seeded(tmp_path: Path, corpus: Corpus, real: list[dict[str, object]]) -> None:
    again = build(tmp_path, real)
    assert len(again.bad) == len(corpus.bad) and sorted(map(str, again.bad.values())) == sorted(
        map(str, corpus.bad.values())
    )


def test_ingest_then_analyze_the_store(corpus: Corpus, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    doc = json.loads(
        run_cli(
            "ingest", str(corpus.root), "--db", str(db), "--no-analyze", "--json", "--max-errors", "100000"
        ).stdout
    )
    assert doc["ingested"] == len(corpus.good) and doc["duplicates"] == 0
    assert doc["rejected"] == len(corpus.bad)
    check_errors(doc["errors"], corpus)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT measurement_uid, source_file, source_line FROM measurements").fetchall()
    assert sorted(u for u, _, _ in rows) == sorted(corpus.good)  # each good line exactly once
    assert {u: (f, line) for u, f, line in rows} == corpus.good
    again = json.loads(run_cli("ingest", str(corpus.root), "--db", str(db), "--json").stdout)
    assert (again["ingested"], again["duplicates"]) == (0, len(corpus.good))  # re-running adds nothing
    stored = json.loads(run_cli("analyze", "--db", str(db), "--no-fingerprints", "--json").stdout)
    assert (stored["analysed"], stored["stored"], stored["analysis_errors"]) == (len(corpus.good),) * 2 + (0,)


def test_analyze_files(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "v.jsonl"
    args = (
        "analyze",
        str(corpus.root),
        "-o",
        str(out),
        "--no-fingerprints",
        "--json",
        "--max-errors",
        "100000",
    )
    doc = json.loads(run_cli(*args).stdout)
    assert (doc["analysed"], doc["rejected"], doc["analysis_errors"]) == (
        len(corpus.good),
        len(corpus.bad),
        0,
    )
    check_errors(doc["errors"], corpus)
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert {v["measurement_uid"]: (v["source"]["file"], v["source"]["line"]) for v in verdicts} == corpus.good
    assert len(verdicts) == len(corpus.good)

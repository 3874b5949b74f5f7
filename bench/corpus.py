"""Build a benchmark corpus by re-issuing the shared OONI measurements.

Each shared measurement is re-issued many times with a new ``measurement_uid``, country and time, so the
corpus has realistic bodies and test keys but many distinct identities.  Lines are ordered by (day,
country, test) as in the OONI archive, whose files each hold one hour × country × test.  The corpus is
written under ``bench/.corpus/`` (gitignored) as ``.jsonl`` and/or ``.jsonl.gz`` files of at most
``file_mb`` each, with a
``manifest.json``; a corpus whose manifest matches the request is reused, not rebuilt.

Use it from other benchmarks::

    from corpus import build_corpus           # bench/ is on sys.path when running bench/*.py
    info = build_corpus(size_mb=200, fmt="jsonl")

or from the shell: ``python bench/corpus.py --size-mb 200 --format jsonl.gz``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import json
import os
import random
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import orjson

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NETFREEDOM_SHARED", ROOT.parent / "shared")).resolve()
MEASUREMENTS = SHARED / "data" / "ooni" / "measurements"
CORPUS_ROOT = ROOT / "bench" / ".corpus"

COUNTRIES = ("IT", "IR", "CN", "RU", "TR", "BR", "IN", "US", "DE", "MM", "EG", "VE")
FORMATS = ("jsonl", "jsonl.gz", "both")


@dataclass(frozen=True)
class CorpusInfo:
    path: str
    files: list[str]
    bytes: int  # uncompressed JSONL bytes (what parsing sees)
    measurements: int
    size_mb: int
    fmt: str
    seed: int
    days: int


def _templates(source: Path) -> list[dict[str, object]]:
    out = []
    for path in sorted(source.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line.strip():
                out.append(orjson.loads(line))
    if not out:
        raise SystemExit(f"no measurements found in {source} (set NETFREEDOM_SHARED)")
    return out


@dataclass(frozen=True, order=True)
class _Issue:
    """One re-issued measurement, small enough to sort the whole corpus plan in memory."""

    day: int
    cc: str
    test: str
    when: dt.datetime
    template: int
    tag: int


def _plan(
    templates: list[dict[str, object]],
    target: int,
    rng: random.Random,
    days: int,
    wc_share: float | None = None,
) -> list[_Issue]:
    """The corpus's measurements: every template in turn, or — with ``wc_share`` — web_connectivity
    templates (in turn) for that share of the measurements and the others (in turn) for the rest."""
    sizes = [len(orjson.dumps(t)) for t in templates]
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    plan: list[_Issue] = []
    total = 0
    wc = [i for i, t in enumerate(templates) if t.get("test_name") == "web_connectivity"]
    other = [i for i, t in enumerate(templates) if t.get("test_name") != "web_connectivity"]
    turns = [0, 0]
    while total < target:
        if wc_share is None:
            i = len(plan) % len(templates)
        else:
            pick = 0 if rng.random() < wc_share else 1
            pool = (wc, other)[pick]
            i = pool[turns[pick] % len(pool)]
            turns[pick] += 1
        when = start + dt.timedelta(seconds=rng.randrange(days * 86400), microseconds=rng.randrange(10**6))
        test = str(templates[i].get("test_name") or "unknown")
        plan.append(_Issue((when - start).days, rng.choice(COUNTRIES), test, when, i, rng.getrandbits(64)))
        total += sizes[i] + 120  # the new uid and times add about this much
    # Ordered as the archive is (day, country, test), so a reader meets one partition at a time.
    plan.sort()
    return plan


def _reissue(tpl: dict[str, object], issue: _Issue) -> bytes:
    m = dict(tpl)
    when = issue.when
    test = issue.test.replace("_", "")
    m["measurement_uid"] = f"{when:%Y%m%d%H%M%S}.{when.microsecond:06d}_{issue.cc}_{test}_{issue.tag:016x}"
    m["probe_cc"] = issue.cc
    m["measurement_start_time"] = f"{when:%Y-%m-%d %H:%M:%S}"
    m["test_start_time"] = f"{when:%Y-%m-%d %H:%M:%S}"
    m.pop("start_time", None)
    return orjson.dumps(m) + b"\n"


def build_corpus(
    size_mb: int = 200,
    fmt: str = "jsonl",
    *,
    seed: int = 1,
    days: int = 3,
    file_mb: int = 32,
    root: Path = CORPUS_ROOT,
    source: Path = MEASUREMENTS,
    force: bool = False,
    wc_share: float | None = None,
) -> CorpusInfo:
    """Build (or reuse) a corpus of about ``size_mb`` MB of JSONL measurements; return its description.
    ``wc_share``: the share of web_connectivity measurements (the archive's test mix is ~0.8 or more);
    None: every shared measurement in turn."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    mix = "" if wc_share is None else f"-wc{round(wc_share * 100)}"
    out = root / f"{size_mb}mb-{fmt}-s{seed}-d{days}{mix}"
    manifest = out / "manifest.json"  # not a measurement: ingest the listed files, not the folder
    if manifest.is_file() and not force:
        info = CorpusInfo(**json.loads(manifest.read_text()))
        if all((out / f).is_file() for f in info.files):
            return info
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    templates = _templates(source)
    plan = iter(_plan(templates, size_mb * 1_000_000, random.Random(seed), days, wc_share))
    limit = file_mb * 1_000_000
    files: list[str] = []
    total = count = 0
    part = 0
    issue = next(plan, None)
    while issue is not None:
        part += 1
        name = f"part-{part:04d}"
        with contextlib.ExitStack() as stack:
            sinks: list[IO[bytes]] = []
            if fmt in ("jsonl", "both"):
                sinks.append(stack.enter_context(open(out / f"{name}.jsonl", "wb")))
                files.append(f"{name}.jsonl")
            if fmt in ("jsonl.gz", "both"):
                sinks.append(stack.enter_context(gzip.open(out / f"{name}.jsonl.gz", "wb", compresslevel=1)))
                files.append(f"{name}.jsonl.gz")
            written = 0
            while issue is not None and written < limit:
                line = _reissue(templates[issue.template], issue)
                for sink in sinks:
                    sink.write(line)
                written += len(line)
                total += len(line)
                count += 1
                issue = next(plan, None)
    info = CorpusInfo(str(out), files, total, count, size_mb, fmt, seed, days)
    manifest.write_text(json.dumps(asdict(info), indent=1))
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200, help="uncompressed size (default 200)")
    ap.add_argument("--format", choices=FORMATS, default="jsonl", help="file format (default jsonl)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=int, default=3, help="spread measurement times over this many days")
    ap.add_argument("--force", action="store_true", help="rebuild even if a matching corpus exists")
    args = ap.parse_args(argv)
    info = build_corpus(args.size_mb, args.format, seed=args.seed, days=args.days, force=args.force)
    mb = info.bytes / 1e6
    print(f"{info.path}: {len(info.files)} files, {info.measurements} measurements, {mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

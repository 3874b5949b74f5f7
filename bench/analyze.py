"""Benchmark analysis: parse+analyse rate against orjson parse-only on the same corpus, in the same run.

    python bench/analyze.py [--size-mb 200] [--repeat 3] [--fingerprints-dir ../shared/data]

The corpus comes from ``bench/corpus.py`` (re-issued shared measurements, ~2/3 of the bytes
web_connectivity).  Each pass reads one corpus file at a time into memory (reading is not timed) and
times, per line: ``orjson.loads`` (the baseline), and envelope decode + :func:`netfreedom.analysis.analyze`
with fingerprints (what ``netfreedom analyze`` does per measurement), with Hyperscan and with the
portable matcher (``analysis._portable``, where Hyperscan has no wheel).  Figures are medians of
``--repeat`` passes; the target is parse+analyse >= 50 % of the parse-only rate.

Then: the two fingerprint matchers alone (MB/s of response bodies and headers from the corpus, and seconds
per adversarial 2 MB body), and the two JSON libraries (``orjson`` and ``msgspec``) on the corpus lines:
decoding rate, the canonical (sorted-key) encoding that measurement identities hash, and where their
canonical bytes differ — why orjson stays.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import msgspec  # noqa: E402
from corpus import SHARED, build_corpus  # noqa: E402

from netfreedom.analysis import FingerprintDB, analyze_line  # noqa: E402
from netfreedom.analysis.fingerprint_sources import load_fingerprints, sources_in_dir  # noqa: E402
from netfreedom.analysis.web_connectivity import response_bodies, response_headers  # noqa: E402
from netfreedom.models.registry import decode_measurement  # noqa: E402
from netfreedom.models.web_connectivity import WebConnectivityKeys  # noqa: E402

# Bodies an attacker controls, 2 MB each: the worst cases of each kind of signature.
ADVERSARIAL = {
    "A.*B with no B (<meta name=...)": b"<meta name=" * 190_000,
    "two of three chain pieces": b"<span style=color:red;" * 90_000,
    "UTF-8 dot signature prefix": b"You don't have permission to access " * 58_000,
    "one byte repeated": b"a" * 2_000_000,
    "a literal on every line": b"<title>Access Denied</title>\n" * 70_000,
}
# Values whose canonical JSON differs between orjson and msgspec (so would the identity hashed from it).
JSON_EDGES = [b'{"a":1e16}', b'{"a":1.7976931348623157e308}', b'{"a":123456789012345678901234567890}']


def _parse_only(lines: list[bytes]) -> None:
    loads = orjson.loads
    for line in lines:
        loads(line)


def _analyser(db: FingerprintDB | None) -> Callable[[list[bytes]], None]:
    """What the store's analysis runs on each line (``pipeline.analyze.analyze_batch``)."""

    def run(lines: list[bytes]) -> None:
        for line in lines:
            analyze_line(line, db)

    return run


def _pass(files: list[Path], work: Callable[[list[bytes]], None]) -> float:
    total = 0.0
    for path in files:
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
        start = time.perf_counter()
        work(lines)
        total += time.perf_counter() - start
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fingerprints-dir", type=Path, default=SHARED / "data")
    args = ap.parse_args(argv)

    info = build_corpus(size_mb=args.size_mb, fmt="jsonl")
    files = [Path(info.path) / f for f in info.files if f.endswith(".jsonl")]
    mb = info.bytes / 1e6
    db = load_fingerprints(sources_in_dir(args.fingerprints_dir))
    print(f"corpus: {info.measurements} measurements, {mb:.1f} MB in {len(files)} files ({info.path})")
    print(f"fingerprints: {len(db)} ({db.id}), {args.repeat} passes each, medians\n")

    portable = FingerprintDB(db.fingerprints, db.load_problems, matcher="portable")
    portable.problems  # compile outside the timing  # noqa: B018
    db.problems  # noqa: B018
    cases = [
        ("parse-only (orjson.loads)", _parse_only),
        ("parse+analyse, no fingerprints", _analyser(None)),
        (f"parse+analyse (fingerprints, {db.matcher})", _analyser(db)),
        ("parse+analyse (fingerprints, portable)", _analyser(portable)),
    ]
    medians: dict[str, float] = {}
    for name, work in cases:
        times = [_pass(files, work) for _ in range(args.repeat)]
        medians[name] = statistics.median(times)
    base = medians[cases[0][0]]
    print(f"{'':36} {'seconds':>8} {'meas/s':>10} {'MB/s':>8} {'vs parse':>9}")
    for name, _ in cases:
        t = medians[name]
        print(f"{name:36} {t:8.2f} {info.measurements / t:10.0f} {mb / t:8.1f} {base / t:9.0%}")
    ratio = base / medians[cases[2][0]]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nratio parse+analyse / parse-only: {ratio:.0%} (target >= 50%)   peak RSS {rss:.0f} MB")
    _matchers(files, db, portable, args.repeat)
    _json_libraries(files, args.repeat)
    return 0


def _pages(files: list[Path]) -> list[tuple[bytes | str | None, dict[str, str] | None]]:
    pages: list[tuple[bytes | str | None, dict[str, str] | None]] = []
    for path in files:
        for line in path.read_bytes().splitlines():
            try:
                _, keys = decode_measurement(line)
            except Exception:  # a line the analysis would count as bad input
                continue
            if isinstance(keys, WebConnectivityKeys):
                pages.extend((body, None) for body in response_bodies(keys))
                pages.extend((None, dict(h)) for h in response_headers(keys))
    return pages


def _matchers(files: list[Path], fast: FingerprintDB, portable: FingerprintDB, repeat: int) -> None:
    pages = _pages(files)
    size = sum(len(b.encode() if isinstance(b, str) else b) for b, _ in pages if b) + sum(
        len(k) + len(v) for _, h in pages if h for k, v in h.items()
    )
    print(f"\nfingerprint matching alone: {len(pages)} bodies and header sets, {size / 1e6:.1f} MB")
    rates = {}
    for db in (fast, portable):
        t = statistics.median(
            _timed(lambda db=db: [db.match_page(body, headers) for body, headers in pages])
            for _ in range(repeat)
        )
        rates[db.matcher] = size / 1e6 / t
        print(f"  {db.matcher:10} {t:8.3f} s {rates[db.matcher]:8.1f} MB/s")
    if "hyperscan" in rates:
        print(f"  portable / hyperscan: {rates['portable'] / rates['hyperscan']:.3f}")
    print("adversarial 2 MB bodies (seconds per body, median):")
    for name, body in ADVERSARIAL.items():
        shown = []
        for db in (fast, portable):
            t = statistics.median(
                _timed(lambda db=db, body=body: db.match_page(body, None)) for _ in range(repeat)
            )
            shown.append(f"{db.matcher} {t:.3f}")
        print(f"  {name:34} " + "   ".join(shown))


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _json_libraries(files: list[Path], repeat: int) -> None:
    lines = [line for path in files for line in path.read_bytes().splitlines() if line.strip()]
    mb = sum(map(len, lines)) / 1e6
    decoder, encoder = msgspec.json.Decoder(), msgspec.json.Encoder(order="sorted")
    sort = orjson.OPT_SORT_KEYS
    print(f"\nJSON libraries on the corpus lines ({mb:.1f} MB), MB/s:")
    runs = {
        "decode  orjson.loads": lambda: [orjson.loads(x) for x in lines],
        "decode  msgspec.json.decode": lambda: [decoder.decode(x) for x in lines],
        "canonical orjson (identity)": lambda: [orjson.dumps(orjson.loads(x), option=sort) for x in lines],
        "canonical msgspec (sorted)": lambda: [encoder.encode(decoder.decode(x)) for x in lines],
    }
    for name, work in runs.items():
        t = statistics.median(_timed(work) for _ in range(repeat))
        print(f"  {name:30} {mb / t:8.1f}")
    differ = sum(
        1
        for x in dict.fromkeys(lines)
        if orjson.dumps(orjson.loads(x), option=sort) != encoder.encode(decoder.decode(x))
    )
    print(f"  distinct lines whose canonical bytes differ: {differ}")
    for x in JSON_EDGES:
        a, b = orjson.dumps(orjson.loads(x), option=sort), encoder.encode(decoder.decode(x))
        print(f"  {x.decode():42} orjson {a.decode():44} msgspec {b.decode()}")


if __name__ == "__main__":
    raise SystemExit(main())

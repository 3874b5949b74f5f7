"""The stored form re-analysis reads: write cost, read + decode cost and bytes on disk, per candidate.

Reads the bench corpus (bench/corpus.py: the archive's test mix, 85 % web_connectivity) with the project's
reader, lays the measurements out as the store does (``store.parquet.measurement_table``, one file per
date × country × test partition of each 32 MB batch) and, interleaved in each of ``--repeat`` rounds, for
every candidate:

- **write**: the partition files written with the candidate's options (the CPU of building the extra
  column is included where a candidate adds one);
- **read**: what ``analyze --db`` reads back (``Store.iter_unanalysed``'s DuckDB scan of the identity,
  the envelope columns a verdict copies, and the stored form, in batches of 500) turned into Python
  values;
- **decode**: what re-analysis decodes from it before its rules run (the envelope and typed keys of the
  raw JSON, ``models.registry.decode_whole``, else the envelope; or the candidate's own decoded form);
- **bytes**: the files on disk, and per measurement, and what 10⁹ measurements would take at that rate.

Candidates: the raw JSON at several zstd levels (-3 is today's), LZ4 (raw block), Snappy and none; and
the *decoded* test keys a verdict needs as MessagePack (the web_connectivity keys without the
diagnostic side traffic no verdict reads) stored beside ``raw``, which must stay (other tests, new rules
and new fingerprints need the measurement whole).

Medians of the rounds; ratios against today's form (zstd -3) from the same rounds.  CPU seconds count
every thread of this process (DuckDB reads on several).

    python bench/stored_form.py               # 200 MB, 3 rounds
    python bench/stored_form.py --quick       # 20 MB, 1 round
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from corpus import MEASUREMENTS, build_corpus  # noqa: E402

from netfreedom.ingest import Record, read_sources  # noqa: E402
from netfreedom.models.measurement import Envelope  # noqa: E402
from netfreedom.models.registry import decode_whole  # noqa: E402
from netfreedom.models.web_connectivity import WebConnectivityKeys  # noqa: E402
from netfreedom.store import parquet  # noqa: E402
from netfreedom.store.schema import partition_dir  # noqa: E402
from netfreedom.store.staged import ANALYSIS_COLUMNS  # noqa: E402

BATCH_BYTES = 32 * 1024 * 1024  # pipeline.ingest.BATCH_BYTES
READ_BATCH = 500  # pipeline.analyze.BATCH_SIZE
BASELINE = "zstd -3"
# Side traffic no verdict reads (models.web_connectivity keeps it as undecoded msgspec.Raw).
_SIDE = (
    "network_events",
    "x_do53",
    "x_doh",
    "x_dns_whoami",
    "x_dns_duplicate_responses",
    "x_conn_priority_log",
)


@dataclass(frozen=True)
class Candidate:
    name: str
    compression: str
    level: int | None = None
    keys: bool = False  # add the decoded web_connectivity keys (MessagePack) as a column beside raw


CANDIDATES = (
    Candidate("zstd -3", "zstd", -3),
    Candidate("zstd -7", "zstd", -7),
    Candidate("zstd 1", "zstd", 1),
    Candidate("zstd 3", "zstd", 3),
    Candidate("zstd 9", "zstd", 9),
    Candidate("lz4 (raw)", "lz4"),
    Candidate("snappy", "snappy"),
    Candidate("none", "none"),
    Candidate("raw + keys msgpack", "zstd", -3, keys=True),
)


class _Whole(Envelope, kw_only=True):
    test_keys: WebConnectivityKeys | None = None  # type: ignore[assignment]


_KEYS_DECODER = msgspec.msgpack.Decoder(_Whole)
_ENVELOPE = msgspec.json.Decoder(Envelope)


def _verdict_doc(raw: bytes) -> dict[str, Any] | None:
    """What the decoded form of a web_connectivity measurement holds: envelope and keys without the side
    traffic (what a verdict reads); None for other tests."""
    doc: dict[str, Any] = orjson.loads(raw)
    if doc.get("test_name") != "web_connectivity":
        return None
    keys = doc.get("test_keys")
    if isinstance(keys, dict):
        for name in _SIDE:
            keys.pop(name, None)
        for hs in keys.get("tls_handshakes") or ():
            if isinstance(hs, dict):
                hs.pop("peer_certificates", None)
        for entry in keys.get("requests") or ():
            for part in ("request", "response"):
                message = entry.get(part) if isinstance(entry, dict) else None
                if isinstance(message, dict):
                    message.pop("headers_list", None)
    return doc


Part = tuple[str, pa.Table, list[dict[str, Any] | None]]


def load(files: list[Path]) -> list[Part]:
    """The corpus as the store lays it out: (partition folder, table, the documents the keys candidate
    encodes) per file.  The documents are prepared outside the clock (at ingest the keys are decoded
    already); encoding them is timed."""
    parts: list[Part] = []
    batch: list[Record] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        table, keys = parquet.measurement_table(batch)
        start = 0
        for i in range(1, len(keys) + 1):
            if i == len(keys) or keys[i] != keys[start]:
                sub = table.slice(start, i - start)
                docs = [_verdict_doc(r) for r in sub.column("raw").to_pylist()]
                parts.append((partition_dir("measurements", *keys[start]), sub, docs))
                start = i
        batch, size = [], 0

    for item in read_sources([str(f) for f in files], None, None):
        if isinstance(item, Record):
            batch.append(item)
            size += len(item.raw)
            if size >= BATCH_BYTES:
                flush()
    if batch:
        flush()
    return parts


def distinct_parts() -> tuple[list[Part], int]:
    """The shared measurements themselves, each once (one file per test): the re-issued corpus repeats
    its few dozen templates, which flatters codecs with long windows, so sizes are also measured here."""
    files = sorted(MEASUREMENTS.glob("*.jsonl"))
    parts: list[Part] = []
    for path in files:
        records = [i for i in read_sources([str(path)], None, None) if isinstance(i, Record)]
        if records:
            table, _ = parquet.measurement_table(records)
            docs = [_verdict_doc(r.raw) for r in records]
            parts.append((f"distinct/{path.stem}", table, docs))
    return parts, sum(p.stat().st_size for p in files)


def codec_speed(candidate: Candidate, parts: list[Part]) -> tuple[float, float, float]:
    """The codec alone on the distinct measurements' raw JSON cut into 1 MiB pages (Parquet's default
    page size): compression ratio, compress and decompress MB/s (CPU), best of 5 runs of 10 passes."""
    raws = [r for _, table, _ in parts for r in table.column("raw").to_pylist()]
    pages: list[bytes] = []
    page: list[bytes] = []
    for raw in raws:
        page.append(raw)
        if sum(map(len, page)) >= 1 << 20:
            pages.append(b"".join(page))
            page = []
    pages.append(b"".join(page))
    total = sum(map(len, pages))
    if candidate.compression == "none":
        return 1.0, float("inf"), float("inf")
    codec = pa.Codec(candidate.compression, candidate.level)
    compressed = [codec.compress(p) for p in pages]
    packed, unpacked = [], []
    for _ in range(5):
        cpu = time.process_time()
        for _ in range(10):
            for p in pages:
                codec.compress(p)
        packed.append(time.process_time() - cpu)
        cpu = time.process_time()
        for _ in range(10):
            for c, p in zip(compressed, pages, strict=True):
                codec.decompress(c, decompressed_size=len(p))
        unpacked.append(time.process_time() - cpu)
    size = sum(c.size for c in compressed)
    return total / size, 10 * total / min(packed) / 1e6, 10 * total / min(unpacked) / 1e6


def write(candidate: Candidate, parts: list[Part], root: Path) -> list[str]:
    paths = []
    for n, (folder, rows, docs) in enumerate(parts):
        table = rows
        if candidate.keys:
            column = [msgspec.msgpack.encode(d) if d is not None else None for d in docs]
            table = rows.append_column("keys", pa.array(column, pa.binary()))
        out = root / folder
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"part-{n}.parquet"
        # As store.parquet.write: the small columns Snappy, the stored form the candidate's codec.
        big = [c for c in ("raw", "keys") if c in table.column_names]
        codecs = dict.fromkeys(table.column_names, "snappy") | dict.fromkeys(big, candidate.compression)
        pq.write_table(
            table,
            path,
            compression=codecs,
            compression_level=dict.fromkeys(big, candidate.level) if candidate.level is not None else None,
            use_dictionary=parquet._DICT_COLUMNS,
            write_statistics=parquet._STATS_COLUMNS,
        )
        paths.append(str(path))
    return paths


def read(candidate: Candidate, paths: list[str]) -> Iterator[tuple[list[str], list[bytes | None]]]:
    """What re-analysis reads (``Store.iter_unanalysed``), as Python values: test names and stored forms."""
    column = "keys" if candidate.keys else "raw"
    cols = ", ".join(ANALYSIS_COLUMNS)
    if candidate.keys:
        cols += ", keys"
    con = duckdb.connect()
    sql = f"SELECT {cols} FROM read_parquet($files, hive_partitioning = false)"
    for rb in con.sql(sql, params={"files": paths}).to_arrow_reader(READ_BATCH):
        table = pa.Table.from_batches([rb])
        names = table.column("test_name").to_pylist()
        values = table.column(column).to_pylist()
        if candidate.keys:  # tests without a decoded form fall back to raw
            raws = table.column("raw").to_pylist()
            values = [v if v is not None else r for v, r in zip(values, raws, strict=True)]
        yield names, values
    con.close()


def decode(candidate: Candidate, batches: list[tuple[list[str], list[bytes | None]]]) -> int:
    n = 0
    for names, values in batches:
        for name, value in zip(names, values, strict=True):
            assert value is not None
            if candidate.keys and name == "web_connectivity":
                _KEYS_DECODER.decode(value)
            elif decode_whole(value) is None:
                _ENVELOPE.decode(value)
            n += 1
    return n


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    cpu, start = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="20 MB, 1 round")
    ap.add_argument("--only", help="comma-separated candidate names (default: all)")
    args = ap.parse_args()
    if args.quick:
        args.size_mb, args.repeat = 20, 1
    candidates = CANDIDATES
    if args.only:
        wanted = {s.strip() for s in args.only.split(",")}
        candidates = tuple(c for c in CANDIDATES if c.name in wanted or c.name == BASELINE)

    info = build_corpus(args.size_mb, "jsonl", days=1, wc_share=0.85)
    files = [Path(info.path) / f for f in info.files]
    parts = load(files)
    n = info.measurements
    mb = info.bytes / 1e6
    distinct, distinct_bytes = distinct_parts()
    print(
        f"corpus: {info.path} ({n} measurements, {mb:.1f} MB of JSON, {mb * 1e3 / n:.0f} KB each; "
        f"{len(parts)} partition files)"
    )
    load_start = os.getloadavg()
    figures: dict[str, dict[str, list[float]]] = {
        c.name: {k: [] for k in ("write", "write_cpu", "read", "read_cpu", "decode", "bytes")}
        for c in candidates
    }
    work = Path(tempfile.mkdtemp(dir=HERE / ".corpus", prefix="stored-"))
    try:
        # Warm-up, untimed: the first write and DuckDB scan of a process pay one-off costs.
        list(read(candidates[0], write(candidates[0], parts[:20], work / "warm")))
        shutil.rmtree(work / "warm")
        for r in range(args.repeat):
            for c in candidates:
                root = work / c.name.replace(" ", "_")
                wall, cpu, paths = _timed(lambda c=c, root=root: write(c, parts, root))
                size = sum(os.path.getsize(p) for p in paths)
                rwall, rcpu, batches = _timed(lambda c=c, paths=paths: list(read(c, paths)))
                _, dcpu, count = _timed(lambda c=c, batches=batches: decode(c, batches))
                assert count == n, (c.name, count, n)
                f = figures[c.name]
                for key, value in (
                    ("write", wall),
                    ("write_cpu", cpu),
                    ("read", rwall),
                    ("read_cpu", rcpu),
                    ("decode", dcpu),
                    ("bytes", size),
                ):
                    f[key].append(value)
                del batches
                shutil.rmtree(root)
                if r == 0:
                    sizes = [os.path.getsize(p) for p in write(c, distinct, root)]
                    f["distinct"] = [float(sum(sizes))]
                    shutil.rmtree(root)
            print(f"round {r + 1} done (load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = figures[BASELINE]
    print()
    print(f"The bench corpus in the store's layout ({len(parts)} partition files):")
    print(
        f"{'stored form':20} {'write CPU s':>11} {'ratio':>6} {'read CPU s':>10} {'decode CPU s':>12} "
        f"{'read+decode':>11} {'ratio':>6} {'MB on disk':>10} {'x smaller':>9}"
    )
    for c in candidates:
        f = figures[c.name]
        both = [a + b for a, b in zip(f["read_cpu"], f["decode"], strict=True)]
        base_both = [a + b for a, b in zip(base["read_cpu"], base["decode"], strict=True)]
        w_ratio = statistics.median(x / b for x, b in zip(f["write_cpu"], base["write_cpu"], strict=True))
        r_ratio = statistics.median(x / b for x, b in zip(both, base_both, strict=True))
        size = statistics.median(f["bytes"])
        print(
            f"{c.name:20} {statistics.median(f['write_cpu']):11.3f} {w_ratio:6.2f} "
            f"{statistics.median(f['read_cpu']):10.3f} {statistics.median(f['decode']):12.3f} "
            f"{statistics.median(both):11.3f} {r_ratio:6.2f} {size / 1e6:10.1f} {info.bytes / size:9.2f}"
        )
    print(
        "CPU seconds of this process (all threads), medians of the rounds; ratios against "
        f"'{BASELINE}' (today's form), medians of the per-round ratios. write: the partition files (and "
        "encoding the keys column where there is one); read: DuckDB's scan of what analyze --db reads, to "
        "Python values; decode: what re-analysis decodes before its rules run; 'x smaller': JSON bytes / "
        "bytes on disk."
    )
    per = info.bytes / n
    print()
    print(
        f"The shared measurements each once ({distinct_bytes / 1e6:.1f} MB; the corpus re-issues them, "
        "which flatters long-window codecs), and what 10^9 measurements of this corpus's average size "
        f"({per / 1e3:.0f} KB of JSON) would take:"
    )
    print(
        f"{'stored form':20} {'x smaller':>9} {'1MiB pages':>10} {'compress MB/s':>13} "
        f"{'decompress MB/s':>15} {'us/meas in':>10} {'us/meas out':>11} {'TB/10^9':>7}"
    )
    base_ratio = distinct_bytes / base["distinct"][0]
    for c in candidates:
        f = figures[c.name]
        ratio = distinct_bytes / f["distinct"][0]
        if c.keys:
            extra = base_ratio / ratio - 1
            print(f"{c.name:20} {ratio:9.2f}   (raw as zstd -3 plus the keys: {extra:+.0%} bytes on disk)")
            continue
        page_ratio, packs, unpacks = codec_speed(c, distinct)
        speeds = (
            f"{packs:13.0f} {unpacks:15.0f} {per / packs:10.0f} {per / unpacks:11.0f}"
            if c.compression != "none"
            else f"{'-':>13} {'-':>15} {0:10.0f} {0:11.0f}"
        )
        print(f"{c.name:20} {ratio:9.2f} {page_ratio:10.2f} {speeds} {per / page_ratio / 1e3:7.1f}")
    print(
        "x smaller: in one Parquet file per test; 1MiB pages: the codec alone on the raw JSON cut in "
        "Parquet's page size; MB/s: CPU, one core; us/meas: compressing (ingest) and decompressing "
        "(re-analysis) one measurement of the corpus's average size; TB/10^9 at the pages' ratio "
        "(archive-sized partition files fill their pages)."
    )
    load_end = os.getloadavg()
    print(
        f"rounds: {args.repeat}; {os.cpu_count()} CPUs; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.1f}' for x in load_start)} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in load_end)} at the end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Blank-line runs: a .jsonl.gz of mostly newlines, read line by line (baseline) and a buffer at a time.

    python bench/blank_lines.py [--mb 30] [--repeat 3]

The file is ``--mb`` MB of newlines around two measurements (gzip makes 300 MB of newlines about 300 KB,
so such a file costs an attacker nothing).  Baseline: the same reader over a stream without ``peek``, which
makes ``ingest.lines`` fall back to one ``readline`` per blank line, the behaviour before blank runs were
skipped.  Prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import gzip
import io
import statistics
import tempfile
import time
from pathlib import Path

from netfreedom.ingest.lines import iter_lines

GOOD = b'{"test_name":"x","measurement_start_time":"2024-01-01 00:00:00"}\n'


class NoPeek(io.RawIOBase):
    """A GzipFile seen through ``readline``/``read`` only (no ``peek``): the line-by-line baseline."""

    def __init__(self, inner: gzip.GzipFile) -> None:
        self.inner = inner

    def readline(self, size: int | None = -1, /) -> bytes:
        return self.inner.readline(size)

    def read(self, size: int | None = -1, /) -> bytes:
        return self.inner.read(size)


def once(path: Path, peek: bool) -> float:
    started = time.perf_counter()
    with gzip.open(path, "rb") as gz:
        stream = gz if peek else NoPeek(gz)  # type: ignore[arg-type]
        found = sum(1 for _ in iter_lines(stream))  # type: ignore[arg-type]
    assert found == 2
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blank.jsonl.gz"
        with gzip.open(path, "wb") as out:
            out.write(GOOD)
            for _ in range(args.mb):
                out.write(b"\n" * 1_000_000)
            out.write(GOOD)
        size = path.stat().st_size
        base = statistics.median(once(path, False) for _ in range(args.repeat))
        fast = statistics.median(once(path, True) for _ in range(args.repeat))
    print(f"{args.mb} MB of newlines in a {size / 1024:.0f} KB gzip")
    print(f"line by line (baseline): {base:.2f} s   a buffer at a time: {fast:.3f} s")
    print(f"ratio {base / fast:.0f}x")


if __name__ == "__main__":
    main()

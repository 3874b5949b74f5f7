"""Split a byte stream into lines with a cap on line length, in bounded memory.

A line longer than the cap is never held in memory: it is skipped in pieces and reported by its size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

# Real OONI measurements are at most a few MB (the probe truncates bodies); 32 MiB leaves a wide margin
# while keeping the memory a single line can take bounded.
MAX_LINE = 32 * 1024 * 1024
_SKIP_CHUNK = 1 << 20


class ByteStream(Protocol):
    """What the line reader needs: a binary file, a ``GzipFile``, a tar entry."""

    def readline(self, size: int | None = -1, /) -> bytes: ...
    def read(self, size: int | None = -1, /) -> bytes: ...


def iter_lines(stream: ByteStream, max_line: int = MAX_LINE) -> Iterator[tuple[int, bytes | int]]:
    """Yield ``(line_number, line)`` with the line ending stripped, or ``(line_number, size)`` for a line
    longer than ``max_line`` bytes (its content is discarded).  Blank lines are skipped but numbered."""
    number = 0
    while True:
        line = stream.readline(max_line + 1)
        if not line:
            return
        number += 1
        if len(line) > max_line and not line.endswith(b"\n"):
            size = len(line)
            while True:
                piece = stream.readline(_SKIP_CHUNK)
                size += len(piece)
                if not piece or piece.endswith(b"\n"):
                    break
            yield number, size
            continue
        line = line.rstrip(b"\r\n")
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if line.strip():
            yield number, line

"""Split a byte stream into lines with a cap on line length, in bounded memory.

A line longer than the cap is never held in memory: it is skipped in pieces and reported by its size.  A run
of blank lines is skipped a buffer at a time, not line by line (300 MB of newlines gzip to 300 KB).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

# Real OONI measurements are at most a few MB (the probe truncates bodies); 32 MiB leaves a wide margin
# while keeping the memory a single line can take bounded.
MAX_LINE = 32 * 1024 * 1024
_CHUNK = 1 << 20  # lines are read in pieces of this size, so a long line never doubles


class ByteStream(Protocol):
    """What the line reader needs: a binary file, a ``GzipFile``, a tar entry."""

    def readline(self, size: int | None = -1, /) -> bytes: ...
    def read(self, size: int | None = -1, /) -> bytes: ...


def iter_lines(stream: ByteStream, max_line: int = MAX_LINE) -> Iterator[tuple[int, bytes | int]]:
    """Yield ``(line_number, line)`` with the line ending stripped, or ``(line_number, size)`` for a line
    longer than ``max_line`` bytes (its content is discarded).  Blank lines are skipped but numbered."""
    number = 0
    while True:
        line = stream.readline(_CHUNK)
        if not line:
            return
        number += 1
        if not line.endswith(b"\n") and len(line) == _CHUNK:
            # A long line: gather it in pieces, or only measure it once it passes the cap.
            pieces: list[bytes] | None = [line]
            size = len(line)
            while True:
                piece = stream.readline(_CHUNK)
                size += len(piece)
                if pieces is not None:
                    pieces.append(piece)
                    if size > max_line + 1:
                        pieces = None
                if not piece or piece.endswith(b"\n"):
                    break
            if pieces is None:
                yield number, size - line_end(piece)
                continue
            line = b"".join(pieces)
        line = line.rstrip(b"\r\n")
        if len(line) > max_line:
            yield number, len(line)
            continue
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if line.strip():
            yield number, line
        else:
            number += skip_blank_lines(stream)


def skip_blank_lines(stream: ByteStream) -> int:
    """Consume the blank lines at the stream's position from its buffer (``peek``), without a call per
    line; returns how many.  A stream without ``peek`` is left as it is (0)."""
    peek = getattr(stream, "peek", None)
    if peek is None:
        return 0
    skipped = 0
    while True:
        data: bytes = peek(_CHUNK)[:_CHUNK]
        blank = len(data) - len(data.lstrip(b" \t\r\n"))
        end = data.rfind(b"\n", 0, blank) + 1  # whole blank lines only: a line's leading spaces stay
        if end == 0:
            return skipped
        skipped += data.count(b"\n", 0, end)
        stream.read(end)
        if end < len(data):
            return skipped


def line_end(piece: bytes) -> int:
    return 2 if piece.endswith(b"\r\n") else 1 if piece.endswith(b"\n") else 0

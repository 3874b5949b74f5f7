"""Readers for one local file: ``.jsonl``, ``.jsonl.gz``, ``.json``, ``.post`` and OONI postcans.

Every reader streams (gzip and tar are read incrementally) and turns every failure into a ``Problem``
naming the file and line: a truncated gzip keeps the lines before the damage, a corrupt postcan entry
keeps the other entries.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import msgspec

from netfreedom.ingest.aggregation import (
    MAX_FILE,
    aggregation_rows,
    build_rows,
    check_dimensions,
    looks_like_aggregation,
    read_head,
)
from netfreedom.ingest.lines import MAX_LINE, ByteStream, iter_lines
from netfreedom.ingest.records import (
    BOM,
    UID_PATTERN,
    Item,
    Opened,
    Problem,
    Record,
    Skipped,
    decode_measurement,
)
from netfreedom.models.decoding import DECODE_ERRORS, TOO_DEEP

# A ``.json`` file is one JSON document, so it is read whole; above this size use JSONL instead.
MAX_JSON_FILE = 256 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
# Measurements are tens of kB: a 1 MiB buffer makes line reading about twice as fast as the default 8 kB.
_BUFFER = 1 << 20
# A file without a single non-blank line: 0 bytes, a gzip of nothing, only newlines.
EMPTY_FILE = "empty file"
MEASUREMENT_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".post", ".tar.gz", ".tgz")
# Bytes read ahead to recognise an aggregation result (compressed: enough for its first rows).
_SNIFF = 64 * 1024
_BYTE_POS = re.compile(r"\(byte (\d+)\)")


class _Post(msgspec.Struct):
    """The body a probe submits to the collector, as stored in postcans: ``{"format", "content"}``."""

    format: str | None = None
    content: msgspec.Raw = msgspec.Raw(b"")  # empty: no "content" key, so not a wrapper


def is_measurement_file(name: str) -> bool:
    return name.lower().endswith(MEASUREMENT_SUFFIXES)


def _kind(name: str) -> str:
    low = name.lower()
    if low.endswith((".tar.gz", ".tgz")):
        return "postcan"
    if low.endswith(".post"):
        return "post"
    if low.endswith((".json", ".json.gz")):
        return "json"
    return "jsonl"


def read_file(
    path: Path,
    display: str | None = None,
    *,
    max_line: int = MAX_LINE,
    dimensions: Mapping[str, str] | None = None,
    keys: bool = False,
) -> Iterator[Item]:
    """Read one local file; ``display`` is the name used in records and problems (default: the path).

    A file whose content is an OONI aggregation result (JSON or CSV, see ``ingest.aggregation``) yields
    ``AggregateRow``s instead, ``dimensions`` supplying what its rows lack.  ``keys``: records carry their
    typed test keys (``decode_measurement``)."""
    name = display or str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        yield Problem(name, 0, "file does not exist")
        return
    except OSError as exc:
        yield Problem(name, 0, f"cannot read file: {exc.strerror}")
        return
    yield Opened(name, size)
    if not path.is_file():
        yield Problem(name, 0, "not a regular file")
        return
    if size == 0:
        yield Problem(name, 0, EMPTY_FILE)
        return
    kind = _kind(path.name)
    try:
        with io.BufferedReader(io.FileIO(path), _BUFFER) as raw:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            if kind in ("json", "jsonl") and looks_like_aggregation(read_head(raw.peek(_SNIFF)[:_SNIFF])):
                yield from _read_aggregation(
                    raw,
                    name,
                    kind=kind,
                    compressed=compressed,
                    dimensions=dimensions,
                    max_line=max_line,
                    keys=keys,
                )
                return
            if kind == "postcan" and compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                    yield from _read_postcan(gz, name, max_line, keys)
            elif kind == "postcan":
                yield from _read_postcan(raw, name, max_line, keys)
            elif kind == "post":
                yield from _read_post(raw.read(max_line + 1), name, 1, path.stem, max_line, keys=keys)
            elif compressed:
                # GzipFile's own small buffer: a truncated stream still yields the lines before the damage.
                with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                    yield from _read_text(gz, name, kind, max_line, keys)
            else:
                yield from _read_text(raw, name, kind, max_line, keys)
    except OSError as exc:
        yield Problem(name, 0, f"cannot read file: {exc.strerror or exc}")


def _read_aggregation(
    raw: io.BufferedReader[io.FileIO],
    name: str,
    *,
    kind: str,
    compressed: bool,
    dimensions: Mapping[str, str] | None,
    max_line: int,
    keys: bool,
) -> Iterator[Item]:
    """What looked like an aggregation result: read whole, and read as measurements after all when the
    JSON turns out to be measurements that merely mention the count names."""
    try:
        if compressed:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                data = gz.read(MAX_FILE + 1)
        else:
            data = raw.read(MAX_FILE + 1)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield Problem(name, 0, _damage(exc))
        return
    if len(data) > MAX_FILE:
        yield Problem(name, 0, f"aggregation file larger than {MAX_FILE} bytes; split the query")
        return
    rows = aggregation_rows(data, name)
    if rows is None:
        yield from _read_text(io.BytesIO(data), name, kind, max_line, keys)
        return
    problem = check_dimensions(dimensions or {})
    if problem:
        yield Problem(name, 0, f"dimension: {problem}")
        return
    yield from build_rows(rows, name, dimensions or {})


def _damage(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated gzip: the compressed data ends early"
    if isinstance(exc, gzip.BadGzipFile):
        return f"not a valid gzip file ({exc})"
    if isinstance(exc, zlib.error):
        return f"corrupt gzip data ({exc})"
    return f"cannot read compressed data ({exc})"


def _read_text(stream: ByteStream, name: str, kind: str, max_line: int, keys: bool) -> Iterator[Item]:
    if kind == "json":
        yield from _read_json(stream, name, max_line, keys)
        return
    last = 0
    try:
        for number, line in iter_lines(stream, max_line):
            last = number
            if isinstance(line, int):
                yield Problem(name, number, f"line of {line} bytes exceeds the {max_line} byte limit")
            else:
                yield decode_measurement(line, name, number, keys=keys)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield Problem(name, last + 1, _damage(exc) + f" after line {last}; lines before it were kept")
        return
    if last == 0:  # nothing but blank lines (or nothing at all once decompressed)
        yield Problem(name, 0, EMPTY_FILE)


def _line_of(data: bytes, message: str) -> int:
    m = _BYTE_POS.search(message)
    return data.count(b"\n", 0, int(m.group(1))) + 1 if m else 0


def _read_json(stream: ByteStream, name: str, max_line: int, keys: bool) -> Iterator[Item]:
    """A ``.json`` file: one measurement, a JSON list of them (numbered by item), or JSONL misnamed."""
    try:
        data = stream.read(MAX_JSON_FILE + 1)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield Problem(name, 0, _damage(exc))
        return
    if len(data) > MAX_JSON_FILE:
        yield Problem(name, 0, f"JSON file larger than {MAX_JSON_FILE} bytes; split it into JSONL")
        return
    data = data.removeprefix(BOM)
    body = data.lstrip()
    if not body:
        yield Problem(name, 0, EMPTY_FILE)
        return
    if body.startswith(b"["):
        try:
            items = msgspec.json.decode(body, type=list[msgspec.Raw])
        except msgspec.ValidationError as exc:
            yield Problem(name, 0, f"invalid JSON list: {exc}")
            return
        except msgspec.DecodeError as exc:
            yield Problem(name, _line_of(data, str(exc)), f"invalid JSON: {exc}")
            return
        except RecursionError:
            yield Problem(name, 0, f"invalid JSON list: {TOO_DEEP}")
            return
        for index, item in enumerate(items, 1):
            yield decode_measurement(bytes(item), name, index, keys=keys)
        return
    found = decode_measurement(data.strip(), name, 1, keys=keys)
    if isinstance(found, Problem) and "trailing characters" in found.reason:
        # Several objects, one per line: JSONL under a .json name.
        for number, text in enumerate(data.split(b"\n"), 1):
            if text.strip():
                yield decode_measurement(text.strip(), name, number, keys=keys)
        return
    if isinstance(found, Problem) and found.reason.startswith("invalid JSON"):
        found = Problem(name, _line_of(data, found.reason), found.reason)
    yield found


def _read_post(
    data: bytes,
    name: str,
    number: int,
    stem: str,
    max_line: int,
    *,
    entry: str | None = None,
    keys: bool = False,
) -> Iterator[Record | Problem]:
    """One ``.post`` body: a bare measurement or the collector's ``{"format": "json", "content": ...}``."""
    where = f"entry {entry}: " if entry else ""
    if len(data) > max_line:
        yield Problem(name, number, f"{where}measurement exceeds the {max_line} byte limit")
        return
    data = data.removeprefix(BOM).strip()
    if not data:
        yield Problem(name, number, f"{where}empty measurement")
        return
    hint = stem if UID_PATTERN.match(stem) else None
    try:
        post = msgspec.json.decode(data, type=_Post)
    except DECODE_ERRORS:
        post = _Post()  # not a wrapper (or not JSON): decode it as a bare measurement below
    if post.content:
        if post.format not in (None, "json"):
            yield Problem(name, number, f"{where}unsupported measurement format {post.format!r}")
            return
        data = bytes(post.content)
    found = decode_measurement(data, name, number, hint, keys=keys)
    if isinstance(found, Problem) and where:
        found = Problem(found.file, found.line, where + found.reason)
    yield found


def _read_postcan(stream: ByteStream, name: str, max_line: int, keys: bool) -> Iterator[Item]:
    """An OONI postcan: a tar of ``.post`` entries (gzip is undone by the caller, so that a truncated
    gzip raises instead of looking like a short tar), read as a stream."""
    number = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                if member.isdir():
                    continue
                number += 1
                entry = member.name
                if not member.isfile():
                    yield Problem(name, number, f"entry {entry}: {_special(member)}, not a measurement")
                    continue
                if not entry.endswith(".post"):
                    # OONI's readers take only the collector's .post entries from a postcan.
                    yield Skipped(f"{name}:{entry}", "postcan entry that is not a .post measurement")
                    continue
                stem = Path(entry).name.removesuffix(".post")
                if member.size > max_line:
                    yield Problem(name, number, f"entry {entry}: {member.size} bytes exceeds the limit")
                    continue
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
                yield from _read_post(data, name, number, stem, max_line, entry=entry, keys=keys)
            # tarfile ends quietly at a damaged header; anything but zero padding after the end is damage.
            rest = _remaining_nonzero(tar)
            if rest:
                lost = f"corrupt tar header after entry {number}; the rest ({rest} bytes) was lost"
                yield Problem(name, number + 1, lost)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        reason = "corrupt tar archive" if isinstance(exc, tarfile.TarError) else _damage(exc)
        yield Problem(name, number + 1, f"{reason} after entry {number} ({exc}); earlier entries were kept")
    except Exception as exc:  # tarfile raises odd types (TypeError, ValueError...) on damaged input
        reason = f"corrupt tar archive after entry {number} ({type(exc).__name__}: {exc})"
        yield Problem(name, number + 1, reason + "; earlier entries were kept")


def _special(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link (to {member.linkname[:200]!r})"
    if member.islnk():
        return f"a hard link (to {member.linkname[:200]!r})"
    if member.ischr() or member.isblk():
        return "a device"
    return "a FIFO" if member.isfifo() else "a special entry"


def _remaining_nonzero(tar: tarfile.TarFile) -> int:
    stream = tar.fileobj
    total = 0
    nonzero = False
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            break
        total += len(chunk)
        nonzero = nonzero or bool(chunk.strip(b"\0"))
    return total if nonzero else 0

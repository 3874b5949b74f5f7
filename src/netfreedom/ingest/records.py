"""What a reader yields: good records, problems with the input, and a note when a file is opened.

Decoding one measurement is the hot path of ingest: the envelope is decoded with msgspec (``test_keys``
stays raw), nothing else is built.  A bad line becomes a ``Problem`` carrying a reason a person understands;
it is never an exception.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import struct
from dataclasses import dataclass

import msgspec
import orjson
import pyarrow as pa

from netfreedom.models.aggregation import AggregateRow
from netfreedom.models.decoding import TOO_DEEP
from netfreedom.models.measurement import Envelope, measurement_time
from netfreedom.models.registry import TestKeys, decode_whole

BOM = b"\xef\xbb\xbf"
# OONI's archive uid, as found in measurements and in postcan entry names.
UID_PATTERN = re.compile(r"^\d{14}\.\d+_[A-Z]{2}_[A-Za-z0-9]+_[0-9a-f]+$")

_DECODER = msgspec.json.Decoder(Envelope)
_MISSING = re.compile(r"missing required field `(\w+)`")
_WRONG = re.compile(r"Expected `([^`]+)`, got `(\w+)`(?: - at `\$\.?([^`]*)`)?")


@dataclass(frozen=True, slots=True)
class Record:
    """One good measurement: its bytes as read, its envelope, where it came from, identity and time.
    ``bucket`` is the start of the archive bucket (hour or day of upload) it was read from, when known.
    ``keys``: the typed ``test_keys``, when the reader decoded them with the envelope in one pass (readers'
    ``keys=True``, for a test registered in ``models.registry``; the envelope's ``test_keys`` is then null).
    They are for analysing the record as it is read; what is kept is ``bare()``."""

    raw: bytes
    envelope: Envelope
    file: str
    line: int  # 1-based line, or item number in a JSON list / entry number in a postcan
    uid: str
    time: dt.datetime
    bucket: dt.datetime | None = None
    keys: TestKeys = None

    def bare(self) -> Record:
        """The record without its decoded keys (its ``raw`` holds them): decoded keys take several times
        the memory of their JSON, so a batch of records must not keep them."""
        return self if self.keys is None else dataclasses.replace(self, keys=None)


@dataclass(frozen=True, slots=True)
class Problem:
    """A bad line or file.  ``line`` 0 means the file as a whole."""

    file: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Opened:
    """A reader started on a file; ``size`` is its size on disk (compressed), when known."""

    file: str
    size: int | None


@dataclass(frozen=True, slots=True)
class Skipped:
    """An object, file or postcan entry left unread on purpose (as OONI's own readers leave it): an
    empty object, a legacy index or ``.lz4`` can, the ``.jsonl.gz`` twin of a postcan that is read."""

    file: str
    reason: str


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A part of an archive walk that could not be done (a listing or a download that still failed after
    retries): the run read less than the source holds and must say so."""

    file: str
    reason: str


# ``AggregateRow``: a row of an OONI aggregation result (``ingest.aggregation``), read like a file.
Item = Record | Problem | Opened | AggregateRow | Skipped | Incomplete


def is_content_uid(uid: str) -> bool:
    """True for an identity made by ``content_uid`` (the measurement had no archive uid)."""
    return len(uid) == 33 and uid.startswith("h")


def content_uid(raw: bytes) -> str:
    """A stable identity for a measurement that has no ``measurement_uid``.

    ``h`` + the BLAKE2b-128 hex digest of the *canonical* JSON: keys sorted at every level, no whitespace
    (orjson ``OPT_SORT_KEYS``).  Re-serialised copies of a measurement (pretty-printed, keys reordered)
    therefore share one identity.  Values orjson cannot re-serialise (integers beyond 64 bits) fall back
    to hashing the stripped bytes as read.
    """
    try:
        canonical = orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError, RecursionError):
        canonical = raw.strip()
    return "h" + hashlib.blake2b(canonical, digest_size=16).hexdigest()


# Fields the archive adds to a measurement: a copy with them and a copy without are the same measurement.
ARCHIVE_FIELDS = ("measurement_uid", "bucket_date", "report_filename")


def content_key(env: Envelope) -> str | None:
    """An identity of a measurement's content that does not depend on the fields the archive adds
    (``ARCHIVE_FIELDS``) nor on how the JSON was serialised, so that the postcan copy of a measurement
    (uid from its entry name) and its ``.jsonl.gz`` twin (no uid) are known as one.  It only joins a copy
    without an archive uid to another copy: two measurements that both carry archive uids stay two
    (``store.parquet.first_of_each``).

    It hashes the envelope fields that identify a measurement — test, report, input, start time, country,
    network — instead of the whole canonical JSON: re-serialising every measurement to hash it costs as
    much as parsing it (~375 µs for a 39 kB measurement), which would halve ingest throughput.  Two
    measurements of one report with the same input started in the same second are not told apart; OONI
    probes never produce those.  None when the envelope lacks a report id or a start time (legacy
    records): those keep their uid as their only identity."""
    if not env.report_id or not env.measurement_start_time:
        return None
    value = env.input
    text = "\x1e".join(value) if isinstance(value, list) else (value or "")
    parts = (
        env.test_name,
        env.report_id,
        text,
        env.measurement_start_time,
        env.test_start_time or "",
        env.probe_cc or "",
        env.probe_asn or "",
    )
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=16)
    return "k" + digest.hexdigest()


def bucket_of(record: Record) -> dt.datetime | None:
    """When the measurement reached the archive: the bucket it was read from, else its own ``bucket_date``
    field (measurements from OONI's API carry one)."""
    if record.bucket is not None:
        return record.bucket
    text = record.envelope.bucket_date
    if not text:
        return None
    try:
        return dt.datetime.strptime(text[:10], "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _explain_validation(message: str) -> str:
    if m := _MISSING.search(message):
        field = m.group(1)
        return f"missing required field '{field}'"
    if m := _WRONG.search(message):
        expected, got, where = m.groups()
        if not where:
            return f"a measurement must be a JSON object, but this line is a JSON {got}"
        return f"field '{where}' has the wrong type: expected {expected.replace('`', '')}, got {got}"
    return f"invalid measurement: {message}"


def utf8_error(raw: bytes) -> int | None:
    """Where the first byte that is not valid UTF-8 is, or None when all of ``raw`` is valid.  Arrow's
    validation reads the bytes in place, more than twice as fast as ``bytes.decode``, which builds a str
    (most of a measurement's bytes are non-ASCII bodies); only an invalid line is decoded to find where."""
    offsets = pa.py_buffer(struct.pack("<qq", 0, len(raw)))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(raw)]).validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None  # never reached: both decoders follow the Unicode standard


def decode_measurement(
    raw: bytes, file: str, line: int, uid_hint: str | None = None, *, keys: bool = False
) -> Record | Problem:
    """Validate one measurement's bytes.  ``uid_hint`` (a postcan entry name) is used when the measurement
    itself has no ``measurement_uid``.  ``keys``: decode a registered test's typed keys with the envelope,
    in one pass over the bytes (``Record.keys``) — for a caller that analyses each record as it reads it;
    the envelope alone skips the ``test_keys``, and decoding them afterwards would read them twice.  A
    measurement whose keys do not fit the model is decoded as without ``keys`` (its analysis says so)."""
    if not raw.isascii():
        error = utf8_error(raw)
        if error is not None:
            return Problem(file, line, f"invalid UTF-8 at byte {error}")
    typed: TestKeys = None
    whole = decode_whole(raw) if keys else None
    if whole is not None:
        env, typed = whole
    else:
        try:
            env = _DECODER.decode(raw)
        except msgspec.ValidationError as exc:
            return Problem(file, line, _explain_validation(str(exc)))
        except msgspec.DecodeError as exc:
            return Problem(file, line, f"invalid JSON: {exc}")
        except RecursionError:
            return Problem(file, line, TOO_DEEP)
    when = measurement_time(env)
    if when is None:
        return Problem(
            file,
            line,
            "no usable time: measurement_start_time, measurement_uid, test_start_time, start_time and "
            "bucket_date are all missing or unparseable",
        )
    uid = env.measurement_uid or uid_hint or content_uid(raw)
    return Record(raw, env, file, line, uid, when, keys=typed)

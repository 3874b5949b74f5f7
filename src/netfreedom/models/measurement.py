"""The OONI base data format (0.2.0, and the legacy 0.1.0 envelope flattened from YAML reports).

``Envelope`` decodes only the envelope; ``test_keys`` stays as raw JSON bytes (``msgspec.Raw``) so that a
reader can validate and store millions of measurements without building the test keys as Python objects.
Typed test keys (web_connectivity and friends) decode from that raw value on demand.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import msgspec

_UID_TIME = re.compile(r"^(\d{14})(?:\.\d+)?_")


class Envelope(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The fields every OONI measurement shares.  Unknown fields are ignored (the raw line keeps them)."""

    test_name: str
    measurement_uid: str | None = None
    measurement_start_time: str | None = None
    test_start_time: str | None = None
    start_time: float | None = None  # legacy 0.1.0 reports: seconds since the epoch
    bucket_date: str | None = None
    data_format_version: str | None = None
    input: str | list[str] | None = None
    probe_asn: str | None = None
    probe_cc: str | None = None
    probe_network_name: str | None = None
    probe_ip: str | None = None
    resolver_ip: str | None = None
    resolver_asn: str | None = None
    resolver_network_name: str | None = None
    report_id: str | None = None
    report_filename: str | None = None
    software_name: str | None = None
    software_version: str | None = None
    test_version: str | None = None
    test_runtime: float | None = None
    annotations: dict[str, Any] | None = None
    test_helpers: dict[str, Any] | None = None
    test_keys: msgspec.Raw = msgspec.Raw(b"null")


def _parse_time(value: str) -> dt.datetime | None:
    # fromisoformat (C, fast) covers OONI's "YYYY-MM-DD hh:mm:ss" and the ISO forms; an explicit offset is
    # converted, no offset means UTC.  An offset that moves the time past year 1 or 9999 (e.g.
    # "0001-01-01T00:00:00+01:00") is no usable time.
    try:
        t = dt.datetime.fromisoformat(value)
        return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    except ValueError:
        pass
    except OverflowError:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    return None


def measurement_time(env: Envelope) -> dt.datetime | None:
    """When the measurement was taken, in UTC, from the best field the envelope has.

    Order: ``measurement_start_time``, the archive's ``measurement_uid`` prefix (``YYYYMMDDhhmmss.ffffff_``),
    ``test_start_time``, legacy ``start_time`` (epoch seconds), ``bucket_date``.  None when none is usable.
    """
    if env.measurement_start_time:
        t = _parse_time(env.measurement_start_time)
        if t is not None:
            return t
    if env.measurement_uid:
        m = _UID_TIME.match(env.measurement_uid)
        if m:
            try:
                return dt.datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
            except ValueError:
                pass
    if env.test_start_time:
        t = _parse_time(env.test_start_time)
        if t is not None:
            return t
    if env.start_time is not None:
        try:
            return dt.datetime.fromtimestamp(env.start_time, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            pass
    if env.bucket_date:
        return _parse_time(env.bucket_date)
    return None


def first_input(env: Envelope) -> str | None:
    """The measured input (URL, IP, ...) as one string; legacy reports sometimes hold a list."""
    if isinstance(env.input, list):
        return env.input[0] if env.input else None
    return env.input

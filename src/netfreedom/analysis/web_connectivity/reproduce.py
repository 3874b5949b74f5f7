"""Which probe wrote a web_connectivity measurement, and its ``(blocking, accessible)`` recomputed.

"Which code" (ALGORITHMS.md §1, §2) is decided by software and date, not ``test_version`` alone: the
version numbers of the Measurement Kit, Python and Go probes overlap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from netfreedom.analysis.web_connectivity import legacy, v04, v05_classic, v05_orig
from netfreedom.analysis.web_connectivity.common import (
    NO_MATCHES,
    NULL,
    Matches,
    Result,
    url_host,
    version_tuple,
)
from netfreedom.models.measurement import Envelope, first_input, measurement_time
from netfreedom.models.web_connectivity import WebConnectivityKeys


class Algorithm(StrEnum):
    """The probe implementation whose verdict logic applies."""

    MK = "mk"  # Measurement Kit C++, test_version 0.0.1
    PYTHON = "python"  # ooniprobe-legacy 0.1.0–0.3.2
    GO = "go"  # probe-engine / probe-cli 0.1–0.4.x
    LTE_ORIG = "lte-orig"  # 0.5.0–0.5.26
    LTE_CLASSIC = "lte-classic"  # 0.5.27+


_GO_LATEST = v04.GoVariant()
_ALL_FIXES = v05_classic.Fixes()


@dataclass(frozen=True, slots=True)
class Choice:
    algorithm: Algorithm
    go: v04.GoVariant = _GO_LATEST
    python_strict_private: bool = True
    lte_minor: int = 26
    fixes: v05_classic.Fixes = _ALL_FIXES


def _day(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC)


def _when(env: Envelope) -> dt.datetime | None:
    """The measurement's day; the usual ``YYYY-MM-DD ...`` is read without strptime (hot path)."""
    s = env.measurement_start_time
    if s and len(s) >= 10 and s[4] == "-" and s[7] == "-":
        try:
            return _day(int(s[:4]), int(s[5:7]), int(s[8:10]))
        except ValueError:
            pass
    return measurement_time(env)


def _fixes_0528(when: dt.datetime | None) -> v05_classic.Fixes:
    # Dev builds before the first release (2024-03) carry a fix only from the day after it landed.
    if when is None or when >= _day(2024, 2, 1):
        return v05_classic.Fixes()
    return v05_classic.Fixes(
        website_down=when >= _day(2024, 1, 23),
        loopback_ip_url=when >= _day(2024, 1, 25),
        truncation=when >= _day(2024, 2, 1),
    )


def _is_lte(keys: WebConnectivityKeys) -> bool:
    return (
        keys.x_blocking_flags is not None
        or keys.x_dns_flags is not None
        or keys.x_null_null_flags is not None
        or keys.x_control_request is not None
    )


def choose(env: Envelope, keys: WebConnectivityKeys) -> Choice:
    version = version_tuple(env.test_version)
    when = _when(env)
    if version[:2] == (0, 5) or (not version and _is_lte(keys)):
        if not version:
            # Stripped of its version: the release that was current on the day (orig engine until
            # 2023-12, 0.5.27 until the 0.5.28 releases of 2024-03).
            if when is not None and when < _day(2023, 12, 1):
                return Choice(Algorithm.LTE_ORIG, lte_minor=26)
            if when is not None and when < _day(2024, 3, 1):
                return Choice(Algorithm.LTE_CLASSIC, fixes=v05_classic.NO_FIXES)
            return Choice(Algorithm.LTE_CLASSIC)
        minor = version[2] if len(version) > 2 else 0
        if minor <= 26:
            return Choice(Algorithm.LTE_ORIG, lte_minor=minor)
        if minor == 27:
            return Choice(Algorithm.LTE_CLASSIC, fixes=v05_classic.NO_FIXES)
        return Choice(Algorithm.LTE_CLASSIC, fixes=_fixes_0528(when) if minor == 28 else v05_classic.Fixes())
    if version > (0, 5):
        return Choice(Algorithm.LTE_CLASSIC)
    if version == (0, 0, 1):
        return Choice(Algorithm.MK)
    software = version_tuple(env.software_version)
    if env.software_name == "ooniprobe" and software and software < (3,):
        return Choice(Algorithm.PYTHON, python_strict_private=version >= (0, 2, 0))
    go = v04.GoVariant(
        strict_nxdomain=bool(version) and version < (0, 4, 3),
        skip_negative_codes=when is None or when >= _day(2021, 11, 1),
        title_bound=128 if when is not None and when < _day(2021, 10, 1) else 512,
        summary=not (version == (0, 1, 0) and when is not None and when < _day(2020, 8, 20)),
    )
    return Choice(Algorithm.GO, go=go)


def reproduce(env: Envelope, keys: WebConnectivityKeys | None, choice: Choice | None = None) -> Result:
    """The probe's ``(blocking, accessible)``, recomputed from the raw keys by the right algorithm."""
    if keys is None or keys == _EMPTY:
        return NULL
    choice = choice or choose(env, keys)
    host = url_host(first_input(env))
    match choice.algorithm:
        case Algorithm.MK:
            return legacy.reproduce(keys, legacy.Flavor.MK, host, python_strict_private=False)
        case Algorithm.PYTHON:
            return legacy.reproduce(keys, legacy.Flavor.PYTHON, host, choice.python_strict_private)
        case Algorithm.GO:
            return v04.reproduce(keys, host, choice.go)
        case Algorithm.LTE_ORIG:
            return v05_orig.reproduce(keys, choice.lte_minor)
        case Algorithm.LTE_CLASSIC:
            return v05_classic.reproduce(keys, choice.fixes)


def http_matches(env: Envelope, keys: WebConnectivityKeys | None, choice: Choice | None = None) -> Matches:
    """The probe's ``(status_code_match, body_length_match, headers_match, title_match)``, recomputed."""
    if keys is None or keys == _EMPTY:
        return NO_MATCHES
    choice = choice or choose(env, keys)
    match choice.algorithm:
        case Algorithm.MK:
            return legacy.http_matches(keys, legacy.Flavor.MK) or NO_MATCHES
        case Algorithm.PYTHON:
            return legacy.http_matches(keys, legacy.Flavor.PYTHON) or NO_MATCHES
        case Algorithm.GO:
            first = keys.requests[0] if keys.requests else None
            chttp = keys.control.http_request if keys.control is not None else None
            return v04.http_matches(first, chttp, choice.go)
        case Algorithm.LTE_ORIG:
            return v05_orig.http_matches(keys)
        case Algorithm.LTE_CLASSIC:
            return v05_classic.http_matches(keys, choice.fixes)


_EMPTY = WebConnectivityKeys()

"""Analysis: one measurement in, one :class:`~netfreedom.models.verdict.Verdict` out.  Pure.

:data:`ANALYZERS` is the one registry, keyed by ``test_name``; each test's rules live in their own module
(``web_connectivity`` is a package).  :func:`analyze` (or :func:`analyze_line`, from the JSON line, which
decodes a web_connectivity measurement in one pass; or :func:`analyze_decoded`, for keys a reader decoded
so) is the only entry point the rest of netfreedom uses: it never raises — a test without an analyzer is
``inconclusive``/``unsupported_test``, and an unexpected exception inside an analyzer becomes
``inconclusive``/``analysis_error`` (count those: each is a bug to fix).  :data:`ANALYSIS_VERSION` changes
whenever any rule changes, so stored verdicts are redone.
Rules and the verdict vocabulary: docs/verdicts.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import msgspec

from netfreedom.analysis import (
    _wc,
    dnscheck,
    facebook_messenger,
    http_header_field_manipulation,
    http_invalid_request_line,
    psiphon,
    signal,
    telegram,
    tor,
    whatsapp,
)
from netfreedom.analysis.fingerprints import Finding, Fingerprint, FingerprintDB
from netfreedom.models.decoding import DECODE_ERRORS
from netfreedom.models.measurement import Envelope
from netfreedom.models.registry import decode_whole
from netfreedom.models.verdict import Outcome, Reason, Verdict

__all__ = [
    "ANALYSIS_VERSION",
    "ANALYZERS",
    "VERDICT_DIGESTS",
    "Analyzer",
    "Finding",
    "Fingerprint",
    "FingerprintDB",
    "analyze",
    "analyze_decoded",
    "analyze_line",
]

ANALYSIS_VERSION = 3
"""Bump on any change to a rule, a confidence or the fingerprint overlay, and pin the new digest below."""

VERDICT_DIGESTS: Mapping[int, str] = MappingProxyType(
    {
        # analysis.digest.verdicts_digest of ../shared/data's measurements (with its fingerprints) per
        # version; tests/test_analysis_version.py fails when the verdicts change and the version does not.
        1: "f0d7cb37483aaec11580e3065d0ddc930a247a79ecf966cc77bf0a315232049f",
        # 2: legacy probes compare each *_match with `is True`; Go 0.1.0 before 2020-08-20 has no summary
        2: "3236ee4552b8a0c939d715c98ec907fe768b1666f91f388fc55408cca11fcdd0",
        # 3: a lone "." in a signature matches a lead byte and at most three continuation bytes (was: any
        # number) — one UTF-8 character, and what lets the portable matcher run in linear time; only bodies
        # that are not UTF-8 can differ, so the shared corpus's digest is unchanged
        3: "3236ee4552b8a0c939d715c98ec907fe768b1666f91f388fc55408cca11fcdd0",
    }
)

Analyzer = Callable[[Envelope, bytes | msgspec.Raw, FingerprintDB | None], Verdict]

ANALYZERS: Mapping[str, Analyzer] = MappingProxyType(
    {
        "web_connectivity": _wc.analyze,
        "telegram": telegram.analyze,
        "whatsapp": whatsapp.analyze,
        "signal": signal.analyze,
        "facebook_messenger": facebook_messenger.analyze,
        "tor": tor.analyze,
        "psiphon": psiphon.analyze,
        "dnscheck": dnscheck.analyze,
        "http_header_field_manipulation": http_header_field_manipulation.analyze,
        "http_invalid_request_line": http_invalid_request_line.analyze,
    }
)

UNSUPPORTED = Verdict(outcome=Outcome.INCONCLUSIVE, reason=Reason.UNSUPPORTED_TEST, confidence=0.0)
ANALYSIS_ERROR = Verdict(outcome=Outcome.INCONCLUSIVE, reason=Reason.ANALYSIS_ERROR, confidence=0.0)


# Analyzers of keys decoded together with the envelope (``models.registry.decode_whole``): the tests whose
# keys are typed, and the largest measurements, so that the line is scanned once, not twice.
_DECODED: Mapping[str, Callable[[Envelope, Any, FingerprintDB | None], Verdict]] = MappingProxyType(
    {"web_connectivity": _wc.analyze_decoded}
)
_ENVELOPE = msgspec.json.Decoder(Envelope)


def analyze_line(line: bytes, fingerprints: FingerprintDB | None = None) -> Verdict | None:
    """The verdict for one measurement's JSON, as ``analyze`` gives it; None when the line is not a
    measurement envelope at all.  Never raises."""
    found = decode_whole(line)
    if found is not None and found[0].test_name in _DECODED:
        return analyze_decoded(*found, fingerprints)
    try:
        envelope = _ENVELOPE.decode(line)
    except DECODE_ERRORS:
        return None
    return analyze(envelope, envelope.test_keys, fingerprints)


def analyze_decoded(envelope: Envelope, keys: Any, fingerprints: FingerprintDB | None = None) -> Verdict:
    """The verdict for a measurement whose typed keys were decoded with its envelope in one pass
    (``models.registry.decode_whole``; the envelope's ``test_keys`` is then null), as ``analyze`` gives it
    from the raw keys.  Never raises."""
    analyzer = _DECODED.get(envelope.test_name)
    if analyzer is None:
        # Every test models.registry types has an analyzer here (tests/test_one_pass.py checks);
        # should one not, its analyzer reads the keys as JSON again.
        return analyze(envelope, msgspec.json.encode(keys), fingerprints)
    try:
        return analyzer(envelope, keys, fingerprints)
    except Exception:  # as in analyze
        return ANALYSIS_ERROR


def analyze(
    envelope: Envelope, test_keys_raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None = None
) -> Verdict:
    """The verdict for one measurement (``test_keys_raw`` is its raw JSON ``test_keys``).  Never raises."""
    analyzer = ANALYZERS.get(envelope.test_name)
    if analyzer is None:
        return UNSUPPORTED
    try:
        return analyzer(envelope, test_keys_raw, fingerprints)
    except Exception:  # a shape nobody foresaw must not stop a whole store's analysis; counted by callers
        return ANALYSIS_ERROR

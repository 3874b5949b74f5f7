"""web_connectivity with fingerprints: the web_connectivity engineer's verdict, then blockpage and
false-positive fingerprints over every DNS answer and every hop's response (see docs/verdicts.md)."""

from __future__ import annotations

import msgspec

from netfreedom.analysis import web_connectivity as wc
from netfreedom.analysis._archival import dns_addresses, page_matches
from netfreedom.analysis._overlay import overlay
from netfreedom.analysis.fingerprints import FingerprintDB
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Reason, Verdict
from netfreedom.models.web_connectivity import WebConnectivityKeys


def _control_failed(keys: WebConnectivityKeys, base: Verdict) -> bool:
    if base.reason is Reason.CONTROL_FAILED or keys.control_failure is not None or keys.control is None:
        return True
    http = keys.control.http_request
    return http is None or bool(http.failure)


def analyze(envelope: Envelope, raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None) -> Verdict:
    keys, base = wc.analyze_raw(envelope, raw)
    return _with_fingerprints(envelope, keys, base, fingerprints)


def analyze_decoded(
    envelope: Envelope, keys: WebConnectivityKeys | None, fingerprints: FingerprintDB | None
) -> Verdict:
    """``analyze`` for keys already decoded (``models.registry.decode_whole``)."""
    return _with_fingerprints(envelope, keys, wc.analyze(envelope, keys), fingerprints)


def _with_fingerprints(
    envelope: Envelope, keys: WebConnectivityKeys | None, base: Verdict, fingerprints: FingerprintDB | None
) -> Verdict:
    if keys is None or not fingerprints:
        return base
    matches = fingerprints.match_dns(dns_addresses(keys.queries or ()))
    matches.extend(page_matches(fingerprints, keys.requests or ()))
    if not matches:
        return base
    finding = fingerprints.judge(matches, envelope.probe_cc)
    return overlay(base, finding, control_failed=_control_failed(keys, base))

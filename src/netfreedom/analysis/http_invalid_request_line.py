"""http_invalid_request_line: does a middlebox answer or alter malformed HTTP request lines?

The probe sends malformed request lines to an echo helper.  From the raw ``sent``/``received`` lists:
when a line was written (its ``failure_list`` entry, if any, is null) and what came back differs, a
middlebox is on the path (reason middlebox).  Nothing sent and nothing received is inconclusive.
Received data is often a middlebox's error page or a blockpage: fingerprints are applied to it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from netfreedom.analysis._archival import NO_DATA, UNREADABLE, blocked, decode, ok
from netfreedom.analysis._overlay import overlay
from netfreedom.analysis.fingerprints import Fingerprint, FingerprintDB
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Layer, Reason, Verdict


def _data(value: Any) -> str | bytes | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("data"), str):
        try:
            return base64.b64decode(value["data"])
        except (binascii.Error, ValueError):
            return None
    return None


def verdict(keys: dict[str, Any]) -> Verdict:
    sent = keys.get("sent")
    received = keys.get("received")
    sent = sent if isinstance(sent, list) else []
    received = received if isinstance(received, list) else []
    if not sent and not received:
        return NO_DATA
    failures = keys.get("failure_list")
    failures = failures if isinstance(failures, list) else []
    tampered = False
    for i in range(min(len(sent), len(received))):
        if i < len(failures) and failures[i] is not None:
            continue  # the write failed: nothing to compare
        # a base64 object means bytes that were not UTF-8: never what was sent
        if not isinstance(received[i], str) or received[i] != sent[i]:
            tampered = True
            break
    if not tampered and len(sent) != len(received):
        return UNREADABLE
    return blocked(Reason.MIDDLEBOX, Layer.HTTP, 0.8) if tampered else ok(0.8)


def analyze(envelope: Envelope, raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None) -> Verdict:
    keys = decode(raw)
    if isinstance(keys, Verdict):
        return keys
    base = verdict(keys)
    if fingerprints:
        matches: list[Fingerprint] = []
        received = keys.get("received")
        for item in received if isinstance(received, list) else ():
            data = _data(item)
            if data:
                matches.extend(fingerprints.match_page(data, None))
        if matches:
            return overlay(base, fingerprints.judge(matches, envelope.probe_cc))
    return base

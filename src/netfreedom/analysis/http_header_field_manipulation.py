"""http_header_field_manipulation: does a middlebox rewrite HTTP headers on the way?

The probe sends oddly capitalised headers to a helper that echoes what it received (JSON
``headers_dict``).  From the raw ``requests[0]``: no response is inconclusive; a body that is not the
helper's JSON (or has no ``headers_dict``) means something else answered — a middlebox, or a blockpage
(fingerprints are applied to it); a received header set that differs from the sent one (ignoring
``Connection: close``, which the client adds) is tampering.  Either is reason middlebox.
"""

from __future__ import annotations

from typing import Any

import msgspec

from netfreedom.analysis._archival import NO_DATA, UNREADABLE, blocked, decode, ok
from netfreedom.analysis._overlay import overlay
from netfreedom.analysis.fingerprints import FingerprintDB
from netfreedom.models.decoding import DECODE_ERRORS
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Layer, Reason, Verdict

_CLOSE = ("connection", "close")


def _pairs(headers: Any, *, first_value: bool) -> set[tuple[str, str]] | None:
    if not isinstance(headers, dict):
        return None
    out: set[tuple[str, str]] = set()
    for name, value in headers.items():
        first = value[0] if first_value and isinstance(value, list) and value else value
        out.add((str(name), str(first)))
    # compare names as sent (case matters: that is what the test looks for), drop the client's own header
    return {(n, v) for n, v in out if (n.lower(), v.lower()) != _CLOSE}


def _body_text(body: Any) -> str | None:
    return body if isinstance(body, str) else None


def verdict(keys: dict[str, Any]) -> tuple[Verdict, str | None, dict[str, str] | None]:
    """The verdict, plus the response body and headers (for fingerprints)."""
    requests = keys.get("requests")
    if not isinstance(requests, list) or not requests or not isinstance(requests[0], dict):
        return (UNREADABLE if keys.get("failure") else NO_DATA), None, None
    first = requests[0]
    response = first.get("response")
    if not isinstance(response, dict):
        return UNREADABLE, None, None
    body = _body_text(response.get("body"))
    raw_headers = response.get("headers")
    headers = {str(k): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else None
    try:
        echoed = msgspec.json.decode(body) if body else None
    except DECODE_ERRORS:
        echoed = None
    if not isinstance(echoed, dict) or not isinstance(echoed.get("headers_dict"), dict):
        return blocked(Reason.MIDDLEBOX, Layer.HTTP, 0.6), body, headers
    request = first.get("request")
    sent = _pairs(request.get("headers") if isinstance(request, dict) else None, first_value=False)
    received = _pairs(echoed["headers_dict"], first_value=True)
    if sent is None or received is None:
        return UNREADABLE, body, headers
    if sent != received:
        return blocked(Reason.MIDDLEBOX, Layer.HTTP, 0.8), body, headers
    return ok(0.8), body, headers


def analyze(envelope: Envelope, raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None) -> Verdict:
    keys = decode(raw)
    if isinstance(keys, Verdict):
        return keys
    base, body, headers = verdict(keys)
    if fingerprints and (body or headers):
        matches = fingerprints.match_page(body, headers)
        if matches:
            return overlay(base, fingerprints.judge(matches, envelope.probe_cc))
    return base

"""The probe's own summary keys (``blocking``, ``accessible``, ``dns_consistency``, ``*_match``, ...).

They are computed by ``netfreedom.analysis.web_connectivity`` — the same code ``netfreedom analyze`` runs
on any measurement — from the raw keys the probe just wrote (decoded through the shared test-keys model),
so a probe result and its later analysis can never disagree.  Nothing here decides anything itself.
"""

from __future__ import annotations

from typing import Any

import msgspec

from netfreedom.analysis.web_connectivity import analyze
from netfreedom.analysis.web_connectivity.common import bytelen, url_host
from netfreedom.analysis.web_connectivity.v04 import (
    GoVariant,
    dns_consistency,
    dns_experiment_failure,
    http_matches,
    probe_addresses,
)
from netfreedom.models.measurement import Envelope
from netfreedom.models.registry import decode_test_keys
from netfreedom.models.web_connectivity import WebConnectivityKeys


def summarize(measurement: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """Summary keys for ``keys`` (the raw test_keys inside ``measurement``)."""
    env = msgspec.json.decode(msgspec.json.encode(measurement), type=Envelope)
    typed = decode_test_keys("web_connectivity", msgspec.json.encode(keys))
    if not isinstance(typed, WebConnectivityKeys):  # cannot happen for keys this probe wrote
        return {"blocking": None, "accessible": None}
    verdict = analyze(env, typed)
    requests = typed.requests or []
    first = requests[0] if requests else None
    chttp = typed.control.http_request if typed.control is not None else None
    status, body, headers, title = http_matches(first, chttp, GoVariant())
    proportion = 0.0
    if first is not None and first.response is not None and chttp is not None:
        mine, theirs = bytelen(first.response.body), chttp.body_length or 0
        if mine > 0 and theirs > 0 and not first.response.body_is_truncated:
            proportion = min(mine, theirs) / max(mine, theirs)
    host = url_host(env.input if isinstance(env.input, str) else None)
    pfailure = dns_experiment_failure(typed)
    return {
        "dns_consistency": dns_consistency(typed, host, pfailure, probe_addresses(typed)),
        "body_length_match": body,
        "body_proportion": proportion,
        "status_code_match": status,
        "headers_match": headers,
        "title_match": title,
        "blocking": verdict.blocking,
        "accessible": verdict.accessible,
    }

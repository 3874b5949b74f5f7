"""The probe's own summary keys (``blocking``, ``accessible``, ``dns_consistency``, ``*_match``, ...).

The probe writes web_connectivity 0.5 (:data:`TEST_VERSION`): the newest rules netfreedom implements, the
"classic" analysis of probe-cli 0.5.28, where a site down for the control too is ``blocking: false,
accessible: false`` — not 0.4's ``tcp_ip`` false positive.  The keys are computed by
``netfreedom.analysis.web_connectivity`` — the same code ``netfreedom analyze`` runs on any measurement —
from the raw keys the probe just wrote (decoded through the shared test-keys model), so a probe result and
its later analysis can never disagree.  Nothing here decides anything itself.
"""

from __future__ import annotations

from typing import Any

import msgspec

from netfreedom.analysis.web_connectivity import analyze, choose
from netfreedom.analysis.web_connectivity.common import bytelen
from netfreedom.analysis.web_connectivity.v05_classic import (
    build,
    classic_filter,
    dns_consistency,
    dns_metrics,
    http_matches,
)
from netfreedom.models.measurement import Envelope
from netfreedom.models.registry import decode_test_keys
from netfreedom.models.web_connectivity import WebConnectivityKeys

TEST_VERSION = "0.5.28"
"""web_connectivity 0.5.28: the classic analysis with every fix of its releases (ALGORITHMS.md §2.3)."""


def summarize(measurement: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """Summary keys for ``keys`` (the raw test_keys inside ``measurement``)."""
    env = msgspec.json.decode(msgspec.json.encode(measurement), type=Envelope)
    typed = decode_test_keys("web_connectivity", msgspec.json.encode(keys))
    if not isinstance(typed, WebConnectivityKeys):  # cannot happen for keys this probe wrote
        return {"blocking": None, "accessible": None}
    fixes = choose(env, typed).fixes
    verdict = analyze(env, typed)
    kept = classic_filter(build(typed, fixes), fixes)
    status, body, headers, title = http_matches(typed, fixes)
    proportion = 0.0
    final = next((o for o in kept.eps if o.final and o.c_http is not None and o.response is not None), None)
    if final is not None and final.response is not None:
        mine = bytelen(final.response.body)
        if mine > 0 and final.c_len > 0 and not final.trunc:
            proportion = min(mine, final.c_len) / max(mine, final.c_len)
    return {
        "dns_consistency": dns_consistency(typed, dns_metrics(typed, kept, fixes), fixes),
        "body_length_match": body,
        "body_proportion": proportion,
        "status_code_match": status,
        "headers_match": headers,
        "title_match": title,
        "blocking": verdict.blocking,
        "accessible": verdict.accessible,
    }

"""dnscheck: does a given resolver (DoH, DoT, UDP, TCP) answer from this network?

From the raw ``lookups`` (one per resolver address): a lookup works when its ``failure`` is null.  Any
working lookup is ok.  When every lookup failed — or the bootstrap (resolving the resolver's own name)
failed and nothing was looked up — the resolver is unusable here (reason resolver.failure): blocked with
low confidence, since the probe has no control to rule out an outage of the resolver.
"""

from __future__ import annotations

from typing import Any

import msgspec

from netfreedom.analysis._archival import NO_DATA, blocked, decode, failure_layer, ok
from netfreedom.analysis.fingerprints import FingerprintDB
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Layer, Reason, Verdict


def verdict(keys: dict[str, Any]) -> Verdict:
    lookups = keys.get("lookups")
    results = [v for v in lookups.values() if isinstance(v, dict)] if isinstance(lookups, dict) else []
    if not results:
        failure = keys.get("bootstrap_failure")
        if isinstance(failure, str) and failure:
            return blocked(Reason.RESOLVER_FAILURE, Layer.DNS, 0.4)
        return NO_DATA
    if any(r.get("failure") is None for r in results):
        return ok(0.8)
    first = results[0]
    failure = first.get("failure")
    operation = first.get("failed_operation")
    layer = failure_layer(
        failure if isinstance(failure, str) else None, operation if isinstance(operation, str) else None
    )
    return blocked(Reason.RESOLVER_FAILURE, layer, 0.5)


def analyze(envelope: Envelope, raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None) -> Verdict:
    keys = decode(raw)
    if isinstance(keys, Verdict):
        return keys
    return verdict(keys)

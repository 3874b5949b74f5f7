"""tor: can the probe reach Tor directory authorities, relays and obfs4 bridges?

From the raw ``targets`` (a map in current probes, a list in the oldest): a target with ``failure``
null is accessible, a string is a failure, ``false`` means it was not run; entries without ``failure``
(oldest format) are judged by their TCP connects.  Blocking (circumvention.blocked) when some protocol
(``dir_port``, ``or_port``, ``or_port_dirauth``, ``obfs4``) was tried and no target of it was reachable —
the probe's own anomaly rule; confidence grows with the number of targets tried.
"""

from __future__ import annotations

from typing import Any

import msgspec

from netfreedom.analysis._archival import NO_DATA, blocked, decode, ok
from netfreedom.analysis.fingerprints import FingerprintDB
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Layer, Reason, Verdict


def _target_ok(target: dict[str, Any]) -> bool | None:
    """True reachable, False failed, None not run / unknown."""
    if "failure" in target:
        failure = target["failure"]
        if failure is False:
            return None
        return failure is None
    connects = [c for c in target.get("tcp_connect") or () if isinstance(c, dict)]
    if not connects:
        return None
    return all(isinstance(c.get("status"), dict) and c["status"].get("success") for c in connects)


def verdict(keys: dict[str, Any]) -> Verdict:
    targets = keys.get("targets")
    items = list(targets.values()) if isinstance(targets, dict) else targets
    if not isinstance(items, list):
        return NO_DATA
    tried: dict[str, list[bool]] = {}
    for target in items:
        if not isinstance(target, dict):
            continue
        result = _target_ok(target)
        if result is not None:
            tried.setdefault(str(target.get("target_protocol") or "unknown"), []).append(result)
    if not tried:
        return NO_DATA
    dead = [proto for proto, results in tried.items() if not any(results)]
    if dead:
        count = sum(len(tried[p]) for p in dead)
        layer = Layer.TCP if all(p != "obfs4" for p in dead) else None
        return blocked(Reason.CIRCUMVENTION_BLOCKED, layer, min(0.9, 0.5 + 0.1 * count))
    return ok(0.8)


def analyze(envelope: Envelope, raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None) -> Verdict:
    keys = decode(raw)
    if isinstance(keys, Verdict):
        return keys
    return verdict(keys)

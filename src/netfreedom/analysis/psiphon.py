"""psiphon: did the Psiphon circumvention tunnel bootstrap and fetch a page through it?

From the raw fields: a ``failure`` is blocking of the tool (circumvention.blocked); no failure but a
``bootstrap_time`` of 0 means the probe did not really run (inconclusive); else the tool works.
"""

from __future__ import annotations

import msgspec

from netfreedom.analysis._archival import (
    NO_DATA,
    UNREADABLE,
    ArchivalKeys,
    blocked,
    decoder,
    failure_layer,
    ok,
)
from netfreedom.analysis.fingerprints import FingerprintDB
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Reason, Verdict


class PsiphonKeys(ArchivalKeys, kw_only=True):
    bootstrap_time: float | None = None
    max_runtime: float | None = None


_decode = decoder(PsiphonKeys)


def verdict(keys: PsiphonKeys) -> Verdict:
    if keys.failure:
        return blocked(Reason.CIRCUMVENTION_BLOCKED, failure_layer(keys.failure, keys.failed_operation), 0.7)
    if keys.bootstrap_time is None and not keys.requests:
        return NO_DATA
    if not keys.bootstrap_time:
        return UNREADABLE
    return ok(0.8)


def analyze(envelope: Envelope, raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None) -> Verdict:
    keys = _decode(raw)
    if isinstance(keys, Verdict):
        return keys
    return verdict(keys)

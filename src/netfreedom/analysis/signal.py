"""signal: can the probe reach Signal's backend?

From the raw fields: every GET in ``requests`` (the Signal hosts of the probe's version) must succeed;
the status code is ignored.  A failed GET is blocking at the layer its failure names (a TLS failure
under Signal's pinned CA is interception).  ``uptime.signal.org`` resolves to 127.0.0.1 by design, so
its answers are never matched against DNS blockpage fingerprints.
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
    with_fingerprints,
)
from netfreedom.analysis.fingerprints import FingerprintDB
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Layer, Reason, Verdict

UPTIME = frozenset({"uptime.signal.org"})


class SignalKeys(ArchivalKeys, kw_only=True):
    signal_backend_status: str | None = None
    signal_backend_failure: str | None = None


_decode = decoder(SignalKeys)


def verdict(keys: SignalKeys) -> Verdict:
    requests = keys.requests or []
    if not requests:
        return UNREADABLE if keys.failure else NO_DATA
    failed = [r for r in requests if r.failure is not None]
    if failed:
        failure = failed[-1].failure
        return blocked(Reason.APP_BLOCKED, failure_layer(failure) or Layer.HTTP, 0.7)
    return ok(0.8)


def analyze(envelope: Envelope, raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None) -> Verdict:
    keys = _decode(raw)
    if isinstance(keys, Verdict):
        return keys
    return with_fingerprints(verdict(keys), envelope, fingerprints, keys, skip_hosts=UPTIME)

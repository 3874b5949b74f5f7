"""web_connectivity: the probe's own verdict reproduced, and netfreedom's verdict, from raw test keys.

Pure (no I/O) and total: :func:`analyze` returns a :class:`~netfreedom.models.verdict.Verdict` for any
input and never raises.  ``blocking``/``accessible`` in the verdict are the probe's values recomputed by the
algorithm of the software that wrote the measurement (:mod:`.reproduce`); ``outcome``/``reason``/
``confidence``/``layer`` are netfreedom's own rules (:mod:`.verdict`).  Blockpage fingerprints are applied
on top by the caller, using :func:`response_bodies`, :func:`response_headers` and :func:`dns_answers`.
"""

from __future__ import annotations

import msgspec

from netfreedom.analysis.web_connectivity.common import dns_answers, response_bodies, response_headers
from netfreedom.analysis.web_connectivity.reproduce import Algorithm, choose, http_matches, reproduce
from netfreedom.analysis.web_connectivity.verdict import own_verdict
from netfreedom.errors import InputError
from netfreedom.models.measurement import Envelope, first_input
from netfreedom.models.registry import decode_test_keys
from netfreedom.models.verdict import Outcome, Reason, Verdict
from netfreedom.models.web_connectivity import WebConnectivityKeys

__all__ = [
    "Algorithm",
    "analyze",
    "analyze_raw",
    "choose",
    "dns_answers",
    "http_matches",
    "reproduce",
    "response_bodies",
    "response_headers",
    "verdict_for",
]

_MALFORMED = Verdict(outcome=Outcome.INCONCLUSIVE, reason=Reason.PROBE_FAILURE, confidence=0.0)
_BUG = Verdict(outcome=Outcome.INCONCLUSIVE, reason=Reason.ANALYSIS_ERROR, confidence=0.0)


def verdict_for(envelope: Envelope, keys: WebConnectivityKeys | None) -> Verdict:
    """The verdict, without the safety net of :func:`analyze` (tests call this to see real errors)."""
    blocking, accessible = reproduce(envelope, keys)
    own = own_verdict(keys, first_input(envelope))
    return Verdict(
        outcome=own.outcome,
        reason=own.reason,
        confidence=own.confidence,
        layer=own.layer,
        blocking=blocking,
        accessible=accessible,
    )


def analyze(envelope: Envelope, keys: WebConnectivityKeys | None) -> Verdict:
    """Both verdicts for one web_connectivity measurement; never raises."""
    try:
        return verdict_for(envelope, keys)
    except Exception:  # a rule tripping on a shape nobody foresaw must not stop a whole store's analysis
        return _BUG


def analyze_raw(envelope: Envelope, raw: bytes | msgspec.Raw) -> tuple[WebConnectivityKeys | None, Verdict]:
    """Decode raw ``test_keys`` and analyse them; keys that do not fit the model give ``probe_failure``."""
    try:
        keys = decode_test_keys("web_connectivity", raw)
    except InputError:
        return None, _MALFORMED
    if not isinstance(keys, WebConnectivityKeys):
        keys = None
    return keys, analyze(envelope, keys)

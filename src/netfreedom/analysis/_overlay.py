"""Fingerprint findings applied on top of a test's own verdict (rules in docs/verdicts.md)."""

from __future__ import annotations

from typing import Any

import msgspec

from netfreedom.analysis.fingerprints import Finding
from netfreedom.models.verdict import Layer, Outcome, Reason, Verdict

__all__ = ["CONFIRMED_CONFIDENCE", "overlay"]

CONFIRMED_CONFIDENCE = 0.99
UNCONFIRMED_CONFIDENCE = 0.8
FALSE_POSITIVE_CONFIDENCE = 0.7

# Verdicts that only say "the answers or the page differ from the control": exactly what a CDN
# challenge or a site's own geo-block page explains.  Failures (resets, timeouts, NXDOMAIN, bogons) stand.
_EXPLAINABLE = frozenset({Reason.HTTP_DIFF, Reason.DNS_INCONSISTENT})


def _with(base: Verdict, **changes: Any) -> Verdict:
    return msgspec.structs.replace(base, **changes)


def overlay(base: Verdict, finding: Finding, *, control_failed: bool = False) -> Verdict:
    """Apply a fingerprint finding.  ``blocking``/``accessible`` (the probe reproduction) never change.

    - a confirmed blockpage makes the verdict blocked and confirmed, whatever the test concluded;
    - an unconfirmed blockpage turns a blocked or inconclusive verdict into a blockpage verdict (when the
      test found the page reachable, the control saw the same content, so the match is not trusted);
    - a false positive (which already removed HTTP blockpage matches) turns an ``http.diff`` or
      ``dns.inconsistent`` verdict into ``cdn_challenge``/``geo_block`` (outcome ok) or ``false_positive``
      (inconclusive) — and never into ok when the control failed.
    """
    page = finding.blockpage
    if page is not None:
        reason = Reason.DNS_BLOCKPAGE_IP if page.location == "dns" else Reason.HTTP_BLOCKPAGE
        layer = Layer.DNS if page.location == "dns" else Layer.HTTP
        if finding.confirmed:
            return _with(
                base,
                outcome=Outcome.BLOCKED,
                reason=reason,
                layer=layer,
                confidence=CONFIRMED_CONFIDENCE,
                confirmed=True,
                fingerprint=page.name,
            )
        if base.outcome in (Outcome.BLOCKED, Outcome.INCONCLUSIVE):
            return _with(
                base,
                outcome=Outcome.BLOCKED,
                reason=reason,
                layer=layer,
                confidence=max(UNCONFIRMED_CONFIDENCE, base.confidence),
                confirmed=False,
                fingerprint=page.name,
            )
        return base
    fp = finding.false_positive
    if fp is not None and base.outcome is Outcome.BLOCKED and base.reason in _EXPLAINABLE:
        reason = fp.false_positive_reason
        reachable = reason in (Reason.CDN_CHALLENGE, Reason.GEO_BLOCK) and not control_failed
        return _with(
            base,
            outcome=Outcome.OK if reachable else Outcome.INCONCLUSIVE,
            reason=reason,
            layer=None,
            confidence=FALSE_POSITIVE_CONFIDENCE,
            confirmed=False,
            fingerprint=fp.name,
        )
    return base

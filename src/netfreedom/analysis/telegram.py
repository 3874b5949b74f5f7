"""telegram: can the probe reach Telegram's data centres and Telegram Web?

From the raw fields: the POSTs to the data-centre IPs (``requests`` whose URL is not Telegram Web; very
old probes wrote them without a URL), the TCP connects to those IPs, and the GETs of
``https://web.telegram.org/``.  No POST succeeding is blocking (layer tcp when every data-centre connect
failed, else http); a failed Telegram Web with the data centres reachable is blocking with less confidence.
"""

from __future__ import annotations

import msgspec

from netfreedom.analysis._archival import (
    NO_DATA,
    ArchivalKeys,
    blocked,
    decoder,
    failure_layer,
    host,
    ok,
    with_fingerprints,
)
from netfreedom.analysis.fingerprints import FingerprintDB
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Layer, Reason, Verdict
from netfreedom.models.web_connectivity import HTTPRequestEntry

WEB = "web.telegram.org"


class TelegramKeys(ArchivalKeys, kw_only=True):
    # the probe's own conclusions: compared in tests, never read by the rule
    telegram_http_blocking: bool | None = None
    telegram_tcp_blocking: bool | None = None
    telegram_web_failure: str | None = None
    telegram_web_status: str | None = None


_decode = decoder(TelegramKeys)


def verdict(keys: TelegramKeys) -> Verdict:
    web: list[HTTPRequestEntry] = []
    posts: list[HTTPRequestEntry] = []
    for r in keys.requests or ():
        (web if host(r.request.url if r.request else None) == WEB else posts).append(r)
    web_ips = {
        a.ipv4 or a.ipv6 for q in keys.queries or () if (q.hostname or "") == WEB for a in q.answers or ()
    }
    connects = [c for c in keys.tcp_connect or () if c.ip not in web_ips]
    if not posts and not connects and not web:
        return NO_DATA
    if posts or connects:
        if connects and not any(c.status and c.status.success for c in connects):
            return blocked(Reason.APP_BLOCKED, Layer.TCP, 0.8)
        if posts and not any(r.failure is None for r in posts):
            return blocked(Reason.APP_BLOCKED, Layer.HTTP, 0.7)
    if web and not any(r.failure is None for r in web):
        failure = web[0].failure
        return blocked(Reason.APP_BLOCKED, failure_layer(failure) or Layer.HTTP, 0.6)
    return ok(0.8)


def analyze(envelope: Envelope, raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None) -> Verdict:
    keys = _decode(raw)
    if isinstance(keys, Verdict):
        return keys
    return with_fingerprints(verdict(keys), envelope, fingerprints, keys)

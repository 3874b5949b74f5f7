"""whatsapp: can the probe reach WhatsApp's endpoints, registration server and WhatsApp Web?

From the raw fields: TCP connects to the IPs of ``eN.whatsapp.net`` (from ``queries``; every connect
not to the web/registration hosts when the queries are missing), and the GETs of the registration
server and of WhatsApp Web.  A GET that got any HTTP response counts as reachable: the status code is
ignored, as the probe does since 0.10 (0.9 flagged a 400 from the real server as blocking).
"""

from __future__ import annotations

import re

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

ENDPOINT = re.compile(r"^e\d+\.whatsapp\.net$")
REGISTRATION = "v.whatsapp.net"
WEB = "web.whatsapp.com"


class WhatsappKeys(ArchivalKeys, kw_only=True):
    registration_server_failure: str | None = None
    registration_server_status: str | None = None
    whatsapp_endpoints_status: str | None = None
    whatsapp_web_failure: str | None = None
    whatsapp_web_status: str | None = None


_decode = decoder(WhatsappKeys)


def _failed(requests: list[HTTPRequestEntry]) -> str | None:
    """The failure when every request failed (None when one succeeded or there were none)."""
    if not requests or any(r.failure is None for r in requests):
        return None
    return requests[0].failure


def verdict(keys: WhatsappKeys) -> Verdict:
    endpoint_ips: set[str] = set()
    other_ips: set[str] = set()
    for query in keys.queries or ():
        target = endpoint_ips if ENDPOINT.match((query.hostname or "").lower()) else other_ips
        target.update(a.ipv4 or a.ipv6 or "" for a in query.answers or ())
    if endpoint_ips:
        endpoints = [c for c in keys.tcp_connect or () if c.ip in endpoint_ips]
    else:
        endpoints = [c for c in keys.tcp_connect or () if c.ip not in other_ips]
    requests = keys.requests or []
    registration = [r for r in requests if host(r.request.url if r.request else None) == REGISTRATION]
    web = [r for r in requests if host(r.request.url if r.request else None) == WEB]
    if not endpoints and not registration and not web:
        return NO_DATA
    if endpoints and not any(c.status and c.status.success for c in endpoints):
        return blocked(Reason.APP_BLOCKED, Layer.TCP, 0.8)
    failure = _failed(registration)
    if failure:
        return blocked(Reason.APP_BLOCKED, failure_layer(failure) or Layer.HTTP, 0.7)
    failure = _failed(web)
    if failure:
        return blocked(Reason.APP_BLOCKED, failure_layer(failure) or Layer.HTTP, 0.6)
    return ok(0.8)


def analyze(envelope: Envelope, raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None) -> Verdict:
    keys = _decode(raw)
    if isinstance(keys, Verdict):
        return keys
    return with_fingerprints(verdict(keys), envelope, fingerprints, keys)

"""facebook_messenger: do Facebook Messenger's services resolve to Facebook and accept connections?

From the raw fields: a service's DNS is consistent when its lookup succeeded and every answered IP is
in Facebook's AS32934; it is reachable when a TCP connect to one of its IPs succeeded (the probe tries
them in turn, so one success is enough).  Answers without ASNs (the legacy Python probe) cannot be
checked: then the probe's own ``facebook_<service>_dns_consistent`` is used, the one place a summary key
is read.  Any inconsistent service is DNS blocking; any unreachable one (STUN is DNS-only) TCP blocking.
"""

from __future__ import annotations

import msgspec

from netfreedom.analysis._archival import NO_DATA, ArchivalKeys, blocked, decode, ok
from netfreedom.analysis.fingerprints import FingerprintDB
from netfreedom.models.decoding import DECODE_ERRORS
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Layer, Reason, Verdict

FACEBOOK_ASN = 32934
SERVICES = {
    "stun": "stun.fbsbx.com",
    "b_api": "b-api.facebook.com",
    "b_graph": "b-graph.facebook.com",
    "edge": "edge-mqtt.facebook.com",
    "external_cdn": "external.xx.fbcdn.net",
    "scontent_cdn": "scontent.xx.fbcdn.net",
    "star": "star.c10r.facebook.com",
}

_KEYS = msgspec.json.Decoder(ArchivalKeys | None)


def _dns_consistent(keys: ArchivalKeys, summary: dict[str, object], name: str, hostname: str) -> bool | None:
    queries = [q for q in keys.queries or () if (q.hostname or "").lower() == hostname]
    if not queries:
        value = summary.get(f"facebook_{name}_dns_consistent")
        return value if isinstance(value, bool) else None
    if any(q.failure for q in queries):
        return False
    answers = [a for q in queries for a in q.answers or () if a.ipv4 or a.ipv6]
    if not answers:
        return False
    if all(a.asn is None for a in answers):
        value = summary.get(f"facebook_{name}_dns_consistent")
        return value if isinstance(value, bool) else None
    return all(a.asn == FACEBOOK_ASN for a in answers)


def _reachable(keys: ArchivalKeys, hostname: str) -> bool | None:
    ips = {
        a.ipv4 or a.ipv6
        for q in keys.queries or ()
        if (q.hostname or "").lower() == hostname
        for a in q.answers or ()
    }
    connects = [c for c in keys.tcp_connect or () if c.ip in ips]
    if not connects:
        return None
    return any(c.status is not None and c.status.success for c in connects)


def verdict(keys: ArchivalKeys, summary: dict[str, object]) -> Verdict:
    if not keys.queries and not keys.tcp_connect:
        return NO_DATA
    dns = {name: _dns_consistent(keys, summary, name, host) for name, host in SERVICES.items()}
    if any(v is False for v in dns.values()):
        return blocked(Reason.APP_BLOCKED, Layer.DNS, 0.8)
    reach = {name: _reachable(keys, host) for name, host in SERVICES.items() if name != "stun"}
    if any(v is False for v in reach.values()):
        return blocked(Reason.APP_BLOCKED, Layer.TCP, 0.8)
    if all(v is None for v in dns.values()):
        return NO_DATA
    return ok(0.8)


def analyze(envelope: Envelope, raw: bytes | msgspec.Raw, fingerprints: FingerprintDB | None) -> Verdict:
    summary = decode(raw)
    if isinstance(summary, Verdict):
        return summary
    try:
        keys = _KEYS.decode(raw)
    except DECODE_ERRORS:
        return NO_DATA
    if keys is None:
        return NO_DATA
    return verdict(keys, summary)

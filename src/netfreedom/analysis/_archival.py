"""Shared pieces for tests written with OONI's archival building blocks (``queries``, ``tcp_connect``,
``tls_handshakes``, ``requests``): lenient typed keys, decoding, failure classification, verdict helpers
and fingerprints applied to their DNS answers and HTTP responses."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import msgspec

from netfreedom.analysis._overlay import overlay
from netfreedom.analysis.fingerprints import Fingerprint, FingerprintDB
from netfreedom.models.decoding import DECODE_ERRORS
from netfreedom.models.measurement import Envelope
from netfreedom.models.verdict import Layer, Outcome, Reason, Verdict
from netfreedom.models.web_connectivity import DNSQuery, HTTPRequestEntry, TLSHandshake

__all__ = [
    "NO_DATA",
    "UNREADABLE",
    "ArchivalKeys",
    "TCPConnect",
    "TCPStatus",
    "blocked",
    "decode",
    "decoder",
    "dns_addresses",
    "failure_layer",
    "host",
    "ok",
    "page_matches",
    "with_fingerprints",
]

NO_DATA = Verdict(outcome=Outcome.INCONCLUSIVE, reason=Reason.NO_DATA, confidence=0.0)
UNREADABLE = Verdict(outcome=Outcome.INCONCLUSIVE, reason=Reason.PROBE_FAILURE, confidence=0.0)


class TCPStatus(msgspec.Struct, kw_only=True):
    success: bool | None = None
    failure: str | bool | None = None  # the legacy Python probe wrote ``false`` for "no failure"


class TCPConnect(msgspec.Struct, kw_only=True):
    ip: str | None = None
    port: int | str | None = None
    status: TCPStatus | None = None


class ArchivalKeys(msgspec.Struct, kw_only=True):
    """The archival fields most tests share (each test's module adds its own summary keys)."""

    queries: list[DNSQuery] | None = None
    tcp_connect: list[TCPConnect] | None = None
    tls_handshakes: list[TLSHandshake] | None = None
    requests: list[HTTPRequestEntry] | None = None
    failure: str | None = None
    failed_operation: str | None = None


K = TypeVar("K")


def decoder(model: type[K]) -> Callable[[bytes | msgspec.Raw], K | Verdict]:
    """A decoding function for ``model``: the keys, or the verdict to return instead — ``NO_DATA`` for
    ``null`` keys, ``UNREADABLE`` when the JSON does not fit the model (never an exception)."""
    dec: msgspec.json.Decoder[Any] = msgspec.json.Decoder(model | None)

    def run(raw: bytes | msgspec.Raw) -> K | Verdict:
        try:
            keys = dec.decode(raw)
        except DECODE_ERRORS:
            return UNREADABLE
        return NO_DATA if keys is None else keys

    return run


def decode(raw: bytes | msgspec.Raw) -> dict[str, Any] | Verdict:
    """Generic JSON keys (for tests whose keys vary too much between versions to type usefully), or the
    verdict to return instead: ``UNREADABLE`` for invalid JSON, ``NO_DATA`` for anything but an object."""
    try:
        keys = msgspec.json.decode(raw)
    except DECODE_ERRORS:
        return UNREADABLE
    return keys if isinstance(keys, dict) else NO_DATA


def host(url: str | None) -> str:
    if not url:
        return ""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def failure_layer(failure: str | None, operation: str | None = None) -> Layer | None:
    """The layer a failure string (or the operation that failed) points at; None when it cannot say."""
    op = (operation or "").lower()
    if op in ("resolve", "dns_lookup"):
        return Layer.DNS
    if op == "connect":
        return Layer.TCP
    if op == "tls_handshake":
        return Layer.TLS
    if op in ("http_round_trip", "http_request"):
        return Layer.HTTP
    text = (failure or "").lower()
    if not text:
        return None
    if text.startswith(("dns_", "android_dns")):
        return Layer.DNS
    if text.startswith("ssl_") or "tls" in text:
        return Layer.TLS
    if text.startswith(("connection_refused", "connect_error", "host_unreachable", "network_unreachable")):
        return Layer.TCP
    return None


def blocked(reason: Reason, layer: Layer | None, confidence: float) -> Verdict:
    return Verdict(outcome=Outcome.BLOCKED, reason=reason, layer=layer, confidence=confidence)


def ok(confidence: float) -> Verdict:
    return Verdict(outcome=Outcome.OK, reason=Reason.OK, confidence=confidence)


def dns_addresses(queries: Iterable[DNSQuery], skip_hosts: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every answer's address (A, AAAA) or name (CNAME), skipping queries for ``skip_hosts``."""
    for query in queries:
        if (query.hostname or "").lower() in skip_hosts:
            continue
        for answer in query.answers or ():
            value = answer.ipv4 or answer.ipv6 or answer.hostname
            if value:
                yield value


def page_matches(db: FingerprintDB, requests: Iterable[HTTPRequestEntry]) -> list[Fingerprint]:
    """Fingerprints matching any response of any hop."""
    out: list[Fingerprint] = []
    for entry in requests:
        response = entry.response
        if response is not None and (response.body or response.headers):
            out.extend(db.match_page(response.body, response.headers))
    return out


def with_fingerprints(
    base: Verdict,
    envelope: Envelope,
    db: FingerprintDB | None,
    keys: ArchivalKeys,
    *,
    skip_hosts: frozenset[str] = frozenset(),
    control_failed: bool = False,
) -> Verdict:
    """``base`` with blockpage / false-positive fingerprints of the DNS answers and responses applied."""
    if not db:
        return base
    matches = db.match_dns(dns_addresses(keys.queries or (), skip_hosts))
    matches.extend(page_matches(db, keys.requests or ()))
    if not matches:
        return base
    return overlay(base, db.judge(matches, envelope.probe_cc), control_failed=control_failed)

"""Typed ``test_keys`` of the web_connectivity test, every version in the wild.

One model covers the Go probe 0.4.x and 0.5.x (the ``x_*`` fields), the Go probe-engine 0.1–0.3, the
Measurement Kit C++ probe (``0.0.1``) and the legacy Python ooniprobe (0.1.0–0.3.2).  Every field is
optional, because each of those writers omits a different subset, and scalar fields accept the odd types
old writers used (a port as a string, a header value as a list).

Decoded forms (decided here, relied on by analysis):

- **Bodies** (``requests[].response.body``, ``requests[].request.body``) are ``str`` when the probe wrote a
  JSON string and ``bytes`` when it wrote ``{"format": "base64", "data": ...}`` (the bytes were not valid
  UTF-8).  Invalid base64 becomes ``None`` with ``body_is_invalid`` set: the measurement still decodes.
- **Header values** are ``str``: a base64 object is decoded and read as Latin-1 (the bytes as sent), a list
  of values (old writers) is joined with ``", "`` as HTTP does.
- Diagnostic side traffic that no verdict reads (``network_events``, ``x_do53``, ``x_doh``,
  ``x_dns_whoami``, ``x_dns_duplicate_responses``, ``x_conn_priority_log``, TLS peer certificates as
  written) stays undecoded ``msgspec.Raw``: decoding it would cost more than the whole verdict.
  ``network_events`` can be decoded on demand with :func:`decode_network_events`.
"""

from __future__ import annotations

import binascii
from typing import TYPE_CHECKING, Any, cast

import msgspec

from netfreedom.models.decoding import DECODE_ERRORS

__all__ = [
    "BinaryData",
    "ControlDNS",
    "ControlHTTPRequest",
    "ControlIPInfo",
    "ControlRequest",
    "ControlResponse",
    "ControlTCPConnect",
    "ControlTLSHandshake",
    "DNSAnswer",
    "DNSQuery",
    "HTTPRequest",
    "HTTPRequestEntry",
    "HTTPResponse",
    "NetworkEvent",
    "TCPConnect",
    "TCPConnectStatus",
    "TLSHandshake",
    "WebConnectivityKeys",
    "decode_base64",
    "decode_network_events",
]


class _Model(msgspec.Struct, kw_only=True, gc=False):
    """Base of every model here.  ``gc=False``: decoded keys hold no reference cycles, and keeping
    millions of small structs out of the cycle collector is a large part of decoding speed."""


NULL = msgspec.Raw(b"null")
"""Value of an undecoded (``msgspec.Raw``) field the probe did not write."""


class BinaryData(_Model, kw_only=True):
    """OONI's wrapper for bytes that are not UTF-8: ``{"format": "base64", "data": "..."}``."""

    format: str = "base64"
    data: str = ""


def decode_base64(value: BinaryData) -> bytes | None:
    """The bytes of a base64 object, or None when ``data`` is not valid base64."""
    try:
        return binascii.a2b_base64(value.data)
    except (binascii.Error, ValueError):
        return None


if TYPE_CHECKING:
    # After decoding (``__post_init__``) a body is never a BinaryData any more; msgspec cannot decode a
    # ``str | bytes`` union directly, so the wire type differs from the type readers see.
    Body = str | bytes | None
    Headers = dict[str, str] | None
else:
    Body = str | BinaryData | None
    # Some old writers stored headers as a list of [name, value] pairs: kept, and turned into a dict.
    Headers = dict[str, str | list[str] | BinaryData | None] | list[Any] | None


def _header_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BinaryData):
        raw = decode_base64(value)
        return raw.decode("latin-1") if raw is not None else ""
    if isinstance(value, list):
        return ", ".join(_header_text(v) for v in value)
    return ""


def _pairs_to_dict(pairs: list[object]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, list) and len(pair) >= 2 and isinstance(pair[0], str):
            value = _header_text(pair[1])
            out[pair[0]] = f"{out[pair[0]]}, {value}" if pair[0] in out else value
    return out


def _normalize_headers(headers: object) -> dict[str, str] | None:
    # Typed ``object``: this runs on the wire form, before the values are the ``str`` readers see.
    if headers is None:
        return None
    if isinstance(headers, list):
        return _pairs_to_dict(headers)
    if not isinstance(headers, dict):
        return None
    for value in headers.values():
        if not isinstance(value, str):
            return {k: _header_text(v) for k, v in headers.items()}
    return cast("dict[str, str]", headers)


class _HTTPMessage(_Model, kw_only=True):
    body: Body = None
    body_is_truncated: bool | None = None
    headers: Headers = None
    headers_list: msgspec.Raw = NULL
    # Set by decoding, never present in the JSON: the body was a base64 object with invalid data.
    body_is_invalid: bool = False

    def __post_init__(self) -> None:
        body: object = self.body  # the wire form: str, BinaryData or None
        if isinstance(body, BinaryData):
            decoded = decode_base64(body)
            self.body = decoded
            self.body_is_invalid = decoded is None
        self.headers = _normalize_headers(self.headers)


class HTTPRequest(_HTTPMessage, kw_only=True):
    url: str | None = None
    method: str | None = None
    tor: msgspec.Raw = NULL
    x_transport: str | None = None


class HTTPResponse(_HTTPMessage, kw_only=True):
    code: int | None = None
    response_line: str | None = None


class HTTPRequestEntry(_Model, kw_only=True):
    """One HTTP round trip.  ``requests`` lists them newest first: ``requests[0]`` is the final hop."""

    request: HTTPRequest | None = None
    response: HTTPResponse | None = None
    failure: str | None = None
    address: str | None = None
    alpn: str | None = None
    network: str | None = None
    transaction_id: int | None = None
    t0: float | None = None
    t: float | None = None
    tags: list[str] | None = None


class DNSAnswer(_Model, kw_only=True):
    answer_type: str | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    hostname: str | None = None
    asn: int | None = None
    as_org_name: str | None = None
    ttl: int | float | None = None


class DNSQuery(_Model, kw_only=True):
    hostname: str | None = None
    query_type: str | None = None
    engine: str | None = None
    resolver_address: str | None = None
    resolver_hostname: str | None = None
    resolver_port: str | int | None = None
    failure: str | None = None
    answers: list[DNSAnswer] | None = None
    raw_response: str | None = None
    transaction_id: int | None = None
    t0: float | None = None
    t: float | None = None
    tags: list[str] | None = None


class TCPConnectStatus(_Model, kw_only=True):
    success: bool | None = None
    failure: str | None = None
    blocked: bool | None = None


class TCPConnect(_Model, kw_only=True):
    ip: str | None = None
    port: int | str | None = None
    status: TCPConnectStatus | None = None
    transaction_id: int | None = None
    t0: float | None = None
    t: float | None = None
    tags: list[str] | None = None


class TLSHandshake(_Model, kw_only=True):
    address: str | None = None
    server_name: str | None = None
    failure: str | None = None
    cipher_suite: str | None = None
    negotiated_protocol: str | None = None
    tls_version: str | None = None
    no_tls_verify: bool | None = None
    network: str | None = None
    peer_certificates: msgspec.Raw = NULL
    transaction_id: int | None = None
    t0: float | None = None
    t: float | None = None
    tags: list[str] | None = None


class NetworkEvent(_Model, kw_only=True):
    operation: str | None = None
    address: str | None = None
    failure: str | None = None
    num_bytes: int | None = None
    proto: str | None = None
    transaction_id: int | None = None
    t0: float | None = None
    t: float | None = None
    tags: list[str] | None = None


class ControlTCPConnect(_Model, kw_only=True):
    status: bool | None = None
    failure: str | None = None


class ControlTLSHandshake(_Model, kw_only=True):
    server_name: str | None = None
    status: bool | None = None
    failure: str | None = None


class ControlHTTPRequest(_Model, kw_only=True):
    body_length: int | None = None
    discovered_h3_endpoint: str | None = None
    failure: str | None = None
    title: str | None = None
    headers: Headers = None
    status_code: int | None = None

    def __post_init__(self) -> None:
        self.headers = _normalize_headers(self.headers)


class ControlDNS(_Model, kw_only=True):
    failure: str | None = None
    addrs: list[str] | None = None


class ControlIPInfo(_Model, kw_only=True):
    asn: int | None = None
    flags: int | None = None


class ControlResponse(_Model, kw_only=True):
    """What the test helper measured from an unfiltered network (``control``)."""

    tcp_connect: dict[str, ControlTCPConnect] | None = None
    tls_handshake: dict[str, ControlTLSHandshake] | None = None
    quic_handshake: dict[str, ControlTLSHandshake] | None = None
    http_request: ControlHTTPRequest | None = None
    http3_request: ControlHTTPRequest | None = None
    dns: ControlDNS | None = None
    ip_info: dict[str, ControlIPInfo] | None = None


class ControlRequest(_Model, kw_only=True):
    """What the probe asked the test helper (``x_control_request``, 0.5)."""

    http_request: str | None = None
    http_request_headers: dict[str, list[str] | str] | None = None
    tcp_connect: list[str] | None = None
    x_quic_enabled: bool | None = None


class WebConnectivityKeys(_Model, kw_only=True):
    """``test_keys`` of web_connectivity: raw observations, the control, and the probe's own conclusions."""

    # raw observations
    agent: str | None = None
    client_resolver: str | None = None
    retries: int | None = None
    socksproxy: str | None = None
    queries: list[DNSQuery] | None = None
    tcp_connect: list[TCPConnect] | None = None
    tls_handshakes: list[TLSHandshake] | None = None
    requests: list[HTTPRequestEntry] | None = None
    network_events: msgspec.Raw = NULL
    # the control (test helper)
    control: ControlResponse | None = None
    control_failure: str | None = None
    x_control_request: ControlRequest | None = None
    # the probe's conclusions (what analysis reproduces, never what it reads)
    dns_experiment_failure: str | None = None
    dns_consistency: str | None = None
    http_experiment_failure: str | None = None
    body_length_match: bool | None = None
    body_proportion: float | None = None
    headers_match: bool | None = None
    status_code_match: bool | None = None
    title_match: bool | None = None
    blocking: str | bool | None = None
    accessible: bool | None = None
    # 0.4 diagnostics
    x_status: int | None = None
    x_dns_runtime: int | None = None
    x_th_runtime: int | None = None
    x_tcptls_runtime: int | None = None
    x_http_runtime: int | None = None
    # 0.5 (web_connectivity LTE)
    x_dns_flags: int | None = None
    x_blocking_flags: int | None = None
    x_null_null_flags: int | None = None
    x_do53: msgspec.Raw = NULL
    x_doh: msgspec.Raw = NULL
    x_dns_whoami: msgspec.Raw = NULL
    x_dns_duplicate_responses: msgspec.Raw = NULL
    x_conn_priority_log: msgspec.Raw = NULL


_EVENTS = msgspec.json.Decoder(list[NetworkEvent] | None)


def decode_network_events(keys: WebConnectivityKeys) -> list[NetworkEvent]:
    """The ``network_events`` of a measurement, decoded on demand (empty when absent or malformed)."""
    if keys.network_events == NULL:
        return []
    try:
        return _EVENTS.decode(keys.network_events) or []
    except DECODE_ERRORS:
        return []

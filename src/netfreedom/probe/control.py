"""The control ("test helper") measurement: what the probe's target looks like from an unfiltered network.

Speaks OONI's web connectivity control protocol (ALGORITHMS.md §3): a ``ControlRequest`` in, the ``control``
object out, with the test helper's own failure strings.  The HTTP edge (bounds, concurrency, JSON) is in
``control_server``; this module only measures.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import msgspec

from netfreedom.errors import InputError
from netfreedom.models.decoding import DECODE_ERRORS, decode_error
from netfreedom.probe.addresses import endpoint, is_bogon, is_ip, parse_ip
from netfreedom.probe.asndb import AsnDatabase
from netfreedom.probe.dnslookup import addresses, lookup, shared_failure
from netfreedom.probe.failures import th_dns, th_http, th_tcp
from netfreedom.probe.httpclient import REDIRECTS, FetchSettings, Hop, fetch
from netfreedom.probe.netio import Dialer, tls_context

# Only these request headers are honoured, as OONI's test helper does: the probe must not be able to make
# the control send arbitrary headers (cookies, auth) to third parties.
HONOURED_HEADERS = ("Accept", "Accept-Language", "User-Agent")
DEFAULT_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) netfreedom"

GO_MAX_REDIRECTS = 10  # net/http's default CheckRedirect
FLAG_PROBE = 1
FLAG_TH = 2
FLAG_BOGON = 4
FLAG_VALID_FOR_DOMAIN = 8

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")
_TITLE = re.compile(r"<title>([^<]{1,512})</title>", re.IGNORECASE)


def page_title(body: bytes) -> str:
    """OONI's TITLE(): the first ``<title>`` of up to 512 characters, else ""."""
    m = _TITLE.search(body.decode("utf-8", errors="replace"))
    return m.group(1) if m else ""


class ControlRequest(msgspec.Struct, kw_only=True):
    http_request: str
    http_request_headers: dict[str, list[str]] = msgspec.field(default_factory=dict)
    tcp_connect: list[str] = msgspec.field(default_factory=list)
    x_quic_enabled: bool = False


_FIELDS = tuple(ControlRequest.__struct_fields__)
MIB = 1024 * 1024


@dataclass(frozen=True)
class ControlConfig:
    """Bounds and environment of a control server.  ``routes`` exists for the censorship lab only."""

    resolver: tuple[str, int] | None = None
    allow_private: bool = False
    dns_timeout: float = 4.0
    tcp_timeout: float = 10.0
    http_timeout: float = 15.0  # the whole redirect chain, as OONI's helper
    body_cap: int = 16 * MIB  # OONI's helper reads a body up to 16 MiB
    max_request_bytes: int = 16 * MIB  # OONI's only bound on a request
    max_concurrency: int = 25  # beyond: 503; OONI's own probes (``ooniprobe-*``) get at least 50
    max_parallel_dials: int = 64  # connects of one measurement at a time (every endpoint is measured)
    ca_file: str | None = None
    routes: Mapping[str, str] = field(default_factory=dict)
    asn_db: AsnDatabase | None = None  # ip_info.*.asn; without one every asn is 0 (OONI: unknown)


def parse_request(data: bytes, config: ControlConfig) -> ControlRequest:
    """Decode and validate a control request; InputError (a 400) says what is wrong.

    Refused as Go's ``url.Parse`` (and so OONI's helper) refuses them: a control character anywhere in the
    URL, a space in its host, an unparseable host or port — and port 0, which is not a port.  A space or
    non-ASCII text in the path is measured (``httpclient.request_target`` escapes it, as Go does).  The
    honoured headers (``HONOURED_HEADERS``) must be printable ASCII: they are sent on as given."""
    try:
        req = msgspec.convert(go_fields(msgspec.json.decode(data)), ControlRequest)
    except DECODE_ERRORS as exc:
        raise InputError(f"invalid control request: {decode_error(exc)}") from exc
    if _CONTROL.search(req.http_request):
        raise InputError("http_request holds a control character (CR, LF, NUL, ...)")
    try:
        parts = urlsplit(req.http_request)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InputError(f"http_request is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InputError("http_request must be an http:// or https:// URL")
    if " " in parts.netloc:
        raise InputError("http_request has a space in its host")
    if port == 0:
        raise InputError("http_request names port 0, which is not a port")
    for name in HONOURED_HEADERS:
        for value in _header(req.http_request_headers, name):
            if not _FIELD_VALUE.fullmatch(value):
                raise InputError(f"http_request_headers {name}: only printable ASCII is sent on")
    return req


def go_fields(doc: object) -> dict[str, Any]:
    """A decoded request read as Go's ``encoding/json`` reads it into OONI's ``THRequest``.

    Keys match the fields case-insensitively (an exact match wins); unknown keys are ignored; ``null``
    makes a list or map empty and leaves a string or bool as it was (the zero value when first), also
    inside a list or a map; a later duplicate key wins.  What Go refuses (a number where a string goes,
    ...) is left to the typed conversion, which refuses it too."""
    if not isinstance(doc, dict):
        raise InputError("invalid control request: expected a JSON object")
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = key if key in _FIELDS else next((f for f in _FIELDS if f.casefold() == key.casefold()), None)
        if name is None:
            continue
        if value is None:
            if name in ("tcp_connect", "http_request_headers"):  # a nil slice or map; a string stays
                out.pop(name, None)
        elif name == "tcp_connect" and isinstance(value, list):
            out[name] = ["" if v is None else v for v in value]
        elif name == "http_request_headers" and isinstance(value, dict):
            out[name] = {
                k: [("" if x is None else x) for x in v] if isinstance(v, list) else ([] if v is None else v)
                for k, v in value.items()
            }
        else:
            out[name] = value
    return out


def probe_ip(entry: str) -> str | None:
    """The IP of a probe's ``tcp_connect`` entry as OONI's helper takes it (``net.SplitHostPort`` then
    ``net.ParseIP``; the port is ignored); None for an entry it skips."""
    if entry.startswith("["):
        host, sep, _ = entry[1:].partition("]:")
        if not sep:
            return None
    else:
        host, sep, _ = entry.rpartition(":")
        if not sep or ":" in host:
            return None
    if "%" in host or parse_ip(host) is None:
        return None
    return host


def _ports(scheme: str, explicit: int | None) -> list[int]:
    if explicit is not None:
        return [explicit]
    return [443] if scheme == "https" else [80, 443]


async def measure(req: ControlRequest, config: ControlConfig) -> dict[str, Any]:
    """Measure ``req`` from here and return the ``control`` object of the protocol."""
    parts = urlsplit(req.http_request)
    scheme = parts.scheme
    host = parts.hostname or ""
    explicit = parts.port

    dns: dict[str, Any]
    th_addrs: list[str] = []
    if is_ip(host):
        dns = {"failure": None, "addrs": []}
    else:
        queries = await lookup(host, config.resolver, config.dns_timeout)
        th_addrs = addresses(queries)
        failure = shared_failure(queries)
        mapped = th_dns(failure) if failure is not None else None
        dns = {"failure": mapped, "addrs": th_addrs if mapped is None else []}

    ip_info: dict[str, dict[str, int]] = {}
    probe_ips = [ip for ip in map(probe_ip, req.tcp_connect) if ip is not None]
    for ip in probe_ips:
        ip_info.setdefault(ip, {"asn": 0, "flags": 0})["flags"] |= FLAG_PROBE
    for ip in th_addrs:
        ip_info.setdefault(ip, {"asn": 0, "flags": 0})["flags"] |= FLAG_TH
    for ip, info in ip_info.items():
        if is_bogon(ip):
            info["flags"] |= FLAG_BOGON
        if config.asn_db is not None:
            info["asn"] = config.asn_db.asn(ip)

    dialable = [ip for ip in ip_info if config.allow_private or not is_bogon(ip)]
    ports = _ports(scheme, explicit)
    eps = [(ip, port) for ip in dialable for port in ports]
    dials = asyncio.Semaphore(config.max_parallel_dials)
    tls_ports = {443}  # OONI's helper: a TLS handshake on port 443 only, whatever the scheme
    dialer = Dialer(config.tcp_timeout, config.routes)
    ctx = tls_context(ca_file=config.ca_file)

    async def connect(ip: str, port: int) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        async with dials:
            return await connect_one(ip, port)

    async def connect_one(ip: str, port: int) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        tcp = await dialer.tcp(ip, port, keep=port in tls_ports)
        tcp_entry = {"status": tcp.failure is None, "failure": th_tcp(tcp.failure) if tcp.failure else None}
        tls_entry = None
        if tcp.conn is not None:
            tls = await dialer.tls(tcp.conn, endpoint(ip, port), host, ctx)
            if tls.conn is not None:
                tls.conn.close()
                ip_info[ip]["flags"] |= FLAG_VALID_FOR_DOMAIN
            tls_entry = {"server_name": host, "status": tls.failure is None, "failure": tls.failure}
        return endpoint(ip, port), tcp_entry, tls_entry

    async def resolve(name: str) -> tuple[list[str], str | None]:
        qs = await lookup(name, config.resolver, config.dns_timeout)
        return addresses(qs), shared_failure(qs)

    headers = [
        (name, values[0]) for name in HONOURED_HEADERS if (values := _header(req.http_request_headers, name))
    ]
    if not any(name == "User-Agent" for name, _ in headers):
        headers.append(("User-Agent", DEFAULT_USER_AGENT))
    settings = FetchSettings(
        body_cap=config.body_cap,
        timeout=config.http_timeout,
        chain_timeout=config.http_timeout,  # OONI's helper: one deadline for the whole chain
        cookies=True,
        max_redirects=GO_MAX_REDIRECTS - 1,  # Go stops at the 10th redirect response: 10 requests
        tls=ctx,
        allow_private=config.allow_private,
        headers=tuple(headers),
    )
    http_dialer = Dialer(config.tcp_timeout, config.routes)
    first = th_addrs if th_addrs else None
    results, hops = await asyncio.gather(
        asyncio.gather(*(connect(ip, port) for ip, port in eps)),
        fetch(req.http_request, http_dialer, settings, resolve, first),
    )
    final = hops[-1]
    if len(hops) >= GO_MAX_REDIRECTS and _redirects(final):
        # Go's client: "stopped after 10 redirects", an error with no response (OONI: unknown_error).
        final = replace(
            final,
            failure="unknown_failure: stopped after 10 redirects",
            code=None,
            body=b"",
            response_headers=(),
        )
    http_request: dict[str, Any] = {
        "body_length": len(final.body) if final.code is not None else -1,
        "discovered_h3_endpoint": discovered_h3_endpoint(final),
        "failure": th_http(final.failure, resolving=final.address is None) if final.failure else None,
        "title": page_title(final.body) if final.code is not None else "",
        "headers": go_map(_first_values(final.response_headers)),
        "status_code": final.code if final.code is not None else -1,
    }
    out: dict[str, Any] = {
        "tcp_connect": go_map({ep: tcp for ep, tcp, _ in results}),
        "tls_handshake": go_map({ep: tls for ep, _, tls in results if tls is not None}),
        "quic_handshake": {},
        "http_request": http_request,
        "http3_request": None,
        "dns": dns,
        "ip_info": go_map(ip_info),
    }
    if not out["tls_handshake"]:
        del out["tls_handshake"]
    if not ip_info:
        del out["ip_info"]
    return out


def discovered_h3_endpoint(hop: Hop) -> str:
    """oohelperd's ``discoverH3Server``: for an https response, the host joined with the port of the first
    ``;``-separated ``Alt-Svc`` part holding ``h3=`` (``h3=":443"`` → ``www.example.com:443``), else ""."""
    parts = urlsplit(hop.url)
    if parts.scheme.lower() != "https" or hop.code is None:
        return ""
    alt_svc = next((v for k, v in hop.response_headers if k.lower() == "alt-svc"), "")
    for entry in alt_svc.split(";"):
        if "h3=" in entry:
            pieces = entry.strip().split("=")
            if len(pieces) != 2:
                continue
            return (parts.hostname or "") + pieces[1].strip('"')
    return ""


def _redirects(hop: Hop) -> bool:
    has_location = any(k.lower() == "location" and v.strip() for k, v in hop.response_headers)
    return hop.failure is None and hop.code in REDIRECTS and has_location


def go_map(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A map in the order Go's JSON encoder writes one: keys sorted by their bytes."""
    return dict(sorted(mapping.items(), key=lambda item: item[0].encode()))


def _header(headers: Mapping[str, list[str]], name: str) -> list[str]:
    for key, values in headers.items():
        if key.lower() == name.lower():
            return [str(v)[:512] for v in values if isinstance(v, str)]
    return []


def _first_values(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(_canonical(name), value)
    return out


def _canonical(name: str) -> str:
    """Go's canonical header form (``content-type`` → ``Content-Type``), as the OONI helper reports it."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))

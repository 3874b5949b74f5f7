"""One web_connectivity measurement (test_keys in OONI's 0.5 layout) from the probe's vantage point.

DNS with the system or an explicit resolver, the control request (in parallel with the probe's own
connects), a TCP connect to every address, a TLS handshake with SNI on https, an SNI-blocking check when
that handshake fails, and an HTTP(S) GET following redirects with a body cap.  Network trouble becomes
failure strings in the keys; this module never raises for it.

The 0.5 layout (ALGORITHMS.md §2): every lookup, connect, handshake and request carries the
``transaction_id`` that ties them into endpoints and ``depth=N``/``fetch_body=true`` tags, so the 0.5
"classic" analysis (``analysis.web_connectivity.v05_classic``) reads the measurement as it reads a
probe-cli one.  The resolver the probe uses is its classic resolver: ``getaddrinfo`` (the system's) or
``golang_net_resolver`` (an explicit one, as Go's own resolver speaks to the configured server).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from netfreedom.models.decoding import DECODE_ERRORS
from netfreedom.probe.addresses import endpoint, is_ip
from netfreedom.probe.dnslookup import Query, addresses, lookup, shared_failure
from netfreedom.probe.failures import GENERIC_TIMEOUT, classify
from netfreedom.probe.httpclient import FetchSettings, Hop, fetch, port_of
from netfreedom.probe.netio import Dialer, TcpResult, TlsResult, tls_context

BODY_CAP = 524288  # the 0.5 probe's cap; body_is_truncated = len >= cap
# A control reply carries no bodies (lengths, titles, headers, a few dozen endpoints): a few kB.  1 MiB is far
# above any real one and bounds what a hostile control can make the probe hold.
MAX_CONTROL_REPLY = 1 << 20
# Real replies nest 4 levels; a deeper one is refused before it reaches the measurement (whose own JSON must
# stay far inside the decoders' recursion limit, see models.decoding).
MAX_CONTROL_DEPTH = 32
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.3"
)
REQUEST_HEADERS = (
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-US,en;q=0.9"),
    ("User-Agent", USER_AGENT),
)


# One address's TCP connect, TLS handshake (https) and SNI check (when the handshake failed).
Connected = tuple[TcpResult, TlsResult | None, dict[str, Any] | None]


@dataclass(frozen=True)
class ProbeSettings:
    control_url: str
    resolver: tuple[str, int] | None = None
    timeout: float = 10.0  # per step (DNS query, connect, handshake, one HTTP hop)
    control_timeout: float = 30.0  # the whole control exchange, not one read
    body_cap: int = BODY_CAP
    sni_control: str = "example.com"  # innocuous SNI for the SNI-blocking check
    ca_file: str | None = None
    routes: Mapping[str, str] = field(default_factory=dict)  # the censorship lab's address map only


def _body(data: bytes) -> str | dict[str, str]:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"format": "base64", "data": base64.b64encode(data).decode("ascii")}


# Transaction ids numbered as the 0.5 probe numbers them: classic lookups 10001+, cleartext endpoints 40001+,
# TLS endpoints 50001+.
DNS_TXID = 10001
_ENDPOINT_TXID = {False: 40001, True: 50001}
_ENGINES = {"system": "getaddrinfo", "udp": "golang_net_resolver"}


def _depth(n: int, *, fetch_body: bool = False) -> list[str]:
    return [f"depth={n}", "fetch_body=true"] if fetch_body else [f"depth={n}"]


def _query(q: Query) -> dict[str, Any]:
    answers = []
    for a in q.answers:
        entry: dict[str, Any] = {"answer_type": a.answer_type, "asn": 0, "as_org_name": "", "ttl": a.ttl}
        entry[{"A": "ipv4", "AAAA": "ipv6"}.get(a.answer_type, "hostname")] = a.value
        answers.append(entry)
    return {
        "answers": answers or None,
        "engine": _ENGINES.get(q.engine, q.engine),
        "failure": q.failure,
        "hostname": q.hostname,
        "query_type": q.query_type,
        "resolver_address": q.resolver_address,
        "resolver_hostname": None,
        "resolver_port": None,
        "t": round(q.t, 6),
        "tags": _depth(0),
        "transaction_id": DNS_TXID,  # one lookup (A and AAAA together), as the 0.5 probe's
    }


def _headers(pairs: tuple[tuple[str, str], ...]) -> tuple[dict[str, str], list[list[str]]]:
    first: dict[str, str] = {}
    for k, v in pairs:
        first.setdefault(k, v)
    return first, [[k, v] for k, v in pairs]


def _request(hop: Hop) -> dict[str, Any]:
    host = urlsplit(hop.url).netloc
    req_pairs = (("Host", host), *hop.request_headers)
    req_headers, req_list = _headers(req_pairs)
    response: dict[str, Any] | None = None
    if hop.code is not None:
        headers, headers_list = _headers(hop.response_headers)
        response = {
            "body": _body(hop.body),
            "body_is_truncated": hop.truncated,
            "code": hop.code,
            "headers": headers,
            "headers_list": headers_list,
        }
    return {
        "failure": hop.failure,
        "request": {
            "body": "",
            "body_is_truncated": False,
            "headers": req_headers,
            "headers_list": req_list,
            "method": "GET",
            "tor": {"exit_ip": None, "exit_name": None, "is_tor": False},
            "x_transport": "tcp",
            "url": hop.url,
        },
        "response": response,
        "t": round(hop.t, 6),
        "tags": None,
    }


def _tls(h: TlsResult) -> dict[str, Any]:
    certs = []
    if h.peer_certificate:
        certs.append({"format": "base64", "data": base64.b64encode(h.peer_certificate).decode("ascii")})
    return {
        "address": h.address,
        "server_name": h.server_name,
        "failure": h.failure,
        "cipher_suite": h.cipher,
        "negotiated_protocol": h.alpn,
        "tls_version": h.version,
        "no_tls_verify": False,
        "peer_certificates": certs,
        "t": round(h.t, 6),
        "tags": None,
    }


def _tcp(
    ip: str, port: int, failure: str | None, t: float, txid: int, *, blocked: bool = False
) -> dict[str, Any]:
    return {
        "ip": ip,
        "port": port,
        "status": {"blocked": blocked, "failure": failure, "success": failure is None},
        "t": round(t, 6),
        "tags": ["depth=0", "fetch_body=true"],
        "transaction_id": txid,
    }


def _fetched_endpoint(hop: Hop, depth: int, txid: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The connect (and handshake) the fetch made itself for ``hop``, as endpoint entries."""
    ip, _, port = (hop.address or "").rpartition(":")
    ip = ip.strip("[]")
    https = urlsplit(hop.url).scheme.lower() == "https"
    tcp_failure = None if hop.tcp_connected else hop.failure
    tcp = _tcp(ip, int(port) if port.isdigit() else 0, tcp_failure, hop.t, txid)
    tcp["tags"] = _depth(depth, fetch_body=True)
    if not https or not hop.tcp_connected:
        return tcp, None
    tls = {
        "address": hop.address,
        "server_name": urlsplit(hop.url).hostname or "",
        "failure": None if hop.connected else hop.failure,
        "cipher_suite": None,
        "negotiated_protocol": None,
        "tls_version": None,
        "no_tls_verify": False,
        "peer_certificates": [],
        "t": round(hop.t, 6),
        "tags": _depth(depth, fetch_body=True),
        "transaction_id": txid,
    }
    return tcp, tls


def _root_cause(exc: BaseException) -> BaseException:
    """The socket error under httpx's wrappers (chained as cause/context, or grouped by anyio)."""
    queue: list[BaseException] = [exc]
    for _ in range(50):
        if not queue:
            break
        item = queue.pop(0)
        if isinstance(item, OSError) and item.errno is not None:
            return item
        if isinstance(item, BaseExceptionGroup):
            queue.extend(item.exceptions)
        queue.extend(e for e in (item.__cause__, item.__context__) if e is not None)
    return exc


async def _control(
    client: httpx.AsyncClient, settings: ProbeSettings, request: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """POST the control request; (control, control_failure).

    The control server is trusted with neither memory nor time: the whole exchange (connect, request,
    every byte of the reply) has one deadline, ``control_timeout``, and the reply is read at most
    :data:`MAX_CONTROL_REPLY` bytes, uncompressed (``Accept-Encoding: identity``; a compressed reply is
    refused, so no bomb is inflated).  Either limit hit is a ``control_failure``."""
    try:
        async with asyncio.timeout(settings.control_timeout):
            return await _exchange(client, settings, request)
    except TimeoutError:
        return None, GENERIC_TIMEOUT
    except httpx.TimeoutException:
        return None, GENERIC_TIMEOUT
    except httpx.HTTPError as exc:
        return None, classify(_root_cause(exc))


async def _exchange(
    client: httpx.AsyncClient, settings: ProbeSettings, request: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    headers = {"Accept-Encoding": "identity"}
    async with client.stream(
        "POST", settings.control_url, json=request, headers=headers, timeout=settings.control_timeout
    ) as response:
        if response.status_code != 200:
            return None, "http_request_failed"
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            return None, f"unknown_failure: control reply with content-encoding {encoding[:40]}"
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > MAX_CONTROL_REPLY:
                return None, f"unknown_failure: control reply larger than {MAX_CONTROL_REPLY} bytes"
    try:
        control = msgspec.json.decode(body)
    except DECODE_ERRORS:
        return None, "json_parse_error"
    if not isinstance(control, dict) or _deeper_than(control, MAX_CONTROL_DEPTH):
        return None, "json_parse_error"
    return control, None


def _deeper_than(value: object, limit: int) -> bool:
    """Whether decoded JSON nests more than ``limit`` levels (iteratively: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def target_port(url: str) -> int:
    """The port the probe dials for ``url``: the explicit one (0 included: refused, never 80), else the
    scheme's; a port that is not a number falls back to the scheme's (the hop then reports the URL)."""
    parts = urlsplit(url)
    try:
        return port_of(parts)
    except ValueError:
        return 443 if parts.scheme.lower() == "https" else 80


async def measure(url: str, settings: ProbeSettings, client: httpx.AsyncClient) -> dict[str, Any]:
    """The raw test_keys of one web_connectivity measurement (summary keys are added by ``summary``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    port = target_port(url)
    dialer = Dialer(settings.timeout, settings.routes)

    queries = await lookup(host, settings.resolver, settings.timeout)
    addrs = [host] if is_ip(host) else addresses(queries)
    dns_failure = shared_failure(queries) if not is_ip(host) else None

    control_request = {
        "http_request": url,
        "http_request_headers": {k: [v] for k, v in REQUEST_HEADERS},
        "tcp_connect": [endpoint(ip, port) for ip in addrs],
    }
    https = scheme == "https"
    ctx = tls_context(ca_file=settings.ca_file)

    async def connect(ip: str) -> Connected:
        tcp = await dialer.tcp(ip, port, keep=https)
        if tcp.conn is None:
            return tcp, None, None
        tls = await dialer.tls(tcp.conn, endpoint(ip, port), host, ctx)
        if tls.conn is not None:
            tls.conn.close()
            return tcp, tls, None
        if (tls.failure or "").startswith("ssl_"):
            # A certificate problem is the server's (or a MITM's) answer, not a handshake cut off by name.
            return tcp, tls, None
        return tcp, tls, await _sni_check(ip, tls)

    async def _sni_check(ip: str, failed: TlsResult) -> dict[str, Any]:
        # Same address, an innocuous SNI: if that handshake completes, the target name is what was blocked.
        probe = await dialer.tcp(ip, port, keep=True)
        other: str | None = probe.failure
        if probe.conn is not None:
            plain = tls_context(verify=False)
            result = await dialer.tls(probe.conn, failed.address, settings.sni_control, plain)
            other = result.failure
            if result.conn is not None:
                result.conn.close()
        return {
            "address": failed.address,
            "target_sni": host,
            "target_failure": failed.failure,
            "control_sni": settings.sni_control,
            "control_failure": other,
            "sni_blocking": other is None,
        }

    async def resolve(name: str) -> tuple[list[str], str | None]:
        qs = await lookup(name, settings.resolver, settings.timeout)
        return addresses(qs), shared_failure(qs)

    async def probe_path() -> tuple[list[Connected], list[Hop]]:
        # The probe's own connects and GET do not need the control's answer: they run beside it.
        connects = await asyncio.gather(*(connect(ip) for ip in addrs))
        if not addrs:
            return connects, []
        reachable = [tcp.ip for tcp, _, _ in connects if tcp.failure is None]
        ordered = reachable + [ip for ip in addrs if ip not in reachable]
        fetch_settings = FetchSettings(
            body_cap=settings.body_cap, timeout=settings.timeout, tls=ctx, headers=REQUEST_HEADERS
        )
        return connects, await fetch(url, dialer, fetch_settings, resolve, ordered)

    (control, control_failure), (connects, hops) = await asyncio.gather(
        _control(client, settings, control_request), probe_path()
    )

    ctcp = (control or {}).get("tcp_connect") or {}
    txid = _ENDPOINT_TXID[https]
    tcp_connect: list[dict[str, Any]] = []
    tls_handshakes: list[dict[str, Any]] = []
    working: dict[str, int] = {}  # endpoint -> txid, where TCP (and TLS for https) succeeded
    measured = {endpoint(tcp.ip, tcp.port) for tcp, _, _ in connects}
    for tcp, tls, _ in connects:
        key = endpoint(tcp.ip, tcp.port)
        centry = ctcp.get(key) if isinstance(ctcp, dict) else None
        blocked = isinstance(centry, dict) and centry.get("failure") is None and tcp.failure is not None
        tcp_connect.append(_tcp(tcp.ip, tcp.port, tcp.failure, tcp.t, txid, blocked=blocked))
        if tls is not None:
            tls_handshakes.append({**_tls(tls), "transaction_id": txid, "tags": _depth(0, fetch_body=True)})
        if tcp.failure is None and (tls is None or tls.failure is None):
            working.setdefault(key, txid)
        txid += 1
    oldest_first = []
    for depth, hop in enumerate(hops):
        entry = _request(hop)
        known = working.get(hop.address or "") if depth == 0 else None
        if known is None:
            known, txid = txid, txid + 1
            # A GET on a connection the connect step did not measure (a redirect's host): its own endpoint,
            # as the 0.5 probe's.  A depth-0 GET where the connect step failed is left unattached: the
            # connect step's failure is the observation, as the 0.5 probe never GETs on a failed connect.
            if hop.address and (depth > 0 or (hop.address not in measured and hop.tcp_connected)):
                tcp_connect_, tls_ = _fetched_endpoint(hop, depth, known)
                tcp_connect.append(tcp_connect_)
                if tls_ is not None:
                    tls_handshakes.append(tls_)
        entry["transaction_id"], entry["tags"] = known, _depth(depth)
        oldest_first.append(entry)
    requests = list(reversed(oldest_first))  # newest first, as OONI does
    keys: dict[str, Any] = {
        "agent": "redirect",
        "client_resolver": settings.resolver[0] if settings.resolver else None,
        "retries": None,
        "socksproxy": None,
        "network_events": [],
        "queries": [_query(q) for q in queries],
        "dns_experiment_failure": dns_failure,
        "tcp_connect": tcp_connect,
        "tls_handshakes": tls_handshakes or None,
        "requests": requests,
        "http_experiment_failure": requests[0]["failure"] if requests else None,
        "control": control,
        "control_failure": control_failure,
        "x_control_request": control_request,
        "x_sni_blocking": [sni for _, _, sni in connects if sni is not None] or None,
    }
    return keys

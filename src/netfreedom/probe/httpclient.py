"""A small HTTP/1.1 GET client (h11 on asyncio streams) shared by the probe and the control.

Why not httpx: a measurement must dial the address *it* resolved (not re-resolve), record every redirect
hop with the address dialed, stop reading at a body cap, keep the socket error that ended a transfer as an
exact OONI failure string (reset vs EOF vs timeout), and enforce one deadline per hop so a server that
trickles a byte a second cannot hold a worker.  httpx hides all five behind its pool; h11 does the protocol
parsing (bounded header size) and this module only drives sockets.
"""

from __future__ import annotations

import asyncio
import email.message
import http.cookiejar
import ssl
import string
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import SplitResult, quote, urljoin, urlsplit

import h11

from netfreedom.probe.addresses import endpoint, is_bogon, parse_ip
from netfreedom.probe.failures import DNS_BOGON, EOF, GENERIC_TIMEOUT, classify
from netfreedom.probe.netio import Conn, Dialer

REDIRECTS = frozenset({301, 302, 303, 307, 308})

# host -> (addresses, failure); the probe and the control each bring their own resolver.
Resolve = Callable[[str], Awaitable[tuple[list[str], str | None]]]


@dataclass(frozen=True)
class Hop:
    """One request/response of a redirect chain."""

    url: str
    request_headers: tuple[tuple[str, str], ...]
    failure: str | None
    address: str | None = None
    code: int | None = None  # None: no response was received
    response_headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    truncated: bool = False
    t: float = 0.0
    connected: bool = False  # TCP (and TLS for https) to ``address`` succeeded: any failure came after
    tcp_connected: bool = False  # TCP to ``address`` succeeded (for https the handshake may then fail)


@dataclass
class _Progress:
    """How far a hop got, kept outside it so a hop cut by its deadline still says where it was."""

    address: str | None = None
    tcp_connected: bool = False
    connected: bool = False


@dataclass(frozen=True)
class FetchSettings:
    body_cap: int
    timeout: float  # one deadline per hop: connect + TLS + request + body
    tls: ssl.SSLContext
    max_redirects: int = 10
    allow_private: bool = True
    headers: tuple[tuple[str, str], ...] = field(default=())
    chain_timeout: float | None = None  # one deadline for the whole redirect chain as well (the control's)
    cookies: bool = False  # keep cookies across the redirect chain (a jar, as Go's client with one)


class _Malformed(Exception):
    pass


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def port_of(parts: SplitResult) -> int:
    """The port a URL names, else its scheme's; an explicit port 0 stays 0 (it is refused, never 80)."""
    return parts.port if parts.port is not None else _default_port(parts.scheme.lower())


def request_target(parts: SplitResult) -> str:
    """The request line's target, as Go's client writes it: what a request line cannot carry (a space,
    a tab, non-ASCII text) percent-encoded as UTF-8, everything else as given."""
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return quote(target, safe=string.punctuation)


def host_header(host: str, port: int | None) -> str:
    """The Host header (IDNA for a non-ASCII name); UnicodeError when the name cannot be one."""
    name = f"[{host}]" if ":" in host else host if host.isascii() else host.encode("idna").decode("ascii")
    return name if port is None else f"{name}:{port}"


async def _exchange(
    conn: Conn, target: str, host_header: str, headers: Sequence[tuple[str, str]], cap: int
) -> tuple[int, tuple[tuple[str, str], ...], bytes, bool, str | None]:
    """Send a GET and read the answer; returns (code, headers, body, truncated, failure)."""
    client = h11.Connection(h11.CLIENT)
    try:
        request = h11.Request(
            method="GET", target=target, headers=[("Host", host_header), *headers, ("Connection", "close")]
        )
        conn.writer.write(client.send(request) + (client.send(h11.EndOfMessage()) or b""))
    except (h11.LocalProtocolError, UnicodeError) as exc:  # what a request line or header cannot carry
        raise _Malformed(f"cannot send this request: {exc}") from exc
    code = -1
    got: tuple[tuple[str, str], ...] = ()
    body = bytearray()
    saw_eof = False
    try:
        await conn.writer.drain()
        while True:
            try:
                event = client.next_event()
            except h11.RemoteProtocolError as exc:
                if saw_eof:
                    return code, got, bytes(body), False, EOF
                raise _Malformed(f"malformed HTTP response: {exc}") from exc
            if event is h11.NEED_DATA:
                chunk = await conn.reader.read(65536)
                saw_eof = not chunk
                client.receive_data(chunk)
                continue
            if isinstance(event, h11.Response):
                code = event.status_code
                got = tuple(
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in event.headers.raw_items()
                )
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) >= cap:
                    return code, got, bytes(body[:cap]), True, None
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return code, got, bytes(body), False, None
    except _Malformed:
        raise
    except Exception as exc:
        return code, got, bytes(body), False, classify(exc)


async def _one_hop(
    url: str,
    dialer: Dialer,
    settings: FetchSettings,
    resolve: Resolve,
    addresses: list[str] | None,
    *,
    progress: _Progress,
) -> Hop:
    parts = urlsplit(url)
    headers = settings.headers
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in ("http", "https") or not host:
        return Hop(url, headers, f"unknown_failure: unsupported URL {scheme!r}", t=dialer.elapsed())
    try:
        port = port_of(parts)
        host_value = host_header(host, parts.port)
    except (ValueError, UnicodeError) as exc:  # a redirect to a bad port or a name IDNA refuses
        return Hop(url, headers, f"unknown_failure: unsupported URL ({exc})", t=dialer.elapsed())
    if parse_ip(host) is not None:
        addrs = [host]
    elif addresses is not None:
        addrs = addresses
    else:
        addrs, dns_failure = await resolve(host)
        if dns_failure is not None and not addrs:
            return Hop(url, headers, dns_failure, t=dialer.elapsed())
    if not settings.allow_private:
        # Checked on every hop, so a redirect cannot lead the dialer into a private network.
        addrs = [a for a in addrs if not is_bogon(a)]
        if not addrs:
            return Hop(url, headers, DNS_BOGON, t=dialer.elapsed())
    if not addrs:
        return Hop(url, headers, "dns_no_answer", t=dialer.elapsed())
    failure: str | None = None
    conn: Conn | None = None
    address = None
    try:
        for ip in addrs:
            address = progress.address = endpoint(ip, port)
            progress.tcp_connected = False
            tcp = await dialer.tcp(ip, port, keep=True)
            if tcp.conn is None:
                failure = tcp.failure
                continue
            progress.tcp_connected = True
            conn = tcp.conn
            if scheme == "https":
                tls = await dialer.tls(conn, address, host, settings.tls)
                if tls.conn is None:
                    failure, conn = tls.failure, None
                    continue
            break
        if conn is None:
            reached = progress.tcp_connected
            return Hop(url, headers, failure, address, t=dialer.elapsed(), tcp_connected=reached)
        progress.connected = True
        try:
            code, got, body, truncated, failure = await _exchange(
                conn, request_target(parts), host_value, headers, settings.body_cap
            )
        except _Malformed as exc:
            failed = f"unknown_failure: {exc}"
            return Hop(url, headers, failed, address, t=dialer.elapsed(), connected=True, tcp_connected=True)
    finally:
        # Also on cancellation (the hop deadline): never leak a socket.
        if conn is not None:
            conn.close()
    return Hop(
        url,
        headers,
        failure,
        address,
        code if code >= 0 else None,
        got,
        body,
        truncated,
        dialer.elapsed(),
        connected=True,
        tcp_connected=True,
    )


class _Headers:
    """A response as ``http.cookiejar`` reads one: ``info()`` gives its headers."""

    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self._message = email.message.Message()
        for name, value in pairs:
            self._message[name] = value

    def info(self) -> email.message.Message:
        return self._message


def _with_cookies(settings: FetchSettings, jar: http.cookiejar.CookieJar, url: str) -> FetchSettings:
    """The settings for a hop to ``url``: its headers plus the jar's ``Cookie`` for that URL, if any."""
    request = urllib.request.Request(url)
    jar.add_cookie_header(request)
    cookie = request.get_header("Cookie")
    if not cookie:
        return settings
    return replace(settings, headers=(*settings.headers, ("Cookie", cookie)))


async def fetch(
    url: str,
    dialer: Dialer,
    settings: FetchSettings,
    resolve: Resolve,
    first_addresses: list[str] | None = None,
) -> list[Hop]:
    """GET ``url`` following redirects; the hops oldest first.  Never raises for network trouble."""
    hops: list[Hop] = []
    addresses = first_addresses
    loop = asyncio.get_running_loop()
    chain_end = None if settings.chain_timeout is None else loop.time() + settings.chain_timeout
    jar = http.cookiejar.CookieJar() if settings.cookies else None
    while True:
        progress = _Progress()
        deadline = loop.time() + settings.timeout
        if chain_end is not None:
            deadline = min(deadline, chain_end)
        hop_settings = settings if jar is None else _with_cookies(settings, jar, url)
        try:
            async with asyncio.timeout_at(deadline):
                hop = await _one_hop(url, dialer, hop_settings, resolve, addresses, progress=progress)
        except TimeoutError:
            hop = Hop(
                url,
                settings.headers,
                GENERIC_TIMEOUT,
                progress.address,
                t=dialer.elapsed(),
                connected=progress.connected,
                tcp_connected=progress.tcp_connected,
            )
        hops.append(hop)
        addresses = None
        if jar is not None and hop.response_headers:
            jar.extract_cookies(_Headers(hop.response_headers), urllib.request.Request(url))  # type: ignore[arg-type]
        if hop.failure is not None or hop.code not in REDIRECTS:
            return hops
        location = next((v for k, v in hop.response_headers if k.lower() == "location"), None)
        if not location or len(hops) > settings.max_redirects:
            return hops
        url = urljoin(url, location.strip())

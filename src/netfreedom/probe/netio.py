"""TCP connects and TLS handshakes that return a failure string instead of raising.

Every operation has a deadline; every failure is classified into an OONI string (``failures``).  A
``Dialer`` may carry *routes* (``ip:port`` → ``ip:port``): the censorship lab maps its "public" addresses to
loopback listeners, a different map for the probe (through the censor) and the control (unfiltered).  A
dialer with routes is *confined*: an endpoint without a route is never dialed (``network_unreachable``), so
a lab run cannot leak a packet off the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from netfreedom.probe.addresses import endpoint, split_endpoint
from netfreedom.probe.failures import EOF, classify


@dataclass
class Conn:
    """An open (possibly TLS) connection; ``close`` is idempotent and never raises."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        # Closing a broken transport may raise; the connection is gone either way.
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass(frozen=True)
class TcpResult:
    ip: str
    port: int
    failure: str | None
    t: float
    conn: Conn | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TlsResult:
    address: str
    server_name: str
    failure: str | None
    t: float
    version: str = ""
    cipher: str = ""
    alpn: str = ""
    peer_certificate: bytes | None = None
    conn: Conn | None = field(default=None, compare=False)


@functools.cache
def tls_context(*, verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
    """A client context, built once per setting: loading the CA store costs ~80 ms of CPU, which would
    otherwise stall the event loop on every measurement.  Contexts are safe to share between connections."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def tls_failure(exc: BaseException) -> str:
    """The failure of a TLS handshake.  asyncio reports a peer that closed the connection cleanly (a FIN)
    mid-handshake as a bare ``ConnectionResetError()`` with no errno; OONI (Go's ``io.EOF``) calls that
    ``eof_error``.  A real reset (an RST) carries ``ECONNRESET`` and stays ``connection_reset``."""
    if type(exc) is ConnectionResetError and exc.errno is None and not exc.args:
        return EOF
    return classify(exc)


@dataclass(frozen=True)
class Dialer:
    timeout: float
    routes: Mapping[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _target(self, ip: str, port: int) -> tuple[str, int]:
        routed = self.routes.get(endpoint(ip, port))
        if routed is not None:
            parsed = split_endpoint(routed)
            if parsed is not None:
                return parsed
        return ip, port

    async def tcp(self, ip: str, port: int, *, keep: bool = False) -> TcpResult:
        """Connect; with ``keep`` the open connection is returned for a TLS handshake or request."""
        if self.routes and endpoint(ip, port) not in self.routes:
            return TcpResult(ip, port, "network_unreachable", self.elapsed())
        host, real_port = self._target(ip, port)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                await loop.sock_connect(sock, (host, real_port))
                reader, writer = await asyncio.open_connection(sock=sock, limit=65536)
        except BaseException as exc:
            sock.close()
            if not isinstance(exc, Exception):
                raise
            return TcpResult(ip, port, classify(exc), self.elapsed())
        conn = Conn(reader, writer)
        if not keep:
            conn.close()
            return TcpResult(ip, port, None, self.elapsed())
        return TcpResult(ip, port, None, self.elapsed(), conn)

    async def tls(self, conn: Conn, address: str, server_name: str, ctx: ssl.SSLContext) -> TlsResult:
        """Handshake over an open TCP connection with ``server_name`` as SNI (and for verification)."""
        try:
            async with asyncio.timeout(self.timeout):
                await conn.writer.start_tls(ctx, server_hostname=server_name)
        except Exception as exc:
            conn.close()
            return TlsResult(address, server_name, tls_failure(exc), self.elapsed())
        obj = conn.writer.get_extra_info("ssl_object")
        version = cipher = alpn = ""
        cert: bytes | None = None
        if isinstance(obj, ssl.SSLObject):
            version = obj.version() or ""
            c = obj.cipher()
            cipher = c[0] if c else ""
            alpn = obj.selected_alpn_protocol() or ""
            cert = obj.getpeercert(binary_form=True)
        return TlsResult(address, server_name, None, self.elapsed(), version, cipher, alpn, cert, conn)

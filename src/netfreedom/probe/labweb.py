"""The lab's web servers and censor middleboxes, each a small asyncio TCP server with one behaviour.

``Behaviour`` is the closed set: an honest multi-site web server (pages chosen by the Host header), a
middlebox that resets, one that accepts and never answers, one that never accepts, a port where nothing
listens (refused), one serving a blockpage for every request, one serving a different page (http-diff),
a DPI middlebox that resets TLS connections whose ClientHello carries a blocked name (and relays the
others to the real site), and two hostile servers (a body trickled byte by byte, an endless body).
Any behaviour that answers HTTP can also speak TLS (``tls=`` a server context).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import socket
import ssl
import struct
from enum import StrEnum

# The blockpage carries the body pattern of OONI fingerprint ooni.be_0 (scope "nat", so a match is
# confirmed whatever the probe's country): the analysis fingerprint layer must recognise it.
BLOCKPAGE_PATTERN = "that is considered illegal according to Belgian legislation"


class Behaviour(StrEnum):
    SITE = "site"
    RESET = "reset"
    HANG = "hang"
    DROP = "drop"
    REFUSE = "refuse"
    BLOCKPAGE = "blockpage"
    DIFF = "diff"
    TRICKLE = "trickle"
    ENDLESS = "endless"
    SNI_FILTER = "sni_filter"  # DPI: reset when the ClientHello names a blocked host, else pass through


def site_page(host: str) -> bytes:
    name = html.escape(host)
    return (
        f"<!doctype html><html><head><title>Lab site {name}: independent reporting and commentary</title>"
        f"</head><body><h1>{name}</h1>"
        + "<p>Reporting from the censorship lab. Nothing here is real.</p>" * 40
        + "</body></html>"
    ).encode()


BLOCKPAGE = (
    "<html><head><title>Access restricted</title></head><body><p>Access to this website has been "
    f"restricted because it hosts content {BLOCKPAGE_PATTERN}.</p></body></html>"
).encode()

REDIRECT_PATH = "/moved"  # on the real site: 302 to "/"

DIFF_PAGE = b"<html><head><title>Forbidden</title></head><body>Denied</body></html>"


def _response(status: str, body: bytes, headers: list[tuple[str, str]]) -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body


async def _read_head(reader: asyncio.StreamReader) -> dict[str, str] | None:
    """Read a request head (≤16 KiB, 5 s); its headers lower-cased, None if the client went away."""
    try:
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    fields: dict[str, str] = {":path": parts[1] if len(parts) > 1 else "/"}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the kernel sends RST, as a censor's middlebox does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


class WebServer:
    """One behaviour on ``host`` (random port); start inside the lab's event loop."""

    def __init__(
        self,
        host: str,
        behaviour: Behaviour,
        *,
        tls: ssl.SSLContext | None = None,
        upstream: str = "",
        blocked_name: str = "",
    ) -> None:
        self.host = host
        self.behaviour = behaviour
        self.tls = tls
        self.upstream = upstream
        self.blocked_name = blocked_name.encode()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        if self.behaviour is Behaviour.REFUSE:
            # Bound but not listening: the port stays ours and every SYN is answered with RST.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((self.host, 0))
            self._sockets.append(sock)
            self.port = sock.getsockname()[1]
            return
        if self.behaviour is Behaviour.DROP:
            self._start_drop()
            return
        self._server = await asyncio.start_server(self._client, self.host, 0, limit=16384, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    def _start_drop(self) -> None:
        # A listener that never accepts, its accept queue filled by our own connections: further SYNs
        # are dropped by the kernel, so a client's connect hangs until its own deadline.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self.host, 0))
        sock.listen(0)
        self._sockets.append(sock)
        self.port = sock.getsockname()[1]
        for _ in range(3):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError, OSError):
                filler.connect((self.host, self.port))
            self._sockets.append(filler)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if self.behaviour is Behaviour.SNI_FILTER:
                await self._filter(reader, writer)
            else:
                await self._serve(reader, writer)
        except (ConnectionError, OSError, TimeoutError):
            pass  # the client left: normal for a censor and for hostile servers
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _filter(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(5):
            hello = await reader.read(16384)
        if not hello:
            return
        if self.blocked_name in hello:  # the SNI travels in clear in the ClientHello
            _reset(writer)
            return
        host, _, port = self.upstream.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        up_writer.write(hello)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_head(reader)
        if head is None:
            return
        b = self.behaviour
        if b is Behaviour.RESET:
            _reset(writer)
            return
        if b is Behaviour.HANG:
            await reader.read()  # until the client gives up
            return
        if b is Behaviour.TRICKLE:
            writer.write(_response("200 OK", b"", [("Content-Length", "1000000")]))
            for _ in range(1_000_000):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.05)
            return
        if b is Behaviour.ENDLESS:
            writer.write(_response("200 OK", b"", [("Content-Type", "text/plain"), ("Connection", "close")]))
            chunk = b"endless " * 8192
            while True:
                writer.write(chunk)
                await writer.drain()
        if b is Behaviour.BLOCKPAGE:
            # Close-delimited, no Content-Length: headers differ from the real site's, as real ones do.
            headers = [("Content-Type", "text/html"), ("Server", "censor")]
            writer.write(_response("200 OK", BLOCKPAGE, headers))
        elif b is Behaviour.DIFF:
            headers = [("Content-Type", "text/html"), ("Content-Length", str(len(DIFF_PAGE)))]
            writer.write(_response("403 Forbidden", DIFF_PAGE, headers))
        elif head[":path"] == REDIRECT_PATH:
            # The site's own redirect (to its front page): the probe must record both hops, newest first.
            writer.write(_response("302 Found", b"", [("Location", "/"), ("Content-Length", "0")]))
        else:
            host = head.get("host", "").rsplit(":", 1)[0].strip("[]").lower()
            body = site_page(host)
            headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("X-Lab-Site", host),
                ("Server", "netfreedom-lab"),
            ]
            writer.write(_response("200 OK", body, headers))
        await writer.drain()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for sock in self._sockets:
            sock.close()

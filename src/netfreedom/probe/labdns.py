"""The lab's DNS server (dnspython messages over asyncio UDP and TCP), with one zone per server.

A zone maps a name to its IPv4 addresses or to ``NXDOMAIN``; unknown names are NXDOMAIN too.  With
``garbage=True`` the server answers every query with bytes that are not DNS (keeping the query id, so a
client cannot simply discard them as unrelated) — a hostile resolver for the probe's tests.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Mapping

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

NXDOMAIN = "NXDOMAIN"
Zone = Mapping[str, "list[str] | str"]


def respond(wire: bytes, zone: Zone, *, garbage: bool = False) -> bytes | None:
    """The reply to one DNS query in wire format; None for input that is not a query at all."""
    if garbage:
        return wire[:2] + os.urandom(29) if len(wire) >= 2 else None
    try:
        query = dns.message.from_wire(wire)
    except Exception:  # not DNS: a real server drops it
        return None
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.RA
    if not query.question:
        reply.set_rcode(dns.rcode.FORMERR)
        return reply.to_wire()
    question = query.question[0]
    name = question.name.to_text().rstrip(".").lower()
    entry = zone.get(name)
    if entry is None or entry == NXDOMAIN:
        reply.set_rcode(dns.rcode.NXDOMAIN)
    elif question.rdtype == dns.rdatatype.A and not isinstance(entry, str):
        reply.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "A", list(entry)))
    return reply.to_wire()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone, garbage: bool) -> None:
        self.zone = zone
        self.garbage = garbage
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint gets a datagram transport

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        out = respond(data, self.zone, garbage=self.garbage)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


class DnsServer:
    """UDP and TCP on the same ``ip:port``; start with :meth:`start` inside the lab's event loop."""

    def __init__(self, host: str, zone: Zone, *, garbage: bool = False) -> None:
        self.host = host
        self.zone = zone
        self.garbage = garbage
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Same port for TCP and UDP: take a free TCP port, then bind UDP to it (retry on the rare clash).
        for _ in range(20):
            tcp = await asyncio.start_server(self._tcp_client, self.host, 0)
            port = tcp.sockets[0].getsockname()[1]
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Udp(self.zone, self.garbage), local_addr=(self.host, port)
                )
            except OSError:
                tcp.close()
                continue
            self._tcp, self._udp, self.port = tcp, transport, port
            return
        raise OSError(f"no free port for a DNS server on {self.host}")

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (size,) = struct.unpack("!H", await reader.readexactly(2))
                out = respond(await reader.readexactly(size), self.zone, garbage=self.garbage)
                if out is None:
                    break
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

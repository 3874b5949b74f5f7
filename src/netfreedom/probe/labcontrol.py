"""Hostile control servers: what a probe must survive from the test helper it trusts (tests and bench).

One listener on loopback, in a thread of its own; the request path picks the behaviour (``url(behaviour)``):

- ``huge``: a 1 GB reply with a Content-Length, sent as fast as the probe reads it;
- ``endless``: a chunked reply that never ends;
- ``slow``: a valid reply, status line included, one byte every ``interval`` seconds;
- ``compressed``: ``Content-Encoding: gzip`` whatever the probe asked for (a 1 GB bomb in ~1 MB);
- ``deep``: a small reply nested 100,000 levels deep;
- ``ok``: a valid, empty-handed control reply (every step failed), for comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import threading
from enum import StrEnum
from typing import Any

import msgspec

GIGABYTE = 1_000_000_000
OK_REPLY = msgspec.json.encode(
    {
        "tcp_connect": {},
        "http_request": {
            "body_length": -1,
            "failure": "connection_refused_error",
            "title": "",
            "headers": {},
            "status_code": -1,
        },
        "dns": {"failure": None, "addrs": []},
    }
)


class ControlBehaviour(StrEnum):
    HUGE = "huge"
    ENDLESS = "endless"
    SLOW = "slow"
    COMPRESSED = "compressed"
    DEEP = "deep"
    OK = "ok"


def _head(status: str, headers: list[tuple[str, str]]) -> bytes:
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()


class HostileControl:
    """Every :class:`ControlBehaviour` on ``host`` (a random port); a context manager."""

    def __init__(self, host: str = "127.0.0.1", *, interval: float = 1.0) -> None:
        self.host = host
        self.port = 0
        self.interval = interval
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hostile-control", daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bomb = b""

    def url(self, behaviour: ControlBehaviour) -> str:
        return f"http://{self.host}:{self.port}/{behaviour.value}"

    def __enter__(self) -> HostileControl:
        # 16 MiB of zeros gzip to ~16 KB; 64 concatenated members are a gigabyte once inflated.
        self._bomb = gzip.compress(b"\0" * (16 << 20), compresslevel=9) * 64
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip() or 0)
                await reader.readexactly(length)
            path = head.split(b" ", 2)[1].decode("latin-1").strip("/")
            await self._answer(ControlBehaviour(path), writer)
        except (ConnectionError, OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            pass  # the probe gave up (as it should) or sent something else
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _answer(self, behaviour: ControlBehaviour, writer: asyncio.StreamWriter) -> None:
        json = ("Content-Type", "application/json")
        if behaviour is ControlBehaviour.HUGE:
            writer.write(_head("200 OK", [json, ("Content-Length", str(GIGABYTE))]) + b'{"x":"')
            chunk = b"a" * (1 << 16)
            for _ in range(GIGABYTE // len(chunk)):
                writer.write(chunk)
                await writer.drain()
        elif behaviour is ControlBehaviour.ENDLESS:
            writer.write(_head("200 OK", [json, ("Transfer-Encoding", "chunked")]))
            chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
            while True:
                writer.write(chunk)
                await writer.drain()
        elif behaviour is ControlBehaviour.SLOW:
            reply = _head("200 OK", [json, ("Content-Length", str(len(OK_REPLY)))]) + OK_REPLY
            for byte in reply:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(self.interval)
        elif behaviour is ControlBehaviour.COMPRESSED:
            headers = [json, ("Content-Encoding", "gzip"), ("Content-Length", str(len(self._bomb)))]
            writer.write(_head("200 OK", headers) + self._bomb)
        elif behaviour is ControlBehaviour.DEEP:
            body = b"[" * 100_000 + b"]" * 100_000
            writer.write(_head("200 OK", [json, ("Content-Length", str(len(body)))]) + body)
        else:
            writer.write(_head("200 OK", [json, ("Content-Length", str(len(OK_REPLY)))]) + OK_REPLY)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

"""Serving the API with uvicorn, with limits against clients that hold connections open.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but never times out a request whose
headers arrive slowly: 800 connections trickling a header byte at a time were all held for 30 s and more.
:class:`GuardedH11` closes a connection whose request head is not complete ``HEADER_TIMEOUT`` seconds after
the connection opened (or after the previous response); the head itself is capped at 16 KiB by h11.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0  # seconds for a whole request head, however it trickles in
KEEP_ALIVE = 5  # seconds an idle keep-alive connection is kept (uvicorn's default, stated)
MAX_HEAD = 16 * 1024  # bytes of request line and headers (h11's default, stated)


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request head."""

    header_timeout = HEADER_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_overdue)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        # IDLE: no complete request head yet in this cycle (a request being answered is not IDLE).
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any, *, header_timeout: float = HEADER_TIMEOUT, **options: Any) -> uvicorn.Config:
    """A uvicorn configuration for ``app`` with the limits above (``options`` go to ``uvicorn.Config``)."""
    protocol = type("GuardedH11", (GuardedH11,), {"header_timeout": header_timeout})
    return uvicorn.Config(
        app,
        http=protocol,
        timeout_keep_alive=KEEP_ALIVE,
        h11_max_incomplete_event_size=MAX_HEAD,
        **options,
    )

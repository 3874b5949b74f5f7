"""Run an ASGI app with uvicorn: in the foreground (the CLI) or on a background thread (lab, tests, bench)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one (read it back with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


def _server(app: Any, log_level: str, tls: tuple[str, str] | None = None) -> Any:
    import uvicorn

    cert, key = tls if tls is not None else (None, None)
    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="off", ssl_certfile=cert, ssl_keyfile=key
    )
    return uvicorn.Server(config)


def serve(
    app: Any, host: str, port: int, *, log_level: str = "info", tls: tuple[str, str] | None = None
) -> None:
    """Serve until interrupted; over HTTPS with ``tls`` = (certificate chain file, key file), PEM."""
    sock = bind(host, port)
    _server(app, log_level, tls).run(sockets=[sock])


class BackgroundServer:
    """An ASGI app served on a thread; ``url`` is where it listens, ``stop()`` ends it."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = bind(host, port)
        bound_host, bound_port = self._sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}/"
        self._server = _server(app, "warning")
        self._server.install_signal_handlers = lambda: None
        self._thread = threading.Thread(target=self._run, name="netfreedom-asgi", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

"""The API server does not let clients that send their request head slowly hold connections (issue #16):
uvicorn with ``web.server.server_config`` closes each after its head deadline while serving others."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from netfreedom.probe.serving import bind
from netfreedom.web import create_app
from netfreedom.web.server import server_config

from ._report_data import SAMPLE_LISTS, sample_verdicts, write_verdicts

HEAD_DEADLINE = 1.0
SLOW = 60  # trickling connections


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    db = tmp_path_factory.mktemp("slow") / "store.duckdb"
    write_verdicts(db, sample_verdicts(20), SAMPLE_LISTS)
    sock = bind("127.0.0.1", 0)
    config = server_config(create_app(db), header_timeout=HEAD_DEADLINE, log_level="warning", lifespan="off")
    running = uvicorn.Server(config)
    running.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=lambda: asyncio.run(running.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not running.started:
        time.sleep(0.01)
    yield sock.getsockname()[:2]
    running.should_exit = True
    thread.join(timeout=10)
    sock.close()


def trickle(address: tuple[str, int], closed: list[float], stop: threading.Event) -> None:
    """Send a request head a byte every 0.2 s (never finishing it); note when the server closes."""
    started = time.monotonic()
    head = b"GET /api/v1/measurements HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 1000
    with socket.create_connection(address) as conn:
        conn.settimeout(0.2)
        for byte in head:
            if stop.is_set():
                return
            try:
                conn.sendall(bytes([byte]))
                if conn.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        closed.append(time.monotonic() - started)


def test_slow_request_heads_are_closed_and_others_served(server: tuple[str, int]) -> None:
    closed: list[float] = []
    stop = threading.Event()
    threads = [threading.Thread(target=trickle, args=(server, closed, stop)) for _ in range(SLOW)]
    for t in threads:
        t.start()
    try:
        answer = httpx.get(f"http://{server[0]}:{server[1]}/api/v1/measurements", timeout=30)
        assert answer.status_code == 200  # served while the trickling connections are open
    finally:
        for t in threads:
            t.join(timeout=60)  # a held connection would trickle its 1,000+ bytes for 200 s
        stop.set()
    assert len(closed) == SLOW  # every one closed by the server, long before its head was complete


def test_an_idle_connection_that_never_speaks_is_closed(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as conn:
        conn.settimeout(30)
        assert conn.recv(1) == b""  # closed by the server (was: held until the client gave up)


def test_the_cli_serves_with_these_limits() -> None:
    source = (Path(__file__).resolve().parents[1] / "src/netfreedom/cli/serve.py").read_text()
    assert "server_config(" in source and "uvicorn.Config(" not in source

"""The censorship lab: a small world on loopback where the probe meets a censor and the control does not.

Every server listens on its own ``127.0.0.x`` address and a random port, and every lab URL carries its
port explicitly, so the probe and the control resolve and dial the same ``ip:port``.  The censor sits on the
probe's path only:

- DNS: the probe asks the *censored* resolver, the control the *honest* one (same zone but for the
  censored names, which answer NXDOMAIN or an injected address).
- TCP/HTTP: a censored site's public address is a middlebox (refuse, drop, reset, blockpage, other page).
  The control's dialer gets the lab's *routes*, mapping each middlebox ``ip:port`` to the real site, which
  is what an unfiltered network would reach.
- A site that is down everywhere has no route: the control fails too.

Use it from tests as a context manager (``with Lab() as lab``), or run ``netfreedom lab``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from netfreedom.probe.control import ControlConfig
from netfreedom.probe.control_server import create_app
from netfreedom.probe.labdns import NXDOMAIN, DnsServer
from netfreedom.probe.labweb import Behaviour, WebServer
from netfreedom.probe.serving import BackgroundServer

T = TypeVar("T")
DOMAIN = "lab.test"


@dataclass(frozen=True)
class LabCase:
    """One lab URL and the verdict a correct analysis gives it."""

    name: str
    url: str
    expected: str  # ok, dns, tcp, http-failure, http-diff, blockpage, down
    category_code: str = "NEWS"


class Lab:
    """Start with ``start()`` (or ``with``); everything stops with ``stop()``.

    ``net`` picks the first three octets of the loopback addresses (``127.0.0`` by default), so two labs
    can run side by side on ``127.0.1`` and ``127.0.2``.
    """

    def __init__(self, net: str = "127.0.0", *, with_control: bool = True) -> None:
        self.net = net
        self.with_control = with_control
        self.cases: list[LabCase] = []
        self.hostile: dict[str, str] = {}
        self.routes: dict[str, str] = {}
        self.control_url = ""
        self.censored_dns: DnsServer
        self.honest_dns: DnsServer
        self.garbage_dns: DnsServer
        self._web: list[WebServer] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="netfreedom-lab", daemon=True)
        self._control: BackgroundServer | None = None

    def ip(self, last: int) -> str:
        return f"{self.net}.{last}"

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _web_server(self, last: int, behaviour: Behaviour) -> WebServer:
        server = WebServer(self.ip(last), behaviour)
        await server.start()
        self._web.append(server)
        return server

    async def _build(self) -> None:
        site = await self._web_server(10, Behaviour.SITE)
        honest: dict[str, list[str] | str] = {}
        censored: dict[str, list[str] | str] = {}

        def add(
            name: str,
            expected: str,
            server: WebServer,
            *,
            probe_dns: list[str] | str | None = None,
            routed: bool = True,
        ) -> None:
            host = f"{name}.{DOMAIN}"
            honest[host] = [server.host]
            censored[host] = probe_dns if probe_dns is not None else [server.host]
            if routed and server is not site:
                self.routes[server.address] = site.address
            self.cases.append(LabCase(name, f"http://{host}:{server.port}/", expected))

        add("ok", "ok", site)
        add("dns-nxdomain", "dns", site, probe_dns=NXDOMAIN)
        # Injection: the censored resolver answers an address where nothing listens on the site's port.
        add("dns-inject", "dns", site, probe_dns=[self.ip(66)])
        add("tcp-refused", "tcp", await self._web_server(11, Behaviour.REFUSE))
        add("tcp-drop", "tcp", await self._web_server(12, Behaviour.DROP))
        add("http-reset", "http-failure", await self._web_server(13, Behaviour.RESET))
        add("http-hang", "http-failure", await self._web_server(14, Behaviour.HANG))
        add("http-diff", "http-diff", await self._web_server(15, Behaviour.DIFF))
        add("blockpage", "blockpage", await self._web_server(16, Behaviour.BLOCKPAGE))
        add("down", "down", await self._web_server(17, Behaviour.REFUSE), routed=False)
        for name, behaviour, last in (("trickle", Behaviour.TRICKLE, 18), ("endless", Behaviour.ENDLESS, 19)):
            server = await self._web_server(last, behaviour)
            honest[f"{name}.{DOMAIN}"] = censored[f"{name}.{DOMAIN}"] = [server.host]
            self.hostile[name] = f"http://{name}.{DOMAIN}:{server.port}/"
        self.hostile["drop"] = next(c.url for c in self.cases if c.name == "tcp-drop")

        self.censored_dns = DnsServer(self.ip(53), censored)
        self.honest_dns = DnsServer(self.ip(54), honest)
        self.garbage_dns = DnsServer(self.ip(55), {}, garbage=True)
        for dns in (self.censored_dns, self.honest_dns, self.garbage_dns):
            await dns.start()

    def start(self) -> Lab:
        self._thread.start()
        self._run(self._build())
        if self.with_control:
            self._control = BackgroundServer(create_app(self.control_config()), self.ip(3))
            self.control_url = self._control.url
        return self

    def control_config(self, **overrides: Any) -> ControlConfig:
        """The control the lab runs: honest DNS, private addresses allowed, the unfiltered routes."""
        settings: dict[str, Any] = {
            "resolver": (self.honest_dns.host, self.honest_dns.port),
            "allow_private": True,
            "dns_timeout": 2.0,
            "tcp_timeout": 2.0,
            "http_timeout": 4.0,
            "body_cap": 256 * 1024,
            "routes": dict(self.routes),
        }
        settings.update(overrides)
        return ControlConfig(**settings)

    @property
    def probe_resolver(self) -> str:
        return self.censored_dns.address

    def test_list(self) -> str:
        """The lab's cases as a Citizen Lab test list (CSV text)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["url", "category_code", "category_description", "date_added", "source", "notes"])
        for case in self.cases:
            writer.writerow([case.url, case.category_code, "News Media", "2026-01-01", "lab", case.expected])
        return out.getvalue()

    def write_test_list(self, path: Path) -> Path:
        path.write_text(self.test_list(), encoding="utf-8")
        return path

    def stop(self) -> None:
        if self._control is not None:
            self._control.stop()

        async def close() -> None:
            for server in self._web:
                server.close()
            for dns in (self.censored_dns, self.honest_dns, self.garbage_dns):
                dns.close()
            await asyncio.sleep(0)

        if self._thread.is_alive():
            self._run(close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

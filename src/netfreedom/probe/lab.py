"""The censorship lab: a small world on loopback where the probe meets a censor and the control does not.

The lab's sites have "public" addresses in 192.88.99.0/24 (the retired 6to4 relay anycast block: globally
routable, so analysis treats them as ordinary internet addresses, and nobody's service) on port 80; each
address:port is *routed* to a listener on a ``127.0.0.x`` loopback address with a random port.  There are
two route maps, and every lab dialer is confined to its map (an unrouted address is never dialed):

- the probe's routes lead through the censor: a censored site's address reaches a middlebox (refuse, drop,
  reset, hang, blockpage, other page) instead of the site;
- the control's routes are the unfiltered network: every site's address reaches the real site.

DNS is split the same way: the probe asks the *censored* resolver (NXDOMAIN, an injected address, a bogon
for censored names), the control the *honest* one.  A site that is down everywhere is routed to a closed
port in both maps.  Use it from tests as a context manager (``with Lab() as lab``), or run ``netfreedom lab``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from netfreedom.probe.control import ControlConfig
from netfreedom.probe.control_server import create_app
from netfreedom.probe.labdns import NXDOMAIN, DnsServer
from netfreedom.probe.labweb import Behaviour, WebServer
from netfreedom.probe.measure import ProbeSettings
from netfreedom.probe.serving import BackgroundServer

T = TypeVar("T")
DOMAIN = "lab.test"
PUBLIC_NET = "192.88.99"
BOGON_ANSWER = "10.10.34.36"  # what some censors inject; the lab's dialers never dial it (no route)


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
        self.probe_routes: dict[str, str] = {}
        self.control_routes: dict[str, str] = {}
        self.control_url = ""
        self.censored_dns: DnsServer
        self.honest_dns: DnsServer
        self.garbage_dns: DnsServer
        self._web: list[WebServer] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="netfreedom-lab", daemon=True)
        self._control: BackgroundServer | None = None
        self._tls_context: ssl.SSLContext | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: str | None = None  # the lab's self-signed CA, trusted by the lab's probe and control

    def ip(self, last: int) -> str:
        return f"{self.net}.{last}"

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _web_server(self, last: int, behaviour: Behaviour, **options: Any) -> WebServer:
        server = WebServer(self.ip(last), behaviour, **options)
        await server.start()
        self._web.append(server)
        return server

    async def _build(self) -> None:
        site = await self._web_server(10, Behaviour.SITE)
        closed = await self._web_server(11, Behaviour.REFUSE)
        honest: dict[str, list[str] | str] = {}
        censored: dict[str, list[str] | str] = {}
        public = iter(range(10, 250))

        def add(
            name: str,
            expected: str,
            probe_side: WebServer,
            *,
            probe_dns: list[str] | str | None = None,
            control_side: WebServer | None = None,
            https: bool = False,
        ) -> str:
            host = f"{name}.{DOMAIN}"
            address = f"{PUBLIC_NET}.{next(public)}"
            honest[host] = [address]
            censored[host] = probe_dns if probe_dns is not None else [address]
            port = 443 if https else 80
            self.probe_routes[f"{address}:{port}"] = probe_side.address
            self.control_routes[f"{address}:{port}"] = (control_side or site).address
            url = f"{'https' if https else 'http'}://{host}/"
            if expected:
                self.cases.append(LabCase(name, url, expected))
            return url

        injected = f"{PUBLIC_NET}.66"
        self.probe_routes[f"{injected}:80"] = closed.address
        add("ok", "ok", site)
        add("dns-nxdomain", "dns", site, probe_dns=NXDOMAIN)
        add("dns-inject", "dns", site, probe_dns=[injected])  # an address where nothing answers
        add("dns-bogon", "dns", site, probe_dns=[BOGON_ANSWER])
        add("tcp-refused", "tcp", closed)
        add("tcp-drop", "tcp", await self._web_server(12, Behaviour.DROP))
        add("http-reset", "http-failure", await self._web_server(13, Behaviour.RESET))
        add("http-hang", "http-failure", await self._web_server(14, Behaviour.HANG))
        add("http-diff", "http-diff", await self._web_server(15, Behaviour.DIFF))
        add("blockpage", "blockpage", await self._web_server(16, Behaviour.BLOCKPAGE))
        add("down", "down", closed, control_side=closed)
        if self._tls_context is not None:
            tls_site = await self._web_server(20, Behaviour.SITE, tls=self._tls_context)
            add("tls-ok", "ok", tls_site, control_side=tls_site, https=True)
            blocked = f"sni-blocked.{DOMAIN}"
            dpi = await self._web_server(
                21, Behaviour.SNI_FILTER, upstream=tls_site.address, blocked_name=blocked
            )
            add("sni-blocked", "tls", dpi, control_side=tls_site, https=True)
        for name, behaviour, last in (("trickle", Behaviour.TRICKLE, 18), ("endless", Behaviour.ENDLESS, 19)):
            server = await self._web_server(last, behaviour)
            self.hostile[name] = add(name, "", server, control_side=server)
        self.hostile["drop"] = next(c.url for c in self.cases if c.name == "tcp-drop")

        self.censored_dns = DnsServer(self.ip(53), censored)
        self.honest_dns = DnsServer(self.ip(54), honest)
        self.garbage_dns = DnsServer(self.ip(55), {}, garbage=True)
        for dns in (self.censored_dns, self.honest_dns, self.garbage_dns):
            await dns.start()

    def _make_certificate(self) -> None:
        """A self-signed certificate for ``*.lab.test`` (OpenSSL's command line; no TLS cases without it)."""
        openssl = shutil.which("openssl")
        if openssl is None:
            return
        self._tmp = tempfile.TemporaryDirectory(prefix="netfreedom-lab-")
        folder = Path(self._tmp.name)
        cert, key = folder / "lab-ca.pem", folder / "lab-key.pem"
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-days",
                "2",
                "-subj",
                f"/CN={DOMAIN}",
                "-addext",
                f"subjectAltName=DNS:*.{DOMAIN},DNS:{DOMAIN}",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self._tls_context = context
        self.ca_file = str(cert)

    def start(self) -> Lab:
        self._make_certificate()
        self._thread.start()
        self._run(self._build())
        if self.with_control:
            self._control = BackgroundServer(create_app(self.control_config()), self.ip(3))
            self.control_url = self._control.url
        return self

    def control_config(self, **overrides: Any) -> ControlConfig:
        """The control the lab runs: honest DNS and the unfiltered routes (private addresses refused)."""
        settings: dict[str, Any] = {
            "resolver": (self.honest_dns.host, self.honest_dns.port),
            "dns_timeout": 2.0,
            "tcp_timeout": 2.0,
            "http_timeout": 4.0,
            "body_cap": 256 * 1024,
            "routes": dict(self.control_routes),
            "ca_file": self.ca_file,
        }
        settings.update(overrides)
        return ControlConfig(**settings)

    @property
    def probe_resolver(self) -> str:
        return self.censored_dns.address

    def probe_settings(self, **overrides: Any) -> ProbeSettings:
        """Probe settings for this lab: the censored resolver, the lab's control, the probe's routes."""
        settings: dict[str, Any] = {
            "control_url": self.control_url,
            "resolver": (self.censored_dns.host, self.censored_dns.port),
            "timeout": 1.0,
            "routes": dict(self.probe_routes),
            "ca_file": self.ca_file,
        }
        settings.update(overrides)
        return ProbeSettings(**settings)

    def write_routes(self, path: Path) -> Path:
        """The probe's routes as JSON, for ``netfreedom probe run --lab-routes``."""
        path.write_bytes(msgspec.json.encode(self.probe_routes))
        return path

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
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

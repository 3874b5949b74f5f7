"""The control server on loopback: the protocol, its bounds, and the private-address guard."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from netfreedom.probe.control_server import create_app
from netfreedom.probe.httpclient import FetchSettings, fetch
from netfreedom.probe.lab import PUBLIC_NET, Lab
from netfreedom.probe.netio import Dialer, tls_context
from netfreedom.probe.serving import BackgroundServer


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab("127.0.2") as running:
        yield running


def case_url(lab: Lab, name: str) -> str:
    return next(c.url for c in lab.cases if c.name == name)


def ask(control_url: str, url: str, tcp: list[str] | None = None, agent: str = "t") -> httpx.Response:
    body = {"http_request": url, "http_request_headers": {"User-Agent": ["t"]}, "tcp_connect": tcp or []}
    return httpx.post(control_url, json=body, timeout=30, headers={"User-Agent": agent})


def test_control_measures_a_reachable_site(lab: Lab) -> None:
    public = f"{PUBLIC_NET}.10"
    answer = ask(lab.control_url, case_url(lab, "ok"), [f"{public}:80"])
    assert answer.status_code == 200
    control = answer.json()
    assert control["dns"] == {"failure": None, "addrs": [public]}
    # Port 80 reaches the site; nothing is routed on 443 in the lab.
    assert control["tcp_connect"] == {
        f"{public}:80": {"status": True, "failure": None},
        f"{public}:443": {"status": False, "failure": "connect_error"},
    }
    http = control["http_request"]
    assert http["status_code"] == 200 and http["failure"] is None
    assert http["title"].startswith("Lab site ok.lab.test")
    assert http["body_length"] > 1000
    assert http["headers"]["X-Lab-Site"] == "ok.lab.test"
    assert control["ip_info"] == {public: {"asn": 0, "flags": 1 | 2}}


def test_control_reports_a_site_down_everywhere(lab: Lab) -> None:
    control = ask(lab.control_url, case_url(lab, "down")).json()
    assert control["http_request"]["failure"] == "connection_refused_error"
    assert control["http_request"]["status_code"] == -1
    failures = sorted(v["failure"] for v in control["tcp_connect"].values())
    assert failures == ["connect_error", "connection_refused_error"]


def test_control_sees_the_unfiltered_site_behind_a_middlebox(lab: Lab) -> None:
    control = ask(lab.control_url, case_url(lab, "http-reset")).json()
    assert control["http_request"]["status_code"] == 200
    assert control["http_request"]["title"].startswith("Lab site http-reset.lab.test")


def test_control_dns_failure_strings(lab: Lab) -> None:
    url = case_url(lab, "ok").replace("ok.lab.test", "nowhere.lab.test")
    control = ask(lab.control_url, url).json()
    assert control["dns"] == {"failure": "dns_name_error", "addrs": []}
    assert control["http_request"]["failure"] == "dns_lookup_error"


def test_private_addresses_are_refused_without_allow_private(lab: Lab) -> None:
    site = lab.control_routes[f"{PUBLIC_NET}.10:80"]  # the site's real loopback ip:port
    url = f"http://{site}/"
    control = ask(lab.control_url, url, [site, "10.1.2.3:80"]).json()
    assert control["tcp_connect"] == {}  # nothing dialed
    assert control["http_request"]["failure"] == "unknown_error"  # oohelperd: dns_bogon_error is not named
    assert control["http_request"]["status_code"] == -1
    assert all(info["flags"] & 4 for info in control["ip_info"].values())
    server = BackgroundServer(create_app(lab.control_config(allow_private=True, routes={})), lab.ip(4))
    try:
        allowed = ask(server.url, url, [site]).json()
    finally:
        server.stop()
    assert allowed["http_request"]["status_code"] == 200
    assert allowed["tcp_connect"][site] == {"status": True, "failure": None}


def test_a_redirect_cannot_lead_into_a_private_network(lab: Lab) -> None:
    """A public first hop (routed to a local redirector: nothing leaves loopback) redirecting to loopback."""
    real = lab.control_routes[f"{PUBLIC_NET}.10:80"]  # the site's loopback ip:port
    site = f"http://{real}/"
    calls: list[str] = []

    async def redirector(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        calls.append("hop")
        writer.write(f"HTTP/1.1 302 Found\r\nLocation: {site}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    async def main() -> list[str | None]:
        server = await asyncio.start_server(redirector, lab.ip(5), 0)
        port = server.sockets[0].getsockname()[1]
        public = "93.184.216.34"

        async def resolve(name: str) -> tuple[list[str], str | None]:
            return ([public], None) if name == "public.example" else ([lab.ip(10)], None)

        dialer = Dialer(2.0, {f"{public}:80": f"{lab.ip(5)}:{port}", real: real})
        out = []
        for allow in (False, True):
            settings = FetchSettings(body_cap=65536, timeout=3, tls=tls_context(), allow_private=allow)
            hops = await fetch("http://public.example/", dialer, settings, resolve)
            out.append(hops[-1].failure)
            out.append(str(hops[-1].code))
        server.close()
        return out

    assert asyncio.run(main()) == ["dns_bogon_error", "None", None, "200"]
    assert calls == ["hop", "hop"]


def test_bad_requests_are_rejected(lab: Lab) -> None:
    assert httpx.post(lab.control_url, content=b"{nope", timeout=10).status_code == 400
    huge = b'{"http_request": "' + b"a" * (16 * 1024 * 1024) + b'"}'
    assert httpx.post(lab.control_url, content=huge, timeout=30).status_code == 413
    assert httpx.get(lab.control_url, timeout=10).json() == {"message": "Hello OONItarian!"}


def test_beyond_max_concurrency_the_control_answers_503(lab: Lab) -> None:
    # Routed like the probe, this control meets the censor's middlebox that never answers.
    config = lab.control_config(max_concurrency=1, http_timeout=3.0, routes=lab.probe_routes)
    server = BackgroundServer(create_app(config), lab.ip(6))
    try:
        results: list[int] = []

        def hang() -> None:
            results.append(ask(server.url, case_url(lab, "http-hang")).status_code)

        slow = threading.Thread(target=hang)
        slow.start()
        time.sleep(0.5)  # let the slow measurement take the only slot
        busy = ask(server.url, case_url(lab, "ok"))
        official = ask(server.url, case_url(lab, "ok"), agent="ooniprobe-cli/3.20.0")  # OONI's: up to 50
        slow.join()
        after = ask(server.url, case_url(lab, "ok"))
    finally:
        server.stop()
    assert results == [200]
    assert busy.status_code == 503
    assert official.status_code == 200
    assert after.status_code == 200


def test_control_serve_command(lab: Lab) -> None:
    import socket
    import subprocess
    import sys

    from .conftest import cli_env

    with socket.socket() as probe_port:
        probe_port.bind((lab.ip(7), 0))
        port = probe_port.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netfreedom",
            "control",
            "serve",
            "--host",
            lab.ip(7),
            "--port",
            str(port),
            "--resolver",
            lab.honest_dns.address,
            "--timeout",
            "2",
        ],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://{lab.ip(7)}:{port}/"
        for _ in range(100):
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        # Its resolver is the lab's honest DNS; without --allow-private a loopback target is never dialed.
        site = lab.control_routes[f"{PUBLIC_NET}.10:80"]
        control = ask(url, f"http://{site}/", [site]).json()
        nx = ask(url, "http://nowhere.lab.test/").json()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert b"No ASN database configured (--asn-db)" in err
    assert control["tcp_connect"] == {} and control["http_request"]["failure"] == "unknown_error"
    assert nx["dns"] == {"failure": "dns_name_error", "addrs": []}

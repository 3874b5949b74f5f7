"""The control server as OONI's ``oohelperd`` (issue #21): real OONI probes' requests, OONI's answer shape.

Every ``x_control_request`` of the shared real web_connectivity measurements is replayed against
``netfreedom control serve`` in a private network namespace (``unshare -rn``: loopback only, so nothing can
reach the internet), and each answer must be a 200 with the structure of OONI's helper: Go's types of
``internal/model/th.go``, Go's key order (struct fields as declared, map keys sorted), ``ip:port`` keys and
OONI's failure words.  The same shape check is run on OONI's own recorded answers, so the schema here is
the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from starlette.testclient import TestClient

from netfreedom.errors import InputError
from netfreedom.probe.control import ControlConfig, ControlRequest, measure, parse_request, probe_ip
from netfreedom.probe.control_server import create_app
from netfreedom.probe.httpclient import Hop
from netfreedom.probe.measure import ProbeSettings
from netfreedom.probe.measure import measure as probe_measure
from netfreedom.probe.serving import BackgroundServer

from .conftest import MEASUREMENTS, ROOT, cli_env

NULLABLE_STR = (str, type(None))
TCP = {"status": bool, "failure": NULLABLE_STR}
TLS = {"server_name": str, "status": bool, "failure": NULLABLE_STR}
HTTP = {
    "body_length": int,
    "discovered_h3_endpoint": str,
    "failure": NULLABLE_STR,
    "title": str,
    "headers": dict,
    "status_code": int,
}
DNS = {"failure": NULLABLE_STR, "addrs": list}
IP_INFO = {"asn": int, "flags": int}
TOP = ["tcp_connect", "tls_handshake", "quic_handshake", "http_request", "http3_request", "dns", "ip_info"]
ENDPOINT = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d+$")
# The helper's failure words (ALGORITHMS.md §3; TLS failures are netxlite's, unmapped).
TH_FAILURES = {
    "dns_name_error",
    "dns_server_failure",
    "unknown_error",
    "dns_lookup_error",
    "generic_timeout_error",
    "connection_refused_error",
    "connect_error",
    "eof_error",
    "connection_reset",
    "ssl_invalid_hostname",
    "ssl_unknown_authority",
    "ssl_invalid_certificate",
}


def real_cases() -> list[tuple[int, dict[str, Any], dict[str, Any] | None]]:
    """(line, x_control_request, OONI's control answer) of every shared web_connectivity measurement."""
    out = []
    with (MEASUREMENTS / "web_connectivity.jsonl").open() as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            keys = json.loads(line).get("test_keys") or {}
            if isinstance(keys.get("x_control_request"), dict):
                out.append((number, keys["x_control_request"], keys.get("control")))
    return out


def check_object(where: str, doc: Any, fields: dict[str, Any]) -> None:
    assert isinstance(doc, dict), where
    assert list(doc) == list(fields), f"{where}: keys {list(doc)}"
    for name, kind in fields.items():
        value = doc[name]
        assert isinstance(value, kind) and not (kind is int and isinstance(value, bool)), (where, name)


def check_map(where: str, doc: Any, fields: dict[str, Any], key: re.Pattern[str] | None = None) -> None:
    assert isinstance(doc, dict), where
    assert list(doc) == sorted(doc, key=str.encode), f"{where}: map keys not in Go's order"
    for k, v in doc.items():
        assert key is None or key.match(k), (where, k)
        check_object(f"{where}[{k}]", v, fields)


def check_failure(where: str, failure: str | None) -> None:
    known = failure is None or failure in TH_FAILURES or failure.startswith("unknown_failure")
    assert known, (where, failure)


def check_shape(control: Any) -> None:
    """OONI's THResponse: fields in declaration order (tls_handshake and ip_info omitted when empty)."""
    assert isinstance(control, dict)
    assert list(control) == [k for k in TOP if k in control]
    assert {"tcp_connect", "http_request", "dns"} <= set(control)
    check_map("tcp_connect", control["tcp_connect"], TCP, ENDPOINT)
    for entry in control["tcp_connect"].values():
        check_failure("tcp_connect", entry["failure"])
    check_map("tls_handshake", control.get("tls_handshake", {}), TLS, ENDPOINT)
    for entry in control.get("tls_handshake", {}).values():
        check_failure("tls_handshake", entry["failure"])
    check_map("quic_handshake", control.get("quic_handshake") or {}, TLS, ENDPOINT)
    http = control["http_request"]
    check_object("http_request", http, HTTP)
    check_failure("http_request", http["failure"])
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in http["headers"].items())
    assert list(http["headers"]) == sorted(http["headers"], key=str.encode)
    if http["failure"] is not None and http["status_code"] == -1:
        assert http["body_length"] == -1
    assert control.get("http3_request") is None or isinstance(control["http3_request"], dict)
    check_object("dns", control["dns"], DNS)
    check_failure("dns", control["dns"]["failure"])
    assert all(isinstance(a, str) for a in control["dns"]["addrs"])
    check_map("ip_info", control.get("ip_info", {}), IP_INFO)


def test_the_shape_is_the_one_of_oonis_recorded_answers() -> None:
    answers = [control for _, _, control in real_cases() if control]
    assert len(answers) >= 9
    for control in answers:
        check_shape(control)


def replay_in_netns(requests: list[dict[str, Any]], zone: dict[str, list[str]], tmp: Path) -> list[Any]:
    assert subprocess.run(["unshare", "-rn", "true"]).returncode == 0, "unshare -rn is needed here"
    path = tmp / "requests.json"
    path.write_text(json.dumps([{"request": r, "zone": zone} for r in requests]))
    script = str(ROOT / "tests" / "netns_control_replay.py")
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, script, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: list[Any] = json.loads(done.stdout)
    return result


def test_every_real_request_is_answered_200_in_oonis_shape(tmp_path: Path) -> None:
    cases = real_cases()
    zone: dict[str, list[str]] = {}
    for _, request, control in cases:  # the names resolve as OONI's helper saw them
        host = re.sub(r"^https?://([^/:]+).*$", r"\1", request["http_request"]).lower()
        addrs = ((control or {}).get("dns") or {}).get("addrs") or []
        zone.setdefault(host, []).extend(a for a in addrs if ":" not in a and a not in zone.get(host, []))
    # Real requests, and the same requests as Go would also send them: empty lists as null.
    requests = [request for _, request, _ in cases]
    nulled = [{**request, "tcp_connect": None, "http_request_headers": None} for request in requests[:2]]
    answers = replay_in_netns(requests + nulled, zone, tmp_path)
    hello, answers = answers[0], answers[1:]
    assert hello == {"status": 200, "body": {"message": "Hello OONItarian!"}}
    assert [a["status"] for a in answers] == [200] * len(requests + nulled)
    for (line, request, ooni), answer in zip(cases, answers, strict=False):
        control = answer["body"]
        check_shape(control)
        # Every probe IP is in ip_info (flag 1), every endpoint measured: no limit, no silent truncation.
        probe_ips = {ip for ip in map(probe_ip, request["tcp_connect"]) if ip}
        assert probe_ips <= set(control.get("ip_info", {})), line
        assert all(control["ip_info"][ip]["flags"] & 1 for ip in probe_ips)
        ports = 1 if request["http_request"].startswith("https") else 2
        public = [ip for ip, info in control.get("ip_info", {}).items() if not info["flags"] & 4]
        assert len(control["tcp_connect"]) == len(public) * ports, line
        if ooni and not request["http_request"].split("/")[2].replace(".", "").isdigit():
            assert {a for a in ooni["dns"]["addrs"] if ":" not in a} <= set(control["dns"]["addrs"]), line
    assert max(len(r["tcp_connect"]) for r in requests) == 48  # csmonitor.com: refused before #21


# -- request handling as oohelperd (no network needed) -----------------------------------------------------


def test_null_and_case_insensitive_keys_and_extra_fields_as_go_decodes_them() -> None:
    config = ControlConfig()
    req = parse_request(
        b'{"HTTP_REQUEST": "http://a.example/", "Tcp_Connect": null, "http_request_headers": null,'
        b' "x_quic_enabled": null, "x_extra": {"deep": [1, 2]}}',
        config,
    )
    assert (req.http_request, req.tcp_connect, req.http_request_headers, req.x_quic_enabled) == (
        "http://a.example/",
        [],
        {},
        False,
    )
    req = parse_request(
        b'{"http_request": "http://a.example/", "tcp_connect": ["1.2.3.4:80", null, "a:b", "x"],'
        b' "http_request_headers": {"User-Agent": null, "Accept": [null, "text/html"]}}',
        config,
    )
    assert [probe_ip(e) for e in req.tcp_connect] == ["1.2.3.4", None, None, None]
    assert req.http_request_headers == {"User-Agent": [], "Accept": ["", "text/html"]}
    # A later duplicate wins, as in Go; a type Go refuses is refused.
    req = parse_request(b'{"http_request": "http://a.example/", "HTTP_request": "http://b.example/"}', config)
    assert req.http_request == "http://b.example/"
    for bad in (b'{"http_request": 1}', b'{"http_request": "http://a/", "tcp_connect": [1]}', b"[]"):
        with pytest.raises(InputError):
            parse_request(bad, config)


def test_tcp_connect_entries_as_oohelperd_splits_them() -> None:
    assert probe_ip("[2001:db8::1]:443") == "2001:db8::1"
    assert probe_ip("1.2.3.4:0") == "1.2.3.4"  # the port is not used: the helper picks its own
    for skipped in ("", "1.2.3.4", "2001:db8::1:443", "host.example:80", "[x]:1", "[::1]"):
        assert probe_ip(skipped) is None, skipped


@pytest.fixture(scope="module")
def offline() -> TestClient:
    # No resolver, no routes needed: these requests never measure anything.
    return TestClient(create_app(ControlConfig()), raise_server_exceptions=False)


def test_get_hello_other_methods_400_any_path(offline: TestClient) -> None:
    for path in ("/", "/anything/at/all", "/?q=1"):
        answer = offline.get(path)
        assert answer.status_code == 200 and answer.json() == {"message": "Hello OONItarian!"}
        assert answer.headers["content-type"] == "application/json"
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"):
        assert offline.request(method, "/x").status_code == 400, method
    assert offline.post("/some/path", content=b'{"http_request": "http://[::1"}').status_code == 400


def test_the_body_limit_is_16_mib(offline: TestClient) -> None:
    limit = ControlConfig().max_request_bytes
    assert limit == 16 * 1024 * 1024
    big = b'{"http_request": "http://[::1", "x": "' + b"a" * (1024 * 1024) + b'"}'
    assert offline.post("/", content=big).status_code == 400  # 1 MiB is read and parsed
    huge = b'{"x": "' + b"a" * limit + b'"}'
    assert offline.post("/", content=huge).status_code == 413


# -- measuring as oohelperd: a loopback world behind "public" addresses (routes; nothing leaves loopback) ---

PUBLIC = "192.88.99.21"  # globally routable, used by nobody; every dial to it is routed to loopback
ALERTING = "192.88.99.22"


def make_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for ``name`` and 127.0.0.1, made with OpenSSL's command line."""
    cert, key = folder / f"{name}.pem", folder / f"{name}-key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ),
            *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class World:
    """HTTP and TLS servers on loopback, each behind a public ``ip:port`` (``routes``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.hits: dict[str, int] = {}
        self.routes: dict[str, str] = {}
        self.servers: list[asyncio.Server] = []

    async def start(self) -> None:
        http = await asyncio.start_server(self.site, "127.0.0.1", 0)
        eof = await asyncio.start_server(self.close_after_client_hello, "127.0.0.1", 0)
        cert, key = make_certificate(self.folder, "world.test")
        alerting = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        alerting.load_cert_chain(cert, key)
        alerting.sni_callback = lambda *_: ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        # A blocking server: asyncio's TLS server would close without flushing the alert.
        self.alert_socket = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self.alert_every_handshake, args=(alerting,), daemon=True).start()
        self.servers = [http, eof]
        port = {"http": http.sockets[0].getsockname()[1], "eof": eof.sockets[0].getsockname()[1]}
        port["alert"] = self.alert_socket.getsockname()[1]
        self.routes = {
            f"{PUBLIC}:80": f"127.0.0.1:{port['http']}",
            f"{PUBLIC}:8443": f"127.0.0.1:{port['http']}",
            f"{PUBLIC}:443": f"127.0.0.1:{port['eof']}",
            f"{ALERTING}:443": f"127.0.0.1:{port['alert']}",
        }

    def close(self) -> None:
        for server in self.servers:
            server.close()
        self.alert_socket.close()

    def alert_every_handshake(self, context: ssl.SSLContext) -> None:
        while True:
            try:
                client, _ = self.alert_socket.accept()
            except OSError:
                return  # closed
            with contextlib.suppress(OSError), client:
                context.wrap_socket(client, server_side=True)

    async def close_after_client_hello(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read(1024)  # the ClientHello; then a clean close (FIN), no alert
        writer.close()

    async def site(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()
            return
        path = head.split(b" ", 2)[1].decode()
        self.hits[path.split("?")[0]] = self.hits.get(path.split("?")[0], 0) + 1
        status, headers, body = "200 OK", [], b"<html><title>World</title></html>"
        if path.startswith("/slow/"):
            hop = int(path.rsplit("/", 1)[1])
            await asyncio.sleep(0.8)
            if hop < 5:
                status, headers = "302 Found", [f"Location: /slow/{hop + 1}"]
        elif path == "/cookie" and b"seen=1" not in head:
            status, headers = "302 Found", ["Location: /cookie", "Set-Cookie: seen=1; Path=/"]
        elif path == "/loop":
            status, headers = "302 Found", ["Location: /loop"]
        elif path == "/h3":
            headers = ['Alt-Svc: h3=":443"; ma=86400, h3-29=":443"; ma=86400']
        elif path == "/big":
            body = b"x" * (5 * 1024 * 1024)
        lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}", "Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode() + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


def control_of(world: World, url: str, tcp: list[str] | None = None, **config: Any) -> dict[str, Any]:
    """OONI's answer shape is checked on every measurement here too."""
    settings: dict[str, Any] = {"routes": world.routes, "tcp_timeout": 2.0, "http_timeout": 3.0}
    settings.update(config)
    request = ControlRequest(http_request=url, tcp_connect=tcp or [])
    answer = asyncio.run_coroutine_threadsafe(measure(request, ControlConfig(**settings)), world_loop(world))
    control = answer.result(timeout=60)
    check_shape(msgspec.json.decode(msgspec.json.encode(control)))
    return control


_LOOPS: dict[int, asyncio.AbstractEventLoop] = {}


def world_loop(world: World) -> asyncio.AbstractEventLoop:
    return _LOOPS[id(world)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = World(tmp_path_factory.mktemp("world"))
    asyncio.run_coroutine_threadsafe(running.start(), loop).result(timeout=60)
    _LOOPS[id(running)] = loop
    yield running
    loop.call_soon_threadsafe(running.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


def test_the_http_time_limit_is_for_the_whole_redirect_chain(world: World) -> None:
    # Five hops of 0.8 s each: every hop is within 3 s, the chain is not.
    http = control_of(world, f"http://{PUBLIC}/slow/1", http_timeout=3.0)["http_request"]
    assert (http["failure"], http["status_code"], http["body_length"]) == ("generic_timeout_error", -1, -1)
    done = control_of(world, f"http://{PUBLIC}/slow/3", http_timeout=3.0)["http_request"]
    assert (done["failure"], done["status_code"]) == (None, 200)


def test_redirects_keep_cookies(world: World) -> None:
    http = control_of(world, f"http://{PUBLIC}/cookie")["http_request"]
    assert (http["failure"], http["status_code"], http["title"]) == (None, 200, "World")


def test_endless_redirects_are_unknown_error_as_go_stops_after_10(world: World) -> None:
    world.hits.pop("/loop", None)
    http = control_of(world, f"http://{PUBLIC}/loop")["http_request"]
    assert (http["failure"], http["status_code"], http["body_length"]) == ("unknown_error", -1, -1)
    assert http["headers"] == {} and http["title"] == ""
    assert world.hits["/loop"] == 10


def test_tls_only_on_port_443(world: World) -> None:
    control = control_of(world, f"https://{PUBLIC}:8443/", [f"{PUBLIC}:8443"])
    assert control["tcp_connect"] == {f"{PUBLIC}:8443": {"status": True, "failure": None}}
    assert "tls_handshake" not in control


def test_discovered_h3_endpoint_from_alt_svc() -> None:
    from netfreedom.probe.control import discovered_h3_endpoint

    alt = (("Alt-Svc", 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000'),)
    assert discovered_h3_endpoint(
        Hop("https://www.youtube.com/", (), None, code=200, response_headers=alt)
    ) == ("www.youtube.com:443")
    assert (
        discovered_h3_endpoint(Hop("https://8.8.4.4/q", (), None, code=200, response_headers=alt))
        == "8.8.4.4:443"
    )
    assert discovered_h3_endpoint(Hop("http://a.example/", (), None, code=200, response_headers=alt)) == ""
    no_h3 = (("Alt-Svc", 'h2=":443"'),)
    assert discovered_h3_endpoint(Hop("https://a.example/", (), None, code=200, response_headers=no_h3)) == ""


def test_the_body_is_read_up_to_16_mib(world: World) -> None:
    http = control_of(world, f"http://{PUBLIC}/big")["http_request"]
    assert http["body_length"] == 5 * 1024 * 1024


def test_a_clean_tls_close_is_eof_error_for_the_control_and_the_probe(world: World) -> None:
    control = control_of(world, f"https://{PUBLIC}/", [f"{PUBLIC}:443"])
    assert control["tcp_connect"][f"{PUBLIC}:443"] == {"status": True, "failure": None}
    assert control["tls_handshake"][f"{PUBLIC}:443"]["failure"] == "eof_error"
    assert control["http_request"]["failure"] == "unknown_error"  # oohelperd's httpMapFailure
    probe = run_probe(world, f"https://{PUBLIC}/")
    assert [t["failure"] for t in probe["tls_handshakes"]] == ["eof_error"]
    assert probe["control"]["tls_handshake"][f"{PUBLIC}:443"]["failure"] == "eof_error"


def test_an_unrecognized_name_alert_is_ssl_invalid_hostname(world: World) -> None:
    control = control_of(world, f"https://{ALERTING}/", [f"{ALERTING}:443"])
    assert control["tls_handshake"][f"{ALERTING}:443"]["failure"] == "ssl_invalid_hostname"
    probe = run_probe(world, f"https://{ALERTING}/")
    assert [t["failure"] for t in probe["tls_handshakes"]] == ["ssl_invalid_hostname"]


def run_probe(world: World, url: str) -> dict[str, Any]:
    """Our probe, asking our control (served over HTTP on loopback), both routed into the world."""
    config = ControlConfig(routes=world.routes, tcp_timeout=2.0, http_timeout=3.0)
    server = BackgroundServer(create_app(config), "127.0.0.1")
    try:
        settings = ProbeSettings(control_url=server.url, timeout=2.0, routes=world.routes)

        async def main() -> dict[str, Any]:
            async with httpx.AsyncClient(trust_env=False) as client:
                return await probe_measure(url, settings, client)

        keys = asyncio.run(main())
    finally:
        server.stop()
    assert keys["control_failure"] is None
    return keys


# -- deployable as OONI's helpers: ASN database, HTTPS ------------------------------------------------------

TSV = (
    "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n"
    "192.88.99.0\t192.88.99.255\t64500\tZZ\tEXAMPLE-RELAY\n"
    "not\ta range\n"
    "2001:db8::\t2001:db8::ffff\t64501\tZZ\tEXAMPLE-V6\n"
    "8.8.8.0\t8.8.8.255\t0\tNone\tNot routed\n"
)


def test_asn_database_from_an_iptoasn_file(tmp_path: Path, world: World) -> None:
    from netfreedom.probe import asndb

    plain = tmp_path / "ip2asn-combined.tsv"
    plain.write_text(TSV)
    packed = tmp_path / "ip2asn-combined.tsv.gz"
    packed.write_bytes(gzip.compress(TSV.encode()))
    for path in (plain, packed):
        db = asndb.load(path)
        assert (db.size, db.bad_lines) == (4, [3])
        assert [
            db.asn(ip) for ip in ("1.0.0.7", "192.88.99.21", "2001:db8::5", "8.8.8.8", "9.9.9.9", "x")
        ] == [
            13335,
            64500,
            64501,
            0,
            0,
            0,
        ]
    empty = tmp_path / "empty.tsv"
    empty.write_text("nothing here\n")
    with pytest.raises(InputError, match="no IP range"):
        asndb.load(empty)
    control = control_of(world, f"http://{PUBLIC}/", [f"{PUBLIC}:80"], asn_db=asndb.load(plain))
    assert control["ip_info"] == {PUBLIC: {"asn": 64500, "flags": 1}}
    assert control_of(world, f"http://{PUBLIC}/", [f"{PUBLIC}:80"])["ip_info"][PUBLIC]["asn"] == 0


def test_control_serve_over_https_and_a_probe_pointed_at_it(tmp_path: Path) -> None:
    from netfreedom.probe.runner import run

    cert, key = make_certificate(tmp_path, "control.test")
    (tmp_path / "asn.tsv").write_text(TSV)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "netfreedom",
        "control",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    command += ["--tls-cert", str(cert), "--tls-key", str(key), "--asn-db", str(tmp_path / "asn.tsv")]
    command += ["--allow-private", "--timeout", "1"]
    proc = subprocess.Popen(command, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"https://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            try:
                hello = httpx.get(url, verify=ssl.create_default_context(cafile=str(cert)), timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        # Our probe, pointed at it with --control URL and --ca-file (nothing listens on port 1: quick).
        out = io.BytesIO()
        settings = ProbeSettings(control_url=url, timeout=1.0, ca_file=str(cert))
        asyncio.run(run(["http://127.0.0.1:1/"], settings, out))
        untrusted = ProbeSettings(control_url=url, timeout=1.0)
        refused = io.BytesIO()
        asyncio.run(run(["http://127.0.0.1:1/"], untrusted, refused))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert hello.json() == {"message": "Hello OONItarian!"}
    keys = json.loads(out.getvalue())["test_keys"]
    assert keys["control_failure"] is None
    check_shape(keys["control"])
    assert keys["control"]["tcp_connect"]["127.0.0.1:1"]["failure"] == "connection_refused_error"
    assert json.loads(refused.getvalue())["test_keys"]["control_failure"].startswith("ssl_")
    assert b"ASN database" in err and b"4 ranges; 1 lines skipped" in err


def test_control_serve_checks_its_tls_and_asn_options(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "netfreedom", "control", "serve", "--port", "1"]
    half = subprocess.run([*base, "--tls-cert", str(tmp_path / "c.pem")], capture_output=True, env=cli_env())
    assert half.returncode != 0 and b"--tls-key go together" in half.stderr
    cert, _ = make_certificate(tmp_path, "c.test")
    missing = [*base, "--tls-cert", str(cert), "--tls-key", str(tmp_path / "none.pem")]
    gone = subprocess.run(missing, capture_output=True, env=cli_env())
    assert gone.returncode != 0 and b"does not exist" in gone.stderr
    (tmp_path / "empty.tsv").write_text("no ranges\n")
    empty = subprocess.run(
        [*base, "--asn-db", str(tmp_path / "empty.tsv")], capture_output=True, env=cli_env()
    )
    assert empty.returncode != 0 and b"no IP range" in empty.stderr


def test_our_probe_takes_every_answer_shape_oonis_helpers_recorded() -> None:
    """Each recorded ``control`` of the shared web_connectivity measurements (0.4 and 0.5 helpers), served
    as-is on loopback: the probe keeps it whole, with no control_failure."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answers = []
    with (MEASUREMENTS / "web_connectivity.jsonl").open() as f:
        for line in f:
            control = (json.loads(line).get("test_keys") or {}).get("control") if line.strip() else None
            if isinstance(control, dict) and control:
                answers.append(control)
    assert len(answers) >= 15

    async def recorded(request: Request) -> Response:
        return Response(json.dumps(answers[int(request.path_params["n"])]), media_type="application/json")

    server = BackgroundServer(Starlette(routes=[Route("/{n:int}", recorded, methods=["POST"])]), "127.0.0.1")
    try:

        async def main() -> list[dict[str, Any]]:
            async with httpx.AsyncClient(trust_env=False) as client:
                runs = []
                for n in range(len(answers)):
                    settings = ProbeSettings(control_url=f"{server.url}{n}", timeout=1.0)
                    runs.append(await probe_measure("http://127.0.0.1:1/", settings, client))
                return runs

        measured = asyncio.run(main())
    finally:
        server.stop()
    for keys, answer in zip(measured, answers, strict=True):
        assert keys["control_failure"] is None
        assert keys["control"] == answer

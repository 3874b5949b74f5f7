"""Pure parts of the probe: failure strings, addresses, the lab DNS responder, request validation, consent."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import ssl
from pathlib import Path

import dns.message
import dns.rcode
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netfreedom.errors import InputError
from netfreedom.probe import consent
from netfreedom.probe.addresses import endpoint, is_bogon, split_endpoint
from netfreedom.probe.control import ControlConfig, page_title, parse_request
from netfreedom.probe.dnslookup import Answer, Query, shared_failure
from netfreedom.probe.failures import classify, scrub, th_dns, th_http, th_tcp
from netfreedom.probe.labdns import NXDOMAIN, respond


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection_refused"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connection_reset"),
        (TimeoutError(), "generic_timeout_error"),
        (asyncio.IncompleteReadError(b"", 10), "eof_error"),
        (OSError(errno.EHOSTUNREACH, "no route"), "host_unreachable"),
        (OSError(errno.ENETUNREACH, "unreachable"), "network_unreachable"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns_nxdomain_error"),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "eof_error"),
    ],
)
def test_failure_strings_follow_ooni(exc: BaseException, expected: str) -> None:
    assert classify(exc) == expected


def test_certificate_errors_are_told_apart() -> None:
    def cert_error(code: int) -> ssl.SSLCertVerificationError:
        exc = ssl.SSLCertVerificationError(1, "verify failed")
        exc.verify_code = code
        return exc

    assert classify(cert_error(62)) == "ssl_invalid_hostname"
    assert classify(cert_error(20)) == "ssl_unknown_authority"
    assert classify(cert_error(10)) == "ssl_invalid_certificate"


def test_unknown_failures_are_scrubbed_of_addresses() -> None:
    text = classify(RuntimeError("weird thing talking to 10.1.2.3:443 and [2001:db8::1]:80"))
    assert text.startswith("unknown_failure: ")
    assert "10.1.2.3" not in text and "2001:db8" not in text
    assert scrub("1.2.3.4") == "[scrubbed]"


def test_control_dialect() -> None:
    assert th_dns("dns_nxdomain_error") == "dns_name_error"
    assert th_dns("dns_no_answer") is None
    assert th_dns("dns_refused_error") == "dns_server_failure"
    assert th_dns("generic_timeout_error") == "unknown_error"
    assert th_tcp("connection_refused") == "connection_refused_error"
    assert th_tcp("connection_reset") == "connect_error"
    assert th_dns("dns_servfail_error") == th_dns("dns_temporary_failure") == "unknown_error"
    assert th_http("dns_nxdomain_error") == th_http("dns_no_answer") == "dns_lookup_error"
    assert th_http("generic_timeout_error", resolving=True) == "dns_lookup_error"
    assert th_http("generic_timeout_error") == "generic_timeout_error"
    for other in ("dns_bogon_error", "dns_servfail_error", "dns_temporary_failure"):
        assert th_http(other) == "unknown_error"  # oohelperd's httpMapFailure default
    assert th_http("connection_reset") == "unknown_error"


def test_addresses() -> None:
    assert is_bogon("127.0.0.1") and is_bogon("10.0.0.1") and is_bogon("192.168.1.1")
    assert is_bogon("::1") and is_bogon("fe80::1") and is_bogon("::ffff:10.0.0.1") and is_bogon("nonsense")
    assert not is_bogon("93.184.216.34") and not is_bogon("2606:4700::1111")
    assert endpoint("::1", 80) == "[::1]:80"
    assert split_endpoint("[::1]:80") == ("::1", 80)
    assert split_endpoint("1.2.3.4:443") == ("1.2.3.4", 443)
    assert split_endpoint("example.com:80") is None
    assert split_endpoint("1.2.3.4:99999") is None


def test_shared_dns_failure() -> None:
    a_ok = Query("x", "A", "udp", "", None, (Answer("A", "1.2.3.4"),), 0.1)
    aaaa_none = Query("x", "AAAA", "udp", "", "dns_no_answer", (), 0.1)
    nx = Query("x", "A", "udp", "", "dns_nxdomain_error", (), 0.1)
    assert shared_failure([a_ok, aaaa_none]) is None
    assert shared_failure([aaaa_none, nx]) == "dns_nxdomain_error"
    assert shared_failure([aaaa_none]) == "dns_no_answer"


def test_lab_dns_responder() -> None:
    zone = {"site.lab.test": ["127.0.0.10"], "gone.lab.test": NXDOMAIN}

    def ask(name: str, qtype: str) -> dns.message.Message:
        return dns.message.from_wire(respond(dns.message.make_query(name, qtype).to_wire(), zone) or b"")

    answer = ask("site.lab.test", "A")
    assert [rr.to_text() for rrset in answer.answer for rr in rrset] == ["127.0.0.10"]
    for name in ("gone.lab.test", "unknown.lab.test"):
        assert ask(name, "A").rcode() == dns.rcode.NXDOMAIN
    empty = ask("site.lab.test", "AAAA")
    assert empty.rcode() == dns.rcode.NOERROR and not empty.answer
    assert respond(b"\x00", zone) is None
    query = dns.message.make_query("site.lab.test", "A").to_wire()
    garbage = respond(query, zone, garbage=True) or b""
    assert garbage[:2] == query[:2]
    with pytest.raises(dns.exception.DNSException):
        dns.message.from_wire(garbage)


def test_control_request_validation() -> None:
    config = ControlConfig()
    ok = parse_request(b'{"http_request": "http://a.example/", "tcp_connect": ["1.2.3.4:80"]}', config)
    assert ok.tcp_connect == ["1.2.3.4:80"]
    many = [f"1.1.1.{n}:443" for n in range(200)]  # no endpoint limit (OONI's helper has none)
    body = msgspec.json.encode({"http_request": "http://a.example/", "tcp_connect": many})
    assert parse_request(body, config).tcp_connect == many
    bad = [
        b"not json",
        b'{"http_request": "ftp://a.example/"}',
        b'{"http_request": "http://a.example:99999/"}',
        b'{"http_request": "http://a.example/", "tcp_connect": "1.1.1.1:1"}',
    ]
    for data in bad:
        with pytest.raises(InputError):
            parse_request(data, config)


def test_page_title() -> None:
    assert page_title(b"<html><TITLE>Hello world</TITLE>") == "Hello world"
    assert page_title(b"<title></title>") == ""
    assert page_title(b"<title>" + b"x" * 600 + b"</title>") == ""


def test_consent_is_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETFREEDOM_CONFIG_DIR", str(tmp_path / "cfg"))
    assert not consent.accepted()
    path = consent.remember()
    assert path.is_file() and consent.accepted()
    path.write_text("{broken")
    assert not consent.accepted()


@given(st.binary(max_size=600))
@settings(max_examples=300, deadline=None)
def test_lab_dns_never_raises_on_any_bytes(data: bytes) -> None:
    out = respond(data, {"site.lab.test": ["127.0.0.10"]})
    assert out is None or isinstance(out, bytes)


@given(st.one_of(st.binary(max_size=400), st.dictionaries(st.text(max_size=20), st.text(max_size=40))))
@settings(max_examples=300, deadline=None)
def test_control_request_parsing_fails_only_with_input_error(value: bytes | dict[str, str]) -> None:
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    try:
        req = parse_request(data, ControlConfig())
    except InputError as exc:
        assert str(exc).startswith(("invalid control request", "http_request", "bad port", "too many"))
        return
    assert req.http_request.startswith(("http://", "https://"))


@given(st.text(max_size=60))
def test_split_endpoint_round_trips(text: str) -> None:
    parsed = split_endpoint(text)
    if parsed is not None:
        assert split_endpoint(endpoint(*parsed)) == parsed

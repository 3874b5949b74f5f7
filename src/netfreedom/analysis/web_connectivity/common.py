"""Definitions every web_connectivity algorithm shares (ALGORITHMS.md §0), and read helpers over test keys.

Everything here is pure and cheap to call; the one regular expression is compiled at import time and a body
is scanned only when a caller asks for its title.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from functools import lru_cache

from netfreedom.models.web_connectivity import (
    DNSAnswer,
    DNSQuery,
    HTTPResponse,
    WebConnectivityKeys,
)

Result = tuple[str | bool | None, bool | None]
"""The probe's ``(blocking, accessible)`` pair."""

Matches = tuple[bool | None, bool | None, bool | None, bool | None]
"""The probe's ``(status_code_match, body_length_match, headers_match, title_match)``."""

NO_MATCHES: Matches = (None, None, None, None)

ACCESSIBLE: Result = (False, True)
NULL: Result = (None, None)

NXDOMAIN = frozenset({"dns_nxdomain_error", "android_dns_cache_no_data"})

COMMON_HEADERS = frozenset(
    {
        "date",
        "content-type",
        "server",
        "cache-control",
        "vary",
        "set-cookie",
        "location",
        "expires",
        "x-powered-by",
        "content-encoding",
        "last-modified",
        "accept-ranges",
        "pragma",
        "x-frame-options",
        "etag",
        "x-content-type-options",
        "age",
        "via",
        "p3p",
        "x-xss-protection",
        "content-language",
        "cf-ray",
        "strict-transport-security",
        "link",
        "x-varnish",
    }
)

# Go's TITLE: the bound counts characters; it was 128 before 2021-10.
_TITLE = {
    512: re.compile(r"<title>([^<]{1,512})</title>", re.IGNORECASE),
    128: re.compile(r"<title>([^<]{1,128})</title>", re.IGNORECASE),
}


def body_text(body: str | bytes | None) -> str:
    """A body as text for pattern matching: bytes are read as UTF-8 with replacement, like Go's regexp."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body


def bytelen(body: str | bytes | None) -> int:
    """Length in bytes as Go's ``len`` counts it (UTF-8).  ASCII text needs no re-encoding."""
    if body is None:
        return 0
    if isinstance(body, bytes) or body.isascii():  # str.isascii is O(1) in CPython
        return len(body)
    return len(body.encode("utf-8", "surrogatepass"))


def title(body: str | bytes | None, bound: int = 512) -> str:
    """TITLE(b): the first ``<title>`` of up to ``bound`` characters (no ``<`` inside), else ""."""
    if not body:
        return ""
    m = _TITLE[bound].search(body_text(body))
    return m.group(1) if m else ""


def long_words(text: str | None) -> frozenset[str]:
    """LONG(t): the lower-cased words of 5+ UTF-8 bytes, splitting on single spaces."""
    if not text:
        return frozenset()
    return frozenset(w.lower() for w in text.split(" ") if bytelen(w) >= 5)


def header_names(headers: dict[str, str] | None) -> frozenset[str]:
    return frozenset(k.lower() for k in headers) if headers else frozenset()


# --- addresses ------------------------------------------------------------------------------------------

_BOGON_NETS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "::/96",
        "100::/64",
        "2001:10::/28",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_6TO4 = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


@lru_cache(maxsize=8192)
def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, or None when ``text`` is not an IP (cached: the same addresses recur across a corpus)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_ip(text: str | None) -> bool:
    if not text:
        return False
    if text[-1].isalpha() and ":" not in text:
        return False  # a host name: skip the costly parse (no IPv4 ends in a letter)
    return parse_ip(text.strip("[]")) is not None


@lru_cache(maxsize=4096)
def is_bogon(text: str) -> bool:
    """BOGON(ip): not an IP, or a private/reserved address, or 6to4/Teredo wrapping an IPv4 bogon."""
    ip = parse_ip(text)
    if ip is None:
        return True
    if ip.is_loopback or ip.is_link_local:
        return True
    if any(ip.version == net.version and ip in net for net in _BOGON_NETS):
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        packed = int(ip)
        if ip in _6TO4:
            return is_bogon(str(ipaddress.IPv4Address((packed >> 80) & 0xFFFFFFFF)))
        if ip in _TEREDO:
            return is_bogon(str(ipaddress.IPv4Address((packed >> 64) & 0xFFFFFFFF)))
    return False


def is_loopback(text: str) -> bool:
    ip = parse_ip(text)
    return ip is not None and ip.is_loopback


def hostport(ip: str, port: int | str | None) -> str:
    """hp(ip, port): ``ip:port``, IPv6 in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def split_hostport(address: str) -> str:
    """The IP of an ``ip:port`` / ``[v6]:port`` endpoint."""
    if address.startswith("["):
        return address[1 : address.find("]")] if "]" in address else address[1:]
    head, sep, _ = address.rpartition(":")
    return head if sep and ":" not in head else address


def url_host(url: str | None) -> str:
    """The host of a URL as Go's ``URL.Hostname`` gives it (no port, no brackets, case kept)."""
    if not url:
        return ""
    rest = url.split("://", 1)[1] if "://" in url else url
    for stop in "/?#":
        rest = rest.split(stop, 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    if rest.startswith("["):
        return rest[1 : rest.find("]")] if "]" in rest else rest[1:]
    return rest.split(":", 1)[0]


# --- reading test keys ----------------------------------------------------------------------------------


def answer_address(answer: DNSAnswer) -> str | None:
    """The address of an A/AAAA answer, None for other answers."""
    kind = answer.answer_type
    if kind == "A" or (kind is None and answer.ipv4):
        return answer.ipv4
    if kind == "AAAA" or (kind is None and answer.ipv6):
        return answer.ipv6
    return None


def dns_answers(keys: WebConnectivityKeys) -> Iterator[tuple[DNSQuery, DNSAnswer]]:
    """Every (query, answer) pair the probe recorded, all resolvers and depths."""
    for query in keys.queries or ():
        for answer in query.answers or ():
            yield query, answer


def responses(keys: WebConnectivityKeys) -> Iterator[HTTPResponse]:
    """Every HTTP response the probe received, newest (final hop) first."""
    for entry in keys.requests or ():
        if entry.response is not None:
            yield entry.response


def response_bodies(keys: WebConnectivityKeys) -> Iterator[str | bytes]:
    """Every non-empty decoded response body (str, or bytes when it was not UTF-8), final hop first."""
    for response in responses(keys):
        if response.body:
            yield response.body


def response_headers(keys: WebConnectivityKeys) -> Iterator[dict[str, str]]:
    """Every response's headers (names as written, values as text), final hop first."""
    for response in responses(keys):
        if response.headers:
            yield response.headers


def control_asn(keys: WebConnectivityKeys, ip: str, probe_asns: dict[str, int]) -> int:
    """ASN of an address the control resolved: the helper's ``ip_info`` if present, else the probe's own
    lookup of the same address (the same database), else 0 (unknown).  An approximation (§0)."""
    control = keys.control
    if control is not None and control.ip_info:
        info = control.ip_info.get(ip)
        if info is not None and info.asn is not None:
            return info.asn
    return probe_asns.get(ip, 0)


_VERSION_PARTS = re.compile(r"[.\-+]")


@lru_cache(maxsize=256)
def version_tuple(text: str | None) -> tuple[int, ...]:
    """``"0.4.3"`` → ``(0, 4, 3)``; pre-release tails are ignored, junk gives ``()``."""
    if not text:
        return ()
    parts: list[int] = []
    for piece in _VERSION_PARTS.split(text):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)

"""Address helpers: which IPs a measurement may dial, and OONI's ``ip:port`` endpoint notation."""

from __future__ import annotations

import ipaddress


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def is_ip(text: str) -> bool:
    return parse_ip(text) is not None


def is_bogon(text: str) -> bool:
    """True for anything not globally routable (loopback, private, link-local, reserved, multicast).

    The control refuses to dial these unless started with ``--allow-private``: a public test helper must not
    become a way to probe the network it runs in.
    """
    ip = parse_ip(text)
    if ip is None:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def endpoint(ip: str, port: int) -> str:
    """``ip:port``, with IPv6 as ``[v6]:port`` (the key format of the control's ``tcp_connect``)."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def split_endpoint(text: str) -> tuple[str, int] | None:
    """Inverse of :func:`endpoint`; None when the text is not ``IP:port`` with a valid IP and port."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    if parse_ip(host) is None:
        return None
    number = int(port)
    if not 0 < number < 65536:
        return None
    return host, number

"""The two legacy web_connectivity probes (ALGORITHMS.md §1, "Legacy"): Measurement Kit's C++ probe
(test_version 0.0.1) and the Python ooniprobe 0.1.0–0.3.2.

Both reported their own error strings in ``dns_experiment_failure``/``http_experiment_failure``; those are
raw observations here (the only record of what failed), compared by their first word.
"""

from __future__ import annotations

import ipaddress
import re
from enum import Enum

from netfreedom.analysis.web_connectivity.common import (
    COMMON_HEADERS,
    NULL,
    Matches,
    Result,
    body_text,
    bytelen,
    control_asn,
    header_names,
    hostport,
    is_ip,
    parse_ip,
)
from netfreedom.models.web_connectivity import WebConnectivityKeys

_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE)


class Flavor(Enum):
    MK = "mk"
    PYTHON = "python"


def _word(failure: str | None) -> str | None:
    return failure.split(" ", 1)[0] if failure else None


def _probe_addresses(keys: WebConnectivityKeys, flavor: Flavor, host: str) -> list[str]:
    if flavor is Flavor.MK and is_ip(host):
        return [host]
    addrs: list[str] = []
    for query in keys.queries or ():
        for answer in query.answers or ():
            if answer.answer_type == "A":
                addrs.append(answer.ipv4 or "")
            elif answer.answer_type == "CNAME":
                addrs.append("" if flavor is Flavor.MK else answer.hostname or "")
    return addrs


def _mk_private(addr: str) -> bool:
    if addr.startswith(("127.", "10.", "192.168.")) or "localhost" in addr:
        return True
    if addr.startswith("172."):
        second = addr.split(".")[1] if addr.count(".") >= 1 else ""
        return second.isdigit() and 16 <= int(second) <= 31
    return False


def _python_private(addr: str, strict: bool) -> bool:
    ip = parse_ip(addr)
    if not isinstance(ip, ipaddress.IPv4Address):
        return strict  # from 0.2.0 anything but a public IPv4 (CNAME names, IPv6) counts
    return ip.is_private or ip.is_loopback


def dns_consistent(keys: WebConnectivityKeys, flavor: Flavor, host: str, python_strict_private: bool) -> bool:
    cdns = keys.control.dns if keys.control is not None else None
    cfailure = _word(cdns.failure) if cdns is not None else None
    caddrs = (cdns.addrs if cdns is not None else None) or []
    pfailure = _word(keys.dns_experiment_failure)
    paddrs = _probe_addresses(keys, flavor, host)
    if pfailure:
        if flavor is Flavor.MK:
            return pfailure == cfailure
        if cfailure is not None and pfailure == cfailure:
            return True
        paddrs = []
    if set(paddrs) == set(caddrs):
        return True
    for addr in paddrs:
        if _mk_private(addr) if flavor is Flavor.MK else _python_private(addr, python_strict_private):
            return False
    if set(paddrs) & set(caddrs):
        return True
    pasns: dict[str, int] = {}
    for query in keys.queries or ():
        for answer in query.answers or ():
            if answer.ipv4:
                pasns[answer.ipv4] = answer.asn or 0
    probe_side = {pasns.get(a, 0) for a in paddrs} - {0}
    control_side = {control_asn(keys, a, pasns) for a in caddrs} - {0}
    return bool(probe_side & control_side)


def _tcp_ok(keys: WebConnectivityKeys) -> bool:
    ctcp = (keys.control.tcp_connect if keys.control is not None else None) or {}
    for conn in keys.tcp_connect or ():
        if conn.ip is None:
            continue
        entry = ctcp.get(hostport(conn.ip, conn.port))
        if entry is None:
            continue
        probe_failed = conn.status is None or not conn.status.success
        if entry.status is True and probe_failed:
            return False
    return True


def _title(body: str | bytes | None, strip: bool) -> str:
    m = _TITLE.search(body_text(body)) if body else None
    text = m.group(1) if m else ""
    return text.strip() if strip else text


def _title_match(ptitle: str, ctitle: str, flavor: Flavor) -> bool | None:
    pwords, cwords = ptitle.split(" "), ctitle.split(" ")
    index = next((i for i, w in enumerate(pwords) if len(w) >= 5), None)
    if flavor is Flavor.MK:
        if index is not None and index < len(cwords):
            return pwords[index] == cwords[index]
        return ptitle == ctitle
    if index is None:
        return None
    if index >= len(cwords):
        return False
    return pwords[index].lower() == cwords[index].lower()


def http_matches(keys: WebConnectivityKeys, flavor: Flavor) -> Matches | None:
    """The four comparisons the legacy probe wrote; None when it skipped them (either side's HTTP failed)."""
    chttp = keys.control.http_request if keys.control is not None else None
    if keys.http_experiment_failure or chttp is None or chttp.failure:
        return None
    requests = keys.requests or []
    response = requests[0].response if requests else None
    body = response.body if response is not None else None
    plen, clen = bytelen(body), chttp.body_length or 0
    if plen == clen:
        proportion = 1.0
    elif plen <= 0 or clen <= 0:
        proportion = 0.0
    else:
        proportion = min(plen, clen) / max(plen, clen)
    body_match = proportion > 0.7
    pcode = response.code if response is not None else None
    ccode = chttp.status_code or 0
    mk_5xx: bool | None = True if flavor is Flavor.MK else None
    status = mk_5xx if ccode // 100 == 5 else pcode == ccode
    pnames = header_names(response.headers if response is not None else None)
    cnames = header_names(chttp.headers)
    headers = pnames == cnames or bool((pnames - COMMON_HEADERS) & (cnames - COMMON_HEADERS))
    strip = flavor is Flavor.PYTHON
    ctitle = (chttp.title or "").strip() if strip else chttp.title or ""
    title_match = _title_match(_title(body, strip), ctitle, flavor)
    return status, body_match, headers, title_match


def _http_ok(keys: WebConnectivityKeys, flavor: Flavor) -> bool | None:
    """The legacy ``http_experiment_ok``: False (MK) / None (Python) when the comparisons were skipped."""
    matches = http_matches(keys, flavor)
    if matches is None:
        return False if flavor is Flavor.MK else None
    status, body_match, headers, title_match = matches
    # Both probes compare each with ``is True``: a None title is "no match", never a None result.
    return (body_match is True or headers is True or title_match is True) and status is not False


def reproduce(keys: WebConnectivityKeys, flavor: Flavor, host: str, python_strict_private: bool) -> Result:
    """``(blocking, accessible)`` as Measurement Kit or the Python ooniprobe computed them."""
    control_failed = keys.control_failure is not None or keys.control is None
    hfail = _word(keys.http_experiment_failure)
    blocking: str | bool | None
    if control_failed:
        if flavor is Flavor.MK:
            return NULL
        blocking = None
    else:
        chttp = keys.control.http_request if keys.control is not None else None
        cfail = chttp is None or bool(chttp.failure)
        consistent = dns_consistent(keys, flavor, host, python_strict_private)
        tcp_ok = _tcp_ok(keys)
        exp = _http_ok(keys, flavor)
        cdns_failure = keys.control.dns.failure if keys.control and keys.control.dns else None
        if consistent and not tcp_ok and hfail:
            blocking = "tcp_ip"
        elif consistent and tcp_ok and exp is False and (flavor is Flavor.PYTHON or not (hfail or cfail)):
            blocking = "http-diff"
        elif consistent and tcp_ok and hfail and not cfail:
            blocking = "dns" if hfail == "dns_lookup_error" else "http-failure"
        elif (not consistent and (exp is False or (flavor is Flavor.PYTHON and hfail))) or (
            # MK only: DNS consistent, pages differ, and the control could not resolve
            flavor is Flavor.MK and consistent and exp is False and not (hfail or cfail) and cdns_failure
        ):
            blocking = "dns"
        else:
            blocking = False
    if flavor is Flavor.MK:
        return blocking, not isinstance(blocking, str)
    accessible = not hfail and not keys.dns_experiment_failure and blocking in (False, None)
    return blocking, accessible

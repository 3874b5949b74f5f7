"""web_connectivity 0.5.0–0.5.26, the original LTE engine (ALGORITHMS.md §2, "Orig engine").

It reads the raw keys directly and builds the blocking flags (``x_blocking_flags``) itself; those flags are
recomputed here, never read.
"""

from __future__ import annotations

from netfreedom.analysis.web_connectivity.common import (
    ACCESSIBLE,
    COMMON_HEADERS,
    NO_MATCHES,
    NULL,
    Matches,
    Result,
    answer_address,
    bytelen,
    control_asn,
    header_names,
    hostport,
    is_bogon,
    is_ip,
    long_words,
    split_hostport,
    title,
    url_host,
)
from netfreedom.models.web_connectivity import (
    ControlHTTPRequest,
    HTTPRequestEntry,
    HTTPResponse,
    WebConnectivityKeys,
)

DNS, TCP_IP, TLS, HTTP_FAILURE, HTTP_DIFF, SUCCESS = 1, 2, 4, 8, 16, 32
_UNREACHABLE = frozenset({"network_unreachable", "host_unreachable"})
_HTTP_FLAGGED = frozenset({"connection_reset", "generic_timeout_error", "eof_error"})
_REDIRECT_OR_OK = frozenset({200, 301, 302, 307, 308})


def _has_control(keys: WebConnectivityKeys) -> bool:
    return keys.control is not None and keys.x_control_request is not None


def _unreachable_v6(keys: WebConnectivityKeys, ip: str) -> bool:
    return any(
        t.ip == ip and ":" in ip and t.status is not None and t.status.failure in _UNREACHABLE
        for t in keys.tcp_connect or ()
    )


def _dns_flags(keys: WebConnectivityKeys, domain: str) -> int:
    flags = 0
    answers: dict[str, int] = {}  # A/AAAA answers for the domain, all engines: ip -> asn
    for query in keys.queries or ():
        for answer in query.answers or ():
            addr = answer_address(answer)
            if addr is None:
                continue
            if is_bogon(addr):
                flags |= 1
            if query.hostname == domain:
                answers[addr] = answer.asn or 0
    control = keys.control
    if not _has_control(keys) or control is None or is_ip(domain):
        return flags
    th_addrs = (control.dns.addrs if control.dns is not None else None) or []
    if not th_addrs:
        return flags
    for query in keys.queries or ():
        if query.hostname != domain or query.engine == "doh" or query.failure is None:
            continue
        if query.query_type == "AAAA" and query.failure == "dns_no_answer":
            continue
        flags |= 2
    if not answers:
        return flags | 4
    th_set = set(th_addrs)
    th_asns = {control_asn(keys, ip, answers) for ip in th_addrs}
    valid_by_tls = {
        split_hostport(h.address)
        for h in keys.tls_handshakes or ()
        if h.failure is None and h.address and h.server_name == domain
    }
    for addr, asn in answers.items():
        if addr in th_set or is_bogon(addr) or addr in valid_by_tls or _unreachable_v6(keys, addr):
            continue
        if asn not in th_asns:
            return flags | 4
    return flags


def _compare(response: HTTPResponse, chttp: ControlHTTPRequest) -> Matches:
    body, truncated = response.body, bool(response.body_is_truncated)
    clen = chttp.body_length or 0
    body_match: bool | None = None
    if clen > 0 and not truncated:
        m = bytelen(body)
        if m > 0:
            body_match = min(m, clen) / max(m, clen) > 0.7
    rcode, ccode = response.code or 0, chttp.status_code or 0
    status: bool | None
    if rcode == ccode:
        status = True
    elif ccode // 100 != 2:
        status = None
    else:
        status = False
    headers: bool | None = None
    if response.headers and chttp.headers:
        pnames, cnames = header_names(response.headers), header_names(chttp.headers)
        headers = pnames == cnames or bool((pnames - COMMON_HEADERS) & (cnames - COMMON_HEADERS))
    title_match: bool | None = None
    if not truncated and chttp.title:
        ptitle = title(body)
        if ptitle:
            title_match = long_words(ptitle) == long_words(chttp.title)
    return status, body_match, headers, title_match


def _cleartext_response(first: HTTPRequestEntry) -> HTTPResponse | None:
    if first.failure is not None:
        return None
    if first.request is not None and (first.request.url or "").startswith("https://"):
        return None
    return first.response


def http_matches(keys: WebConnectivityKeys) -> Matches:
    """The ``*_match`` keys: compared only for a cleartext final response, with a working control."""
    requests = keys.requests or []
    control = keys.control
    chttp = control.http_request if control is not None else None
    if not requests or chttp is None or chttp.failure is not None or not _has_control(keys):
        return NO_MATCHES
    response = _cleartext_response(requests[0])
    return NO_MATCHES if response is None else _compare(response, chttp)


def _http_flags(first: HTTPRequestEntry, chttp: ControlHTTPRequest) -> int:
    if first.failure is not None:
        return HTTP_FAILURE if first.failure in _HTTP_FLAGGED else 0
    if first.request is not None and (first.request.url or "").startswith("https://"):
        return SUCCESS
    response = first.response
    if response is None:
        return HTTP_DIFF
    status, body_match, headers, title_match = _compare(response, chttp)
    if status is True and True in (body_match, headers, title_match):
        return SUCCESS
    return HTTP_DIFF


def blocking_flags(keys: WebConnectivityKeys) -> int:
    """The orig engine's ``x_blocking_flags``, recomputed."""
    control = keys.control
    has_control = _has_control(keys)
    domain = url_host(keys.x_control_request.http_request if keys.x_control_request else None)
    flags = DNS if _dns_flags(keys, domain) else 0
    if control is not None and has_control:
        ctcp = control.tcp_connect or {}
        for conn in keys.tcp_connect or ():
            failure = conn.status.failure if conn.status is not None else None
            if failure is None or conn.ip is None:
                continue
            if ":" in conn.ip and failure in _UNREACHABLE:
                continue
            entry = ctcp.get(hostport(conn.ip, conn.port))
            if entry is not None and entry.failure is None:
                flags |= TCP_IP
        ctls = control.tls_handshake or {}
        for handshake in keys.tls_handshakes or ():
            if handshake.failure is None or not handshake.address:
                continue
            tentry = ctls.get(handshake.address)
            if tentry is not None and tentry.failure is None:
                flags |= TLS
        chttp = control.http_request
        requests = keys.requests or []
        if requests and chttp is not None and chttp.failure is None:
            flags |= _http_flags(requests[0], chttp)
    return flags


def _fallback(keys: WebConnectivityKeys, minor: int) -> Result:
    control = keys.control
    has_control = _has_control(keys) and control is not None
    th_addrs = (control.dns.addrs if control is not None and control.dns is not None else None) or []
    th_dns_failure = control.dns.failure if control is not None and control.dns is not None else None
    queries = [q for q in keys.queries or () if q.engine != "doh"]
    if (
        minor >= 16
        and has_control
        and any(q.failure is None for q in queries)
        and all(q.failure == "dns_no_answer" for q in queries if q.failure is not None)
        and th_dns_failure == "dns_name_error"
    ):
        return "dns", False
    th_tcp = (control.tcp_connect if control is not None else None) or {}
    if (
        minor >= 11
        and has_control
        and not any(q.answers for q in keys.queries or ())
        and not keys.tcp_connect
        and not keys.tls_handshakes
        and not th_addrs
        and not th_tcp
    ):
        return False, False
    if minor >= 15 and has_control:
        connects = keys.tcp_connect or []
        if connects and all(
            c.status is not None
            and c.status.failure is not None
            and c.ip is not None
            and (entry := th_tcp.get(hostport(c.ip, c.port))) is not None
            and entry.failure is not None
            for c in connects
        ):
            return False, False
        th_tls = (control.tls_handshake if control is not None else None) or {}
        handshakes = keys.tls_handshakes or []
        if (
            handshakes
            and th_tls
            and all(
                h.failure is not None
                and h.address is not None
                and (tentry := th_tls.get(h.address)) is not None
                and tentry.failure == h.failure
                for h in handshakes
            )
        ):
            return False, False
    requests = keys.requests or []
    if requests and all(
        r.failure is None
        and r.request is not None
        and (r.request.url or "").startswith("https://")
        and r.response is not None
        and r.response.code in _REDIRECT_OR_OK
        for r in requests
    ):
        return ACCESSIBLE
    return NULL


def reproduce(keys: WebConnectivityKeys, minor: int) -> Result:
    """``(blocking, accessible)`` of the orig engine; ``minor`` is the 0.5.x patch number."""
    flags = blocking_flags(keys)
    if flags & DNS:
        return "dns", False
    if flags & TCP_IP:
        return "tcp_ip", False
    if flags & (TLS | HTTP_FAILURE):
        return "http-failure", False
    if flags & HTTP_DIFF:
        return "http-diff", False
    if flags == SUCCESS:
        return ACCESSIBLE
    return _fallback(keys, minor)

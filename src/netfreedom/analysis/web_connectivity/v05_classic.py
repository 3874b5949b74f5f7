"""web_connectivity 0.5.27+ "classic" analysis (ALGORITHMS.md §2.1–2.3): observations, metrics, verdict.

The probe flattens its raw keys into observations (one per DNS answer or failure, one per endpoint carrying
its TCP, TLS and HTTP outcome), attaches what the control saw, keeps the "classic" subset (system resolver,
body-fetching endpoints) and walks it deepest-redirect first.  0.5.27 and early 0.5.28 development builds
lack some fixes; :class:`Fixes` says which apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    is_ip,
    is_loopback,
    long_words,
    title,
    url_host,
)
from netfreedom.models.web_connectivity import (
    HTTPResponse,
    WebConnectivityKeys,
)

DNS, TCP, TLS, HTTP = 0, 1, 2, 3
_CLASSIC_ENGINES = frozenset({"getaddrinfo", "golang_net_resolver"})


@dataclass(frozen=True, slots=True)
class Fixes:
    """The 0.5.28 fixes that landed without a version bump (present in every release build)."""

    website_down: bool = True  # 2024-01-22: both-failed → DOWN; "TH resolved nothing" → inconsistent
    loopback_ip_url: bool = True  # 2024-01-24: loopback rule, IP-URL endpoints, dns_no_answer rules
    truncation: bool = True  # 2024-01-31: truncation from the response, not the request


NO_FIXES = Fixes(website_down=False, loopback_ip_url=False, truncation=False)


@dataclass(slots=True)
class Obs:
    type: int
    failure: str  # "" = success
    txid: int
    depth: int | None
    domain: str | None = None
    engine: str | None = None
    qtype: str | None = None
    addrs: frozenset[str] = frozenset()
    ip: str | None = None
    origin: str | None = None
    ep: str = ""
    fetch_body: bool | None = None
    tcp: str | None = None
    tls: str | None = None
    sni: str | None = None
    http: str | None = None
    response: HTTPResponse | None = None
    trunc: bool = False
    final: bool = False
    c_dns: str | None = None
    c_addrs: frozenset[str] | None = None
    c_tcp: str | None = None
    c_tls: str | None = None
    c_http: str | None = None
    c_code: int = 0
    c_len: int = 0
    c_keys: frozenset[str] = field(default_factory=frozenset)
    c_title: str = ""


def _tags(tags: list[str] | None) -> tuple[int | None, bool | None]:
    depth: int | None = None
    fetch_body: bool | None = None
    for tag in tags or ():
        if tag.startswith("depth="):
            value = tag[6:]
            depth = int(value) if value.isdigit() else depth
        elif tag.startswith("fetch_body="):
            fetch_body = tag[11:] == "true"
    return depth, fetch_body


@dataclass(slots=True)
class Container:
    dns_fail: list[Obs]
    dns_ok: list[Obs]
    eps: list[Obs]


def build(keys: WebConnectivityKeys, fixes: Fixes) -> Container:
    """§2.1: the observations, with the control's results attached."""
    dns_fail: list[Obs] = []
    dns_ok: list[Obs] = []
    for q in keys.queries or ():
        depth, _ = _tags(q.tags)
        txid = q.transaction_id or 0
        if q.failure:
            dns_fail.append(Obs(DNS, q.failure, txid, depth, q.hostname, q.engine, q.query_type))
            continue
        addrs = frozenset(a for ans in q.answers or () if (a := answer_address(ans)))
        for addr in sorted(addrs):
            obs = Obs(DNS, "", txid, depth, q.hostname, q.engine, q.query_type, addrs, addr, "dns")
            dns_ok.append(obs)
    first: dict[str, Obs] = {}
    for o in dns_ok:
        if o.ip is not None:
            first.setdefault(o.ip, o)
    eps: dict[int, Obs] = {}
    for t in keys.tcp_connect or ():
        ip = t.ip or ""
        depth, fetch_body = _tags(t.tags)
        failure = (t.status.failure if t.status is not None else None) or ""
        resolved = first.get(ip)
        e = Obs(TCP, failure, t.transaction_id or 0, depth, ip=ip, tcp=failure, fetch_body=fetch_body)
        e.ep = hostport(ip, t.port)
        if resolved is not None:
            e.origin, e.domain, e.engine, e.qtype = "dns", resolved.domain, resolved.engine, resolved.qtype
        eps[e.txid] = e
    for h in keys.tls_handshakes or ():
        e_tls = eps.get(h.transaction_id or 0)
        if e_tls is not None:
            e_tls.type, e_tls.failure = TLS, h.failure or ""
            e_tls.tls, e_tls.sni = e_tls.failure, h.server_name
    for r in keys.requests or ():
        e_http = eps.get(r.transaction_id or 0)
        if e_http is None:
            continue
        e_http.type, e_http.failure = HTTP, r.failure or ""
        e_http.http = e_http.failure
        if r.failure is None and r.response is not None:
            e_http.response = r.response
            if fixes.truncation:
                e_http.trunc = bool(r.response.body_is_truncated)
            else:
                e_http.trunc = bool(r.request is not None and r.request.body_is_truncated)
            e_http.final = (r.response.code or 0) // 100 in (2, 4, 5)
    container = Container(dns_fail, dns_ok, list(eps.values()))
    _attach_control(keys, container)
    return container


def _attach_control(keys: WebConnectivityKeys, c: Container) -> None:
    control = keys.control
    if keys.x_control_request is None or control is None:
        return
    domain = url_host(keys.x_control_request.http_request)
    cd = control.dns
    caddrs = frozenset(cd.addrs or ()) if cd is not None else frozenset()

    def setdns(o: Obs) -> None:
        if cd is None:
            return
        o.c_dns = cd.failure or ""
        o.c_addrs = None if cd.failure else caddrs

    for o in c.dns_fail:
        if o.domain == domain:
            setdns(o)
    for o in c.dns_ok:
        if o.domain == domain:
            setdns(o)
    ctcp = control.tcp_connect or {}
    ctls = control.tls_handshake or {}
    for e in c.eps:
        if e.domain is None and e.ip in caddrs:
            e.origin = "th"
            setdns(e)
        elif e.domain == domain:
            setdns(e)
        tcp_entry = ctcp.get(e.ep)
        if tcp_entry is not None:
            e.c_tcp = tcp_entry.failure or ""
        tls_entry = ctls.get(e.ep) if e.sni else None
        if tls_entry is not None and tls_entry.server_name == e.sni:
            e.c_tls = tls_entry.failure or ""
    ch = control.http_request
    if ch is None:
        return
    names = header_names(ch.headers)
    for o in (*c.dns_fail, *c.dns_ok, *c.eps):
        o.c_http = ch.failure or ""
        if not ch.failure:
            o.c_code, o.c_len = ch.status_code or 0, ch.body_length or 0
            o.c_keys, o.c_title = names, ch.title or ""


def classic_filter(c: Container, fixes: Fixes) -> Container:
    dns_fail = [o for o in c.dns_fail if o.engine in _CLASSIC_ENGINES]
    dns_ok = [o for o in c.dns_ok if o.engine in _CLASSIC_ENGINES]
    resolved = {o.ip for o in dns_ok}
    eps = []
    for e in c.eps:
        if e.origin == "th" or e.fetch_body is not True:
            continue
        needs_lookup = e.origin == "dns" if fixes.loopback_ip_url else True
        if needs_lookup and e.ip not in resolved:
            continue
        eps.append(e)
    return Container(dns_fail, dns_ok, eps)


@dataclass(slots=True)
class DNSMetrics:
    valid: set[int] = field(default_factory=set)
    invalid: set[int] = field(default_factory=set)
    success: set[int] = field(default_factory=set)
    expected: set[int] = field(default_factory=set)
    unexpected: set[int] = field(default_factory=set)


def dns_metrics(keys: WebConnectivityKeys, k: Container, fixes: Fixes) -> DNSMetrics:
    """§2.2, the DNS part (the TCP/TLS/HTTP metrics only feed the ext flags, which no verdict reads)."""
    m = DNSMetrics()
    probe_asns: dict[str, int] = {}
    for q in keys.queries or ():
        for ans in q.answers or ():
            addr = answer_address(ans)
            if addr:
                probe_asns[addr] = ans.asn or 0
    seen: set[int] = set()
    for o in k.dns_ok:
        if o.txid in seen:
            continue
        seen.add(o.txid)
        if o.depth != 0:
            continue
        m.success.add(o.txid)
        if o.c_addrs is None:
            continue
        pasns = {probe_asns.get(a, 0) for a in o.addrs} - {0}
        casns = {control_asn(keys, a, probe_asns) for a in o.c_addrs} - {0}
        if (o.addrs & o.c_addrs) or (pasns & casns):
            m.valid.add(o.txid)
        else:
            m.invalid.add(o.txid)
    seen.clear()
    for o in k.dns_fail:
        if o.txid in seen:
            continue
        seen.add(o.txid)
        if o.engine == "doh" or (o.qtype == "AAAA" and o.failure == "dns_no_answer"):
            continue
        if o.depth != 0 or o.c_dns is None:
            continue
        both_failed = bool(o.c_dns)
        no_answer_anywhere = o.failure == "dns_no_answer" and o.c_addrs == frozenset()
        if both_failed or (fixes.loopback_ip_url and no_answer_anywhere):
            m.expected.add(o.txid)
        else:
            m.unexpected.add(o.txid)
    return m


def final_matches(o: Obs) -> Matches:
    """§2.2's comparisons of a final response with the control's (all None without a response)."""
    response = o.response
    if response is None:
        return NO_MATCHES
    code = response.code or 0
    status: bool | None = None
    if code > 0 and o.c_code > 0:
        if code == o.c_code:
            status = True
        elif o.c_code // 100 != 2:
            status = None
        else:
            status = False
    blen = bytelen(response.body)
    body: bool | None = None
    if blen > 0 and not o.trunc and o.c_len > 0:
        body = min(blen, o.c_len) / max(blen, o.c_len) > 0.7
    if o.c_code <= 0:
        return status, body, None, None
    headers = bool((header_names(response.headers) - COMMON_HEADERS) & (o.c_keys - COMMON_HEADERS))
    same_title = not (long_words(title(response.body)) ^ long_words(o.c_title))
    return status, body, headers, same_title


def http_matches(keys: WebConnectivityKeys, fixes: Fixes) -> Matches:
    """The ``*_match`` keys the classic analysis writes: the final response's, when the control ran."""
    kept = classic_filter(build(keys, fixes), fixes)
    for o in kept.eps:
        if o.final and o.c_http is not None:
            return final_matches(o)
    return NO_MATCHES


def httpdiff(o: Obs) -> bool:
    """True unless the final response matches the control (status and one of body/headers/title)."""
    status, body, headers, same_title = final_matches(o)
    return not (status is True and True in (body, headers, same_title))


def _onlyloop(addrs: frozenset[str] | None) -> bool:
    ips = [a for a in addrs or () if is_ip(a)]
    return bool(ips) and all(is_loopback(a) for a in ips)


def dns_consistency(keys: WebConnectivityKeys, m: DNSMetrics, fixes: Fixes) -> str | None:
    if not m.unexpected and not m.invalid and (m.valid or m.expected):
        return "consistent"
    if m.invalid or m.unexpected:
        return "inconsistent"
    control = keys.control
    if (
        fixes.website_down
        and m.success
        and keys.x_control_request is not None
        and control is not None
        and not (control.dns.addrs if control.dns is not None else None)
    ):
        return "inconsistent"
    return None


def reproduce(keys: WebConnectivityKeys, fixes: Fixes) -> Result:
    """``(blocking, accessible)`` of the classic analysis (0.5.27 with :data:`NO_FIXES`, 0.5.28)."""
    k = classic_filter(build(keys, fixes), fixes)
    inconsistent = dns_consistency(keys, dns_metrics(keys, k, fixes), fixes) == "inconsistent"

    def nil() -> Result:
        return ("dns", False) if inconsistent else NULL

    def blk(reason: str) -> Result:
        return ("dns" if inconsistent else reason), False

    def down() -> Result:
        return ("dns", False) if inconsistent else (False, False)

    def both_failed(kind: int) -> Result:
        if fixes.website_down:
            return down()
        return nil() if kind == TLS else ACCESSIBLE

    ordered = sorted(
        (*k.dns_fail, *k.dns_ok, *k.eps),
        key=lambda o: (-(o.depth if o.depth is not None else -1), -o.type, o.failure, -o.txid),
    )
    for o in ordered:
        if o.final:
            if o.tls == "":
                return ACCESSIBLE
            if o.c_http is None:
                return nil()
            return blk("http-diff") if httpdiff(o) else ACCESSIBLE
        if o.type == HTTP and o.failure:
            if o.c_http is None:
                return nil()
            return both_failed(HTTP) if o.c_http else blk("http-failure")
        if o.type in (TLS, TCP) and o.failure:
            control = o.c_tls if o.type == TLS else o.c_tcp
            if control is None:
                return nil() if o.c_http is None else blk("http-failure")
            if control:
                return both_failed(o.type)
            return blk("http-failure" if o.type == TLS else "tcp_ip")
        if o.type == DNS and o.failure:
            if o.c_dns is None:
                return ACCESSIBLE if o.c_http is None else blk("dns")
            if o.c_dns:
                return both_failed(DNS)
            if fixes.loopback_ip_url and o.failure == "dns_no_answer" and o.c_addrs == frozenset():
                return down()
            return blk("dns")
        if (
            fixes.loopback_ip_url
            and o.type == DNS
            and o.c_dns == ""
            and o.c_addrs is not None
            and _onlyloop(o.addrs)
        ):
            return down() if _onlyloop(o.c_addrs) else blk("dns")
    return NULL

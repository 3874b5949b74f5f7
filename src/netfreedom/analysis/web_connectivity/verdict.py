"""netfreedom's own web_connectivity verdict: one set of rules for every probe version.

The rules read only raw observations (queries, connects, handshakes, requests) and the control, and follow
the measurement layer by layer: DNS, then TCP, TLS, HTTP.  Interference needs a witness — the control
reaching what the probe could not — otherwise the failure is the site's own (``down``), and without a
working control nothing is ``ok``.  The confidence of each rule is in docs/web_connectivity.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from netfreedom.analysis.web_connectivity.common import (
    COMMON_HEADERS,
    NXDOMAIN,
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
from netfreedom.models.verdict import Layer, Outcome, Reason
from netfreedom.models.web_connectivity import (
    ControlHTTPRequest,
    HTTPRequestEntry,
    WebConnectivityKeys,
)


@dataclass(frozen=True, slots=True)
class Own:
    outcome: Outcome
    reason: Reason
    confidence: float
    layer: Layer | None = None


NO_DATA = Own(Outcome.INCONCLUSIVE, Reason.NO_DATA, 0.0)
CONTROL_FAILED = Own(Outcome.INCONCLUSIVE, Reason.CONTROL_FAILED, 0.0)

# Confidence of each conclusion (documented in docs/web_connectivity.md; change ANALYSIS_VERSION with them).
BOGON_CONFIRMED = 0.95  # private/bogon answer while the control resolves public addresses
BOGON_UNCONFIRMED = 0.8  # private/bogon answer, control unavailable
NXDOMAIN_BLOCKED = 0.8
DNS_FAILURE_BLOCKED = 0.6
DNS_INCONSISTENT = 0.7
TCP = {"connection_reset": 0.8, "generic_timeout_error": 0.7, "timed_out": 0.7, "connection_refused": 0.75}
TCP_OTHER = 0.6
TLS = {"connection_reset": 0.85, "generic_timeout_error": 0.75, "eof_error": 0.75}
TLS_OTHER = 0.7
HTTP_FAILURE = {"connection_reset": 0.7, "eof_error": 0.65, "generic_timeout_error": 0.6}
HTTP_OTHER = 0.5
HTTP_DIFF = 0.5
PRIVATE_REDIRECT = 0.85
OK_HTTPS = 0.95
OK_MATCH = 0.85
DOWN_DNS = 0.8
DOWN_OTHER = 0.7
# With only the control's final HTTP result as witness (no per-endpoint control data), a little less sure.
INDIRECT = 0.9

_EMPTY = WebConnectivityKeys()
_TCP_REASON = {
    "connection_reset": Reason.TCP_RESET,
    "generic_timeout_error": Reason.TCP_TIMEOUT,
    "timed_out": Reason.TCP_TIMEOUT,
    "connection_refused": Reason.TCP_REFUSED,
}
# Legacy (Twisted, Measurement Kit) failure names → the Go names the rules speak (ALGORITHMS.md §4).
_LEGACY_FAILURES = {
    "connection_refused_error": "connection_refused",
    "tcp_timed_out_error": "generic_timeout_error",
    "deferred_timeout_error": "generic_timeout_error",
    "task_timed_out": "generic_timeout_error",
    "response_never_received": "generic_timeout_error",
    "connection_lost_error": "connection_reset",
    "connection_done": "eof_error",
}


def _failure(text: str | None) -> str | None:
    """A failure string reduced to its code (old probes appended details after a space)."""
    if not text:
        return None
    code = text.split(" ", 1)[0].rstrip(":")
    return _LEGACY_FAILURES.get(code, code)


_TLS_REASON = {"connection_reset": Reason.TLS_RESET, "generic_timeout_error": Reason.TLS_TIMEOUT}


@dataclass(frozen=True, slots=True)
class _Facts:
    host: str
    probe_addrs: dict[str, int]  # address -> ASN from the probe's resolvers (DoH excluded)
    control_addrs: tuple[str, ...]  # IP addresses the control resolved
    control_dns_failure: str | None
    chttp: ControlHTTPRequest | None
    control_http_ok: bool


def _facts(keys: WebConnectivityKeys, url: str | None) -> _Facts:
    request_url = keys.x_control_request.http_request if keys.x_control_request is not None else None
    host = url_host(request_url or url)
    queries = [q for q in keys.queries or () if q.engine != "doh"]
    own = [q for q in queries if q.hostname == host] or queries
    probe_addrs: dict[str, int] = {}
    for query in own:
        for answer in query.answers or ():
            addr = answer_address(answer)
            if addr:
                probe_addrs[addr] = answer.asn or 0
    control = keys.control
    cdns = control.dns if control is not None else None
    caddrs = tuple(a for a in (cdns.addrs if cdns is not None else None) or () if is_ip(a))
    chttp = control.http_request if control is not None else None
    http_ok = chttp is not None and chttp.failure is None and (chttp.status_code or 0) > 0
    return _Facts(host, probe_addrs, caddrs, cdns.failure if cdns is not None else None, chttp, http_ok)


def _dns_consistent(keys: WebConnectivityKeys, f: _Facts) -> bool | None:
    """Do the probe's answers belong to the site?  None when the control gives nothing to compare."""
    if is_ip(f.host):
        return True
    if not f.control_addrs or not f.probe_addrs:
        return None
    if set(f.probe_addrs) & set(f.control_addrs):
        return True
    pasns = set(f.probe_addrs.values()) - {0}
    if pasns & ({control_asn(keys, a, f.probe_addrs) for a in f.control_addrs} - {0}):
        return True
    # A handshake that validated the certificate for the host proves the address serves the site.
    for handshake in keys.tls_handshakes or ():
        verified = handshake.failure is None and handshake.server_name == f.host
        if verified and handshake.address and split_hostport(handshake.address) in f.probe_addrs:
            return True
    return False


def _bogon_rule(keys: WebConnectivityKeys, f: _Facts, control_failed: bool) -> Own | None:
    if is_ip(f.host) or f.host in ("", "localhost") or not f.probe_addrs:
        return None
    if not any(is_bogon(a) for a in f.probe_addrs):
        return None
    if f.control_addrs and all(is_bogon(a) for a in f.control_addrs):
        # The site itself publishes private addresses: unreachable from the internet, not censored.
        return Own(Outcome.DOWN, Reason.SITE_DOWN, DOWN_OTHER, Layer.DNS)
    if control_failed or not f.control_addrs:
        return Own(Outcome.BLOCKED, Reason.DNS_BOGON, BOGON_UNCONFIRMED, Layer.DNS)
    return Own(Outcome.BLOCKED, Reason.DNS_BOGON, BOGON_CONFIRMED, Layer.DNS)


def _dns_failure_rule(keys: WebConnectivityKeys, f: _Facts) -> Own | None:
    if f.control_dns_failure and not f.control_http_ok and not is_ip(f.host):
        # The name does not resolve from the control's network: whatever the probe's resolver answered
        # (some ISPs answer for dead names with an ad server), the site is gone for everyone.
        return Own(Outcome.DOWN, Reason.SITE_DOWN, DOWN_DNS, Layer.DNS)
    own = [q for q in keys.queries or () if q.engine != "doh" and q.hostname == f.host]
    if not own or f.probe_addrs or any(q.failure is None for q in own):
        return None
    failure = next(q.failure for q in own if q.failure)
    if not f.control_addrs:
        # The name does not resolve for the control either: gone or broken for everyone.
        return Own(Outcome.DOWN, Reason.SITE_DOWN, DOWN_DNS, Layer.DNS)
    scale = 1.0 if f.control_http_ok else 0.75
    if failure in NXDOMAIN:
        return Own(Outcome.BLOCKED, Reason.DNS_NXDOMAIN, NXDOMAIN_BLOCKED * scale, Layer.DNS)
    return Own(Outcome.BLOCKED, Reason.DNS_FAILURE, DNS_FAILURE_BLOCKED * scale, Layer.DNS)


def _content_matches(first: HTTPRequestEntry, chttp: ControlHTTPRequest) -> bool:
    response = first.response
    if response is None or response.code != chttp.status_code:
        return False
    plen, clen = bytelen(response.body), chttp.body_length or 0
    if plen > 0 and clen > 0 and not response.body_is_truncated and min(plen, clen) / max(plen, clen) > 0.7:
        return True
    pwords, cwords = long_words(title(response.body)), long_words(chttp.title)
    if pwords and cwords:
        # Two titles decide: a blockpage often keeps the site's server headers but never its title.
        return pwords == cwords
    uncommon = header_names(response.headers) - COMMON_HEADERS
    return bool(uncommon & (header_names(chttp.headers) - COMMON_HEADERS))


def _success_rule(keys: WebConnectivityKeys, f: _Facts, first: HTTPRequestEntry) -> Own:
    if not f.control_http_ok or f.chttp is None:
        return CONTROL_FAILED
    url = first.request.url if first.request is not None else None
    if (url or "").startswith("https://"):
        return Own(Outcome.OK, Reason.OK, OK_HTTPS)
    if _content_matches(first, f.chttp):
        return Own(Outcome.OK, Reason.OK, OK_MATCH)
    if _dns_consistent(keys, f) is False:
        return Own(Outcome.BLOCKED, Reason.DNS_INCONSISTENT, DNS_INCONSISTENT, Layer.DNS)
    return Own(Outcome.BLOCKED, Reason.HTTP_DIFF, HTTP_DIFF, Layer.HTTP)


def _fetching(tags: list[str] | None) -> bool:
    # 0.5 also opens connections only to probe TLS (fetch_body=false); they are not the page's endpoints.
    return not tags or "fetch_body=false" not in tags


def _tcp_rule(keys: WebConnectivityKeys, f: _Facts) -> Own | None:
    connects = [t for t in keys.tcp_connect or () if t.ip and _fetching(t.tags)]
    if not connects or any(t.status is not None and t.status.success for t in connects):
        return None
    failures = [_failure(t.status.failure) if t.status is not None else None for t in connects]
    failure = next((x for x in failures if x), None)
    ctcp = (keys.control.tcp_connect if keys.control is not None else None) or {}
    entries = [ctcp.get(hostport(t.ip or "", t.port)) for t in connects]
    witnessed = [e for e in entries if e is not None]
    control_connected = any(e.failure is None and e.status is not False for e in witnessed)
    scale = 1.0
    if not witnessed:
        control_connected, scale = f.control_http_ok, INDIRECT
    if not control_connected:
        if f.control_http_ok and _dns_consistent(keys, f) is False:
            # The probe was handed addresses that work for nobody: DNS sent it astray.
            return Own(Outcome.BLOCKED, Reason.DNS_INCONSISTENT, DNS_INCONSISTENT, Layer.DNS)
        return Own(Outcome.DOWN, Reason.SITE_DOWN, DOWN_OTHER, Layer.TCP)
    if _dns_consistent(keys, f) is False:
        return Own(Outcome.BLOCKED, Reason.DNS_INCONSISTENT, DNS_INCONSISTENT * scale, Layer.DNS)
    reason = _TCP_REASON.get(failure or "", Reason.TCP_FAILURE)
    return Own(Outcome.BLOCKED, reason, TCP.get(failure or "", TCP_OTHER) * scale, Layer.TCP)


def _tls_rule(keys: WebConnectivityKeys, f: _Facts, request_failure: str | None) -> Own | None:
    handshakes = [h for h in keys.tls_handshakes or () if h.address and _fetching(h.tags)]
    # One successful handshake means TLS works on this network; only all-failed counts.
    failed = [] if any(h.failure is None for h in handshakes) else [h for h in handshakes if h.failure]
    failure = _failure(failed[0].failure) if failed else None
    if failure is None and (request_failure or "").startswith("ssl_"):
        failure = request_failure
    if failure is None:
        return None
    ctls = (keys.control.tls_handshake if keys.control is not None else None) or {}
    witnessed = [e for e in (ctls.get(h.address or "") for h in failed) if e is not None]
    scale = 1.0
    if witnessed:
        control_ok = any(e.failure is None for e in witnessed)
    else:
        control_ok, scale = f.control_http_ok, INDIRECT
    if not control_ok:
        return Own(Outcome.DOWN, Reason.SITE_DOWN, DOWN_OTHER, Layer.TLS)
    if _dns_consistent(keys, f) is False:
        return Own(Outcome.BLOCKED, Reason.DNS_INCONSISTENT, DNS_INCONSISTENT * scale, Layer.DNS)
    reason = _TLS_REASON.get(failure, Reason.TLS_FAILURE)
    return Own(Outcome.BLOCKED, reason, TLS.get(failure, TLS_OTHER) * scale, Layer.TLS)


def _http_failure_rule(keys: WebConnectivityKeys, f: _Facts, failure: str) -> Own:
    if not f.control_http_ok:
        return Own(Outcome.DOWN, Reason.SITE_DOWN, DOWN_OTHER, Layer.HTTP)
    if _dns_consistent(keys, f) is False:
        return Own(Outcome.BLOCKED, Reason.DNS_INCONSISTENT, DNS_INCONSISTENT, Layer.DNS)
    if failure.startswith("dns_") or failure == "android_dns_cache_no_data":
        # A redirect led to a name the probe could not resolve.
        return Own(Outcome.BLOCKED, Reason.DNS_FAILURE, DNS_FAILURE_BLOCKED * INDIRECT, Layer.DNS)
    if failure == "connection_refused":
        return Own(Outcome.BLOCKED, Reason.TCP_REFUSED, TCP["connection_refused"] * INDIRECT, Layer.TCP)
    return Own(Outcome.BLOCKED, Reason.HTTP_FAILURE, HTTP_FAILURE.get(failure, HTTP_OTHER), Layer.HTTP)


def _private_redirect(keys: WebConnectivityKeys, f: _Facts) -> Own | None:
    """A response redirecting to a private address: a network device's blockpage, never the site's."""
    if not f.control_http_ok:
        return None
    for entry in keys.requests or ():
        headers = entry.response.headers if entry.response is not None else None
        for name, value in (headers or {}).items():
            if name.lower() == "location" and is_ip(host := url_host(value)) and is_bogon(host):
                return Own(Outcome.BLOCKED, Reason.HTTP_DIFF, PRIVATE_REDIRECT, Layer.HTTP)
    return None


def own_verdict(keys: WebConnectivityKeys | None, url: str | None) -> Own:
    """The outcome, reason, confidence and layer for one measurement (never raises on valid keys)."""
    if keys is None or keys == _EMPTY:
        return NO_DATA
    f = _facts(keys, url)
    control_failed = keys.control is None or keys.control_failure is not None
    bogon = _bogon_rule(keys, f, control_failed)
    if bogon is not None:
        return bogon
    if control_failed:
        return CONTROL_FAILED
    dns = _dns_failure_rule(keys, f)
    if dns is not None:
        return dns
    redirect = _private_redirect(keys, f)
    if redirect is not None:
        return redirect
    requests = keys.requests or []
    first = requests[0] if requests else None
    if first is not None and first.failure is None and first.response is not None:
        return _success_rule(keys, f, first)
    tcp = _tcp_rule(keys, f)
    if tcp is not None:
        return tcp
    # Old probes recorded a failed fetch only in http_experiment_failure, with requests=[].
    request_failure = _failure(first.failure if first is not None else keys.http_experiment_failure)
    tls = _tls_rule(keys, f, request_failure)
    if tls is not None:
        return tls
    if request_failure == "unknown_failure":
        # The probe could not say what went wrong (e.g. the Python probe's own decoding crash).
        return Own(Outcome.INCONCLUSIVE, Reason.PROBE_FAILURE, 0.0)
    if request_failure:
        return _http_failure_rule(keys, f, request_failure)
    if not keys.queries and not keys.tcp_connect and not requests:
        return NO_DATA
    if f.control_addrs or f.control_http_ok:
        # The probe did resolve but never fetched anything: nothing to judge.
        return Own(Outcome.INCONCLUSIVE, Reason.PROBE_FAILURE, 0.0)
    return Own(Outcome.DOWN, Reason.SITE_DOWN, DOWN_OTHER, None)

"""The Go probe's web_connectivity 0.1–0.4.x summary (ALGORITHMS.md §1), recomputed from raw keys.

The probe's own ``dns_consistency`` and ``*_match`` keys are never read: they are recomputed here from
``queries``, ``tcp_connect``, ``requests`` and ``control``.
"""

from __future__ import annotations

from dataclasses import dataclass

from netfreedom.analysis.web_connectivity.common import (
    ACCESSIBLE,
    COMMON_HEADERS,
    NULL,
    NXDOMAIN,
    Matches,
    Result,
    answer_address,
    bytelen,
    control_asn,
    header_names,
    is_ip,
    long_words,
    title,
)
from netfreedom.models.web_connectivity import (
    ControlHTTPRequest,
    HTTPRequestEntry,
    WebConnectivityKeys,
)

_HTTP_FAILURES = {
    "connection_refused": "http-failure",
    "connection_reset": "http-failure",
    "dns_nxdomain_error": "dns",
    "eof_error": "http-failure",
    "generic_timeout_error": "http-failure",
    "ssl_invalid_hostname": "http-failure",
    "ssl_invalid_certificate": "http-failure",
    "ssl_unknown_authority": "http-failure",
}


@dataclass(frozen=True, slots=True)
class GoVariant:
    """What differs between Go builds: see "Versions" at the end of §1."""

    strict_nxdomain: bool = False  # <= 0.4.2: step 4 knows only dns_nxdomain_error
    skip_negative_codes: bool = True  # since 2021-11 codes < 0 count as "no code"
    title_bound: int = 512  # 128 before 2021-10
    summary: bool = True  # 0.1.0 builds before 2020-08-20 predate the summary: no verdict to reproduce


def probe_addresses(keys: WebConnectivityKeys) -> dict[str, int]:
    """The addresses the probe's resolver returned, with the ASN it looked up for each (0 = unknown)."""
    addrs: dict[str, int] = {}
    for query in keys.queries or ():
        for answer in query.answers or ():
            addr = answer_address(answer)
            if addr:
                addrs[addr] = answer.asn or 0
    return addrs


def dns_experiment_failure(keys: WebConnectivityKeys) -> str | None:
    """The queries' shared failure; None if any query succeeded (or none was made)."""
    failure: str | None = None
    for query in keys.queries or ():
        if query.failure is None:
            return None
        failure = failure or query.failure
    return failure


def dns_consistency(
    keys: WebConnectivityKeys, host: str, probe_failure: str | None, paddr: dict[str, int]
) -> str | None:
    if keys.control_failure is not None:
        return None
    if is_ip(host):
        return "consistent"
    cdns = keys.control.dns if keys.control is not None else None
    cfailure = cdns.failure if cdns is not None else None
    caddrs = (cdns.addrs if cdns is not None else None) or []
    if probe_failure and cfailure:
        return "consistent" if cfailure == "dns_name_error" and probe_failure in NXDOMAIN else "inconsistent"
    casns = {control_asn(keys, ip, paddr) for ip in caddrs}
    if ({*paddr.values()} & casns) - {0}:
        return "consistent"
    if (set(paddr) & set(caddrs)) - {""}:
        return "consistent"
    return "inconsistent"


def _bad_code(code: int | None, variant: GoVariant) -> bool:
    if code is None:
        return True
    return code <= 0 if variant.skip_negative_codes else code == 0


def http_matches(
    first: HTTPRequestEntry | None, chttp: ControlHTTPRequest | None, variant: GoVariant
) -> Matches:
    """(status_code_match, body_length_match, headers_match, title_match) of the final hop vs the control."""
    response = first.response if first is not None else None
    if response is None or chttp is None:
        return None, None, None, None
    body = response.body
    truncated = bool(response.body_is_truncated)
    clen = chttp.body_length or 0
    body_match: bool | None = None
    if clen > 0 and not truncated:
        m = bytelen(body)
        if m > 0:
            body_match = min(m, clen) / max(m, clen) > 0.7
    if _bad_code(response.code, variant) or _bad_code(chttp.status_code, variant):
        return None, body_match, None, None
    rcode, ccode = response.code or 0, chttp.status_code or 0
    status: bool | None
    if rcode == ccode:
        status = True
    elif ccode // 100 == 5:
        status = None
    else:
        status = False
    pnames, cnames = header_names(response.headers), header_names(chttp.headers)
    headers = pnames == cnames or bool((pnames - COMMON_HEADERS) & (cnames - COMMON_HEADERS))
    title_match: bool | None = None
    if not truncated:
        ptitle = title(body, variant.title_bound)
        if ptitle:
            title_match = long_words(ptitle) == long_words(chttp.title)
    return status, body_match, headers, title_match


def reproduce(keys: WebConnectivityKeys, host: str, variant: GoVariant) -> Result:
    """``(blocking, accessible)`` as the Go probe 0.1–0.4.x computes them; (None, None) before the summary."""
    if not variant.summary:
        return NULL
    requests = keys.requests or []
    first = requests[0] if requests else None
    if (
        first is not None
        and first.failure is None
        and first.request is not None
        and (first.request.url or "").startswith("https://")
    ):
        return ACCESSIBLE
    if keys.control_failure is not None:
        return NULL
    paddr = probe_addresses(keys)
    pfailure = dns_experiment_failure(keys)
    cons = dns_consistency(keys, host, pfailure, paddr)
    if pfailure in NXDOMAIN and cons == "consistent":
        return ACCESSIBLE
    step4_nx = {"dns_nxdomain_error"} if variant.strict_nxdomain else NXDOMAIN
    if cons == "inconsistent" and pfailure in step4_nx:
        return "dns", False
    connects = keys.tcp_connect or []
    if connects and cons is not None and not any(t.status is not None and t.status.success for t in connects):
        return ("tcp_ip" if cons == "consistent" else "dns"), False
    chttp = keys.control.http_request if keys.control is not None else None
    if chttp is not None and chttp.failure is not None:
        return NULL
    if first is None:
        return NULL
    if first.failure is not None:
        reason = _HTTP_FAILURES.get(first.failure)
        if reason is None:
            return NULL
        if len(requests) == 1 and cons == "inconsistent":
            reason = "dns"
        return reason, False
    status, body, headers, title_match = http_matches(first, chttp, variant)
    if status is True and True in (body, headers, title_match):
        return ACCESSIBLE
    return ("dns" if cons == "inconsistent" else "http-diff"), False

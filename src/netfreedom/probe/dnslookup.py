"""DNS lookups for the probe and the control: the system resolver, or an explicit one spoken to directly.

The explicit resolver is queried with dnspython (UDP, TCP on truncation), one A and one AAAA query, and the
response code is mapped exactly (NXDOMAIN, SERVFAIL, REFUSED, no answer) instead of letting a resolver object
retry and blur it.  Results are values: a failure is a string on the query, never an exception.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from netfreedom.probe.addresses import endpoint, is_ip
from netfreedom.probe.failures import (
    DNS_MISBEHAVING,
    DNS_NO_ANSWER,
    DNS_NXDOMAIN,
    DNS_REFUSED,
    DNS_SERVFAIL,
    classify,
)

# A name that cannot be a DNS name (a label over 63 octets, an empty label, a name over 255): no query is
# sent, and the answer is Go's for such a name, "no such host" (OONI: dns_nxdomain_error).
_INVALID_NAME = (dns.exception.DNSException, UnicodeError, ValueError)

_RCODES = {
    dns.rcode.NXDOMAIN: DNS_NXDOMAIN,
    dns.rcode.SERVFAIL: DNS_SERVFAIL,
    dns.rcode.REFUSED: DNS_REFUSED,
}


@dataclass(frozen=True)
class Answer:
    answer_type: str  # A, AAAA or CNAME
    value: str
    ttl: int | None = None


@dataclass(frozen=True)
class Query:
    hostname: str
    query_type: str
    engine: str  # "system" (getaddrinfo) or "udp" (explicit resolver)
    resolver_address: str
    failure: str | None
    answers: tuple[Answer, ...]
    t: float


def addresses(queries: list[Query]) -> list[str]:
    """Every A/AAAA address, in answer order, without repeats."""
    seen: dict[str, None] = {}
    for q in queries:
        for a in q.answers:
            if a.answer_type in ("A", "AAAA"):
                seen.setdefault(a.value, None)
    return list(seen)


def shared_failure(queries: list[Query]) -> str | None:
    """OONI's ``dns_experiment_failure``: None when any query succeeded, else the (first) failure.

    A missing AAAA on a name with an A record is normal, so ``dns_no_answer`` only counts when nothing
    answered at all.
    """
    if not queries or any(q.failure is None and q.answers for q in queries):
        return None
    failures = [q.failure for q in queries if q.failure is not None]
    if not failures:
        return DNS_NO_ANSWER
    real = [f for f in failures if f != DNS_NO_ANSWER]
    return real[0] if real else DNS_NO_ANSWER


async def _explicit(host: str, qtype: str, server: tuple[str, int], timeout: float, started: float) -> Query:
    where = endpoint(*server)
    try:
        request = dns.message.make_query(host, qtype)
    except _INVALID_NAME:
        return Query(host, qtype, "udp", where, DNS_NXDOMAIN, (), time.monotonic() - started)
    try:
        response, _ = await dns.asyncquery.udp_with_fallback(
            request, server[0], timeout=timeout, port=server[1]
        )
    except Exception as exc:
        return Query(host, qtype, "udp", where, classify(exc), (), time.monotonic() - started)
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        failure = _RCODES.get(rcode, DNS_MISBEHAVING)
        return Query(host, qtype, "udp", where, failure, (), time.monotonic() - started)
    answers: list[Answer] = []
    for rrset in response.answer:
        kind = dns.rdatatype.to_text(rrset.rdtype)
        if kind not in ("A", "AAAA", "CNAME"):
            continue
        for rdata in rrset:
            value = rdata.to_text().rstrip(".") if kind == "CNAME" else rdata.to_text()
            answers.append(Answer(kind, value, rrset.ttl))
    has_addr = any(a.answer_type == qtype for a in answers)
    outcome = None if has_addr else DNS_NO_ANSWER
    return Query(host, qtype, "udp", where, outcome, tuple(answers), time.monotonic() - started)


async def _system(host: str, timeout: float, started: float) -> list[Query]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except Exception as exc:
        failure = DNS_NXDOMAIN if isinstance(exc, _INVALID_NAME) else classify(exc)
        return [Query(host, "ANY", "system", "", failure, (), time.monotonic() - started)]
    v4: dict[str, None] = {}
    v6: dict[str, None] = {}
    for family, *_rest, sockaddr in infos:
        (v6 if family == socket.AF_INET6 else v4).setdefault(str(sockaddr[0]), None)
    t = time.monotonic() - started
    queries = []
    for qtype, found in (("A", v4), ("AAAA", v6)):
        answers = tuple(Answer(qtype, ip) for ip in found)
        queries.append(Query(host, qtype, "system", "", None if answers else DNS_NO_ANSWER, answers, t))
    return queries


async def lookup(host: str, resolver: tuple[str, int] | None, timeout: float) -> list[Query]:
    """Resolve ``host`` (A and AAAA).  An IP literal resolves to itself without a query."""
    started = time.monotonic()
    if is_ip(host):
        return []
    if resolver is None:
        return await _system(host, timeout, started)
    a, aaaa = await asyncio.gather(
        _explicit(host, "A", resolver, timeout, started),
        _explicit(host, "AAAA", resolver, timeout, started),
    )
    return [a, aaaa]

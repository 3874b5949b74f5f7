"""OONI failure strings (ALGORITHMS.md §4) from the exceptions Python's network stack raises.

A network failure seen by the probe is a measurement result: every operation catches what it can and keeps
the string this module gives it.  The control ("test helper") speaks a smaller dialect (§3), mapped by the
``th_*`` functions from the same probe strings so the two never drift apart.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl

import dns.exception
import dns.resolver

CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"
GENERIC_TIMEOUT = "generic_timeout_error"
EOF = "eof_error"
DNS_NXDOMAIN = "dns_nxdomain_error"
DNS_NO_ANSWER = "dns_no_answer"
DNS_SERVFAIL = "dns_servfail_error"
DNS_REFUSED = "dns_refused_error"
DNS_MISBEHAVING = "dns_server_misbehaving"
DNS_BOGON = "dns_bogon_error"
SSL_INVALID_HOSTNAME = "ssl_invalid_hostname"
SSL_UNKNOWN_AUTHORITY = "ssl_unknown_authority"
SSL_INVALID_CERTIFICATE = "ssl_invalid_certificate"

# errno -> OONI string; the names are the errno's own (EHOSTUNREACH -> host_unreachable, ...).
_ERRNO: dict[int, str] = {
    errno.ECONNREFUSED: CONNECTION_REFUSED,
    errno.ECONNRESET: CONNECTION_RESET,
    errno.ETIMEDOUT: "timed_out",
    errno.EHOSTUNREACH: "host_unreachable",
    errno.ENETUNREACH: "network_unreachable",
    errno.ENETDOWN: "network_down",
    errno.ENETRESET: "network_reset",
    errno.ECONNABORTED: "connection_aborted",
    errno.EADDRINUSE: "address_in_use",
    errno.EADDRNOTAVAIL: "address_not_available",
    errno.EAFNOSUPPORT: "address_family_not_supported",
    errno.EISCONN: "already_connected",
    errno.EFAULT: "bad_address",
    errno.EBADF: "bad_file_descriptor",
    errno.EALREADY: "connection_already_in_progress",
    errno.EDESTADDRREQ: "destination_address_required",
    errno.EINVAL: "invalid_argument",
    errno.EMSGSIZE: "message_size",
    errno.ENOBUFS: "no_buffer_space",
    errno.ENOPROTOOPT: "no_protocol_option",
    errno.ENOTSOCK: "not_a_socket",
    errno.ENOTCONN: "not_connected",
    errno.EWOULDBLOCK: "operation_would_block",
    errno.EACCES: "permission_denied",
    errno.EPERM: "permission_denied",
    errno.EPROTONOSUPPORT: "protocol_not_supported",
    errno.EPROTOTYPE: "wrong_protocol_type",
    errno.EPIPE: CONNECTION_RESET,
    errno.EINTR: "interrupted",
}

_GAI: dict[int, str] = {
    socket.EAI_NONAME: DNS_NXDOMAIN,
    socket.EAI_AGAIN: "dns_temporary_failure",
    socket.EAI_FAIL: "dns_non_recoverable_failure",
}
if hasattr(socket, "EAI_NODATA"):  # glibc only
    _GAI[socket.EAI_NODATA] = DNS_NO_ANSWER

# OpenSSL X509_V_ERR codes behind a failed verification.
_X509_HOSTNAME = {62, 64}  # hostname / IP mismatch
_X509_AUTHORITY = {2, 18, 19, 20, 21}  # unknown issuer, self-signed, incomplete chain

_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b")
_IPV6 = re.compile(r"\[?\b[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}\b\]?(?::\d+)?")


def scrub(text: str) -> str:
    """Remove IP addresses from an error text, as OONI does before publishing ``unknown_failure``."""
    return _IPV6.sub("[scrubbed]", _IPV4.sub("[scrubbed]", text))


def _unknown(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"unknown_failure: {scrub(text)}"


def classify(exc: BaseException) -> str:
    """The OONI failure string for an exception raised by a socket, TLS, DNS or HTTP operation."""
    if isinstance(exc, asyncio.TimeoutError | TimeoutError | dns.exception.Timeout):
        return GENERIC_TIMEOUT
    if isinstance(exc, asyncio.IncompleteReadError):
        return EOF
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code in _X509_HOSTNAME:
            return SSL_INVALID_HOSTNAME
        if code in _X509_AUTHORITY:
            return SSL_UNKNOWN_AUTHORITY
        return SSL_INVALID_CERTIFICATE
    if isinstance(exc, ssl.SSLZeroReturnError | ssl.SSLEOFError):
        return EOF
    if isinstance(exc, ssl.SSLError):
        if "EOF" in str(exc) or "UNEXPECTED_EOF" in str(exc):
            return EOF
        if exc.reason == "TLSV1_UNRECOGNIZED_NAME":  # the server's alert: it has no site of that name
            return SSL_INVALID_HOSTNAME
        return _unknown(exc)
    if isinstance(exc, socket.gaierror):
        return _GAI.get(exc.errno, DNS_MISBEHAVING) if exc.errno is not None else DNS_MISBEHAVING
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return DNS_NXDOMAIN
    if isinstance(exc, dns.resolver.NoAnswer):
        return DNS_NO_ANSWER
    if isinstance(exc, dns.resolver.NoNameservers):
        return _no_nameservers(exc)
    if isinstance(exc, dns.exception.DNSException):
        return DNS_MISBEHAVING
    if isinstance(exc, EOFError):
        return EOF
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno in _ERRNO:
        return _ERRNO[exc.errno]
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return CONNECTION_RESET
    if isinstance(exc, ConnectionRefusedError):
        return CONNECTION_REFUSED
    return _unknown(exc)


def _no_nameservers(exc: dns.resolver.NoNameservers) -> str:
    # dnspython keeps (server, tcp, port, error, answer) per attempt; the rcode text says what failed.
    text = str(exc)
    if "REFUSED" in text:
        return DNS_REFUSED
    if "SERVFAIL" in text:
        return DNS_SERVFAIL
    return DNS_MISBEHAVING


# --- the control's dialect (§3) ---------------------------------------------------------------------------


# The DNS failures OONI's helper names (others, such as SERVFAIL or a bogon answer, are unknown_error).
_TH_DNS_NAMED = {"dns_non_recoverable_failure", DNS_REFUSED, DNS_MISBEHAVING}
_TH_HTTP_DNS = {DNS_NXDOMAIN, DNS_NO_ANSWER, "dns_non_recoverable_failure", DNS_REFUSED, DNS_MISBEHAVING}


def th_dns(failure: str) -> str | None:
    """Control DNS failure; ``None`` means "no error, empty answer" (dns_no_answer maps to null + []).

    OONI's helper resolves with DNS over HTTPS, where SERVFAIL is ``unknown_error``.  Through the system
    resolver a SERVFAIL arrives as ``EAI_AGAIN`` (dns_temporary_failure), so that is ``unknown_error`` too."""
    if failure == DNS_NXDOMAIN:
        return "dns_name_error"
    if failure == DNS_NO_ANSWER:
        return None
    if failure in _TH_DNS_NAMED:
        return "dns_server_failure"
    return "unknown_error"


def th_tcp(failure: str) -> str:
    if failure == GENERIC_TIMEOUT:
        return GENERIC_TIMEOUT
    if failure == CONNECTION_REFUSED:
        return "connection_refused_error"
    return "connect_error"


def th_http(failure: str, *, resolving: bool = False) -> str:
    """The control's HTTP failure (oohelperd's ``httpMapFailure``): the DNS failures it names and a timeout
    while resolving (``resolving``) are dns_lookup_error; any other DNS failure (SERVFAIL, a bogon answer,
    EAI_AGAIN) is unknown_error."""
    if failure in _TH_HTTP_DNS or (failure == GENERIC_TIMEOUT and resolving):
        return "dns_lookup_error"
    if failure == GENERIC_TIMEOUT:
        return GENERIC_TIMEOUT
    if failure == CONNECTION_REFUSED:
        return "connection_refused_error"
    return "unknown_error"

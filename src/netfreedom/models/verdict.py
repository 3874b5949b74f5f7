"""What analysis concludes about one measurement.

The verdict vocabulary is closed: ``Outcome``, ``Layer`` and ``Reason`` are enums, documented in
``docs/verdicts.md``.  Every output of netfreedom (verdict files, evidence, report, API) uses these values.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Outcome(StrEnum):
    OK = "ok"  # the thing was reachable as expected
    BLOCKED = "blocked"  # interference by the network
    DOWN = "down"  # unreachable from everywhere, the control included: not censorship
    INCONCLUSIVE = "inconclusive"  # not enough data to say (failed control, unsupported test, ...)


class Layer(StrEnum):
    DNS = "dns"
    TCP = "tcp"
    TLS = "tls"
    HTTP = "http"


class Reason(StrEnum):
    """Why the verdict is what it is.  Closed set; see docs/verdicts.md for each code."""

    OK = "ok"
    # dns
    DNS_BOGON = "dns.bogon"
    DNS_NXDOMAIN = "dns.nxdomain"
    DNS_INCONSISTENT = "dns.inconsistent"
    DNS_FAILURE = "dns.failure"
    DNS_BLOCKPAGE_IP = "dns.blockpage_ip"
    # tcp
    TCP_RESET = "tcp.reset"
    TCP_TIMEOUT = "tcp.timeout"
    TCP_REFUSED = "tcp.refused"
    TCP_FAILURE = "tcp.failure"
    # tls
    TLS_FAILURE = "tls.failure"
    TLS_RESET = "tls.reset"
    TLS_TIMEOUT = "tls.timeout"
    # http
    HTTP_FAILURE = "http.failure"
    HTTP_DIFF = "http.diff"
    HTTP_BLOCKPAGE = "http.blockpage"
    # not censorship
    SITE_DOWN = "site_down"
    CDN_CHALLENGE = "cdn_challenge"
    GEO_BLOCK = "geo_block"
    FALSE_POSITIVE = "false_positive"
    # inconclusive
    CONTROL_FAILED = "control_failed"
    NO_DATA = "no_data"
    PROBE_FAILURE = "probe_failure"
    UNSUPPORTED_TEST = "unsupported_test"
    ANALYSIS_ERROR = "analysis_error"  # an analyzer raised: a bug in netfreedom, counted and reported
    # other tests
    APP_BLOCKED = "app.blocked"
    MIDDLEBOX = "middlebox"
    CIRCUMVENTION_BLOCKED = "circumvention.blocked"
    RESOLVER_FAILURE = "resolver.failure"


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """The conclusion about one measurement.

    ``blocking``/``accessible`` are the reproduction of the probe's own values (web_connectivity only, None
    elsewhere); ``outcome``/``layer``/``reason``/``confidence`` are netfreedom's own verdict.  ``confirmed``
    is True only when a blockpage fingerprint matched in an expected country (or an isp/nat scope), and
    implies ``outcome == BLOCKED``.
    """

    outcome: Outcome
    reason: Reason
    confidence: float
    layer: Layer | None = None
    confirmed: bool = False
    fingerprint: str | None = None
    blocking: str | bool | None = None
    accessible: bool | None = None

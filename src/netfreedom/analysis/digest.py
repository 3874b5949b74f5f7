"""A fingerprint of what the rules conclude: the digest that guards :data:`ANALYSIS_VERSION`.

Stored verdicts are redone only when ``ANALYSIS_VERSION`` changes, so a rule changed without a bump leaves
old and new verdicts mixed in a store.  :func:`verdicts_digest` hashes every verdict of a corpus — each
measurement as it is, and each web_connectivity measurement under a few fixed variations (control gone,
connections refused, DNS failing, the page stripped …) so that rules the corpus itself never reaches are
covered too.  The digest of the shared corpus is pinned per version in
:data:`netfreedom.analysis.VERDICT_DIGESTS`; a test fails when the verdicts move while the version stays.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from netfreedom.analysis import analyze_line
from netfreedom.analysis.fingerprints import FingerprintDB

_ENCODER = msgspec.json.Encoder(order="deterministic")
_Keys = dict[str, Any]


def _no_control(tk: _Keys) -> None:
    tk.pop("control", None)
    tk["control_failure"] = "generic_timeout_error"


def _refused(tk: _Keys) -> None:
    for conn in tk.get("tcp_connect") or ():
        if isinstance(conn, dict):
            conn["status"] = {"success": False, "failure": "connection_refused", "blocked": False}
    tk["requests"] = []
    tk["http_experiment_failure"] = "connection_refused"


def _first_request(tk: _Keys) -> dict[str, Any] | None:
    requests = tk.get("requests")
    first = requests[0] if isinstance(requests, list) and requests else None
    return first if isinstance(first, dict) else None


def _reset(tk: _Keys) -> None:
    first = _first_request(tk)
    if first is not None:
        first["failure"], first["response"] = "connection_reset", None
    tk["http_experiment_failure"] = "connection_reset"


def _nxdomain(tk: _Keys) -> None:
    for query in tk.get("queries") or ():
        if isinstance(query, dict):
            query["failure"], query["answers"] = "dns_nxdomain_error", []
    tk["dns_experiment_failure"] = "dns_nxdomain_error"


def _bare_page(tk: _Keys) -> None:
    first = _first_request(tk)
    if first is not None and isinstance(first.get("response"), dict):
        first["response"]["headers"], first["response"]["body"] = {}, ""


def _control_http(**fields: Any) -> Callable[[_Keys], None]:
    def change(tk: _Keys) -> None:
        control = tk.get("control")
        if isinstance(control, dict) and isinstance(control.get("http_request"), dict):
            control["http_request"].update(fields)

    return change


VARIANTS: tuple[tuple[str, Callable[[_Keys], None]], ...] = (
    ("no_control", _no_control),
    ("refused", _refused),
    ("reset", _reset),
    ("nxdomain", _nxdomain),
    ("bare_page", _bare_page),
    ("control_down", _control_http(failure="dns_lookup_error", status_code=-1, body_length=-1)),
    ("control_5xx", _control_http(status_code=503)),
)


def _variants(line: bytes) -> Iterator[tuple[str, bytes]]:
    yield "", line
    try:
        plain = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return
    if not isinstance(plain, dict) or plain.get("test_name") != "web_connectivity":
        return
    if not isinstance(plain.get("test_keys"), dict):
        return
    for name, change in VARIANTS:
        varied = copy.deepcopy(plain)
        change(varied["test_keys"])
        yield name, msgspec.json.encode(varied)


def verdicts_digest(corpus: Iterable[tuple[str, bytes]], fingerprints: FingerprintDB | None) -> str:
    """SHA-256 over (file name, line number, variant, verdict) for every line of every ``(name, content)``
    pair, in the order given (a line that is not a measurement counts as ``null``)."""
    h = hashlib.sha256()
    for name, content in corpus:
        for number, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            for variant, varied in _variants(line):
                verdict = analyze_line(varied, fingerprints)
                h.update(_ENCODER.encode([name, number, variant, verdict]))
                h.update(b"\n")
    return h.hexdigest()

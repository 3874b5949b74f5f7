"""The probe's own summary keys (``blocking``, ``accessible``, ``dns_consistency``, ``*_match``, ...).

They are computed by ``netfreedom.analysis`` — the same code ``netfreedom analyze`` runs on any
measurement — from the raw keys the probe just wrote, so a probe result and its later analysis can never
disagree.  Nothing here decides anything itself.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

import msgspec

from netfreedom.models.measurement import Envelope


def _analysis() -> tuple[Any, Any, Any] | None:
    try:
        package = importlib.import_module("netfreedom.analysis.web_connectivity")
        v04 = importlib.import_module("netfreedom.analysis.web_connectivity.v04")
        registry = importlib.import_module("netfreedom.models.registry")
    except ImportError:  # analysis not installed in this build: leave the verdict to `netfreedom analyze`
        return None
    return package, v04, registry


def summarize(measurement: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """Summary keys for ``keys`` (the raw test_keys inside ``measurement``)."""
    modules = _analysis()
    if modules is None:
        return {"blocking": None, "accessible": None}
    package, v04, registry = modules
    raw = msgspec.json.encode(measurement)
    env = msgspec.json.decode(raw, type=Envelope)
    typed = registry.decode_test_keys("web_connectivity", msgspec.json.encode(keys))
    verdict = package.analyze(env, typed)
    host = urlsplit(str(measurement.get("input") or "")).hostname or ""
    paddr = v04.probe_addresses(typed)
    pfailure = v04.dns_experiment_failure(typed)
    requests = typed.requests or []
    first = requests[0] if requests else None
    chttp = typed.control.http_request if typed.control is not None else None
    status, body, headers, title = v04.http_matches(first, chttp, v04.GoVariant())
    proportion = 0.0
    if first is not None and first.response is not None and chttp is not None and chttp.body_length:
        mine = (
            len(keys["requests"][0]["response"]["body"].encode())
            if isinstance(keys["requests"][0]["response"]["body"], str)
            else 0
        )
        if mine > 0 and chttp.body_length > 0:
            proportion = min(mine, chttp.body_length) / max(mine, chttp.body_length)
    return {
        "dns_consistency": v04.dns_consistency(typed, host, pfailure, paddr),
        "body_length_match": body,
        "body_proportion": proportion,
        "status_code_match": status,
        "headers_match": headers,
        "title_match": title,
        "blocking": verdict.blocking,
        "accessible": verdict.accessible,
    }

"""Run web_connectivity over many URLs: bounded parallelism, OONI envelopes, one JSON line per result.

Each measurement is written as soon as it completes, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import platform
import secrets
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

import httpx
import msgspec

from netfreedom import __version__
from netfreedom.probe.failures import scrub
from netfreedom.probe.measure import ProbeSettings, measure
from netfreedom.probe.summary import TEST_VERSION, summarize

TEST_NAME = "web_connectivity"


@dataclass(frozen=True)
class Vantage:
    """Who measures: the probe's country and network, as the user states them (never looked up)."""

    probe_cc: str = "ZZ"
    probe_asn: str = "AS0"
    probe_network_name: str = ""


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def report_id(start: dt.datetime, vantage: Vantage) -> str:
    """OONI-style report id: ``<UTC start>_webconnectivity_<CC>_<ASN number>_n1_<random>``."""
    asn = vantage.probe_asn.removeprefix("AS") or "0"
    token = secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")
    return f"{start:%Y%m%dT%H%M%SZ}_webconnectivity_{vantage.probe_cc}_{asn}_n1_{token}"


def measurement_uid(start: dt.datetime, vantage: Vantage) -> str:
    """Archive-style uid (its prefix is the measurement time, which ``measurement_time`` reads)."""
    return f"{start:%Y%m%d%H%M%S.%f}_{vantage.probe_cc}_webconnectivity_{secrets.token_hex(8)}"


def envelope(
    url: str,
    keys: dict[str, Any],
    *,
    settings: ProbeSettings,
    vantage: Vantage,
    report: str,
    test_start: dt.datetime,
    start: dt.datetime,
    runtime: float,
) -> dict[str, Any]:
    resolver = settings.resolver[0] if settings.resolver else ""
    return {
        "annotations": {
            "architecture": platform.machine(),
            "engine_name": "netfreedom",
            "engine_version": __version__,
            "platform": platform.system().lower(),
        },
        "data_format_version": "0.2.0",
        "input": url,
        "measurement_start_time": _stamp(start),
        "measurement_uid": measurement_uid(start, vantage),
        "probe_asn": vantage.probe_asn,
        "probe_cc": vantage.probe_cc,
        "probe_ip": "127.0.0.1",
        "probe_network_name": vantage.probe_network_name,
        "report_id": report,
        "resolver_asn": "AS0",
        "resolver_ip": resolver,
        "resolver_network_name": "",
        "software_name": "netfreedom",
        "software_version": __version__,
        "test_helpers": {"backend": {"address": settings.control_url, "type": "https"}},
        "test_keys": keys,
        "test_name": TEST_NAME,
        "test_runtime": round(runtime, 6),
        "test_start_time": _stamp(test_start),
        "test_version": TEST_VERSION,
    }


async def measure_one(
    url: str,
    settings: ProbeSettings,
    client: httpx.AsyncClient,
    *,
    vantage: Vantage,
    report: str,
    test_start: dt.datetime,
) -> dict[str, Any]:
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    began = time.monotonic()
    try:
        keys = await measure(url, settings, client)
    except Exception as exc:
        # Network trouble never lands here (it is data in the keys); a probe bug does.  It must neither end
        # the run nor pass for a verdict: the measurement says what happened and carries no conclusion.
        keys = {"failure": f"unknown_failure: probe error {type(exc).__name__}: {scrub(str(exc))}"}
        keys.update({"blocking": None, "accessible": None})
        return envelope(
            url,
            keys,
            settings=settings,
            vantage=vantage,
            report=report,
            test_start=test_start,
            start=start,
            runtime=time.monotonic() - began,
        )
    runtime = time.monotonic() - began
    m = envelope(
        url,
        keys,
        settings=settings,
        vantage=vantage,
        report=report,
        test_start=test_start,
        start=start,
        runtime=runtime,
    )
    keys.update(summarize(m, keys))
    return m


async def run(
    urls: Iterable[str],
    settings: ProbeSettings,
    out: IO[bytes],
    *,
    vantage: Vantage = Vantage(),
    parallel: int = 4,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Measure every URL (≤ ``parallel`` at once), appending JSON lines to ``out``; returns the count."""
    test_start = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    report = report_id(test_start, vantage)
    gate = asyncio.Semaphore(max(1, parallel))
    count = 0
    limits = httpx.Limits(max_connections=max(1, parallel), max_keepalive_connections=max(1, parallel))
    # The control may be served with its own certificate: --ca-file is trusted for it too.
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file else True
    )
    async with httpx.AsyncClient(limits=limits, trust_env=False, verify=verify) as client:

        async def one(url: str) -> dict[str, Any]:
            async with gate:
                return await measure_one(
                    url, settings, client, vantage=vantage, report=report, test_start=test_start
                )

        for task in asyncio.as_completed([one(u) for u in urls]):
            m = await task
            out.write(msgspec.json.encode(m) + b"\n")
            out.flush()
            count += 1
            if on_done is not None:
                on_done(m)
    return count

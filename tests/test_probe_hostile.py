"""Hostile servers: the probe finishes each within its deadline, with memory bounded by the body cap."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from netfreedom.probe.lab import Lab
from netfreedom.probe.measure import measure

TIMEOUT = 1.0
CAP = 65536


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab("127.0.3") as running:
        yield running


def run(lab: Lab, url: str, resolver: tuple[str, int]) -> tuple[dict[str, Any], float, int]:
    settings = lab.probe_settings(resolver=resolver, timeout=TIMEOUT, control_timeout=10, body_cap=CAP)

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            return await measure(url, settings, client)

    tracemalloc.start()
    started = time.monotonic()
    try:
        keys = asyncio.run(main())
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return keys, elapsed, peak


def censored(lab: Lab) -> tuple[str, int]:
    return lab.censored_dns.host, lab.censored_dns.port


def test_trickling_server_hits_the_deadline(lab: Lab) -> None:
    keys, elapsed, _ = run(lab, lab.hostile["trickle"], censored(lab))
    assert keys["requests"][0]["failure"] == "generic_timeout_error"
    # DNS, connect and one HTTP hop each have TIMEOUT; the control runs in parallel.
    assert elapsed < 4 * TIMEOUT + 2


def test_endless_body_is_truncated_at_the_cap(lab: Lab) -> None:
    keys, elapsed, peak = run(lab, lab.hostile["endless"], censored(lab))
    response = keys["requests"][0]["response"]
    assert keys["requests"][0]["failure"] is None
    assert response["body_is_truncated"] is True
    assert len(response["body"].encode()) == CAP
    assert peak < 40 * CAP  # bounded by the cap, not by what the server sends
    assert elapsed < 4 * TIMEOUT + 2


def test_garbage_dns_is_a_failure_not_a_crash(lab: Lab) -> None:
    garbage = (lab.garbage_dns.host, lab.garbage_dns.port)
    keys, elapsed, _ = run(lab, next(c.url for c in lab.cases if c.name == "ok"), garbage)
    assert keys["dns_experiment_failure"] == "dns_server_misbehaving"
    assert keys["tcp_connect"] == [] and keys["requests"] == []
    assert elapsed < 2 * TIMEOUT + 2


def test_server_that_never_accepts_times_out(lab: Lab) -> None:
    keys, elapsed, _ = run(lab, lab.hostile["drop"], censored(lab))
    assert [t["status"]["failure"] for t in keys["tcp_connect"]] == ["generic_timeout_error"]
    assert keys["requests"][0]["failure"] == "generic_timeout_error"
    assert elapsed < 4 * TIMEOUT + 2


def test_lab_dialers_never_leave_the_lab(lab: Lab) -> None:
    """The injected bogon has no route: the probe records a failure instead of dialing 10.10.34.36."""
    keys, _, _ = run(lab, next(c.url for c in lab.cases if c.name == "dns-bogon"), censored(lab))
    assert [(t["ip"], t["status"]["failure"]) for t in keys["tcp_connect"]] == [
        ("10.10.34.36", "network_unreachable")
    ]


def test_untrusted_certificate_is_a_tls_failure_not_sni_blocking(lab: Lab) -> None:
    settings = lab.probe_settings(ca_file=None, timeout=TIMEOUT)

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            return await measure(next(c.url for c in lab.cases if c.name == "tls-ok"), settings, client)

    keys = asyncio.run(main())
    assert [h["failure"] for h in keys["tls_handshakes"]] == ["ssl_unknown_authority"]
    assert keys["x_sni_blocking"] is None
    assert keys["requests"][0]["failure"] == "ssl_unknown_authority"


def test_unreachable_control_is_a_control_failure(lab: Lab) -> None:
    settings = lab.probe_settings(control_url=f"http://{lab.ip(99)}:9/", timeout=TIMEOUT, control_timeout=2)

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            return await measure(next(c.url for c in lab.cases if c.name == "ok"), settings, client)

    keys = asyncio.run(main())
    assert keys["control"] is None
    assert keys["control_failure"] == "connection_refused"
    assert keys["requests"][0]["response"]["code"] == 200


def test_redirects_are_followed_and_recorded_newest_first(lab: Lab) -> None:
    url = next(c.url for c in lab.cases if c.name == "ok") + "moved"
    keys, _, _ = run(lab, url, censored(lab))
    hops = [(r["request"]["url"], r["response"]["code"]) for r in keys["requests"]]
    assert hops == [(url.removesuffix("moved"), 200), (url, 302)]
    assert keys["requests"][1]["response"]["headers"]["Location"] == "/"
    assert keys["control"]["http_request"]["status_code"] == 200  # the control followed it too
    # The 0.5 layout: the first GET rides the endpoint the connect step measured (depth 0); the redirect's
    # GET has an endpoint of its own at depth 1, as probe-cli's; the classic analysis reads the final page.
    import msgspec

    from netfreedom.analysis.web_connectivity import v05_classic
    from netfreedom.models.registry import decode_test_keys

    [connect] = keys["tcp_connect"][:1]
    first, final = keys["requests"][1], keys["requests"][0]
    assert (first["transaction_id"], first["tags"]) == (connect["transaction_id"], ["depth=0"])
    assert connect["tags"] == ["depth=0", "fetch_body=true"]
    own = next(t for t in keys["tcp_connect"] if t["transaction_id"] == final["transaction_id"])
    assert own is not connect and own["tags"] == ["depth=1", "fetch_body=true"] and own["status"]["success"]
    assert final["tags"] == ["depth=1"]
    assert {q["transaction_id"] for q in keys["queries"]} == {10001}
    typed = decode_test_keys("web_connectivity", msgspec.json.encode(keys))
    assert v05_classic.reproduce(typed, v05_classic.Fixes()) == (False, True)  # type: ignore[arg-type]
    assert v05_classic.http_matches(typed, v05_classic.Fixes())[0] is True  # type: ignore[arg-type]


def test_a_probe_bug_on_one_url_neither_ends_the_run_nor_becomes_a_verdict(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    import msgspec

    from netfreedom.analysis.web_connectivity import analyze_raw
    from netfreedom.models.measurement import Envelope
    from netfreedom.probe import runner

    real = runner.measure
    broken = next(c.url for c in lab.cases if c.name == "ok")

    async def flaky(url: str, settings: Any, client: httpx.AsyncClient) -> dict[str, Any]:
        if url == broken:
            raise RuntimeError("bug at 10.0.0.1")
        return await real(url, settings, client)

    monkeypatch.setattr(runner, "measure", flaky)
    urls = [c.url for c in lab.cases if c.name in ("ok", "http-diff")]
    out = io.BytesIO()
    count = asyncio.run(runner.run(urls, lab.probe_settings(), out, parallel=2))
    lines = {msgspec.json.decode(line, type=Envelope).input: line for line in out.getvalue().splitlines()}
    assert count == 2 and len(lines) == 2
    bad = msgspec.json.decode(lines[broken], type=Envelope)
    failure = msgspec.json.decode(bad.test_keys)["failure"]
    assert failure.startswith("unknown_failure: probe error RuntimeError") and "10.0.0.1" not in failure
    assert analyze_raw(bad, bad.test_keys)[1].outcome.value != "ok"

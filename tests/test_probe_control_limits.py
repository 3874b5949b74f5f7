"""The probe does not trust its control server with its memory or its time (issue #16, defect 3).

Against a 1 GB reply, an endless chunked reply, a gzip bomb, a reply nested 100,000 levels and a control
answering one byte at a time, each measurement ends within the control deadline with a bounded memory
peak and a ``control_failure``; the probe's own measurement is kept.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from netfreedom.probe.labcontrol import ControlBehaviour, HostileControl
from netfreedom.probe.measure import MAX_CONTROL_REPLY, ProbeSettings, measure

DEADLINE = 2.0
# Nothing listens on port 1: the probe's own path fails at once, so the control exchange is what is timed.
TARGET = "http://127.0.0.1:1/"


@pytest.fixture(scope="module")
def control() -> Iterator[HostileControl]:
    with HostileControl(interval=0.2) as running:
        yield running


def run(url: str) -> tuple[dict[str, Any], float, int]:
    settings = ProbeSettings(control_url=url, timeout=1.0, control_timeout=DEADLINE)

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient(trust_env=False) as client:
            return await measure(TARGET, settings, client)

    tracemalloc.start()
    started = time.monotonic()
    try:
        keys = asyncio.run(main())
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return keys, elapsed, peak


def test_a_reply_nested_past_the_depth_bound_is_refused() -> None:
    from netfreedom.probe.measure import MAX_CONTROL_DEPTH, _deeper_than

    def nest(levels: int) -> object:
        value: object = {}
        for _ in range(levels - 1):
            value = {"a": [value]}
        return value

    real = {"tcp_connect": {"1.2.3.4:80": {"status": True}}, "http_request": {"headers": {"A": "b"}}}
    assert not _deeper_than(real, MAX_CONTROL_DEPTH)
    assert _deeper_than({"a": [[[[{"b": [1]}]]]]}, 5) and not _deeper_than({"a": [[[[{"b": [1]}]]]]}, 7)
    assert _deeper_than(nest(900), MAX_CONTROL_DEPTH)


def test_the_limit_is_far_above_real_replies(control: HostileControl) -> None:
    keys, _, _ = run(control.url(ControlBehaviour.OK))
    assert keys["control_failure"] is None and keys["control"]["dns"] == {"failure": None, "addrs": []}
    assert MAX_CONTROL_REPLY >= 1 << 20


@pytest.mark.parametrize(
    ("behaviour", "failure"),
    [
        (ControlBehaviour.HUGE, f"unknown_failure: control reply larger than {MAX_CONTROL_REPLY} bytes"),
        (ControlBehaviour.ENDLESS, f"unknown_failure: control reply larger than {MAX_CONTROL_REPLY} bytes"),
        (ControlBehaviour.COMPRESSED, "unknown_failure: control reply with content-encoding gzip"),
        (ControlBehaviour.DEEP, "json_parse_error"),
        (ControlBehaviour.SLOW, "generic_timeout_error"),
    ],
)
def test_a_hostile_control_is_a_control_failure(
    control: HostileControl, behaviour: ControlBehaviour, failure: str
) -> None:
    keys, elapsed, peak = run(control.url(behaviour))
    assert keys["control"] is None
    assert keys["control_failure"] == failure
    assert keys["tcp_connect"][0]["status"]["failure"] == "connection_refused"  # the probe's own part
    assert peak < 4 * MAX_CONTROL_REPLY  # the reply is never held past the cap (was: all of it)
    assert elapsed < DEADLINE + 10  # generous for a loaded machine: was unbounded (per-read limit)

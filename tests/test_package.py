from __future__ import annotations

import subprocess
import sys

import netfreedom
from netfreedom.models import Envelope, measurement_time
from netfreedom.models.verdict import Outcome, Reason, Verdict

from .conftest import MEASUREMENTS, cli_env


def test_public_surface_is_pinned() -> None:
    assert sorted(netfreedom.__all__) == [
        "ConfigError",
        "FetchError",
        "InputError",
        "MissingExtraError",
        "NetfreedomError",
        "Store",
        "StoreError",
        "Verdict",
        "__version__",
        "analyze",
        "open",
    ]
    assert all(getattr(netfreedom, name) is not None for name in netfreedom.__all__)
    assert netfreedom.Verdict is Verdict


def test_cli_help_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "netfreedom", "--help"], capture_output=True, text=True, env=cli_env()
    )
    assert out.returncode == 0, out.stderr
    assert "netfreedom" in out.stdout


def test_every_shared_measurement_has_a_time() -> None:
    import msgspec

    missing = []
    for path in sorted(MEASUREMENTS.glob("*.jsonl")):
        for n, line in enumerate(path.read_bytes().splitlines(), 1):
            env = msgspec.json.decode(line, type=Envelope)
            if measurement_time(env) is None:
                missing.append(f"{path.name}:{n}")
    assert missing == []


def test_verdict_is_frozen_and_serialisable() -> None:
    import msgspec

    v = Verdict(outcome=Outcome.BLOCKED, reason=Reason.DNS_BOGON, confidence=0.9)
    assert msgspec.json.decode(msgspec.json.encode(v), type=Verdict) == v

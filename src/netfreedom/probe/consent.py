"""The first-run risk notice: running tests can carry risk for the person running them.

Acceptance is remembered in a small JSON file in the user's config folder (``NETFREEDOM_CONFIG_DIR``,
else ``$XDG_CONFIG_HOME/netfreedom``, else ``~/.config/netfreedom``).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import msgspec

RISK_NOTICE = """\
Before you run tests: measuring which websites are blocked can carry risk for the person running the
probe.  Your network operator, and anyone watching your connection, can see that you tried to reach the
sites on the list — some may be illegal or sensitive where you are — and the results you publish name
your country and network.  Read about the risks (https://ooni.org/about/risks/) and only run tests if
you accept them."""


class _Consent(msgspec.Struct):
    risk_notice_accepted: str
    version: int = 1


def config_dir() -> Path:
    if explicit := os.environ.get("NETFREEDOM_CONFIG_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "netfreedom"


def consent_file() -> Path:
    return config_dir() / "probe-consent.json"


def accepted() -> bool:
    path = consent_file()
    try:
        msgspec.json.decode(path.read_bytes(), type=_Consent)
    except (OSError, msgspec.DecodeError):
        return False
    return True


def remember() -> Path:
    path = consent_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_bytes(msgspec.json.encode(_Consent(stamp)))
    return path

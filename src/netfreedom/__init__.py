"""netfreedom: an open, evidence-based internet freedom index.

Network measurements (OONI format) are ingested into a store, analysed into verdicts, aggregated into
evidence and, with a methodology and expert scores, compiled into an index that is published as a static
site and a read-only API.

The Python API (docs/python.md)::

    import netfreedom
    with netfreedom.open("netfreedom.duckdb") as store:
        store.verdicts(probe_cc="IT")                   # pyarrow.Table, one row per verdict
        store.evidence(axis="category", period="month")  # the evidence model's figures
        store.index(2018).to_pandas()                   # the built index

``open``, ``Store``, ``analyze`` and ``Verdict`` are imported on first use, so ``import netfreedom`` (and
the ``netfreedom`` command's start) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netfreedom.errors import (
    ConfigError,
    FetchError,
    InputError,
    MissingExtraError,
    NetfreedomError,
    StoreError,
)

if TYPE_CHECKING:
    from netfreedom.api import Store, analyze, open
    from netfreedom.models.verdict import Verdict

__version__ = "0.1.0"

__all__ = [
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

_LAZY = {
    "open": "netfreedom.api",
    "Store": "netfreedom.api",
    "analyze": "netfreedom.api",
    "Verdict": "netfreedom.models.verdict",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netfreedom' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""The optional parts of netfreedom and the one check every command makes before using one.

The core install reads, analyses and stores measurements, computes the index and writes the site.  The
rest is optional, in extras named in ``pyproject.toml``; ``EXTRAS`` says which importable modules each
one brings.  ``require(what, *extras)`` raises ``MissingExtraError`` — whose message is the exact ``pip
install 'netfreedom[...]'`` to run — when any of them is missing, before anything is started.
"""

from __future__ import annotations

import importlib

from netfreedom.errors import MissingExtraError

__all__ = ["EXTRAS", "installed", "require"]

EXTRAS: dict[str, tuple[str, ...]] = {
    "web": ("fastapi", "uvicorn"),  # serve: the read-only HTTP API
    "probe": ("dns", "h11"),  # probe run, control serve, lab: dnspython and the HTTP/1 client
    "fh": ("openpyxl",),  # .xlsx workbooks: Freedom House scores, Access Now STOP events
    "dask": ("dask", "distributed"),  # --engine dask
}
"""Extra name → the top-level modules it installs (``all`` is every extra)."""
_DISTRIBUTION = {"dns": "dnspython"}  # what pip calls a module's package, where the names differ


def _found(module: str) -> bool:
    try:
        importlib.import_module(module)  # the caller is about to import it anyway
    except ImportError:
        return False
    return True


def installed(extra: str) -> bool:
    """Whether every module of ``extra`` can be imported."""
    return all(_found(m) for m in EXTRAS[extra])


def require(what: str, *extras: str) -> None:
    """Raise ``MissingExtraError`` naming ``what`` (e.g. ``"netfreedom serve"``), the missing packages and
    the ``pip install`` that adds the missing ones of ``extras``; return quietly when all are installed."""
    missing = tuple(e for e in extras if not installed(e))
    if missing:
        modules = tuple(_DISTRIBUTION.get(m, m) for e in missing for m in EXTRAS[e] if not _found(m))
        raise MissingExtraError(what, missing, modules)

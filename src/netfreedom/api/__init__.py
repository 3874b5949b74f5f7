"""The Python API (level 3): ``netfreedom.open(path) -> Store``, whose methods return ``pyarrow.Table``s,
and ``analyze`` for one measurement in memory.  The CLI builds on it; docs/python.md documents it.  (The
HTTP API is ``netfreedom.web``.)"""

from netfreedom.api.store import SCHEMAS, Store, analyze, open

__all__ = ["SCHEMAS", "Store", "analyze", "open"]

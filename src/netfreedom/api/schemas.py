"""The tables of the Python API: their columns and Arrow types, as docs/python.md documents them (and
tests/test_python_api.py checks).  Measurements, verdicts and aggregates take theirs from the store's own
schema (``store.schema``, ``store.aggregates``): one definition."""

from __future__ import annotations

import pyarrow as pa

from netfreedom.evidence import tables as index_tables
from netfreedom.evidence.listing import VERDICT_ORDER
from netfreedom.store import aggregates as aggregate_table
from netfreedom.store import events as event_table
from netfreedom.store.schema import ENVELOPE_COLUMNS, VERDICT_COLUMNS

__all__ = ["EVENT_COLUMNS", "FLAG_COLUMNS", "INDEX_COLUMNS", "SCHEMAS"]

_VERDICT_TYPES = {name: kind for name, kind, _ in VERDICT_COLUMNS}

# A built index's stored columns (``evidence.tables``) and the count of its review flags.
INDEX_COLUMNS: list[tuple[str, pa.DataType]] = [
    *((f.name, f.type) for f in index_tables.SCHEMAS["index_results"]),
    ("flags", pa.int32()),
]
FLAG_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("year", pa.int32()),
    ("iso2", pa.string()),
    ("country", pa.string()),
    ("code", pa.string()),
    ("kind", pa.string()),
    ("message", pa.string()),
]
# The events' columns but where each was read (links, origin) and the detector's signal name.
EVENT_COLUMNS: list[tuple[str, pa.DataType]] = [
    (f.name, f.type) for f in event_table.ARROW if f.name not in ("links", "origin", "signal")
]

SCHEMAS: dict[str, pa.Schema] = {
    "measurements": pa.schema([(n, t) for n, t, _ in ENVELOPE_COLUMNS]),
    "verdicts": pa.schema([(n, _VERDICT_TYPES[n]) for n in VERDICT_ORDER]),
    "index": pa.schema(INDEX_COLUMNS),
    "flags": pa.schema(FLAG_COLUMNS),
    "events": pa.schema(EVENT_COLUMNS),
    "aggregates": pa.schema([(n, t) for n, t, _ in aggregate_table.COLUMNS]),
}
"""The fixed schemas; ``index`` adds one float64 column per category of the year's methodology (``A``,
``B``, ``C`` for the FOTN ones) before ``total``; ``evidence`` depends on the measure and the axis (see
docs/python.md)."""

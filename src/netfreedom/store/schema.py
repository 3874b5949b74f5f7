"""Tables and Parquet schemas of the store (see docs/architecture.md)."""

from __future__ import annotations

import re

import pyarrow as pa

from netfreedom.store.aggregates import DDL as AGGREGATES_DDL
from netfreedom.store.events import EVENTS_DDL

SCHEMA_VERSION = "1"

# Columns shared by the Parquet files and the DuckDB catalogue, in order.
ENVELOPE_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("measurement_uid", pa.string(), "VARCHAR NOT NULL"),
    ("measurement_start_time", pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ NOT NULL"),
    ("probe_cc", pa.string(), "VARCHAR NOT NULL"),
    ("probe_asn", pa.string(), "VARCHAR"),
    ("probe_network_name", pa.string(), "VARCHAR"),
    ("test_name", pa.string(), "VARCHAR NOT NULL"),
    ("test_version", pa.string(), "VARCHAR"),
    ("software_name", pa.string(), "VARCHAR"),
    ("software_version", pa.string(), "VARCHAR"),
    ("input", pa.string(), "VARCHAR"),
    ("report_id", pa.string(), "VARCHAR"),
    ("source_file", pa.string(), "VARCHAR"),
    ("source_line", pa.int64(), "BIGINT"),
    # Added after the first release (``ADDED_COLUMNS``): older stores gain them when opened for writing, and
    # their older Parquet files read them as NULL.
    ("bucket_date", pa.date32(), "DATE"),  # the day the measurement reached OONI's archive, when known
    ("content_key", pa.string(), "VARCHAR"),  # ``ingest.content_key``: the same content is one row
)
ADDED_COLUMNS = ("bucket_date", "content_key")
MEASUREMENT_PARQUET = pa.schema(
    [pa.field(n, t) for n, t, _ in ENVELOPE_COLUMNS] + [pa.field("raw", pa.binary())]
)

VERDICT_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("measurement_uid", pa.string(), "VARCHAR NOT NULL"),
    ("analysis_version", pa.int32(), "INTEGER NOT NULL"),
    ("fingerprints_id", pa.string(), "VARCHAR NOT NULL"),
    ("measurement_start_time", pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ NOT NULL"),
    ("probe_cc", pa.string(), "VARCHAR NOT NULL"),
    ("probe_asn", pa.string(), "VARCHAR"),
    ("probe_network_name", pa.string(), "VARCHAR"),
    ("test_name", pa.string(), "VARCHAR NOT NULL"),
    ("input", pa.string(), "VARCHAR"),
    ("domain", pa.string(), "VARCHAR"),
    ("outcome", pa.string(), "VARCHAR NOT NULL"),
    ("layer", pa.string(), "VARCHAR"),
    ("reason", pa.string(), "VARCHAR NOT NULL"),
    ("confidence", pa.float64(), "DOUBLE NOT NULL"),
    ("confirmed", pa.bool_(), "BOOLEAN NOT NULL"),
    ("fingerprint", pa.string(), "VARCHAR"),
    ("blocking", pa.string(), "VARCHAR"),
    ("accessible", pa.bool_(), "BOOLEAN"),
)
VERDICT_PARQUET = pa.schema([pa.field(n, t) for n, t, _ in VERDICT_COLUMNS])
# What a caller gives for each verdict (the rest is joined from the catalogue).
VERDICT_INPUT = pa.schema(
    [
        pa.field(n, t)
        for n, t, _ in VERDICT_COLUMNS
        if n
        in (
            "measurement_uid",
            "domain",
            "outcome",
            "layer",
            "reason",
            "confidence",
            "confirmed",
            "fingerprint",
            "blocking",
            "accessible",
        )
    ]
)


def _ddl(name: str, columns: tuple[tuple[str, pa.DataType, str], ...], extra: str) -> str:
    cols = ",\n    ".join(f"{n} {sql}" for n, _, sql in columns)
    return f"CREATE TABLE IF NOT EXISTS {name} (\n    {cols},\n    {extra}\n)"


# No primary-key index on measurement_uid: DuckDB keeps ART indexes in memory, which would grow with the
# store.  Uniqueness holds by construction instead: the single writer anti-joins every batch against the
# catalogue inside the transaction that registers it (``check()`` verifies it).
DDL = (
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS files (
    path VARCHAR PRIMARY KEY,   -- relative to the Parquet root
    kind VARCHAR NOT NULL,      -- measurements | verdicts
    batch VARCHAR NOT NULL,
    state VARCHAR NOT NULL,     -- pending (being written) | done
    rows BIGINT,
    bytes BIGINT,
    created TIMESTAMPTZ NOT NULL
)""",
    _ddl("measurements", ENVELOPE_COLUMNS, "file VARCHAR NOT NULL"),
    _ddl("verdicts", VERDICT_COLUMNS, "file VARCHAR NOT NULL"),
    EVENTS_DDL,
    AGGREGATES_DDL,  # OONI aggregation rows (store.aggregates); added without a schema version change
)
CORE_TABLES = frozenset({"meta", "files", "measurements", "verdicts", "events", "aggregates"})

_SAFE_TEST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SAFE_CC = re.compile(r"^[A-Z]{2}$")


def partition_dir(kind: str, date: str, probe_cc: str, test_name: str) -> str:
    """The partition folder for a row.  Values come from untrusted input, so anything that is not a plain
    name goes to ``ZZ`` / ``_other`` (the columns inside the file keep the true values)."""
    cc = probe_cc if _SAFE_CC.match(probe_cc) else "ZZ"
    test = test_name if _SAFE_TEST.match(test_name) else "_other"
    return f"{kind}/date={date}/probe_cc={cc}/test_name={test}"

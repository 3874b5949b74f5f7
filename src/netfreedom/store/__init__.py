"""The measurement store: a DuckDB catalogue plus Parquet partitions (see docs/architecture.md).

``Store`` is the interface; ``DuckDBStore`` the embedded implementation; ``open_store`` opens the store at
``--db`` / ``$NETFREEDOM_DB`` / ``./netfreedom.duckdb``.
"""

from netfreedom.store.base import Analysed, BatchResult, Count, Stats, Store, StoredMeasurement, VerdictRow
from netfreedom.store.duckdb_store import DEFAULT_DB, DuckDBStore, default_db_path, open_store

__all__ = [
    "DEFAULT_DB",
    "Analysed",
    "BatchResult",
    "Count",
    "DuckDBStore",
    "Stats",
    "Store",
    "StoredMeasurement",
    "VerdictRow",
    "default_db_path",
    "open_store",
]

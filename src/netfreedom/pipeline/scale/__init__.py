"""The scale-out engine: the same verdict, evidence and ingest code run on a Dask distributed cluster.

The contract is the store's partitioned Parquet (see docs/architecture.md and docs/scaling.md): the client
plans tasks from the store's catalogue (one task per group of partition files), workers read the Parquet
files directly and run the same pure code as the local engine, and the results come back to the client,
where the store's single writer registers them.  Dask is an optional extra, imported only when this engine
is asked for.

Modules: ``cluster`` (connect; light, safe to import anywhere), ``analyze`` (``analyze_on_cluster``),
``evidence`` (``grains_on_cluster``, ``evidence_on_cluster``), ``ingest`` (``ingest_on_cluster``).
"""

from netfreedom.pipeline.scale.cluster import Engine, EngineOptions, connect, require_dask

__all__ = ["Engine", "EngineOptions", "connect", "require_dask"]

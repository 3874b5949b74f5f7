"""The ``--engine/--scheduler/--workers`` options shared by commands that can run on Dask.

Commands declare the three options with these annotations and turn them into ``EngineOptions`` with
``engine_options``; nothing here imports Dask.
"""

from __future__ import annotations

from typing import Annotated

import typer

from netfreedom.pipeline.scale.cluster import Engine, EngineOptions

EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        case_sensitive=False,
        help="local: this process with DuckDB (default). dask: a Dask cluster over the store's Parquet "
        "(needs the dask extra of netfreedom).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="With --engine dask: an existing Dask scheduler, e.g. tcp://10.0.0.5:8786.",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="With --engine dask and no --scheduler: local worker processes (default: one per core).",
    ),
]


__all__ = ["Engine", "EngineOpt", "SchedulerOpt", "WorkersOpt", "engine_options"]


def engine_options(engine: Engine, scheduler: str | None, workers: int | None) -> EngineOptions | None:
    """``EngineOptions`` for the Dask engine, None for the local one (where the Dask options are refused).
    Without the dask extra, the Dask engine is refused here, before any input is read or the store touched."""
    from netfreedom.errors import InputError
    from netfreedom.pipeline.scale.cluster import require_dask

    if engine is Engine.LOCAL:
        if scheduler or workers:
            raise InputError("--scheduler and --workers need --engine dask")
        return None
    options = EngineOptions(scheduler=scheduler, workers=workers)
    require_dask()
    return options

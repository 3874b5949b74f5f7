"""Connect to a Dask cluster: an existing scheduler (``--scheduler``) or a local one (``--workers``).

Dask is imported here only, inside functions, so that netfreedom works without the ``dask`` extra until
this engine is asked for.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from netfreedom.errors import InputError
from netfreedom.extras import require

T = TypeVar("T")
R = TypeVar("R")


class Engine(StrEnum):
    LOCAL = "local"  # one process: DuckDB + the store (the default)
    DASK = "dask"  # Dask distributed over the store's Parquet partitions


@dataclass(frozen=True)
class EngineOptions:
    """Where to run.  ``scheduler`` is an address such as ``tcp://10.0.0.5:8786``; without it a local
    cluster of ``workers`` single-threaded worker processes is started on loopback for the run."""

    scheduler: str | None = None
    workers: int | None = None
    memory_limit: str = "2GiB"  # per local worker; Dask spills, then pauses, a worker above it
    connect_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.scheduler and self.workers:
            raise InputError("give --scheduler or --workers, not both")
        if self.workers is not None and self.workers < 1:
            raise InputError("--workers must be at least 1")

    @property
    def local_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


# A local cluster shares the machine's cores with the client, so its background work is kept down: no
# statistical profiler in the workers (it samples every task's stack every 10 ms for a dashboard that is
# not started), and event-loop and system monitors that wake up every 0.2-2 s rather than every 20-500 ms.
# Memory is still checked twice a second.  A cluster reached with ``--scheduler`` keeps its own settings.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "200ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.worker.memory.monitor-interval": "500ms",
}


def require_dask() -> None:
    """Raise ``MissingExtraError`` (saying what to install) when the dask extra is not installed."""
    require("the Dask engine (--engine dask)", "dask")


@contextmanager
def connect(options: EngineOptions) -> Iterator[Any]:
    """A ``distributed.Client`` for the run; a local cluster started here is shut down on exit."""
    require_dask()
    import dask
    import distributed

    dist: Any = distributed  # distributed is partly typed; the engine treats its objects as opaque
    if options.scheduler:
        try:
            client = dist.Client(options.scheduler, timeout=options.connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {options.scheduler}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    # Python-level parallelism comes from processes; each worker is one thread, so a task never
    # competes with another for the GIL and a worker's memory is one task's.
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        cluster = dist.LocalCluster(
            n_workers=options.local_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # The scheduler serves HTTP (health, metrics) even without a dashboard, by default on port
            # 8787 of every interface: a free port on loopback instead (no clash with another cluster).
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            memory_limit=options.memory_limit,
            silence_logs=40,  # logging.ERROR: the CLI prints its own progress
        )
    try:
        # Results come straight from the workers, not relayed by the scheduler (which lives in this process).
        with dist.Client(cluster, direct_to_workers=True) as client:
            yield client
    finally:
        cluster.close()


def workers_of(client: Any) -> int:
    """How many workers the cluster has now (at least 1, for sizing the window of tasks in flight)."""
    return max(1, len(client.scheduler_info().get("workers", {})))


def run_in_order(
    client: Any,
    fn: Callable[..., R],
    tasks: Iterable[T],
    *args: Any,
    window: int,
    on_result: Callable[[T, R], None],
) -> int:
    """Submit ``fn(task, *args)`` for each task, at most ``window`` in flight, and hand each result to
    ``on_result`` in task order (so the single writer sees a deterministic sequence).  Returns the number of
    tasks.  Bounded memory: at most ``window`` results are held at any time."""
    pending: deque[tuple[T, Any]] = deque()
    n = 0
    try:
        for task in tasks:
            pending.append((task, client.submit(fn, task, *args, pure=False)))
            n += 1
            if len(pending) >= window:
                done, future = pending.popleft()
                on_result(done, future.result())
        while pending:
            done, future = pending.popleft()
            on_result(done, future.result())
    finally:
        for _, future in pending:
            future.cancel()
    return n

"""The worker plugin that carries a run's shared values to every Dask worker (imports Dask: loaded only by
``cluster.ship`` and on workers)."""

from __future__ import annotations

from typing import Any

from distributed import WorkerPlugin

# What this worker process was given, by key.
SHIPPED: dict[str, Any] = {}


class Payload(WorkerPlugin):
    """One value for every worker, present and future: the scheduler installs its plugins on each worker
    that joins, a restarted one included.  (Data scattered with ``client.scatter`` is lost with the worker
    that held it, and Dask cannot compute it again.)"""

    def __init__(self, key: str, value: Any) -> None:
        self.key = key
        self.name = f"netfreedom-{key}"
        self.value = value

    def setup(self, worker: Any) -> None:
        SHIPPED[self.key] = self.value

    def teardown(self, worker: Any) -> None:
        SHIPPED.pop(self.key, None)

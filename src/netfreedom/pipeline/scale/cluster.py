"""Connect to a Dask cluster: an existing scheduler (``--scheduler``) or a local one (``--workers``).

Before any work the client checks the cluster (``preflight``): every worker runs the same netfreedom code
(package version, ``ANALYSIS_VERSION`` and a digest of the package's source) and sees the store's Parquet
folder at the same path (the client writes a probe file there; each worker reads it and writes its own,
which the client reads back).  What every task needs (the analyzer, the test lists) travels as a worker
plugin (``ship``), which the scheduler installs again on a worker that restarts, so a lost worker costs
only its tasks, which Dask runs again elsewhere.  Every failure is one ``EngineError`` line: a bad address,
a scheduler that does not answer as one, no workers, a task that failed (with the task and the worker).

Dask is imported here only, inside functions, so that netfreedom works without the ``dask`` extra until
this engine is asked for.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from netfreedom.errors import EngineError, InputError, NetfreedomError
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


# How long the client waits for a scheduler to answer a connection and its handshake, and for a cluster
# without workers to get one: a wrong address must be a clear error within seconds, not a hang.
CONNECT_SECONDS = 5.0
WAIT_FOR_WORKERS_SECONDS = 60.0  # NETFREEDOM_DASK_WAIT overrides it

log = logging.getLogger("netfreedom.engine")


def scheduler_address(address: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a scheduler address, or an ``EngineError`` saying what is wrong with it.
    Dask's own forms: ``tcp://HOST:PORT`` and ``tls://HOST:PORT`` (IPv6 hosts in brackets); a bare
    ``HOST:PORT`` means tcp."""
    text = address.strip()
    if not text:
        raise EngineError("--scheduler is empty: give the scheduler's address, e.g. tcp://10.0.0.5:8786")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    scheme = scheme.lower()
    if scheme in ("http", "https", "ws", "wss"):
        raise EngineError(
            f"{address} is a web address (the dashboard?); a Dask scheduler is reached at "
            "tcp://HOST:PORT (8786 by default)"
        )
    if scheme not in ("tcp", "tls"):
        raise EngineError(
            f"{address}: unsupported scheme {scheme}:// (use tcp://HOST:PORT or tls://HOST:PORT)"
        )
    rest = rest.rstrip("/")
    if rest.startswith("["):
        host, bracket, port_text = rest[1:].partition("]")
        if not bracket or (port_text and not port_text.startswith(":")):
            raise EngineError(f"{address}: not a valid address (use {scheme}://[IPv6]:PORT)")
        port_text = port_text[1:]
    else:
        host, _, port_text = rest.rpartition(":")
        if not host:
            host, port_text = rest, ""
    if not host:
        raise EngineError(f"{address}: no host (use {scheme}://HOST:PORT)")
    if not port_text:
        raise EngineError(
            f"{address}: no port (the scheduler listens on 8786 by default: {scheme}://{host}:8786)"
        )
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise EngineError(f"{address}: the port {port_text!r} is not a number from 1 to 65535")
    if scheme == "tls":
        import dask

        if not dask.config.get("distributed.comm.tls.client.cert", None):
            raise EngineError(
                f"{address}: a tls:// scheduler needs TLS settings in Dask's configuration "
                "(distributed.comm.tls.ca-file and distributed.comm.tls.client.cert/key); see docs/scaling.md"
            )
    return scheme, host, int(port_text)


def _reachable(address: str, host: str, port: int, timeout: float) -> None:
    """A plain TCP connection first, so that a refused or unroutable address fails at once and clearly."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except TimeoutError as exc:
        raise EngineError(
            f"cannot reach the Dask scheduler at {address}: no answer in {timeout:g} s"
        ) from exc
    except OSError as exc:
        raise EngineError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}") from exc


@contextmanager
def connect(options: EngineOptions) -> Iterator[Any]:
    """A ``distributed.Client`` for the run; a local cluster started here is shut down on exit."""
    require_dask()
    import dask
    import distributed

    dist: Any = distributed  # distributed is partly typed; the engine treats its objects as opaque
    if options.scheduler is not None:
        scheme, host, port = scheduler_address(options.scheduler)
        address = f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
        timeout = min(options.connect_timeout, CONNECT_SECONDS)
        _reachable(options.scheduler, host, port, timeout)
        # Something listens there; whether it speaks Dask shows in the handshake, which Dask itself waits
        # for without a limit (a web server, e.g. the dashboard, may never answer it): try it first, bounded.
        try:
            _handshake(dist, address, timeout)
            client = dist.Client(address, timeout=timeout)
        except Exception as exc:
            raise EngineError(
                f"{options.scheduler} does not answer as a Dask scheduler within {timeout:g} s "
                f"(is it the dashboard's port? the scheduler's is 8786 by default): {_what(exc)}"
            ) from exc
        try:
            yield client
        finally:
            _close(client)
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


def _handshake(dist: Any, address: str, timeout: float) -> None:
    """Open a Dask connection to ``address`` and exchange the handshake, all within ``timeout`` seconds."""
    import asyncio

    async def probe() -> None:
        args = dist.security.Security().get_connection_args("client")
        comm = await asyncio.wait_for(dist.comm.connect(address, timeout=timeout, **args), timeout)
        await comm.close()

    # In a thread of its own: the caller may be running an event loop already (a notebook).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, probe()).result()


def _what(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _close(client: Any) -> None:
    """Close a client whose scheduler may already be gone (closing must not raise over the real error)."""
    with suppress(Exception):
        client.close(timeout=CONNECT_SECONDS)


def workers_of(client: Any) -> int:
    """How many workers the cluster has now (at least 1, for sizing the window of tasks in flight)."""
    return max(1, len(client.scheduler_info().get("workers", {})))


def wait_for_workers(client: Any, *, timeout: float | None = None) -> int:
    """The number of workers, once there is at least one; a cluster still without any after ``timeout``
    seconds (default ``$NETFREEDOM_DASK_WAIT`` or 60) is an ``EngineError``, after a warning that it is
    waiting."""
    count = len(client.scheduler_info().get("workers", {}))
    if count:
        return count
    if timeout is None:
        timeout = float(os.environ.get("NETFREEDOM_DASK_WAIT") or WAIT_FOR_WORKERS_SECONDS)
    log.warning(f"waiting up to {timeout:g} s for workers to join the scheduler {client.scheduler.address}")
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError as exc:
        raise EngineError(
            f"the Dask scheduler at {client.scheduler.address} has no workers (waited {timeout:g} s): "
            "start some with `dask worker ADDRESS`"
        ) from exc
    return len(client.scheduler_info().get("workers", {}))


# -- what every worker must share with the client ------------------------------------------------------


@functools.cache
def code_identity() -> tuple[str, int, str]:
    """(package version, ANALYSIS_VERSION, digest of the package's Python source): two processes that give
    the same triple run the same verdict, evidence and store code."""
    import netfreedom
    from netfreedom.analysis import ANALYSIS_VERSION

    package = Path(netfreedom.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return netfreedom.__version__, ANALYSIS_VERSION, digest.hexdigest()[:16]


def _worker_identity() -> tuple[str, int, str]:
    return code_identity()


def _worker_sees(root: str, probe: str, token: str) -> str:
    """On a worker: '' when it reads the client's probe file under ``root`` and can write its own there,
    else what went wrong."""
    folder = Path(root)
    try:
        if (folder / probe).read_text() != token:
            return f"{folder / probe} holds something else (another folder at the same path?)"
        mine = folder / f"{probe}.{secrets.token_hex(4)}"
        mine.write_text(token)
        mine.unlink()
    except OSError as exc:
        return f"{exc.strerror or exc} ({exc.filename or folder})"
    return ""


def preflight(client: Any, root: Path | None) -> None:
    """Refuse, before any work, a cluster whose workers run other netfreedom code than this process, or
    cannot read and write the store's Parquet folder ``root`` at the same path (None: nothing to check).
    The message names the workers."""
    mine = code_identity()
    names = {
        address: f"{info.get('name')} ({address})" if str(info.get("name")) != address else address
        for address, info in client.scheduler_info().get("workers", {}).items()
    }
    try:
        found: dict[str, Any] = client.run(_worker_identity)
    except Exception as exc:
        raise EngineError(f"cannot ask the Dask workers which netfreedom they run: {exc}") from exc
    other = {w: ident for w, ident in found.items() if tuple(ident) != mine}
    if other:
        listed = "; ".join(
            f"{names.get(w, w)} runs netfreedom {v} (ANALYSIS_VERSION {a}, code {d})"
            for w, (v, a, d) in sorted(other.items())
        )
        raise EngineError(
            f"workers run other netfreedom code than this client (netfreedom {mine[0]}, ANALYSIS_VERSION "
            f"{mine[1]}, code {mine[2]}): {listed}; install the same version on every worker"
        )
    if root is None:
        return
    root.mkdir(parents=True, exist_ok=True)
    probe = f".probe-{secrets.token_hex(8)}"
    token = secrets.token_hex(16)
    (root / probe).write_text(token)
    try:
        answers: dict[str, str] = client.run(_worker_sees, str(root), probe, token)
    except Exception as exc:
        raise EngineError(f"cannot check the Dask workers' access to {root}: {exc}") from exc
    finally:
        (root / probe).unlink(missing_ok=True)
    blind = {w: why for w, why in answers.items() if why}
    if blind:
        listed = "; ".join(f"{names.get(w, w)}: {why}" for w, why in sorted(blind.items()))
        raise EngineError(
            f"workers cannot use the store folder {root} at the same path (a shared file system is needed): "
            f"{listed}"
        )


@contextmanager
def ship(client: Any, value: Any) -> Iterator[str]:
    """Install ``value`` on every worker for the block, as a worker plugin that the scheduler installs
    again on a worker that restarts; tasks get the value back with ``shipped(key)``."""
    from netfreedom.pipeline.scale._payload import Payload

    payload = Payload(secrets.token_hex(8), value)
    client.register_plugin(payload, name=payload.name)
    try:
        yield payload.key
    finally:
        with suppress(Exception):
            client.unregister_worker_plugin(payload.name)


def shipped(key: str) -> Any:
    """On a worker: the value ``ship`` installed under ``key``."""
    from netfreedom.pipeline.scale._payload import SHIPPED

    try:
        return SHIPPED[key]
    except KeyError:
        raise RuntimeError(f"netfreedom payload {key} is not installed on this worker") from None


@contextmanager
def ship_pickled(client: Any, value: Any) -> Iterator[str]:
    """``ship`` for a value that costs much to send as an object (an analyzer, fingerprints with their
    compiled automata): it travels as pickled bytes (1.4 MB of bytes in ~15 ms, the same value as an object
    in 130-250 ms) and each worker process loads it once (``unpickled``).  cloudpickle (Dask's own
    dependency), for closures, as Dask would ship them."""
    import cloudpickle

    with ship(client, cloudpickle.dumps(value, protocol=5)) as key:
        yield key


@functools.lru_cache(maxsize=4)
def unpickled(key: str) -> Any:
    """On a worker: the value ``ship_pickled`` installed under ``key``, loaded once per worker process."""
    import pickle

    return pickle.loads(shipped(key))


# -- running tasks -------------------------------------------------------------------------------------


class TaskFailed(Exception):
    """A task raised on a worker (carried back as one line naming the task and the worker)."""


def _guarded(fn: Callable[..., R], task: Any, *args: Any) -> R:
    """On a worker: ``fn(task, *args)``, any exception turned into a ``TaskFailed`` naming what and where."""
    try:
        return fn(task, *args)
    except Exception as exc:
        try:
            from distributed import get_worker

            where = get_worker().address
        except Exception:
            where = "?"
        raise TaskFailed(
            f"{getattr(fn, '__name__', 'task')} failed on worker {where} for {_describe(task)}: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def _describe(task: Any) -> str:
    for name in ("files", "sources"):
        items = getattr(task, name, None)
        if items:
            return f"{items[0]}" + (f" (+{len(items) - 1} more)" if len(items) > 1 else "")
    return str(task)[:200]


# A task whose worker dies is given to another worker by the scheduler (up to Dask's allowed-failures);
# a task that raised is not run again: its error is the verdict code's or the data's, and would repeat.


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
    tasks.  Bounded memory: at most ``window`` results are held at any time.  A task that fails, or a
    scheduler that goes away, is an ``EngineError``."""
    pending: deque[tuple[T, Any]] = deque()
    n = 0

    def result(future: Any) -> Any:
        try:
            return future.result()
        except TaskFailed as exc:
            raise EngineError(str(exc)) from None
        except NetfreedomError:
            raise
        except Exception as exc:
            raise EngineError(_lost(client, exc)) from exc

    try:
        for task in tasks:
            pending.append((task, client.submit(_guarded, fn, task, *args, pure=False)))
            n += 1
            if len(pending) >= window:
                done, future = pending.popleft()
                on_result(done, result(future))
        while pending:
            done, future = pending.popleft()
            on_result(done, result(future))
    finally:
        for _, future in pending:
            future.cancel()
    return n


def _lost(client: Any, exc: BaseException) -> str:
    """One line for an exception that is not a task's own: mostly a scheduler or worker that went away."""
    name = type(exc).__name__
    if name == "KilledWorker":
        return f"a task killed every worker that ran it ({exc}); see the workers' logs"
    try:
        address = client.scheduler.address
    except Exception:
        address = "the scheduler"
    return (
        f"lost the Dask cluster at {address} mid-run ({name}: {exc}); the store keeps what was "
        "registered: run again to finish"
    )

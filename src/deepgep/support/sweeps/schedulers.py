"""Where the tasks run: in this process, in a child process, on a local Dask cluster, or on a
running scheduler.

``scheduler=None`` reads ``DEEPGEP_SCHEDULER``, else starts a ``LocalCluster`` with one worker
process per usable core (``n_workers`` overrides) and one thread per worker; an address
connects a ``Client`` to a running scheduler (a dask-jobqueue or Kubernetes deployment works as
it is). Every task runs with ``BLAS_THREADS`` BLAS threads (:mod:`.tasks`), and local workers
are spawned with the variables of ``WORKER_ENV`` (one thread for OpenMP, the BLAS libraries,
numexpr and numba, and single-threaded Eigen in XLA, so that JAX tasks do not spread over the
cores either), so that workers do not oversubscribe the cores and a task gives the same bits on
every path. Results stream back with ``as_completed``. Started from a script, the local
cluster spawns processes, so guard the call with ``if __name__ == "__main__":``. A task must be
importable by the workers (a function of an installed module; or a module registered with
``cloudpickle.register_pickle_by_value``).

Isolation: which back end survives which task
    ``"local"`` and a scheduler address (the default) run each task in a child process of its
    Dask worker (:mod:`.isolated`): any exception, ``sys.exit``, ``os._exit``, a crash, or a
    task over its ``timeout`` becomes an error outcome, and neither the worker nor the driver
    notices. ``"isolated"`` does the same without Dask: one child process of the driver runs
    the tasks one at a time (a second or so to start it, then no cost per task). ``"serial"``
    runs the tasks in the driver itself, for speed and for debugging (a breakpoint in a task
    works): an exception or ``sys.exit`` becomes an error outcome, but ``os._exit`` or a crash
    in a task ends the driver, and its ``timeout`` stops only Python code (a ``SIGALRM``; a
    long compiled call runs on until it returns). Use ``"serial"`` for tasks you trust, and
    ``"isolated"`` or Dask for the rest.

A cluster that goes away
    The driver watches the cluster while tasks are pending. If no worker is connected for
    ``worker_wait`` seconds (default ``WORKER_WAIT_SECONDS``; every worker died or was
    stopped, and none came back or joined), or if the connection to the scheduler is lost, the
    sweep stops with one :class:`SweepError` line saying so and how many tasks did not run; the
    rows stored so far are kept and the tasks that did not finish are not recorded as errors
    (a run resumes them). Dask's own log lines about the lost connection are silenced.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from deepgep.support.sweeps.isolated import TaskProcess, execute_isolated
from deepgep.support.sweeps.spec import SweepError
from deepgep.support.sweeps.tasks import BLAS_THREADS, check_timeout, execute, failed
from deepgep.support.validation import check_count

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

__all__ = [
    "SCHEDULERS",
    "WORKER_WAIT_SECONDS",
    "WATCH_SECONDS",
    "SCHEDULER_ENV",
    "XLA_FLAGS",
    "WORKER_ENV",
    "Runner",
    "Backend",
    "check_workers",
    "check_worker_wait",
    "usable_cores",
    "start_local_cluster",
    "open_backend",
]

#: Environment variable naming the default scheduler (``serial``, ``local`` or an address).
SCHEDULER_ENV = "DEEPGEP_SCHEDULER"
#: The back ends named by a word (anything else is a scheduler address).
SCHEDULERS = ("local", "isolated", "serial")
#: Seconds a sweep waits for a Dask worker when none is connected before it stops: a local
#: nanny restarts a dead worker in a few seconds; a batch-queue cluster waiting for its jobs
#: needs a larger ``worker_wait``.
WORKER_WAIT_SECONDS = 120.0
#: Seconds between two looks at the cluster while tasks are pending.
WATCH_SECONDS = 1.0
#: XLA's flags for a worker: single-threaded Eigen on the CPU. (The often quoted extra word
#: ``intra_op_parallelism_threads=1`` is no XLA flag: XLA's parser stops at the first word
#: without ``--`` and drops it, with every flag after it.)
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false"
#: Environment of locally spawned worker processes: one thread per pool, one worker per core.
WORKER_ENV = {
    **{
        name: str(BLAS_THREADS)
        for name in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS",
            "NUMEXPR_NUM_THREADS",
            "NUMBA_NUM_THREADS",
        )
    },
    "XLA_FLAGS": XLA_FLAGS,
}

#: ``run(func, jobs, forbidden)`` of a back end: jobs are ``(number, params, seed)``, outcomes
#: come back as ``(number, outcome)`` in the order they finish.
Runner = Callable[[Callable, list[tuple[int, dict, int]], Sequence[str]], Iterator[tuple[int, dict]]]


@dataclasses.dataclass
class Backend:
    """Where tasks run: ``label`` and ``workers`` for the metadata, ``run`` yields outcomes,
    ``client`` is the Dask client (``None`` without Dask)."""

    label: str
    workers: int
    run: Runner
    client: Client | None = None


def _serial_runner(timeout: float | None) -> Runner:
    """Every job in this process, one after the other."""

    def run(func: Callable, jobs: list[tuple[int, dict, int]], forbidden: Sequence[str]) -> Iterator[tuple[int, dict]]:
        for number, params, seed in jobs:
            yield number, execute(func, params, seed, forbidden, timeout)

    return run


def _isolated_runner(timeout: float | None) -> Runner:
    """Every job in one child process of this one (a new child after a death or a timeout)."""

    def run(func: Callable, jobs: list[tuple[int, dict, int]], forbidden: Sequence[str]) -> Iterator[tuple[int, dict]]:
        with TaskProcess() as process:
            for number, params, seed in jobs:
                yield number, process.run(func, params, seed, forbidden, timeout)

    return run


class _Watch(threading.Thread):
    """Looks at the cluster every ``WATCH_SECONDS``; when no worker has been connected for
    ``worker_wait`` seconds it notes why in ``verdict`` and cancels ``futures`` (which ends the
    driver's wait on them)."""

    def __init__(self, client: Client, futures: list[Future], worker_wait: float) -> None:
        super().__init__(name="deepgep-sweep-watch", daemon=True)
        self.client, self.futures, self.worker_wait = client, futures, worker_wait
        self.verdict = ""
        self.stopped = threading.Event()

    def run(self) -> None:
        since = time.monotonic()
        while not self.stopped.wait(WATCH_SECONDS):
            if self.client.status != "running":
                continue  # a lost connection cancels the futures by itself
            try:
                workers = len(self.client.nthreads())  # asks the scheduler (scheduler_info may be a cache)
            except Exception:  # noqa: BLE001 - the scheduler going away is seen through the futures
                continue
            if workers:
                since = time.monotonic()
            elif time.monotonic() - since >= self.worker_wait:
                self.verdict = (f"no Dask worker connected to the scheduler for {self.worker_wait:g} s "
                                "(the workers died or were stopped, and none joined)")
                with contextlib.suppress(Exception):
                    self.client.cancel(self.futures)
                return


@contextlib.contextmanager
def _quiet_client_logs() -> Iterator[None]:
    """Silence distributed's client and communication logs (the tracebacks of a lost scheduler
    connection, once per reconnection attempt): the sweep reports it in one line."""
    loggers = [logging.getLogger(name) for name in ("distributed.client", "distributed.comm", "distributed.batched")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _dask_runner(client: Client, where: str, timeout: float | None, worker_wait: float) -> Runner:
    """Submit every job to ``client``, each to run in a child process of its worker
    (:func:`.isolated.execute_isolated`), and yield the outcomes as they complete."""
    from distributed import as_completed  # distributed is slow to import: only when used

    def stop(watch: _Watch, left: int, total: int) -> SweepError:
        if watch.verdict:
            what = watch.verdict
        elif client.status != "running":
            what = f"lost the connection to the Dask scheduler {where}"
        else:
            what = f"the tasks were cancelled on the Dask scheduler {where}"
        return SweepError(f"{what}: {left} of {total} tasks did not run; the rows finished so far are kept, "
                          "run the sweep again to resume")

    def run(func: Callable, jobs: list[tuple[int, dict, int]], forbidden: Sequence[str]) -> Iterator[tuple[int, dict]]:
        futures = {
            client.submit(execute_isolated, func, params, seed, tuple(forbidden), timeout, pure=False): number
            for number, params, seed in jobs
        }
        watch = _Watch(client, list(futures), worker_wait)
        watch.start()
        try:
            for future in as_completed(futures):
                number = futures.pop(future)
                if watch.verdict or future.cancelled():
                    raise stop(watch, len(futures) + 1, len(jobs))
                try:
                    outcome = future.result()
                except concurrent.futures.CancelledError:
                    raise stop(watch, len(futures) + 1, len(jobs)) from None
                except Exception as exc:  # noqa: BLE001 - a lost worker becomes an error row
                    outcome = failed(exc)
                future.release()
                yield number, outcome
        finally:
            watch.stopped.set()
            if futures and client.status == "running":  # an interrupted sweep leaves no task behind
                with contextlib.suppress(Exception):
                    client.cancel(list(futures))

    return run


def check_workers(n_workers: Any) -> int | None:
    """``n_workers`` as an int ``>= 1``, or ``None``."""
    if n_workers is None:
        return None
    try:
        return check_count("n_workers", n_workers)
    except ValueError:
        raise SweepError(f"n_workers must be a positive int or None, got {n_workers!r}") from None


def check_worker_wait(worker_wait: Any) -> float:
    """``worker_wait`` as a positive, finite number of seconds."""
    if isinstance(worker_wait, bool) or not isinstance(worker_wait, (int, float)) or not (
            math.isfinite(worker_wait) and worker_wait > 0):
        raise SweepError(f"worker_wait must be a positive number of seconds, got {worker_wait!r}")
    return float(worker_wait)


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def start_local_cluster(n_workers: int | None = None) -> LocalCluster:
    """A ``LocalCluster`` as :func:`run_sweep` starts it: ``n_workers`` processes (default one
    per usable core), one thread each, thread pools limited by ``WORKER_ENV``, no dashboard
    (the scheduler's HTTP server on a free port).
    The caller closes it (it is a context manager)."""
    import dask
    from distributed import LocalCluster  # loads distributed's configuration defaults

    n_workers = check_workers(n_workers)
    n_workers = usable_cores() if n_workers is None else n_workers
    pre_spawn = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **WORKER_ENV}
    saved = {name: os.environ.get(name) for name in pre_spawn}
    try:  # the nanny writes the pre-spawn variables into this process's environment
        with dask.config.set({"distributed.nanny.pre-spawn-environ": pre_spawn}):
            return LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": ":0"},  # its HTTP server on a free port
                silence_logs=logging.ERROR,
                env=WORKER_ENV,
            )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def open_backend(scheduler: str | None, n_workers: int | None, timeout: float | None = None,
                 worker_wait: float = WORKER_WAIT_SECONDS) -> Iterator[Backend]:
    """Open the back end named by ``scheduler`` (see :func:`run_sweep` and the module
    docstring); ``timeout`` is every task's time limit in seconds (``None``: none),
    ``worker_wait`` how long a Dask sweep waits for a worker when none is connected."""
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or "local"
    timeout, worker_wait = check_timeout(timeout), check_worker_wait(worker_wait)
    if scheduler in ("serial", "isolated"):
        if n_workers not in (None, 1):
            raise SweepError(f"the {scheduler} scheduler runs one task at a time: n_workers must be None or 1")
        yield Backend(scheduler, 1, (_serial_runner if scheduler == "serial" else _isolated_runner)(timeout))
        return
    from distributed import Client

    if scheduler == "local":
        with start_local_cluster(n_workers) as cluster, _quiet_client_logs(), Client(cluster) as client:
            runner = _dask_runner(client, f"of the local cluster ({cluster.scheduler_address})", timeout, worker_wait)
            yield Backend("local", len(cluster.workers), runner, client)
        return
    if n_workers is not None:
        raise SweepError(f"n_workers is set by the cluster behind {scheduler!r}, not by run_sweep")
    try:
        client = Client(scheduler)
    except (OSError, ValueError) as exc:
        raise SweepError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}") from None
    with _quiet_client_logs(), client:
        workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        yield Backend(scheduler, workers, _dask_runner(client, f"at {scheduler}", timeout, worker_wait), client)

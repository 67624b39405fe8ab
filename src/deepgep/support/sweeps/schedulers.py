"""Where the tasks run: in this process, on a local Dask cluster, or on a running scheduler.

``scheduler=None`` reads ``DEEPGEP_SCHEDULER``, else starts a ``LocalCluster`` with one worker
process per usable core (``n_workers`` overrides) and one thread per worker; an address
connects a ``Client`` to a running scheduler (a dask-jobqueue or Kubernetes deployment works as
it is); ``"serial"`` runs in this process without Dask. Every task runs with ``BLAS_THREADS``
BLAS threads (:mod:`.tasks`), and local workers are spawned with the variables of
``WORKER_ENV`` (one thread for OpenMP, the BLAS libraries, numexpr and numba, and
single-threaded Eigen in XLA, so that JAX tasks do not spread over the cores either), so that
workers do not oversubscribe the cores and a task gives the same bits on every path. Results
stream back with ``as_completed``. A task that raises (or whose worker dies) becomes an error
outcome. Started from a script, the local cluster spawns processes, so guard the call with
``if __name__ == "__main__":``. A task must be importable by the workers (a function of an
installed module; or a module registered with ``cloudpickle.register_pickle_by_value``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from deepgep.support.sweeps.spec import SweepError
from deepgep.support.sweeps.tasks import BLAS_THREADS, execute, failed
from deepgep.support.validation import check_count

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

__all__ = [
    "SCHEDULER_ENV",
    "XLA_FLAGS",
    "WORKER_ENV",
    "Runner",
    "Backend",
    "check_workers",
    "usable_cores",
    "start_local_cluster",
    "open_backend",
]

#: Environment variable naming the default scheduler (``serial``, ``local`` or an address).
SCHEDULER_ENV = "DEEPGEP_SCHEDULER"
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
    """Where tasks run: ``label`` and ``workers`` for the metadata, ``run`` yields outcomes."""

    label: str
    workers: int
    run: Runner


def _run_serial(func: Callable, jobs: list[tuple[int, dict, int]], forbidden: Sequence[str]) -> Iterator[tuple[int, dict]]:
    for number, params, seed in jobs:
        yield number, execute(func, params, seed, forbidden)


def _dask_runner(client: Client) -> Runner:
    """Submit every job to ``client`` and yield the outcomes as they complete."""
    from distributed import as_completed  # distributed is slow to import: only when used

    def run(func: Callable, jobs: list[tuple[int, dict, int]], forbidden: Sequence[str]) -> Iterator[tuple[int, dict]]:
        futures = {
            client.submit(execute, func, params, seed, tuple(forbidden), pure=False): number
            for number, params, seed in jobs
        }
        for future in as_completed(futures):
            number = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker becomes an error row
                outcome = failed(exc)
            future.release()
            yield number, outcome

    return run


def check_workers(n_workers: Any) -> int | None:
    """``n_workers`` as an int ``>= 1``, or ``None``."""
    if n_workers is None:
        return None
    try:
        return check_count("n_workers", n_workers)
    except ValueError:
        raise SweepError(f"n_workers must be a positive int or None, got {n_workers!r}") from None


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
def open_backend(scheduler: str | None, n_workers: int | None) -> Iterator[Backend]:
    """Open the back end named by ``scheduler`` (see :func:`run_sweep`)."""
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or "local"
    if scheduler == "serial":
        if n_workers not in (None, 1):
            raise SweepError("the serial scheduler runs one task at a time: n_workers must be None or 1")
        yield Backend("serial", 1, _run_serial)
        return
    from distributed import Client

    if scheduler == "local":
        with start_local_cluster(n_workers) as cluster, Client(cluster) as client:
            yield Backend("local", len(cluster.workers), _dask_runner(client))
        return
    if n_workers is not None:
        raise SweepError(f"n_workers is set by the cluster behind {scheduler!r}, not by run_sweep")
    try:
        client = Client(scheduler)
    except (OSError, ValueError) as exc:
        raise SweepError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}") from None
    with client:
        workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        yield Backend(scheduler, workers, _dask_runner(client))

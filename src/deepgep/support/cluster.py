"""Dask workers on a SLURM cluster (dask-jobqueue) with the project's worker environment, for
``deepgep run --chapter N --scheduler ADDRESS`` (the recipe: book page ``cluster``).

:func:`slurm_cluster` builds a ``dask_jobqueue.SLURMCluster`` whose batch jobs each start
``workers_per_job`` Dask workers of one thread (``cores = processes``), with the variables of
:data:`deepgep.support.sweeps.schedulers.WORKER_ENV` exported (one thread for OpenMP, the BLAS
libraries, numexpr and numba, single-threaded XLA: the same bits as a local sweep), in the same
Python environment as the driver, and a check before any worker starts: the job runs
:func:`check_worker`, which stops it (exit status 1, the reason in the job's log) unless the
node's ``deepgep.__version__`` and the git commit of its source tree are the driver's. The
recorded tables name that commit (their metadata), so a worker of another checkout would
otherwise add rows computed by other code. The scheduler runs in the driver's process; its
address (``cluster.scheduler_address``) is what ``deepgep run --scheduler`` takes.

``dask-jobqueue`` is imported by :func:`slurm_cluster` only (the extra ``[cluster]``).
"""

from __future__ import annotations

import json
import shlex
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepgep.support.sweeps.schedulers import WORKER_ENV
from deepgep.support.validation import check_count
from deepgep.version import VERSION, source_state

if TYPE_CHECKING:
    from dask_jobqueue import SLURMCluster

__all__ = ["check_worker", "worker_prologue", "slurm_cluster"]

def check_worker(version: str, commit: str | None = None) -> None:
    """Stop (``SystemExit`` with the reason, exit status 1) unless this process's deepgep has
    ``version`` and, if ``commit`` is given, comes from a checkout at ``commit``. Run by every
    batch job of :func:`slurm_cluster` before its workers start."""
    problems = []
    if VERSION != version:
        problems.append(f"deepgep {VERSION} here, {version} on the driver")
    if commit is not None:
        here, _ = source_state()
        if here != commit:
            problems.append(f"commit {here or 'unknown (not a git checkout)'} here, {commit} on the driver")
    if problems:
        raise SystemExit("deepgep: error: this worker's environment is not the driver's: " + "; ".join(problems)
                         + f" ({sys.executable})")


def worker_prologue(python: str, activate: str | None, version: str, commit: str | None) -> list[str]:
    """The lines a batch job runs before its workers: ``activate`` (a shell command, e.g.
    ``source /path/venv/bin/activate``), the exports of ``WORKER_ENV``, and :func:`check_worker`
    with ``python``, ending the job if it fails."""
    lines = [activate] if activate else []
    lines += [f"export {name}={shlex.quote(value)}" for name, value in WORKER_ENV.items()]
    arguments = ", ".join(json.dumps(value) if value is not None else "None" for value in (version, commit))
    call = f"from deepgep.support.cluster import check_worker; check_worker({arguments})"
    lines.append(f"{shlex.quote(python)} -c {shlex.quote(call)} || exit 1")
    return lines


def _default_activate() -> str | None:
    script = Path(sys.prefix) / "bin" / "activate"
    return f"source {shlex.quote(str(script))}" if sys.prefix != sys.base_prefix and script.exists() else None


def _import_slurm_cluster() -> type:
    """``dask_jobqueue.SLURMCluster`` (the [cluster] extra: imported only when a cluster is
    built). Importing dask-jobqueue (0.9) replaces the process's Ctrl-C handler by ``sys.exit``
    (its ``runner`` module does so at import): the handler in place before is put back, so that
    Ctrl-C still interrupts a sweep as a ``KeyboardInterrupt`` after a cluster was made."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    from dask_jobqueue import SLURMCluster
    if in_main and previous is not None:
        signal.signal(signal.SIGINT, previous)
    return SLURMCluster


def slurm_cluster(
    *,
    workers_per_job: int = 1,
    memory: str = "4GB",
    walltime: str = "01:00:00",
    queue: str | None = None,
    account: str | None = None,
    python: str | None = None,
    activate: str | None = "auto",
    check_commit: bool = True,
    job_extra_directives: Sequence[str] = (),
    **kwargs: Any,
) -> SLURMCluster:
    """A ``dask_jobqueue.SLURMCluster`` with the project's worker environment (module docstring).

    Parameters
    ----------
    workers_per_job:
        Dask workers (one thread each) per batch job; the job asks for as many cores
        (``--cpus-per-task``) and shares ``memory`` (the job's, e.g. ``"16GB"``) among them.
    walltime, queue, account:
        The job's ``-t``, ``-p`` (partition) and ``-A``.
    python:
        The interpreter of the workers (default: this one, ``sys.executable``: the same
        environment on a shared file system).
    activate:
        A shell line that activates the environment on the node (``"auto"``: ``source`` this
        virtual environment's ``bin/activate``, if it is one; ``None``: nothing, e.g. when
        ``python`` is enough); e.g. ``"module load python/3.11 && source ~/deepgep/bin/activate"``.
    check_commit:
        Also require the driver's git commit on the node (ignored, with a warning, when this
        deepgep is not a git checkout).
    job_extra_directives:
        Further ``#SBATCH`` options, e.g. ``["--qos=long"]``.
    **kwargs:
        Passed to ``SLURMCluster`` (``interface="ib0"``, ``log_directory``, ``scheduler_options``,
        ``local_directory``...).
    """
    SLURMCluster = _import_slurm_cluster()

    workers = check_count("workers_per_job", workers_per_job)
    python = python or sys.executable
    activate = _default_activate() if activate == "auto" else activate
    commit, dirty = source_state() if check_commit else (None, False)
    if check_commit and commit is None:
        warnings.warn("deepgep is not a git checkout here: the workers check the version only", stacklevel=2)
    if dirty:
        warnings.warn(f"the source tree has uncommitted changes: the workers check the commit {commit}, not the "
                      "changes, and the tables record a dirty tree", stacklevel=2)
    kwargs.setdefault("dashboard_address", None)
    return SLURMCluster(
        cores=workers,
        processes=workers,
        memory=memory,
        walltime=walltime,
        queue=queue,
        account=account,
        python=python,
        job_script_prologue=worker_prologue(python, activate, VERSION, commit),
        job_extra_directives=list(job_extra_directives),
        **kwargs,
    )

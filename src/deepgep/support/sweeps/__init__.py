"""Resumable parameter sweeps on Dask: run a grid of independent tasks, keep every finished row.

The book's expensive experiments are grids of independent tasks ``(params, seed) -> record(s)``.
A :class:`Sweep` names the task by import path (``"package.module:function"``), the grid of
parameter points, the seeds, the constants shared by every task, the index columns of a task
that writes several rows, and the relative tolerance within which a recomputed record counts as
the stored one. :func:`run_sweep` runs the tasks that are not stored yet (on
``dask.distributed`` or in-process) and appends the rows of each finished task as it arrives;
:func:`check_table` and :func:`load_frame` read a table as evidence (checked whole, every time),
:func:`list_tables` summarises what is stored and :func:`verify_table` recomputes a sample.

``<results_dir>/ch<N>/<name>-<key>.csv`` holds the rows (long format: the parameters are
columns) and ``<name>-<key>.meta.json`` the description of the sweep, of its runs and the
digest of the table; ``key`` is a digest of the sweep's parameters. Each module documents its
part:

* :mod:`.spec`: the sweep, the tasks and their keys (:class:`Sweep`, :func:`grid_product`,
  :func:`task_key`, :func:`resolve_task`, the errors);
* :mod:`.files`: where the files are, atomic writes, the lock, the metadata's JSON layout;
* :mod:`.table`: the CSV format in long form, a task's rows, reading and appending;
* :mod:`.tasks`: the wrapper every task runs in (one BLAS thread, record checks, timing, a
  time limit);
* :mod:`.isolated`: a task run in a child process (what survives ``os._exit`` and crashes);
* :mod:`.schedulers`: serial, local cluster or a running scheduler (:func:`start_local_cluster`,
  ``WORKER_ENV``, ``SCHEDULER_ENV``);
* :mod:`.metadata`: the content of the metadata file, the run sessions and the totals;
* :mod:`.integrity`: a table read as evidence, checked whole (:func:`check_table`,
  :func:`load_frame`);
* :mod:`.run`: resuming and running a sweep (:func:`run_sweep`, :class:`SweepSummary`);
* :mod:`.verify`: recomputing stored tasks, and the tolerance (:func:`verify_table`);
* :mod:`.listing`: every stored table (:func:`list_tables`).
"""

from deepgep.support.sweeps.integrity import TableStatus, check_table, load_frame
from deepgep.support.sweeps.listing import list_tables
from deepgep.support.sweeps.run import SweepSummary, TaskError, run_sweep
from deepgep.support.sweeps.schedulers import SCHEDULER_ENV, WORKER_ENV, start_local_cluster
from deepgep.support.sweeps.spec import Sweep, SweepError, TableDamagedError, grid_product, resolve_task, task_key
from deepgep.support.sweeps.tasks import BLAS_THREADS, task_rng
from deepgep.support.sweeps.verify import Mismatch, VerificationReport, verify_table

__all__ = [
    "Sweep",
    "SweepError",
    "TableDamagedError",
    "SweepSummary",
    "TableStatus",
    "TaskError",
    "Mismatch",
    "VerificationReport",
    "grid_product",
    "task_key",
    "resolve_task",
    "start_local_cluster",
    "run_sweep",
    "check_table",
    "load_frame",
    "list_tables",
    "verify_table",
    "SCHEDULER_ENV",
    "WORKER_ENV",
    "BLAS_THREADS",
    "task_rng",
]

"""Resumable parameter sweeps on Dask: run a grid of independent tasks, keep every finished row.

The book's expensive experiments are grids of independent tasks ``(params, seed) -> record``.
A :class:`Sweep` names the task by import path (``"package.module:function"``), the grid of
parameter points, the seeds, the constants shared by every task and the relative tolerance
within which a recomputed record counts as the stored one. :func:`run_sweep` runs the tasks
that are not stored yet (on ``dask.distributed`` or in-process) and appends one CSV row per
finished task as it arrives; :func:`load_table`, :func:`list_tables` and :func:`verify_table`
read, summarise and re-check what is stored.

``<results_dir>/ch<N>/<experiment>-<preset>.csv`` holds the rows and
``<experiment>-<preset>.meta.json`` the description of the sweep and of its runs. Each module
documents its part:

* :mod:`.spec`: the sweep, the tasks and their keys (:class:`Sweep`, :func:`grid_product`,
  :func:`task_key`, :func:`resolve_task`, the errors);
* :mod:`.files`: where the files are, atomic writes, the lock, the metadata's JSON layout;
* :mod:`.table`: the CSV format, and reading it (:func:`load_table`, :func:`as_columns`,
  :func:`list_tables`);
* :mod:`.tasks`: the wrapper every task runs in (one BLAS thread, record checks, timing);
* :mod:`.schedulers`: serial, local cluster or a running scheduler (:func:`start_local_cluster`,
  ``WORKER_ENV``, ``SCHEDULER_ENV``);
* :mod:`.metadata`: the content of the metadata file and the run sessions;
* :mod:`.run`: resuming and running a sweep (:func:`run_sweep`, :class:`SweepSummary`);
* :mod:`.verify`: recomputing stored rows, and the tolerance (:func:`verify_table`).
"""

from deepgep.support.sweeps.run import SweepSummary, TaskError, run_sweep
from deepgep.support.sweeps.schedulers import SCHEDULER_ENV, WORKER_ENV, start_local_cluster
from deepgep.support.sweeps.spec import Sweep, SweepError, SweepMismatchError, grid_product, resolve_task, task_key
from deepgep.support.sweeps.table import as_columns, field_matrix, list_tables, load_table
from deepgep.support.sweeps.tasks import BLAS_THREADS, task_rng
from deepgep.support.sweeps.verify import Mismatch, VerificationReport, verify_table

__all__ = [
    "Sweep",
    "SweepError",
    "SweepMismatchError",
    "SweepSummary",
    "TaskError",
    "Mismatch",
    "VerificationReport",
    "grid_product",
    "task_key",
    "resolve_task",
    "start_local_cluster",
    "run_sweep",
    "load_table",
    "as_columns",
    "field_matrix",
    "list_tables",
    "verify_table",
    "SCHEDULER_ENV",
    "WORKER_ENV",
    "BLAS_THREADS",
    "task_rng",
]

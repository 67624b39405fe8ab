"""The wrapper every path runs a task in: serial, on a Dask worker, and in verification.

:func:`execute` calls ``task(params, seed)`` inside :func:`threadpoolctl.threadpool_limits`
with ``BLAS_THREADS`` BLAS threads, checks the record (a flat dict of scalars whose fields are
free column names), times it, and turns an exception into an error text; :func:`task_row` makes
the table row of the outcome.

The limit is taken afresh for every task, not with the cached controller of
:mod:`deepgep.support.threads`: a long-lived worker may load another BLAS (a new task module,
a lazily imported SciPy) after the first task, and a controller built before would not see it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from deepgep.support.sweeps.spec import CPU, ERROR, WALL, check_column_name, check_scalar
from deepgep.support.sweeps.table import cell, id_cells

__all__ = ["BLAS_THREADS", "ERROR_CHARS", "error_text", "failed", "execute", "task_row", "task_rng"]

#: Threads of the BLAS (and of other thread pools) inside one task.
BLAS_THREADS = 1
#: Longest error message stored in a row.
ERROR_CHARS = 200


def task_rng(params: Mapping, seed: int, *tags: int) -> np.random.Generator:
    """The random stream of one task: ``default_rng([params["base_seed"], *tags, seed])``, one
    independent stream per (chapter seed, experiment tags, task seed), so a task's draws depend
    neither on the other tasks nor on the order in which a scheduler runs them."""
    return np.random.default_rng([int(params["base_seed"]), *(int(t) for t in tags), int(seed)])


def _check_record(record: Any, forbidden: Sequence[str]) -> dict[str, Any]:
    """A flat dict of Python scalars (numpy scalars converted) whose fields are free names."""
    if not isinstance(record, Mapping):
        raise TypeError(f"the task returned {type(record).__name__}, not a dict")
    return {check_column_name("record field", name, forbidden): check_scalar(f"record field {name!r}", value, finite=False)
            for name, value in record.items()}


def error_text(exc: BaseException) -> str:
    """``Type: message`` on one line, at most ``ERROR_CHARS`` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def failed(exc: BaseException) -> dict[str, Any]:
    """The outcome of a task that never returned (its worker died, say)."""
    return {"record": {}, "error": error_text(exc), "wall": 0.0, "cpu": 0.0}


def execute(func: Callable, params: dict[str, Any], seed: int, forbidden: Sequence[str]) -> dict[str, Any]:
    """Run one task with ``BLAS_THREADS`` BLAS threads: ``{record, error, wall, cpu}``."""
    wall, cpu = time.perf_counter(), time.process_time()
    record, error = {}, ""
    try:
        with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
            record = _check_record(func(params, seed), forbidden)
    except Exception as exc:  # noqa: BLE001 - a failing task becomes an error row
        error = error_text(exc)
    return {
        "record": record,
        "error": error,
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
    }


def task_row(point: Mapping[str, Any], seed: int, outcome: Mapping[str, Any]) -> dict[str, str]:
    """The table row of a task's outcome."""
    row = id_cells(point, seed)
    row.update({name: cell(value) for name, value in outcome["record"].items()})
    row[WALL] = cell(round(outcome["wall"], 6))
    row[CPU] = cell(round(outcome["cpu"], 6))
    row[ERROR] = outcome["error"]
    return row

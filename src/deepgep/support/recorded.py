"""A chapter's tables: recorded at paper scale, or computed now.

Every expensive experiment of the book is a :class:`~deepgep.support.sweeps.Sweep`, built by the
chapter's module from the notebook's parameters. A notebook gets its rows with
:func:`chapter_rows`:

* ``recorded=True`` (the paper preset, what the online book shows): the table committed under
  ``results/ch<N>/``. It must describe exactly this sweep (same task, grid, seeds, constants)
  and be complete (every task, no error); otherwise the error says how to produce it
  (``make paper CHAPTER=N``), so a changed parameter never silently reuses old rows.
* ``recorded=False`` (the fast preset, or any other parameters): the sweep is run now, from
  scratch, in a temporary folder, in-process or on a Dask cluster (``scheduler``).

Both paths run the same task functions, so the fast preset exercises exactly the code that
produced the recorded tables, and ``deepgep results verify`` recomputes recorded rows with it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from deepgep.support.sweeps import Sweep, SweepError, load_table, run_sweep
from deepgep.support.sweeps.files import read_meta
from deepgep.support.sweeps.metadata import differences

__all__ = ["RESULTS_ENV", "results_dir", "RecordedTableError", "recorded_rows", "computed_rows",
           "chapter_rows"]

#: Environment variable naming the folder of the recorded tables (default: ``results/`` at the
#: root of the book, found from the current folder upwards).
RESULTS_ENV = "DEEPGEP_RESULTS"
#: Files that mark the root of the book's repository.
_ROOT_MARKERS = ("_toc.yml", "pyproject.toml")


class RecordedTableError(SweepError):
    """The recorded table of a sweep is missing, describes another sweep, or is incomplete."""


def results_dir(start: str | os.PathLike | None = None) -> Path:
    """The folder of the recorded tables: ``$DEEPGEP_RESULTS``, else ``results/`` in the first
    folder from ``start`` (default: the current folder) upwards that holds the book's
    ``_toc.yml`` and ``pyproject.toml`` (notebooks run in ``notebooks/``)."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).exists() for marker in _ROOT_MARKERS):
            return folder / "results"
    raise RecordedTableError(f"no book root (a folder with {' and '.join(_ROOT_MARKERS)}) above "
                             f"{here}; set {RESULTS_ENV} to the folder of the recorded tables")


def recorded_rows(sweep: Sweep, folder: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The rows of the committed table of ``sweep``: it must exist, describe this very sweep and
    hold every task without error (:class:`RecordedTableError` otherwise)."""
    folder = Path(folder) if folder is not None else results_dir()
    hint = (f"run `make paper CHAPTER={sweep.chapter}` (or `deepgep results run --chapter "
            f"{sweep.chapter}`) to record it")
    meta_path = sweep.meta_path(folder)
    if not meta_path.exists():
        raise RecordedTableError(f"no recorded table {sweep.csv_path(folder)}; {hint}")
    changed = differences(sweep, read_meta(meta_path))
    if changed:
        raise RecordedTableError(f"the recorded table {sweep.csv_path(folder)} is for other "
                                 f"parameters ({', '.join(changed)} differ); {hint}")
    rows = load_table(sweep, results_dir=folder)
    done = [r for r in rows if not r.get("error")]
    if len(done) != sweep.n_tasks:
        raise RecordedTableError(f"the recorded table {sweep.csv_path(folder)} holds {len(done)} of "
                                 f"{sweep.n_tasks} tasks; {hint} (it resumes)")
    return done


def computed_rows(sweep: Sweep, *, scheduler: str = "serial", progress: bool = False) -> list[dict[str, Any]]:
    """Run ``sweep`` now, from scratch, in a temporary folder; its rows (an error in a task is
    raised here: a notebook's computation must not silently lose rows)."""
    with tempfile.TemporaryDirectory(prefix="deepgep-") as folder:
        summary = run_sweep(sweep, results_dir=folder, scheduler=scheduler, progress=progress)
        if summary.errors:
            first = summary.errors[0]
            raise SweepError(f"{len(summary.errors)} task(s) of {sweep.experiment} failed, e.g. "
                             f"{first.key}: {first.message}")
        return load_table(sweep, results_dir=folder)


def chapter_rows(sweep: Sweep, *, recorded: bool, scheduler: str = "serial",
                 progress: bool = False) -> list[dict[str, Any]]:
    """The rows of ``sweep``: recorded (:func:`recorded_rows`) or computed now
    (:func:`computed_rows`)."""
    if recorded:
        return recorded_rows(sweep)
    return computed_rows(sweep, scheduler=scheduler, progress=progress)

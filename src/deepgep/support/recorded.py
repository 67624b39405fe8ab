"""The tables of an experiment: read if recorded for exactly its parameters, computed otherwise.

Every expensive experiment of the book is a :class:`~deepgep.support.sweeps.Sweep` built by a
chapter's :class:`~deepgep.support.experiment.Experiment`; its table is keyed by its parameters
(``ch<N>/<name>-<key>.csv``), so a table is only ever read for the parameters it was made with.
:func:`experiment_tables` gives a notebook its tables as pandas DataFrames:

* the book's parameters (the paper preset): the tables committed under ``results/`` at the root
  of the book. They are read, checked whole (:mod:`deepgep.support.sweeps.integrity`), never
  computed here: a missing, incomplete or damaged table is an error saying what to run
  (``deepgep run --chapter N``);
* any other parameters (the fast preset, a papermill override, ``deepgep run --set``): the
  sweeps are computed, or resumed, into the runs folder (``_build/results/`` of the book, or
  the user's cache folder outside a clone) on the default scheduler (``$DEEPGEP_SCHEDULER``,
  else a Dask ``LocalCluster`` with one worker per core), with a progress bar; a second run
  with the same parameters reads what the first stored.

``$DEEPGEP_RESULTS`` names one folder for both (the tests use it to compute from scratch).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from deepgep.support.experiment import Experiment
from deepgep.support.sweeps import Sweep, SweepError, TableDamagedError, check_table, load_frame, run_sweep
from deepgep.support.sweeps.schedulers import open_backend
from deepgep.version import VERSION

__all__ = ["RESULTS_ENV", "book_root", "book_results_dir", "runs_dir", "folder_for", "run_hint",
           "experiment_tables", "compute_tables"]

#: Environment variable naming one folder for every table (the book's and the runs').
RESULTS_ENV = "DEEPGEP_RESULTS"
#: Files that mark the root of the book's repository.
_ROOT_MARKERS = ("_toc.yml", "pyproject.toml")


def book_root(start: str | os.PathLike | None = None) -> Path | None:
    """The first folder from ``start`` (default: the current folder) upwards that holds the
    book's ``_toc.yml`` and ``pyproject.toml`` (notebooks run in ``notebooks/``), or ``None``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).exists() for marker in _ROOT_MARKERS):
            return folder
    return None


#: The folder of the installed package that holds its copy of the book's recorded tables.
_PACKAGED_RESULTS = "results"


def _packaged_results() -> Path | None:
    """The recorded tables shipped with the installed package (package data
    ``deepgep/results/ch<N>/``, located with :mod:`importlib.resources`), or ``None`` if it ships
    none (or is not installed as files on disk)."""
    folder = importlib.resources.files("deepgep") / _PACKAGED_RESULTS
    if isinstance(folder, Path) and folder.is_dir() and any(folder.glob("ch*/*.meta.json")):
        return folder
    return None


def book_results_dir() -> Path:
    """The folder of the book's recorded tables: ``$DEEPGEP_RESULTS``, else ``results/`` at the
    book's root, else (outside a clone: a notebook downloaded from the book) the copy shipped
    with the installed package (:func:`_packaged_results`); an error saying what to do if there
    is none."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    root = book_root()
    if root is not None:
        return root / "results"
    packaged = _packaged_results()
    if packaged is not None:
        return packaged
    raise TableDamagedError(
        f"no recorded tables: {Path.cwd()} is not inside the book's repository (no folder with "
        f"{' and '.join(_ROOT_MARKERS)} above it) and the installed deepgep {VERSION} ships none "
        f"(deepgep/{_PACKAGED_RESULTS}/); install deepgep from the book's repository, or set "
        f"{RESULTS_ENV} to a folder of recorded tables (results/ of a clone)")


def runs_dir() -> Path:
    """The folder of tables computed for other parameters: ``$DEEPGEP_RESULTS``, else
    ``_build/results/`` at the book's root, else ``~/.cache/deepgep/results``."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    root = book_root()
    if root is not None:
        return root / "_build" / "results"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deepgep" / "results"


def folder_for(experiment: Experiment) -> Path:
    """Where the tables of ``experiment`` live: the book's folder for the book's parameters."""
    return book_results_dir() if experiment.is_book else runs_dir()


def run_hint(experiment: Experiment) -> str:
    """The command that records the tables of ``experiment``."""
    if experiment.is_book:
        return f"run `deepgep run --chapter {experiment.CHAPTER}` to record (or resume) them"
    return f"run `deepgep run --chapter {experiment.CHAPTER}` with these parameters"


def _chosen(experiment: Experiment, names: Sequence[str] | None) -> dict[str, Sweep]:
    sweeps = experiment.sweeps()
    names = list(sweeps) if names is None else list(names)
    unknown = sorted(set(names) - set(sweeps))
    if unknown:
        raise SweepError(f"chapter {experiment.CHAPTER} has no sweep {', '.join(unknown)}; its sweeps: "
                         f"{', '.join(sweeps) or 'none'}")
    return {name: sweeps[name] for name in names}


def _needs_work(sweep: Sweep, folder: Path, restart: bool) -> bool:
    return restart or check_table(sweep, folder).state != "complete"


def compute_tables(experiment: Experiment, names: Sequence[str] | None = None, *, scheduler: str | None = None,
                   n_workers: int | None = None, progress: bool = True, restart: bool = False,
                   timeout: float | None = None) -> list:
    """Run (or resume) the sweeps of ``experiment`` into :func:`folder_for`, on one back end
    shared by every sweep that has work (a cluster is started once, and only if needed); the
    summaries. A task that raised is listed in its summary (and retried by the next run);
    ``timeout`` is every task's time limit in seconds."""
    folder = folder_for(experiment)
    sweeps = _chosen(experiment, names)
    summaries = []
    with contextlib.ExitStack() as stack:
        backend = None
        for sweep in sweeps.values():
            if backend is None and _needs_work(sweep, folder, restart):
                backend = stack.enter_context(open_backend(scheduler, n_workers, timeout))
            summaries.append(run_sweep(sweep, results_dir=folder, progress=progress, restart=restart,
                                       about=experiment.description(), backend=backend))
    return summaries


def experiment_tables(experiment: Experiment, names: Sequence[str] | None = None, *,
                      scheduler: str | None = None, progress: bool = True) -> dict[str, pd.DataFrame]:
    """The tables of ``experiment`` (all its sweeps, or ``names``) as DataFrames (see the module
    docstring): read for the book's parameters, computed or resumed for any others."""
    folder, hint = folder_for(experiment), run_hint(experiment)
    chosen = _chosen(experiment, names)
    todo = [name for name, sweep in chosen.items() if check_table(sweep, folder, hint).state != "complete"]
    if todo and experiment.is_book:
        status = check_table(chosen[todo[0]], folder, hint)
        raise TableDamagedError(f"{status.path}: the book's table is {status.state} ({status.stored} of "
                                f"{status.tasks} tasks); {hint}")
    for name in todo:
        print(f"chapter {experiment.CHAPTER}, {name}: computing {chosen[name].n_tasks} tasks into "
              f"{chosen[name].csv_path(folder)}", file=sys.stderr, flush=True)
    for name, summary in zip(todo, compute_tables(experiment, todo, scheduler=scheduler, progress=progress) if todo
                             else []):
        if summary.errors:
            first = summary.errors[0]
            raise SweepError(f"{len(summary.errors)} task(s) of {name} failed (kept as error rows, retried by "
                             f"the next run), e.g. {first.key}: {first.message}")
    return {name: load_frame(sweep, folder, hint) for name, sweep in chosen.items()}

"""``deepgep run``: a chapter at any parameters and any scale, on Dask.

``deepgep run --chapter N [--preset fast|paper] [--set NAME=VALUE ...] [--scheduler ADDRESS]``
builds the chapter's experiment (the preset, then each ``--set``), computes or resumes its
sweeps into tables keyed by exactly those parameters (:mod:`deepgep.support.recorded`), then
executes the chapter's notebook on them with papermill into ``_build/run/`` (the injected
parameters are the preset and the changed values). ``--store`` executes the notebook in place
instead (the book's parameters only: what ``make paper CHAPTER=N`` does); ``--show`` prints the
parameters and the tables without running anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from deepgep.chapters import experiment_class, notebook_name
from deepgep.cli.output import EXIT_OK, aligned, emit
from deepgep.support.experiment import PRESETS, cell_name, parse_assignment
from deepgep.support.notebooks import execute, store
from deepgep.support.recorded import book_root, compute_tables, folder_for

__all__ = ["EXIT_TASKS_FAILED", "build_experiment", "add_run_parser", "run_chapter"]

#: Exit status of ``deepgep run`` when a task of a sweep raised (its error row is kept and
#: retried by the next run).
EXIT_TASKS_FAILED = 6
#: Where ``deepgep run`` writes the executed notebook (relative to the book's root).
RUN_OUTPUT = Path("_build") / "run"


def build_experiment(chapter: int, preset: str, assignments: list[str]) -> Any:
    """The chapter's experiment: ``preset`` with every ``NAME=VALUE`` of ``assignments``."""
    changes = dict(parse_assignment(text) for text in assignments)
    return experiment_class(chapter).preset(preset).replace(**changes)


def _show(experiment: Any) -> list[str]:
    summary = experiment.summary()
    lines = aligned(list(summary), [[json.dumps(v) if not isinstance(v, str) else v for v in row]
                                    for row in zip(*summary.values())])
    folder = folder_for(experiment)
    lines += ["", f"tables ({folder}):"]
    lines += [f"  {name}: {sweep.n_tasks} tasks, {sweep.csv_path(folder)}" for name, sweep in experiment.sweeps().items()]
    return lines


def _notebook_parameters(experiment: Any, preset: str) -> dict[str, Any]:
    """What papermill injects: the preset and every field that differs from it."""
    changed = experiment.differences(type(experiment).preset(preset))
    return json.loads(json.dumps({"PRESET": preset, **{cell_name(name): value for name, _, value in changed}}))


def run_chapter(args: argparse.Namespace) -> int:
    experiment = build_experiment(args.chapter, args.preset, args.set)
    if args.show:
        emit(_show(experiment))
        return EXIT_OK
    if args.store and not experiment.is_book:
        raise ValueError("--store keeps the outputs in the book's notebook: only for the book's parameters "
                         "(the paper preset, no --set); drop --store to write the run into _build/run/")
    summaries = compute_tables(experiment, scheduler=args.scheduler, n_workers=args.workers,
                               progress=not args.no_progress, restart=args.restart, timeout=args.timeout)
    for summary in summaries:
        print(summary, flush=True)
    if any(s.errors for s in summaries):
        return EXIT_TASKS_FAILED
    if args.no_notebook:
        return EXIT_OK
    root = book_root()
    if root is None:
        raise ValueError("the chapter's notebook is in the book's repository (run from inside a clone), "
                         "or pass --no-notebook to compute the tables only")
    notebook = root / "notebooks" / notebook_name(args.chapter)
    if args.store:
        print(f"outputs stored in {store(notebook)}")
        return EXIT_OK
    out_dir = Path(args.output_dir) if args.output_dir else root / RUN_OUTPUT
    target = execute(notebook, out_dir / notebook.name, _notebook_parameters(experiment, args.preset),
                     progress=not args.no_progress)
    print(f"executed notebook written to {target}")
    return EXIT_OK


def add_run_parser(sub: Any, formatter: type) -> None:
    """The ``run`` command."""
    run = sub.add_parser(
        "run", formatter_class=formatter, help="a chapter at any parameters: its sweeps (on Dask), then its notebook",
        description="Compute (or resume) a chapter's sweeps for exactly the given parameters, into tables keyed "
                    "by them, then execute its notebook on them into _build/run/.",
        epilog="examples:\n  deepgep run --chapter 8 --preset fast --set width=32\n"
               "  deepgep run --chapter 1 --preset fast --set activation=erf --set gain=1.5\n"
               "  deepgep run --chapter 5 --scheduler tcp://scheduler-host:8786\n"
               "  deepgep run --chapter 4 --show")
    run.add_argument("--chapter", type=int, required=True)
    run.add_argument("--preset", choices=PRESETS, default="paper", help="paper (the book's, default) or fast")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="change one parameter of the preset (a Python literal, or a word: activation=erf); "
                          "repeatable; --show lists the names")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="a Dask scheduler address, 'local' (a LocalCluster, one worker per core), 'isolated' "
                          "(one child process, no Dask) or 'serial' (this process: for debugging); default "
                          "$DEEPGEP_SCHEDULER, else local")
    run.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                     help="time limit of every task (a task over it becomes an error row, retried next run)")
    run.add_argument("--workers", type=int, default=None, help="workers of the local cluster")
    run.add_argument("--restart", action="store_true", help="delete the stored tables of these parameters first")
    run.add_argument("--show", action="store_true", help="print the parameters and the tables, run nothing")
    run.add_argument("--no-notebook", action="store_true", help="compute the tables only")
    run.add_argument("--store", action="store_true",
                     help="execute the notebook in place (book's parameters only; what `make paper` does)")
    run.add_argument("--output-dir", default=None, help="folder of the executed notebook (default _build/run)")
    run.add_argument("--no-progress", action="store_true")
    run.set_defaults(run=run_chapter)

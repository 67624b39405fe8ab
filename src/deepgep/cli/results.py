"""``deepgep results``: the recorded paper-scale tables — list them, recompute a sample of their
rows, or run a chapter's sweeps (resumable, on Dask).

A chapter with recorded tables has a module in :mod:`deepgep.chapters` with a function
``sweeps(params, preset) -> {name: Sweep}``; the parameters are those of the chapter's notebook
(its ``parameters`` cell, either preset), so the tables are exactly what the notebook reads.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import Any

from deepgep.cli.output import EXIT_OK, aligned, emit
from deepgep.support.presets import PRESETS, find_chapter, read_presets, rerun, store
from deepgep.support.recorded import results_dir
from deepgep.support.sweeps import Sweep, list_tables, run_sweep, verify_table

__all__ = ["CHAPTER_MODULES", "EXIT_MISMATCH", "chapter_module", "has_sweeps", "chapter_parameters",
           "chapter_sweeps", "add_results_parser"]

#: The module of each chapter's scans (:mod:`deepgep.chapters`). A chapter with recorded tables
#: has ``sweeps(params, preset) -> {name: Sweep}`` there; a chapter with claims has
#: ``claims(rows, params) -> [Claim]`` (:mod:`deepgep.cli.claims`).
CHAPTER_MODULES = {
    1: "deepgep.chapters.ch1_gaussian_equivalence",
    2: "deepgep.chapters.ch2_reduction_to_glm",
    3: "deepgep.chapters.ch3_free_entropy",
    4: "deepgep.chapters.ch4_bayes_optimal_generalisation",
    5: "deepgep.chapters.ch5_posterior_sampling",
    6: "deepgep.chapters.ch6_kernel_renormalisation",
    7: "deepgep.chapters.ch7_deep_linear",
    8: "deepgep.chapters.ch8_deep_equilibrium",
}
#: Exit status of ``deepgep results verify`` when a recomputed row differs from the table.
EXIT_MISMATCH = 1
#: Keys of ``deepgep results list --format json``.
LIST_KEYS = ("chapter", "experiment", "preset", "rows", "complete", "cpu_hours")


def chapter_module(chapter: int) -> Any:
    """The module of ``chapter``'s scans."""
    if chapter not in CHAPTER_MODULES:
        raise ValueError(f"no chapter {chapter}; chapters: {', '.join(map(str, sorted(CHAPTER_MODULES)))}")
    return importlib.import_module(CHAPTER_MODULES[chapter])


def has_sweeps(chapter: int) -> bool:
    """Whether ``chapter``'s expensive experiments are sweeps with recorded tables."""
    return hasattr(chapter_module(chapter), "sweeps")


def chapter_parameters(chapter: int, preset: str, notebooks: Path | None = None) -> dict[str, Any]:
    """The values of ``chapter``'s notebook ``parameters`` cell in ``preset``."""
    folder = notebooks if notebooks is not None else results_dir().parent / "notebooks"
    return {name: getattr(p, preset) for name, p in read_presets(find_chapter(chapter, folder)).items()}


def chapter_sweeps(chapter: int, preset: str, notebooks: Path | None = None) -> dict[str, Sweep]:
    """The sweeps of ``chapter`` in ``preset``, built from its notebook's parameters cell."""
    if not has_sweeps(chapter):
        raise ValueError(f"chapter {chapter} has no recorded sweeps; chapters with sweeps: "
                         f"{', '.join(str(c) for c in sorted(CHAPTER_MODULES) if has_sweeps(c))}")
    return chapter_module(chapter).sweeps(chapter_parameters(chapter, preset, notebooks), preset)


def _folder(args: argparse.Namespace) -> Path:
    return Path(args.results_dir) if args.results_dir else results_dir()


def run_list(args: argparse.Namespace) -> int:
    tables = [{k: t[k] for k in LIST_KEYS} for t in list_tables(_folder(args))
              if args.chapter is None or t["chapter"] == args.chapter]
    if args.format == "json":
        emit([json.dumps(tables, indent=2)])
    else:
        rows = [[str(t[k]) for k in LIST_KEYS] for t in tables]
        emit(aligned(LIST_KEYS, rows))
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    folder = _folder(args)
    tables = [t for t in list_tables(folder) if args.chapter is None or t["chapter"] == args.chapter]
    if not tables:
        raise ValueError(f"no recorded table in {folder}" + (f" for chapter {args.chapter}" if args.chapter else ""))
    status = EXIT_OK
    for table in tables:
        report = verify_table(table["path"], sample=args.sample, seed=args.seed,
                              time_budget=args.time_budget)
        print(report, flush=True)
        status = status if report.ok else EXIT_MISMATCH
    return status


def run_sweeps(args: argparse.Namespace) -> int:
    sweeps = chapter_sweeps(args.chapter, args.preset)
    names = args.experiment or list(sweeps)
    unknown = sorted(set(names) - set(sweeps))
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown} of chapter {args.chapter}; known: {sorted(sweeps)}")
    failed = 0
    for name in names:
        summary = run_sweep(sweeps[name], results_dir=_folder(args), scheduler=args.scheduler,
                            n_workers=args.workers, progress=not args.no_progress)
        print(summary, flush=True)
        failed += len(summary.errors)
    return EXIT_OK if failed == 0 else EXIT_MISMATCH


def run_paper(args: argparse.Namespace) -> int:
    """``make paper``: a chapter with recorded sweeps runs (resumes) them, then its notebook is
    executed in place from the tables (its stored outputs); any other chapter is rerun by
    papermill with its paper preset into ``_build/paper/``."""
    notebook = find_chapter(args.chapter, results_dir().parent / "notebooks")
    if has_sweeps(args.chapter):
        status = run_sweeps(args)
        if status != EXIT_OK:
            return status
        print(f"outputs stored in {store(notebook)}")
        return EXIT_OK
    print(f"executed notebook written to {rerun(notebook, preset='paper', progress=not args.no_progress)}")
    return EXIT_OK


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results-dir", default=None,
                        help="folder of the tables (default: $DEEPGEP_RESULTS, else results/ at the "
                             "root of the book)")


def add_results_parser(sub: Any, formatter: type) -> None:
    """The ``results`` command and its ``list``, ``verify`` and ``run`` subcommands."""
    results = sub.add_parser("results", formatter_class=formatter,
                             help="the recorded paper-scale tables: list, verify, run",
                             description="List, re-verify or (re)compute the recorded tables under "
                                         "results/ch<N>/ (one CSV row per task, with a .meta.json).")
    rsub = results.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = rsub.add_parser("list", help="each table: chapter, experiment, preset, rows, complete, CPU hours")
    lst.add_argument("--chapter", type=int, default=None)
    lst.add_argument("--format", choices=("json", "table"), default="table")
    _common(lst)
    lst.set_defaults(run=run_list)
    ver = rsub.add_parser("verify", help="recompute K random rows per table and compare (exit 1 on a mismatch)")
    ver.add_argument("--chapter", type=int, default=None)
    ver.add_argument("--sample", type=int, default=3, metavar="K", help="rows per table (default 3)")
    ver.add_argument("--seed", type=int, default=0, help="seed of the choice of rows (default 0)")
    ver.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                     help="stop recomputing a table's rows after this long (at least one row)")
    _common(ver)
    ver.set_defaults(run=run_verify)
    run = rsub.add_parser("run", help="run (or resume) a chapter's sweeps")
    run.add_argument("--chapter", type=int, required=True)
    run.add_argument("--preset", choices=PRESETS, default="paper")
    run.add_argument("--experiment", action="append", default=None, metavar="NAME",
                     help="only this sweep of the chapter (repeatable)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="a Dask scheduler address, 'local' (default: a LocalCluster, one worker "
                          "per core) or 'serial'; also $DEEPGEP_SCHEDULER")
    run.add_argument("--workers", type=int, default=None, help="workers of the local cluster")
    run.add_argument("--no-progress", action="store_true")
    _common(run)
    run.set_defaults(run=run_sweeps)
    paper = rsub.add_parser("paper", help="a chapter at paper scale: its sweeps, then its notebook")
    for action in run._actions[1:]:  # the options of run, shared  # noqa: SLF001
        paper._add_action(action)  # noqa: SLF001
    paper.set_defaults(run=run_paper)


"""``deepgep results``: the recorded tables — list them, or check them whole and recompute a
sample of their tasks.

The book's tables are those of each chapter's paper preset (``EXPERIMENT.paper().sweeps()``),
under ``results/`` at the root of the book; ``--results-dir`` names another folder (the runs of
other parameters are in ``_build/results/``). Run a chapter's sweeps with ``deepgep run``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from deepgep.chapters import CHAPTERS, experiment_class
from deepgep.cli.output import EXIT_OK, aligned, emit
from deepgep.support.recorded import book_results_dir, run_hint
from deepgep.support.sweeps import TableDamagedError, list_tables, verify_table
from deepgep.support.sweeps.verify import record_verification

__all__ = ["EXIT_MISMATCH", "book_sweeps", "add_results_parser"]

#: Exit status of ``deepgep results verify`` when a recomputed row differs from its table.
EXIT_MISMATCH = 1
#: Keys of ``deepgep results list``.
LIST_KEYS = ("chapter", "name", "key", "book", "rows", "tasks_stored", "tasks", "complete", "cpu_hours")


def book_sweeps(chapter: int | None = None) -> list[tuple[Any, str, Any]]:
    """``(experiment, name, sweep)`` of every sweep of the book's paper presets (of ``chapter``
    only, if given), in chapter order."""
    if chapter is not None and chapter not in CHAPTERS:
        raise ValueError(f"no chapter {chapter}; chapters: {', '.join(map(str, sorted(CHAPTERS)))}")
    out = []
    for number in sorted(CHAPTERS):
        if chapter is None or number == chapter:
            experiment = experiment_class(number).paper()
            out += [(experiment, name, sweep) for name, sweep in experiment.sweeps().items()]
    return out


def _folder(args: argparse.Namespace) -> Path:
    return Path(args.results_dir) if args.results_dir else book_results_dir()


def run_list(args: argparse.Namespace) -> int:
    book = {(s.chapter, s.name, s.key) for _, _, s in book_sweeps()}
    tables = [{**t, "book": (t["chapter"], t["name"], t["key"]) in book} for t in list_tables(_folder(args))
              if args.chapter is None or t["chapter"] == args.chapter]
    if args.chapter is not None and args.chapter not in CHAPTERS:
        raise ValueError(f"no chapter {args.chapter}; chapters: {', '.join(map(str, sorted(CHAPTERS)))}")
    if args.format == "json":
        emit([json.dumps(tables, indent=2)])
    else:
        emit(aligned(LIST_KEYS, [[str(t[k]) for k in LIST_KEYS] for t in tables]))
    return EXIT_OK


def _stray_tables(folder: Path, chapter: int | None) -> list[str]:
    """Tables in the book's folder that no chapter's paper preset reads."""
    book = {sweep.csv_path(folder) for _, _, sweep in book_sweeps()}
    return [str(p) for p in sorted(folder.glob("ch*/*.csv"))
            if p not in book and (chapter is None or p.parent.name == f"ch{chapter}")]


def run_verify(args: argparse.Namespace) -> int:
    folder = _folder(args)
    if not folder.is_dir():
        raise ValueError(f"no results folder {folder}")
    stray = _stray_tables(folder, args.chapter)
    if stray and not args.results_dir:
        raise TableDamagedError(f"{stray[0]}: a table that no chapter reads ({len(stray)} in all): delete it")
    status = EXIT_OK
    for experiment, _, sweep in book_sweeps(args.chapter):
        report = verify_table(sweep, sample=None if args.all else args.sample, seed=args.seed,
                              time_budget=args.time_budget, results_dir=folder, hint=run_hint(experiment))
        print(report, flush=True)
        if args.record:
            entry = record_verification(sweep, report, folder)
            print(f"  recorded: verified at commit {entry['commit'][:12]}", flush=True)
        status = status if report.ok else EXIT_MISMATCH
    return status


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chapter", type=int, default=None)
    parser.add_argument("--results-dir", default=None,
                        help="folder of the tables (default: $DEEPGEP_RESULTS, else results/ at the root of the book)")


def add_results_parser(sub: Any, formatter: type) -> None:
    """The ``results`` command and its ``list`` and ``verify`` subcommands."""
    results = sub.add_parser("results", formatter_class=formatter, help="the recorded tables: list, verify",
                             description="List or check the recorded tables under results/ch<N>/ (long format, "
                                         "one CSV per sweep and parameter set, with a .meta.json).")
    rsub = results.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = rsub.add_parser("list", help="each table: chapter, name, key, whether the book reads it, rows, "
                                       "tasks, CPU hours")
    lst.add_argument("--format", choices=("json", "table"), default="table")
    _common(lst)
    lst.set_defaults(run=run_list)
    ver = rsub.add_parser("verify", help="check every book table whole, recompute K random tasks of each "
                                         "(exit 1 on a mismatch, 5 on damage)")
    ver.add_argument("--sample", type=int, default=3, metavar="K", help="tasks recomputed per table (default 3)")
    ver.add_argument("--all", action="store_true", help="recompute every task")
    ver.add_argument("--seed", type=int, default=0, help="seed of the choice of tasks (default 0)")
    ver.add_argument("--record", action="store_true",
                     help="append the verification (commit, tasks recomputed, mismatches) to each table's metadata; "
                          "only from a clean checkout")
    ver.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                     help="stop recomputing a table's tasks after this long (at least one task)")
    _common(ver)
    ver.set_defaults(run=run_verify)

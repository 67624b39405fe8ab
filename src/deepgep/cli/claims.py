"""``deepgep claims``: every quantitative claim of the book, evaluated on the recorded tables,
with the wrong theories each must reject and its measured resolution
(:mod:`deepgep.support.claims`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from deepgep.chapters import CHAPTERS, chapter_module, experiment_class
from deepgep.cli.output import EXIT_OK, aligned, emit
from deepgep.support.claims import evaluate, report_rows
from deepgep.support.recorded import experiment_tables

__all__ = ["EXIT_CLAIM_FAILS", "chapter_claims", "all_verdicts", "add_claims_parser"]

#: Exit status when a claim does not hold or a wrong theory is not rejected.
EXIT_CLAIM_FAILS = 1


def chapter_claims(chapter: int) -> list:
    """The claims of ``chapter`` on the recorded tables of its paper preset."""
    experiment = experiment_class(chapter).paper()
    return chapter_module(chapter).claims(experiment, experiment_tables(experiment))


def all_verdicts(chapter: int | None = None) -> list[dict[str, Any]]:
    """The verdicts of every claim (of ``chapter`` only, if given), in chapter order."""
    if chapter is not None and chapter not in CHAPTERS:
        raise ValueError(f"no chapter {chapter}; chapters: {', '.join(map(str, sorted(CHAPTERS)))}")
    chapters = [c for c in sorted(CHAPTERS) if chapter is None or c == chapter]
    return [evaluate(claim) for c in chapters for claim in chapter_claims(c)]


def run_claims(args: argparse.Namespace) -> int:
    verdicts = all_verdicts(args.chapter)
    if args.format == "json":
        emit([json.dumps(verdicts, indent=2, allow_nan=False)])
    else:
        cols = report_rows(verdicts)
        emit(aligned(list(cols), [[str(v) for v in row] for row in zip(*cols.values())]))
    fine = all(v["holds"] and not any(p["holds"] for p in v["perturbations"]) for v in verdicts)
    return EXIT_OK if fine else EXIT_CLAIM_FAILS


def add_claims_parser(sub: Any, formatter: type) -> None:
    claims = sub.add_parser("claims", formatter_class=formatter,
                            help="every claim of the book on the recorded tables, what it rejects, what it resolves",
                            description="Evaluate each chapter's quantitative claims on the recorded paper-scale "
                                        "tables: the statistic, its threshold, whether it holds, the named wrong "
                                        "theories it must reject and its resolution (the smallest relative change "
                                        "of each parameter of its theory that it rejects; an absolute change, in "
                                        "the parameter's units, for one whose value is zero). Exit 1 if a claim fails "
                                        "or a wrong theory passes, 5 if a table is damaged.")
    claims.add_argument("--chapter", type=int, default=None)
    claims.add_argument("--format", choices=("json", "table"), default="table")
    claims.set_defaults(run=run_claims)

"""``deepgep claims``: every quantitative claim of the book, evaluated on the recorded tables,
with the wrong theories each must reject (:mod:`deepgep.support.claims`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from deepgep.cli.output import EXIT_OK, aligned, emit
from deepgep.cli.results import CHAPTER_MODULES, chapter_module, chapter_parameters, chapter_sweeps, has_sweeps
from deepgep.support.claims import evaluate, report_rows
from deepgep.support.recorded import recorded_rows

__all__ = ["EXIT_CLAIM_FAILS", "chapter_claims", "all_verdicts", "add_claims_parser"]

#: Exit status when a claim does not hold or a wrong theory is not rejected.
EXIT_CLAIM_FAILS = 1


def chapter_claims(chapter: int) -> list:
    """The claims of ``chapter``, built on its recorded tables (if it has sweeps) and its
    notebook's paper preset."""
    rows = ({name: recorded_rows(sweep) for name, sweep in chapter_sweeps(chapter, "paper").items()}
            if has_sweeps(chapter) else {})
    return chapter_module(chapter).claims(rows, chapter_parameters(chapter, "paper"))


def all_verdicts(chapter: int | None = None) -> list[dict[str, Any]]:
    """The verdicts of every claim (of ``chapter`` only, if given), in chapter order."""
    chapters = [c for c in sorted(CHAPTER_MODULES)
                if (chapter is None or c == chapter) and hasattr(chapter_module(c), "claims")]
    return [evaluate(claim) for c in chapters for claim in chapter_claims(c)]


def run_claims(args: argparse.Namespace) -> int:
    verdicts = all_verdicts(args.chapter)
    if args.format == "json":
        emit([json.dumps(verdicts, indent=2, allow_nan=False)])
    else:
        cols = report_rows(verdicts)
        rows = [[f"{v:.3g}" if isinstance(v, float) else str(v) for v in row] for row in zip(*cols.values())]
        emit(aligned(list(cols), rows))
    fine = all(v["holds"] and not any(p["holds"] for p in v["perturbations"]) for v in verdicts)
    return EXIT_OK if fine else EXIT_CLAIM_FAILS


def add_claims_parser(sub: Any, formatter: type) -> None:
    claims = sub.add_parser("claims", formatter_class=formatter,
                            help="every claim of the book on the recorded tables, and what it rejects",
                            description="Evaluate each chapter's quantitative claims on the recorded "
                                        "paper-scale tables: the statistic, its threshold, whether it "
                                        "holds, and the named wrong theories it must reject. Exit 1 "
                                        "if a claim fails or a wrong theory passes.")
    claims.add_argument("--chapter", type=int, default=None)
    claims.add_argument("--format", choices=("json", "table"), default="table")
    claims.set_defaults(run=run_claims)

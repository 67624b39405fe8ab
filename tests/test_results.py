"""The recorded tables re-derived from the code: every table the book reads (each chapter's paper
preset) is checked whole — its digest, every task exactly once, no error row, nothing the book
does not read under results/ — and a random sample of its tasks is recomputed and compared with
the stored values (bit for bit, or within the tolerance the code gives each field; timing
fields excepted), within a fixed time budget.

The choice of tasks is seeded and printed (``DEEPGEP_VERIFY_SEED`` fixes it; otherwise a fresh
seed per run, so that over many runs every part of the tables gets checked). The digest catches
any change of a table's bytes with certainty; the recomputation catches a table rewritten with
a consistent digest with the probability each report prints."""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from deepgep.cli.results import book_sweeps
from deepgep.support.recorded import book_results_dir, run_hint
from deepgep.support.sweeps import check_table, verify_table
from deepgep.support.sweeps.files import read_meta
from deepgep.support.sweeps.verify import clean_commits

#: Seconds of recomputation for all the tables together (at most three minutes), shared
#: equally between them; at least one task of every table is always checked, so a table whose
#: single task takes longer than its share (a NUTS run of Chapter 5) overruns it by that task.
TOTAL_BUDGET = 180.0
SEED = int(os.environ.get("DEEPGEP_VERIFY_SEED", secrets.randbelow(2**31)))
SWEEPS = book_sweeps()
BUDGET_PER_TABLE = TOTAL_BUDGET / max(len(SWEEPS), 1)
FOLDER = book_results_dir()


def _id(entry) -> str:
    return f"ch{entry[2].chapter}-{entry[1]}"


def test_every_table_under_results_is_read_by_the_book():
    read = {sweep.csv_path(FOLDER) for _, _, sweep in SWEEPS}
    stray = sorted(str(p) for p in FOLDER.glob("ch*/*.csv") if p not in read)
    assert not stray, f"tables no chapter reads: {stray}"
    assert not list(FOLDER.glob("ch*/*.tmp")) and not list(FOLDER.glob("ch*/*-paper.csv"))


@pytest.mark.parametrize("entry", SWEEPS, ids=[_id(e) for e in SWEEPS])
def test_every_book_table_is_complete_and_undamaged(entry):
    experiment, _, sweep = entry
    assert check_table(sweep, FOLDER, run_hint(experiment)).state == "complete"


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(FOLDER), *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("entry", SWEEPS, ids=[_id(e) for e in SWEEPS])
def test_every_book_table_is_pinned_by_a_clean_commit_of_this_history(entry):
    """A table recorded from uncommitted code pins nothing until a verification from a clean
    commit re-stamps it; and the commit that pins it must be one a reader can check out (a
    squashed or deleted branch's commit is not). The history part is skipped where git has no
    full history (not a checkout, or a shallow clone)."""
    _, _, sweep = entry
    commits = clean_commits(read_meta(sweep.meta_path(FOLDER)) or {})
    assert commits, f"{sweep.csv_path(FOLDER)} was recorded from a dirty tree and never verified from a clean commit"
    shallow = _git("rev-parse", "--is-shallow-repository")
    if shallow.returncode != 0 or shallow.stdout.strip() != "false":
        pytest.skip("no full git history here")
    reachable = [c for c in commits if _git("merge-base", "--is-ancestor", c, "HEAD").returncode == 0]
    assert reachable, f"{sweep.csv_path(FOLDER)}: none of its pinning commits {commits} is in this history"


@pytest.mark.parametrize("entry", SWEEPS, ids=[_id(e) for e in SWEEPS])
def test_sampled_tasks_are_reproduced_by_the_code(entry):
    experiment, _, sweep = entry
    print(f"seed of the sampled tasks: {SEED} (set DEEPGEP_VERIFY_SEED={SEED} to repeat)")
    report = verify_table(sweep, sample=3, seed=SEED, time_budget=BUDGET_PER_TABLE, results_dir=FOLDER,
                          hint=run_hint(experiment))
    print(report)
    assert report.checked and report.ok, str(report)

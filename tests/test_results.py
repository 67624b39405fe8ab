"""The recorded tables re-derived from the code: a random sample of rows of every table under
``results/`` is recomputed and compared with the stored values (bit for bit, or within the
sweep's stated tolerance; timing fields excepted), within a fixed time budget.

The choice of rows is seeded and printed (``DEEPGEP_VERIFY_SEED`` fixes it; otherwise a fresh
seed per run, so that over many runs every part of the tables gets checked)."""

from __future__ import annotations

import os
import secrets

import pytest

from deepgep.support.recorded import results_dir
from deepgep.support.sweeps import list_tables, verify_table

#: Seconds of recomputation for all the tables together (issue: at most three minutes), shared
#: equally between them; at least one row of every table is always checked, so a table whose
#: single row takes longer than its share (a NUTS run of Chapter 5) overruns it by that row.
TOTAL_BUDGET = 180.0
SEED = int(os.environ.get("DEEPGEP_VERIFY_SEED", secrets.randbelow(2**31)))
TABLES = list_tables(results_dir())
BUDGET_PER_TABLE = TOTAL_BUDGET / max(len(TABLES), 1)


def test_there_are_recorded_tables_and_they_are_complete():
    assert TABLES, "no recorded table under results/"
    incomplete = [f"ch{t['chapter']} {t['experiment']}" for t in TABLES if not t["complete"]]
    assert not incomplete, f"incomplete tables (resume them with `make paper`): {incomplete}"


@pytest.mark.parametrize("table", TABLES, ids=[f"ch{t['chapter']}-{t['experiment']}-{t['preset']}" for t in TABLES])
def test_sampled_rows_are_reproduced_by_the_code(table):
    print(f"seed of the sampled rows: {SEED} (set DEEPGEP_VERIFY_SEED={SEED} to repeat)")
    report = verify_table(table["path"], sample=3, seed=SEED, time_budget=BUDGET_PER_TABLE)
    print(report)
    assert report.checked and report.ok, str(report)

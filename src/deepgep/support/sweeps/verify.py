"""Re-checking a stored table: check it whole, recompute a seeded sample of tasks, compare.

Verification and tolerance
    :func:`verify_table` first checks the table whole (digest, structure, every task once:
    :mod:`.integrity`), then recomputes a seeded random sample of its tasks in this process,
    with the same wrapper, and compares every field of every row: the cells must be equal as
    text (which for floats means bit for bit), or, for numbers, agree within the relative
    tolerance the code's sweep gives the field (``Sweep.tolerance_of``; never a value read
    from the file it checks): ``|a - b| <= tolerance * max(|a|, |b|)``. Choose ``tolerance=0.0`` for a task
    that is deterministic given ``(params, seed)`` with one BLAS thread (the same library and
    machine give the same bits); choose a positive value, stated from the task's own numerics,
    where results legitimately depend on the machine (another CPU's BLAS kernels sum in another
    order): about ``1e-12`` for well-conditioned dense linear algebra, a few times the stopping
    tolerance of an iterative solver, the Monte Carlo error for anything that averages over
    threads. Strings and booleans must always be equal.

    Measurements of speed are not results: a record field whose name ends in one of
    :data:`TIMING_SUFFIXES` (e.g. ``gradient_evaluations_per_second``) is stored but not
    compared, like the reserved ``wall_time`` and ``cpu_time``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from datetime import datetime, timezone
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepgep.support.sweeps.files import read_meta, write_meta
from deepgep.support.sweeps.integrity import check_table
from deepgep.support.sweeps.spec import (ERROR, RESERVED, Sweep, SweepError, TableDamagedError, checked,
                                         resolve_task, task_key)
from deepgep.support.sweeps.table import is_number, outcome_rows, parse_cell, task_groups, task_index
from deepgep.support.sweeps.tasks import execute
from deepgep.support.validation import check_count
from deepgep.version import source_state

__all__ = ["TIMING_SUFFIXES", "Mismatch", "VerificationReport", "verify_table", "record_verification",
           "clean_commits"]


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One record field whose recomputed value differs from the stored one."""

    key: str
    field: str
    stored: Any
    recomputed: Any


@dataclasses.dataclass(frozen=True)
class VerificationReport:
    """What :func:`verify_table` checked: the seeded sample of tasks, the mismatches, the
    budget, and the probability that the check would have caught one altered task."""

    table: Path
    seed: int
    tolerance: float
    tasks: int
    keys: tuple[str, ...]
    checked: tuple[str, ...]
    mismatches: tuple[Mismatch, ...]
    stopped_early: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def catch_probability(self) -> float:
        """The probability that one altered task (its rows changed consistently with the
        digest) is among the recomputed ones: checked tasks / tasks. Any change of the bytes
        themselves is caught with probability 1 by the digest (:mod:`.integrity`)."""
        return len(self.checked) / self.tasks if self.tasks else 0.0

    def __str__(self) -> str:
        how = "bit for bit" if self.tolerance == 0 else f"within relative tolerance {self.tolerance:g}"
        lines = [f"{self.table}: digest and structure checked; recomputed {len(self.checked)} of {self.tasks} "
                 f"tasks (drawn with seed {self.seed}), compared {how}: {len(self.mismatches)} mismatches; "
                 f"P(one altered task is recomputed) = {self.catch_probability:.2f}"]
        if self.stopped_early:
            lines.append(f"  time budget used up after {self.seconds:.1f} s: "
                         f"{len(self.keys) - len(self.checked)} drawn tasks not checked")
        lines += [f"  MISMATCH {m.key} {m.field}: stored {m.stored!r}, recomputed {m.recomputed!r}"
                  for m in self.mismatches]
        return "\n".join(lines)


def _agree(stored: str, new: str, tolerance: float) -> bool:
    """Equal text (bit for bit for floats), or finite numbers within the relative tolerance."""
    if stored == new:
        return True
    a, b = parse_cell(stored), parse_cell(new)
    if tolerance == 0 or not (is_number(a) and is_number(b)):
        return False
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= tolerance * max(abs(a), abs(b))


#: Record fields with these name endings are timings, stored but not re-verified.
TIMING_SUFFIXES = ("_per_second", "_seconds", "_time")


def _compare(sweep: Sweep, key: str, stored: list[dict[str, str]], fields: Sequence[str], point: Mapping[str, Any],
             seed: int, outcome: Mapping[str, Any]) -> list[Mismatch]:
    """Every field of every row of one task, stored against recomputed (rows matched by index)."""
    new_rows = outcome_rows(sweep, point, seed, outcome)
    if new_rows[0][ERROR]:
        return [Mismatch(key, ERROR, "", new_rows[0][ERROR])]
    by_index = {tuple(r[c] for c in sweep.index): r for r in new_rows}
    if len(by_index) != len(stored) or any(tuple(r[c] for c in sweep.index) not in by_index for r in stored):
        return [Mismatch(key, "rows", len(stored), len(new_rows))]
    out = []
    for cells in stored:
        new = by_index[tuple(cells[c] for c in sweep.index)]
        where = key + "".join(f" {c}={cells[c]}" for c in sweep.index)
        for field in dict.fromkeys([*fields, *(c for c in new if c not in cells)]):
            if field.endswith(TIMING_SUFFIXES) or field in RESERVED:
                continue
            if not _agree(cells.get(field, ""), new.get(field, ""), sweep.tolerance_of(field)):
                out.append(Mismatch(where, field, parse_cell(cells.get(field, "")), parse_cell(new.get(field, ""))))
    return out


def verify_table(
    sweep: Sweep,
    *,
    sample: int | None = 5,
    seed: int = 0,
    time_budget: float | None = None,
    results_dir: str | os.PathLike = "results",
    hint: str = "",
) -> VerificationReport:
    """Check the table of ``sweep`` whole (:func:`~deepgep.support.sweeps.integrity.check_table`:
    it must be complete and undamaged, else :class:`TableDamagedError`), then recompute
    ``sample`` of its tasks (drawn with ``numpy.random.default_rng(seed)``; ``None``: all, in
    table order) in this process and compare every field of every row with the stored value,
    bit for bit or within the relative tolerance that the CODE's sweep gives that field (never
    the file's). Draws are checked in order until ``time_budget`` seconds are used up (at least
    one task is checked); the report says so, and the probability of catching an altered task.
    """
    if not isinstance(sweep, Sweep):
        raise SweepError(f"verify_table takes the Sweep of the code, got {type(sweep).__name__}")
    status = check_table(sweep, results_dir, hint)
    if status.state != "complete":
        raise TableDamagedError(f"{status.path}: {status.state} ({status.stored} of {status.tasks} tasks stored); "
                                f"{hint or 'run the sweep to complete it'}")
    groups = task_groups(status.table, sweep)
    index = task_index(sweep)
    ids = list(groups)
    if sample is not None:
        sample = checked(check_count, "sample", sample)
        picks = np.random.default_rng(seed).choice(len(ids), size=min(sample, len(ids)), replace=False)
        ids = [ids[i] for i in picks]
    func, fields = resolve_task(sweep.task), status.table.record_fields(sweep)
    forbidden = (*sweep.param_names, *RESERVED)
    keys = tuple(task_key(*index[tid]) for tid in ids)
    started, checked_keys, mismatches, stopped = time.perf_counter(), [], [], False
    for key, tid in zip(keys, ids):
        if checked_keys and time_budget is not None and time.perf_counter() - started >= time_budget:
            stopped = True
            break
        point, task_seed = index[tid]
        outcome = execute(func, {**sweep.constants, **point}, task_seed, forbidden)
        mismatches += _compare(sweep, key, groups[tid], fields, point, task_seed, outcome)
        checked_keys.append(key)
    return VerificationReport(status.path, seed, sweep.tolerance, sweep.n_tasks, keys, tuple(checked_keys),
                              tuple(mismatches), stopped, time.perf_counter() - started)


def record_verification(sweep: Sweep, report: VerificationReport, results_dir: str | os.PathLike = "results") -> dict:
    """Append ``report`` to the ``verifications`` of the table's metadata: the commit of the
    code that recomputed it (which must be clean: a verification by uncommitted code pins
    nothing), the date, the tasks recomputed of all and the mismatches. Returns the entry.

    A table recorded from a dirty tree is re-stamped by a verification without mismatch: its
    ``git`` becomes the verifying clean commit (with ``"pinned_by": "verification"``) and the
    recording's own state is kept as ``recorded_from`` (``{"commit", "uncommitted_changes"}``),
    so the metadata pins code that reproduces the table while still saying how it was recorded."""
    commit, dirty = source_state()
    if commit is None or dirty:
        raise SweepError("a verification is recorded only from a clean git checkout (commit the code first): "
                         f"{'no checkout' if commit is None else 'tracked files differ from ' + commit[:12]}")
    meta_path = sweep.meta_path(results_dir)
    meta = read_meta(meta_path) or {}
    entry = {"commit": commit, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "tasks_checked": len(report.checked), "tasks": report.tasks, "mismatches": len(report.mismatches),
             "catch_probability": round(report.catch_probability, 6)}
    stamp = {}
    if not report.mismatches and (meta.get("git") or {}).get("dirty"):
        recorded = {"commit": meta["git"].get("commit"), "uncommitted_changes": True}
        stamp = {"recorded_from": recorded, "git": {"commit": commit, "dirty": False, "pinned_by": "verification"}}
    write_meta(meta_path, {**meta, **stamp, "verifications": [*meta.get("verifications", []), entry]})
    return entry


def clean_commits(meta: Mapping[str, Any]) -> list[str]:
    """The clean commits that pin a table: those of its sessions recorded from a clean tree and
    of its recorded verifications without mismatch."""
    out = []
    git = meta.get("git") or {}
    if git.get("commit") and not git.get("dirty"):
        out.append(git["commit"])
    out += [v["commit"] for v in meta.get("verifications", []) if not v.get("mismatches")]
    return out

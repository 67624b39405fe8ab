"""Re-checking a stored table: recompute a seeded sample of rows and compare every field.

Verification and tolerance
    :func:`verify_table` recomputes a seeded random sample of stored rows in this process, with
    the same wrapper, and compares every record field: the cells must be equal as text (which
    for floats means bit for bit), or, for numbers, agree within the sweep's relative
    ``tolerance``: ``|a - b| <= tolerance * max(|a|, |b|)``. Choose ``tolerance=0.0`` for a task
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepgep.support.sweeps.files import locate, read_meta
from deepgep.support.sweeps.spec import ERROR, RESERVED, Sweep, SweepError, SweepMismatchError, checked, resolve_task, task_key
from deepgep.support.sweeps.table import cell, is_number, parse_cell, read_table, row_id, task_index
from deepgep.support.sweeps.tasks import execute
from deepgep.support.validation import check_count, check_real

__all__ = ["TIMING_SUFFIXES", "Mismatch", "VerificationReport", "verify_table"]


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One record field whose recomputed value differs from the stored one."""

    key: str
    field: str
    stored: Any
    recomputed: Any


@dataclasses.dataclass(frozen=True)
class VerificationReport:
    """What :func:`verify_table` checked: the seeded sample, the mismatches, the budget."""

    table: Path
    seed: int
    tolerance: float
    sample: int
    keys: tuple[str, ...]
    checked: tuple[str, ...]
    mismatches: tuple[Mismatch, ...]
    stopped_early: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        how = "bit for bit" if self.tolerance == 0 else f"within relative tolerance {self.tolerance:g}"
        lines = [f"{self.table}: recomputed {len(self.checked)} of {len(self.keys)} rows drawn with "
                 f"seed {self.seed}, compared {how}: {len(self.mismatches)} mismatches"]
        if self.stopped_early:
            lines.append(f"  time budget used up after {self.seconds:.1f} s: "
                         f"{len(self.keys) - len(self.checked)} drawn rows not checked")
        lines += [f"  checked {key}" for key in self.checked]
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


def _compare(key: str, cells: Mapping[str, str], fields: Sequence[str], outcome: Mapping[str, Any],
             tolerance: float) -> list[Mismatch]:
    if outcome["error"]:
        return [Mismatch(key, ERROR, cells[ERROR], outcome["error"])]
    new = {name: cell(value) for name, value in outcome["record"].items()}
    out = []
    for field in dict.fromkeys([*fields, *new]):
        if field.endswith(TIMING_SUFFIXES):
            continue
        stored, now = cells.get(field, ""), new.get(field, "")
        if not _agree(stored, now, tolerance):
            out.append(Mismatch(key, field, parse_cell(stored), parse_cell(now)))
    return out


def _draw(good: list[dict[str, str]], sample: int | None, seed: int) -> list[dict[str, str]]:
    """``sample`` rows drawn with ``default_rng(seed)`` (``None``: all of them, in order)."""
    if sample is None:
        return good
    sample = checked(check_count, "sample", sample)
    picks = np.random.default_rng(seed).choice(len(good), size=min(sample, len(good)), replace=False)
    return [good[i] for i in picks]


def _tasks_of(rows: list[dict[str, str]], sweep: Sweep, csv_path: Path) -> list[tuple[dict[str, Any], int]]:
    """The ``(point, seed)`` of each row (a row outside the grid is refused)."""
    index, tasks = task_index(sweep), []
    for row in rows:
        if (task := index.get(row_id(row, sweep.param_names))) is None:
            raise SweepMismatchError(f"{csv_path} has a row outside the grid: {row_id(row, sweep.param_names)}")
        tasks.append(task)
    return tasks


def verify_table(
    target: Sweep | str | os.PathLike,
    *,
    sample: int | None = 5,
    seed: int = 0,
    time_budget: float | None = None,
    results_dir: str | os.PathLike = "results",
    tolerance: float | None = None,
) -> VerificationReport:
    """Recompute ``sample`` stored rows (drawn with ``numpy.random.default_rng(seed)`` among the
    rows without error; ``None``: all of them, in table order) in this process and compare
    every record field with the stored value, bit for bit or within the sweep's relative
    ``tolerance`` (``tolerance`` overrides it). Draws are checked in order until
    ``time_budget`` seconds are used up (at least one row is checked); the report says so.
    """
    csv_path, meta_path = locate(target, results_dir)
    meta = read_meta(meta_path)
    if meta is None:
        raise SweepError(f"no metadata at {meta_path}: cannot tell which task made the table")
    sweep = Sweep.from_metadata(meta)
    tol = sweep.tolerance if tolerance is None else checked(check_real, "tolerance", tolerance)
    table = read_table(csv_path)
    chosen = _draw([row for row in table.rows if not row[ERROR]], sample, seed)
    func, tasks = resolve_task(sweep.task), _tasks_of(chosen, sweep, csv_path)
    forbidden, fields = (*sweep.param_names, *RESERVED), table.record_fields()
    keys = tuple(task_key(point, task_seed) for point, task_seed in tasks)
    started, checked_keys, mismatches, stopped = time.perf_counter(), [], [], False
    for key, cells, (point, task_seed) in zip(keys, chosen, tasks):
        if checked_keys and time_budget is not None and time.perf_counter() - started >= time_budget:
            stopped = True
            break
        outcome = execute(func, {**sweep.constants, **point}, task_seed, forbidden)
        mismatches += _compare(key, cells, fields, outcome, tol)
        checked_keys.append(key)
    return VerificationReport(csv_path, seed, tol, len(keys), keys, tuple(checked_keys), tuple(mismatches),
                              stopped, time.perf_counter() - started)

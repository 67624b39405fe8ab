"""A recorded table read as evidence: checked whole, every time, or refused in one line.

:func:`check_table` reads a sweep's table and metadata and says whether the table is
``"missing"`` (no files yet), ``"incomplete"`` (a run to resume: tasks not yet stored, error
rows to retry, or rows — perhaps a line cut short by a kill — appended after the last metadata
write) or ``"complete"``; anything else
is damage, raised as :class:`TableDamagedError` with one line naming the table, what is wrong
and what to run. The checks:

* the metadata exists, parses, and describes this very sweep (key, grid, seeds, constants,
  index: the code's sweep, never the file's own description);
* the first ``bytes`` bytes of the CSV hash to the metadata's ``sha256``: the table holds what
  the runs wrote, and at most rows appended since (a run killed between two metadata writes);
  an edited, truncated or reordered table fails here;
* the CSV parses strictly: no byte order mark, no line cut off, every line with the header's
  cells, every task's rows all present (``task_rows``) with distinct index values, every task
  of the grid at most once, none outside it.

:func:`load_frame` returns a complete table as a :class:`pandas.DataFrame`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from deepgep.support.sweeps.files import read_meta
from deepgep.support.sweeps.metadata import differences
from deepgep.support.sweeps.spec import ERROR, Sweep, SweepError, TableDamagedError
from deepgep.support.sweeps.table import Table, read_table, task_groups, task_index, typed_rows

__all__ = ["TableStatus", "check_table", "load_frame", "prefix_digest"]


@dataclasses.dataclass(frozen=True)
class TableStatus:
    """What :func:`check_table` found: ``state`` (``"missing"``, ``"incomplete"``,
    ``"complete"``), the tasks stored without error, the sweep's tasks, and the table."""

    state: str
    stored: int
    tasks: int
    path: Path
    table: Table | None = None
    meta: dict[str, Any] | None = None


def prefix_digest(path: Path, size: int) -> str:
    """The SHA-256 of the first ``size`` bytes of ``path``."""
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(size)).hexdigest()


def _damaged(path: Path, what: str, hint: str) -> TableDamagedError:
    return TableDamagedError(f"{path}: {what}; {hint}")


def _strict_table(csv_path: Path, hint: str) -> Table:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = read_table(csv_path)
    if table.dropped:
        first = str(caught[0].message).split(": ", 1)[-1] if caught else "lines dropped"
        raise _damaged(csv_path, f"{table.dropped} broken line(s) ({first})", hint)
    return table


def _check_meta(sweep: Sweep, csv_path: Path, meta_path: Path, hint: str) -> dict[str, Any]:
    try:
        meta = read_meta(meta_path)
    except SweepError as exc:
        raise _damaged(meta_path, f"unreadable metadata ({exc})", hint) from None
    if meta is None:
        raise _damaged(csv_path, f"no metadata file {meta_path.name}", hint)
    if not isinstance(meta, dict):
        raise _damaged(meta_path, "the metadata is not a JSON object", hint)
    if diff := differences(sweep, meta):
        raise _damaged(meta_path, f"describes another sweep ({'; '.join(diff)})", hint)
    size, digest = meta.get("bytes"), meta.get("sha256")
    if not isinstance(size, int) or not isinstance(digest, str):
        raise _damaged(meta_path, "the metadata has no digest of the table (bytes, sha256)", hint)
    if csv_path.stat().st_size < size or prefix_digest(csv_path, size) != digest:
        raise _damaged(csv_path, "its content differs from what its runs wrote (SHA-256 of the table "
                                 "does not match the metadata)", hint)
    return meta


def check_table(sweep: Sweep, results_dir: str | os.PathLike, hint: str = "") -> TableStatus:
    """Check the stored table of ``sweep`` whole (see the module docstring); ``hint`` (what to
    run) ends the message of a :class:`TableDamagedError`."""
    hint = hint or "delete the table and its .meta.json to compute it again"
    csv_path, meta_path = sweep.csv_path(results_dir), sweep.meta_path(results_dir)
    if not csv_path.exists() and not meta_path.exists():
        return TableStatus("missing", 0, sweep.n_tasks, csv_path)
    if not csv_path.exists():
        raise _damaged(csv_path, f"the table is missing (its metadata {meta_path.name} exists)", hint)
    meta = _check_meta(sweep, csv_path, meta_path, hint)
    if csv_path.stat().st_size > meta["bytes"]:  # rows (or a cut line) written after the last metadata write
        return TableStatus("incomplete", 0, sweep.n_tasks, csv_path, None, meta)
    table = _strict_table(csv_path, hint)
    index, stored, errors = task_index(sweep), 0, 0
    for tid, rows in task_groups(table, sweep).items():
        if tid not in index:
            raise _damaged(csv_path, f"a task outside the sweep's grid: {tid}", hint)
        if len({tuple(r[c] for c in sweep.index) for r in rows}) != len(rows):
            raise _damaged(csv_path, f"task {tid} has duplicate rows", hint)
        if rows[0][ERROR]:
            errors += 1
        else:
            stored += 1
    state = "complete" if stored == sweep.n_tasks else "incomplete"
    return TableStatus(state, stored, sweep.n_tasks, csv_path, table, meta)


def load_frame(sweep: Sweep, results_dir: str | os.PathLike, hint: str = "") -> pd.DataFrame:
    """The complete table of ``sweep`` as a DataFrame: one row per stored row, the parameters
    (the grid's own values), ``seed``, the index and the measured fields as columns (the
    reserved ``task_rows``, ``wall_time``, ``cpu_time`` and ``error`` too). Raises
    :class:`TableDamagedError` unless :func:`check_table` finds it complete."""
    status = check_table(sweep, results_dir, hint)
    if status.state != "complete":
        raise TableDamagedError(f"{status.path}: {status.state} ({status.stored} of {status.tasks} tasks "
                                f"stored); {hint or 'run the sweep to complete it'}")
    rows = typed_rows(status.table, sweep)
    columns = status.table.header
    return pd.DataFrame.from_records(rows, columns=columns)

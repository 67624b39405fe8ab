"""Running a sweep: resume the stored table, run the pending tasks, append each row as it arrives.

Resume
    A run first reads the table. If the metadata describes another task, grid, seeds or
    constants it refuses (:class:`SweepMismatchError`); ``restart=True`` deletes both files and
    starts over. A line cut short by a kill in mid-write (no final newline) or with the wrong
    number of cells is dropped with a warning. Rows recorded with an error are retried: the
    run removes them from the table before it starts (the table is rewritten atomically), so a
    table never holds two rows of one task and an error row always belongs to the latest
    attempt. Every other stored task is skipped. Each new row is written with one ``write``,
    flushed and fsync-ed, so a killed sweep loses at most the tasks in flight. The metadata is
    rewritten at the start and end of a session and at most every ``META_FLUSH_SECONDS`` in
    between; a lock file keeps two runs of one sweep apart.

Results stream back under a tqdm bar. A task that raises (or whose worker dies) becomes an
error row and is listed in the returned :class:`SweepSummary`; the sweep goes on.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from deepgep.support.sweeps.files import locked, read_meta, write_atomic
from deepgep.support.sweeps.metadata import Session, differences, new_meta, refresh_counts
from deepgep.support.sweeps.schedulers import Backend, check_workers, open_backend
from deepgep.support.sweeps.spec import ERROR, RESERVED, Sweep, SweepError, SweepMismatchError, resolve_task, task_key
from deepgep.support.sweeps.table import Table, TableWriter, param_columns, read_table, row_id, table_text, task_index
from deepgep.support.sweeps.tasks import task_row

__all__ = ["TaskError", "SweepSummary", "run_sweep"]


@dataclasses.dataclass(frozen=True)
class TaskError:
    """A task that raised: its key and ``Type: message``."""

    key: str
    message: str


@dataclasses.dataclass(frozen=True)
class SweepSummary:
    """What :func:`run_sweep` did. ``errors`` lists the tasks that raised in this run;
    ``scheduler`` is ``"none"`` (and ``workers`` 0) when no task was pending."""

    table: Path
    tasks: int
    skipped: int
    added: int
    errors: tuple[TaskError, ...]
    wall_seconds: float
    cpu_seconds: float
    scheduler: str
    workers: int
    complete: bool

    def __str__(self) -> str:
        lines = [
            f"{self.table}: {self.added} rows added, {self.skipped} skipped, {len(self.errors)} errors "
            f"of {self.tasks} tasks ({self.scheduler}, {self.workers} workers, "
            f"{self.wall_seconds:.1f} s wall, {self.cpu_seconds:.1f} s CPU)"
            + ("" if self.complete else "; incomplete")
        ]
        lines += [f"  error {e.key}: {e.message}" for e in self.errors]
        return "\n".join(lines)


def _stored(sweep: Sweep, csv_path: Path, meta_path: Path) -> tuple[Table, dict | None]:
    """The stored table and metadata, refused if they belong to another sweep."""
    meta = read_meta(meta_path)
    if meta is None and csv_path.exists():
        raise SweepMismatchError(f"{csv_path} has no metadata file: pass restart=True to start over")
    if meta is not None and (diff := differences(sweep, meta)):
        raise SweepMismatchError(f"{meta_path} describes another sweep: {'; '.join(diff)}. "
                                 "Pass restart=True to delete the stored table and start over.")
    table = read_table(csv_path)
    if table.header and param_columns(table.header) != list(sweep.param_names):
        raise SweepMismatchError(f"{csv_path} has parameter columns {param_columns(table.header)}, "
                                 f"the sweep {list(sweep.param_names)}: pass restart=True to start over")
    return table, meta


def _prepare(sweep: Sweep, results_dir: str | os.PathLike, restart: bool) -> tuple[Table, dict | None]:
    """Check the stored sweep, drop error and broken rows; the table to resume and its meta."""
    csv_path, meta_path = sweep.csv_path(results_dir), sweep.meta_path(results_dir)
    if restart:
        csv_path.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
    table, meta = _stored(sweep, csv_path, meta_path)
    index, seen, kept = task_index(sweep), set(), []
    for row in table.rows:
        rid = row_id(row, sweep.param_names)
        if rid not in index:
            raise SweepMismatchError(f"{csv_path} has a row outside the grid: {rid}")
        if not row[ERROR] and rid not in seen:
            seen.add(rid)
            kept.append(row)
    if table.dropped or len(kept) != len(table.rows):
        table = Table(table.header, kept)
        write_atomic(csv_path, table_text(table.header, kept))
    return table, meta


def _run_pending(sweep: Sweep, func: Callable, pending: list[tuple[int, dict, int]], backend: Backend,
                 table: Table, session: Session, csv_path: Path, progress: bool) -> list[TaskError]:
    """Run the pending tasks on ``backend``; store each row and count it in the session."""
    points = {number: (point, seed) for number, point, seed in pending}
    jobs = [(number, {**sweep.constants, **point}, seed) for number, point, seed in pending]
    forbidden, errors = (*sweep.param_names, *RESERVED), []
    bar = tqdm(total=len(jobs), desc=f"ch{sweep.chapter} {sweep.experiment}-{sweep.preset}",
               disable=not progress, unit="task", file=sys.stderr)
    session.write(table)  # the metadata exists before the table does
    try:
        with TableWriter(csv_path, table, sweep.param_names) as writer:
            for number, outcome in backend.run(func, jobs, forbidden):
                point, seed = points[number]
                writer.append(task_row(point, seed, outcome))
                table.header, table.rows = writer.header, writer.rows
                session.add(outcome)
                if outcome["error"]:
                    errors.append(TaskError(task_key(point, seed), outcome["error"]))
                bar.update()
                session.write(table)
    finally:
        bar.close()
        session.write(table, final=True)
    return errors


def _check_arguments(sweep: Sweep, scheduler: str | None, n_workers: int | None) -> int | None:
    """Refuse what :func:`run_sweep` cannot use; ``n_workers`` checked."""
    if not isinstance(sweep, Sweep):
        raise SweepError(f"run_sweep takes a Sweep, got {type(sweep).__name__}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise SweepError(f"scheduler must be 'local', 'serial' or a scheduler address, got {scheduler!r}")
    return check_workers(n_workers)


def _pending(sweep: Sweep, done: set[tuple[str, ...]]) -> list[tuple[int, dict, int]]:
    """The tasks whose row identity is not in ``done``: ``(number, point, seed)`` in task order."""
    return [(number, point, seed) for number, (rid, (point, seed)) in enumerate(task_index(sweep).items())
            if rid not in done]


def run_sweep(
    sweep: Sweep,
    *,
    results_dir: str | os.PathLike = "results",
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: bool = True,
    restart: bool = False,
) -> SweepSummary:
    """Run the tasks of ``sweep`` not stored yet; append each row as it finishes.

    ``scheduler``: ``None`` (``$DEEPGEP_SCHEDULER``, else ``"local"``), ``"local"`` (a
    LocalCluster of ``n_workers`` processes, default one per core), ``"serial"`` (this process,
    no Dask) or the address of a running Dask scheduler. ``restart=True`` deletes the stored
    table and metadata first. Raises :class:`SweepMismatchError` if the stored metadata
    describes another sweep, :class:`SweepError` for an unknown task path or bad arguments.
    No cluster is started when every task is stored already.
    """
    n_workers = _check_arguments(sweep, scheduler, n_workers)
    func = resolve_task(sweep.task)
    started = time.perf_counter()
    csv_path, meta_path = sweep.csv_path(results_dir), sweep.meta_path(results_dir)
    with locked(sweep.stem(results_dir)):
        table, meta = _prepare(sweep, results_dir, restart)
        done = {row_id(row, sweep.param_names) for row in table.rows}
        pending = _pending(sweep, done)
        if not pending:
            refresh_counts(sweep, meta, table, meta_path)
            return SweepSummary(csv_path, sweep.n_tasks, len(done), 0, (), time.perf_counter() - started,
                                0.0, "none", 0, True)
        with open_backend(scheduler, n_workers) as backend:
            session = Session(sweep, meta_path, new_meta(sweep, meta, backend))
            errors = _run_pending(sweep, func, pending, backend, table, session, csv_path, progress)
    return SweepSummary(
        table=csv_path,
        tasks=sweep.n_tasks,
        skipped=len(done),
        added=session.entry["rows_added"],
        errors=tuple(errors),
        wall_seconds=time.perf_counter() - started,
        cpu_seconds=session.entry["cpu_seconds"],
        scheduler=backend.label,
        workers=backend.workers,
        complete=session.meta["complete"],
    )

"""Running a sweep: resume the stored table, run the pending tasks, append each row as it arrives.

Resume
    A run first reads the table of its key (the file name): a table of other parameters is
    another file, never refused nor mixed. Metadata that does not match the sweep its name
    says is damage (:class:`TableDamagedError`); ``restart=True`` deletes both files and starts
    over. A line cut short by a kill in mid-write (no final newline), a line with the wrong
    number of cells and the rows of a task cut short are dropped with a warning. Tasks recorded
    with an error are retried: the run removes their rows from the table before it starts (the
    table is rewritten atomically), so a table never holds a task twice and an error row always
    belongs to the latest attempt. Every other stored task is skipped. The rows of each new task
    are written with one ``write``, flushed and fsync-ed, so a killed sweep loses at most the
    tasks in flight. The metadata is
    rewritten at the start and end of a session and at most every ``META_FLUSH_SECONDS`` in
    between; a lock file keeps two runs of one sweep apart.

Results stream back under a tqdm bar. A task that raises (or whose worker dies) becomes an
error row and is listed in the returned :class:`SweepSummary`; the sweep goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from deepgep.support.sweeps.files import locked, read_meta, write_atomic
from deepgep.support.sweeps.integrity import prefix_digest
from deepgep.support.sweeps.metadata import Session, differences, new_meta, refresh_counts
from deepgep.support.sweeps.schedulers import SCHEDULERS, WORKER_WAIT_SECONDS, Backend, check_workers, open_backend
from deepgep.support.sweeps.spec import CPU, ERROR, RESERVED, Sweep, SweepError, TableDamagedError, resolve_task, task_key
from deepgep.support.sweeps.table import (Table, TableWriter, outcome_rows, param_columns, read_table, table_text,
                                          task_groups, task_index)

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
            f"{self.table}: {self.added} tasks added, {self.skipped} skipped, {len(self.errors)} errors "
            f"of {self.tasks} tasks ({self.scheduler}, {self.workers} workers, "
            f"{self.wall_seconds:.1f} s wall, {self.cpu_seconds:.1f} s CPU)"
            + ("" if self.complete else "; incomplete")
        ]
        lines += [f"  error {e.key}: {e.message}" for e in self.errors]
        return "\n".join(lines)


def _stored(sweep: Sweep, csv_path: Path, meta_path: Path) -> tuple[Table, dict | None]:
    """The stored table and metadata; refused (:class:`TableDamagedError`) if they do not belong
    to this sweep (the file name holds the sweep's key, so only damage makes them differ)."""
    meta = read_meta(meta_path)
    if meta is None and csv_path.exists():
        raise TableDamagedError(f"{csv_path} has no metadata file {meta_path.name}: pass restart=True "
                                "(deepgep run --restart) to compute it again")
    if meta is not None and (diff := differences(sweep, meta)):
        raise TableDamagedError(f"{meta_path} describes another sweep than its name says: {'; '.join(diff)}")
    table = read_table(csv_path)
    if table.header and param_columns(table.header) != list(sweep.param_names):
        raise TableDamagedError(f"{csv_path} has parameter columns {param_columns(table.header)}, "
                                f"the sweep {list(sweep.param_names)}")
    return table, meta


def _check_prefix(csv_path: Path, meta: Mapping[str, Any]) -> None:
    """A run resumes only a table whose first ``bytes`` bytes are what the runs wrote (rows
    appended after the last metadata write are fine: a run killed between two writes)."""
    size, digest = meta.get("bytes"), meta.get("sha256")
    if isinstance(size, int) and isinstance(digest, str) and (
            csv_path.stat().st_size < size or prefix_digest(csv_path, size) != digest):
        raise TableDamagedError(f"{csv_path}: its content differs from what its runs wrote (SHA-256 does not "
                                "match the metadata); delete it and its .meta.json, or pass restart=True")


def _prepare(sweep: Sweep, results_dir: str | os.PathLike, restart: bool) -> tuple[Table, dict | None]:
    """Check the stored sweep, drop error and broken rows; the table to resume and its meta
    (the CPU time of dropped error rows is added to ``retried_cpu_seconds``)."""
    csv_path, meta_path = sweep.csv_path(results_dir), sweep.meta_path(results_dir)
    if restart:
        csv_path.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
    table, meta = _stored(sweep, csv_path, meta_path)
    if meta is not None and table.header:
        _check_prefix(csv_path, meta)
    index, kept, retried = task_index(sweep), [], 0.0
    for tid, rows in task_groups(table, sweep).items():
        if tid not in index:
            raise TableDamagedError(f"{csv_path} has a task outside the grid: {tid}")
        if rows[0][ERROR]:
            retried += float(rows[0][CPU] or 0.0)
        else:
            kept.extend(rows)
    if table.dropped or len(kept) != len(table.rows):
        table = Table(table.header, kept)
        write_atomic(csv_path, table_text(table.header, kept))
    if meta is not None and retried:
        meta["retried_cpu_seconds"] = round(float(meta.get("retried_cpu_seconds", 0.0)) + retried, 6)
    return table, meta


def _run_pending(sweep: Sweep, func: Callable, pending: list[tuple[int, dict, int]], backend: Backend,
                 table: Table, session: Session, csv_path: Path, progress: bool) -> list[TaskError]:
    """Run the pending tasks on ``backend``; store each row and count it in the session."""
    points = {number: (point, seed) for number, point, seed in pending}
    jobs = [(number, {**sweep.constants, **point}, seed) for number, point, seed in pending]
    forbidden, errors = (*sweep.param_names, *RESERVED), []
    bar = tqdm(total=len(jobs), desc=f"ch{sweep.chapter} {sweep.name}", disable=not progress, unit="task",
               file=sys.stderr)
    session.write(table)  # the metadata exists before the table does
    try:
        with TableWriter(csv_path, table, sweep) as writer, _Termination().active() as termination:
            for number, outcome in backend.run(func, jobs, forbidden):
                point, seed = points[number]
                rows = outcome_rows(sweep, point, seed, outcome)
                with termination.storing():
                    rewritten = writer.append(rows)
                    table.header, table.rows = writer.header, writer.rows
                    session.add(outcome)
                if rows[0][ERROR]:
                    errors.append(TaskError(task_key(point, seed), rows[0][ERROR]))
                bar.update()
                session.write(table, force=rewritten)
    finally:
        bar.close()
        session.write(table, final=True)
    return errors


def _check_arguments(sweep: Sweep, scheduler: str | None, n_workers: int | None) -> int | None:
    """Refuse what :func:`run_sweep` cannot use; ``n_workers`` checked."""
    if not isinstance(sweep, Sweep):
        raise SweepError(f"run_sweep takes a Sweep, got {type(sweep).__name__}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise SweepError(f"scheduler must be one of {', '.join(SCHEDULERS)} or a scheduler address, got {scheduler!r}")
    return check_workers(n_workers)


#: The signals that stop a sweep (its session's end written, its stored rows kept).
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Termination:
    """In the main thread, SIGTERM and SIGINT (Ctrl-C) raise KeyboardInterrupt while the sweep
    runs, so that a terminated sweep writes the end of its session like an interrupted one;
    inside :meth:`storing` (a task's rows being written and counted) they wait until they are.
    SIGINT is taken over too because a library may have replaced Python's handler (dask-jobqueue
    installs ``sys.exit`` at import; a kernel may ignore Ctrl-C); both are put back after."""

    def __init__(self) -> None:
        self.storing_now, self.pending = False, None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.storing_now:
            self.pending = signum
            return
        raise KeyboardInterrupt(f"signal {signum}")

    @contextlib.contextmanager
    def active(self) -> Iterator[_Termination]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.signal(signum, self._handler) for signum in _STOP_SIGNALS}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    @contextlib.contextmanager
    def storing(self) -> Iterator[None]:
        self.storing_now = True
        try:
            yield
        finally:
            self.storing_now = False
        if self.pending is not None:
            raise KeyboardInterrupt(f"signal {self.pending}")


def _pending(sweep: Sweep, done: set[tuple[str, ...]]) -> list[tuple[int, dict, int]]:
    """The tasks whose identity is not in ``done``: ``(number, point, seed)`` in task order."""
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
    about: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    worker_wait: float = WORKER_WAIT_SECONDS,
    backend: Backend | None = None,
) -> SweepSummary:
    """Run the tasks of ``sweep`` not stored yet; append each row as it finishes.

    ``scheduler``: ``None`` (``$DEEPGEP_SCHEDULER``, else ``"local"``), ``"local"`` (a
    LocalCluster of ``n_workers`` processes, default one per core), ``"isolated"`` (one child
    process of this one, no Dask), ``"serial"`` (this process, no Dask) or the address of a
    running Dask scheduler (see :mod:`.schedulers` for what each survives). ``timeout``: every
    task's time limit in seconds (an error row past it); ``worker_wait``: how long a Dask sweep
    waits with no worker before it stops; ``backend``: an open back end to use (and leave open)
    instead of opening one (:func:`.schedulers.open_backend`), so that several sweeps share one
    cluster. ``restart=True`` deletes the stored
    table and metadata first; ``about`` (JSON values: the experiment that defines the sweep) is
    stored in the metadata. Raises :class:`TableDamagedError` if the stored files do not belong
    to this sweep, :class:`SweepError` for an unknown task path or bad arguments. No cluster is
    started when every task is stored already.
    """
    n_workers = _check_arguments(sweep, scheduler, n_workers)
    func = resolve_task(sweep.task)
    started = time.perf_counter()
    csv_path, meta_path = sweep.csv_path(results_dir), sweep.meta_path(results_dir)
    with locked(sweep.stem(results_dir)):
        table, meta = _prepare(sweep, results_dir, restart)
        done = set(task_groups(table, sweep))
        pending = _pending(sweep, done)
        if not pending:
            refresh_counts(sweep, meta, table, csv_path, meta_path)
            return SweepSummary(csv_path, sweep.n_tasks, len(done), 0, (), time.perf_counter() - started,
                                0.0, "none", 0, True)
        with contextlib.ExitStack() as stack:
            if backend is None:
                backend = stack.enter_context(open_backend(scheduler, n_workers, timeout, worker_wait))
            session = Session(sweep, meta_path, new_meta(sweep, meta, backend, about), csv_path)
            errors = _run_pending(sweep, func, pending, backend, table, session, csv_path, progress)
    return SweepSummary(
        table=csv_path,
        tasks=sweep.n_tasks,
        skipped=len(done),
        added=session.entry["tasks_added"],
        errors=tuple(errors),
        wall_seconds=time.perf_counter() - started,
        cpu_seconds=session.entry["cpu_seconds"],
        scheduler=backend.label,
        workers=backend.workers,
        complete=session.meta["complete"],
    )

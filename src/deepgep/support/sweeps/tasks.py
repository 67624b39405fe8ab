"""The wrapper every path runs a task in: serial, on a Dask worker, and in verification.

:func:`execute` calls ``task(params, seed)`` inside :func:`threadpoolctl.threadpool_limits`
with ``BLAS_THREADS`` BLAS threads, checks the records (a flat dict of scalars whose fields are
free column names, or a non-empty list of them), times it, and turns a failure into an error
text; :func:`deepgep.support.sweeps.table.outcome_rows` makes the table rows of the outcome.

A task cannot stop the process that runs it
    Every ``BaseException`` raised in the task becomes an error outcome: ``SystemExit`` (a
    ``sys.exit`` in the task), ``GeneratorExit``, and a ``KeyboardInterrupt`` the task raised
    itself. The one exception is the driver's own interrupt: while the task runs in the main
    thread, the SIGINT and SIGTERM handlers are wrapped so that a signal delivered to this
    process is seen; a ``KeyboardInterrupt`` that follows such a signal (Ctrl-C, or SIGTERM,
    which :func:`deepgep.support.sweeps.run_sweep` turns into one) propagates and stops the
    sweep, and so does a signal the task swallowed (re-raised once the task returns). In any
    other thread (a Dask worker's) no signal reaches the task, so a ``KeyboardInterrupt`` there
    is always the task's.
A time limit
    ``timeout`` seconds of wall time, after which the task is stopped with an exception it
    cannot catch as an ``Exception`` (a private ``BaseException``), and its outcome is the error
    ``TimeoutError: the task ran over its time limit of <timeout> s``. In the main thread the
    limit is a ``SIGALRM`` timer, in another thread an asynchronous exception; both take effect
    when the task next runs Python code, so a sleep in the main thread is cut short but a long
    call into compiled code (a numba loop, a BLAS call, a sleep outside the main thread) is
    stopped only when it returns. A hard limit, and protection against ``os._exit`` and crashes,
    is a process boundary: :mod:`.isolated` runs the task in a child process it can kill.

The limit on BLAS threads is taken afresh for every task, not with the cached controller of
:mod:`deepgep.support.threads`: a long-lived worker may load another BLAS (a new task module,
a lazily imported SciPy) after the first task, and a controller built before would not see it.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from deepgep.support.sweeps.spec import SweepError, check_column_name, check_scalar

__all__ = ["BLAS_THREADS", "ERROR_CHARS", "error_text", "failed", "check_timeout", "timeout_text", "execute",
           "ctrl_c_interrupts", "task_rng"]

#: Threads of the BLAS (and of other thread pools) inside one task.
BLAS_THREADS = 1
#: Longest error message stored in a row.
ERROR_CHARS = 200


def task_rng(params: Mapping, seed: int, *tags: int) -> np.random.Generator:
    """The random stream of one task: ``default_rng([params["base_seed"], *tags, seed])``, one
    independent stream per (chapter seed, experiment tags, task seed), so a task's draws depend
    neither on the other tasks nor on the order in which a scheduler runs them.

    numpy's ``SeedSequence`` ignores trailing zeros of its key (``[2025, 1, 10, 0]`` and
    ``[2025, 1, 10]`` give the same stream), so two streams are distinct only if their keys
    differ somewhere before a trailing run of zeros. Within a sweep every task passes the same
    number of tags, so its keys have one length and never collide; across a chapter's sweeps the
    first tag names the experiment and must differ."""
    return np.random.default_rng([int(params["base_seed"]), *(int(t) for t in tags), int(seed)])


def _check_record(record: Any, forbidden: Sequence[str]) -> dict[str, Any]:
    """A flat dict of Python scalars (numpy scalars converted) whose fields are free names."""
    if not isinstance(record, Mapping):
        raise TypeError(f"the task returned {type(record).__name__}, not a dict")
    return {check_column_name("record field", name, forbidden): check_scalar(f"record field {name!r}", value, finite=False)
            for name, value in record.items()}


def error_text(exc: BaseException) -> str:
    """``Type: message`` on one line, at most ``ERROR_CHARS`` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def failed(exc: BaseException) -> dict[str, Any]:
    """The outcome of a task that never returned (its worker died, say)."""
    return {"records": [], "error": error_text(exc), "wall": 0.0, "cpu": 0.0}


def _check_records(result: Any, forbidden: Sequence[str]) -> list[dict[str, Any]]:
    """A task's result as a list of checked records (a single dict is one record)."""
    if isinstance(result, Mapping):
        return [_check_record(result, forbidden)]
    if not isinstance(result, (list, tuple)):
        raise TypeError(f"the task returned {type(result).__name__}, not a dict or a list of dicts")
    if not result:  # a task of no rows could never be seen as done
        raise ValueError("the task returned an empty list: a task gives at least one record")
    return [_check_record(record, forbidden) for record in result]


def check_timeout(timeout: Any) -> float | None:
    """A task's time limit: ``None`` (no limit) or a positive, finite number of seconds."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            math.isfinite(timeout) and timeout > 0):
        raise SweepError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    return float(timeout)


def timeout_text(timeout: float) -> str:
    """The error text of a task stopped at its time limit."""
    return f"TimeoutError: the task ran over its time limit of {timeout:g} s"


class _OverTime(BaseException):
    """Raised into a task at its time limit (a ``BaseException``: ``except Exception`` in the
    task does not swallow it)."""


class _Limit:
    """The wall-time limit of one task in the current thread (see the module docstring)."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout, self.fired = timeout, False
        self._lock = threading.Lock()
        self._done = False
        self._timer: threading.Timer | None = None
        self._previous: Any = None
        self._main = threading.current_thread() is threading.main_thread()
        self._thread = threading.get_ident()

    def __enter__(self) -> _Limit:
        if self.timeout is None:
            return self
        if self._main:
            self._previous = signal.signal(signal.SIGALRM, self._alarm)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        else:
            self._timer = threading.Timer(self.timeout, self._inject)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _alarm(self, signum: int, frame: Any) -> None:
        self.fired = True
        raise _OverTime

    def _inject(self) -> None:
        with self._lock:
            if not self._done:
                self.fired = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread), ctypes.py_object(_OverTime))

    def __exit__(self, *exc: Any) -> None:
        if self.timeout is None:
            return
        if self._main:
            try:
                signal.setitimer(signal.ITIMER_REAL, 0.0)
            finally:  # even if the alarm went off in between
                signal.signal(signal.SIGALRM, self._previous)
            return
        with self._lock:
            self._done = True
            self._timer.cancel()
            if self.fired:  # not delivered yet if the task was in compiled code: withdraw it
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread), None)


@contextlib.contextmanager
def ctrl_c_interrupts() -> Iterator[None]:
    """In the main thread, Ctrl-C (SIGINT) raises Python's ``KeyboardInterrupt`` during the
    block, whatever handler a library left in place (dask-jobqueue installs ``sys.exit`` when
    imported, which Dask's cluster discovery may do; a kernel may ignore it); put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _signals_seen() -> Iterator[list[int]]:
    """In the main thread, note every SIGINT and SIGTERM delivered during the block (their
    handlers still run); the list of signal numbers is yielded. Ctrl-C (SIGINT) during a task is
    always Python's ``KeyboardInterrupt`` (:func:`signal.default_int_handler`), whatever handler
    a library left in place (:func:`ctrl_c_interrupts`): the driver's interrupt is never
    mistaken for the task's exit. Between tasks, :func:`deepgep.support.sweeps.run.run_sweep`
    takes SIGINT over the same way."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous = {}
    with ctrl_c_interrupts():
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if callable(handler):  # SIG_DFL / SIG_IGN: the OS ends the process, or nothing happens

                def noted(number: int, frame: Any, handler: Callable = handler) -> None:
                    seen.append(number)
                    handler(number, frame)

                previous[signum] = signal.signal(signum, noted)
        try:
            yield seen
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def execute(func: Callable, params: dict[str, Any], seed: int, forbidden: Sequence[str],
            timeout: float | None = None) -> dict[str, Any]:
    """Run one task with ``BLAS_THREADS`` BLAS threads and at most ``timeout`` seconds:
    ``{records, error, wall, cpu}``, ``records`` a list of checked dicts (empty on an error).

    Any ``BaseException`` of the task becomes the ``error`` text; only the driver's interrupt
    propagates (see the module docstring).
    """
    timeout = check_timeout(timeout)
    wall, cpu = time.perf_counter(), time.process_time()
    records, error = [], ""
    limit = _Limit(timeout)
    with _signals_seen() as seen:
        try:
            with limit, threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
                records = _check_records(func(params, seed), forbidden)
        except _OverTime:
            pass
        except BaseException as exc:  # noqa: BLE001 - whatever a task raises becomes an error row
            if seen:
                raise
            error = error_text(exc)
    if seen:  # the driver was interrupted and the task swallowed it: stop now
        raise KeyboardInterrupt(f"signal {seen[0]}")
    if limit.fired:
        records, error = [], timeout_text(timeout)
    return {
        "records": records,
        "error": error,
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
    }

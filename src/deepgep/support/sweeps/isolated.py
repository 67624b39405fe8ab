"""Tasks in a child process: a hard time limit, and a task that cannot end the process that
asked for it.

A :class:`TaskProcess` is one long-lived child Python process (running :func:`serve`) that runs tasks one at a time with :func:`.tasks.execute`,
so a task gives the same bits as in the parent: same interpreter, same environment (the
parent's, with its ``sys.path``), one BLAS thread. Jobs and outcomes travel as length-prefixed
pickles over a pair of pipes of their own (the task may print on stdout and stderr freely). The
child is started once, on the first task, and again only after it died or was stopped, so a
sweep pays its start-up (about a second of imports) once per process that runs tasks, not per
task.

What the parent sees
    * a task that returns or raises: the child's outcome, unchanged;
    * a task that ends its process (``os._exit``, a crash in compiled code, the OOM killer):
      an error outcome ``TaskProcessError: the task's process exited with status 3 before the
      task returned``, or ``... was killed by SIGSEGV ...``; the next task gets a new child;
    * a task over its time limit: the child's own timer stops it at ``timeout`` seconds when it
      runs Python code (its outcome then carries the CPU time it used); if it is still running
      ``grace_seconds(timeout)`` later (compiled code, a call that never returns), the parent
      kills the child, and the outcome is the same ``TimeoutError: the task ran over its time
      limit of ... s`` with the wall time waited and the CPU time the child used on the task
      (from the kernel's accounting of the killed process).

The child ignores SIGINT, so that Ctrl-C reaches only the driver, which stops the child when
it stops (an interrupted :meth:`TaskProcess.run` kills the child at once); a child whose
parent died exits within a second. :func:`execute_isolated` keeps one child per thread, for a
Dask worker thread or the driver.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from deepgep.support.sweeps.spec import SweepError
from deepgep.support.sweeps.tasks import check_timeout, ctrl_c_interrupts, error_text, execute, timeout_text

__all__ = ["START_SECONDS", "TaskProcessError", "TaskProcess", "grace_seconds", "execute_isolated", "serve"]

#: Seconds a child may take to start and import what a task needs before it is refused.
START_SECONDS = 300.0
#: The first word of every frame the child sends when it is ready.
_READY = "ready"
#: The child's program (``-c``: ``-m`` would warn, the package importing this module first).
_CHILD = f"import sys; from {__name__} import serve; serve(int(sys.argv[1]), int(sys.argv[2]))"


class TaskProcessError(RuntimeError):
    """The child process running a task ended before the task returned."""


def grace_seconds(timeout: float) -> float:
    """How long after ``timeout`` the parent waits before it kills the child: the child's own
    timer stops a task in Python code at ``timeout``; two seconds, or 5 % of the limit if that
    is longer, let it report the outcome (with its CPU time) before the kill."""
    return max(2.0, 0.05 * timeout)


def _ended(status: int) -> str:
    """How a process with wait status ``status`` ended, in words."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(number).name}"
        return f"was killed by signal {number}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


#: Every TaskProcess of this process, stopped when it exits.
_OPEN: weakref.WeakSet = weakref.WeakSet()


class TaskProcess:
    """One child process that runs tasks one at a time (see the module docstring). A context
    manager; :meth:`close` stops the child (so does the exit of this process)."""

    def __init__(self) -> None:
        _OPEN.add(self)
        self._proc: subprocess.Popen | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None
        self._cpu_seen = 0.0  # the child's CPU seconds at its last report

    def __enter__(self) -> TaskProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The child's process id (``None`` before the first task or after a death)."""
        return None if self._proc is None else self._proc.pid

    def _start(self) -> None:
        from_parent, to_child = os.pipe()
        from_child, to_parent = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(from_parent), str(to_parent)],
                pass_fds=(from_parent, to_parent), env=env, stdin=subprocess.DEVNULL)
        finally:
            os.close(from_parent)
            os.close(to_parent)
        self._send = Connection(to_child, readable=False)
        self._recv = Connection(from_child, writable=False)
        if not self._recv.poll(START_SECONDS):
            self.close()
            raise SweepError(f"the task process did not start within {START_SECONDS:g} s")
        try:
            word, cpu = pickle.loads(self._recv.recv_bytes())
        except (EOFError, OSError):
            status, _ = self._reap()
            raise SweepError(f"the task process {_ended(status)} while it started "
                             f"(its error is on stderr above)") from None
        if word != _READY:
            self.close()
            raise SweepError(f"the task process sent {word!r} instead of {_READY!r}")
        self._cpu_seen = cpu

    def _reap(self) -> tuple[int, float]:
        """Wait for the child to end: its wait status and the CPU seconds it used since its
        last report; the pipes are closed and the next task starts a new child."""
        proc, self._proc = self._proc, None
        for conn in (self._send, self._recv):
            with contextlib.suppress(OSError):
                conn.close()
        self._send = self._recv = None
        if proc is None:
            return 0, 0.0
        if proc.returncode is not None:  # already reaped by poll(): no accounting left
            code = proc.returncode
            return (-code if code < 0 else code << 8), 0.0
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return status, max(0.0, usage.ru_utime + usage.ru_stime - self._cpu_seen)

    def close(self) -> None:
        """Stop the child (killed if it is running a task)."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            self._reap()

    def run(self, func: Callable, params: dict[str, Any], seed: int, forbidden: Sequence[str],
            timeout: float | None = None) -> dict[str, Any]:
        """The outcome of one task run in the child, as :func:`.tasks.execute` gives it, or the
        error outcome of a child that died or ran over ``timeout`` seconds."""
        timeout = check_timeout(timeout)
        try:
            payload = cloudpickle.dumps((func, params, seed, tuple(forbidden), timeout))
        except Exception as exc:  # noqa: BLE001 - a task that cannot be sent is an error row
            return {"records": [], "error": error_text(exc), "wall": 0.0, "cpu": 0.0}
        if self._proc is not None and self._proc.poll() is not None:  # died between two tasks
            self._reap()
        if self._proc is None:
            self._start()
        started = time.perf_counter()
        try:
            with ctrl_c_interrupts():
                return self._exchange(payload, timeout, started)
        except BaseException:  # interrupted while the task runs: stop the child with the driver
            self.close()
            raise

    def _exchange(self, payload: bytes, timeout: float | None, started: float) -> dict[str, Any]:
        try:
            self._send.send_bytes(payload)
            ready = self._recv.poll(None if timeout is None else timeout + grace_seconds(timeout))
            if ready:
                outcome, self._cpu_seen = pickle.loads(self._recv.recv_bytes())
                return outcome
        except (EOFError, OSError):  # the child died (a broken pipe, or end of file)
            status, cpu = self._reap()
            message = (f"the task's process {_ended(status)} before the task returned "
                       "(os._exit, a crash in compiled code or the OOM killer)")
            return {"records": [], "error": error_text(TaskProcessError(message)),
                    "wall": time.perf_counter() - started, "cpu": cpu}
        self._proc.kill()
        _, cpu = self._reap()
        return {"records": [], "error": timeout_text(timeout), "wall": time.perf_counter() - started, "cpu": cpu}


@atexit.register
def _close_all() -> None:
    for process in list(_OPEN):
        with contextlib.suppress(Exception):
            process.close()


_PER_THREAD = threading.local()


def execute_isolated(func: Callable, params: dict[str, Any], seed: int, forbidden: Sequence[str],
                     timeout: float | None = None) -> dict[str, Any]:
    """:meth:`TaskProcess.run` in this thread's child process (started on first use)."""
    process = getattr(_PER_THREAD, "process", None)
    if process is None:
        process = _PER_THREAD.process = TaskProcess()
    return process.run(func, params, seed, forbidden, timeout)


def _exit_with_parent(parent: int) -> None:
    """Exit the child as soon as the process that started it is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def serve(read_fd: int, write_fd: int) -> None:
    """The child's loop: read a job, run it with :func:`.tasks.execute`, send the outcome and
    this process's CPU seconds so far; until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    recv, send = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    send.send_bytes(pickle.dumps((_READY, time.process_time())))
    while True:
        try:
            payload = recv.recv_bytes()
        except EOFError:
            return
        try:
            func, params, seed, forbidden, timeout = pickle.loads(payload)
        except BaseException as exc:  # noqa: BLE001 - a task that cannot be loaded is an error row
            outcome = {"records": [], "error": error_text(exc), "wall": 0.0, "cpu": 0.0}
        else:
            outcome = execute(func, params, seed, forbidden, timeout)
        send.send_bytes(pickle.dumps((outcome, time.process_time())))


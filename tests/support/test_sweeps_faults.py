"""Tests of deepgep.support.sweeps.tasks, .isolated and .schedulers under faulty tasks and a
failing cluster: ``sys.exit``, ``os._exit``, a crash, a task past its time limit, a task that
swallows every exception, a worker killed, every worker gone, the scheduler gone.

Each fault must end as an error outcome within its time limit (plus the stated grace), the
driver must survive it, and a cluster that goes away must stop the sweep with one line. The
back ends are tested directly (``open_backend(...).run``, :func:`execute`,
:class:`TaskProcess`); the faulty task is one function of this module that does what
``params["fault"]`` says. Dask workers receive it by value (cloudpickle), as in test_sweeps.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cloudpickle
import pytest

from deepgep.support.sweeps import SweepError
from deepgep.support.sweeps.isolated import TaskProcess, grace_seconds
from deepgep.support.sweeps.schedulers import open_backend, start_local_cluster
from deepgep.support.sweeps.tasks import execute

cloudpickle.register_pickle_by_value(sys.modules[__name__])

#: The time limit of the tasks that overrun it.
LIMIT = 1.5
#: What a worker-side check may add to a limit: the grace before a kill, and a second of slack
#: for a loaded machine.
SLACK = 1.0


def faulty(params: dict, seed: int) -> dict:
    """A task that does what ``params["fault"]`` says, else returns a record."""
    fault = params.get("fault", "")
    if fault == "exit":
        sys.exit(3)
    if fault == "os_exit":
        os._exit(7)
    if fault == "crash":
        ctypes.string_at(0)  # a segmentation fault
    if fault == "interrupt":
        raise KeyboardInterrupt  # raised by the task itself, no signal
    if fault == "sleep":
        if params.get("marker_dir"):  # say which worker runs this task (the child's parent)
            Path(params["marker_dir"], f"{os.getppid()}-{uuid.uuid4().hex}").touch()
        time.sleep(params.get("seconds", 60.0))
    if fault == "stubborn":  # swallows every exception, the limit's included
        end = time.monotonic() + 60.0
        while time.monotonic() < end:
            try:
                time.sleep(0.05)
            except BaseException:  # noqa: BLE001 - the point of this task
                pass
    if fault == "spin":  # pure Python, never returns
        while True:
            pass
    if fault == "signal":  # the driver's Ctrl-C arrives while the task runs
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5.0)
    if fault == "swallowed_signal":
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5.0)
        except KeyboardInterrupt:
            pass
    return {"value": float(params.get("x", 0)) + seed, "pid": os.getpid()}


def jobs(*faults: str, **extra) -> list[tuple[int, dict, int]]:
    return [(n, {"x": n, "fault": fault, **extra}, 0) for n, fault in enumerate(faults)]


def outcomes(backend, batch) -> dict[int, dict]:
    return dict(backend.run(faulty, batch, ()))


def timeout_message(limit: float = LIMIT) -> str:
    return f"TimeoutError: the task ran over its time limit of {limit:g} s"


# ---- in this process: execute and the serial back end -------------------------------------


@pytest.mark.parametrize("fault, error", [("exit", "SystemExit: 3"), ("interrupt", "KeyboardInterrupt:")])
def test_any_base_exception_of_a_task_is_an_error_outcome(fault, error):
    outcome = execute(faulty, {"fault": fault}, 0, ())
    assert (outcome["records"], outcome["error"]) == ([], error)


def test_the_drivers_interrupt_is_not_a_task_error():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        execute(faulty, {"fault": "signal"}, 0, ())
    with pytest.raises(KeyboardInterrupt):  # even when the task swallowed it
        execute(faulty, {"fault": "swallowed_signal"}, 0, ())
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


@pytest.mark.parametrize("library_handler", [lambda *_: sys.exit(), signal.SIG_IGN], ids=["sys.exit", "ignored"])
def test_the_drivers_interrupt_is_not_a_task_error_whatever_handler_a_library_left(library_handler):
    before = signal.signal(signal.SIGINT, library_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            execute(faulty, {"fault": "signal"}, 0, ())
        assert signal.getsignal(signal.SIGINT) is library_handler  # put back
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_list_of_records_and_its_checks():
    assert execute(lambda p, s: [{"k": 0}, {"k": 1}], {}, 0, ())["records"] == [{"k": 0}, {"k": 1}]
    assert execute(lambda p, s: {"k": 0}, {}, 0, ())["records"] == [{"k": 0}]
    assert execute(lambda p, s: [], {}, 0, ())["error"].startswith("ValueError: the task returned an empty list")
    assert execute(lambda p, s: [{"k": 0}, 3], {}, 0, ())["error"] == "TypeError: the task returned int, not a dict"
    assert execute(lambda p, s: {"seed": 1}, {}, 0, ("seed",))["error"].startswith("SweepError")


@pytest.mark.parametrize("fault", ["sleep", "spin"])
def test_serial_time_limit_stops_python_code(fault):
    with open_backend("serial", None, timeout=LIMIT) as backend:
        started = time.monotonic()
        got = outcomes(backend, jobs(fault, ""))
    assert time.monotonic() - started < LIMIT + SLACK
    assert got[0]["error"] == timeout_message() and got[0]["records"] == []
    assert LIMIT <= got[0]["wall"] < LIMIT + SLACK
    assert got[1]["error"] == "" and got[1]["records"][0]["pid"] == os.getpid()
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


def test_time_limit_outside_the_main_thread():
    """Another thread: the limit is an asynchronous exception (Python code only)."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(execute(faulty, {"fault": "spin"}, 0, (), timeout=LIMIT)))
    started = time.monotonic()
    thread.start()
    thread.join(LIMIT + 10)
    assert time.monotonic() - started < LIMIT + SLACK and box["error"] == timeout_message()
    assert execute(faulty, {"fault": ""}, 0, (), timeout=LIMIT)["error"] == ""  # nothing left pending


def test_bad_time_limits_are_refused():
    for bad in (0, -1.0, float("nan"), float("inf"), True, "5"):
        with pytest.raises(SweepError, match="timeout must be a positive number"):
            execute(faulty, {}, 0, (), timeout=bad)


# ---- in a child process: the isolated back end --------------------------------------------


def test_isolated_tasks_cannot_end_the_driver():
    with open_backend("isolated", None, timeout=LIMIT) as backend:
        started = time.monotonic()
        got = outcomes(backend, jobs("", "os_exit", "crash", "exit", "sleep", "stubborn", "spin", ""))
        elapsed = time.monotonic() - started
    assert [got[n]["error"] for n in (0, 7)] == ["", ""]  # the driver and its back end went on
    assert got[0]["records"][0]["pid"] != os.getpid()
    assert got[1]["error"].startswith("TaskProcessError: the task's process exited with status 7 before the task")
    assert got[2]["error"].startswith("TaskProcessError: the task's process was killed by SIGSEGV")
    assert got[3]["error"] == "SystemExit: 3"
    for n, limit in [(4, LIMIT), (5, LIMIT + grace_seconds(LIMIT)), (6, LIMIT)]:
        assert got[n]["error"] == timeout_message(), n
        assert LIMIT <= got[n]["wall"] < limit + SLACK, n
    assert got[5]["cpu"] > 0.0  # the CPU time of the killed task, from the kernel's accounting
    print(f"8 isolated tasks (4 faults, 3 over the limit, two new child processes) in {elapsed:.1f} s")


def test_an_interrupted_isolated_task_stops_its_process():
    process = TaskProcess()
    assert process.run(faulty, {"fault": ""}, 0, ())["error"] == ""
    pid = process.pid
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        process.run(faulty, {"fault": "sleep"}, 0, ())
    assert process.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the child is gone with the task
    assert process.run(faulty, {"fault": ""}, 0, ())["error"] == ""  # a new one next time
    process.close()


def test_an_isolated_task_is_interrupted_by_ctrl_c_whatever_handler_a_library_left():
    process = TaskProcess()
    assert process.run(faulty, {"fault": ""}, 0, ())["error"] == ""  # the child started
    before = signal.signal(signal.SIGINT, lambda *_: sys.exit())  # what dask-jobqueue installs
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            process.run(faulty, {"fault": "sleep"}, 0, ())
        assert process.pid is None
    finally:
        signal.signal(signal.SIGINT, before)
        process.close()


# ---- on Dask --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """One local cluster of two single-threaded worker processes (with nannies) for the module."""
    with start_local_cluster(2) as local:
        yield local


def test_dask_faults_are_error_rows_within_their_limit(cluster):
    with open_backend(cluster.scheduler_address, None, timeout=LIMIT) as backend:
        started = time.monotonic()
        got = outcomes(backend, jobs("", "exit", "os_exit", "sleep", "stubborn", "interrupt", ""))
        elapsed = time.monotonic() - started
    assert [got[n]["error"] for n in (0, 6)] == ["", ""]
    assert got[1]["error"] == "SystemExit: 3" and got[5]["error"] == "KeyboardInterrupt:"
    assert got[2]["error"].startswith("TaskProcessError: the task's process exited with status 7")
    assert got[3]["error"] == got[4]["error"] == timeout_message()
    assert got[3]["wall"] < LIMIT + SLACK and got[4]["wall"] < LIMIT + grace_seconds(LIMIT) + SLACK
    print(f"7 tasks on a local cluster (5 faults) in {elapsed:.1f} s")


def test_a_killed_worker_is_survived(cluster, tmp_path):
    """Kill the worker process running a task (known from the task's marker): its nanny starts
    a new worker and the task runs again; the sweep finishes without an error."""
    def kill_first_runner():
        deadline = time.monotonic() + 120
        while not list(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        victim.append(int(next(tmp_path.iterdir()).name.split("-")[0]))
        os.kill(victim[0], signal.SIGKILL)

    victim: list[int] = []
    with open_backend(cluster.scheduler_address, None, timeout=60.0) as backend:
        workers = set(backend.client.run(os.getpid).values())
        killer = threading.Thread(target=kill_first_runner)
        killer.start()
        got = outcomes(backend, jobs("sleep", "sleep", seconds=3.0, marker_dir=str(tmp_path)))
        killer.join()
    assert victim and victim[0] in workers  # a worker died while it ran a task
    assert [got[n]["error"] for n in (0, 1)] == ["", ""]
    assert len(list(tmp_path.iterdir())) == 3  # the killed task ran once more


# ---- a cluster that goes away: one line ----------------------------------------------------


@pytest.fixture
def remote_cluster():
    """A scheduler and one worker without a nanny, as separate processes: (address, procs)
    (a port derived from this process's id, so that parallel test runs do not meet)."""
    port = 30000 + os.getpid() % 20000
    address = f"tcp://127.0.0.1:{port}"
    # this process's sys.path: the scheduler unpickles the task by reference to this module
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", str(port),
                                  "--no-dashboard"], **quiet)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                               "--no-nanny", "--no-dashboard"], **quiet)
    from distributed import Client

    deadline = time.monotonic() + 120
    while True:
        try:
            with Client(address, timeout=5) as client:
                client.wait_for_workers(1, timeout=60)
            break
        except (OSError, TimeoutError):
            assert time.monotonic() < deadline, "the test cluster did not start"
            time.sleep(1.0)
    yield address, {"scheduler": scheduler, "worker": worker}
    for proc in (worker, scheduler):
        proc.kill()
        proc.wait()


def _stop_after(seconds: float, proc: subprocess.Popen) -> threading.Timer:
    timer = threading.Timer(seconds, proc.kill)
    timer.start()
    return timer


def test_every_worker_gone_stops_the_sweep_in_one_line(remote_cluster, capfd):
    address, procs = remote_cluster
    with open_backend(address, None, worker_wait=3.0) as backend:
        assert outcomes(backend, jobs(""))[0]["error"] == ""  # the worker's child is up
        _stop_after(1.0, procs["worker"])
        started = time.monotonic()
        with pytest.raises(SweepError) as info:
            outcomes(backend, jobs("sleep", "sleep", "sleep", seconds=30.0))
        waited = time.monotonic() - started
    message = str(info.value)
    assert message.startswith("no Dask worker connected to the scheduler for 3 s")
    assert "3 of 3 tasks did not run" in message and "\n" not in message
    assert waited < 1.0 + 3.0 + 5.0  # the kill, the wait, a few looks at the cluster
    assert capfd.readouterr().err.count("\n") <= 1


def test_a_dead_scheduler_is_reported_once(remote_cluster, capfd):
    address, procs = remote_cluster
    with pytest.raises(SweepError) as info:
        with open_backend(address, None) as backend:
            assert outcomes(backend, jobs(""))[0]["error"] == ""
            _stop_after(1.0, procs["scheduler"])
            outcomes(backend, jobs(*["sleep"] * 61, seconds=30.0))
    message = str(info.value)
    assert message.startswith(f"lost the connection to the Dask scheduler at {address}: 61 of 61 tasks did not run")
    assert "\n" not in message
    assert capfd.readouterr().err.count("\n") <= 1  # no line per task, no reconnection tracebacks

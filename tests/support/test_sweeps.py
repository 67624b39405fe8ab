"""Tests of deepgep.support.sweeps: serial and Dask runs, long-format tasks, resume after a kill,
error rows, metadata and its totals, tables keyed by the parameters, cut-off lines, the integrity
checks of a table read as evidence (every tampering case), list_tables and verify_table.

The toy tasks live in this module. Dask workers are separate processes that cannot import a
test module by name, so the module is registered with cloudpickle to be pickled by value: the
workers receive the functions themselves. The interrupted sweep runs in a subprocess that
imports this module from its folder on PYTHONPATH. Executions are counted with marker files.
"""

from __future__ import annotations


import collections
import csv
import dataclasses
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from importlib import metadata
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from deepgep.support.sweeps import (
    SCHEDULER_ENV,
    WORKER_ENV,
    Sweep,
    SweepError,
    TableDamagedError,
    check_table,
    grid_product,
    list_tables,
    load_frame,
    resolve_task,
    run_sweep,
    start_local_cluster,
    task_key,
    verify_table,
)
from deepgep.support.sweeps.table import read_table, typed_rows

cloudpickle.register_pickle_by_value(sys.modules[__name__])

TASK = f"{__name__}:toy_task"
#: The folder to put on sys.path for a subprocess to import this module as __name__.
MODULE_ROOT = Path(__file__).resolve().parents[__name__.count(".")]


def toy_task(params: dict, seed: int) -> dict:
    """Seeded arithmetic; leaves a marker file per execution; raises on request."""
    if params.get("marker_dir"):
        Path(params["marker_dir"], f"{params['x']}_{seed}_{uuid.uuid4().hex}").touch()
    time.sleep(params.get("sleep", 0.0))
    flag = params.get("fail_flag")
    if flag and params["x"] in params.get("fail_at", []) and os.path.exists(flag):
        raise ValueError(f"chosen failure at x={params['x']}")
    if flag and params["x"] in params.get("interrupt_at", []) and os.path.exists(flag):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the task runs
        time.sleep(5.0)
    rng = np.random.default_rng(seed)
    value = params["x"] * rng.standard_normal() + params.get("shift", 0.0)  # a numpy float64
    record = {"value": value, "draw": int(rng.integers(1000)), "label": f"x{params['x']}",
              "positive": bool(value > 0)}
    if params["x"] in params.get("extra_at", []):
        record["extra"] = 0.1 * params["x"]
    return record


def probe_task(params: dict, seed: int) -> dict:
    """What a task sees of its process: thread variables and BLAS threads."""
    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return {"omp": os.environ.get("OMP_NUM_THREADS", "unset"), "blas_threads": max(blas), "pid": os.getpid()}


def bad_record_task(params: dict, seed: int) -> dict:
    return {"vector": [1.0, 2.0]} if params["x"] == 1 else {"x": 1.0}


def long_task(params: dict, seed: int) -> list[dict]:
    """Three rows per task, told apart by the index column ``k`` (the long format)."""
    rng = np.random.default_rng([seed, params["x"]])
    return [{"k": k, "value": float(rng.standard_normal())} for k in range(3)]


def load_table(sweep: Sweep, results_dir) -> list[dict]:
    """The stored rows as typed dicts, whatever their state (error rows included)."""
    return typed_rows(read_table(sweep.csv_path(results_dir)), sweep)


def make_sweep(tmp_path: Path, **changes) -> Sweep:
    (tmp_path / "markers").mkdir(exist_ok=True)
    fields = dict(chapter=9, name="toy", task=TASK, grid=grid_product(x=[1, 2, 3, 4]),
                  seeds=[0, 1], constants={"marker_dir": str(tmp_path / "markers")}, tolerance=0.0)
    fields.update(changes)
    return Sweep(**fields)


def executions(tmp_path: Path) -> collections.Counter:
    """How often each ``(x, seed)`` ran, from the marker files."""
    names = [p.name.rsplit("_", 1)[0] for p in (tmp_path / "markers").iterdir()]
    return collections.Counter(tuple(int(v) for v in name.split("_")) for name in names)


def interrupted_sweep(tmp: str) -> Sweep:
    """The sweep the killed subprocess runs: ten slow tasks."""
    return make_sweep(Path(tmp), name="slow", grid=grid_product(x=list(range(10))), seeds=[3],
                      constants={"marker_dir": str(Path(tmp) / "markers"), "sleep": 0.1})


def rewrite_cell(path: Path, row: int, column: str, change) -> None:
    """Replace one cell of a table (row counted from 0 after the header) by ``change(text)``."""
    with open(path, newline="", encoding="utf8") as handle:
        lines = list(csv.reader(handle))
    at = lines[0].index(column)
    lines[row + 1][at] = change(lines[row + 1][at])
    with open(path, "w", newline="", encoding="utf8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(lines)


def run(sweep: Sweep, tmp_path: Path, **kwargs):
    kwargs.setdefault("scheduler", "serial")
    return run_sweep(sweep, results_dir=tmp_path / "results", progress=False, **kwargs)


@pytest.fixture(scope="module")
def cluster():
    """One local cluster of two single-threaded worker processes for the module."""
    with start_local_cluster(2) as local:
        yield local


# ---- serial runs, the table and the metadata -----------------------------------------------


def test_serial_run_stores_one_exact_row_per_task(tmp_path):
    sweep = make_sweep(tmp_path)
    summary = run(sweep, tmp_path)
    assert (summary.tasks, summary.added, summary.skipped, summary.errors) == (8, 8, 0, ())
    assert summary.complete and summary.scheduler == "serial" and summary.workers == 1
    path = tmp_path / "results" / "ch9" / f"toy-{sweep.key}.csv"
    assert summary.table == path and len(sweep.key) == 12
    header = path.read_text().splitlines()[0].split(",")
    assert header == ["x", "seed", "value", "draw", "label", "positive", "task_rows", "wall_time", "cpu_time", "error"]
    frame = load_frame(sweep, tmp_path / "results")
    assert list(zip(frame["x"], frame["seed"])) == [(x, s) for s in (0, 1) for x in (1, 2, 3, 4)]
    for row in frame.to_dict("records"):
        expected = toy_task({"x": row["x"]}, row["seed"])
        assert row["value"].hex() == float(expected["value"]).hex()  # bit for bit through the CSV
        assert (row["draw"], row["label"], row["positive"], row["error"]) == (
            expected["draw"], expected["label"], expected["positive"], "")
        assert row["wall_time"] >= 0 and row["cpu_time"] >= 0 and row["task_rows"] == 1
    assert frame["value"].dtype == np.float64
    assert sum(executions(tmp_path).values()) == 8


def test_a_task_writes_many_rows_in_long_format(tmp_path):
    sweep = make_sweep(tmp_path, name="long", task=f"{__name__}:long_task", index=("k",), constants={})
    run(sweep, tmp_path)
    frame = load_frame(sweep, tmp_path / "results")
    assert list(frame.columns) == ["x", "seed", "k", "value", "task_rows", "wall_time", "cpu_time", "error"]
    assert len(frame) == 8 * 3 and set(frame["task_rows"]) == {3}
    means = frame.groupby("k")["value"].mean()  # grid values are columns: pandas selects them
    assert list(means.index) == [0, 1, 2]
    report = verify_table(sweep, results_dir=tmp_path / "results", sample=None)
    assert report.ok and len(report.checked) == 8
    lacking = make_sweep(tmp_path, name="lacking", task=f"{__name__}:long_task", index=("j",), constants={})
    summary = run(lacking, tmp_path)
    assert {e.message for e in summary.errors} == {"ValueError: a record lacks the index column 'j'"}


def test_other_parameters_get_their_own_table_never_a_refusal(tmp_path):
    first = make_sweep(tmp_path)
    run(first, tmp_path)
    other = make_sweep(tmp_path, grid=grid_product(x=[1, 2, 3]))
    assert other.key != first.key and other.csv_path("r") != first.csv_path("r")
    summary = run(other, tmp_path)
    assert (summary.added, summary.skipped) == (6, 0)
    assert check_table(first, tmp_path / "results").state == "complete"  # untouched
    renamed_module = make_sweep(tmp_path, task=f"some.other.module:{TASK.split(':')[1]}")
    assert renamed_module.key == first.key  # the key names the function, not its module path
    assert make_sweep(tmp_path, tolerance=1e-3).key == first.key  # the tolerance is the code's, not a parameter


def test_metadata_describes_sweep_runs_and_machine(tmp_path):
    sweep = make_sweep(tmp_path, tolerance=1e-12)
    run(sweep, tmp_path)
    run(sweep, tmp_path)  # nothing to do: the metadata is left as it is
    meta_path = sweep.meta_path(tmp_path / "results")
    text = meta_path.read_text()
    meta = json.loads(text)
    assert list(meta) == sorted(meta) and text.endswith("}\n")
    assert '\n    {"x": 1},\n' in text  # one grid point per line
    assert {k: meta[k] for k in ("chapter", "name", "key", "task", "seeds", "tolerance", "index")} == {
        "chapter": 9, "name": "toy", "key": sweep.key, "task": TASK, "seeds": [0, 1], "tolerance": 1e-12, "index": []}
    assert meta["grid"] == [{"x": x} for x in (1, 2, 3, 4)]
    assert meta["constants"] == dict(sweep.constants)
    assert meta["package_version"] == metadata.version("deepgep")
    assert meta["git"] is None or set(meta["git"]) == {"commit", "dirty"}
    assert meta["machine"]["cores"] == os.cpu_count() and meta["machine"]["memory_gib"] > 0
    assert (meta["scheduler"], meta["workers"]) == ("serial", 1)
    assert (meta["rows"], meta["error_tasks"], meta["tasks"], meta["complete"]) == (8, 0, 8, True)
    path = sweep.csv_path(tmp_path / "results")
    assert meta["bytes"] == path.stat().st_size and len(meta["sha256"]) == 64
    [session] = meta["sessions"]
    assert (session["tasks_added"], session["errors"]) == (8, 0)
    assert session["start"].endswith("+00:00") and session["end"] >= session["start"]
    rows = load_table(sweep, tmp_path / "results")
    assert meta["cpu_seconds"] == pytest.approx(sum(r["cpu_time"] for r in rows), abs=1e-5)


def test_cpu_time_of_a_killed_session_is_counted_from_its_rows(tmp_path):
    sweep = make_sweep(tmp_path, constants={"sleep": 0.0})
    run(sweep, tmp_path)
    meta_path = sweep.meta_path(tmp_path / "results")
    meta = json.loads(meta_path.read_text())
    killed = {**meta, "cpu_seconds": 0.0, "sessions": [{**meta["sessions"][0], "cpu_seconds": 0.0, "end": None}]}
    meta_path.write_text(json.dumps(killed))  # a session killed before its last metadata write
    [listed] = list_tables(tmp_path / "results")
    assert meta["cpu_seconds"] > 0 and listed["cpu_hours"] == round(meta["cpu_seconds"] / 3600, 6)


def test_new_record_field_adds_a_column(tmp_path):
    sweep = make_sweep(tmp_path, constants={"extra_at": [3]})
    run(sweep, tmp_path)
    rows = load_table(sweep, tmp_path / "results")
    assert [r["extra"] for r in rows if r["seed"] == 0] == [None, None, 0.30000000000000004, None]
    header = sweep.csv_path(tmp_path / "results").read_text().splitlines()[0]
    assert header.endswith("positive,extra,task_rows,wall_time,cpu_time,error")
    assert check_table(sweep, tmp_path / "results").state == "complete"  # the digest follows the rewrite


# ---- Dask ---------------------------------------------------------------------------------


def test_dask_cluster_gives_the_serial_rows(tmp_path, cluster):
    sweep = make_sweep(tmp_path)
    summary = run(sweep, tmp_path, scheduler=cluster.scheduler_address)
    assert (summary.added, summary.errors, summary.workers) == (8, (), 2)
    assert summary.scheduler == cluster.scheduler_address
    rows = sorted(load_table(sweep, tmp_path / "results"), key=lambda r: (r["seed"], r["x"]))
    serial_dir = tmp_path / "serial"
    run_sweep(sweep, results_dir=serial_dir, scheduler="serial", progress=False)
    expected = load_table(sweep, serial_dir)
    drop = ("wall_time", "cpu_time")
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows] == [
        {k: v for k, v in r.items() if k not in drop} for r in expected]
    report = verify_table(sweep, results_dir=tmp_path / "results", sample=None)
    assert report.ok and len(report.checked) == 8


def test_workers_run_single_threaded(tmp_path, cluster, monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)  # the default scheduler
    sweep = make_sweep(tmp_path, name="probe", task=f"{__name__}:probe_task", constants={})
    summary = run(sweep, tmp_path, scheduler=None)
    assert summary.scheduler == cluster.scheduler_address
    rows = load_table(sweep, tmp_path / "results")
    assert {(r["omp"], r["blas_threads"]) for r in rows} == {(1, 1)}
    assert len({r["pid"] for r in rows} - {os.getpid()}) >= 1


def test_run_sweep_starts_its_own_local_cluster(tmp_path):
    sweep = make_sweep(tmp_path, grid=grid_product(x=[1, 2]), seeds=[0])
    environ = {name: os.environ.get(name) for name in WORKER_ENV}
    summary = run(sweep, tmp_path, scheduler="local", n_workers=1)
    assert (summary.scheduler, summary.workers, summary.added) == ("local", 1, 2)
    assert {name: os.environ.get(name) for name in WORKER_ENV} == environ  # this process unchanged
    with pytest.raises(SweepError, match="n_workers"):
        run(make_sweep(tmp_path, name="x"), tmp_path, scheduler="tcp://127.0.0.1:1", n_workers=2)
    with pytest.raises(SweepError, match="n_workers must be a positive int"):
        run(make_sweep(tmp_path, name="x"), tmp_path, scheduler="local", n_workers=0)
    with pytest.raises(SweepError, match="cannot connect to the Dask scheduler"):
        run(make_sweep(tmp_path, name="x"), tmp_path, scheduler="no port")


# ---- resume ------------------------------------------------------------------------------


def _start_killable(tmp_path):
    script = (f"import sys\nfrom {__name__} import interrupted_sweep\n"
              "from deepgep.support.sweeps import run_sweep\n"
              "run_sweep(interrupted_sweep(sys.argv[1]), results_dir=sys.argv[1] + '/results', "
              "scheduler='serial', progress=False)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(MODULE_ROOT), os.environ.get("PYTHONPATH", "")])}
    sweep = interrupted_sweep(str(tmp_path))
    path = sweep.csv_path(tmp_path / "results")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], env=env)
    deadline = time.monotonic() + 60
    while not (path.exists() and path.read_text().count("\n") >= 4):  # header and three rows
        assert proc.poll() is None and time.monotonic() < deadline, "the sweep did not start"
        time.sleep(0.01)
    return sweep, path, proc


def test_killed_sweep_resumes_without_recomputing_or_losing_rows(tmp_path):
    sweep, path, proc = _start_killable(tmp_path)
    proc.kill()
    proc.wait()
    before = {(r["x"], r["seed"]) for r in load_table(sweep, tmp_path / "results")}
    assert 3 <= len(before) < 10
    assert check_table(sweep, tmp_path / "results").state == "incomplete"  # resumable, not damaged
    summary = run(sweep, tmp_path)
    assert (summary.skipped, summary.added) == (len(before), 10 - len(before))
    rows = load_table(sweep, tmp_path / "results")
    assert sorted((r["x"], r["seed"]) for r in rows) == [(x, 3) for x in range(10)]
    counts = executions(tmp_path)
    assert all(counts[key] == 1 for key in before)  # a finished task never runs again
    assert sum(counts.values()) <= 11  # at most the one task in flight ran twice
    sessions = json.loads(sweep.meta_path(tmp_path / "results").read_text())["sessions"]
    assert [s["end"] is None for s in sessions] == [True, False]
    assert check_table(sweep, tmp_path / "results").state == "complete"


def test_terminated_sweep_writes_the_end_of_its_session(tmp_path):
    sweep, path, proc = _start_killable(tmp_path)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    [session] = json.loads(sweep.meta_path(tmp_path / "results").read_text())["sessions"]
    assert session["end"] is not None and session["tasks_added"] >= 3


@pytest.mark.parametrize("at, stored", [(1, 0), (3, 2)])
def test_interrupted_serial_sweep_keeps_its_rows_and_resumes(tmp_path, at, stored):
    flag = tmp_path / "interrupt"
    flag.touch()
    sweep = make_sweep(tmp_path, constants={"marker_dir": str(tmp_path / "markers"),
                                            "fail_flag": str(flag), "interrupt_at": [at]})
    with pytest.raises(KeyboardInterrupt):
        run(sweep, tmp_path)
    assert len(load_table(sweep, tmp_path / "results")) == stored
    [session] = json.loads(sweep.meta_path(tmp_path / "results").read_text())["sessions"]
    assert session["tasks_added"] == stored and session["end"] is not None
    flag.unlink()
    summary = run(sweep, tmp_path)
    assert (summary.skipped, summary.added, summary.complete) == (stored, 8 - stored, True)



@pytest.mark.parametrize("library_handler", [lambda *_: sys.exit(), signal.SIG_IGN], ids=["sys.exit", "ignored"])
def test_ctrl_c_interrupts_a_sweep_whatever_handler_a_library_left(tmp_path, library_handler):
    """dask-jobqueue replaces Ctrl-C's handler by sys.exit at import, a kernel may ignore it: a
    sweep's task still stops on KeyboardInterrupt, keeps its rows, and the handler is put back."""
    flag = tmp_path / "interrupt"
    flag.touch()
    sweep = make_sweep(tmp_path, constants={"marker_dir": str(tmp_path / "markers"),
                                            "fail_flag": str(flag), "interrupt_at": [3]})
    before = signal.signal(signal.SIGINT, library_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(sweep, tmp_path)
        assert signal.getsignal(signal.SIGINT) is library_handler
    finally:
        signal.signal(signal.SIGINT, before)
    assert len(load_table(sweep, tmp_path / "results")) == 2

def test_task_error_is_recorded_reported_and_retried(tmp_path):
    flag = tmp_path / "fail"
    flag.touch()
    sweep = make_sweep(tmp_path, constants={"marker_dir": str(tmp_path / "markers"),
                                            "fail_flag": str(flag), "fail_at": [2]})
    summary = run(sweep, tmp_path)
    assert summary.added == 8 and not summary.complete
    assert [(e.key, e.message) for e in summary.errors] == [
        (task_key({"x": 2}, s), "ValueError: chosen failure at x=2") for s in (0, 1)]
    assert "error [{\"x\":2},0]: ValueError" in str(summary)
    errors = [r for r in load_table(sweep, tmp_path / "results") if r["error"]]
    assert [(r["x"], r["value"]) for r in errors] == [(2, None), (2, None)]
    assert list_tables(tmp_path / "results")[0]["complete"] is False
    assert check_table(sweep, tmp_path / "results").state == "incomplete"
    with pytest.raises(TableDamagedError, match="incomplete"):
        load_frame(sweep, tmp_path / "results")

    flag.unlink()
    summary = run(sweep, tmp_path)
    assert (summary.added, summary.skipped, summary.errors, summary.complete) == (2, 6, (), True)
    rows = load_table(sweep, tmp_path / "results")
    assert len(rows) == 8 and not any(r["error"] for r in rows)  # the error rows were replaced
    assert executions(tmp_path)[(2, 0)] == 2 and executions(tmp_path)[(1, 0)] == 1
    meta = json.loads(sweep.meta_path(tmp_path / "results").read_text())
    assert [s["errors"] for s in meta["sessions"]] == [2, 0] and meta["complete"]
    assert meta["retried_cpu_seconds"] >= 0 and meta["cpu_seconds"] >= meta["retried_cpu_seconds"]


def test_bad_record_is_an_error_row(tmp_path):
    sweep = make_sweep(tmp_path, task=f"{__name__}:bad_record_task", grid=grid_product(x=[1, 2]), seeds=[0])
    summary = run(sweep, tmp_path)
    assert [e.message for e in summary.errors] == [
        "SweepError: record field 'vector' must be a bool, int, float or str, got list",
        "SweepError: record field 'x' is not allowed (empty, more than one line, or taken: "
        "x, seed, task_rows, wall_time, cpu_time, error)"]


def test_restart_starts_over(tmp_path):
    sweep = make_sweep(tmp_path)
    run(sweep, tmp_path)
    summary = run(sweep, tmp_path, restart=True)
    assert (summary.added, summary.skipped) == (8, 0)
    assert len(load_table(sweep, tmp_path / "results")) == 8


def test_cut_off_last_line_is_dropped_and_recomputed(tmp_path):
    sweep = make_sweep(tmp_path)
    run(sweep, tmp_path)
    path = sweep.csv_path(tmp_path / "results")
    text = path.read_text()
    last = text.rstrip("\n").rfind("\n") + 1
    meta_path = sweep.meta_path(tmp_path / "results")
    meta = json.loads(meta_path.read_text())
    meta.update(bytes=last, sha256=hashlib.sha256(text[:last].encode()).hexdigest(), complete=False)
    meta_path.write_text(json.dumps(meta))  # the metadata was last written before the last row...
    path.write_text(text[: last + 11])  # ... which a kill cut after 11 characters
    with pytest.warns(UserWarning, match="cut off in mid-write"):
        assert len(read_table(path).rows) == 7
    assert check_table(sweep, tmp_path / "results").state == "incomplete"  # resumable, not damaged
    with pytest.warns(UserWarning, match="cut off"):
        summary = run(sweep, tmp_path)
    assert (summary.skipped, summary.added) == (7, 1)
    assert executions(tmp_path)[(4, 1)] == 2 and executions(tmp_path)[(3, 1)] == 1
    assert path.read_text().count("\n") == 9 and path.read_text().endswith("\n")
    assert check_table(sweep, tmp_path / "results").state == "complete"


def test_a_table_cut_inside_its_recorded_rows_is_not_resumed(tmp_path):
    sweep = make_sweep(tmp_path)
    run(sweep, tmp_path)
    path = sweep.csv_path(tmp_path / "results")
    path.write_text(path.read_text()[:-30])
    with pytest.raises(TableDamagedError, match="content differs"):
        run(sweep, tmp_path)


def test_a_second_run_of_the_same_sweep_is_refused(tmp_path):
    sweep = make_sweep(tmp_path)
    lock = sweep.stem(tmp_path / "results").with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(SweepError, match="another process"):
            run(sweep, tmp_path)


# ---- a table read as evidence: every tampering case is refused in one line -----------------


def _recorded(tmp_path, **changes):
    sweep = make_sweep(tmp_path, **changes)
    run(sweep, tmp_path)
    return sweep, sweep.csv_path(tmp_path / "results"), sweep.meta_path(tmp_path / "results")


def _lines(path):
    return path.read_text().splitlines(keepends=True)


TAMPERING = {
    "a row replaced by a copy of another": lambda p, m: p.write_text("".join(_lines(p)[:2] + [_lines(p)[3]] + _lines(p)[3:])),
    "a row deleted": lambda p, m: p.write_text("".join(_lines(p)[:2] + _lines(p)[3:])),
    "a row duplicated": lambda p, m: p.write_text("".join(_lines(p) + [_lines(p)[2]])),
    "one digit changed": lambda p, m: rewrite_cell(p, 4, "value", lambda t: t[:-1] + str((int(t[-1]) + 1) % 10)),
    "a byte order mark": lambda p, m: p.write_text("\ufeff" + p.read_text()),
    "a column renamed": lambda p, m: p.write_text(p.read_text().replace("value", "valve", 1)),
    "the table deleted": lambda p, m: p.unlink(),
    "the metadata deleted": lambda p, m: m.unlink(),
    "the metadata unreadable": lambda p, m: m.write_text("{not json"),
    "the digest removed": lambda p, m: m.write_text(json.dumps({k: v for k, v in json.loads(m.read_text()).items()
                                                                if k != "sha256"})),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_refused_in_one_line_naming_the_table(tmp_path, case):
    sweep, path, meta = _recorded(tmp_path)
    TAMPERING[case](path, meta)
    with pytest.raises(TableDamagedError) as info:
        load_frame(sweep, tmp_path / "results", hint="run X")
    message = str(info.value)
    assert "\n" not in message and sweep.name in message and message.endswith("run X")
    with pytest.raises(TableDamagedError):
        verify_table(sweep, results_dir=tmp_path / "results", sample=1)


def test_a_table_of_error_rows_is_not_evidence(tmp_path):
    sweep, path, _ = _recorded(tmp_path, constants={"fail_flag": __file__, "fail_at": [1, 2, 3, 4]})
    with pytest.raises(TableDamagedError, match="incomplete"):
        verify_table(sweep, results_dir=tmp_path / "results")


def test_missing_table_is_missing_not_damaged(tmp_path):
    assert check_table(make_sweep(tmp_path), tmp_path / "results").state == "missing"


# ---- list and verify ---------------------------------------------------------------------


def test_list_tables(tmp_path):
    with pytest.raises(SweepError, match="no results folder"):
        list_tables(tmp_path / "nowhere")
    (tmp_path / "results").mkdir()
    assert list_tables(tmp_path / "results") == []
    run(make_sweep(tmp_path), tmp_path)
    run(make_sweep(tmp_path, chapter=2, name="other", constants={"fail_flag": __file__, "fail_at": [1]}), tmp_path)
    tables = list_tables(tmp_path / "results")
    assert [(t["chapter"], t["name"], t["rows"], t["error_tasks"], t["complete"]) for t in tables] == [
        (2, "other", 8, 2, False), (9, "toy", 8, 0, True)]
    assert all(0 < t["cpu_hours"] < 0.01 for t in tables)
    json.dumps(tables)  # what `deepgep results list --format json` prints


def test_verify_uses_the_codes_tolerance_never_the_files(tmp_path):
    sweep, path, meta_path = _recorded(tmp_path, tolerance=1e-6)
    report = verify_table(sweep, sample=3, seed=7, results_dir=tmp_path / "results")
    assert report.ok and report.keys == report.checked and len(report.keys) == 3
    assert set(report.keys) <= {task_key(p, s) for p, s in sweep.tasks()}
    assert "seed 7" in str(report) and "within relative tolerance 1e-06" in str(report)
    assert report.catch_probability == 3 / 8

    def tamper(change):  # a change of the values WITH a matching digest: only recomputation sees it
        rewrite_cell(path, 0, "value", change)
        meta = json.loads(meta_path.read_text())
        meta.update(bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), tolerance=1.0)
        meta_path.write_text(json.dumps(meta))

    stored = load_table(sweep, tmp_path / "results")[0]["value"]
    tamper(lambda t: repr(float(t) * (1 + 1e-9)))  # inside the code's tolerance
    assert verify_table(sweep, sample=None, results_dir=tmp_path / "results").ok
    tamper(lambda t: repr(float(t) * 1.1))  # outside, though the file now says tolerance 1
    report = verify_table(sweep, sample=None, results_dir=tmp_path / "results")
    assert [(m.key, m.field, m.recomputed) for m in report.mismatches] == [(task_key({"x": 1}, 0), "value", stored)]
    assert "MISMATCH" in str(report)


def test_verify_table_bit_for_bit_and_time_budget(tmp_path):
    sweep, path, meta_path = _recorded(tmp_path, constants={"sleep": 0.02})
    rewrite_cell(path, 5, "value", lambda t: repr(float(np.nextafter(float(t), np.inf))))  # one ulp
    meta = json.loads(meta_path.read_text())
    meta.update(bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    meta_path.write_text(json.dumps(meta))
    [mismatch] = verify_table(sweep, sample=None, results_dir=tmp_path / "results").mismatches
    assert mismatch.key == task_key({"x": 2}, 1) and mismatch.field == "value"
    report = verify_table(sweep, sample=None, time_budget=0.0, results_dir=tmp_path / "results")
    assert report.stopped_early and len(report.checked) == 1 and len(report.keys) == 8
    assert "time budget used up" in str(report)


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"task": "no_such_module_xyz:f"}, "cannot import module"),
    ({"task": f"{__name__}:no_such_function"}, "has no attribute"),
    ({"task": "not a path"}, "import path"),
    ({"grid": []}, "grid is empty"),
    ({"grid": [{"x": 1}, {"y": 2}]}, "grid point 1 has parameters"),
    ({"grid": [{"x": [1, 2]}]}, "must be a bool, int, float or str"),
    ({"grid": [{"x": float("nan")}]}, "finite"),
    ({"grid": [{"x": 1}, {"x": 1}]}, "duplicate"),
    ({"grid": [{"seed": 1}]}, "not allowed"),
    ({"seeds": [0, 0]}, "duplicates"),
    ({"seeds": [0.5]}, "not an int"),
    ({"constants": {"x": 1}}, "also a grid parameter"),
    ({"constants": {"f": object()}}, "JSON"),
    ({"tolerance": -1.0}, "tolerance"),
    ({"name": "a/b"}, "name"),
    ({"index": ("seed",)}, "not allowed"),
])
def test_bad_sweeps_are_refused_clearly(tmp_path, changes, message):
    with pytest.raises(SweepError, match=message):
        sweep = make_sweep(tmp_path, **changes)
        resolve_task(sweep.task)


def test_numpy_scalars_in_the_grid_become_python_scalars(tmp_path):
    sweep = make_sweep(tmp_path, grid=[{"x": np.int64(1), "a": np.float64(0.5)}], seeds=np.arange(2))
    assert sweep.grid == ({"x": 1, "a": 0.5},) and sweep.seeds == (0, 1)
    assert type(sweep.grid[0]["x"]) is int and type(sweep.grid[0]["a"]) is float


def test_a_verification_is_recorded_only_from_a_clean_checkout(tmp_path, monkeypatch):
    from deepgep.support.sweeps import verify as verify_module

    sweep, path, meta_path = _recorded(tmp_path)
    report = verify_table(sweep, sample=2, results_dir=tmp_path / "results")
    monkeypatch.setattr(verify_module, "source_state", lambda: ("abc123", True))
    with pytest.raises(SweepError, match="clean git checkout"):
        verify_module.record_verification(sweep, report, tmp_path / "results")
    monkeypatch.setattr(verify_module, "source_state", lambda: ("abc123", False))
    entry = verify_module.record_verification(sweep, report, tmp_path / "results")
    meta = json.loads(meta_path.read_text())
    assert meta["verifications"] == [entry] and entry["tasks_checked"] == 2 and entry["mismatches"] == 0
    assert "abc123" in verify_module.clean_commits(meta)
    assert load_frame(sweep, tmp_path / "results").shape[0] == 8  # the table itself is untouched


def test_a_verification_restamps_a_table_recorded_from_a_dirty_tree(tmp_path, monkeypatch):
    """A dirty recording verified without mismatch by clean code: ``git`` pins the verifying
    commit, ``recorded_from`` keeps the recording's state; a mismatching verification stamps nothing."""
    from deepgep.support.sweeps import verify as verify_module

    sweep, path, meta_path = _recorded(tmp_path)
    meta = json.loads(meta_path.read_text())
    meta["git"] = {"commit": "old456", "dirty": True}
    meta_path.write_text(json.dumps(meta))
    report = verify_table(sweep, sample=2, results_dir=tmp_path / "results")
    monkeypatch.setattr(verify_module, "source_state", lambda: ("abc123", False))
    verify_module.record_verification(sweep, dataclasses.replace(report, mismatches=("a task",)), tmp_path / "results")
    meta = json.loads(meta_path.read_text())
    assert meta["git"] == {"commit": "old456", "dirty": True} and "recorded_from" not in meta
    verify_module.record_verification(sweep, report, tmp_path / "results")
    meta = json.loads(meta_path.read_text())
    assert meta["git"] == {"commit": "abc123", "dirty": False, "pinned_by": "verification"}
    assert meta["recorded_from"] == {"commit": "old456", "uncommitted_changes": True}
    assert verify_module.clean_commits(meta) == ["abc123", "abc123"]  # the stamp and the entry

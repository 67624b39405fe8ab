"""Tests of deepgep.support.sweeps.files: the lock excludes, every atomic replace has a temporary
file of its own, and a results folder that cannot be written is one SweepError line.

The race: three processes (forked) take the lock again and again for a fixed time; each entry
increments a shared counter and decrements it on the way out, so an entry that finds the counter
above 1 overlapped another holder. The same race on the lock as it was before issue 25
(``flock``, then the file unlinked on release) is the control: it must overlap, or the race
would not be able to show anything. Then three processes run one real sweep
(:func:`deepgep.support.sweeps.run_sweep`, serial) at once, each retrying while the lock is held:
every task runs and is stored exactly once.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import multiprocessing
import os
import re
import time
import uuid
from pathlib import Path

import pytest

from deepgep.support.sweeps import Sweep, SweepError, check_table, grid_product, run_sweep
from deepgep.support.sweeps import files
from deepgep.support.sweeps.files import locked, temporary_name, write_atomic
from deepgep.support.sweeps.table import read_table

FORK = multiprocessing.get_context("fork")
#: Seconds each process races for the lock.
RACE_SECONDS = 3.0
PROCESSES = 3


@contextlib.contextmanager
def unlinking_lock(stem: Path):
    """The lock before issue 25 (the control): ``flock`` on ``<stem>.lock``, unlinked on
    release while still held, so a waiter may lock the unlinked file while a newcomer locks a
    new one."""
    lock = stem.with_suffix(".lock")
    with open(lock, "w", encoding="utf8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepError("held") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


LOCKS = {"flock kept": locked, "flock unlinked on release": unlinking_lock}


def _race(kind: str, stem: Path, inside, entries, overlaps) -> None:
    lock = LOCKS[kind]
    deadline = time.monotonic() + RACE_SECONDS
    while time.monotonic() < deadline:
        try:
            with lock(stem):
                with inside.get_lock():
                    inside.value += 1
                    crowded = inside.value > 1
                with entries.get_lock():
                    entries.value += 1
                if crowded:
                    with overlaps.get_lock():
                        overlaps.value += 1
                time.sleep(0.0002)  # hold it for a while, as a writer does
                with inside.get_lock():
                    inside.value -= 1
        except SweepError:
            pass


def race(kind: str, folder: Path) -> tuple[int, int]:
    """``(entries, overlapping entries)`` of ``PROCESSES`` processes racing on one lock."""
    stem = folder / "ch9" / "toy-000000000000"
    stem.parent.mkdir(parents=True, exist_ok=True)
    inside, entries, overlaps = (FORK.Value("i", 0) for _ in range(3))
    procs = [FORK.Process(target=_race, args=(kind, stem, inside, entries, overlaps)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(RACE_SECONDS + 30)
        assert proc.exitcode == 0
    return entries.value, overlaps.value


def test_the_lock_excludes_and_the_old_one_did_not(tmp_path):
    entries, overlaps = race("flock kept", tmp_path / "new")
    old_entries, old_overlaps = race("flock unlinked on release", tmp_path / "old")
    print(f"flock kept: {overlaps} of {entries} entries overlapped; "
          f"unlinked on release: {old_overlaps} of {old_entries}")
    assert entries > 100 and old_entries > 100  # both raced for real
    assert overlaps == 0
    assert old_overlaps > 0  # the control: the race finds the old lock's fault


def test_a_held_lock_refuses_at_once_naming_the_holder(tmp_path):
    stem = tmp_path / "toy-000000000000"
    ready, release = FORK.Event(), FORK.Event()

    def hold():
        with locked(stem):
            ready.set()
            release.wait(30)

    proc = FORK.Process(target=hold)
    proc.start()
    try:
        assert ready.wait(30)
        started = time.monotonic()
        with pytest.raises(SweepError, match=rf"held \(by process {proc.pid}\): another process"):
            with locked(stem):
                pass
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        proc.join(30)
    with locked(stem):  # free again once its holder is gone, and the file was kept
        assert stem.with_suffix(".lock").exists()


# ---- atomic replace -----------------------------------------------------------------------


def test_each_replace_has_a_temporary_file_of_its_own(tmp_path):
    target = tmp_path / "t.meta.json"
    names = {temporary_name(target).name for _ in range(50)}
    assert len(names) == 50
    assert all(re.fullmatch(rf"t\.meta\.json\.{os.getpid()}\.[0-9a-f]{{8}}\.tmp", n) for n in names)
    write_atomic(target, "one\n")
    assert target.read_text() == "one\n" and list(tmp_path.iterdir()) == [target]


def _replace_many(target: Path, tag: str, errors) -> None:
    for i in range(200):
        try:
            write_atomic(target, f"{tag} {i}\n" * 100)
        except SweepError:
            with errors.get_lock():
                errors.value += 1


def test_concurrent_replaces_never_collide_nor_mix(tmp_path):
    """Without the lock too: writers of one file never share a temporary file (the old
    ``<name>.tmp`` made them crash on each other), and every state of the file is one writer's."""
    target = tmp_path / "t.meta.json"
    errors = FORK.Value("i", 0)
    procs = [FORK.Process(target=_replace_many, args=(target, f"w{k}", errors)) for k in range(PROCESSES)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert errors.value == 0
    assert len(set(target.read_text().splitlines())) == 1  # one writer's whole text
    assert list(tmp_path.iterdir()) == [target]


def test_the_holder_removes_what_killed_runs_left(tmp_path):
    stem = tmp_path / "toy-000000000000"
    left = [tmp_path / "toy-000000000000.csv.4242.0123abcd.tmp", tmp_path / "toy-000000000000.meta.json.tmp"]
    other = tmp_path / "other-000000000000.csv.4242.0123abcd.tmp"
    for path in (*left, other):
        path.write_text("cut short")
    with locked(stem):
        assert not any(p.exists() for p in left) and other.exists()


# ---- a folder that cannot be written: one line --------------------------------------------


def _refuse(code: int):
    def fake(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fake


@pytest.mark.parametrize("code, reason", [(errno.EACCES, "permission denied: the results folder must be writable"),
                                          (errno.EROFS, "the file system is read-only"),
                                          (errno.ENOSPC, "the disk is full")])
def test_a_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, code, reason):
    target = tmp_path / "t.csv"
    target.write_text("old\n")
    monkeypatch.setattr(files.os, "fsync", _refuse(code))
    with pytest.raises(SweepError, match=f"^cannot write {re.escape(str(target))}: {reason}") as info:
        write_atomic(target, "new\n")
    assert "\n" not in str(info.value)
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]  # untouched, no .tmp left
    monkeypatch.setattr(files.os, "open", _refuse(code))
    with pytest.raises(SweepError, match=f"^cannot open the lock file .*: {reason}"):
        with locked(tmp_path / "toy-000000000000"):
            pass


def test_disk_full_on_a_row_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    with files.open_append(path) as handle:
        monkeypatch.setattr(files.os, "fsync", _refuse(errno.ENOSPC))
        with pytest.raises(SweepError, match="^cannot write .*t.csv: the disk is full: free some space"):
            files.fsync_write(handle, "1,2,3\n")


# ---- three runs of one sweep at once ------------------------------------------------------


def counted_task(params: dict, seed: int) -> dict:
    """Leaves a marker file per execution, takes a moment."""
    Path(params["marker_dir"], f"{params['x']}_{seed}_{uuid.uuid4().hex}").touch()
    time.sleep(0.02)
    return {"value": params["x"] + 0.5 * seed}


def racing_sweep(folder: Path) -> Sweep:
    return Sweep(chapter=9, name="race", task=f"{__name__}:counted_task", grid=grid_product(x=list(range(20))),
                 seeds=[0, 1], constants={"marker_dir": str(folder / "markers")}, tolerance=0.0)


def _run_until_complete(folder: Path, refusals) -> None:
    sweep = racing_sweep(folder)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if run_sweep(sweep, results_dir=folder / "results", scheduler="serial", progress=False).complete:
                return
        except SweepError as exc:
            if "another process" not in str(exc):
                raise
            with refusals.get_lock():
                refusals.value += 1
            time.sleep(0.005)
    raise AssertionError("the sweep did not complete")


def test_three_runs_of_one_sweep_store_each_task_once(tmp_path):
    (tmp_path / "markers").mkdir()
    refusals = FORK.Value("i", 0)
    procs = [FORK.Process(target=_run_until_complete, args=(tmp_path, refusals)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(180)
        assert proc.exitcode == 0
    sweep = racing_sweep(tmp_path)
    runs = collections.Counter(name.rsplit("_", 1)[0] for name in os.listdir(tmp_path / "markers"))
    rows = collections.Counter((r["x"], r["seed"]) for r in read_table(sweep.csv_path(tmp_path / "results")).rows)
    assert refusals.value > 0  # the runs did meet
    assert set(runs.values()) == {1} and len(runs) == sweep.n_tasks  # 0 tasks run twice
    assert set(rows.values()) == {1} and len(rows) == sweep.n_tasks  # 0 tasks stored twice
    assert check_table(sweep, tmp_path / "results").state == "complete"
    assert not list((tmp_path / "results" / "ch9").glob("*.tmp"))

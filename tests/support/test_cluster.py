"""Tests of deepgep.support.cluster: the SLURM recipe's job script (no SLURM here: the script
dask-jobqueue would submit is read, and its prologue is run in bash as a node would run it) and
the worker check that ends a job whose environment is not the driver's."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import signal
import sys

import pytest

from deepgep.support.cluster import _import_slurm_cluster, check_worker, slurm_cluster, source_state, worker_prologue
from deepgep.support.sweeps.schedulers import WORKER_ENV
from deepgep.version import VERSION

_handler = signal.getsignal(signal.SIGINT)
pytest.importorskip("dask_jobqueue")
# importing dask-jobqueue replaces Ctrl-C's handler by sys.exit (its runner module): put it back
# for the other tests of the session (deepgep.support.cluster does the same when it imports it)
signal.signal(signal.SIGINT, _handler)


def test_making_a_cluster_keeps_the_interrupt_handler():
    """After :func:`slurm_cluster` imports dask-jobqueue, Ctrl-C is still a KeyboardInterrupt."""
    before = signal.getsignal(signal.SIGINT)
    assert _import_slurm_cluster().__name__ == "SLURMCluster"
    assert signal.getsignal(signal.SIGINT) is before


@pytest.fixture(scope="module")
def job_script():
    """The batch script of a cluster of 8 single-threaded workers per job (its scheduler listens
    on this machine; nothing is submitted)."""
    commit, dirty = source_state()
    expected = pytest.warns(UserWarning, match="uncommitted" if dirty else "not a git checkout") \
        if dirty or commit is None else contextlib.nullcontext()
    with expected:
        cluster = slurm_cluster(workers_per_job=8, memory="16GB", walltime="02:30:00", queue="cpu",
                                account="proj42", job_extra_directives=["--qos=long"])
    with cluster:
        yield cluster.job_script(), cluster.scheduler_address


def test_job_asks_slurm_for_the_cores_memory_and_time(job_script):
    script, _ = job_script
    for line in ("#SBATCH -p cpu", "#SBATCH -A proj42", "#SBATCH -n 1", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --mem=15G", "#SBATCH -t 02:30:00", "#SBATCH --qos=long"):
        assert line in script.splitlines(), line


def test_one_thread_per_worker_in_this_environment(job_script):
    script, address = job_script
    command = script.splitlines()[-1]
    assert command.startswith(f"{sys.executable} -m distributed.cli.dask_worker {address} ")
    assert "--nthreads 1" in command and "--nworkers 8" in command


def test_prologue_exports_the_worker_environment_and_checks_the_version_and_commit(job_script):
    script, _ = job_script
    lines = script.splitlines()
    for name, value in WORKER_ENV.items():
        assert f"export {name}={shlex.quote(value)}" in lines, name
    check = next(line for line in lines if "check_worker" in line)
    commit, _ = source_state()
    assert f'check_worker("{VERSION}", "{commit}")' in check and check.endswith("|| exit 1")
    # the prologue comes before the worker command
    assert lines.index(check) < len(lines) - 1
    if sys.prefix != sys.base_prefix:
        assert f"source {shlex.quote(os.path.join(sys.prefix, 'bin', 'activate'))}" in lines


def test_the_prologue_runs_on_a_node_like_this_one(job_script):
    """The job's lines up to the worker command, run by bash: they pass here (same environment),
    and the exported variables are set when the workers start."""
    script, _ = job_script
    lines = [line for line in script.splitlines()[:-1] if line and not line.startswith("#")]
    probe = "echo OMP=$OMP_NUM_THREADS NUMBA=$NUMBA_NUM_THREADS XLA=$XLA_FLAGS"
    proc = subprocess.run(["bash", "-c", "\n".join([*lines, probe])], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [f"OMP={WORKER_ENV['OMP_NUM_THREADS']}", f"NUMBA={WORKER_ENV['NUMBA_NUM_THREADS']}",
                                   f"XLA={WORKER_ENV['XLA_FLAGS']}"]


def test_a_node_with_another_version_or_commit_ends_the_job():
    """The same prologue with the driver's version or commit changed: the job exits 1 before
    any worker starts, and its log says why."""
    for version, commit, reason in ((VERSION + ".post99", None, "on the driver"),
                                    (VERSION, "0" * 40, "0" * 40 + " on the driver")):
        lines = worker_prologue(sys.executable, None, version, commit) + ["echo WORKER STARTED"]
        proc = subprocess.run(["bash", "-c", "\n".join(lines)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "WORKER STARTED" not in proc.stdout
        assert re.search("this worker's environment is not the driver's: .*" + re.escape(reason), proc.stderr)


def test_check_worker_in_process():
    check_worker(VERSION, source_state()[0])  # this process is its own driver: passes
    with pytest.raises(SystemExit, match="0.0.0 on the driver"):
        check_worker("0.0.0")


def test_workers_per_job_must_be_a_positive_count():
    with pytest.raises(ValueError, match="workers_per_job"):
        slurm_cluster(workers_per_job=0)

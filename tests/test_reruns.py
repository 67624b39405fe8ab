"""A chapter rerun with other parameters computes, for exactly those parameters, what they predict.

* The README's papermill example on Chapters 1 and 3 (fast preset, ``ACTIVATION = "erf"``,
  ``GAIN = 1.5``): the printed coefficients are erf(1.5x)'s, not the book's tanh(2x); the
  banner says which parameters differ; every assertion of the chapter holds (papermill raises
  otherwise).
* ``deepgep run --chapter 8 --set ...`` against a Dask scheduler started on 127.0.0.1: the
  sweeps run on its workers into tables keyed by the parameters, and the notebook executes on
  them.
* Every chapter's fast preset runs from scratch (every sweep computed now into a fresh folder).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deepgep.chapters import CHAPTERS, experiment_class, notebook_name
from deepgep.support.notebooks import execute
from deepgep.theory.activations import get_activation
from deepgep.theory.layers import layer_coefficients

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OVERRIDES = {"PRESET": "fast", "ACTIVATION": "erf", "GAIN": 1.5}

pytestmark = pytest.mark.rerun


def printed(nb: Path) -> str:
    """The text the notebook printed, and the text copy of what it displayed (its tables)."""
    cells = json.loads(nb.read_text(encoding="utf8"))["cells"]
    return "\n".join("".join(out.get("text", "")) if out.get("output_type") == "stream"
                     else "".join(out.get("data", {}).get("text/plain", ""))
                     for c in cells if c["cell_type"] == "code" for out in c.get("outputs", []))


def shown(nb: Path) -> str:
    """The Markdown the notebook displayed (the banner)."""
    cells = json.loads(nb.read_text(encoding="utf8"))["cells"]
    return "\n".join("".join(out["data"]["text/markdown"]) for c in cells if c["cell_type"] == "code"
                     for out in c.get("outputs", []) if "text/markdown" in out.get("data", {}))


@pytest.fixture()
def fresh_results(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPGEP_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("DEEPGEP_SCHEDULER", "local")
    return tmp_path


@pytest.mark.parametrize("chapter", [1, 3])
def test_the_readme_papermill_example_computes_erf(chapter, fresh_results):
    target = execute(NOTEBOOKS / notebook_name(chapter), fresh_results / "out.ipynb", OVERRIDES, progress=False)
    banner = shown(target)
    assert "differs from the book" in banner and "`ACTIVATION` = 'erf' (book: 'tanh')" in banner
    assert "`GAIN` = 1.5 (book: 2.0)" in banner
    fresh = printed(target)
    if chapter == 1:
        coef = layer_coefficients(get_activation("erf", 1.5), 1)
        assert f"{coef.rho[0]:.6f}" in fresh and f"{layer_coefficients(get_activation('tanh', 2.0), 1).rho[0]:.6f}" not in fresh


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def dask_scheduler(tmp_path):
    """A `dask scheduler` and one `dask worker` started on 127.0.0.1, as on a cluster."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    scheduler = subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", ":0"], stderr=subprocess.DEVNULL, env=env)
    worker = subprocess.Popen([str(bin_dir / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
                               "--no-dashboard"], stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    try:
        from distributed import Client
        deadline = time.monotonic() + 60
        with Client(address, timeout=60) as client:
            while not client.scheduler_info()["workers"]:
                assert time.monotonic() < deadline, "the dask worker did not start"
                time.sleep(0.2)
        yield address
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            proc.wait(timeout=30)


def test_deepgep_run_at_other_parameters_on_a_dask_scheduler(fresh_results, dask_scheduler):
    out_dir = fresh_results / "run"
    proc = subprocess.run([str(Path(sys.executable).parent / "deepgep"), "run", "--chapter", "8", "--preset", "fast",
                           "--set", "width=8", "--set", "depth_ratios=[0.0, 0.5, 1.0]", "--set", "batches=3",
                           "--set", "batch_networks=2000", "--set", "kurtosis_batches=3",
                           "--scheduler", dask_scheduler, "--output-dir", str(out_dir), "--no-progress"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count(f"({dask_scheduler}, 1 workers") == 2, proc.stdout
    tables = sorted(p.name for p in (fresh_results / "results" / "ch8").glob("*.csv"))
    assert len(tables) == 2
    target = out_dir / notebook_name(8)
    assert "`WIDTH` = 8 (book: 16)" in shown(target)
    assert "N = 8" in printed(target)


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_fast_preset_runs_from_scratch(chapter, fresh_results):
    """Every sweep computed now, every assertion of the chapter at that scale (papermill raises
    on a failed one). Outputs are not compared: they are the fast preset's."""
    target = execute(NOTEBOOKS / notebook_name(chapter), fresh_results / "out.ipynb", {"PRESET": "fast"},
                     progress=False)
    assert "fast preset" in shown(target)
    stored = list((fresh_results / "results").glob(f"ch{chapter}/*.csv"))
    assert len(stored) == len(experiment_class(chapter).fast().sweeps())

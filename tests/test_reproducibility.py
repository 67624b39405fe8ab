"""Executing a chapter twice gives the same book: text, figures and the data behind them.

How the suite covers it, without executing every notebook a second time:

* text: nbval (``make test``) re-executes every notebook and compares its printed outputs with
  the stored ones, which come from an earlier, independent execution; the sanitize rules of
  ``tests/nbval_sanitize.cfg`` may only hide volatile text, and none appears in the stored
  outputs (checked here);
* figures: ``tests/conftest.py`` makes nbval compare every PNG by its sha256 as well (nbval
  skips images by default); the test below proves on a small notebook that a changed figure
  fails and an unchanged one passes;
* figure data: arrays behind a figure of Chapter 1 and of Chapter 3, recomputed by the library
  and compared with ``tests/reference/*.json`` (``pytest --update-references`` rewrites them).
"""

from __future__ import annotations

import base64
import configparser
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepgep.theory.channels import make_channel
from deepgep.chapters.ch1_gaussian_equivalence import GaussianEquivalence, width_arrays
from deepgep.chapters.ch1_gaussian_equivalence_tasks import width_task
from deepgep.theory.layers import equivalent_glm, layer_coefficients
from deepgep.theory.state_evolution import DEFAULT_TOLERANCE, bayes_optimal_curve

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"

#: Text that differs between two executions of the same code: progress bars and rates,
#: timings, memory addresses, dates and times of day. None may be stored in a notebook.
VOLATILE = re.compile(
    r"\d+%\||\bit/s\b|\bs/it\b"                         # tqdm progress bars and rates
    r"|\b\d+(\.\d+)?\s?(ms|µs|us|ns)\b|\b\d+\.\d+\s?s\b"  # timings
    r"|Wall time|CPU times|[Ee]lapsed"                  # %time and friends
    r"|0x[0-9a-fA-F]{6,}"                               # memory addresses in reprs
    r"|\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}"              # time stamps
)


def _text_outputs(nb: Path):
    """(cell index, text) of every stored text output of ``nb``."""
    cells = json.loads(nb.read_text(encoding="utf8"))["cells"]
    for i, cell in enumerate(cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                yield i, "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/"):
                    yield i, "".join(value) if isinstance(value, list) else value


# ---- text: nothing volatile is stored, and the sanitize rules hide nothing real -------------


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_contain_nothing_volatile(nb):
    found = [(i, m.group(0)) for i, text in _text_outputs(nb) for m in VOLATILE.finditer(text)]
    assert not found, (f"{nb.name} stores text that changes from run to run (cell, text): "
                       f"{found[:5]}; pass progress=False, do not print timings or reprs")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_hold_no_error(nb):
    """An exception a display hook swallowed (a table's text copy failing, say) leaves an error
    output while the notebook runs on: nbval would compare it with itself and pass."""
    cells = json.loads(nb.read_text(encoding="utf8"))["cells"]
    errors = [(i, out.get("ename"), out.get("evalue")) for i, cell in enumerate(cells)
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors, f"{nb.name} stores error outputs (cell, exception, message): {errors}"


def _sanitize_rules() -> dict[str, re.Pattern]:
    parser = configparser.ConfigParser()
    parser.read(SANITIZE, encoding="utf8")
    return {section: re.compile(parser[section]["regex"]) for section in parser.sections()}


def test_sanitize_rules_are_few_and_documented():
    rules = _sanitize_rules()
    assert rules, "nbval_sanitize.cfg defines no rule"
    text = SANITIZE.read_text(encoding="utf8")
    for section in rules:
        before = text.split(f"[{section}]")[0].rstrip().splitlines()
        assert before and before[-1].startswith("#"), (
            f"rule [{section}] of {SANITIZE.name} needs a comment saying why its text is volatile")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_sanitize_rules_hide_nothing_stored(nb):
    """A rule that matches a stored output would hide a real difference from nbval."""
    hits = [(section, i) for i, text in _text_outputs(nb)
            for section, rule in _sanitize_rules().items() if rule.search(text)]
    assert not hits, f"{nb.name}: sanitize rules match stored outputs (rule, cell): {hits[:5]}"


def test_sanitize_rule_for_memory_addresses_works():
    rule = _sanitize_rules()["memory addresses"]
    assert rule.search("<Figure object at 0x7f3a2c1b9d50>")
    assert not rule.search("0.409095 0.152506")


# ---- figures: nbval compares their PNG through conftest's hook ------------------------------


def _png(values) -> str:
    """A small matplotlib figure as the base64 PNG Jupyter stores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot(values)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _nbval(nb: Path, *, with_hook: bool) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
           "--nbval-sanitize-with", str(SANITIZE), "--rootdir", str(nb.parent),
           "-c", os.devnull, str(nb)]
    if with_hook:
        cmd[3:3] = ["-p", "conftest"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "MPLBACKEND": "Agg"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=nb.parent, env=env, timeout=300)


@pytest.fixture(scope="module")
def executed_figure_notebook(tmp_path_factory) -> Path:
    """A two-cell notebook that prints a number and draws a figure, executed once."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt"),
                nbformat.v4.new_code_cell("print(2 + 2)\nplt.plot([0, 1, 0.5])\nplt.show()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path_factory.getbasetemp())}}).execute()
    path = tmp_path_factory.mktemp("figure") / "figure.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_second_execution_draws_the_same_figure(executed_figure_notebook):
    done = _nbval(executed_figure_notebook, with_hook=True)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "2 passed" in done.stdout


def test_a_changed_figure_fails_nbval(executed_figure_notebook, tmp_path):
    import nbformat

    nb = nbformat.read(executed_figure_notebook, as_version=4)
    outputs = nb.cells[1].outputs
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    images[0]["data"]["image/png"] = _png([0, 1, 0.6])  # a slightly different figure
    tampered = tmp_path / "tampered.ipynb"
    nbformat.write(nb, tampered)
    caught = _nbval(tampered, with_hook=True)
    assert caught.returncode != 0 and "PNG with sha256" in caught.stdout, caught.stdout[-2000:]
    # plain nbval would have passed: the hook is what compares figures
    assert _nbval(tampered, with_hook=False).returncode == 0


# ---- figure data against tests/reference ------------------------------------------------------

#: Gaussian draws of numpy's Generator are identical on every platform; what differs across
#: machines is the last bits of BLAS/LAPACK (matrix products, eigenvalues), ~1e-13 relative
#: for these well-conditioned d <= 100 matrices. 1e-8 leaves five orders of margin and still
#: catches any change of the algorithm or of the random stream.
WIDTH_SCAN_RTOL = 1e-8
#: The state-evolution fixed point stops when |q_{t+1} - q_t| < DEFAULT_TOLERANCE (1e-10);
#: errors and informations are Lipschitz in q with constants below 10 here, and two machines
#: can stop one iteration apart: 100 x the tolerance bounds the difference.
CURVES_ATOL = 100 * DEFAULT_TOLERANCE


def test_chapter1_width_scan_figure_data(reference):
    """The data of Chapter 1's width-scan figure (tanh(2x), three layers): the book's width
    sweep's task (one random stream per network) at small widths, two networks each."""
    constants = GaussianEquivalence.paper().sweeps()["width"].constants
    rows = [{"width": d, "seed": s, **r} for d in (50, 100) for s in (0, 1)
            for r in width_task({**constants, "width": d}, s)]
    again = [{"width": d, "seed": s, **r} for d in (50, 100) for s in (0, 1)
             for r in width_task({**constants, "width": d}, s)]
    assert rows == again  # the same process, the same seed: bit for bit
    table = pd.DataFrame(rows)
    first = width_arrays(table, [c for c in table.columns if c not in ("width", "seed", "layer")])
    reference.check("ch1_width_scan", first, rtol=WIDTH_SCAN_RTOL)


def test_chapter3_bayes_optimal_curves_figure_data(reference):
    """The data of Chapter 3's figure of Bayes-optimal errors and informations (L = 1, 2, 3)."""
    alphas = [0.5, 1.0, 2.0, 4.0, 7.0]
    data = {}
    for depth in (1, 2, 3):
        glm = equivalent_glm(layer_coefficients("tanh", depth, gain=2.0))
        for task, channel in (("regression", make_channel("linear", gamma0=glm.gamma0, noise=0.05)),
                              ("classification", make_channel("sign", gamma0=glm.gamma0))):
            curve = bayes_optimal_curve(channel, glm.kappa, alphas)
            data[f"{task} L={depth} test_error"] = curve["test_error"]
            data[f"{task} L={depth} I/n"] = curve["mutual_information_per_sample"]
    reference.check("ch3_bayes_optimal_curves", data, rtol=0.0, atol=CURVES_ATOL)


# ---- the reference store itself -------------------------------------------------------------


def test_reference_store_round_trip_and_failures(tmp_path):
    from conftest import Reference

    data = {"x": [1.0, 2.0, 3.0], "y": [[0.5]]}
    with pytest.raises(pytest.fail.Exception, match="--update-references"):
        Reference(tmp_path, update=False).check("fig", data, rtol=1e-8)
    Reference(tmp_path, update=True).check("fig", data, rtol=1e-8)
    stored = json.loads((tmp_path / "fig.json").read_text())
    assert stored == {"rtol": 1e-8, "atol": 0.0, "data": data}
    store = Reference(tmp_path, update=False)
    store.check("fig", {"x": [1.0, 2.0, 3.0 + 1e-9], "y": [[0.5]]}, rtol=1e-8)  # within tolerance
    with pytest.raises(AssertionError, match="fig.json\\['x'\\]"):
        store.check("fig", {"x": [1.0, 2.0, 3.0 + 1e-6], "y": [[0.5]]}, rtol=1e-8)
    with pytest.raises(AssertionError, match="stored keys"):
        store.check("fig", {"x": [1.0, 2.0, 3.0]}, rtol=1e-8)

"""A chapter rerun through papermill with other parameters prints what those parameters predict.

Chapter 1 (the cheapest, about 20 s) is executed by :func:`deepgep.support.presets.rerun`, the function
behind ``make paper``, with ``ACTIVATION = "erf"`` and ``GAIN = 1.5`` instead of tanh(2x). Its
table of layer coefficients must then be the one the library computes for erf(1.5x), and not
the stored tanh(2x) table; every assertion of the chapter must still hold (papermill raises
otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepgep.theory.activations import get_activation
from deepgep.theory.layers import layer_coefficients
from deepgep.support.presets import default_preset, preset_values, read_presets, rerun
from deepgep.support.report import format_table

ROOT = Path(__file__).resolve().parents[1]
CHAPTER1 = ROOT / "notebooks" / "ch1_gaussian_equivalence.ipynb"
OVERRIDES = {"ACTIVATION": "erf", "GAIN": 1.5}

pytestmark = pytest.mark.rerun


def coefficient_table(activation: str, gain: float, depth: int) -> str:
    """Chapter 1's printed table of sigma, rho, eps and the mean per layer."""
    coef = layer_coefficients(get_activation(activation, gain), depth)
    return format_table({"layer": list(range(1, depth + 1)), "sigma": coef.sigma[1:],
                         "rho": coef.rho, "eps": coef.eps, "mean": coef.mean}, digits=6)


def printed(nb: Path) -> str:
    cells = json.loads(nb.read_text(encoding="utf8"))["cells"]
    return "\n".join("".join(out.get("text", "")) for c in cells if c["cell_type"] == "code"
                     for out in c.get("outputs", []) if out.get("output_type") == "stream")


@pytest.fixture(scope="module")
def rerun_chapter1(tmp_path_factory) -> Path:
    return rerun(CHAPTER1, tmp_path_factory.mktemp("rerun"), preset="fast",
                 overrides=OVERRIDES, progress=False)


def test_rerun_injects_the_parameters(rerun_chapter1):
    cells = json.loads(rerun_chapter1.read_text(encoding="utf8"))["cells"]
    injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1
    source = "".join(injected[0]["source"])
    assert 'ACTIVATION = "erf"' in source and "GAIN = 1.5" in source


def test_rerun_prints_the_coefficients_of_the_new_activation(rerun_chapter1):
    depth = read_presets(CHAPTER1)["DEPTH"].fast
    stored, fresh = printed(CHAPTER1), printed(rerun_chapter1)
    tanh_table = coefficient_table("tanh", 2.0, depth)
    erf_table = coefficient_table("erf", 1.5, depth)
    assert tanh_table != erf_table
    assert tanh_table in stored, "the stored chapter no longer prints its coefficient table"
    assert erf_table in fresh and tanh_table not in fresh, fresh[:2000]
    assert fresh.startswith("erf 1.5 odd: True theorem applies: True")


def test_make_paper_would_inject_the_documented_paper_values():
    """Chapter 1's default preset is the paper one (its sweeps, recorded under results/ch1, cost
    about 15 CPU-minutes): ``make paper`` injects nothing, the fast preset its changed values."""
    params = read_presets(CHAPTER1)
    assert params["WIDTHS"].paper[-1] == 1600 and params["N_SEEDS"].paper == 40
    assert preset_values(params, "paper") == {}
    fast = preset_values(params, "fast")
    assert fast["PRESET"] == "fast" and fast["WIDTHS"] == params["WIDTHS"].fast
    assert "SEED" not in fast and "ACTIVATION" not in fast


RECORDED_CHAPTERS = sorted(p for p in (ROOT / "notebooks").glob("ch*.ipynb")
                           if default_preset(read_presets(p)) == "paper")


@pytest.mark.parametrize("notebook", RECORDED_CHAPTERS, ids=lambda p: p.stem)
def test_fast_preset_runs_from_scratch(notebook, tmp_path):
    """A chapter whose stored outputs are drawn from recorded tables (its default preset is
    "paper", which nbval reruns against those tables) also runs its fast preset from scratch:
    every sweep computed now, every assertion of the chapter at that scale (papermill raises on
    a failed one). Outputs are not compared: they are the fast preset's."""
    target = rerun(notebook, tmp_path, preset="fast", progress=False)
    cells = json.loads(target.read_text(encoding="utf8"))["cells"]
    injected = ["".join(c["source"]) for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and 'PRESET = "fast"' in injected[0]

"""Tests of deepgep.chapters.ch1_gaussian_equivalence: the sweep tasks, reading their rows, the
exponent fit and the claims (the shared-stream width scan is checked against
tests/reference/ch1_width_scan.json in tests/test_reproducibility.py)."""

import math

import numpy as np
import pytest

from deepgep.chapters.ch1_gaussian_equivalence import (MOMENTS, bound_shape_curve, claims, field, power_law_fit,
                                                       sample_size_arrays, sample_size_task, sweeps, width_arrays,
                                                       width_task)
from deepgep.chapters import ch1_gaussian_equivalence as ch1
from deepgep.support.claims import evaluate
from deepgep.support.spectra import operator_norm
from deepgep.support.sweeps import resolve_task
from deepgep.theory.layers import layer_coefficients, theorem1_bound_shape

WIDTH = {"base_seed": 3, "alpha": 1.0, "activation": "tanh", "gain": 2.0, "depth": 2, "tag": 0}
SAMPLE = {"base_seed": 3, "activation": "tanh", "gain": 2.0, "ratios": [0.5, 1.0, 2.0]}
PER_LAYER = ["kernel_op", "kernel_frob", "gram_vs_kernel", "spectrum_w1", "top_kernel", "rho_hat", "sigma_hat",
             "eps_hat"] + [f"m{k}_{m}" for k in MOMENTS for m in ("gram", "equivalent", "noiseless")]


def test_bound_shape_curve_is_the_theorem_rate_on_a_dense_grid():
    curve = bound_shape_curve(100, 50, 1600, points=120)
    assert curve["n"].size == 120 and np.isclose(curve["n"][0], 50) and np.isclose(curve["n"][-1], 1600)
    assert np.all(np.diff(curve["n"]) > 0) and np.all(np.diff(curve["rate"]) > 0)
    assert np.isclose(curve["rate"][-1], theorem1_bound_shape(1600, 100))


def test_width_task_is_deterministic_and_records_every_layer():
    first, again = width_task({**WIDTH, "d": 40}, 5), width_task({**WIDTH, "d": 40}, 5)
    assert first == again
    assert set(first) == {field(name, ell) for name in PER_LAYER for ell in (1, 2)}
    assert all(math.isfinite(v) for v in first.values())
    assert width_task({**WIDTH, "d": 40}, 6) != first
    assert width_task({**WIDTH, "d": 40, "tag": 1}, 5) != first


def test_width_task_identities():
    """m_1 of a Gram matrix is the mean squared feature; the noiseless equivalent has the
    variance rho^2 sigma_0 in layer 1; the measured coefficients are near the recursion's."""
    rec = width_task({**WIDTH, "d": 60}, 0)
    coef = layer_coefficients("tanh", 2, gain=2.0)
    assert rec[field("m1_gram", 1)] == pytest.approx(rec[field("sigma_hat", 1)], rel=1e-10)
    assert rec[field("m1_noiseless", 1)] == pytest.approx(coef.rho[0] ** 2, rel=0.2)
    assert rec[field("rho_hat", 1)] == pytest.approx(coef.rho[0], rel=0.05)
    assert rec[field("eps_hat", 2)] == pytest.approx(coef.eps[1], rel=0.2)
    # a linear activation: the kernel IS its linearisation
    lin = width_task({**WIDTH, "activation": "linear", "gain": 1.0, "d": 30}, 0)
    assert lin[field("kernel_frob", 1)] < 1e-8 and lin[field("eps_hat", 2)] < 1e-20


def test_sample_size_task_nests_the_samples_and_is_deterministic():
    rec = sample_size_task({**SAMPLE, "d": 30}, 1)
    assert rec == sample_size_task({**SAMPLE, "d": 30}, 1)
    assert set(rec) == {field(n, r) for n in ("kernel_op", "gram_vs_kernel", "offdiag") for r in SAMPLE["ratios"]}
    # the largest ratio alone gives the same numbers: the smaller samples are its leading rows
    alone = sample_size_task({**SAMPLE, "d": 30, "ratios": [0.5, 2.0]}, 1)
    assert alone[field("offdiag", 0.5)] == pytest.approx(rec[field("offdiag", 0.5)], rel=1e-12)


def test_lanczos_norm_matches_the_dense_one(monkeypatch):
    monkeypatch.setattr(ch1, "_DENSE_MAX", 50)
    X = np.random.default_rng(0).standard_normal((300, 150))
    A = X @ X.T / 150 - 0.5 * np.eye(300)  # a Wishart bulk, shifted: the norm is its top edge
    assert ch1._norm(A) == pytest.approx(operator_norm(A), rel=1e-9)


def test_power_law_fit_recovers_an_exponent():
    d = np.array([100.0, 200.0, 400.0, 800.0])
    fit = power_law_fit(d, 3.0 * d**-0.5, 0.01 * 3.0 * d**-0.5)
    assert fit["exponent"] == pytest.approx(-0.5, abs=1e-10) and fit["se"] > 0


def _tiny_parameters():
    return {"SEED": 1, "ALPHA": 1.0, "ACTIVATION": "tanh", "GAIN": 2.0, "DEPTH": 1, "WIDTHS": [30, 45, 60],
            "N_SEEDS": 4, "RELU_SEEDS": 2, "BREAK_WIDTHS": [20], "BREAK_RATIOS": [1, 2, 4], "BREAK_SEEDS": 2}


def test_sweeps_claims_and_arrays_on_a_tiny_run():
    p = _tiny_parameters()
    sw = sweeps(p, "fast")
    assert set(sw) == {"width", "relu", "sample_size"} and sw["width"].n_tasks == 12
    rows = {name: [{**point, "seed": seed, **_run(s, point, seed)} for point, seed in s.tasks()]
            for name, s in sw.items()}
    arrays = width_arrays(rows["width"], ["kernel_frob"], 1)
    assert arrays["kernel_frob"].shape == (3, 4, 1) and list(arrays["d"]) == [30, 45, 60]
    sizes = sample_size_arrays(rows["sample_size"], 20, [1, 2, 4])
    assert sizes["kernel_vs_linear"].shape == (3, 2) and list(sizes["n"]) == [20, 40, 80]
    verdicts = [evaluate(c) for c in claims(rows, p)]
    assert len(verdicts) >= 3 and all(v["perturbations"] for v in verdicts)


def _run(sweep, point, seed):
    return resolve_task(sweep.task)({**sweep.constants, **point}, seed)

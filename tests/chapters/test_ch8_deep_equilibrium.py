"""Tests of deepgep.chapters.ch8_deep_equilibrium: the task functions of the chapter's sweeps on
small sizes (deterministic given their seed, the documented fields, identities such as the deepest
weight-tied network = the DEQ and the rank of the empirical kernel), the contraction factor, the
weighted power fit, the contraction scan and the smallest kernel eigenvalues. The
``sphere_inputs`` fixture comes from tests/conftest.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepgep.chapters.ch8_deep_equilibrium import (
    DEQModel,
    contraction_factor,
    contraction_scan,
    eigen_task,
    failure_fractions,
    gaussianity_task,
    kernel_field,
    kernel_task,
    limits_task,
    min_eigenvalue_scan,
    power_fit,
    sweeps,
)
from deepgep.cli.results import chapter_parameters

BASE = {"base_seed": 7, "activation": "tanh", "sigma_w": 0.4, "sigma_u": 1.0, "n_inputs": 3, "input_dim": 5,
        "max_iter": 2000}


def test_kernel_task_is_deterministic_and_records_every_entry():
    params = {**BASE, "width": 30}
    rec = kernel_task(params, 0)
    assert rec == kernel_task(params, 0) and rec != kernel_task(params, 1)
    assert {kernel_field(i, j) for i in range(3) for j in range(i, 3)} | {"q", "converged", "iterations"} == set(rec)
    assert rec["converged"] and 0 < rec["q"] < 1 and all(rec[kernel_field(i, i)] > 0 for i in range(3))


def test_limits_task_deepest_network_is_the_deq_and_obeys_the_contraction_bound():
    rec = limits_task({**BASE, "width": 40, "depths": [1, 2, 60]}, 3)
    assert rec == limits_task({**BASE, "width": 40, "depths": [1, 2, 60]}, 3)
    assert rec["q"] < 1 and rec["converged"]
    assert abs(rec["diag@60"] - rec["diag@inf"]) < 1e-12 and rec["gap@60"] < 1e-10
    assert all(rec[f"state@{L}"] <= rec["q"] ** L for L in (1, 2, 60))
    assert rec["gap@1"] > rec["gap@2"] > 0


def test_gaussianity_task_fields_and_moments():
    params = {**BASE, "width": 4, "networks": 300}
    rec = gaussianity_task(params, 2)
    assert rec == gaussianity_task(params, 2)
    assert set(rec) == {"networks", "failed", "outside", "k1", "k2", "z2", "z4", "ks"}
    assert rec["networks"] == 300 and 0 <= rec["failed"] <= rec["networks"] and 0 <= rec["outside"] <= 300
    assert rec["k2"] >= rec["k1"] ** 2 and 0.0 < rec["ks"] < 1.0
    assert abs(rec["k1"] - 1.0) < 0.2 and abs(rec["z2"] - 1.0) < 0.4


def test_eigen_task_rank_deficient_below_the_number_of_inputs():
    params = {**BASE, "activation": "erf", "n_inputs": 12}
    assert abs(eigen_task({**params, "width": 6}, 0)["lambda_min"]) < 1e-12
    rec = eigen_task({**params, "width": 200}, 0)
    assert rec["lambda_min"] > 0 and rec["converged"] and rec == eigen_task({**params, "width": 200}, 0)


def test_contraction_factor_dense_and_lanczos():
    rng = np.random.default_rng(0)
    small, large = rng.standard_normal((3, 10, 10)), rng.standard_normal((300, 300))
    assert np.allclose(contraction_factor(small, "tanh"), np.linalg.norm(small, 2, axis=(1, 2)))
    assert contraction_factor(large, "erf") == pytest.approx(2 / np.sqrt(np.pi) * np.linalg.norm(large, 2), rel=1e-8)
    with pytest.raises(ValueError, match="supports"):
        contraction_factor(small, "relu")


def test_power_fit_recovers_an_exact_law():
    n = np.array([10.0, 20, 40, 80, 160])
    fit = power_fit(n, 2.0 + 3.0 / n - 5.0 / n**2, np.full(5, 0.01), (1.0, 2.0))
    assert fit["limit"] == pytest.approx(2.0) and np.allclose(fit["coef"], [2, 3, -5])
    assert fit["chi2_per_dof"] < 1e-12 and fit["curve"](n[:1])[0] == pytest.approx(2.0 + 0.3 - 0.05)


def test_sweeps_of_both_presets():
    for preset in ("fast", "paper"):
        p = chapter_parameters(8, preset)
        sw = sweeps(p, preset)
        assert set(sw) == {"kernel", "gaussianity", "limits", "eigen"}
        assert sw["kernel"].n_tasks == len(p["KERNEL_WIDTHS"]) * p["KERNEL_SEEDS"]


def test_contraction_scan_flags_the_non_contractive_sigma_w(sphere_inputs):
    X = sphere_inputs(2, 4)
    scan = contraction_scan(X, "tanh", [0.5, 3.0], 1.0, 200, np.random.default_rng(0), max_iter=300)
    assert scan["converged"].tolist() == [True, False]
    assert scan["lipschitz"][0] < 1.0 < scan["lipschitz"][1] and np.isnan(scan["rate"][1])


def test_failure_fractions_inside_and_outside_the_hypothesis(sphere_inputs):
    x = sphere_inputs(1, 5)[0]
    inside = failure_fractions(DEQModel("tanh", 0.2, 1.0), x, 16, 200, np.random.default_rng(0))
    outside = failure_fractions(DEQModel("tanh", 1.0, 1.0), x, 16, 200, np.random.default_rng(0))
    assert inside == {"q >= 1": 0.0, "not converged": 0.0, "not converged, q < 1": 0.0}
    assert outside["q >= 1"] == 1.0


def test_min_eigenvalues_positive_although_sigma1_is_singular(sphere_inputs):
    X = sphere_inputs(12, 5)  # 12 inputs in dimension 5: Sigma1 is singular
    lam = min_eigenvalue_scan(X, "erf", [0.5, 1.0], 1.0)
    assert np.all(lam > 1e-6) and lam[1] > lam[0]

"""Tests of deepgep.chapters.ch6_kernel_renormalisation: the chapter's instances and comparisons
(the hidden-width scan recovers the NNGP at large width, summaries of posterior samples, the
comparison of sampled networks with the renormalised theory and with the equivalent GLM, the
teacher instance).
"""

from __future__ import annotations

import numpy as np
import pytest

from deepgep.chapters.ch6_kernel_renormalisation import (
    glm_comparison,
    hidden_width_scan,
    make_instance,
    sampling_comparison,
    summarise_samples,
    teacher_instance,
)
from deepgep.theory.kernels import nngp_kernel
from deepgep.theory.renormalisation import glm_prediction, gp_predict, solve_renormalisation


def test_width_scan_recovers_nngp_at_large_width():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((50, 30))
    y = np.tanh(X[:, 0])
    inst = make_instance(X[:40], y[:40], X[40:], y[40:], activation="erf")
    scan = hidden_width_scan(inst, [10, 1000, 10**7], temperature=0.1)
    assert abs(scan["q_bar"][-1] - 1) < 1e-5
    assert scan["error"][-1] == pytest.approx(float(scan["error_nngp"]), rel=1e-5)
    assert np.allclose(scan["error"], scan["bias2"] + scan["variance"])


def test_summarise_samples_recovers_known_moments():
    rng = np.random.default_rng(14)
    mu, sd = np.array([0.5, -1.0, 2.0]), np.array([0.3, 1.0, 0.1])
    f = mu + sd * rng.standard_normal((16, 20_000, 3))  # 16 chains: a reliable between-chain SE
    y_test = np.array([0.0, 0.0, 1.0])
    s = summarise_samples(f, y_test)
    assert np.all(np.abs(s.mean - mu) < 5 * s.mean_se)
    assert np.all(np.abs(s.variance - sd**2) < 5 * s.variance_se)
    exact = np.mean((y_test - mu) ** 2 + sd**2)
    assert abs(s.error - exact) < 5 * s.error_se
    with pytest.raises(ValueError, match="n_chains"):
        summarise_samples(f[:1], y_test)


def test_sampling_comparison_recognises_draws_from_the_theory():
    """Draws from the renormalised GP itself: the theory must match them within sampling error and
    the NNGP must not."""
    rng = np.random.default_rng(15)
    inst = teacher_instance(20, 20, 40, 15, rng, readout_gain=0.4, noise=0.05)
    sol = solve_renormalisation(inst.K, inst.y, hidden_widths=8, temperature=0.05)
    pred = gp_predict(inst.K, inst.K_cross, inst.K_test, inst.y, temperature=0.05,
                      kernel_scale=sol.kernel_scale, full_covariance=True)
    f = rng.multivariate_normal(pred.mean, pred.covariance, size=(8, 5000))
    c = sampling_comparison(inst, f, hidden_width=8, temperature=0.05)
    assert c["q_bar"] == pytest.approx(sol.kernel_scale)
    assert abs(c["var_theory"] - c["var_sampled"]) < 5 * c["var_sampled_se"]
    assert c["mean_gap_theory"] < 3 * c["mean_se"]
    assert abs(c["error_theory"] - c["error_sampled"]) < 5 * c["error_sampled_se"]
    assert abs(c["var_nngp"] - c["var_sampled"]) > 20 * c["var_sampled_se"]


def test_glm_comparison_shapes_identities_and_errors():
    out = glm_comparison(20, alpha=2.0, alpha1=4.0, noise=0.1, n_seeds=3, n_test=30,
                         rng=np.random.default_rng(16))
    assert out["q_bar"].shape == (3,) and np.all(out["q_bar"] > 0)
    assert list(out["sizes"]) == [20, 40, 10]
    assert np.all(out["error_predicted"] > 0.1)  # posterior variance + T
    assert np.all(out["glm_error"] == glm_prediction("erf", noise=0.1, alpha=2.0)["test_error"])
    with pytest.raises(ValueError, match="sizes"):
        glm_comparison(0, alpha=2.0, alpha1=1.0, noise=0.1, n_seeds=1, n_test=1, rng=np.random.default_rng(0))


def test_teacher_instance_is_reproducible_and_consistent():
    a = teacher_instance(10, 7, 12, 5, np.random.default_rng(17), noise=0.1)
    b = teacher_instance(10, 7, 12, 5, np.random.default_rng(17), noise=0.1)
    assert np.array_equal(a.y, b.y) and np.array_equal(a.K_cross, b.K_cross)
    full = nngp_kernel(np.vstack([a.X, a.X_test]), "erf")
    assert np.allclose(a.K, full[:12, :12]) and np.allclose(a.K_test, full[12:, 12:])

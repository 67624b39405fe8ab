"""Tests of deepgep.chapters.ch6_kernel_renormalisation: the chapter's instances and comparisons
(the hidden-width scan recovers the NNGP at large width, summaries of posterior samples, the
comparison of sampled networks with the renormalised theory, the sweeps' tasks and the fits the
claims use, the teacher instance).
"""

from __future__ import annotations

import numpy as np
import pytest

from deepgep.chapters.ch6_kernel_renormalisation import (
    glm_task,
    hidden_width_scan,
    make_instance,
    relative_deviation,
    sampling_comparison,
    sampling_instance,
    sampling_summary,
    sampling_task,
    summarise_samples,
    sweeps,
    teacher_instance,
    width_effect_ratio,
)
from deepgep.simulate.teachers import deep_teacher_sample
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


GLM_PARAMS = dict(base_seed=3, activation="erf", n0=20, alpha=2.0, alpha1=4.0, noise=0.1, n_test=30)


def test_glm_task_is_deterministic_and_records_the_theories():
    out = glm_task(GLM_PARAMS, 0)
    assert out == glm_task(GLM_PARAMS, 0) and out != glm_task(GLM_PARAMS, 1)
    assert (out["P"], out["N1"]) == (40, 10) and out["q_bar"] > 0
    assert out["error_predicted"] > 0.1 and out["error_measured"] > 0.1  # + T
    assert out["glm_error"] == glm_prediction("erf", noise=0.1, alpha=2.0)["test_error"]
    with pytest.raises(ValueError, match="sizes"):
        glm_task({**GLM_PARAMS, "n0": 0}, 0)


def test_glm_task_finite_glm_is_the_closed_form_gp():
    """The finite-size GLM error is the GP with kernel kappa X X^T/N0 + gamma0 I, redone by hand."""
    out = glm_task(GLM_PARAMS, 2)
    data = deep_teacher_sample((20, 10), "erf", 40, np.random.default_rng([3, 2, 20, 2]), noise=0.1, n_test=30)
    g = glm_prediction("erf", noise=0.1, alpha=2.0)
    K = g["kappa"] * data.X @ data.X.T / 20 + (g["gamma0"] + 0.1) * np.eye(40)
    k0 = g["kappa"] * data.X_test @ data.X.T / 20
    var = g["kappa"] * np.sum(data.X_test**2, axis=1) / 20 + g["gamma0"] - np.sum(k0 * np.linalg.solve(K, k0.T).T, axis=1)
    assert out["glm_error_finite"] == pytest.approx(var.mean() + 0.1, rel=1e-10)


SAMPLING_PARAMS = dict(base_seed=5, activation="erf", n0=6, p=12, width=3, n_test=8, temperature=0.1,
                       readout_gain=0.5, n_chains=2, n_warmup=30, n_samples=30, perturbed_scale=0.8)


def test_sampling_task_is_deterministic_and_pairs_the_widths():
    out = sampling_task(SAMPLING_PARAMS, 0)
    assert out == sampling_task(SAMPLING_PARAMS, 0)
    assert {"q_bar", "var_sampled", "var_theory", "var_nngp", "var_scaled", "error_sampled", "r_hat_max",
            "divergences"} <= set(out)
    # the instance does not depend on the width; the prediction with Qbar = 1 is the NNGP's
    a, b = sampling_instance(SAMPLING_PARAMS, 0), sampling_instance({**SAMPLING_PARAMS, "width": 7}, 0)
    assert np.array_equal(a.y, b.y) and np.array_equal(a.X_test, b.X_test)
    nngp = gp_predict(a.K, a.K_cross, np.diag(a.K_test), a.y, temperature=0.1)
    assert out["var_nngp"] == pytest.approx(float(nngp.variance.mean()), rel=1e-12)


def _rows(dev_theory, widths=(10, 20, 40), seeds=4):
    """Synthetic sampling rows along a ladder P = 4 N1 whose sampled variance deviates from the
    theory by ``dev_theory(N1)`` (plus a seed-dependent wiggle) and from the NNGP by -30 %."""
    rows = []
    for w in widths:
        for s in range(seeds):
            th = 0.1 + 0.01 * s
            sampled = th * (1 + dev_theory(w) + 1e-3 * (s - 1.5))
            rows.append({"p": 4 * w, "width": w, "seed": s, "q_bar": 0.5, "var_theory": th, "var_sampled": sampled,
                         "var_nngp": sampled / (0.7 + 1e-3 * s), "var_scaled": th * 0.85, "error_theory": th, "error_sampled": sampled,
                         "error_nngp": sampled / 0.8, "error_scaled": th * 0.9, "r_hat_max": 1.0, "divergences": 0})
    return rows


def test_sampling_summary_pairs_the_instances():
    rows = _rows(lambda w: 0.3 / w)
    s = sampling_summary(rows)
    assert list(s["width"]) == [10, 20, 40] and list(s["alpha1"]) == [4.0, 4.0, 4.0] and list(s["n"]) == [4, 4, 4]
    assert np.allclose(s["var_dev_theory"], 0.3 / s["width"], atol=1e-12)
    # the wiggle is the same fraction of each instance: the paired deviation's s.e. is the wiggle's
    assert np.allclose(s["var_dev_theory_se"], 1e-3 * np.std([-1.5, -0.5, 0.5, 1.5], ddof=1) / 2)
    assert np.allclose(s["var_dev_scaled"], (1 + 0.3 / s["width"]) / 0.85 - 1, atol=1e-3)
    w, dev = relative_deviation(rows, "var", "nngp", width=20)
    assert list(w) == [20] and np.allclose(dev, 0.7 + 1e-3 * np.arange(4) - 1)


def test_width_effect_ratio_of_a_power_law():
    rows = []
    for w in (10, 40):
        for s in range(5):
            d = -0.5 * (w / 10) ** -0.8 * (1 + 0.01 * s)
            rows.append({"p": 40, "width": w, "seed": s, "var_nngp": 1.0, "var_sampled": 1 + d + 1e-4 * s,
                         "var_theory": 1 + d})
    r, ref, z = width_effect_ratio(rows, 40, (10, 40), None)
    assert ref == pytest.approx(4**-0.8, rel=1e-2) and r == pytest.approx(ref, rel=1e-2)
    assert width_effect_ratio(rows, 40, (10, 40), 0.5)[2] > 10 * z


def test_teacher_instance_is_reproducible_and_consistent():
    a = teacher_instance(10, 7, 12, 5, np.random.default_rng(17), noise=0.1)
    b = teacher_instance(10, 7, 12, 5, np.random.default_rng(17), noise=0.1)
    assert np.array_equal(a.y, b.y) and np.array_equal(a.K_cross, b.K_cross)
    full = nngp_kernel(np.vstack([a.X, a.X_test]), "erf")
    assert np.allclose(a.K, full[:12, :12]) and np.allclose(a.K_test, full[12:, 12:])


def test_sweeps_share_the_ladder_and_fixed_p_points():
    p = dict(SEED=1, ACTIVATION="erf", SAMPLE_N0=6, SAMPLE_LADDER=[[20, 5], [40, 10]], SAMPLE_P=40,
             SAMPLE_WIDTHS=[10, 40], SAMPLE_N_TEST=8, SAMPLE_TEMPERATURE=0.1, SAMPLE_READOUT_GAIN=0.5,
             SAMPLE_SEEDS=2, N_CHAINS=2, N_WARMUP=30, N_SAMPLES=30, PERTURBED_SCALE=0.8, GLM_N0S=[10, 20],
             GLM_ALPHA=2.0, GLM_ALPHA1=2.0, GLM_NOISE=0.1, GLM_SEEDS=3, GLM_N_TEST=10)
    s = sweeps(p, "fast")
    assert [dict(g) for g in s["sampling"].grid] == [{"p": 20, "width": 5}, {"p": 40, "width": 10},
                                                     {"p": 40, "width": 40}]
    assert list(s["sampling"].seeds) == [0, 1] and list(s["glm"].seeds) == [0, 1, 2]
    assert [dict(g) for g in s["glm"].grid] == [{"n0": 10}, {"n0": 20}]

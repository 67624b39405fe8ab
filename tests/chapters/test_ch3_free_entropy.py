"""Tests of deepgep.chapters.ch3_free_entropy: the concentration of the free entropy (Theorem 2)
measured by the chapter's scan of the variance of (1/n) log Z over n, and its reproducibility.
(The scan's input errors are checked with the linear channel's in tests/theory/test_glm.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.chapters.ch3_free_entropy import (bayes_depth_curves, concentration_task, gamp_task, information_extrapolation,
                                               information_task, pooled_variances)
from deepgep.theory.state_evolution import gaussian_closed_form

#: Cui et al.'s example (phi = tanh(2x), L = 2, rho = 1, eps = 0), book eq-composition:
#: eta0^2 and gamma0 of the equivalent GLM; the linear channel with Delta = 0.
KAPPA = 0.409095
NOISE_TOTAL = 0.152506
ALPHA = 2.0


def _concentration(ns, batches, base_seed=12):
    params = {"base_seed": base_seed, "kappa": KAPPA, "alpha": ALPHA, "total_noise": NOISE_TOTAL, "batch": 50}
    return [{"n": n, "seed": s, **concentration_task({**params, "n": n}, s)} for n in ns for s in range(batches)]


def test_log_partition_variance_decreases_like_one_over_n():
    """Var((1/n) log Z) = 1/(2n) + Var(log det C)/(4 n^2) for the linear channel (y^T C^{-1} y is
    chi-squared with n degrees of freedom given X). Over n = 50..400 (factor 8), 300 datasets
    each (6 batches of 50, pooled): each variance has relative standard error sqrt(2/299) = 8%,
    so the log-log slope has standard error ~0.05 and the window [-1.3, -0.7] is ~6 SE wide on
    each side. The pooled n * Var is 1/2 up to Var(log det C)/(4n) (< 1% at n = 50) and ~4%
    statistical error: checked within 20%."""
    ns = (50, 100, 200, 400)
    v = pooled_variances(_concentration(ns, 6), ns)
    np.testing.assert_array_equal(v["datasets"], [300] * 4)
    assert np.all(v["variance_se"] == pytest.approx(v["variance"] * math.sqrt(2 / 299)))
    slope = np.polyfit(np.log(v["n"]), np.log(v["variance"]), 1)[0]
    assert -1.3 < slope < -0.7, slope
    assert np.mean(v["n"] * v["variance"]) == pytest.approx(0.5, rel=0.2)


def test_pooled_variance_equals_the_variance_of_all_datasets():
    rows = [{"n": 10, "mean": m, "m2": float(np.sum((x - m) ** 2)), "count": x.size}
            for x in (np.array([1.0, 2.0, 4.0]), np.array([0.5, 3.0])) for m in [x.mean()]]
    v = pooled_variances(rows, [10])
    assert v["variance"][0] == pytest.approx(np.var([1.0, 2.0, 4.0, 0.5, 3.0], ddof=1))


def test_information_task_and_its_extrapolation_match_the_direct_estimator():
    """The control-variate estimate from recorded draws is the one of
    expected_linear_mutual_information on the same matrices (same regression)."""
    params = {"base_seed": 3, "kappa": KAPPA, "alpha": ALPHA, "total_noise": NOISE_TOTAL}
    rows = [{"d": d, "seed": s, **information_task({**params, "d": d}, s)} for d in (20, 40, 80) for s in range(8)]
    out = information_extrapolation(rows, [20, 40, 80])
    replica = gaussian_closed_form(KAPPA, NOISE_TOTAL, ALPHA)["mutual_information"]
    assert np.all(np.abs(out["value"] - replica) < 0.02) and np.all(out["se"] > 0)
    assert abs(out["fit"].limit - replica) < 5 * out["fit"].limit_se + 1e-3


def test_gamp_task_records_the_mse_of_every_iteration():
    rec = gamp_task({"base_seed": 1, "kappa": KAPPA, "gamma0": NOISE_TOTAL, "noise": 0.05, "d": 200, "alpha": 2.0,
                     "task": "regression", "n_iter": 5}, 0)
    assert list(rec) == [f"mse@{t}" for t in range(6)] and rec["mse@5"] < rec["mse@0"]


def test_bayes_depth_curves_match_the_closed_form_and_order_the_depths():
    alphas, noise = [0.5, 1.0, 2.0, 4.0], 0.05
    curves = bayes_depth_curves({0: (1.0, 0.0), 2: (KAPPA, NOISE_TOTAL)}, alphas, noise)
    reg = curves["regression", 2]
    closed = [gaussian_closed_form(KAPPA, NOISE_TOTAL + noise, a)["test_error"] for a in alphas]
    np.testing.assert_allclose(reg["test_error"], closed, atol=1e-8)
    np.testing.assert_allclose(reg["relative_error"], reg["test_error"] / (KAPPA + NOISE_TOTAL + noise))
    for task in ("regression", "classification"):  # the deeper (noisier, weaker) model is harder
        assert np.all(curves[task, 2]["relative_error"] > curves[task, 0]["relative_error"])

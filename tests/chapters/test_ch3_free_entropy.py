"""Tests of deepgep.chapters.ch3_free_entropy: the concentration of the free entropy (Theorem 2)
measured by the chapter's scan of the variance of (1/n) log Z over n, and its reproducibility.
(The scan's input errors are checked with the linear channel's in tests/theory/test_glm.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.chapters.ch3_free_entropy import bayes_depth_curves, log_partition_variance_scan
from deepgep.theory.state_evolution import gaussian_closed_form

#: Cui et al.'s example (phi = tanh(2x), L = 2, rho = 1, eps = 0), book eq-composition:
#: eta0^2 and gamma0 of the equivalent GLM; the linear channel with Delta = 0.
KAPPA = 0.409095
NOISE_TOTAL = 0.152506
ALPHA = 2.0


def test_log_partition_variance_decreases_like_one_over_n():
    """Var((1/n) log Z) = 1/(2n) + Var(log det C)/(4 n^2) for the linear channel (y^T C^{-1} y is
    chi-squared with n degrees of freedom given X). Over n = 50..400 (factor 8), 300 datasets
    each: each variance has relative standard error sqrt(2/299) = 8%, so the log-log slope has
    standard error ~0.05 and the window [-1.3, -0.7] is ~6 SE wide on each side. The pooled
    n * Var is 1/2 up to Var(log det C)/(4n) (Var(log det C) ~ 0.6 measured at alpha = 2, so
    < 1% at n = 50) and ~4% statistical error: checked within 20%. This
    seed measures slope -1.00 and n * Var = 0.50, 0.48, 0.49, 0.49 (five seeds: slopes
    -0.90..-1.14)."""
    ns = (50, 100, 200, 400)
    scan = log_partition_variance_scan(ns, ALPHA, KAPPA, NOISE_TOTAL, 300, np.random.default_rng(12))
    assert set(scan) >= {"n", "d", "mean", "mean_se", "variance", "variance_se"}
    np.testing.assert_array_equal(scan["n"], ns)
    np.testing.assert_array_equal(scan["d"], [25, 50, 100, 200])
    assert np.all(scan["variance_se"] == pytest.approx(scan["variance"] * math.sqrt(2 / 299)))
    slope = np.polyfit(np.log(scan["n"]), np.log(scan["variance"]), 1)[0]
    assert -1.3 < slope < -0.7, slope
    assert np.mean(scan["n"] * scan["variance"]) == pytest.approx(0.5, rel=0.2)
    # The mean free entropy converges: across n it moves by O(1/n) plus a standard error of
    # sqrt(1/(2n))/sqrt(300) <= 0.006; measured spreads 0.002-0.007 (5 seeds), asserted < 0.03.
    assert np.ptp(scan["mean"]) < 0.03


def test_variance_scan_is_reproducible():
    one = log_partition_variance_scan([20, 40], ALPHA, KAPPA, NOISE_TOTAL, 5, np.random.default_rng(13))
    two = log_partition_variance_scan([20, 40], ALPHA, KAPPA, NOISE_TOTAL, 5, np.random.default_rng(13))
    for key in one:
        np.testing.assert_array_equal(one[key], two[key])


def test_bayes_depth_curves_match_the_closed_form_and_order_the_depths():
    alphas, noise = [0.5, 1.0, 2.0, 4.0], 0.05
    curves = bayes_depth_curves({0: (1.0, 0.0), 2: (KAPPA, NOISE_TOTAL)}, alphas, noise)
    reg = curves["regression", 2]
    closed = [gaussian_closed_form(KAPPA, NOISE_TOTAL + noise, a)["test_error"] for a in alphas]
    np.testing.assert_allclose(reg["test_error"], closed, atol=1e-8)
    np.testing.assert_allclose(reg["relative_error"], reg["test_error"] / (KAPPA + NOISE_TOTAL + noise))
    for task in ("regression", "classification"):  # the deeper (noisier, weaker) model is harder
        assert np.all(curves[task, 2]["relative_error"] > curves[task, 0]["relative_error"])

"""Tests of deepgep.chapters.ch4_bayes_optimal_generalisation: the Chapter 4 drivers (theory
identities: optimal ridge = Bayes for regression, plateaus; the simulations' bookkeeping against
direct computations; the depth table against closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.simulate.networks import gaussian_inputs
from deepgep.simulate.teachers import noisy_labels, sample_teacher, teacher_preactivation
from deepgep.simulate.estimators import (
    classification_error,
    logistic_regression,
    regression_error,
    ridge,
)
from deepgep.chapters.ch4_bayes_optimal_generalisation import (
    classification_theory,
    depth_activation_table,
    escape_task,
    field,
    learners_task,
    network_task,
    sweeps,
    teacher_means,
    plateau,
    regression_theory,
)
from deepgep.theory.layers import erf_coefficients
from deepgep.theory.layers import equivalent_parameters
from deepgep.theory.ridge import optimal_ridge_classification

KAPPA, GAMMA0 = 0.409095, 0.152506  # the book's reference example: tanh(2x), L = 2
ALPHAS = [0.25, 0.5, 1.0, 2.0, 4.0, 7.0]


def test_optimal_ridge_is_bayes_for_regression():
    th = regression_theory(KAPPA, GAMMA0, 0.05, ALPHAS, [0.1, 1.0, 10.0])
    assert th["lambda_star"] == pytest.approx((GAMMA0 + 0.05) / KAPPA, rel=1e-15)
    np.testing.assert_allclose(th["ridge"][:, 1], th["bayes"], rtol=1e-12)
    # the numerical optimum over lambda is found independently of the closed form for lambda*
    np.testing.assert_allclose(th["ridge_best"], th["bayes"], rtol=1e-10)
    np.testing.assert_allclose(th["lambda_best"], th["lambda_star"], rtol=1e-4)
    assert np.all(th["ridge"][:, [0, 2]] > th["bayes"][:, None] * (1 + 1e-6))
    assert np.all(np.diff(th["bayes"]) < 0)


def test_classification_theory_orders_the_errors():
    th = classification_theory(KAPPA, GAMMA0, ALPHAS, [0.1, 1.0, 10.0])
    np.testing.assert_allclose(th["ridge"][:, 1], th["ridge_opt"], rtol=1e-12)
    assert np.all(th["bayes"] <= th["ridge_opt"] + 1e-12)
    assert np.all(th["ridge"][:, [0, 2]] >= th["ridge_opt"][:, None] - 1e-12)
    assert np.all(np.diff(th["bayes"]) < 0) and np.all(th["bayes"] < 0.5)
    # alphas in any order give the same values (state evolution runs on the sorted grid)
    rev = classification_theory(KAPPA, GAMMA0, ALPHAS[::-1], [1.0])
    np.testing.assert_allclose(rev["bayes"][::-1], th["bayes"], rtol=1e-9)


def test_plateaus_are_approached_at_the_predicted_rate():
    big = [1e2, 1e3, 1e4]
    pl = plateau(KAPPA, GAMMA0, 0.05, big)
    noise = GAMMA0 + 0.05
    assert pl["regression_plateau"] == noise
    # alpha (E - plateau) -> gamma0 + Delta with an O(1/alpha) correction
    rel = np.abs(pl["scaled_excess"] / noise - 1.0)
    assert np.all(rel < 3.0 / np.array(big)) and rel[-1] < rel[0]
    cls = math.acos(math.sqrt(KAPPA / (KAPPA + GAMMA0))) / math.pi
    assert pl["classification_plateau"] == pytest.approx(cls, rel=1e-15)
    assert np.all(pl["classification"] > cls) and np.all(np.diff(pl["classification"]) < 0)
    assert pl["classification"][-1] - cls < 1e-2 * cls


COMMON = dict(base_seed=7, activation="tanh", gain=2.0, depth=2, noise=0.1, n_test=50)


def test_learners_task_matches_direct_computation():
    """The task's numbers, redone by hand from the same random stream: nested prefixes of one
    draw, ridge at lambda* (regression) and lambda_opt (classification), logistic regression."""
    params = {**COMMON, "d0": 12, "alphas": [1.0, 2.0], "logistic_lambda": 0.5}
    rec = learners_task(params, 3)
    assert set(rec) == {field(q, a) for q in ("ridge_regression", "ridge_classification", "logistic")
                        for a in (1.0, 2.0)}
    rng = np.random.default_rng([7, 1, 12, 3])
    teacher = sample_teacher((12, 12, 12), "tanh", rng, gain=2.0)
    X, X_test = gaussian_inputs(24, 12, rng), gaussian_inputs(50, 12, rng)
    s, s_test = teacher_preactivation(teacher, X), teacher_preactivation(teacher, X_test)
    y = noisy_labels(s, 0.0, rng, "linear", 0.1)
    y_test = noisy_labels(s_test, 0.0, rng, "linear", 0.1)
    c, c_test = np.where(s >= 0, 1.0, -1.0), np.where(s_test >= 0, 1.0, -1.0)
    eta0, gamma0 = equivalent_parameters("tanh", 2.0, 2)
    for alpha in (1.0, 2.0):
        n = round(12 * alpha)
        lam = (gamma0 + 0.1) / eta0**2
        assert rec[field("ridge_regression", alpha)] == pytest.approx(
            regression_error(X_test, y_test, ridge(X[:n], y[:n], lam)), rel=1e-9)
        lam_c = optimal_ridge_classification(eta0**2, gamma0, alpha)[0]
        assert rec[field("ridge_classification", alpha)] == classification_error(
            X_test, c_test, ridge(X[:n], c[:n], lam_c))
        assert rec[field("logistic", alpha)] == classification_error(
            X_test, c_test, logistic_regression(X[:n], c[:n], 0.5))
    assert learners_task(params, 3) == rec  # a task is a pure function of (params, seed)


def test_network_task_pairs_the_network_with_ridge():
    params = {**COMMON, "d0": 10, "alpha": 2.0, "task": "classification", "weight_decay": 0.5,
              "max_iter": 50, "tol": 1e-9}
    rec = network_task(params, 0)
    assert set(rec) == {"network", "ridge", "converged", "iterations"}
    assert 0.0 <= rec["network"] <= 1.0 and 0.0 <= rec["ridge"] <= 1.0 and 1 <= rec["iterations"] <= 50
    reg = network_task({**params, "task": "regression"}, 0)
    assert reg["network"] > 0.1 and reg["ridge"] > 0.1  # test MSE includes Delta
    assert network_task(params, 0) == rec


def test_escape_task_and_sweeps():
    rec = escape_task({**COMMON, "depth": 1, "d0": 6, "ratio": 1.0, "max_iter": 30}, 1)
    assert set(rec) == {"ridge", "network", "converged"} and rec["ridge"] > 0.1
    p = dict(SEED=1, ACTIVATION="tanh", GAIN=2.0, DEPTH=2, DELTA=0.1, N_TEST=50, SIM_D0S=[10, 20],
             SIM_ALPHAS=[1.0, 2.0], N_TEACHERS=3, LOGISTIC_LAMBDA=1.0, NET_D0S=[10], NET_ALPHAS=[1.0],
             NET_TEACHERS=2, NET_WEIGHT_DECAY_CLASSIFICATION=0.5, NET_MAX_ITER=20, NET_TOL=1e-9,
             ESCAPE_D0S=[6], ESCAPE_RATIOS=[0.5, 1.0], ESCAPE_TEACHERS=2, ESCAPE_DEPTH=1,
             ESCAPE_DELTA=0.01, ESCAPE_MAX_ITER=20)
    sw = sweeps(p, "fast")
    assert [s.n_tasks for s in sw.values()] == [6, 4, 4]
    assert sw["escape"].constants["depth"] == 1 and sw["learners"].constants["alphas"] == [1.0, 2.0]
    rows = [{"d0": 10, "seed": k, "x": float(k)} for k in range(3)] + [{"d0": 20, "seed": 0, "x": 9.0}]
    m = teacher_means(rows, ["x"], d0=10)["x"]
    assert m == (1.0, pytest.approx(1.0 / math.sqrt(3)), 3)


def test_depth_table_erf_matches_closed_form():
    tab = depth_activation_table(["erf", "tanh"], [0.5, 2.0], 6, 0.05)
    rows = tab["rows"]
    for g in (0.5, 2.0):
        sigma, rho = erf_coefficients(6, gain=g)
        sel = (rows["activation"] == "erf") & (rows["gain"] == g)
        eta_sq = np.cumprod(rho**2)
        np.testing.assert_allclose(rows["eta0^2"][sel], eta_sq, rtol=1e-10)
        np.testing.assert_allclose(rows["gamma0"][sel], sigma[1:] - eta_sq, rtol=1e-9, atol=1e-13)
        frac = rows["signal_fraction"][sel]
        assert np.all(np.diff(frac) < 0)  # every layer adds non-linear "noise"
        L = tab["indistinguishable_depth"][("erf", g)]
        if L is not None:
            assert frac[L - 1] < 0.05 and np.all(frac[: L - 1] >= 0.05)
    assert set(tab["indistinguishable_depth"]) == {("erf", 0.5), ("erf", 2.0), ("tanh", 0.5), ("tanh", 2.0)}

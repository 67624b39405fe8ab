"""Chapter 4 drivers: theory identities (optimal ridge = Bayes for regression, plateaus), the
simulations' bookkeeping against direct computations, the depth table against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.data import deep_teacher_sample
from deepgep.estimators import classification_error, logistic_regression, regression_error, ridge
from deepgep.generalisation import (
    classification_theory,
    depth_activation_table,
    escape_scan,
    estimator_scan,
    plateau,
    regression_theory,
)
from deepgep.layers import erf_coefficients
from deepgep.reduction import equivalent_parameters
from deepgep.ridge_theory import ridge_regression_error
from deepgep.training import student_predict, train_student

KAPPA, GAMMA0 = 0.409095, 0.152506  # SCIENCE.md: tanh(2x), L = 2
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


def test_estimator_scan_matches_direct_computation():
    widths, alphas, n_test = (12, 10, 8), [1.0, 2.0], 50
    lams = np.array([[0.5, 2.0], [0.5, 2.0]])
    opts = dict(weight_decay=0.3, learning_rate=0.5, epochs=20)
    out = estimator_scan("regression", "tanh", 2.0, widths, alphas, lams, 2, n_test,
                         np.random.default_rng(3), delta=0.1, network_alphas=[2.0], network_seeds=1,
                         network_options=opts)
    assert out["ridge"].shape == (2, 2, 2) and out["network"].shape == (1, 1)
    rng = np.random.default_rng(3)
    for i, alpha in enumerate(alphas):
        for s in range(2):
            d = deep_teacher_sample(widths, "tanh", int(alpha * 12), rng, gain=2.0, noise=0.1, n_test=n_test)
            for k, lam in enumerate(lams[i]):
                assert out["ridge"][i, k, s] == pytest.approx(regression_error(d.X_test, d.y_test, ridge(d.X, d.y, lam)),
                                                              rel=1e-9)
            if alpha == 2.0 and s == 0:
                res = train_student(d.X, d.y, widths, "tanh", 2.0, rng, task="regression", **opts)
                net = np.mean((d.y_test - student_predict(res, d.X_test)) ** 2)
                assert out["network"][0, 0] == pytest.approx(net, rel=1e-12)


def test_estimator_scan_classification_has_logistic():
    widths = (10, 8)
    out = estimator_scan("classification", "tanh", 1.0, widths, [2.0], np.array([[1.0]]), 1, 40,
                         np.random.default_rng(5), logistic_lambda=0.5)
    rng = np.random.default_rng(5)
    d = deep_teacher_sample(widths, "tanh", 20, rng, gain=1.0, output="sign", n_test=40)
    assert out["ridge"][0, 0, 0] == classification_error(d.X_test, d.y_test, ridge(d.X, d.y, 1.0))
    assert out["logistic"][0, 0] == classification_error(d.X_test, d.y_test, logistic_regression(d.X, d.y, 0.5))


@pytest.mark.parametrize("bad", [
    dict(task="ranking"),
    dict(alphas=[0.0]),
    dict(ridge_lambdas=np.array([[-1.0]])),
    dict(ridge_lambdas=np.array([1.0])),
    dict(network_alphas=[3.0], network_seeds=1),
    dict(network_seeds=5),
])
def test_estimator_scan_rejects_bad_input(bad):
    kw = dict(task="regression", activation="tanh", gain=1.0, widths=(6, 5), alphas=[1.0],
              ridge_lambdas=np.array([[1.0]]), n_seeds=1, n_test=10, rng=np.random.default_rng(0))
    kw.update(bad)
    with pytest.raises(ValueError):
        estimator_scan(**kw)


def test_escape_scan_small():
    out = escape_scan("tanh", 2.0, 1, [6, 8], [0.5, 1.0], 1, 30, 0.05, np.random.default_rng(2),
                      network_options=dict(epochs=30))
    assert out["ridge"].shape == out["network"].shape == (2, 2, 1)
    np.testing.assert_array_equal(out["n"], [[18, 36], [32, 64]])
    eta0, gamma0 = equivalent_parameters("tanh", 2.0, 1)
    assert out["plateau"] == pytest.approx(gamma0 + 0.05)
    lam = (gamma0 + 0.05) / eta0**2
    assert out["ridge_theory"][1, 0] == pytest.approx(ridge_regression_error(eta0**2, gamma0 + 0.05, 4.0, lam))
    assert np.all(out["glm_bayes"] <= out["ridge_theory"] + 1e-12)
    assert np.all(out["glm_bayes"] > out["plateau"])


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

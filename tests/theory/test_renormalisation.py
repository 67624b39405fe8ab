"""Tests of deepgep.theory.renormalisation: kernel renormalisation (Pacelli et al. 2023), the
effective action, its minimiser and the predictor.

Action: the minimiser is a stationary point and the global minimum of a brute-force scan, its
``T -> 0`` limit is the closed form, ``Qbar -> 1`` as ``alpha1 -> 0`` with the predicted slope,
the deep linear solver agrees with a direct multi-dimensional minimisation. Predictor: the GP
formulas against an independent Schur-complement computation and Monte Carlo; the GLM prediction
against the erf closed forms. The kernels it uses are tested in tests/theory/test_kernels.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from deepgep.theory.kernels import nngp_kernel
from deepgep.theory.renormalisation import (
    NoMinimumError,
    Prediction,
    deep_linear_zero_temperature,
    effective_action,
    generalisation_error,
    glm_prediction,
    gp_predict,
    q_bar_zero_temperature,
    solve_renormalisation,
    target_ratio,
)


def problem(P: int = 40, d: int = 30, seed: int = 1, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((P, d))
    y = scale * np.tanh(X @ rng.standard_normal(d) / math.sqrt(d)) + 0.1 * rng.standard_normal(P)
    return nngp_kernel(X, "erf"), y


# --- effective action and its minimiser -------------------------------------------------------------


@pytest.mark.parametrize("n1, T", [(10, 0.05), (40, 0.05), (100, 0.5), (20, 1e-3)])
def test_minimiser_is_stationary_and_the_global_minimum(n1, T):
    K, y = problem()
    sol = solve_renormalisation(K, y, hidden_widths=n1, temperature=T)
    q = float(sol.q_bar[0])
    S = lambda x: effective_action(x, K, y, hidden_widths=n1, temperature=T)  # noqa: E731
    h = 1e-5 * q
    assert abs(S(q + h) - S(q - h)) / (2 * h) < 1e-7
    grid = np.logspace(-3, 3, 1201)
    values = np.array([S(x) for x in grid])
    assert sol.action <= values.min() + 1e-12
    assert sol.action == pytest.approx(S(q), abs=1e-12)


@pytest.mark.parametrize("alpha1, scale", [(0.5, 1.0), (2.0, 0.3), (4.0, 3.0)])
def test_zero_temperature_limit_is_the_closed_form(alpha1, scale):
    K, y = problem(scale=scale)
    P = y.size
    r = target_ratio(K, y)
    closed = q_bar_zero_temperature(r, alpha1)
    assert closed**2 - (1 - alpha1) * closed - alpha1 * r == pytest.approx(0.0, abs=1e-12 * (1 + r))
    # the corrections are O(T / smallest eigenvalue of K); the smallest is ~0.1 here
    sol = solve_renormalisation(K, y, hidden_widths=round(P / alpha1), temperature=1e-8)
    assert sol.q_bar[0] == pytest.approx(closed, rel=1e-5)
    assert deep_linear_zero_temperature(r, [P / round(P / alpha1)])[0] == pytest.approx(
        q_bar_zero_temperature(r, P / round(P / alpha1)), rel=1e-12)


def test_finite_width_beats_infinite_width_iff_r_below_one():
    for scale in (0.2, 0.5, 2.0, 5.0):
        K, y = problem(scale=scale)
        r = target_ratio(K, y)
        q = q_bar_zero_temperature(r, 2.0)
        assert (q < 1.0) == (r < 1.0)


def test_infinite_width_limit_and_its_slope():
    """``Qbar = 1 + s alpha1 + O(alpha1^2)`` with
    ``s = [y^T (T + A)^{-1} A (T + A)^{-1} y - Tr (T + A)^{-1} A] / P`` (linearised stationarity)."""
    K, y = problem()
    T, P = 0.1, y.size
    M = np.linalg.inv(T * np.eye(P) + K)
    slope = (y @ M @ K @ M @ y - np.trace(M @ K)) / P
    for n1 in (4000, 40_000, 400_000):
        q = solve_renormalisation(K, y, hidden_widths=n1, temperature=T).q_bar[0]
        alpha1 = P / n1
        assert abs(q - 1.0 - slope * alpha1) < 5 * alpha1**2 * (1 + slope**2)


def test_deep_linear_solver_matches_direct_minimisation():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((30, 20))
    y = 0.4 * X @ rng.standard_normal(20) / math.sqrt(20) + 0.1 * rng.standard_normal(30)
    K = nngp_kernel(X, "linear", depth=2)
    widths, T = (15, 40), 0.05
    sol = solve_renormalisation(K, y, hidden_widths=widths, temperature=T)
    direct = minimize(lambda t: effective_action(np.exp(t), K, y, hidden_widths=widths, temperature=T),
                      x0=np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14})
    assert np.allclose(sol.q_bar, np.exp(direct.x), rtol=1e-5)
    # stationarity: N_l (Qbar_l - 1) is the same for every layer
    assert 15 * (sol.q_bar[0] - 1) == pytest.approx(40 * (sol.q_bar[1] - 1), rel=1e-9)


def test_deep_linear_zero_temperature_equal_widths_is_a_polynomial_root():
    for L, alpha, r in [(2, 0.5, 0.3), (3, 2.0, 1.7), (4, 1.0, 0.8)]:
        q = deep_linear_zero_temperature(r, [alpha] * L)
        assert np.allclose(q, q[0])
        assert q[0] ** (L + 1) - (1 - alpha) * q[0] ** L - alpha * r == pytest.approx(0.0, abs=1e-11)
    K = nngp_kernel(np.random.default_rng(8).standard_normal((25, 40)), "linear", depth=3)
    y = np.random.default_rng(9).standard_normal(25)
    sol = solve_renormalisation(K, y, hidden_widths=(10, 25, 50), temperature=1e-9)
    expected = deep_linear_zero_temperature(target_ratio(K, y), [2.5, 1.0, 0.5])
    assert np.allclose(sol.q_bar, expected, rtol=1e-5)


def test_no_minimum_errors():
    with pytest.raises(NoMinimumError):
        q_bar_zero_temperature(0.0, 2.0)
    with pytest.raises(NoMinimumError):
        deep_linear_zero_temperature(0.0, [1.0, 2.0])
    K, _ = problem()
    with pytest.raises(NoMinimumError):  # y = 0, alpha1 > 1: the minimum runs to Qbar ~ T -> 0
        solve_renormalisation(K, np.zeros(K.shape[0]), hidden_widths=10, temperature=1e-30)


def test_action_and_solver_input_errors():
    K, y = problem()
    with pytest.raises(ValueError, match="temperature"):
        solve_renormalisation(K, y, hidden_widths=10, temperature=0.0)
    with pytest.raises(ValueError, match="hidden widths"):
        solve_renormalisation(K, y, hidden_widths=0, temperature=0.1)
    with pytest.raises(ValueError, match="semi-definite"):
        solve_renormalisation(-K, y, hidden_widths=10, temperature=0.1)
    with pytest.raises(ValueError, match="length"):
        solve_renormalisation(K, y[:-1], hidden_widths=10, temperature=0.1)
    with pytest.raises(ValueError, match="q_bar"):
        effective_action([1.0, 1.0], K, y, hidden_widths=10, temperature=0.1)
    with pytest.raises(ValueError, match="alpha1"):
        q_bar_zero_temperature(1.0, -1.0)
    with pytest.raises(ValueError, match="positive definite"):
        target_ratio(np.zeros((3, 3)), np.ones(3))


# --- predictor -------------------------------------------------------------------------------------


def test_gp_predict_matches_schur_complement_and_monte_carlo():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((35, 25))
    full = nngp_kernel(X, "erf")
    P, T, s, lam = 25, 0.07, 0.6, 2.0
    y = rng.standard_normal(P)
    pred = gp_predict(full[:P, :P], full[P:, :P], full[P:, P:], y, temperature=T, kernel_scale=s,
                      readout_precision=lam, full_covariance=True)
    # independent: joint Gaussian of (y, f_test) with covariance c full + T on the training block
    C = (s / lam) * full
    C[:P, :P] += T * np.eye(P)
    prec = np.linalg.inv(C)
    cov = np.linalg.inv(prec[P:, P:])
    mean = -cov @ prec[P:, :P] @ y
    assert np.allclose(pred.mean, mean, atol=1e-10)
    assert np.allclose(pred.covariance, cov, atol=1e-10)
    assert np.allclose(pred.variance, np.diag(cov), atol=1e-10)
    # bias^2 + variance against Monte Carlo over the GP posterior
    y_test = rng.standard_normal(10)
    err = generalisation_error(y_test, pred)
    f = rng.multivariate_normal(pred.mean, pred.covariance, size=200_000)
    sq = np.mean((y_test - f) ** 2, axis=1)
    assert abs(err.total - sq.mean()) < 4 * sq.std() / math.sqrt(sq.size)
    assert err.total == pytest.approx(err.bias2 + err.variance)


def test_zero_temperature_mean_is_independent_of_qbar_and_variance_scales():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((30, 40))
    full = nngp_kernel(X, "erf")
    y = rng.standard_normal(20)
    args = (full[:20, :20], full[20:, :20], np.diag(full[20:, 20:]), y)
    a = gp_predict(*args, temperature=0.0, kernel_scale=1.0)
    b = gp_predict(*args, temperature=0.0, kernel_scale=0.3)
    assert np.allclose(a.mean, b.mean, atol=1e-9)
    assert np.allclose(b.variance, 0.3 * a.variance, atol=1e-10)


def test_predictor_errors():
    K = np.eye(3)
    with pytest.raises(ValueError, match="shapes"):
        gp_predict(K, np.ones((2, 4)), np.ones(2), np.ones(3), temperature=0.1)
    with pytest.raises(ValueError, match="full test kernel"):
        gp_predict(K, np.ones((2, 3)), np.ones(2), np.ones(3), temperature=0.1, full_covariance=True)
    with pytest.raises(ValueError, match="temperature"):
        gp_predict(K, np.ones((2, 3)), np.ones(2), np.ones(3), temperature=-1.0)
    with pytest.raises(ValueError, match="y_test"):
        generalisation_error(np.ones(3), Prediction(np.ones(2), np.ones(2)))


# --- GLM prediction ---------------------------------------------------------------------------------


def test_glm_prediction_for_erf_closed_forms():
    """erf with input variance v: rho1 = (2/sqrt(pi)) / sqrt(1 + 2v), sigma1 = (2/pi) arcsin(2v/(1+2v))."""
    v, va = 0.8, 1.5
    out = glm_prediction("erf", weight_variance=v, readout_variance=va, noise=0.1, alpha=2.0)
    rho = 2 / math.sqrt(math.pi) / math.sqrt(1 + 2 * v)
    sigma = 2 / math.pi * math.asin(2 * v / (1 + 2 * v))
    assert out["kappa"] == pytest.approx(va * v * rho**2, rel=1e-12)
    assert out["gamma0"] == pytest.approx(va * (sigma - v * rho**2), rel=1e-10)
    assert out["test_error"] == pytest.approx(out["posterior_variance"] + 0.1)
    with pytest.raises(ValueError, match="odd"):
        glm_prediction("relu", noise=0.1, alpha=1.0)

"""Tests of deepgep.theory.state_evolution: replica-symmetric state evolution of the
Bayes-optimal GLM (book eq-linear-closed-form).

Identities first: the closed form of the linear channel, I-MMSE, the indexing of the iteration's
trajectory, the envelope theorem ``df/dalpha = Psi_out(q*)``, stationarity of ``f_RS`` in ``q``
and ``q_hat``, the Nishimori consistency of the returned point; then the sign channel of the
reference deep model, the noiseless perceptron's asymptote, the branch selection at a
first-order transition, the error paths and the benchmark's smoke test.

Fixed points are iterated until ``|q_{t+1} - q_t| < tol``; with a contraction rate ``r < 1`` the
distance to the true fixed point is at most ``tol r / (1 - r)``. Free entropies and mutual
informations are stationary in ``(q, q_hat)``, so their error is second order in that distance.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq, minimize_scalar
from scipy.special import log_ndtr

from deepgep.theory.channels import AbsChannel, GaussianChannel, SignChannel, make_channel
from deepgep.theory.state_evolution import (
    ConvergenceError,
    bayes_optimal_curve,
    fixed_point,
    free_entropy,
    gaussian_closed_form,
    identity_checks,
    iterate,
    q_hat_of,
    solve,
    state_evolution_trajectory,
)

ROOT = Path(__file__).resolve().parents[2]
KAPPA, GAMMA0 = 0.409095, 0.152506
ALPHAS = np.linspace(0.1, 7.0, 70)


@pytest.fixture(scope="module")
def sign_curve():
    return bayes_optimal_curve(SignChannel(GAMMA0), KAPPA, ALPHAS)


# --- linear channel: closed form and I-MMSE ----------------------------------------------------


@pytest.mark.parametrize("kappa, noise, tol", [(KAPPA, GAMMA0, 1e-10), (1.0, 0.5, 1e-10), (1.0, 0.05, 1e-12)])
def test_linear_channel_matches_closed_form(kappa, noise, tol):
    """q, q_hat, mse, test error and I/d0 against the closed forms of book eq-linear-closed-form over alpha in [0.1, 7].
    The stopping rule bounds the step, not the error: the error is tol r / (1 - r). For the reference
    model (noise/kappa = 0.37) tol = 1e-10 leaves 2.3e-10 relative on mse = 1 - q; at noise/kappa =
    0.05 the rate near alpha = 1 approaches 1 and tol = 1e-10 leaves 1.9e-9, so that case runs at
    1e-12. 1e-9 relative; I/d0 is stationary in q, so it is exact to rounding (measured 7e-16)."""
    r = bayes_optimal_curve(GaussianChannel(noise), kappa, ALPHAS, tol=tol)
    closed = {k: np.array([gaussian_closed_form(kappa, noise, a)[k] for a in ALPHAS])
              for k in ("q", "q_hat", "mse", "test_error", "mutual_information")}
    for key in ("q", "q_hat", "mse", "test_error"):
        np.testing.assert_allclose(r[key], closed[key], rtol=1e-9, atol=0, err_msg=key)
    np.testing.assert_allclose(r["mutual_information"], closed["mutual_information"], rtol=1e-12, atol=0)
    assert not r["branches_disagree"].any()


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.5, 6.0])
@pytest.mark.parametrize("snr", [0.5, 2.0])
def test_i_mmse_for_the_linear_channel(alpha, snr):
    """Y = sqrt(snr) X a / sqrt(d) + xi, xi ~ N(0, I_n): kappa = snr, noise = 1. Guo-Shamai-Verdu
    for the vector channel: dI(a; Y | X)/dsnr = (1/2) E||Xa/sqrt(d) - E[Xa/sqrt(d) | Y, X]||^2, so
    per input dimension dI/dsnr = (alpha/2) mmse_z with mmse_z the *in-sample* MMSE of one
    z_mu = a.x_mu / sqrt(d). It is not the prediction error 1 - q of a fresh z: the observation
    y_mu itself sharpens z_mu, whose cavity prior N(omega, 1 - q) times the likelihood
    N(y; sqrt(snr) z, 1) gives mmse_z = (1 - q) / (1 + snr (1 - q)).

    Central differences in snr, h = 1e-4 snr: truncation h^2 I''' / 6 measured <= 3e-9 relative,
    rounding 1e-16 / h < 1e-11: 1e-7 relative. Checked on the closed form and on state evolution."""
    h = 1e-4 * snr
    q = gaussian_closed_form(snr, 1.0, alpha)["q"]
    mmse_z = (1.0 - q) / (1.0 + snr * (1.0 - q))

    def mi_closed(s):
        return gaussian_closed_form(s, 1.0, alpha)["mutual_information"]

    def mi_se(s):
        return float(bayes_optimal_curve(GaussianChannel(1.0), s, [alpha])["mutual_information"][0])

    for mi in (mi_closed, mi_se):
        d_mi = (mi(snr + h) - mi(snr - h)) / (2 * h)
        assert d_mi == pytest.approx(0.5 * alpha * mmse_z, rel=1e-7)
    # The out-of-sample error in place of the in-sample one is wrong by the factor 1 + snr (1 - q).
    assert abs((mi_closed(snr + h) - mi_closed(snr - h)) / (2 * h) - 0.5 * alpha * (1 - q)) > 1e-3


# --- the trajectory of the iteration ------------------------------------------------------------


def test_state_evolution_trajectory_indexing_and_fixed_point():
    kappa, noise, alpha = 1.0, 0.25, 2.0
    channel = GaussianChannel(noise)
    q = state_evolution_trajectory(channel, kappa, alpha, 60)
    assert q.shape == (61,) and q[0] == 0.0
    # q_1 is the first step from q_0 = 0: q_hat_0 = alpha kappa / (kappa + noise)
    q_hat0 = alpha * kappa / (kappa + noise)
    assert q[1] == pytest.approx(q_hat0 / (1 + q_hat0), rel=1e-14)
    assert q[2] == pytest.approx(q_hat_of(channel, kappa, alpha, q[1]) / (1 + q_hat_of(channel, kappa, alpha, q[1])))
    assert np.all(np.diff(q) >= -1e-15)
    assert q[-1] == pytest.approx(gaussian_closed_form(kappa, noise, alpha)["q"], abs=1e-10)
    sign = SignChannel(GAMMA0)
    qs = state_evolution_trajectory(sign, KAPPA, 3.0, 80, q0=0.1)
    assert qs[0] == 0.1
    assert qs[-1] == pytest.approx(iterate(sign, KAPPA, 3.0, 1e-6)[0], abs=1e-8)
    with pytest.raises(ValueError):
        state_evolution_trajectory(channel, kappa, alpha, 5, q0=1.5)
    with pytest.raises(ValueError):
        state_evolution_trajectory(channel, kappa, -1.0, 5)
    with pytest.raises(ValueError):
        state_evolution_trajectory(channel, kappa, alpha, -1)


# --- envelope theorem and stationarity ---------------------------------------------------------

CHANNELS = [GaussianChannel(GAMMA0), SignChannel(GAMMA0), SignChannel(0.0)]


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: f"{c.name}-{getattr(c, 'total_noise', getattr(c, 'noise', 0))}")
@pytest.mark.parametrize("alpha", [0.5, 2.0, 5.0])
def test_free_entropy_derivative_in_alpha_is_psi_out(channel, alpha):
    """df_RS(q*(alpha), q_hat*(alpha); alpha)/dalpha = Psi_out(q*) (envelope theorem), and hence
    dI/dalpha = Psi_out(1) - Psi_out(q*) >= 0. Fixed points recomputed at alpha +- h (tol 1e-13,
    warm-started): their error enters f only at second order. h = 1e-4: truncation h^2 f''' / 6
    < 1e-9; 1e-7 relative."""
    h = 1e-4
    opts = dict(tol=1e-13)
    fp = fixed_point(channel, KAPPA, alpha, 0.5, "uninformed", **opts)
    f_plus = fixed_point(channel, KAPPA, alpha + h, fp.q, "uninformed", **opts).free_entropy
    f_minus = fixed_point(channel, KAPPA, alpha - h, fp.q, "uninformed", **opts).free_entropy
    psi = channel.psi_out(KAPPA, fp.q)
    assert (f_plus - f_minus) / (2 * h) == pytest.approx(psi, rel=1e-7)
    r = bayes_optimal_curve(channel, KAPPA, [alpha - h, alpha, alpha + h])
    d_mi = (r["mutual_information"][2] - r["mutual_information"][0]) / (2 * h)
    assert d_mi == pytest.approx(channel.psi_out(KAPPA, 1.0) - psi, rel=1e-6)
    assert d_mi > 0


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: f"{c.name}-{getattr(c, 'total_noise', getattr(c, 'noise', 0))}")
@pytest.mark.parametrize("alpha", [0.5, 2.0, 5.0])
def test_free_entropy_is_stationary_at_the_fixed_point(channel, alpha):
    """df/dq_hat = (1/2)(q_hat/(1+q_hat) - q) and df/dq = -q_hat/2 + alpha Psi_out'(q) vanish: central
    differences (h = 1e-5; rounding 1e-16 / h = 1e-11, truncation h^2 f''' < 1e-8) below 1e-7 in
    absolute value (f and its second derivatives are O(1) to O(10) here)."""
    h = 1e-5
    r = bayes_optimal_curve(channel, KAPPA, [alpha])
    q, qh = float(r["q"][0]), float(r["q_hat"][0])

    def f(q_, qh_):
        return free_entropy(channel, KAPPA, alpha, q_, qh_)

    d_qhat = (f(q, qh + h) - f(q, qh - h)) / (2 * h)
    d_q = (f(q + h, qh) - f(q - h, qh)) / (2 * h)
    assert abs(d_qhat) < 1e-7
    assert abs(d_q) < 1e-7
    assert free_entropy(channel, KAPPA, alpha, q, qh) == pytest.approx(float(r["free_entropy"][0]), rel=1e-15)


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: f"{c.name}-{getattr(c, 'total_noise', getattr(c, 'noise', 0))}")
def test_returned_point_is_a_consistent_fixed_point(channel):
    """Nishimori: q_hat = alpha kappa E[g^2](q) at the returned q (recomputed there, so to rounding),
    and q = q_hat / (1 + q_hat) within the stopping tolerance."""
    tol = 1e-10
    r = bayes_optimal_curve(channel, KAPPA, ALPHAS[::7], tol=tol)
    for a, q, qh in zip(r["alpha"], r["q"], r["q_hat"]):
        assert qh == pytest.approx(a * KAPPA * channel.mean_g_out_squared(KAPPA, q), rel=1e-15)
        assert qh == pytest.approx(q_hat_of(channel, KAPPA, a, q), rel=1e-15)  # compiled loop: same sum, other rounding order
        assert abs(q - qh / (1 + qh)) <= tol
    np.testing.assert_allclose(r["mse"], 1 - r["q"], rtol=0, atol=0)
    np.testing.assert_allclose(r["mutual_information_per_sample"] * r["alpha"], r["mutual_information"], rtol=1e-15)


# --- the sign channel of the reference deep model ----------------------------------------------


def test_sign_curve_is_monotone(sign_curve):
    """More data: lower test error, more information per input dimension, less per sample (each new
    label is partly predictable from the previous ones); a probit channel has no first-order
    transition, so the two branches agree everywhere."""
    r = sign_curve
    assert np.all(np.diff(r["q"]) > 0)
    assert np.all(np.diff(r["test_error"]) < 0)
    assert np.all(np.diff(r["mutual_information"]) > 0)
    assert np.all(np.diff(r["mutual_information_per_sample"]) < 0)
    assert not r["branches_disagree"].any()
    np.testing.assert_allclose(r["q_informed"], r["q_uninformed"], rtol=1e-8)
    assert np.all((r["test_error"] > 0) & (r["test_error"] < 0.5))


def test_sign_mutual_information_per_sample_at_small_alpha():
    """As alpha -> 0 each label is informative on its own: I/n -> H(Y) - H(Y | z) = ln 2 + Psi_out(1)
    (dI/dalpha = Psi_out(1) - Psi_out(0) and Psi_out(0) = -ln 2). At alpha = 1e-3 the O(alpha)
    correction is measured 1.7e-4 relative: 1e-3; the bound I/n < ln 2 + Psi_out(1) holds all along."""
    ch = SignChannel(GAMMA0)
    limit = math.log(2.0) + ch.psi_out(KAPPA, 1.0)
    r = bayes_optimal_curve(ch, KAPPA, [1e-3])
    assert float(r["mutual_information_per_sample"][0]) == pytest.approx(limit, rel=1e-3)
    assert ch.psi_out(KAPPA, 0.0) == pytest.approx(-math.log(2.0), rel=1e-13)


def test_sign_mutual_information_is_bounded_by_label_entropy(sign_curve):
    limit = math.log(2.0) + SignChannel(GAMMA0).psi_out(KAPPA, 1.0)
    assert np.all(sign_curve["mutual_information_per_sample"] < limit)


# --- the noiseless perceptron ------------------------------------------------------------------


def perceptron_asymptote() -> float:
    """Large-alpha Bayes error of the noiseless perceptron, alpha eps_g -> sqrt(2 pi) / (pi C),
    C = int phi(t)^2 / (Phi(t) Phi(-t)) dt. Derivation: at q -> 1, W = 1 - q and the scale
    sqrt(q / W) -> inf, so E[g^2] = E_zeta F(s zeta) / W -> C / (sqrt(2 pi) sqrt(1 - q)); the fixed
    point 1/(1-q) = alpha E[g^2] gives sqrt(1 - q) = sqrt(2 pi) / (alpha C), and
    eps_g = arccos(sqrt q) / pi ~ sqrt(1 - q) / pi. C = 1.80639..., constant 0.441700 (Opper and
    Haussler, PRL 1991, find the Bayes error below the Gibbs one by a factor -> sqrt 2)."""
    C, _ = quad(lambda t: math.exp(-t * t - math.log(2 * math.pi) - log_ndtr(t) - log_ndtr(-t)),
                -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13)
    return math.sqrt(2 * math.pi) / (math.pi * C)


def test_noiseless_perceptron():
    """Psi_out(1) = 0 makes I/d0 = -f_RS exactly; alpha eps_g approaches the asymptote above with a
    1/alpha^2 correction (measured -0.61/alpha^2, asserted below 1/alpha^2 and increasing); between
    alpha = 20 and 40 alpha eps_g changes by < 2%."""
    c = perceptron_asymptote()
    assert c == pytest.approx(0.4417, abs=1e-4)
    alphas = np.array([20.0, 40.0, 80.0])
    r = bayes_optimal_curve(SignChannel(0.0), 1.0, alphas)
    np.testing.assert_array_equal(r["mutual_information"], -r["free_entropy"])
    scaled = r["test_error"] * alphas
    assert np.all(np.abs(scaled - c) < 1.0 / alphas**2)
    assert np.all(np.diff(scaled) > 0)
    assert abs(scaled[1] / scaled[0] - 1) < 0.02


# --- first-order transition: branch selection --------------------------------------------------


class BistableChannel:
    """A toy channel with an exactly known first-order transition (kappa = 1): kappa E[g^2](q) =
    h(q) = 1 + 30 q^8 and Psi_out(q) = (1/2) int_0^q h - 1, consistent with 2 Psi' = kappa E[g^2].
    The fixed points are the solutions of alpha = q / ((1 - q) h(q)), a curve that rises, falls
    (q ~ 0.6 to 0.87) and rises again: two stable branches coexist between its local min and max.
    Everything is a polynomial, so the reference points are exact to rounding."""

    name, noise, satisfies_theorem = "bistable", 0.0, False
    C0, C1, M = 1.0, 30.0, 8

    def h(self, q):
        return self.C0 + self.C1 * q**self.M

    def mean_g_out_squared(self, kappa, q):
        return self.h(q) / kappa

    def psi_out(self, kappa, q):
        return 0.5 * (self.C0 * q + self.C1 * q ** (self.M + 1) / (self.M + 1)) - 1.0

    def bayes_test_error(self, kappa, q):
        return 1.0 - q

    def alpha_of_q(self, q):
        return q / ((1.0 - q) * self.h(q))


def test_branch_selection_at_a_first_order_transition():
    ch = BistableChannel()
    q_top = minimize_scalar(lambda q: -ch.alpha_of_q(q), bounds=(0.3, 0.75), method="bounded",
                            options={"xatol": 1e-12}).x
    q_bottom = minimize_scalar(ch.alpha_of_q, bounds=(0.75, 0.99), method="bounded",
                               options={"xatol": 1e-12}).x
    a_low, a_high = ch.alpha_of_q(q_bottom), ch.alpha_of_q(q_top)  # the spinodals
    assert 0.6 < a_low < a_high < 1.05

    def branches(a):
        lo = brentq(lambda q: ch.alpha_of_q(q) - a, 1e-12, q_top, xtol=1e-15) if a < a_high else None
        hi = brentq(lambda q: ch.alpha_of_q(q) - a, q_bottom, 1 - 1e-12, xtol=1e-15) if a > a_low else None
        return lo, hi

    def f_at(a, q):
        qh = a * ch.h(q)
        return free_entropy(ch, 1.0, a, q, qh)

    a_star = brentq(lambda a: f_at(a, branches(a)[0]) - f_at(a, branches(a)[1]), a_low + 1e-9, a_high - 1e-9)
    grid = np.array([0.3, 0.5, a_low - 0.05, a_low + 0.03, a_star - 0.03, a_star + 0.03, a_high - 0.03,
                     a_high + 0.05, 1.3, 1.6])
    r = bayes_optimal_curve(ch, 1.0, grid)
    inside = (grid > a_low) & (grid < a_high)
    np.testing.assert_array_equal(r["branches_disagree"], inside)
    for i, a in enumerate(grid):
        lo, hi = branches(a)
        # Contraction rates at these points <= 0.75 (measured): tol 1e-10 leaves < 1e-9.
        if lo is not None:
            assert r["q_uninformed"][i] == pytest.approx(lo, abs=1e-9)
        if hi is not None:
            assert r["q_informed"][i] == pytest.approx(hi, abs=1e-9)
        expected = lo if hi is None or (lo is not None and a < a_star) else hi
        assert r["q"][i] == pytest.approx(expected, abs=1e-9)
        assert r["free_entropy"][i] == pytest.approx(max(f_at(a, x) for x in (lo, hi) if x is not None), abs=1e-12)
    # Inside the window, below the Maxwell point the uninformed (low) branch is Bayes-optimal
    # although the informed one exists; above it the informed one, which the uninformed
    # iteration (an algorithm started from no information) does not reach: the hard phase.
    below, above = int(np.argmin(np.abs(grid - (a_star - 0.03)))), int(np.argmin(np.abs(grid - (a_star + 0.03))))
    assert r["q"][below] == r["q_uninformed"][below] < r["q_informed"][below]
    assert r["q"][above] == r["q_informed"][above] > r["q_uninformed"][above]
    np.testing.assert_allclose(r["mutual_information"], -r["free_entropy"] + grid * ch.psi_out(1.0, 1.0), rtol=1e-15)


def test_phase_retrieval_first_order_transition():
    """The plain GLM with y = |z| + sqrt(noise) xi (not odd, outside the theorem), kappa = 1.

    Fixed points solve alpha = q / ((1 - q) kappa E[g^2](q)). At noise 0.01 this curve is increasing
    (measured on 100 q in [0.5, 0.995], and independently with the closed-form reference of
    tests/theory/test_channels.py): no coexistence, the transition is continuous. At noise 1e-3 it folds back
    (window alpha in (1.124, 1.137)), at 1e-4 the window is wide ((< 1.06, 1.129)): there the two
    iterations land on different fixed points, and the Bayes-optimal one (larger f_RS) at alpha = 1.1
    is the informed one, which the uninformed iteration does not reach: the hard phase."""
    smooth = make_channel("abs", 0.0, noise=0.01)
    qs = np.linspace(0.5, 0.99, 15)
    assert np.all(np.diff([q / ((1 - q) * smooth.mean_g_out_squared(1.0, q)) for q in qs]) > 0)

    ch = make_channel("abs", 0.0, noise=1e-4)
    grid = [0.9, 1.1, 1.3]
    r = bayes_optimal_curve(ch, 1.0, grid, max_iter=2000)
    np.testing.assert_array_equal(r["branches_disagree"], [False, True, False])
    qu, qi = float(r["q_uninformed"][1]), float(r["q_informed"][1])
    f_u = free_entropy(ch, 1.0, 1.1, qu, q_hat_of(ch, 1.0, 1.1, qu))
    f_i = free_entropy(ch, 1.0, 1.1, qi, q_hat_of(ch, 1.0, 1.1, qi))
    assert qu < 0.8 < 0.99 < qi and f_i > f_u
    assert r["q"][1] == qi and r["free_entropy"][1] == pytest.approx(f_i, rel=1e-12)


@pytest.mark.parametrize(
    "channel, kappa, alpha",
    [(GaussianChannel(GAMMA0), KAPPA, 0.5), (GaussianChannel(GAMMA0), KAPPA, 3.0), (SignChannel(GAMMA0), KAPPA, 2.0),
     (SignChannel(0.0), 1.0, 5.0)],
    ids=["linear-0.5", "linear-3", "sign-2", "sign0-5"],
)
def test_module_identity_checks(channel, kappa, alpha):
    """state_evolution.identity_checks (its own central differences, step 1e-5). df/dq = -q_hat/2 +
    alpha Psi_out'(q) cancels two terms of size q_hat/2, and the truncation step^2 alpha Psi'''/6 grows
    as q -> 1: every pair equal to 1e-8 (1 + q_hat*) (measured <= 1.3e-9 of that scale, noiseless sign
    at q* = 0.93; the other entries <= 1.2e-11)."""
    scale = 1.0 + solve(channel, kappa, alpha).q_hat
    for name, (lhs, rhs) in identity_checks(channel, kappa, alpha).items():
        assert abs(lhs - rhs) <= 1e-8 * scale, name


@pytest.mark.parametrize("channel, alpha", [(AbsChannel(0.0, 0.01), 0.2), (SignChannel(0.0), 500.0)],
                         ids=["abs-uninformed", "sign0-q-near-1"])
def test_module_identity_checks_at_the_edges_of_the_overlap_range(channel, alpha):
    # At 1 - q* = 7.7e-6 the q-step is 4e-11 and Psi_out' ~ 130: quadrature rounding (~1e-15 in
    # Psi_out) over that step limits the derivative to ~1e-6 relative (measured 1.06e-6), so the
    # relative tolerance is 1e-5 there; elsewhere the identities hold to ~1e-10.
    for name, (lhs, rhs) in identity_checks(channel, 1.0, alpha).items():
        assert lhs == pytest.approx(rhs, rel=1e-5, abs=1e-8), name


# --- errors ------------------------------------------------------------------------------------


def test_errors():
    ch = SignChannel(GAMMA0)
    for bad in ([0.0, 1.0], [-1.0], [1.0, math.inf]):
        with pytest.raises(ValueError, match="alpha"):
            bayes_optimal_curve(ch, KAPPA, bad)
    for bad in ([1.0, 1.0], [2.0, 1.0], []):
        with pytest.raises(ValueError, match="increasing"):
            bayes_optimal_curve(ch, KAPPA, bad)
    for damping in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="damping"):
            bayes_optimal_curve(ch, KAPPA, [1.0], damping=damping)
    with pytest.raises(ConvergenceError, match="max_iter"):
        bayes_optimal_curve(ch, KAPPA, [1.0], max_iter=1)
    with pytest.raises(ConvergenceError, match="max_iter"):
        iterate(ch, KAPPA, 1.0, 1e-6, max_iter=1)
    with pytest.raises(ValueError, match="kappa"):
        bayes_optimal_curve(ch, 0.0, [1.0])


def test_damping_reaches_the_same_fixed_point():
    ch = SignChannel(GAMMA0)
    plain = bayes_optimal_curve(ch, KAPPA, [0.5, 3.0])
    damped = bayes_optimal_curve(ch, KAPPA, [0.5, 3.0], damping=0.5)
    # Stopping on |step| = (1 - damping) |F(q) - q| < tol: the residual is up to tol / (1 - damping).
    np.testing.assert_allclose(damped["q"], plain["q"], rtol=0, atol=1e-8)
    assert np.all(damped["iterations"] > plain["iterations"])


# --- benchmark smoke test ----------------------------------------------------------------------


def test_benchmark_quick_run():
    """benchmarks/bench_state_evolution.py --quick completes, agrees (it exits 1 if the methods'
    q differ by more than 1e-8) and prints its ratio lines. The speed verdicts are informational."""
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / "_build" / "numba_cache"))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_state_evolution.py"), "--quick"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert re.search(r"100 alpha points", text), text
    line = r"speed ratio (numpy|quad) / deepgep \(([^)]*)\): ([0-9.]+)x .*\[(PASS|FAIL): expected >= (\d+)x\]"
    ratios = re.findall(line, text)
    assert {(m[0], m[1]) for m in ratios} >= {("numpy", "single branch, like for like"),
                                             ("quad", "single branch, like for like")}, text
    assert "numpy / bayes_optimal_curve" in text, text
    diff = re.search(r"max \|q difference\| between methods: ([0-9.e+-]+)", text)
    assert diff and float(diff.group(1)) <= 1e-8, text
    assert re.search(r"compilation \(fresh process, empty numba cache\): [0-9.]+ s", text), text

"""Tests of deepgep.theory.deep_linear_outputs: the laws of the outputs of a deep linear network
at proportional depth (Chapter 8, book eq-deep-linear-limit).

One output: the scale-mixture density and CDF against their moments, the NNGP Gaussian at depth
zero and the Gauss-Hermite proportional limit. Two inputs: the hidden Gram matrix recursion
against the scale mixture, closed forms, and sampled networks (Monte Carlo tolerances of four
standard errors); then the error paths.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad

from deepgep.simulate.deep_linear import sample_deep_linear
from deepgep.support.stats import covariance_estimate, mean_estimate
from deepgep.theory.deep_linear import limit_nodes, scale_moment
from deepgep.theory.deep_linear_outputs import (
    gaussian_distance,
    gram_fourth_moments,
    limit_output_cdf,
    limit_output_pdf,
    limit_two_input_moments,
    output_cdf,
    output_pdf,
    two_input_moments,
)

#: Monte Carlo tolerance in standard errors (a correct estimate fails with probability < 1e-4).
Z_MC = 4.0


# --- one output -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n, L, q0", [(4, 1, 1.0), (16, 4, 0.7), (16, 16, 1.0), (8, 16, 2.0)])
def test_output_density_moments(n, L, q0):
    """The mixture density integrates to one, has variance q0 (E s = 1) and fourth moment
    3 q0^2 (1 + 2/N)^L; at zero it equals E s^{-1/2} / sqrt(2 pi q0); its CDF is its integral."""
    # Trapezoid rule in f = 1e-3 sinh(u): resolves the narrow components of small s near zero
    # and the heavy tails (smooth integrand: spectral convergence).
    u = np.linspace(-16.0, 16.0, 8001)
    f, jac = 1e-3 * np.sinh(u), 1e-3 * np.cosh(u) * (u[1] - u[0])
    dens = output_pdf(f, n, L, q0) * jac
    moments = [float(np.sum(f**k * dens)) for k in (0, 2, 4)]
    assert moments[0] == pytest.approx(1.0, abs=1e-8)
    assert moments[1] == pytest.approx(q0, rel=1e-7)
    # E f^4 weights the far right tail of ln s by s^2, where densities below the rounding floor
    # of the Fourier inversion (~1e-14) were set to zero: 1e-5 relative at lambda = 2.
    assert moments[2] == pytest.approx(3 * q0**2 * (1 + 2 / n) ** L, rel=1e-5)
    pdf = lambda x: float(output_pdf(np.array([x]), n, L, q0)[0])  # noqa: E731
    assert pdf(0.0) == pytest.approx(scale_moment(-0.5, n, L) / math.sqrt(2 * math.pi * q0), rel=1e-9)
    f = np.linspace(-3, 3, 13)
    h = 1e-5
    derivative = (output_cdf(f + h, n, L, q0) - output_cdf(f - h, n, L, q0)) / (2 * h)
    np.testing.assert_allclose(derivative, output_pdf(f, n, L, q0), rtol=1e-6, atol=1e-9)
    assert output_cdf(np.array([0.0]), n, L, q0)[0] == pytest.approx(0.5, abs=1e-12)


def test_output_law_depth_zero_is_the_nngp_gaussian():
    f = np.linspace(-4, 4, 9)
    gauss = stats.norm(scale=math.sqrt(2.0))
    np.testing.assert_allclose(output_pdf(f, 7, 0, 2.0), gauss.pdf(f), rtol=1e-14)
    np.testing.assert_allclose(limit_output_cdf(f, 0.0, 2.0), gauss.cdf(f), rtol=1e-14)
    assert gaussian_distance(7, 0) == 0.0


def test_limit_output_law_moments_and_agreement_with_finite_n():
    """The Gauss-Hermite limit has E f^2 = q0, E f^4 = 3 q0^2 e^{2 lambda}, and the exact law at
    N = 2000, L = 2000 lambda is within O(1/N) of it."""
    lam, q0 = 0.5, 1.3
    nodes, weights = limit_nodes(lam)
    assert float(np.sum(weights * np.exp(nodes))) == pytest.approx(1.0, rel=1e-12)
    assert float(np.sum(weights * np.exp(2 * nodes))) == pytest.approx(math.exp(2 * lam), rel=1e-10)
    u = np.linspace(-16.0, 16.0, 8001)
    g, jac = 1e-3 * np.sinh(u), 1e-3 * np.cosh(u) * (u[1] - u[0])
    dens = limit_output_pdf(g, lam, q0) * jac
    assert float(np.sum(dens)) == pytest.approx(1.0, abs=1e-9)
    assert float(np.sum(g**4 * dens)) == pytest.approx(3 * q0**2 * math.exp(2 * lam), rel=1e-8)
    f = np.linspace(-6, 6, 241)
    limit_pdf = limit_output_pdf(f, lam, q0)
    exact_pdf = output_pdf(f, 2000, 1000, q0)
    assert np.max(np.abs(exact_pdf - limit_pdf)) < 2e-3
    assert np.max(np.abs(output_cdf(f, 2000, 1000, q0) - limit_output_cdf(f, lam, q0))) < 2e-3


# --- two inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n, L", [(1, 1), (3, 5), (16, 32), (100, 7)])
def test_gram_recursion_agrees_with_scale_mixture(n, L):
    """The layer-by-layer recursion of the hidden Gram matrix and the scale-mixture derivation
    give the same E f_a^2 f_b^2 = E[G_aa G_bb + 2 G_ab^2]."""
    rng = np.random.default_rng(n + L)
    x_a, x_b = rng.standard_normal(5), rng.standard_normal(5)
    g_aa, g_bb, g_ab = x_a @ x_a / 5, x_b @ x_b / 5, x_a @ x_b / 5
    m_diag, m_off = gram_fourth_moments(g_aa, g_bb, g_ab, n, L)
    moments = two_input_moments(x_a, x_b, n, L)
    assert m_diag + 2 * m_off == pytest.approx(moments["mean_fa2_fb2"], rel=1e-12)
    assert moments["cov_f"] == pytest.approx(g_ab, rel=1e-14)


def test_two_input_closed_forms():
    x_a, x_b = np.array([1.0, 0.0]) * math.sqrt(2), np.array([0.0, 1.0]) * math.sqrt(2)
    n, L = 16, 8
    m = two_input_moments(x_a, x_b, n, L)
    assert m["cov_f"] == 0.0
    assert m["cov_f2"] == pytest.approx((1 + 2 / n) ** L - 1, rel=1e-13)
    assert m["cov_abs_f"] == pytest.approx(2 / math.pi * (1 - scale_moment(0.5, n, L) ** 2), rel=1e-12)
    lim = limit_two_input_moments(x_a, x_b, 0.5)
    assert lim["cov_f2"] == pytest.approx(math.e - 1, rel=1e-13)
    assert lim["cov_abs_f"] == pytest.approx(2 / math.pi * (1 - math.exp(-0.25)), rel=1e-13)
    # Depth 0: the Gaussian pair (Isserlis: Cov(u^2, v^2) = 2 G_ab^2) and E|u v| by quadrature.
    y = np.array([0.6, 0.8]) * math.sqrt(2)
    g0 = two_input_moments(x_a, y, n, 0)
    assert g0["cov_f2"] == pytest.approx(2 * 0.6**2, rel=1e-13)
    r, sd = 0.6, 0.8  # v | u ~ N(r u, 1 - r^2): E|v| given u is the folded-normal mean

    def folded(mu: float) -> float:
        peak = sd * math.sqrt(2 / math.pi) * math.exp(-mu * mu / (2 * sd * sd))
        return peak + mu * (1 - 2 * stats.norm.cdf(-mu / sd))

    eabs = 2 * quad(lambda u: u * stats.norm.pdf(u) * folded(r * u), 0, np.inf, epsabs=1e-13)[0]
    assert g0["cov_abs_f"] == pytest.approx(eabs - 2 / math.pi, abs=1e-10)


def test_two_inputs_monte_carlo():
    """Correlated inputs, N = 8, L = 2: E f_a f_b, Cov(f_a^2, f_b^2) and Cov(|f_a|, |f_b|) of
    sampled networks within four standard errors of the exact values."""
    X = np.array([[1.0, 0.5], [0.0, math.sqrt(0.75)]]) * math.sqrt(2)
    n, L, m = 8, 2, 60000
    sample = sample_deep_linear(X, n, L, m, np.random.default_rng(5))
    f = sample.outputs
    exact = two_input_moments(X[:, 0], X[:, 1], n, L)
    for key, (est, se) in {
        "cov_f": mean_estimate(f[:, 0] * f[:, 1]),
        "cov_f2": covariance_estimate(f[:, 0] ** 2, f[:, 1] ** 2),
        "cov_abs_f": covariance_estimate(np.abs(f[:, 0]), np.abs(f[:, 1])),
    }.items():
        assert abs(est - exact[key]) < Z_MC * se, (key, est, se, exact[key])


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: output_pdf([0.0], 4, 2, q0=0.0), "q0"),
        (lambda: output_cdf([np.nan], 4, 2), "non-finite"),
        (lambda: two_input_moments([1.0, 2.0], [1.0], 4, 2), "same length"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()

"""Deep linear networks at proportional depth (Chapter 7, SCIENCE.md section 5).

Closed forms against quadrature (the exact law of ln s by Fourier inversion, the output mixture),
against scipy's chi-square, against an independent recursion (the hidden Gram matrix), and
against sampled networks (Monte Carlo tolerances of four standard errors, or the exact
Kolmogorov-Smirnov quantile at level 1e-3); then the sampler's own identities and error paths.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad
from scipy.special import digamma, polygamma

from deepgep import deep_linear as dl

#: Monte Carlo tolerance in standard errors (a correct estimate fails with probability < 1e-4).
Z_MC = 4.0
#: Level of the Kolmogorov-Smirnov checks.
KS_LEVEL = 1e-3


# --- the law of s ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n, L", [(1, 1), (4, 1), (16, 4), (16, 32), (512, 512), (2000, 4000)])
def test_log_scale_law_moments_match_closed_forms(n, L):
    """The Fourier-inverted density reproduces mean, variance and E s^k (k = 2 and the most negative
    power the grid resolves) to quadrature accuracy, from N = L = 1 to N = 2000, L = 4000."""
    law = dl.log_scale_law(n, L)
    mean, var = dl.log_scale_mean_variance(n, L)
    assert mean == pytest.approx(L * (digamma(n / 2) + math.log(2 / n)), rel=1e-14)
    assert var == pytest.approx(L * polygamma(1, n / 2), rel=1e-14)
    assert law.expectation(lambda y: np.ones_like(y)) == pytest.approx(1.0, abs=1e-9)
    assert law.expectation(lambda y: y) == pytest.approx(mean, abs=1e-9 * (1 + abs(mean)))
    assert law.expectation(lambda y: (y - mean) ** 2) == pytest.approx(var, rel=1e-9)
    k_neg = -0.5 if n > 1 else -0.25
    negative_moment = law.expectation(lambda y: np.exp(k_neg * y))
    assert negative_moment == pytest.approx(dl.scale_moment(k_neg, n, L), rel=1e-6)
    # E s^2 weights the right tail by e^{2y}: resolved where it lies within the grid (L/N <= 1).
    if L <= n:
        assert law.expectation(lambda y: np.exp(2 * y)) == pytest.approx(dl.scale_moment(2, n, L), rel=1e-6)


@pytest.mark.parametrize("n", [1, 3, 16, 100])
def test_one_layer_density_is_the_log_chi_square(n):
    """L = 1: ln s = ln(chi^2_N / N), whose density is N e^y chi2_N.pdf(N e^y)."""
    law = dl.log_scale_law(n, 1)
    y = law.grid
    exact = n * np.exp(y) * stats.chi2.pdf(n * np.exp(y), n)
    assert np.max(np.abs(law.density - exact)) < 1e-9 * np.max(exact)


def test_log_scale_law_tends_to_the_proportional_limit():
    """N = 4000, L = 4000: ln s is N(-1, 2) up to O(1/N) (mean -L/N - L/N^2..., third cumulant
    -4 lambda / N): the densities agree to 1e-3."""
    law = dl.log_scale_law(4000, 4000)
    limit = stats.norm.pdf(law.grid, loc=-1.0, scale=math.sqrt(2.0))
    assert np.max(np.abs(law.density - limit)) < 1e-3


def test_log_scale_cdf_against_chi_square_sampling():
    """The law's CDF passes a KS test against ln s simulated from independent chi-squares."""
    rng = np.random.default_rng(11)
    n, L, m = 6, 5, 20000
    y = np.log(rng.chisquare(n, size=(m, L)) / n).sum(axis=1)
    law = dl.log_scale_law(n, L)
    assert dl.ks_statistic(y, law.cdf) < dl.ks_critical_value(m, KS_LEVEL)


def test_scale_moments_and_kurtosis_closed_forms():
    n, L = 10, 7
    assert dl.scale_moment(1, n, L) == pytest.approx(1.0, rel=1e-13)  # E chi^2_N / N = 1
    assert dl.scale_moment(2, n, L) == pytest.approx((1 + 2 / n) ** L, rel=1e-13)
    assert dl.scale_moment(3, n, L) == pytest.approx(((1 + 2 / n) * (1 + 4 / n)) ** L, rel=1e-13)
    assert dl.kurtosis(n, L) == pytest.approx(3 * dl.scale_moment(2, n, L), rel=1e-13)
    ratio = dl.scale_moment(4, n, L) / dl.scale_moment(2, n, L) ** 2
    assert dl.fourth_moment_tail_ratio(n, L) == pytest.approx(ratio, rel=1e-12)
    assert dl.kurtosis(n, 0) == 3.0 and dl.limit_kurtosis(0.0) == 3.0
    # Proportional limit: (1 + 2/N)^{lambda N} -> e^{2 lambda}, relative gap ~ 2 lambda / N.
    lam = 1.5
    for N in (100, 1000, 10000):
        gap = 1 - dl.kurtosis(N, int(lam * N)) / dl.limit_kurtosis(lam)
        assert gap == pytest.approx(2 * lam / N, rel=5 / N + 1e-3)
    assert dl.limit_scale_moment(2, lam) == pytest.approx(math.exp(2 * lam))
    assert dl.limit_scale_moment(1, lam) == 1.0
    assert dl.fourth_moment_tail_ratio(10**6, 10**6) == pytest.approx(math.exp(8), rel=1e-4)
    # Relative errors of fourth-moment Monte Carlo: Gaussian case (L = 0) by hand.
    assert dl.monte_carlo_relative_se(5, 0, 100, "f4") == pytest.approx(math.sqrt((105 / 9 - 1) / 100))
    assert dl.monte_carlo_relative_se(5, 0, 100, "fa2fb2") == pytest.approx(math.sqrt(8 / 100))
    assert dl.monte_carlo_relative_se(5, 0, 100, "s2") == 0.0


def test_monte_carlo_relative_se_predicts_the_spread():
    """The predicted relative error of mean(f^4) matches the spread of the estimate over
    independent replicas (N = 8, L = 2, 40 replicas of 2000 networks): within 35 percent, the
    sampling precision of a standard deviation from 40 replicas of a heavy-tailed estimate."""
    n, L, m, reps = 8, 2, 2000, 40
    rng = np.random.default_rng(21)
    means = [np.mean(dl.sample_deep_linear(np.ones(2), n, L, m, rng).outputs[:, 0] ** 4) for _ in range(reps)]
    observed = np.std(means, ddof=1) / (3 * dl.scale_moment(2, n, L))
    assert observed == pytest.approx(dl.monte_carlo_relative_se(n, L, m, "f4"), rel=0.35)


# --- one output -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n, L, q0", [(4, 1, 1.0), (16, 4, 0.7), (16, 16, 1.0), (8, 16, 2.0)])
def test_output_density_moments(n, L, q0):
    """The mixture density integrates to one, has variance q0 (E s = 1) and fourth moment
    3 q0^2 (1 + 2/N)^L; at zero it equals E s^{-1/2} / sqrt(2 pi q0); its CDF is its integral."""
    # Trapezoid rule in f = 1e-3 sinh(u): resolves the narrow components of small s near zero
    # and the heavy tails (smooth integrand: spectral convergence).
    u = np.linspace(-16.0, 16.0, 8001)
    f, jac = 1e-3 * np.sinh(u), 1e-3 * np.cosh(u) * (u[1] - u[0])
    dens = dl.output_pdf(f, n, L, q0) * jac
    moments = [float(np.sum(f**k * dens)) for k in (0, 2, 4)]
    assert moments[0] == pytest.approx(1.0, abs=1e-8)
    assert moments[1] == pytest.approx(q0, rel=1e-7)
    # E f^4 weights the far right tail of ln s by s^2, where densities below the rounding floor
    # of the Fourier inversion (~1e-14) were set to zero: 1e-5 relative at lambda = 2.
    assert moments[2] == pytest.approx(3 * q0**2 * (1 + 2 / n) ** L, rel=1e-5)
    pdf = lambda x: float(dl.output_pdf(np.array([x]), n, L, q0)[0])  # noqa: E731
    assert pdf(0.0) == pytest.approx(dl.scale_moment(-0.5, n, L) / math.sqrt(2 * math.pi * q0), rel=1e-9)
    f = np.linspace(-3, 3, 13)
    h = 1e-5
    derivative = (dl.output_cdf(f + h, n, L, q0) - dl.output_cdf(f - h, n, L, q0)) / (2 * h)
    np.testing.assert_allclose(derivative, dl.output_pdf(f, n, L, q0), rtol=1e-6, atol=1e-9)
    assert dl.output_cdf(np.array([0.0]), n, L, q0)[0] == pytest.approx(0.5, abs=1e-12)


def test_output_law_depth_zero_is_the_nngp_gaussian():
    f = np.linspace(-4, 4, 9)
    gauss = stats.norm(scale=math.sqrt(2.0))
    np.testing.assert_allclose(dl.output_pdf(f, 7, 0, 2.0), gauss.pdf(f), rtol=1e-14)
    np.testing.assert_allclose(dl.limit_output_cdf(f, 0.0, 2.0), gauss.cdf(f), rtol=1e-14)
    assert dl.gaussian_distance(7, 0) == 0.0


def test_limit_output_law_moments_and_agreement_with_finite_n():
    """The Gauss-Hermite limit has E f^2 = q0, E f^4 = 3 q0^2 e^{2 lambda}, and the exact law at
    N = 2000, L = 2000 lambda is within O(1/N) of it."""
    lam, q0 = 0.5, 1.3
    nodes, weights = dl._limit_nodes(lam)
    assert float(np.sum(weights * np.exp(nodes))) == pytest.approx(1.0, rel=1e-12)
    assert float(np.sum(weights * np.exp(2 * nodes))) == pytest.approx(math.exp(2 * lam), rel=1e-10)
    u = np.linspace(-16.0, 16.0, 8001)
    g, jac = 1e-3 * np.sinh(u), 1e-3 * np.cosh(u) * (u[1] - u[0])
    dens = dl.limit_output_pdf(g, lam, q0) * jac
    assert float(np.sum(dens)) == pytest.approx(1.0, abs=1e-9)
    assert float(np.sum(g**4 * dens)) == pytest.approx(3 * q0**2 * math.exp(2 * lam), rel=1e-8)
    f = np.linspace(-6, 6, 241)
    limit_pdf = dl.limit_output_pdf(f, lam, q0)
    exact_pdf = dl.output_pdf(f, 2000, 1000, q0)
    assert np.max(np.abs(exact_pdf - limit_pdf)) < 2e-3
    assert np.max(np.abs(dl.output_cdf(f, 2000, 1000, q0) - dl.limit_output_cdf(f, lam, q0))) < 2e-3


# --- two inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n, L", [(1, 1), (3, 5), (16, 32), (100, 7)])
def test_gram_recursion_agrees_with_scale_mixture(n, L):
    """The layer-by-layer recursion of the hidden Gram matrix and the scale-mixture derivation
    give the same E f_a^2 f_b^2 = E[G_aa G_bb + 2 G_ab^2]."""
    rng = np.random.default_rng(n + L)
    x_a, x_b = rng.standard_normal(5), rng.standard_normal(5)
    g_aa, g_bb, g_ab = x_a @ x_a / 5, x_b @ x_b / 5, x_a @ x_b / 5
    m_diag, m_off = dl.gram_fourth_moments(g_aa, g_bb, g_ab, n, L)
    moments = dl.two_input_moments(x_a, x_b, n, L)
    assert m_diag + 2 * m_off == pytest.approx(moments["mean_fa2_fb2"], rel=1e-12)
    assert moments["cov_f"] == pytest.approx(g_ab, rel=1e-14)


def test_two_input_closed_forms():
    x_a, x_b = np.array([1.0, 0.0]) * math.sqrt(2), np.array([0.0, 1.0]) * math.sqrt(2)
    n, L = 16, 8
    m = dl.two_input_moments(x_a, x_b, n, L)
    assert m["cov_f"] == 0.0
    assert m["cov_f2"] == pytest.approx((1 + 2 / n) ** L - 1, rel=1e-13)
    assert m["cov_abs_f"] == pytest.approx(2 / math.pi * (1 - dl.scale_moment(0.5, n, L) ** 2), rel=1e-12)
    lim = dl.limit_two_input_moments(x_a, x_b, 0.5)
    assert lim["cov_f2"] == pytest.approx(math.e - 1, rel=1e-13)
    assert lim["cov_abs_f"] == pytest.approx(2 / math.pi * (1 - math.exp(-0.25)), rel=1e-13)
    # Depth 0: the Gaussian pair (Isserlis: Cov(u^2, v^2) = 2 G_ab^2) and E|u v| by quadrature.
    y = np.array([0.6, 0.8]) * math.sqrt(2)
    g0 = dl.two_input_moments(x_a, y, n, 0)
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
    sample = dl.sample_deep_linear(X, n, L, m, np.random.default_rng(5))
    f = sample.outputs
    exact = dl.two_input_moments(X[:, 0], X[:, 1], n, L)
    for key, (est, se) in {
        "cov_f": dl.mean_estimate(f[:, 0] * f[:, 1]),
        "cov_f2": dl.covariance_estimate(f[:, 0] ** 2, f[:, 1] ** 2),
        "cov_abs_f": dl.covariance_estimate(np.abs(f[:, 0]), np.abs(f[:, 1])),
    }.items():
        assert abs(est - exact[key]) < Z_MC * se, (key, est, se, exact[key])


# --- the sampler ----------------------------------------------------------------------------------


def test_sampler_matches_the_plain_matrix_product():
    """Same seed, same draw order (per batch: W_1 .. W_L, then a): the renormalised, log-scale
    sampler equals the plain product a . W_L ... W_1 x / sqrt(N^L d)."""
    d, n, L, m = 5, 6, 4, 3
    rng = np.random.default_rng(2)
    X = rng.standard_normal((d, 2))
    sample = dl.sample_deep_linear(X, n, L, m, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    Ws = [rng.standard_normal((m, n, d))] + [rng.standard_normal((m, n, n)) for _ in range(L - 1)]
    a = rng.standard_normal((m, n))
    for j in range(m):
        h = X
        for W in Ws:
            h = W[j] @ h
        f = a[j] @ h / math.sqrt(n**L * d)
        np.testing.assert_allclose(sample.outputs[j], f, rtol=1e-12, atol=1e-14)
    assert sample.outputs.shape == (m, 2) and sample.log_scale.shape == (m,)


def test_sampler_depth_zero_is_a_random_linear_readout():
    X = np.array([3.0, 4.0])
    sample = dl.sample_deep_linear(X, 10, 0, 4, np.random.default_rng(1))
    a = np.random.default_rng(1).standard_normal((4, 2))
    np.testing.assert_allclose(sample.outputs[:, 0], a @ X / math.sqrt(2), rtol=1e-13)
    assert np.all(sample.log_scale == 0.0)


def test_sampler_single_input_log_scale_follows_the_exact_law():
    """For one input the accumulated log-renormalisation is ln s exactly: KS against the law."""
    n, L, m = 8, 3, 6000
    sample = dl.sample_deep_linear(np.ones(4), n, L, m, np.random.default_rng(3))
    law = dl.log_scale_law(n, L)
    crit = dl.ks_critical_value(m, KS_LEVEL)
    assert dl.ks_statistic(sample.log_scale, law.cdf) < crit
    assert dl.ks_statistic(sample.outputs[:, 0], lambda f: dl.output_cdf(f, n, L)) < crit
    mean, var = dl.log_scale_mean_variance(n, L)
    est, se = dl.mean_estimate(sample.log_scale)
    assert abs(est - mean) < Z_MC * se


def test_sampler_is_reproducible_and_scales_with_weight_variance():
    X = np.ones((3, 2))
    s1 = dl.sample_deep_linear(X, 64, 64, 2, np.random.default_rng(4))
    s2 = dl.sample_deep_linear(X, 64, 64, 2, np.random.default_rng(4))
    s3 = dl.sample_deep_linear(X, 64, 64, 2, np.random.default_rng(4), weight_variance=5.0)
    np.testing.assert_array_equal(s1.outputs, s2.outputs)
    np.testing.assert_allclose(s3.log_scale, s1.log_scale + 64 * math.log(5.0), rtol=1e-13)
    np.testing.assert_allclose(s3.unit_outputs, s1.unit_outputs, rtol=1e-12)


def test_sampler_no_overflow_at_depth_and_width_512():
    """L = N = 512 with weight variance 16: s ~ 16^512 e^{-1} ~ e^{1419} exceeds float64
    (max ~ e^{709.8}); the log-scale accumulation stays finite and ln s - L ln 16 is a draw of
    the exact law (within six standard deviations for a single network)."""
    n = L = 512
    sample = dl.sample_deep_linear(np.ones(2), n, L, 1, np.random.default_rng(0), weight_variance=16.0)
    assert np.all(np.isfinite(sample.log_scale)) and np.all(np.isfinite(sample.unit_outputs))
    assert sample.log_scale[0] > math.log(np.finfo(np.float64).max)
    mean, var = dl.log_scale_mean_variance(n, L)
    assert abs(sample.log_scale[0] - L * math.log(16.0) - mean) < 6 * math.sqrt(var)
    with pytest.raises(OverflowError, match="overflows float64"):
        _ = sample.outputs


# --- estimators -----------------------------------------------------------------------------------


def test_estimators_on_gaussian_samples():
    """Gaussian f: kurtosis 3 with standard error sqrt(24 / n) (the influence function's variance
    is 105 - 180 + 108 - 9 = 24); KS statistic equal to scipy's."""
    rng = np.random.default_rng(8)
    f = rng.standard_normal(100000)
    k, se = dl.kurtosis_estimate(f)
    assert abs(k - 3) < Z_MC * se
    assert se == pytest.approx(math.sqrt(24 / f.size), rel=0.1)
    scipy_ks = stats.kstest(f[:500], "norm").statistic
    assert dl.ks_statistic(f[:500], stats.norm.cdf) == pytest.approx(scipy_ks, abs=1e-14)
    k_s, se_s = dl.scale_kurtosis_estimate(np.zeros(10))
    assert k_s == 3.0 and se_s == 0.0
    c, se_c = dl.covariance_estimate(f[:50000], f[50000:])
    assert abs(c) < Z_MC * se_c
    assert dl.ks_critical_value(1000, 0.05) == pytest.approx(stats.kstwo.ppf(0.95, 1000))


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: dl.log_scale_mean_variance(0, 3), "width"),
        (lambda: dl.log_scale_mean_variance(True, 3), "width"),
        (lambda: dl.scale_moment(1, 4, -1), "depth"),
        (lambda: dl.scale_moment(-2.0, 4, 3), "k > -N/2"),
        (lambda: dl.log_scale_law(4, 0), "depth = 0"),
        (lambda: dl.output_pdf([0.0], 4, 2, q0=0.0), "q0"),
        (lambda: dl.output_cdf([np.nan], 4, 2), "non-finite"),
        (lambda: dl.limit_kurtosis(-0.1), "lam"),
        (lambda: dl.two_input_moments([1.0, 2.0], [1.0], 4, 2), "same length"),
        (lambda: dl.sample_deep_linear(np.zeros(3), 4, 2, 5, np.random.default_rng(0)), "zero"),
        (lambda: dl.sample_deep_linear([1.0, np.inf], 4, 2, 5, np.random.default_rng(0)), "non-finite"),
        (lambda: dl.sample_deep_linear([1.0], 4, 2, 0, np.random.default_rng(0)), "n_networks"),
        (lambda: dl.sample_deep_linear([1.0], 4, 2, 5, np.random.default_rng(0), weight_variance=0.0),
         "weight_variance"),
        (lambda: dl.ks_critical_value(100, 1.5), "level"),
        (lambda: dl.kurtosis_estimate([1.0]), "two samples"),
        (lambda: dl.monte_carlo_relative_se(4, 2, 10, "f6"), "observable"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unseeded_generator_is_refused():
    with pytest.raises(TypeError, match="Generator"):
        dl.sample_deep_linear([1.0], 4, 2, 5, 0)


def test_quadrature_failure_is_named(monkeypatch):
    monkeypatch.setattr(dl, "NORMALISATION_TOLERANCE", -1.0)
    with pytest.raises(dl.QuadratureError, match="integrates to"):
        dl.log_scale_law(4, 2)

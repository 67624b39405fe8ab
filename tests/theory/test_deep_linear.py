"""Tests of deepgep.theory.deep_linear: the law of the scale s of a deep linear network at
proportional depth (Chapter 8, book eq-deep-linear-limit).

The exact law of ln s by Fourier inversion against its closed-form moments, scipy's chi-square
and sampled chi-squares (the exact Kolmogorov-Smirnov quantile at level 1e-3); the moments of s,
the kurtosis and the Monte Carlo relative errors against closed forms and replicas of sampled
networks; then the error paths. The output laws are tested in
tests/theory/test_deep_linear_outputs.py, the sampler in tests/simulate/test_deep_linear.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import digamma, polygamma

from deepgep.simulate.deep_linear import sample_deep_linear
from deepgep.support.stats import ks_critical_value, ks_statistic
from deepgep.theory import deep_linear
from deepgep.theory.deep_linear import (
    QuadratureError,
    fourth_moment_tail_ratio,
    kurtosis,
    limit_kurtosis,
    limit_scale_moment,
    log_scale_law,
    log_scale_mean_variance,
    monte_carlo_relative_se,
    scale_moment,
)

#: Level of the Kolmogorov-Smirnov checks.
KS_LEVEL = 1e-3


# --- the law of s ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n, L", [(1, 1), (4, 1), (16, 4), (16, 32), (512, 512), (2000, 4000)])
def test_log_scale_law_moments_match_closed_forms(n, L):
    """The Fourier-inverted density reproduces mean, variance and E s^k (k = 2 and the most negative
    power the grid resolves) to quadrature accuracy, from N = L = 1 to N = 2000, L = 4000."""
    law = log_scale_law(n, L)
    mean, var = log_scale_mean_variance(n, L)
    assert mean == pytest.approx(L * (digamma(n / 2) + math.log(2 / n)), rel=1e-14)
    assert var == pytest.approx(L * polygamma(1, n / 2), rel=1e-14)
    assert law.expectation(lambda y: np.ones_like(y)) == pytest.approx(1.0, abs=1e-9)
    assert law.expectation(lambda y: y) == pytest.approx(mean, abs=1e-9 * (1 + abs(mean)))
    assert law.expectation(lambda y: (y - mean) ** 2) == pytest.approx(var, rel=1e-9)
    k_neg = -0.5 if n > 1 else -0.25
    negative_moment = law.expectation(lambda y: np.exp(k_neg * y))
    assert negative_moment == pytest.approx(scale_moment(k_neg, n, L), rel=1e-6)
    # E s^2 weights the right tail by e^{2y}: resolved where it lies within the grid (L/N <= 1).
    if L <= n:
        assert law.expectation(lambda y: np.exp(2 * y)) == pytest.approx(scale_moment(2, n, L), rel=1e-6)


@pytest.mark.parametrize("n", [1, 3, 16, 100])
def test_one_layer_density_is_the_log_chi_square(n):
    """L = 1: ln s = ln(chi^2_N / N), whose density is N e^y chi2_N.pdf(N e^y)."""
    law = log_scale_law(n, 1)
    y = law.grid
    exact = n * np.exp(y) * stats.chi2.pdf(n * np.exp(y), n)
    assert np.max(np.abs(law.density - exact)) < 1e-9 * np.max(exact)


def test_log_scale_law_tends_to_the_proportional_limit():
    """N = 4000, L = 4000: ln s is N(-1, 2) up to O(1/N) (mean -L/N - L/N^2..., third cumulant
    -4 lambda / N): the densities agree to 1e-3."""
    law = log_scale_law(4000, 4000)
    limit = stats.norm.pdf(law.grid, loc=-1.0, scale=math.sqrt(2.0))
    assert np.max(np.abs(law.density - limit)) < 1e-3


def test_log_scale_cdf_against_chi_square_sampling():
    """The law's CDF passes a KS test against ln s simulated from independent chi-squares."""
    rng = np.random.default_rng(11)
    n, L, m = 6, 5, 20000
    y = np.log(rng.chisquare(n, size=(m, L)) / n).sum(axis=1)
    law = log_scale_law(n, L)
    assert ks_statistic(y, law.cdf) < ks_critical_value(m, KS_LEVEL)


def test_scale_moments_and_kurtosis_closed_forms():
    n, L = 10, 7
    assert scale_moment(1, n, L) == pytest.approx(1.0, rel=1e-13)  # E chi^2_N / N = 1
    assert scale_moment(2, n, L) == pytest.approx((1 + 2 / n) ** L, rel=1e-13)
    assert scale_moment(3, n, L) == pytest.approx(((1 + 2 / n) * (1 + 4 / n)) ** L, rel=1e-13)
    assert kurtosis(n, L) == pytest.approx(3 * scale_moment(2, n, L), rel=1e-13)
    ratio = scale_moment(4, n, L) / scale_moment(2, n, L) ** 2
    assert fourth_moment_tail_ratio(n, L) == pytest.approx(ratio, rel=1e-12)
    assert kurtosis(n, 0) == 3.0 and limit_kurtosis(0.0) == 3.0
    # Proportional limit: (1 + 2/N)^{lambda N} -> e^{2 lambda}, relative gap ~ 2 lambda / N.
    lam = 1.5
    for N in (100, 1000, 10000):
        gap = 1 - kurtosis(N, int(lam * N)) / limit_kurtosis(lam)
        assert gap == pytest.approx(2 * lam / N, rel=5 / N + 1e-3)
    assert limit_scale_moment(2, lam) == pytest.approx(math.exp(2 * lam))
    assert limit_scale_moment(1, lam) == 1.0
    assert fourth_moment_tail_ratio(10**6, 10**6) == pytest.approx(math.exp(8), rel=1e-4)
    # Relative errors of fourth-moment Monte Carlo: Gaussian case (L = 0) by hand.
    assert monte_carlo_relative_se(5, 0, 100, "f4") == pytest.approx(math.sqrt((105 / 9 - 1) / 100))
    assert monte_carlo_relative_se(5, 0, 100, "fa2fb2") == pytest.approx(math.sqrt(8 / 100))
    assert monte_carlo_relative_se(5, 0, 100, "s2") == 0.0


def test_monte_carlo_relative_se_predicts_the_spread():
    """The predicted relative error of mean(f^4) matches the spread of the estimate over
    independent replicas (N = 8, L = 2, 40 replicas of 2000 networks): within 35 percent, the
    sampling precision of a standard deviation from 40 replicas of a heavy-tailed estimate."""
    n, L, m, reps = 8, 2, 2000, 40
    rng = np.random.default_rng(21)
    means = [np.mean(sample_deep_linear(np.ones(2), n, L, m, rng).outputs[:, 0] ** 4) for _ in range(reps)]
    observed = np.std(means, ddof=1) / (3 * scale_moment(2, n, L))
    assert observed == pytest.approx(monte_carlo_relative_se(n, L, m, "f4"), rel=0.35)


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: log_scale_mean_variance(0, 3), "width"),
        (lambda: log_scale_mean_variance(True, 3), "width"),
        (lambda: scale_moment(1, 4, -1), "depth"),
        (lambda: scale_moment(-2.0, 4, 3), "k > -N/2"),
        (lambda: log_scale_law(4, 0), "depth = 0"),
        (lambda: limit_kurtosis(-0.1), "lam"),
        (lambda: monte_carlo_relative_se(4, 2, 10, "f6"), "observable"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_quadrature_failure_is_named(monkeypatch):
    monkeypatch.setattr(deep_linear, "NORMALISATION_TOLERANCE", -1.0)
    with pytest.raises(QuadratureError, match="integrates to"):
        log_scale_law(4, 2)

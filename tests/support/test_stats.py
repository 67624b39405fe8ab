"""Tests of deepgep.support.stats: the estimators and their standard errors (kurtosis, covariance,
Kolmogorov-Smirnov statistic and critical value, excess kurtosis) on samples with known answers,
Pearson's chi-square z under its null; then the error paths.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from deepgep.support.fits import fit_constant
from deepgep.support.stats import (
    covariance_estimate,
    excess_kurtosis,
    inverse_variance_mean,
    ks_critical_value,
    ks_statistic,
    kurtosis_estimate,
    scale_kurtosis_estimate,
)

#: Monte Carlo tolerance in standard errors (a correct estimate fails with probability < 1e-4).
Z_MC = 4.0


# --- estimators -----------------------------------------------------------------------------------


def test_estimators_on_gaussian_samples():
    """Gaussian f: kurtosis 3 with standard error sqrt(24 / n) (the influence function's variance
    is 105 - 180 + 108 - 9 = 24); KS statistic equal to scipy's."""
    rng = np.random.default_rng(8)
    f = rng.standard_normal(100000)
    k, se = kurtosis_estimate(f)
    assert abs(k - 3) < Z_MC * se
    assert se == pytest.approx(math.sqrt(24 / f.size), rel=0.1)
    scipy_ks = stats.kstest(f[:500], "norm").statistic
    assert ks_statistic(f[:500], stats.norm.cdf) == pytest.approx(scipy_ks, abs=1e-14)
    k_s, se_s = scale_kurtosis_estimate(np.zeros(10))
    assert k_s == 3.0 and se_s == 0.0
    c, se_c = covariance_estimate(f[:50000], f[50000:])
    assert abs(c) < Z_MC * se_c
    assert ks_critical_value(1000, 0.05) == pytest.approx(stats.kstwo.ppf(0.95, 1000))


def test_excess_kurtosis_closed_forms():
    rng = np.random.default_rng(0)
    n = 400_000
    # standard errors sqrt(24/n) = 0.008 (Gaussian) and ~0.002 (uniform): 5 sigma bands
    assert abs(excess_kurtosis(rng.standard_normal(n))) < 0.04
    assert excess_kurtosis(rng.uniform(-1, 1, n)) == pytest.approx(-1.2, abs=0.01)


# --- log-log slopes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ks_critical_value(100, 1.5), "level"),
        (lambda: kurtosis_estimate([1.0]), "two samples"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_pearson_z_has_mean_zero_and_unit_variance_under_the_null():
    from deepgep.support.stats import pearson_z

    rng = np.random.default_rng(0)
    p = np.array([0.001, 0.2, 0.5, 0.25, 0.049])
    zs = np.array([pearson_z(rng.multinomial(500, p), p)[1] for _ in range(4000)])
    assert abs(zs.mean()) < 4 / math.sqrt(zs.size) and abs(zs.std() - 1) < 0.06
    assert pearson_z(rng.multinomial(500, p), np.full(5, 0.2))[1] > 10  # a wrong law


def test_kolmogorov_mean_against_simulated_ks_statistics():
    from deepgep.support.stats import KOLMOGOROV_MEAN, kolmogorov_mean

    rng = np.random.default_rng(3)
    n = 400
    values = [math.sqrt(n) * ks_statistic(rng.standard_normal(n), stats.norm.cdf) for _ in range(3000)]
    assert abs(np.mean(values) - kolmogorov_mean(n)) < 4 * np.std(values) / math.sqrt(len(values))
    assert 0.86 < KOLMOGOROV_MEAN < 0.87 and kolmogorov_mean(n) < KOLMOGOROV_MEAN


def test_inverse_variance_mean_is_the_maximum_likelihood_constant():
    """Equal errors give the plain mean and error s/sqrt(k); one estimate with a tenfold smaller
    error dominates; the weighted mean is the least-squares constant of deepgep.support.fits
    (before its chi-square inflation)."""
    mean, se = inverse_variance_mean([1.0, 2.0, 3.0], [0.5, 0.5, 0.5])
    assert mean == pytest.approx(2.0, abs=1e-15) and se == pytest.approx(0.5 / np.sqrt(3.0), rel=1e-15)
    mean, se = inverse_variance_mean([0.0, 1.0], [0.1, 1.0])
    assert mean == pytest.approx(1.0 / 101.0, rel=1e-14) and se == pytest.approx(101.0 ** -0.5, rel=1e-14)
    rng = np.random.default_rng(4)
    v, e = rng.normal(size=9), rng.uniform(0.1, 1.0, size=9)
    fit = fit_constant(v, e)
    m, s = inverse_variance_mean(v, e)
    assert m == pytest.approx(fit.values["limit"], rel=1e-12)
    assert s == pytest.approx(fit.errors["limit"] / fit.inflation, rel=1e-12)
    for bad in (([], []), ([1.0], [0.0]), ([1.0, np.nan], [1.0, 1.0]), ([1.0], [1.0, 2.0])):
        with pytest.raises(ValueError):
            inverse_variance_mean(*bad)

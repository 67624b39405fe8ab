"""Tests of deepgep.support.stats: the estimators and their standard errors (kurtosis, covariance,
Kolmogorov-Smirnov statistic and critical value, excess kurtosis) on samples with known answers,
and the log-log slope of a power law; then the error paths.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from deepgep.support.stats import (
    covariance_estimate,
    excess_kurtosis,
    ks_critical_value,
    ks_statistic,
    kurtosis_estimate,
    loglog_slope,
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


def test_loglog_slope_of_an_exact_power_law():
    x = np.geomspace(10, 1e4, 12)
    slope, stderr = loglog_slope(x, 3.0 * x**-0.5)
    # exact data: only the rounding of log(x) (~1e-16 * 9) enters
    assert slope == pytest.approx(-0.5, abs=1e-12)
    assert 0.0 <= stderr < 1e-12


def test_loglog_slope_on_noisy_data_covers_the_truth():
    """Log-normal noise of 10% on 20 points: the fitted slope is within 3 standard errors of
    the truth, and the standard error is the textbook sqrt(s^2 / sum (log x - mean)^2)."""
    rng = np.random.default_rng(6)
    x = np.geomspace(50, 5000, 20)
    y = 3.0 * x**-0.5 * np.exp(0.1 * rng.standard_normal(x.size))
    slope, stderr = loglog_slope(x, y)
    assert abs(slope + 0.5) < 3 * stderr
    lx, ly = np.log(x), np.log(y)
    b, a = np.polyfit(lx, ly, 1)
    residual = ly - (a + b * lx)
    expected_se = math.sqrt(residual @ residual / (x.size - 2) / np.sum((lx - lx.mean()) ** 2))
    assert slope == pytest.approx(b, rel=1e-12)
    assert stderr == pytest.approx(expected_se, rel=1e-10)
    # 10% noise over two decades: the error is a few hundredths, not zero
    assert 0.005 < stderr < 0.1


@pytest.mark.parametrize("n", [0, 1, 2])
def test_loglog_slope_needs_three_points(n):
    x = np.arange(1.0, n + 1.0)
    with pytest.raises(ValueError):
        loglog_slope(x, x**2)


# --- errors ---------------------------------------------------------------------------------------


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

"""Tests of deepgep.support.fits: exact recovery of noiseless forms, standard errors against the
scatter of many simulated fits (the errors are right when the model is), chi-square inflation
when the points scatter more than their errors say, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.support.fits import fit_constant, fit_inverse, fit_power


def test_noiseless_forms_are_recovered_exactly():
    d = np.array([10.0, 20.0, 40.0, 80.0])
    fit = fit_inverse(d, 0.3 + 2.0 / d, np.full(4, 0.01))
    assert fit.values["limit"] == pytest.approx(0.3, abs=1e-12) and fit.values["slope"] == pytest.approx(2.0)
    assert fit.chi2 == pytest.approx(0.0, abs=1e-18) and fit.dof == 2 and fit.inflation == 1.0
    power = fit_power(d, 5.0 * d**-0.5)
    assert power.values["exponent"] == pytest.approx(-0.5) and power.values["log_prefactor"] == pytest.approx(math.log(5))
    assert fit_inverse(d, 1 + 3 / d**2, np.ones(4), power=2).values["slope"] == pytest.approx(3.0)


def test_standard_errors_match_the_scatter_of_simulated_fits():
    rng = np.random.default_rng(1)
    d, se = np.array([16.0, 24.0, 32.0, 48.0, 64.0]), np.array([0.02, 0.015, 0.012, 0.01, 0.008])
    fits = [fit_inverse(d, 0.1 - 1.0 / d + se * rng.standard_normal(5), se) for _ in range(4000)]
    limits = np.array([f.values["limit"] for f in fits])
    raw = fit_inverse(d, 0.1 - 1.0 / d, se).errors["limit"]  # the errors at chi2 = 0 are the raw ones
    assert abs(limits.mean() - 0.1) < 4 * raw / math.sqrt(limits.size)
    assert limits.std() == pytest.approx(raw, rel=0.05)
    inflated = np.array([f.errors["limit"] for f in fits])
    assert np.all(inflated >= raw * (1 - 1e-12))  # never shrunk below the raw errors
    p = np.array([f.p_value for f in fits])
    assert abs(np.mean(p < 0.05) - 0.05) < 0.015  # chi2 on 3 degrees of freedom under the model


def test_overdispersed_points_inflate_the_errors():
    d = np.array([10.0, 20.0, 40.0, 80.0, 160.0])
    y = 0.5 + np.array([0.1, -0.1, 0.1, -0.1, 0.1])  # scatter 10 times the stated errors
    fit = fit_constant(y, np.full(5, 0.01))
    assert fit.inflation == pytest.approx(math.sqrt(fit.chi2 / 4)) and fit.inflation > 5
    assert fit.errors["limit"] == pytest.approx(0.01 / math.sqrt(5) * fit.inflation)
    assert fit.z("limit", 0.5) == pytest.approx((fit.values["limit"] - 0.5) / fit.errors["limit"])
    assert fit_inverse(d, y, np.full(5, 0.01)).p_value < 1e-6


@pytest.mark.parametrize("call, message", [
    (lambda: fit_inverse([1, 2], [1, 2], [1, 1]), "at least 3"),
    (lambda: fit_inverse([1, 2, 3], [1, 2, 3], [1, 0, 1]), "positive"),
    (lambda: fit_inverse([1, 2, 3], [1, 2, np.nan], [1, 1, 1]), "finite"),
    (lambda: fit_inverse([1, 2], [1, 2, 3], [1, 1, 1]), "same length"),
    (lambda: fit_power([1, 2, 3], [1, -2, 3]), "positive"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()

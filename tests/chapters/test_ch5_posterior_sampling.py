"""Tests of deepgep.chapters.ch5_posterior_sampling: the Bayes scan of the chapter (bookkeeping,
the equivalent GLM's numbers, the summary's means and standard errors, reproducibility) and the
extrapolation of the gap in 1/d0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.chapters.ch5_posterior_sampling import (gap_extrapolation, posterior_task, scan_columns,
                                                      summarise_scan, sweeps)
from deepgep.support.stats import pooled_mean


def test_bayes_scan_quantities_are_consistent():
    """Tiny scan, bookkeeping: shapes, the GLM numbers against gaussian_closed_form, errors above
    Delta, the summary's means and standard errors, reproducibility from the seed."""
    from deepgep.theory.layers import equivalent_glm, layer_coefficients
    from deepgep.theory.state_evolution import gaussian_closed_form

    p = dict(SEED=0, ACTIVATION="tanh", GAIN=2.0, DELTA=0.1, DEPTHS=[1], D0S=[5], ALPHAS=[2.0],
             N_TEACHERS=3, N_TEST=50, N_WARMUP=30, N_SAMPLES=20)
    sweep = sweeps(p, "fast")["posterior"]
    rows = [{**point, "seed": seed, **posterior_task({**sweep.constants, **point}, seed)}
            for point, seed in sweep.tasks()]
    scan = scan_columns(rows)
    assert scan["n"].tolist() == [10, 10, 10] and scan["teacher"].tolist() == [0, 1, 2]
    glm = equivalent_glm(layer_coefficients("tanh", 1, gain=2.0))
    closed = gaussian_closed_form(glm.kappa, glm.gamma0 + 0.1, 2.0)
    np.testing.assert_allclose(scan["glm_error"], closed["test_error"], rtol=1e-12)
    assert np.all(scan["posterior_error"] > 0.1) and np.all(scan["ridge_error"] > 0.1)
    summary = summarise_scan(scan)
    assert summary["n_teachers"].tolist() == [3]
    gap = scan["ridge_error"] - scan["posterior_error"]
    assert summary["gap"][0] == pytest.approx(gap.mean())
    assert summary["gap_se"][0] == pytest.approx(gap.std(ddof=1) / math.sqrt(3))
    assert pooled_mean(gap) == pytest.approx((summary["gap"][0], summary["gap_se"][0]))
    # a task is a pure function of (params, seed): rerunning one reproduces it
    again = posterior_task({**sweep.constants, **sweep.grid[0]}, 1)
    assert again["posterior_error"] == scan["posterior_error"][1]
    with pytest.raises(ValueError, match="two finite"):
        pooled_mean([1.0])


def test_gap_extrapolation_recovers_an_exact_line():
    summary = {"depth": np.array([1, 1, 1, 2]), "alpha": np.array([2.0, 2.0, 2.0, 2.0]),
               "d0": np.array([10, 20, 40, 10]), "gap": 0.01 + 0.5 / np.array([10, 20, 40, 10]),
               "gap_se": np.full(4, 0.001)}
    fit = gap_extrapolation(summary, 1, 2.0)
    assert fit.limit == pytest.approx(0.01, abs=1e-12) and fit.slope == pytest.approx(0.5, rel=1e-10)

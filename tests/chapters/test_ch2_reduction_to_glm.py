"""Tests of deepgep.chapters.ch2_reduction_to_glm: the Chapter 2 experiment drivers (small sizes,
fast). The equivalent parameters and the depth table they use are tested in
tests/theory/test_layers.py, the excess kurtosis in tests/support/test_stats.py.
"""

import numpy as np
import pytest

from deepgep.chapters.ch2_reduction_to_glm import (
    bound_shape_over_widths,
    gamp_on_deep_teacher,
    label_kurtosis_scan,
    label_statistics,
    ridge_scan,
    ridge_theory_curves,
    small_width_scan,
)


def test_ridge_scan_shapes_and_optimal_lambda():
    rng = np.random.default_rng(1)
    rec = ridge_scan("tanh", 2.0, [1, 2], [1.0], 60, [0.5, 3.0], [0.1, 1.0, 10.0], 6, 500, 0.05, rng)
    assert rec["deep"].shape == (2, 1, 2, 3, 6) and rec["glm"].shape == (2, 2, 3, 6)
    assert rec["bayes"].shape == (2, 2) and np.all(rec["bayes"] > 0)
    # lambda* is optimal on average over teachers for the GLM teacher (paired over the same data)
    glm = rec["glm"].mean(axis=-1)
    assert np.all(glm[:, :, 1] < glm[:, :, 0]) and np.all(glm[:, :, 1] < glm[:, :, 2])


def test_gamp_on_deep_teacher_starts_at_the_prior_error():
    rng = np.random.default_rng(2)
    run = gamp_on_deep_teacher("tanh", 2.0, 1, 1.0, 150, 2.0, "sign", 0.0, 4, 3, 800, rng)
    assert run["error"].shape == run["state_evolution"].shape == (5,)
    assert run["state_evolution"][0] == pytest.approx(0.5)  # q_0 = 0: chance level
    assert run["error"][-1] < run["error"][0]


def test_label_statistics_and_kurtosis_scan_shapes():
    rng = np.random.default_rng(3)
    st = label_statistics("tanh", 2.0, 1, 50, 400, 3, 0.05, [0.1, 0.5, 0.9], rng)
    assert st["deep"].shape == st["glm"].shape == (3, 5)
    k = label_kurtosis_scan("tanh", 2.0, 1, 50, 2000, [5, 50], 3, rng)
    assert k["deep"].shape == (2, 3) and k["glm"].shape == (3,)
    # a width-5 tanh(2x) layer gives clearly sub-Gaussian labels (bounded units, few of them)
    assert k["deep"][0].mean() < -0.2


def test_small_width_scan_rate_shape():
    rng = np.random.default_rng(4)
    rec = small_width_scan("tanh", 2.0, 1, 60, 2.0, [10, 40], 3, 300, 0.05, rng)
    n, dm = rec["n"], rec["d_m"]
    np.testing.assert_allclose(rec["rate"], (1 + np.sqrt(n / dm) + n / dm) / np.sqrt(dm))
    assert rec["excess"].shape == (2, 3)


def test_ridge_theory_curves_reach_the_bayes_error_only_at_lambda_star():
    alphas = np.linspace(0.1, 6.0, 40)
    th = ridge_theory_curves("tanh", 2.0, [1, 2], [0.1, 1.0, 10.0], 0.05, alphas)
    assert th["ridge"].shape == (2, 3, 40) and th["bayes"].shape == (2, 40)
    np.testing.assert_allclose(th["ridge"][:, 1], th["bayes"], rtol=1e-10)
    assert np.all(th["ridge"][:, [0, 2]] > th["bayes"][:, None, :])


def test_bound_shape_over_widths_grows_as_the_widths_shrink():
    curve = bound_shape_over_widths(800, 10, 320, points=50)
    assert np.isclose(curve["d_m"][0], 10) and np.isclose(curve["d_m"][-1], 320)
    assert np.all(np.diff(curve["rate"]) < 0) and curve["rate"][0] > 1.0 > curve["rate"][-1]

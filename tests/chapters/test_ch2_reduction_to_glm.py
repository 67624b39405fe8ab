"""Tests of deepgep.chapters.ch2_reduction_to_glm: the Chapter 2 sweep tasks and their readers
(small sizes, fast). The equivalent parameters and the depth table they use are tested in
tests/theory/test_layers.py, the excess kurtosis in tests/support/test_stats.py.
"""

import numpy as np
import pytest

from deepgep.chapters.ch2_reduction_to_glm import (
    bound_shape_over_widths,
    field,
    gamp_task,
    gamp_theory,
    labels_task,
    narrow_task,
    penalty_vertex,
    ridge_means,
    ridge_task,
    ridge_theory_curves,
)
from deepgep.simulate.estimators import ridge_path, ridge_paths

BASE = {"base_seed": 7, "activation": "tanh", "gain": 2.0, "noise": 0.05}
RIDGE = {**BASE, "ratio": 1.0, "depths": [1, 2], "alphas": [0.5, 2.0], "factors": [0.5, 1.0, 2.0], "n_test": 400}


def test_ridge_paths_equal_ridge_path_column_by_column():
    rng = np.random.default_rng(0)
    for n, d in ((30, 50), (80, 20)):
        X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, 3))
        W = ridge_paths(X, Y, [0.1, 2.0])
        assert W.shape == (3, 2, d)
        for j in range(3):
            np.testing.assert_allclose(W[j], ridge_path(X, Y[:, j], [0.1, 2.0]), rtol=1e-10, atol=1e-12)


def test_ridge_task_is_a_function_of_its_seed_and_records_every_field():
    a, b = ridge_task({**RIDGE, "d0": 40}, 3), ridge_task({**RIDGE, "d0": 40}, 3)
    assert a == b
    assert a != ridge_task({**RIDGE, "d0": 40}, 4)
    names = {field("deep", L=L, a=al, f=f) for L in (1, 2) for al in (0.5, 2.0) for f in (0.5, 1.0, 2.0)}
    names |= {field("glm", L=L, a=al) for L in (1, 2) for al in (0.5, 2.0)}
    assert set(a) == names and all(v > 0 for v in a.values())


def test_penalty_vertex_of_exact_parabolas_and_its_reference():
    """Records whose errors are an exact parabola in log2(lambda/lambda*) with vertex u0 give
    back u0; the reference is the theory's vertex, shifted by ``shift``."""
    rows = []
    for seed in range(5):
        rec = {"d0": 40, "ratio": 1.0, "seed": seed}
        for L in (1, 2):
            for al in (0.5, 2.0):
                for f in (0.5, 1.0, 2.0):
                    u = np.log2(f)
                    rec[field("deep", L=L, a=al, f=f)] = 0.3 + 0.01 * seed + 0.02 * (u - 0.25) ** 2
                rec[field("glm", L=L, a=al)] = 0.3
        rows.append(rec)
    p = {"ACTIVATION": "tanh", "GAIN": 2.0, "DELTA": 0.05}
    v = penalty_vertex(rows, 40, 1, [0.5, 2.0], p)
    assert v["vertex"] == pytest.approx(0.25) and v["se"] == pytest.approx(0.0, abs=1e-12)
    assert abs(v["reference"]) < 0.2
    assert penalty_vertex(rows, 40, 1, [0.5, 2.0], p, shift=1.0)["reference"] == pytest.approx(v["reference"] + 1)
    m, se = ridge_means(rows, 40, 1.0, 2, [0.5, 2.0], factor=1.0)
    np.testing.assert_allclose(m, 0.3 + 0.01 * 2 + 0.02 * 0.25**2)


def test_gamp_task_starts_at_chance_and_follows_its_theory_shape():
    rec = gamp_task({**BASE, "d0": 150, "alpha": 2.0, "depth": 1, "task": "classification", "n_iter": 4,
                     "n_test": 800}, 0)
    assert len(rec) == 5 and abs(rec[field("error", t=0)] - 0.5) < 0.1
    assert rec[field("error", t=4)] < rec[field("error", t=0)]
    th = gamp_theory("tanh", 2.0, 1, 2.0, "classification", 0.0, 4)
    assert th[0] == pytest.approx(0.5) and np.all(np.diff(th) <= 1e-12)


def test_labels_and_narrow_tasks_record_their_fields():
    rec = labels_task({**BASE, "d0": 50, "n": 400, "depth": 1, "quantiles": [0.1, 0.5, 0.9]}, 0)
    assert set(rec) == {f"{k}@{q}" for k in ("deep", "glm") for q in ("q=0.1", "q=0.5", "q=0.9", "variance", "kurtosis")}
    narrow = narrow_task({**BASE, "d0": 60, "d_m": 5, "alpha": 2.0, "depth": 1, "n_test": 300, "kurtosis_n": 4000}, 0)
    assert set(narrow) == {"excess", "kurtosis", "glm_kurtosis"}
    # a width-5 tanh(2x) layer gives clearly sub-Gaussian labels (bounded units, few of them)
    assert narrow["kurtosis"] < -0.2 and abs(narrow["glm_kurtosis"]) < 0.3


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

"""Tests of deepgep.chapters.ch2_reduction_to_glm and its tasks: the experiment (presets,
validation, coercion, the derived GLMs against the book's reference values, stable sweep keys),
the tasks (long-format records, determinism, pairing), the theory curves, the summaries of a
small table computed by the sweep machinery, and the claims on it. The equivalent parameters and
the depth table are tested in tests/theory/test_layers.py, the excess kurtosis in
tests/support/test_stats.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from deepgep.chapters import experiment_class
from deepgep.chapters.ch2_reduction_to_glm import ReductionToGLM, claims, ridge_limits
from deepgep.chapters.ch2_reduction_to_glm_tables import (gamp_errors, kurtosis_exponent, label_moments,
                                                          label_statistics, narrow_matrix, narrow_predictions,
                                                          penalty_vertex, ridge_errors, ridge_means, size_extrapolation,
                                                          vertex_reference)
from deepgep.chapters.ch2_reduction_to_glm_tasks import (QUANTILES, MomentTheory, ReductionTheory,
                                                         bound_shape_over_widths, gamp_task, gamp_theory, labels_task,
                                                         linear_variance, narrow_task, ridge_task, ridge_theory_curves)
from deepgep.theory.ridge import ridge_regression_error
from deepgep.support.claims import evaluate
from deepgep.support.experiment import ExperimentError
from deepgep.support.sweeps import load_frame, run_sweep

BASE = {"base_seed": 7, "activation": "tanh", "gain": 2.0, "noise": 0.05}
RIDGE = {**BASE, "d0": 40, "width_ratio": 1.0, "depths": [1, 2], "alphas": [0.5, 2.0],
         "penalty_factors": [0.5, 1.0, 2.0], "n_test": 400}
#: The keys of the book's recorded tables (results/ch2/<name>-<key>.csv): a change of a sweep's
#: parameters, grid, index or task name would make the book lose its tables.
BOOK_KEYS = {"ridge": "22a6fd1662d8", "gamp": "c930d6368611", "labels": "fe0a2f6beda1", "narrow": "fae376bd5945"}


def test_the_registry_finds_the_experiment_and_the_presets_are_valid():
    assert experiment_class(2) is ReductionToGLM
    paper, fast = ReductionToGLM.paper(), ReductionToGLM.fast()
    assert paper.is_book and not fast.is_book and fast.preset_name() == "fast"
    assert {name for name, _, _ in fast.differences()} == {
        "d0s", "teachers", "gamp_d0", "gamp_teachers", "labels_d0", "labels_n", "labels_teachers", "narrow_d0",
        "hidden_widths", "narrow_teachers", "narrow_n_test"}
    assert {k: s.key for k, s in paper.sweeps().items()} == BOOK_KEYS


def test_the_derived_glm_is_the_books_reference():
    """book/notation.md: tanh(2x), L = 2 has kappa = 0.409095 and gamma0 = 0.152506 (six
    decimals, from the layer coefficients by quadrature); lambda* = (gamma0 + Delta)/kappa."""
    glm = ReductionToGLM.paper().glm(2)
    assert glm.kappa == pytest.approx(0.409095, abs=5e-7) and glm.gamma0 == pytest.approx(0.152506, abs=5e-7)
    assert glm.ridge_penalty == pytest.approx((0.152506 + 0.05) / 0.409095, rel=1e-5)
    derived = ReductionToGLM.paper().derived()
    assert derived["ridge hidden widths at max(d0s)"] == [1000, 1500]
    assert ReductionToGLM.paper().finite_size_alphas == (1.0, 4.0)
    assert ReductionToGLM.fast().replace(alphas=(0.5, 3.0)).finite_size_alphas == (0.5, 3.0)


@pytest.mark.parametrize("change, message", [
    ({"teachers": 1}, "teachers must be at least 2"),
    ({"d0s": (100, 200)}, "d0s must be at least 3"),
    ({"hidden_widths": (10, 10, 20)}, "hidden_widths"),
    ({"width_ratios": (1.5,)}, "width_ratios must contain 1.0"),
    ({"penalty_factors": (1.0, 2.0)}, "penalty_factors must contain"),
    ({"alphas": (0.5, -1.0)}, "alphas"),
    ({"noise": -0.1}, "noise"),
    ({"activation": "nope"}, "nope"),
    ({"gamp_depth": 0}, "gamp_depth"),
    ({"lambdas": (1.0,)}, "no parameter"),
])
def test_bad_parameters_are_refused_naming_the_field(change, message):
    with pytest.raises(ExperimentError, match=message):
        ReductionToGLM.fast().replace(**change)


def test_values_are_coerced_so_that_equal_parameters_give_equal_tables():
    cell = ReductionToGLM.from_cell("paper", gain=2, d0s=[125, 250, 500, 1000], alphas=[0.25, 0.5, 1, 2, 4, 6])
    assert cell == ReductionToGLM.paper() and isinstance(cell.gain, float) and isinstance(cell.alphas[2], float)
    assert {k: s.key for k, s in cell.sweeps().items()} == BOOK_KEYS
    changed = ReductionToGLM.paper().replace(gain=1.5).sweeps()
    assert all(changed[k].key != key for k, key in BOOK_KEYS.items())


def test_ridge_task_writes_one_record_per_point_and_pairs_the_teachers():
    first, again, other = ridge_task(RIDGE, 3), ridge_task(RIDGE, 3), ridge_task(RIDGE, 4)
    assert first == again and first != other
    assert len(first) == 2 * 2 * (3 + 1)  # alphas x depths x (penalty factors on deep data + the GLM's)
    index = {(r["teacher"], r["depth"], r["alpha"], r["penalty_factor"]) for r in first}
    assert len(index) == len(first) and all(r["test_error"] > 0 for r in first)
    assert {(r["teacher"], r["penalty_factor"]) for r in first} == {("deep", 0.5), ("deep", 1.0), ("deep", 2.0),
                                                                    ("glm", 1.0)}
    # more data helps ridge at lambda*: the error at alpha = 2 is below that at alpha = 0.5
    err = {(r["teacher"], r["depth"], r["alpha"], r["penalty_factor"]): r["test_error"] for r in first}
    assert all(err[(t, L, 2.0, 1.0)] < err[(t, L, 0.5, 1.0)] for t in ("deep", "glm") for L in (1, 2))


def test_gamp_task_starts_at_chance_and_its_theory_decreases():
    recs = gamp_task({**BASE, "d0": 150, "alpha": 2.0, "depth": 1, "problem": "classification", "iterations": 4,
                      "n_test": 800}, 0)
    assert [r["iteration"] for r in recs] == list(range(5)) and abs(recs[0]["test_error"] - 0.5) < 0.1
    assert recs[4]["test_error"] < recs[0]["test_error"]
    th = gamp_theory(ReductionToGLM.paper().glm(1), 2.0, "classification", 4)
    assert th[0] == pytest.approx(0.5) and np.all(np.diff(th) <= 1e-12)
    # the classification prediction ignores the label noise (its data have none); regression's does not
    noisy = ReductionToGLM.paper().replace(noise=0.3).glm(1)
    np.testing.assert_array_equal(gamp_theory(noisy, 2.0, "classification", 4), th)
    assert gamp_theory(noisy, 2.0, "regression", 4)[-1] > gamp_theory(ReductionToGLM.paper().glm(1), 2.0,
                                                                      "regression", 4)[-1]


def test_labels_and_narrow_tasks_record_their_fields():
    recs = labels_task({**BASE, "d0": 50, "n": 400, "depth": 1, "quantiles": [0.1, 0.5, 0.9]}, 0)
    assert [(r["teacher"], r["probability"]) for r in recs] == [(t, p) for t in ("deep", "glm")
                                                                for p in (0.1, 0.5, 0.9)]
    for teacher in ("deep", "glm"):
        mine = [r for r in recs if r["teacher"] == teacher]
        assert len({(r["variance"], r["kurtosis"], r["linear"]) for r in mine}) == 1  # the teacher's, on each row
        assert 0 < mine[0]["linear"] < mine[0]["variance"]
        assert [r["quantile"] for r in mine] == sorted(r["quantile"] for r in mine)
    params = {**BASE, "d0": 60, "width": 5, "alpha": 2.0, "depth": 1, "n_test": 4000}
    narrow = narrow_task(params, 0)
    assert narrow == narrow_task(params, 0)
    assert set(narrow) == {"test_error", "excess", "linear", "variance", "own_excess", "kurtosis", "glm_kurtosis"}
    # a width-5 tanh(2x) layer gives clearly sub-Gaussian labels (bounded units, few of them)
    assert narrow["kurtosis"] < -0.2 and abs(narrow["glm_kurtosis"]) < 0.3
    # the two excesses differ by the two predictions: the GLM's and the teacher's own moments'
    lam = ReductionToGLM.paper().glm(1).ridge_penalty
    own = ridge_regression_error(narrow["linear"], narrow["variance"] - narrow["linear"], 2.0, lam)
    assert narrow["test_error"] - own == pytest.approx(narrow["own_excess"], abs=1e-12)


def test_ridge_theory_curves_reach_the_bayes_error_only_at_lambda_star():
    alphas = np.linspace(0.1, 6.0, 40)
    glms = [ReductionToGLM.paper().glm(L) for L in (1, 2)]
    th = ridge_theory_curves(glms, [0.1, 1.0, 10.0], alphas)
    assert th["ridge"].shape == (2, 3, 40) and th["bayes"].shape == (2, 40)
    np.testing.assert_allclose(th["ridge"][:, 1], th["bayes"], rtol=1e-10)
    assert np.all(th["ridge"][:, [0, 2]] > th["bayes"][:, None, :])


def test_bound_shape_over_widths_grows_as_the_widths_shrink():
    curve = bound_shape_over_widths(800, 10, 320, points=50)
    assert np.isclose(curve["d_m"][0], 10) and np.isclose(curve["d_m"][-1], 320)
    assert np.all(np.diff(curve["rate"]) < 0) and curve["rate"][0] > 1.0 > curve["rate"][-1]


def test_penalty_vertex_of_exact_parabolas_and_its_reference():
    """Errors that are an exact parabola in log2(lambda/lambda*) with vertex u0 give back u0 with
    no spread over teachers; the reference is the theory's vertex, moved by ``shift``."""
    rows = [{"d0": 40, "width_ratio": 1.0, "seed": seed, "teacher": "deep", "depth": L, "alpha": a, "penalty_factor": f,
             "test_error": 0.3 + 0.01 * seed + 0.02 * (math.log2(f) - 0.25) ** 2}
            for seed in range(5) for L in (1, 2) for a in (0.5, 2.0) for f in (0.5, 1.0, 2.0)]
    table = pd.DataFrame(rows)
    v = penalty_vertex(table, 40, 1, [0.5, 2.0])
    assert v["vertex"] == pytest.approx(0.25) and v["se"] == pytest.approx(0.0, abs=1e-12)
    glm = ReductionToGLM.paper().glm(1)
    ref = vertex_reference(glm, glm.ridge_penalty, [0.5, 2.0])
    assert abs(ref) < 0.2 and vertex_reference(glm, glm.ridge_penalty, [0.5, 2.0], 1.0) == pytest.approx(ref + 1)
    m, _ = ridge_means(table, 40, 1.0, 2, [0.5, 2.0])
    np.testing.assert_allclose(m, 0.3 + 0.01 * 2 + 0.02 * 0.25**2)


def _small() -> ReductionToGLM:
    return ReductionToGLM.fast().replace(
        depths=(1, 2), d0s=(20, 30, 40), width_ratios=(1.0, 1.5), alphas=(0.5, 1.0, 4.0), teachers=3, n_test=200,
        gamp_d0=60, gamp_iterations=3, gamp_teachers=3, labels_d0=20, labels_n=300, labels_teachers=3, narrow_d0=30,
        hidden_widths=(5, 10, 20), narrow_teachers=3, narrow_n_test=1500)


@pytest.fixture(scope="module")
def small_tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The small experiment's tables as the sweep machinery writes and reads them."""
    folder = tmp_path_factory.mktemp("results")
    out = {}
    for name, sweep in _small().sweeps().items():
        summary = run_sweep(sweep, results_dir=folder, scheduler="serial", progress=False)
        assert not summary.errors
        out[name] = load_frame(sweep, folder)
    return out


def test_the_readers_on_a_computed_table(small_tables):
    e, ridge = _small(), small_tables["ridge"]
    assert len(ridge) == (3 + 1) * 3 * 2 * 4 * 3  # grid points x seeds x depths x alphas x teachers' rows
    direct = ridge_task({**e.sweeps()["ridge"].constants, "d0": 30, "width_ratio": 1.0}, 1)
    want = [r["test_error"] for r in direct if r["teacher"] == "glm" and r["depth"] == 2]
    np.testing.assert_array_equal(ridge_errors(ridge, 30, 1.0, 2, e.alphas, teacher="glm")[:, 1], want)
    paired = ridge_errors(ridge, 40, 1.0, 1, e.alphas, teacher="paired")
    np.testing.assert_array_equal(paired, ridge_errors(ridge, 40, 1.0, 1, e.alphas) - ridge_errors(
        ridge, 40, 1.0, 1, e.alphas, teacher="glm"))
    fit = size_extrapolation(ridge, e.d0s, 1, 1.0, 0.0)
    assert fit["d0"].tolist() == [20.0, 30.0, 40.0] and fit["limit_se"] > 0
    iterations, m, se = gamp_errors(small_tables["gamp"], "regression")
    assert iterations.tolist() == [0, 1, 2, 3] and np.all(se > 0) and m[-1] < m[0]
    stats = label_statistics(small_tables["labels"])
    assert stats["statistic"] == [f"q={p:g}" for p in QUANTILES] + ["variance", "kurtosis", "linear", "rest"]
    assert stats["deep"].shape == stats["z"].shape == (len(QUANTILES) + 4,) and np.all(np.isfinite(stats["z"]))
    split = label_moments(small_tables["labels"], "glm")
    np.testing.assert_allclose(split["linear"] + split["rest"], split["variance"], rtol=1e-14)
    limits = ridge_limits(ridge, e, ReductionTheory(e.activation, e.gain, e.noise))
    assert [(r["depth"], r["alpha"]) for r in limits] == [(L, a) for L in e.depths for a in e.alphas]
    assert all(r["se"] > 0 for r in limits)
    assert narrow_matrix(small_tables["narrow"], "kurtosis", e.hidden_widths).shape == (3, 3)
    assert math.isfinite(kurtosis_exponent(small_tables["narrow"], e.hidden_widths)["exponent"])


def test_the_claims_evaluate_on_a_computed_table(small_tables):
    verdicts = [evaluate(c) for c in claims(_small(), small_tables)]
    assert len(verdicts) == 5 and all(v["perturbations"] and v["kind"] == "claim" for v in verdicts)
    assert all(math.isfinite(v["statistic"]) for v in verdicts)
    assert any(v["resolution"] for v in verdicts)


def test_the_theory_of_the_claims_is_the_equivalent_glm_and_its_wrong_theories():
    e = ReductionToGLM.paper()
    theory = ReductionTheory(e.activation, e.gain, e.noise)
    assert theory.glm(3) == e.glm(3)
    assert ReductionTheory(e.activation, e.gain, e.noise, glm_depth=1).glm(3) == e.glm(1)
    half = ReductionTheory(e.activation, e.gain, e.noise, gamma0_scale=0.5).glm(2)
    assert half.gamma0 == 0.5 * e.glm(2).gamma0 and half.kappa == e.glm(2).kappa
    assert ReductionTheory(e.activation, e.gain, e.noise, depth_shift=1).glm(2) == e.glm(3)


def test_linear_variance_is_the_unbiased_u_statistic():
    """Exact on a tiny sample (the off-diagonal sum by hand), and unbiased: for ``y = c.x +
    noise`` its mean over many samples is ``|c|^2``, while the plain ``|X^T y / n|^2`` is biased
    up by about ``d Var(y) / n``."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((3, 2)), rng.standard_normal(3)
    by_hand = sum(y[i] * y[j] * X[i] @ X[j] for i in range(3) for j in range(3) if i != j) / 6
    assert linear_variance(X, y) == pytest.approx(by_hand, rel=1e-13)
    d, n, c = 20, 200, np.full(20, 0.2)  # |c|^2 = 0.8
    values, naive = [], []
    for _ in range(400):
        X = rng.standard_normal((n, d))
        y = X @ c + 0.5 * rng.standard_normal(n)
        values.append(linear_variance(X, y))
        naive.append(float(np.sum((X.T @ y / n) ** 2)))
    m, se = np.mean(values), np.std(values, ddof=1) / math.sqrt(len(values))
    assert abs(m - 0.8) < 4 * se and np.mean(naive) - 0.8 > 10 * se
    with pytest.raises(ValueError, match="two samples"):
        linear_variance(X[:1], y[:1])


def test_the_moment_theory_predicts_ridge_from_the_second_moments():
    rows = pd.DataFrame([{"width": w, "seed": s, "linear": 0.3 + 0.01 * s, "variance": 0.6, "test_error": 0.3}
                         for w in (5, 10) for s in range(3)])
    glm = ReductionToGLM.paper().glm(2)
    own = narrow_predictions(rows, [5, 10], MomentTheory(), glm, 2.0)
    assert own.shape == (2, 3)
    assert own[1, 2] == pytest.approx(ridge_regression_error(0.32, 0.28, 2.0, glm.ridge_penalty), rel=1e-14)
    infinite = narrow_predictions(rows, [5, 10], MomentTheory("glm"), glm, 2.0)
    np.testing.assert_allclose(infinite, ridge_regression_error(glm.kappa, glm.total_noise, 2.0, glm.ridge_penalty))
    with pytest.raises(ValueError, match="moments"):
        MomentTheory("fourth")


def test_the_narrow_claim_compares_with_the_penalty_the_simulation_used():
    """The prediction is at the penalty given (the simulation's lambda*), whatever moments the
    theory names; a depth shift moves the infinite-width moments only."""
    rows = pd.DataFrame([{"width": w, "seed": s, "linear": 0.3, "variance": 0.6, "test_error": 0.3}
                         for w in (5, 10) for s in range(2)])
    e = ReductionToGLM.paper()
    glm, deeper = e.glm(2), e.glm(3)
    at = narrow_predictions(rows, [5, 10], MomentTheory("glm"), deeper, 2.0, glm.ridge_penalty)
    np.testing.assert_allclose(at, ridge_regression_error(deeper.kappa, deeper.total_noise, 2.0, glm.ridge_penalty))
    own = narrow_predictions(rows, [5, 10], MomentTheory(depth_shift=1), deeper, 2.0, glm.ridge_penalty)
    np.testing.assert_allclose(own, ridge_regression_error(0.3, 0.3, 2.0, glm.ridge_penalty))

"""Tests of deepgep.chapters.ch4_bayes_optimal_generalisation, its tasks and its theory: the
experiment (presets, validation, coercion, derived GLM, stable sweep keys), the theory identities
(optimal ridge = Bayes for regression, plateaus), the tasks against direct computations, the
readers of a small computed table, the depth table against closed forms, and the claims."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from deepgep.chapters import experiment_class
from deepgep.chapters.ch4_bayes_optimal_generalisation import BayesOptimalGeneralisation, EscapeTheory, claims
from deepgep.chapters.ch4_bayes_optimal_generalisation_tables import (escape_arrays, escape_crossings, escape_points,
                                                                     escape_scaling, teacher_matrix, teacher_means,
                                                                     width_deviations)
from deepgep.chapters.ch4_bayes_optimal_generalisation_theory import (bayes_errors, classification_theory,
                                                                      depth_activation_table, plateau,
                                                                      regression_theory)
from deepgep.chapters.ch4_bayes_optimal_generalisation_tasks import escape_task, learners_task, network_task
from deepgep.simulate.estimators import classification_error, logistic_regression, regression_error, ridge
from deepgep.simulate.networks import gaussian_inputs
from deepgep.simulate.teachers import noisy_labels, sample_teacher, teacher_preactivation
from deepgep.support.claims import evaluate
from deepgep.support.experiment import CONFIRMATION_FIRST_SEED, ExperimentError
from deepgep.support.sweeps import load_frame, run_sweep
from deepgep.theory.layers import GLMTheory, equivalent_parameters, erf_coefficients
from deepgep.theory.ridge import bayes_ridge_lambda, optimal_ridge_classification

KAPPA, GAMMA0 = 0.409095, 0.152506  # the book's reference example: tanh(2x), L = 2
GLM = GLMTheory(KAPPA, GAMMA0, 0.05)
ALPHAS = [0.25, 0.5, 1.0, 2.0, 4.0, 7.0]
COMMON = dict(base_seed=7, activation="tanh", gain=2.0, depth=2, noise=0.1, n_test=50)


# --- the experiment -----------------------------------------------------------------------------

def test_the_registry_finds_the_experiment_and_the_presets_are_valid():
    assert experiment_class(4) is BayesOptimalGeneralisation
    paper, fast = BayesOptimalGeneralisation.paper(), BayesOptimalGeneralisation.fast()
    assert paper.is_book and not fast.is_book and fast.preset_name() == "fast"
    assert {name for name, _, _ in fast.differences()} == {
        "d0s", "alphas", "learners_teachers", "n_test", "network_d0s", "network_teachers", "network_max_iter",
        "escape_d0s", "escape_quadratic_alphas", "escape_teachers", "scaling_d0s", "scaling_teachers",
        "confirmation_teachers"}


def test_the_book_sweeps_keep_the_keys_of_the_recorded_tables():
    """The recorded tables are named by these keys: a change of a sweep must be deliberate."""
    keys = {name: sweep.key for name, sweep in BayesOptimalGeneralisation.paper().sweeps().items()}
    assert keys == {"learners": "f54e25beeef9", "network": "82df6950e2b5", "escape": "616878e0143d",
                    "scaling": "0753c5afb4ed", "escape_confirmation": "617aa072a9c7"}
    sweeps = BayesOptimalGeneralisation.paper().sweeps()
    # scaling: d0 = 15 and 50 at every ratio of both lists (6), and n/d0^2 = 3 at the escape's widths
    # the confirmation: every width (5) at every ratio (6), 4 fresh teachers
    assert [s.n_tasks for s in sweeps.values()] == [4 * 60, 3 * 2 * 2 * 10, 3 * 5 * 10, (2 * 6 + 3) * 6, 5 * 6 * 4]
    assert sweeps["learners"].index == ("alpha",) and sweeps["escape"].constants["depth"] == 1
    assert sweeps["scaling"].constants == sweeps["escape"].constants and sweeps["scaling"].task == sweeps["escape"].task
    escape_points_ = {(g["d0"], g["quadratic_alpha"]) for g in sweeps["escape"].grid}
    assert not escape_points_ & {(g["d0"], g["quadratic_alpha"]) for g in sweeps["scaling"].grid}


@pytest.mark.parametrize("change, name", [
    ({"learners_teachers": 1}, "learners_teachers"), ({"d0s": (100, 200)}, "d0s"),
    ({"network_d0s": (10, 10, 20)}, "network_d0s"),
    ({"alphas": (0.5, -1.0)}, "alphas"), ({"alphas": (1.0, 1.0)}, "distinct"), ({"noise": -0.1}, "noise"),
    ({"activation": "nope"}, "nope"),
    ({"logistic_penalty": 0.0}, "logistic_penalty"), ({"network_max_iter": 0}, "network_max_iter"),
    ({"gain": "big"}, "gain"), ({"lambdas": (1.0,)}, "no parameter lambdas"),
    ({"scaling_d0s": (15, 20)}, "scaling_d0s"), ({"scaling_teachers": 1}, "scaling_teachers"),
    ({"confirmation_teachers": 1}, "confirmation_teachers")])
def test_bad_parameters_are_refused_naming_the_field(change, name):
    with pytest.raises(ExperimentError, match=name):
        BayesOptimalGeneralisation.fast().replace(**change)


def test_values_are_coerced_so_that_equal_parameters_give_equal_tables():
    cell = BayesOptimalGeneralisation.from_cell("paper", gain=2, d0s=[100, 200, 400, 800], alphas=[0.5, 1, 1.5, 2, 3,
                                                                                                    4, 5, 6, 7])
    assert cell == BayesOptimalGeneralisation.paper() and isinstance(cell.gain, float)
    assert isinstance(cell.alphas[1], float) and cell.d0s == (100, 200, 400, 800)
    other = BayesOptimalGeneralisation.paper().replace(gain=1.5).sweeps()
    assert all(other[k].key != s.key for k, s in BayesOptimalGeneralisation.paper().sweeps().items())


def test_the_derived_glm_is_the_teachers():
    e = BayesOptimalGeneralisation.paper()
    eta0, gamma0 = equivalent_parameters("tanh", 2.0, 2)
    assert e.glm.kappa == pytest.approx(KAPPA, abs=1e-6) and e.glm.gamma0 == pytest.approx(GAMMA0, abs=1e-6)
    assert e.glm.ridge_penalty == pytest.approx(bayes_ridge_lambda(eta0, gamma0, 0.05), rel=1e-14)
    eta1, gamma1 = equivalent_parameters("tanh", 2.0, 1)
    assert e.escape_glm.total_noise == pytest.approx(gamma1 + 0.01, rel=1e-14) and e.escape_glm.kappa == eta1**2
    assert e.theory_alphas[-1] == 7.0 and e.theory_alphas.size == 200
    assert set(e.derived()) >= {"kappa = eta0^2", "gamma0"}
    assert e.escape_widths == (15, 20, 30, 40, 50)
    assert e.escape_level == pytest.approx(0.01 + gamma1 / 2, rel=1e-14)


# --- theory curves --------------------------------------------------------------------------------

def test_optimal_ridge_is_bayes_for_regression():
    th = regression_theory(GLM, ALPHAS, [0.1, 1.0, 10.0])
    assert th["lambda_star"] == pytest.approx((GAMMA0 + 0.05) / KAPPA, rel=1e-15)
    np.testing.assert_allclose(th["ridge"][:, 1], th["bayes"], rtol=1e-12)
    # the numerical optimum over lambda is found independently of the closed form for lambda*
    np.testing.assert_allclose(th["ridge_best"], th["bayes"], rtol=1e-10)
    np.testing.assert_allclose(th["lambda_best"], th["lambda_star"], rtol=1e-4)
    assert np.all(th["ridge"][:, [0, 2]] > th["bayes"][:, None] * (1 + 1e-6))
    assert np.all(np.diff(th["bayes"]) < 0)


def test_classification_theory_orders_the_errors():
    th = classification_theory(GLM, ALPHAS, [0.1, 1.0, 10.0])
    np.testing.assert_allclose(th["ridge"][:, 1], th["ridge_opt"], rtol=1e-12)
    assert np.all(th["bayes"] <= th["ridge_opt"] + 1e-12)
    assert np.all(th["ridge"][:, [0, 2]] >= th["ridge_opt"][:, None] - 1e-12)
    assert np.all(np.diff(th["bayes"]) < 0) and np.all(th["bayes"] < 0.5)
    # alphas in any order give the same values (state evolution runs on the sorted grid)
    np.testing.assert_allclose(bayes_errors(GLM, "classification", ALPHAS[::-1])[::-1], th["bayes"], rtol=1e-9)
    with pytest.raises(ValueError, match="problem"):
        bayes_errors(GLM, "ranking", ALPHAS)


def test_plateaus_are_approached_at_the_predicted_rate():
    big = [1e2, 1e3, 1e4]
    pl = plateau(GLM, big)
    noise = GAMMA0 + 0.05
    assert pl["regression_plateau"] == noise
    # alpha (E - plateau) -> gamma0 + Delta with an O(1/alpha) correction
    rel = np.abs(pl["scaled_excess"] / noise - 1.0)
    assert np.all(rel < 3.0 / np.array(big)) and rel[-1] < rel[0]
    cls = math.acos(math.sqrt(KAPPA / (KAPPA + GAMMA0))) / math.pi
    assert pl["classification_plateau"] == pytest.approx(cls, rel=1e-15)
    assert np.all(pl["classification"] > cls) and np.all(np.diff(pl["classification"]) < 0)
    assert pl["classification"][-1] - cls < 1e-2 * cls


def test_depth_table_erf_matches_closed_form():
    tab = depth_activation_table(["erf", "tanh"], [0.5, 2.0], 6, 0.05)
    rows = tab["rows"]
    for g in (0.5, 2.0):
        sigma, rho = erf_coefficients(6, gain=g)
        sel = (rows["activation"] == "erf") & (rows["gain"] == g)
        eta_sq = np.cumprod(rho**2)
        np.testing.assert_allclose(rows["eta0^2"][sel], eta_sq, rtol=1e-10)
        np.testing.assert_allclose(rows["gamma0"][sel], sigma[1:] - eta_sq, rtol=1e-9, atol=1e-13)
        frac = rows["signal_fraction"][sel]
        assert np.all(np.diff(frac) < 0)  # every layer adds non-linear "noise"
        L = tab["indistinguishable_depth"][("erf", g)]
        if L is not None:
            assert frac[L - 1] < 0.05 and np.all(frac[: L - 1] >= 0.05)
    assert set(tab["indistinguishable_depth"]) == {("erf", 0.5), ("erf", 2.0), ("tanh", 0.5), ("tanh", 2.0)}


# --- the tasks ------------------------------------------------------------------------------------

def test_learners_task_matches_direct_computation():
    """The task's numbers, redone by hand from the same random stream: nested prefixes of one
    draw, ridge at lambda* (regression) and lambda_opt (classification), logistic regression."""
    params = {**COMMON, "d0": 12, "alphas": [1.0, 2.0], "logistic_penalty": 0.5}
    records = learners_task(params, 3)
    assert [r["alpha"] for r in records] == [1.0, 2.0]
    assert all(set(r) == {"alpha", "ridge_regression", "ridge_classification", "logistic"} for r in records)
    rng = np.random.default_rng([7, 1, 12, 3])
    teacher = sample_teacher((12, 12, 12), "tanh", rng, gain=2.0)
    X, X_test = gaussian_inputs(24, 12, rng), gaussian_inputs(50, 12, rng)
    s, s_test = teacher_preactivation(teacher, X), teacher_preactivation(teacher, X_test)
    y = noisy_labels(s, 0.0, rng, "linear", 0.1)
    y_test = noisy_labels(s_test, 0.0, rng, "linear", 0.1)
    c, c_test = np.where(s >= 0, 1.0, -1.0), np.where(s_test >= 0, 1.0, -1.0)
    eta0, gamma0 = equivalent_parameters("tanh", 2.0, 2)
    for rec in records:
        alpha = rec["alpha"]
        n = round(12 * alpha)
        lam = (gamma0 + 0.1) / eta0**2
        assert rec["ridge_regression"] == pytest.approx(regression_error(X_test, y_test, ridge(X[:n], y[:n], lam)),
                                                        rel=1e-9)
        lam_c = optimal_ridge_classification(eta0**2, gamma0, alpha)[0]
        assert rec["ridge_classification"] == classification_error(X_test, c_test, ridge(X[:n], c[:n], lam_c))
        assert rec["logistic"] == classification_error(X_test, c_test, logistic_regression(X[:n], c[:n], 0.5))
    assert learners_task(params, 3) == records  # a task is a pure function of (params, seed)


def test_network_task_pairs_the_network_with_ridge():
    params = {**COMMON, "d0": 10, "alpha": 2.0, "problem": "classification", "weight_decay": 0.5,
              "max_iter": 50, "tol": 1e-9}
    rec = network_task(params, 0)
    assert set(rec) == {"network", "ridge", "converged", "iterations"}
    assert 0.0 <= rec["network"] <= 1.0 and 0.0 <= rec["ridge"] <= 1.0 and 1 <= rec["iterations"] <= 50
    reg = network_task({**params, "problem": "regression"}, 0)
    assert reg["network"] > 0.1 and reg["ridge"] > 0.1  # test MSE includes Delta
    assert network_task(params, 0) == rec and network_task(params, 1) != rec


def test_escape_task_is_deterministic():
    params = {**COMMON, "depth": 1, "d0": 6, "quadratic_alpha": 1.0, "max_iter": 30}
    rec = escape_task(params, 1)
    assert set(rec) == {"ridge", "network", "converged"} and rec["ridge"] > 0.1
    assert escape_task(params, 1) == rec


# --- readers and claims on a small computed table -------------------------------------------------

def _small() -> BayesOptimalGeneralisation:
    return BayesOptimalGeneralisation.fast().replace(
        d0s=(8, 12, 16), alphas=(1.0, 2.0), learners_teachers=3, n_test=200, network_d0s=(6, 8, 10),
        network_alphas=(1.0,), network_teachers=2, network_max_iter=30, escape_d0s=(5,),
        escape_quadratic_alphas=(0.5, 1.0), escape_teachers=2, escape_max_iter=30, scaling_d0s=(4, 6),
        scaling_quadratic_alphas=(1.0, 2.0), scaling_teachers=2)


@pytest.fixture(scope="module")
def small_tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The small experiment's tables, run and read back as the library does (long format)."""
    folder = tmp_path_factory.mktemp("ch4")
    out = {}
    for name, sweep in _small().sweeps().items():
        assert not run_sweep(sweep, results_dir=folder, scheduler="serial", progress=False).errors
        out[name] = load_frame(sweep, folder)
    return out


def test_readers_of_the_long_tables(small_tables):
    learners = small_tables["learners"]
    assert len(learners) == 3 * 3 * 2 and set(learners["alpha"]) == {1.0, 2.0}
    m = teacher_means(learners, "logistic", ("alpha",), d0=12)
    rows = learners[(learners["d0"] == 12) & (learners["alpha"] == 2.0)].sort_values("seed")
    assert m.loc[2.0, "mean"] == pytest.approx(rows["logistic"].mean(), rel=1e-14)
    assert m.loc[2.0, "se"] == pytest.approx(rows["logistic"].std(ddof=1) / math.sqrt(3), rel=1e-12)
    assert m.loc[2.0, "teachers"] == 3
    matrix = teacher_matrix(learners, "logistic", "alpha", [2.0, 1.0], d0=12)
    assert matrix.shape == (2, 3) and np.array_equal(matrix[0], rows["logistic"].to_numpy())
    dev = width_deviations(learners, "ridge_regression", 0.25, alpha=1.0)
    assert list(dev["d0"]) == [8.0, 12.0, 16.0]
    first = learners[(learners["d0"] == 8) & (learners["alpha"] == 1.0)]["ridge_regression"]
    assert dev["deviation"][0] == pytest.approx(first.mean() - 0.25, rel=1e-12)
    esc = escape_points(pd.concat([small_tables["escape"], small_tables["scaling"]]))
    assert [tuple(r) for r in esc[["d0", "quadratic_alpha", "n"]].itertuples(index=False)] == [
        (4, 0.5, 8), (4, 1.0, 16), (4, 2.0, 32), (5, 0.5, 12), (5, 1.0, 25), (5, 2.0, 50), (6, 0.5, 18),
        (6, 1.0, 36), (6, 2.0, 72)]
    assert (esc["teachers"] == 2).all() and np.all(esc["network_se"] > 0)
    with pytest.raises(ValueError, match="no rows"):
        teacher_means(learners, "logistic", ("alpha",), d0=99)


def test_claims_evaluate_on_a_small_table(small_tables):
    verdicts = [evaluate(c) for c in claims(_small(), small_tables)]
    assert len(verdicts) == 8 and all(v["perturbations"] for v in verdicts)
    assert [v["name"] for v in verdicts if v["kind"] == "identity"] == ["optimal ridge is Bayes-optimal (regression)"]
    assert all(math.isfinite(v["statistic"]) for v in verdicts)
    identity = next(v for v in verdicts if v["name"].startswith("optimal ridge"))
    assert identity["holds"] and not any(p["holds"] for p in identity["perturbations"])


def test_escape_crossings_interpolate_in_log_n():
    """A width whose error goes 0.3 -> 0.1 between n = 100 and n = 400 crosses 0.2 at n = 200
    (halfway in log n), with the delta-method error of the two points; one that never ends below
    the level has no crossing; a peak before the fall does not count (the last crossing)."""
    points = pd.DataFrame({"d0": [10, 10, 10, 20, 20], "quadratic_alpha": [0.5, 1.0, 4.0, 1.0, 4.0],
                           "n": [50, 100, 400, 400, 1600], "network": [0.15, 0.3, 0.1, 0.4, 0.3],
                           "network_se": [0.01, 0.02, 0.02, 0.01, 0.01]})
    out = escape_crossings(points, 0.2).set_index("d0")
    assert out.loc[10, "n_cross"] == pytest.approx(200.0, rel=1e-12)
    assert out.loc[10, "log_se"] == pytest.approx(math.log(4) * math.hypot(0.5 * 0.02, 0.5 * 0.02) / 0.2, rel=1e-12)
    assert math.isnan(out.loc[20, "n_cross"])
    assert EscapeTheory().exponent == 2.0


def test_escape_arrays_are_the_escape_sweep_per_width_and_ratio(small_tables):
    e = _small()
    arrays = escape_arrays(small_tables["escape"], e.escape_d0s, e.escape_quadratic_alphas, e.escape_glm.total_noise)
    assert arrays["ridge"].shape == arrays["network"].shape == (1, 2, 2)
    assert arrays["n"].tolist() == [[12, 25]] and arrays["plateau"] == e.escape_glm.total_noise
    rows = small_tables["escape"].query("quadratic_alpha == 1.0").sort_values("seed")
    assert np.array_equal(arrays["network"][0, 1], rows["network"].to_numpy())


def _synthetic_escape(e: BayesOptimalGeneralisation, exponent: float) -> pd.DataFrame:
    """Escape rows whose mean error is ``level (n_c / n)`` with ``n_c = 2 d0^exponent``, every
    width at the ratios 0.5 ... 16 and two teachers (+- 1 % of the mean): it crosses the level at
    ``n_c``."""
    rows = []
    for d0 in e.escape_widths:
        for ratio in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0):
            mean = e.escape_level * 2.0 * d0**exponent / round(ratio * d0 * d0)
            rows += [{"d0": d0, "quadratic_alpha": ratio, "seed": s, "ridge": 1.0, "converged": True,
                      "network": mean * (1.0 + 0.01 * (2 * s - 1))} for s in (0, 1)]
    return pd.DataFrame(rows)


def test_the_escape_claim_is_a_lower_bound_on_the_exponent(small_tables):
    """On escapes that cross the level at n = 2 d0^2.5 (three widths), the claim (n grows at least like d0^2)
    holds, a bound of d0^3 is rejected, a smaller bound (d0^1.5) holds too (one-sided), and an
    escape exactly at d0^1.5 (two-sided) is rejected."""
    e = _small()
    tables = {**small_tables, "escape": _synthetic_escape(e, 2.5), "scaling": _synthetic_escape(e, 2.5).iloc[:0]}
    claim = next(c for c in claims(e, tables) if c.name.startswith("the escape needs"))
    assert claim.test(EscapeTheory(2.0)).holds and claim.test(EscapeTheory(1.5)).holds
    assert not claim.test(EscapeTheory(3.0)).holds and not claim.test(EscapeTheory(1.5, bound=False)).holds
    assert not any(evaluate(claim)["perturbations"][k]["holds"] for k in (0, 1))
    fitted = float(claim.statement.split("The fit gives p = ")[1].split()[0])
    assert abs(fitted - 2.5) < 0.2  # the crossing is linear in log n of a 1/n curve: biased on widths 4-6


def test_the_confirmation_sweep_has_fresh_teachers_at_every_width_and_ratio():
    """The escape's confirmation runs the escape task, unchanged, on teachers no other sweep of
    the chapter has, at every (width, ratio) of the escape and scaling sweeps together."""
    sweeps = BayesOptimalGeneralisation.paper().sweeps()
    fresh = sweeps["escape_confirmation"]
    assert fresh.task == sweeps["escape"].task and fresh.constants == sweeps["escape"].constants
    assert list(fresh.seeds) == list(range(CONFIRMATION_FIRST_SEED, CONFIRMATION_FIRST_SEED + 4))
    assert not set(fresh.seeds) & {s for k, w in sweeps.items() if k != "escape_confirmation" for s in w.seeds}
    earlier = {(g["d0"], g["quadratic_alpha"]) for k in ("escape", "scaling") for g in sweeps[k].grid}
    assert {(g["d0"], g["quadratic_alpha"]) for g in fresh.grid} == earlier


def test_the_confirmation_claim_reads_the_fresh_teachers_only(small_tables):
    """The confirmation claim's fit changes with the confirmation table and not with the escape's."""
    e = _small()
    base = {c.name: evaluate(c)["statistic"] for c in claims(e, small_tables)}
    synthetic = _synthetic_escape(e, 2.5).assign(seed=lambda f: f["seed"] + CONFIRMATION_FIRST_SEED)
    swapped = {**small_tables, "escape_confirmation": synthetic}
    claim = next(c for c in claims(e, swapped) if c.name.endswith("on fresh teachers"))
    assert claim.test(EscapeTheory(2.0)).holds and not claim.test(EscapeTheory(1.5, bound=False)).holds
    assert f"seeds {CONFIRMATION_FIRST_SEED}-{CONFIRMATION_FIRST_SEED + 1}" in claim.statement
    others = {c.name: evaluate(c)["statistic"] for c in claims(e, swapped) if not c.name.endswith("on fresh teachers")}
    assert others == {k: v for k, v in base.items() if not k.endswith("on fresh teachers")}


def test_escape_scaling_fits_only_when_every_width_crosses():
    """Three widths whose error goes 0.4 -> 0.1 between n = d0^2 and 4 d0^2 cross 0.2 two thirds of
    the way in log n, at n = 4^(2/3) d0^2, so p = 2 exactly; a width that never crosses leaves no
    fit (the scaling claim then fails rather than fitting the others)."""
    rows = [{"d0": d, "quadratic_alpha": r, "n": r * d * d, "network": 0.4 / r, "network_se": 0.01}
            for d in (10, 20, 40) for r in (1.0, 4.0)]
    crossings, fit = escape_scaling(pd.DataFrame(rows), 0.2)
    assert fit is not None and fit.values["exponent"] == pytest.approx(2.0, abs=1e-9)
    assert np.allclose(crossings["n_cross / d0^2"], 4.0 ** (2.0 / 3.0), rtol=1e-12)
    stuck = pd.DataFrame(rows + [{"d0": 80, "quadratic_alpha": 1.0, "n": 6400, "network": 0.5, "network_se": 0.01}])
    assert escape_scaling(stuck, 0.2)[1] is None

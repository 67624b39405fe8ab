"""Tests of deepgep.chapters.ch3_free_entropy and its tasks: the experiment (presets, validation,
coercion, kappa and gamma0 derived from activation, gain and depth against the reference values
and the erf closed form, stable sweep keys), the tasks (determinism, long-format records, the
concentration of the free entropy, Theorem 2), the readers and the claims on small computed
tables. (The linear channel's finite-size quantities are checked in tests/theory/test_glm.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from deepgep.chapters import experiment_class
from deepgep.chapters.ch3_free_entropy import (FreeEntropy, bayes_depth_curves, claims, depth_models, gamp_summary,
                                               information_extrapolation, pooled_variances)
from deepgep.chapters.ch3_free_entropy_tasks import concentration_task, gamp_task, information_task
from deepgep.support.claims import evaluate
from deepgep.support.experiment import ExperimentError
from deepgep.support.sweeps import resolve_task
from deepgep.theory.layers import GLMTheory, erf_coefficients
from deepgep.theory.state_evolution import gaussian_closed_form

#: Cui et al.'s example (phi = tanh(2x), L = 2, rho = 1, eps = 0), book eq-composition: eta0^2
#: and gamma0 of the equivalent GLM, as the notation page quotes them (six decimals).
KAPPA, GAMMA0 = 0.409095, 0.152506
ALPHA = 2.0


# ---- the experiment ---------------------------------------------------------------------------

def test_the_registry_finds_the_experiment_and_the_presets_are_valid():
    assert experiment_class(3) is FreeEntropy
    paper, fast = FreeEntropy.paper(), FreeEntropy.fast()
    assert paper.is_book and not fast.is_book and fast.preset_name() == "fast"
    assert {name for name, _, _ in fast.differences()} == {"information_d0s", "information_matrices",
                                                          "concentration_ns", "concentration_batches",
                                                          "gamp_teachers"}
    assert paper.alphas[0] == 0.25 and paper.alphas[-1] == 7.0 and len(paper.alphas) == 28


def test_kappa_and_gamma0_are_derived_and_equal_the_reference_values():
    paper = FreeEntropy.paper()
    assert abs(paper.kappa - KAPPA) < 5e-7 and abs(paper.gamma0 - GAMMA0) < 5e-7
    assert paper.derived()["kappa = eta0^2"] == paper.kappa and paper.derived()["gamma0"] == paper.gamma0
    # erf(g x): kappa = (rho_1 rho_2)^2 from the closed forms, kappa + gamma0 = sigma_2
    erf = paper.replace(activation="erf", gain=1.5)
    sigma, rho = erf_coefficients(2, gain=1.5)
    assert erf.kappa == pytest.approx(float(rho[0] * rho[1]) ** 2, rel=1e-12)
    assert erf.kappa + erf.gamma0 == pytest.approx(sigma[2], rel=1e-12)
    # they reach the sweeps: another activation has other tables
    assert erf.sweeps()["gamp"].constants["kappa"] == erf.kappa
    assert erf.sweeps()["information"].key != paper.sweeps()["information"].key
    deeper = paper.replace(depth=3)
    assert deeper.kappa < paper.kappa and deeper.gamma0 != paper.gamma0


def test_bad_parameters_are_refused_naming_the_field():
    fast = FreeEntropy.fast()
    with pytest.raises(ExperimentError, match="information_matrices"):
        fast.replace(information_matrices=4)
    with pytest.raises(ExperimentError, match="concentration_ns"):
        fast.replace(concentration_ns=(50, 100))
    with pytest.raises(ExperimentError, match="depths"):
        fast.replace(depth=4)  # not among the depths of the curves
    with pytest.raises(ExperimentError, match="noise"):
        fast.replace(noise=0.0)  # the plain GLM of depth 0 would have no noise
    with pytest.raises(ExperimentError, match="gamma0 = 0"):
        fast.replace(activation="linear", gain=1.0)
    with pytest.raises(ExperimentError, match="no parameter"):
        fast.replace(kappa=0.4)  # derived, never set by hand
    with pytest.raises(ExperimentError, match="alpha_step"):
        fast.replace(alpha_step=0.3)  # 7 / 0.3 steps do not end at alpha_max


def test_values_are_coerced_so_that_equal_parameters_give_equal_tables():
    cell = FreeEntropy.from_cell("paper", gain=2, depths=[0, 1, 2, 3], gamp_alphas=[1, 3])
    assert cell == FreeEntropy.paper() and isinstance(cell.gamp_alphas[0], float)
    assert {k: s.key for k, s in cell.sweeps().items()} == {k: s.key for k, s in FreeEntropy.paper().sweeps().items()}


def test_the_sweeps_of_the_book_have_the_recorded_keys():
    """The book's tables are named by these keys: a change of a sweep's definition must be
    deliberate, with the tables re-recorded."""
    assert {name: s.key for name, s in FreeEntropy.paper().sweeps().items()} == {
        "information": "662cee074898", "concentration": "231b21564ece", "gamp": "3ffce8424681"}


# ---- the tasks ----------------------------------------------------------------------------------

def _concentration(ns, batches, base_seed=12) -> pd.DataFrame:
    params = {"base_seed": base_seed, "kappa": KAPPA, "alpha": ALPHA, "total_noise": GAMMA0, "datasets": 50}
    return pd.DataFrame([{"n": n, "seed": s, **concentration_task({**params, "n": n}, s)}
                         for n in ns for s in range(batches)])


def test_log_partition_variance_decreases_like_one_over_n():
    """Var((1/n) log Z) = 1/(2n) + Var(log det C)/(4 n^2) for the linear channel (y^T C^{-1} y is
    chi-squared with n degrees of freedom given X). Over n = 50..400 (factor 8), 300 datasets
    each (6 batches of 50, pooled): each variance has relative standard error sqrt(2/299) = 8%,
    so the log-log slope has standard error ~0.05 and the window [-1.3, -0.7] is ~6 SE wide on
    each side. The pooled n * Var is 1/2 up to Var(log det C)/(4n) (< 1% at n = 50) and ~4%
    statistical error: checked within 20%."""
    v = pooled_variances(_concentration((50, 100, 200, 400), 6))
    np.testing.assert_array_equal(v["n"], [50, 100, 200, 400])
    np.testing.assert_array_equal(v["datasets"], [300] * 4)
    assert np.all(v["variance_se"] == pytest.approx(v["variance"] * math.sqrt(2 / 299)))
    slope = np.polyfit(np.log(v["n"]), np.log(v["variance"]), 1)[0]
    assert -1.3 < slope < -0.7, slope
    assert np.mean(v["n"] * v["variance"]) == pytest.approx(0.5, rel=0.2)


def test_pooled_variance_equals_the_variance_of_all_datasets():
    rows = pd.DataFrame([{"n": 10, "mean": x.mean(), "m2": float(np.sum((x - x.mean()) ** 2)), "count": x.size}
                         for x in (np.array([1.0, 2.0, 4.0]), np.array([0.5, 3.0]))])
    assert pooled_variances(rows)["variance"][0] == pytest.approx(np.var([1.0, 2.0, 4.0, 0.5, 3.0], ddof=1))


def test_information_task_is_deterministic_and_its_extrapolation_nears_the_formula():
    params = {"base_seed": 3, "kappa": KAPPA, "alpha": ALPHA, "total_noise": GAMMA0}
    assert information_task({**params, "d0": 20}, 1) == information_task({**params, "d0": 20}, 1)
    rows = pd.DataFrame([{"d0": d, "seed": s, **information_task({**params, "d0": d}, s)}
                         for d in (20, 40, 80) for s in range(8)])
    out = information_extrapolation(rows)
    replica = gaussian_closed_form(KAPPA, GAMMA0, ALPHA)["mutual_information"]
    assert list(out["d0"]) == [20, 40, 80] and np.all(out["se"] > 0)
    assert np.all(np.abs(out["value"] - replica) < 0.02)
    assert abs(out["fit"].values["limit"] - replica) < 5 * out["fit"].errors["limit"] + 1e-3


def test_gamp_task_writes_one_record_per_iteration():
    params = {"base_seed": 1, "kappa": KAPPA, "gamma0": GAMMA0, "noise": 0.05, "d0": 200, "alpha": 2.0,
              "problem": "regression", "iterations": 5}
    records = gamp_task(params, 0)
    assert records == gamp_task(params, 0) and records != gamp_task(params, 1)
    assert [r["iteration"] for r in records] == list(range(6)) and all(list(r) == ["iteration", "mse"] for r in records)
    assert records[5]["mse"] < records[0]["mse"]
    with pytest.raises(ValueError, match="problem"):
        gamp_task({**params, "problem": "ranking"}, 0)


# ---- theory curves, readers and claims --------------------------------------------------------------

def test_bayes_depth_curves_match_the_closed_form_and_order_the_depths():
    alphas, noise = [0.5, 1.0, 2.0, 4.0], 0.05
    models = depth_models("tanh", 2.0, [0, 2], noise)
    assert models[0] == GLMTheory(1.0, 0.0, noise)
    curves = bayes_depth_curves(models, alphas)
    reg, m = curves["regression", 2], models[2]
    closed = [gaussian_closed_form(m.kappa, m.gamma0 + noise, a)["test_error"] for a in alphas]
    np.testing.assert_allclose(reg["test_error"], closed, atol=1e-8)
    np.testing.assert_allclose(reg["relative_error"], reg["test_error"] / (m.kappa + m.gamma0 + noise))
    for problem in ("regression", "classification"):  # the deeper (noisier, weaker) model is harder
        assert np.all(curves[problem, 2]["relative_error"] > curves[problem, 0]["relative_error"])


def _small() -> FreeEntropy:
    return FreeEntropy.fast().replace(information_d0s=(20, 40, 80), information_matrices=6,
                                      concentration_ns=(20, 40, 80), concentration_batch_datasets=10,
                                      concentration_batches=3, gamp_d0=200, gamp_teachers=3, gamp_iterations=4)


def _tables(experiment: FreeEntropy) -> dict[str, pd.DataFrame]:
    """The experiment's tables computed in this process (rows as the sweeps write them)."""
    out = {}
    for name, sweep in experiment.sweeps().items():
        task = resolve_task(sweep.task)
        rows = []
        for point, seed in sweep.tasks():
            result = task({**sweep.constants, **point}, seed)
            rows += [{**point, "seed": seed, **r} for r in (result if isinstance(result, list) else [result])]
        out[name] = pd.DataFrame(rows)
    return out


def test_readers_and_claims_on_small_tables():
    experiment = _small()
    tables = _tables(experiment)
    assert len(tables["gamp"]) == 2 * 2 * 3 * 5
    summary = gamp_summary(tables["gamp"], "classification", 3.0, experiment.glm)
    assert list(summary["iteration"]) == list(range(5)) and summary["state_evolution"].iloc[0] == pytest.approx(1.0)
    assert np.all(summary["se"] > 0)
    verdicts = [evaluate(c) for c in claims(experiment, tables)]
    assert len(verdicts) == 3 and all(v["perturbations"] for v in verdicts)
    assert all(math.isfinite(v["statistic"]) for v in verdicts) and all(v["resolution"] for v in verdicts)

"""Tests of deepgep.chapters.ch5_posterior_sampling and its task: the experiment (presets,
validation, coercion, derived GLMs against the book's reference values, stable sweep key), the
task (its random stream, determinism, the GLM numbers), the summary of a small computed table, the
gap fit, and the claims on a table drawn from the theory (they hold; the wrong theories are
rejected)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from deepgep.chapters import experiment_class
from deepgep.chapters.ch5_posterior_sampling import (POOL_FROM_D0, DepthwiseGLM, PosteriorSampling, claims, gap_fits,
                                                     summarise)
from deepgep.chapters.ch5_posterior_sampling_tasks import bayes_instance, posterior_task
from deepgep.support.claims import evaluate
from deepgep.support.experiment import ExperimentError
from deepgep.support.stats import pooled_mean
from deepgep.theory.layers import equivalent_glm, layer_coefficients
from deepgep.theory.state_evolution import gaussian_closed_form

TINY = dict(base_seed=0, activation="tanh", gain=2.0, noise=0.1, n_test=50, n_warmup=30, n_samples=20)


def test_the_registry_finds_the_experiment_and_the_presets_are_valid():
    assert experiment_class(5) is PosteriorSampling
    paper, fast = PosteriorSampling.paper(), PosteriorSampling.fast()
    assert paper.is_book and fast.preset_name() == "fast"
    assert {name for name, _, _ in fast.differences()} == {"d0s", "alphas", "teachers", "n_warmup", "n_samples"}
    assert paper.sweeps()["posterior"].n_tasks == 400 and fast.sweeps()["posterior"].n_tasks == 18


def test_derived_glms_are_the_books_reference_values():
    """tanh(2x), L = 2: kappa = 0.409095, gamma0 = 0.152506 (book notation.md, reference values)."""
    glm = PosteriorSampling.paper().glms[2]
    assert glm.kappa == pytest.approx(0.409095, abs=1e-6) and glm.gamma0 == pytest.approx(0.152506, abs=1e-6)
    assert glm.ridge_penalty == pytest.approx((0.152506 + 0.1) / 0.409095, rel=1e-5)
    assert PosteriorSampling.paper().pool_from_d0 == POOL_FROM_D0 == 32
    assert PosteriorSampling.fast().replace(d0s=(8, 12, 16)).pool_from_d0 == 16


def test_bad_parameters_are_refused_naming_the_field():
    fast = PosteriorSampling.fast()
    for change, word in ((dict(teachers=1), "teachers"), (dict(activation="softplus"), "activation"),
                         (dict(d0s=(16, 32)), "d0s"), (dict(alphas=(0.0,)), "alpha"), (dict(depths=(0,)), "depths"),
                         (dict(noise=0.0), "noise"), (dict(n_samples=2), "n_samples"), (dict(d0s=(16, 16, 32)), "d0s")):
        with pytest.raises(ExperimentError, match=word):
            fast.replace(**change)
    with pytest.raises(ExperimentError, match="no parameter"):
        fast.replace(delta=0.1)


def test_values_are_coerced_and_the_book_key_is_stable():
    cell = PosteriorSampling.from_cell("paper", gain=2, depths=[1, 2], alphas=[0.5, 1, 2, 4])
    assert cell == PosteriorSampling.paper() and isinstance(cell.alphas[0], float)
    # the key of the recorded table (results/ch5/posterior-41c6b198dc4f.csv)
    assert cell.sweeps()["posterior"].key == "41c6b198dc4f"
    assert PosteriorSampling.paper().replace(teachers=11).sweeps()["posterior"].key != "41c6b198dc4f"


def _params(depth: int, d0: int, alpha: float) -> dict:
    return {**TINY, "depth": depth, "d0": d0, "alpha": alpha}


def test_posterior_task_uses_its_own_stream_and_is_deterministic():
    params = _params(1, 5, 2.0)
    out = posterior_task(params, 1)
    # the stream of the recorded table: default_rng([base_seed, depth, d0, round(1000 alpha), seed])
    direct = bayes_instance((5, 5), "tanh", 2.0, 0.1, np.random.default_rng([0, 1, 5, 2000, 1]), gain=2.0,
                            n_test=50, n_warmup=30, n_samples=20)
    results = lambda record: {k: v for k, v in record.items() if k != "gradient_evaluations_per_second"}  # noqa: E731
    assert results(out) == results(direct) == results(posterior_task(params, 1))  # a speed is not a result
    assert results(out) != results(posterior_task(params, 2))
    glm = equivalent_glm(layer_coefficients("tanh", 1, gain=2.0))
    assert out["n"] == 10 and out["glm_error"] == gaussian_closed_form(glm.kappa, glm.gamma0 + 0.1, 2.0)["test_error"]
    assert out["posterior_error"] > 0.1 and out["ridge_error"] > 0.1


def test_summary_of_a_small_computed_table():
    rows = [{"depth": 1, "d0": 5, "alpha": 2.0, "seed": s, **posterior_task(_params(1, 5, 2.0), s)} for s in range(3)]
    table = pd.DataFrame(rows)
    summary = summarise(table)
    assert summary["teachers"].tolist() == [3]
    gap = table["ridge_error"] - table["posterior_error"]
    assert summary["gap"].iloc[0] == pytest.approx(gap.mean())
    assert summary["gap_se"].iloc[0] == pytest.approx(gap.std(ddof=1) / math.sqrt(3))
    assert pooled_mean(gap) == pytest.approx((summary["gap"].iloc[0], summary["gap_se"].iloc[0]))
    assert summary["r_hat_max"].iloc[0] == table["r_hat_max"].max()


def test_gap_fits_recover_an_exact_line():
    d0 = np.array([10, 20, 40, 10, 20, 40])
    summary = pd.DataFrame({"depth": [1, 1, 1, 2, 2, 2], "alpha": 2.0, "d0": d0,
                            "gap": np.r_[0.01 + 0.5 / d0[:3], 0.3 / d0[3:]], "gap_se": 0.001})
    fits = gap_fits(summary)
    assert set(fits) == {(1, 2.0), (2, 2.0)}
    assert fits[1, 2.0].values["limit"] == pytest.approx(0.01, abs=1e-12)
    assert fits[1, 2.0].values["slope"] == pytest.approx(0.5, rel=1e-10)
    assert fits[2, 2.0].values["limit"] == pytest.approx(0.0, abs=1e-12)


def _theory_table(experiment: PosteriorSampling, rng: np.random.Generator) -> pd.DataFrame:
    """A table as the theory says it should look: errors and overlaps scattered around the GLM's,
    a gap decaying like 0.1/d0, the Nishimori identity exact in expectation."""
    rows = []
    theory = DepthwiseGLM(experiment.activation, experiment.gain, experiment.noise)
    for depth in experiment.depths:
        glm = theory.at(depth)
        for d0 in experiment.d0s:
            for alpha in experiment.alphas:
                closed = gaussian_closed_form(glm.kappa, glm.total_noise, alpha)
                for seed in range(experiment.teachers):
                    post = closed["test_error"] + 0.01 * rng.standard_normal()
                    teacher = glm.kappa * closed["q"] + 0.01 * rng.standard_normal()
                    rows.append({"depth": depth, "d0": d0, "alpha": alpha, "seed": seed, "posterior_error": post,
                                 "ridge_error": post + 0.1 / d0 + 0.001 * rng.standard_normal(),
                                 "glm_error": closed["test_error"], "glm_q": closed["q"], "kappa": glm.kappa,
                                 "overlap_teacher": teacher, "overlap_samples": teacher + 0.005 * rng.standard_normal(),
                                 "r_hat_max": 1.0, "ess_min": 500.0, "divergences": 0, "acceptance_rate": 0.9,
                                 "mean_integration_steps": 31.0})
    return pd.DataFrame(rows)


def test_claims_hold_on_the_theory_and_reject_the_wrong_theories():
    experiment = PosteriorSampling.fast().replace(d0s=(16, 32, 64), alphas=(1.0, 2.0), teachers=40)
    verdicts = [evaluate(c) for c in claims(experiment, {"posterior": _theory_table(experiment, np.random.default_rng(3))})]
    assert len(verdicts) == 4
    for v in verdicts:
        assert v["holds"], v
        assert v["perturbations"] and not any(p["holds"] for p in v["perturbations"]), v
    error = next(v for v in verdicts if v["name"].startswith("deep posterior error"))
    assert {r["parameter"] for r in error["resolution"]} == {"gamma0_factor", "noise"}

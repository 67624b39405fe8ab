"""Tests of deepgep.chapters.ch1_gaussian_equivalence and its tasks: the experiment (presets,
validation, coercion, derived coefficients against their closed forms, stable sweep keys), the
tasks (long-format records, determinism, identities), the readers on a small computed table
and the claims on it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from deepgep.chapters import experiment_class
from deepgep.chapters import ch1_gaussian_equivalence_tasks as tasks
from deepgep.chapters.ch1_gaussian_equivalence import (GaussianEquivalence, GrowthTheory, LayerTheory,
                                                       bound_shape_curve, claims, coefficient_limits, exponent_fit,
                                                       growth_exponents, sample_size_arrays, width_arrays, width_means,
                                                       width_values)
from deepgep.chapters.ch1_gaussian_equivalence_tasks import MOMENTS, sample_size_task, width_task
from deepgep.support.claims import evaluate
from deepgep.support.experiment import ExperimentError
from deepgep.support.spectra import operator_norm
from deepgep.support.sweeps import resolve_task
from deepgep.theory.layers import erf_coefficients, layer_coefficients, theorem1_bound_shape

WIDTH = {"base_seed": 3, "alpha": 1.0, "activation": "tanh", "gain": 2.0, "depth": 2, "tag": 0}
SAMPLE = {"base_seed": 3, "activation": "tanh", "gain": 2.0, "alphas": [0.5, 1.0, 2.0]}
PER_LAYER = ["layer", "kernel_op", "kernel_frob", "gram_vs_kernel", "spectrum_w1", "top_kernel", "rho_hat",
             "sigma_hat", "eps_hat"] + [f"m{k}_{m}" for m in ("gram", "equivalent", "noiseless") for k in MOMENTS]


# ---- the experiment ---------------------------------------------------------------------------

def test_the_registry_finds_the_experiment_and_the_presets_are_valid():
    assert experiment_class(1) is GaussianEquivalence
    paper, fast = GaussianEquivalence.paper(), GaussianEquivalence.fast()
    assert paper.is_book and not fast.is_book and fast.preset_name() == "fast"
    assert {name for name, _, _ in fast.differences()} == {"widths", "width_networks", "relu_networks",
                                                          "spectra_width", "sample_size_alphas",
                                                          "sample_size_networks"}
    assert paper.samples == (100, 200, 400, 800, 1600)


def test_bad_parameters_are_refused_naming_the_field():
    fast = GaussianEquivalence.fast()
    with pytest.raises(ExperimentError, match="width_networks"):
        fast.replace(width_networks=1)
    with pytest.raises(ExperimentError, match="widths"):
        fast.replace(widths=(100, 200))  # two widths: no fit with an error
    with pytest.raises(ExperimentError, match="sample_size_alphas"):
        fast.replace(sample_size_alphas=(4.0, 2.0, 1.0))  # not increasing
    with pytest.raises(ExperimentError, match="activation"):
        fast.replace(activation="softsign?")
    with pytest.raises(ExperimentError, match="gain"):
        fast.replace(gain=-1.0)
    with pytest.raises(ExperimentError, match="depth must be an integer"):
        fast.replace(depth=2.5)
    with pytest.raises(ExperimentError, match="no parameter"):
        fast.replace(seed=3)


def test_values_are_coerced_so_that_equal_parameters_give_equal_tables():
    from_cell = GaussianEquivalence.from_cell("paper", gain=2, widths=[100, 200, 400, 800, 1600],
                                              sample_size_alphas=[0.5, 1, 2, 4, 8, 16, 32, 64])
    assert from_cell == GaussianEquivalence.paper() and isinstance(from_cell.gain, float)
    keys = {name: s.key for name, s in from_cell.sweeps().items()}
    assert keys == {name: s.key for name, s in GaussianEquivalence.paper().sweeps().items()}
    changed = GaussianEquivalence.paper().replace(activation="erf", gain=1.5).sweeps()
    assert changed["width"].key != keys["width"] and changed["sample_size"].key != keys["sample_size"]
    assert changed["relu"].key == keys["relu"]  # the relu contrast does not depend on the activation


def test_the_sweeps_of_the_book_have_the_recorded_keys():
    """The book's tables are named by these keys: a change of a sweep's definition (grid, seeds,
    constants, index) must be deliberate, with the tables re-recorded or converted."""
    assert {name: s.key for name, s in GaussianEquivalence.paper().sweeps().items()} == {
        "width": "212537ac7ba0", "relu": "5f4dc155a2fe", "sample_size": "36326489e8ad"}


def test_derived_coefficients_are_the_recursions_and_the_erf_closed_form():
    erf = GaussianEquivalence.fast().replace(activation="erf", gain=1.5)
    sigma, rho = erf_coefficients(erf.depth, gain=1.5)
    np.testing.assert_allclose(erf.coefficients.rho, rho, rtol=1e-12)
    np.testing.assert_allclose(erf.coefficients.sigma, sigma, rtol=1e-12)
    derived = erf.derived()
    assert derived["rho_l"] == pytest.approx(list(rho)) and derived["theorem applies"]
    # the equivalent GLM of depth L: kappa = (prod rho)^2, gamma0 + kappa = sigma_L (readout rho = 1, eps = 0)
    assert derived["kappa = eta0^2 (depth L)"] == pytest.approx(float(np.prod(rho)) ** 2, rel=1e-12)
    assert derived["kappa = eta0^2 (depth L)"] + derived["gamma0 (depth L)"] == pytest.approx(sigma[-1], rel=1e-12)


# ---- the tasks ----------------------------------------------------------------------------------

def test_bound_shape_curve_is_the_theorem_rate_on_a_dense_grid():
    curve = bound_shape_curve(100, 50, 1600, points=120)
    assert curve["n"].size == 120 and np.isclose(curve["n"][0], 50) and np.isclose(curve["n"][-1], 1600)
    assert np.all(np.diff(curve["n"]) > 0) and np.all(np.diff(curve["rate"]) > 0)
    assert np.isclose(curve["rate"][-1], theorem1_bound_shape(1600, 100))


def test_width_task_is_deterministic_and_writes_one_record_per_layer():
    first, again = width_task({**WIDTH, "width": 40}, 5), width_task({**WIDTH, "width": 40}, 5)
    assert first == again and [r["layer"] for r in first] == [1, 2]
    assert all(list(r) == PER_LAYER for r in first)
    assert all(math.isfinite(v) for r in first for v in r.values())
    assert width_task({**WIDTH, "width": 40}, 6) != first
    assert width_task({**WIDTH, "width": 40, "tag": 1}, 5) != first


def test_width_task_identities():
    """m_1 of a Gram matrix is the mean squared feature; the noiseless equivalent has the
    variance rho^2 sigma_0 in layer 1; the measured coefficients are near the recursion's."""
    first, second = width_task({**WIDTH, "width": 60}, 0)
    coef = layer_coefficients("tanh", 2, gain=2.0)
    assert first["m1_gram"] == pytest.approx(first["sigma_hat"], rel=1e-10)
    assert first["m1_noiseless"] == pytest.approx(coef.rho[0] ** 2, rel=0.2)
    assert first["rho_hat"] == pytest.approx(coef.rho[0], rel=0.05)
    assert second["eps_hat"] == pytest.approx(coef.eps[1], rel=0.2)
    # a linear activation: the kernel IS its linearisation
    lin = width_task({**WIDTH, "activation": "linear", "gain": 1.0, "width": 30}, 0)
    assert lin[0]["kernel_frob"] < 1e-8 and lin[1]["eps_hat"] < 1e-20


def test_sample_size_task_nests_the_samples_and_is_deterministic():
    records = sample_size_task({**SAMPLE, "width": 30}, 1)
    assert records == sample_size_task({**SAMPLE, "width": 30}, 1)
    assert [r["alpha"] for r in records] == SAMPLE["alphas"]
    assert all(list(r) == ["alpha", "kernel_op", "gram_vs_kernel", "offdiag"] for r in records)
    # the largest alpha alone gives the same numbers: the smaller samples are its leading rows
    alone = sample_size_task({**SAMPLE, "width": 30, "alphas": [0.5, 2.0]}, 1)
    assert alone[0]["offdiag"] == pytest.approx(records[0]["offdiag"], rel=1e-12)


def test_lanczos_norm_matches_the_dense_one(monkeypatch):
    monkeypatch.setattr(tasks, "_DENSE_MAX", 50)
    X = np.random.default_rng(0).standard_normal((300, 150))
    A = X @ X.T / 150 - 0.5 * np.eye(300)  # a Wishart bulk, shifted: the norm is its top edge
    assert tasks.operator_norm_large(A) == pytest.approx(operator_norm(A), rel=1e-9)


# ---- readers and claims on a small computed table -------------------------------------------------

def _small() -> GaussianEquivalence:
    return GaussianEquivalence.fast().replace(depth=1, widths=(30, 45, 60), width_networks=4, relu_networks=2,
                                              sample_size_widths=(20,), sample_size_alphas=(1.0, 2.0, 4.0),
                                              sample_size_networks=2)


def _tables(experiment: GaussianEquivalence) -> dict[str, pd.DataFrame]:
    """The experiment's tables computed in this process (rows as the sweeps write them)."""
    out = {}
    for name, sweep in experiment.sweeps().items():
        task = resolve_task(sweep.task)
        out[name] = pd.DataFrame([{**point, "seed": seed, **record} for point, seed in sweep.tasks()
                                  for record in task({**sweep.constants, **point}, seed)])
    return out


def test_readers_and_claims_on_a_small_run():
    experiment = _small()
    tables = _tables(experiment)
    assert len(tables["width"]) == 3 * 4 and len(tables["sample_size"]) == 3 * 2
    arrays = width_arrays(tables["width"], ["kernel_frob"])
    assert arrays["kernel_frob"].shape == (3, 4, 1) and list(arrays["d"]) == [30, 45, 60]
    values = width_values(tables["width"], "kernel_frob", 1)
    np.testing.assert_array_equal(arrays["kernel_frob"][2, :, 0], values[60])
    means = width_means(tables["width"], "kernel_frob")
    assert means["mean", 1].loc[45] == pytest.approx(values[45].mean())
    fit = exponent_fit(tables["width"], "kernel_frob", 1)
    assert -1.5 < fit.values["exponent"] < 0.5 and fit.errors["exponent"] > 0
    limits = coefficient_limits(tables["width"], 1)
    assert list(limits["coefficient"]) == ["rho", "eps", "sigma"] and np.all(limits["se"] > 0)
    sizes = sample_size_arrays(tables["sample_size"], 20)
    assert sizes["kernel_vs_linear"].shape == (3, 2) and list(sizes["n"]) == [20, 40, 80]
    verdicts = [evaluate(c) for c in claims(experiment, tables)]
    assert len(verdicts) == 4 and all(v["perturbations"] for v in verdicts)
    assert all(math.isfinite(v["statistic"]) for v in verdicts) and any(v["resolution"] for v in verdicts)


def _growth_table(widths, alphas, networks, law) -> pd.DataFrame:
    """A sample-size table whose non-white part is exactly ``c_seed law(n, d)``."""
    rows = []
    for d in widths:
        for seed in range(networks):
            for a in alphas:
                n = tasks.samples_of(a, d)
                rows.append({"width": d, "seed": seed, "alpha": a, "kernel_op": 0.1, "gram_vs_kernel": 1.0,
                             "offdiag": (1.0 + 0.1 * seed) * law(n, d)})
    return pd.DataFrame(rows)


def test_growth_exponents_recover_exact_laws_and_the_claim_tells_them_apart():
    """Slopes of an exact law: 1 against the bound's shape when the part grows like the shape, 1
    against n when it grows like n; the claim passes the first (with 1 % noise per network) and
    rejects the wrong growths."""
    experiment = _small().replace(sample_size_widths=(20, 40), sample_size_alphas=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0))
    widths, alphas = experiment.sample_size_widths, experiment.sample_size_alphas
    like_shape = _growth_table(widths, alphas, 5, lambda n, d: theorem1_bound_shape(float(n), d))
    for d in widths:
        np.testing.assert_allclose(growth_exponents(like_shape, d, "bound"), 1.0, rtol=1e-10)
    like_n = _growth_table(widths, alphas, 5, lambda n, d: float(n))
    np.testing.assert_allclose(growth_exponents(like_n, widths[0], "n"), 1.0, rtol=1e-10)
    assert np.all(growth_exponents(like_n, widths[0], "bound") > 1.0)
    with pytest.raises(ValueError, match="regressor"):
        growth_exponents(like_n, widths[0], "sqrt")
    rng = np.random.default_rng(5)
    noisy = like_shape.assign(offdiag=like_shape["offdiag"] * np.exp(0.01 * rng.standard_normal(len(like_shape))))
    tables = {**_tables(_small()), "sample_size": noisy}
    growth = next(c for c in claims(experiment, tables) if c.name.startswith("non-white part"))
    assert growth.test(GrowthTheory()).holds
    assert growth.perturbations and not any(growth.test(t).holds for t in growth.perturbations.values())


def test_the_layer_theory_without_noise_is_the_linear_layer():
    theory = LayerTheory("tanh", 2.0, 3)
    exact, linear = theory.values(), LayerTheory("tanh", 2.0, 3, noise_factor=0.0).values()
    coef = layer_coefficients("tanh", 3, gain=2.0)
    np.testing.assert_array_equal(exact["sigma"], coef.sigma[1:])
    np.testing.assert_allclose(linear["sigma"], coef.rho**2 * coef.sigma[:-1], rtol=1e-12)
    assert np.all(linear["eps"] == 0.0)

"""Tests of deepgep.chapters.ch9_deep_equilibrium and its tasks: the experiment (presets, validation,
coercion, derived contraction constants against independent values, stable sweep keys), the tasks
on small sizes (deterministic given their seed, the documented rows and fields, identities such as
the deepest weight-tied network = the DEQ and the rank of the empirical kernel), the readers of a
small computed table, the fitted corrections and the claims on them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from deepgep.chapters import experiment_class
from deepgep.chapters.ch9_deep_equilibrium import (DeepEquilibrium, DepthTheory, KernelTheory, claims,
                                                   correction_columns, correction_curve)
from deepgep.chapters.ch9_deep_equilibrium_claims import (SHALLOW_DEPTHS, distance_fits, kernel_functions,
                                                          paired_differences)
from deepgep.chapters.ch9_deep_equilibrium_tasks import (DEQ_DEPTH, digit_inputs, draw_counts, eigen_task,
                                                         gaussianity_summary, gaussianity_task, kernel_ridge_comparison,
                                                         kernel_samples, kernel_task, limits_task, sphere_inputs,
                                                         width_means)
from deepgep.simulate.deq import deq_forward, empirical_kernel, sample_weights
from deepgep.support.claims import evaluate
from deepgep.support.experiment import ExperimentError
from deepgep.support.fits import fit_linear
from deepgep.support.sweeps import task_rng
from deepgep.theory.deq import deq_kernel, input_kernel

BASE = {"base_seed": 7, "activation": "tanh", "sigma_w": 0.4, "sigma_u": 1.0, "n_inputs": 3, "d0": 5, "max_iter": 2000}


def test_the_registry_finds_the_experiment_and_the_presets_are_valid():
    assert experiment_class(9) is DeepEquilibrium
    paper, fast = DeepEquilibrium.paper(), DeepEquilibrium.fast()
    assert paper.is_book and not fast.is_book and fast.preset_name() == "fast"
    assert paper.gaussianity_fit_widths == (8, 16, 32, 64, 128) and paper.eigen_fit_widths == (200, 400, 800, 1600, 3200)
    assert fast.eigen_fit_widths == (200, 400, 800) and len(fast.gaussianity_fit_widths) == 4
    assert set(paper.sweeps()) == {"kernel", "gaussianity", "limits", "eigen"}
    assert paper.sweeps()["kernel"].n_tasks == 6 * 40 and paper.sweeps()["limits"].index == ("depth",)


def test_derived_contraction_constants_against_independent_values():
    paper = DeepEquilibrium.paper()
    assert paper.hypothesis_factor == pytest.approx(0.98, rel=1e-12)  # 2 sigma_w Lip(tanh), Lip = 1
    erf = paper.replace(activation="erf", sigma_w=0.4)
    assert erf.hypothesis_factor == pytest.approx(0.8 * 2 / math.sqrt(math.pi), rel=1e-12)
    # ell on the unit-norm inputs depends on the diagonal only: the 8 x 8 fixed point gives the same
    X = sphere_inputs(paper.base_seed, paper.n_inputs, paper.d0)
    full = deq_kernel(input_kernel(X, paper.sigma_u), "tanh", paper.sigma_w).lipschitz
    assert paper.derived()["ell"] == pytest.approx(full, rel=1e-9)
    # erf in closed form: ell = sigma_w^2 (4/pi) / sqrt(1 + 4 (s + 1)) at the diagonal s of Sigma*
    s = deq_kernel(np.array([[1.0]]), "erf", 0.4).sigma[0, 0]
    assert erf.lipschitz(0.4, "erf") == pytest.approx(0.16 * 4 / math.pi / math.sqrt(1 + 4 * (s + 1)), rel=1e-12)


def test_bad_parameters_are_refused_naming_the_field():
    fast = DeepEquilibrium.fast()
    for changes, field in (({"activation": "relu"}, "activation"), ({"kernel_networks": 1}, "kernel_networks"),
                           ({"kernel_widths": (100, 200)}, "kernel_widths"),
                           ({"limits_widths": (100, 200, 400)}, "limits_widths"),
                           ({"gaussianity_widths": (2, 4, 8, 16, 32)}, "gaussianity_widths"),
                           ({"eigen_widths": (50, 200, 400)}, "eigen_widths"), ({"limits_depths": (2, 1)}, "limits_depths"),
                           ({"sigma_w": 3.0}, "sigma_w"), ({"eigen_sigma_ws": (0.5, 3.0)}, "eigen_sigma_ws"),
                           ({"ridge_n": 1500}, "ridge_n"), ({"sigma_u": 0.0}, "sigma_u")):
        with pytest.raises(ExperimentError, match=field):
            fast.replace(**changes)
    with pytest.raises(ExperimentError, match="no parameter"):
        fast.replace(input_dim=10)
    with pytest.raises(ExperimentError, match="integer"):
        fast.replace(d0=10.5)


def test_values_are_coerced_so_that_equal_parameters_give_equal_tables():
    cell = DeepEquilibrium.from_cell("paper", sigma_w=0.49, kernel_widths=[100, 200, 400, 800, 1600, 3200], d0=10,
                                     limits_depths=[1, 2, 3, 4, 6, 8, 12, 16])
    assert cell == DeepEquilibrium.paper() and isinstance(cell.kernel_widths, tuple)
    keys = {name: s.key for name, s in DeepEquilibrium.paper().sweeps().items()}
    assert {name: s.key for name, s in cell.sweeps().items()} == keys
    # the keys of the recorded tables (results/ch9): a change here orphans the book's tables
    assert keys == {"kernel": "626040632e13", "gaussianity": "b6cefeff6349", "limits": "cbf7f2143e52",
                    "eigen": "7760d62c7ced"}
    assert DeepEquilibrium.paper().replace(sigma_w=0.3).sweeps()["kernel"].key != keys["kernel"]


def test_task_streams_are_the_recorded_ones():
    """``task_rng(params, seed, tag, width)`` is ``default_rng([base_seed, tag, width, seed])``: the
    weights of the kernel task (tag 1) are drawn from exactly that stream."""
    params, seed = {**BASE, "width": 20}, 3
    assert np.array_equal(task_rng(params, seed, 1, 20).standard_normal(5),
                          np.random.default_rng([7, 1, 20, 3]).standard_normal(5))
    X = sphere_inputs(7, 3, 5)
    W, U = sample_weights(20, 5, 0.4, 1.0, np.random.default_rng([7, 1, 20, 3]))
    K = empirical_kernel(deq_forward(W, U, X, "tanh").h, 0.4)
    rows = kernel_task(params, seed)
    assert [r["kernel"] for r in rows] == [float(K[i, j]) for i, j in zip(*np.triu_indices(3))]


def test_kernel_task_is_deterministic_and_records_every_entry():
    params = {**BASE, "width": 30}
    rows = kernel_task(params, 0)
    assert rows == kernel_task(params, 0) and rows != kernel_task(params, 1)
    assert [(r["i"], r["j"]) for r in rows] == [(i, j) for i in range(3) for j in range(i, 3)]
    assert all(set(r) == {"i", "j", "kernel", "q", "converged", "iterations"} for r in rows)
    assert rows[0]["converged"] and 0 < rows[0]["q"] < 1 and all(r["kernel"] > 0 for r in rows if r["i"] == r["j"])


def test_limits_task_deepest_network_is_the_deq_and_obeys_the_contraction_bound():
    params = {**BASE, "width": 40, "depths": [1, 2, 60]}
    rows = limits_task(params, 3)
    assert rows == limits_task(params, 3)
    by_depth = {r["depth"]: r for r in rows}
    assert list(by_depth) == [1, 2, 60, DEQ_DEPTH] and "gap" not in by_depth[DEQ_DEPTH]
    assert "distance" not in by_depth[DEQ_DEPTH]
    q = rows[0]["q"]
    assert q < 1 and all(r["converged"] and r["q"] == q and r["iterations"] == rows[0]["iterations"] for r in rows)
    assert abs(by_depth[60]["diag"] - by_depth[DEQ_DEPTH]["diag"]) < 1e-12 and by_depth[60]["gap"] < 1e-10
    assert all(by_depth[L]["state"] <= q**L for L in (1, 2, 60))
    assert by_depth[1]["gap"] > by_depth[2]["gap"] > 0
    # the distance at depth 1 from h^0 = 0: h^1 = phi(U x), an independent recomputation
    X = sphere_inputs(7, 3, 5)
    W, U = sample_weights(40, 5, 0.4, 1.0, task_rng(params, 3, 3, 40))
    h_star = deq_forward(W, U, X, "tanh").h
    h1 = np.tanh(U @ X.T)
    assert by_depth[1]["distance"] == pytest.approx(0.16 * np.mean(np.sum((h1 - h_star) ** 2, axis=0)) / 40, rel=1e-12)
    assert by_depth[1]["distance"] > by_depth[2]["distance"] > by_depth[60]["distance"] >= 0


def test_gaussianity_task_fields_and_moments():
    params = {**BASE, "width": 4, "networks": 300}
    rec = gaussianity_task(params, 2)
    assert rec == gaussianity_task(params, 2)
    assert set(rec) == {"networks", "failed", "outside", "k1", "k2", "z2", "z4", "ks"}
    assert rec["networks"] == 300 and 0 <= rec["failed"] <= rec["networks"] and 0 <= rec["outside"] <= 300
    assert rec["k2"] >= rec["k1"] ** 2 and 0.0 < rec["ks"] < 1.0
    assert abs(rec["k1"] - 1.0) < 0.2 and abs(rec["z2"] - 1.0) < 0.4


def test_eigen_task_rank_deficient_below_the_number_of_inputs():
    params = {**BASE, "activation": "erf", "n_inputs": 12}
    assert abs(eigen_task({**params, "width": 6}, 0)["lambda_min"]) < 1e-12
    rec = eigen_task({**params, "width": 200}, 0)
    assert rec["lambda_min"] > 0 and rec["converged"] and rec == eigen_task({**params, "width": 200}, 0)
    X = digit_inputs(7, 12)
    assert X.shape == (12, 64) and np.allclose(np.sum(X * X, axis=1) / 64, 1.0)


def test_kernel_ridge_comparison_counts_are_paired():
    out = kernel_ridge_comparison("erf", 0.4, 1.0, 200, 100, (1e-2, 1.0), np.random.default_rng(0))
    assert 0 < out["accuracy_linear"] <= 1 and 0 < out["accuracy_deq"] <= 1
    assert out["deq_only"] - out["linear_only"] == round(100 * (out["accuracy_deq"] - out["accuracy_linear"]))


def test_correction_fits_recover_an_exact_law():
    n = np.array([10.0, 20, 40, 80, 160])
    fit = fit_linear(correction_columns(n), 2.0 + 3.0 / n - 5.0 / n**2, np.full(5, 0.01))
    assert fit.values["limit"] == pytest.approx(2.0) and fit.values["n^-1"] == pytest.approx(3.0)
    assert fit.chi2 < 1e-12 and correction_curve(fit, [10.0])[0] == pytest.approx(2.0 + 0.3 - 0.05)


def _small() -> DeepEquilibrium:
    return DeepEquilibrium.fast().replace(n_inputs=3, d0=5, kernel_widths=(20, 40, 80), kernel_networks=3,
                                          gaussianity_widths=(8, 16, 32, 64), gaussianity_batches=3,
                                          gaussianity_batch_networks=200, limits_widths=(20, 40, 80, 160),
                                          limits_depths=(1, 2, 4), limits_networks=3, eigen_n_inputs=6,
                                          eigen_widths=(4, 8, 16, 32), eigen_networks=3)


def _tables(experiment: DeepEquilibrium) -> dict[str, pd.DataFrame]:
    """The experiment's tables computed in this process (rows as the sweeps write them)."""
    tasks = {"kernel": kernel_task, "gaussianity": gaussianity_task, "limits": limits_task, "eigen": eigen_task}
    out = {}
    for name, sweep in experiment.sweeps().items():
        rows = []
        for point, seed in sweep.tasks():
            records = tasks[name]({**sweep.constants, **point}, seed)
            rows += [{**point, "seed": seed, **r} for r in (records if isinstance(records, list) else [records])]
        out[name] = pd.DataFrame(rows)
    return out


def test_readers_and_claims_on_a_small_computed_table():
    experiment = _small()
    tables = _tables(experiment)
    K = kernel_samples(tables["kernel"], 40, 3)
    assert K.shape == (3, 3, 3) and np.array_equal(K, np.swapaxes(K, 1, 2))
    first = tables["kernel"].query("width == 40 and seed == 0 and i == 0 and j == 2")["kernel"].item()
    assert K[0, 2, 0] == first
    with pytest.raises(ValueError, match="complete"):
        kernel_samples(tables["kernel"].drop(tables["kernel"].query("width == 40").index[:1]), 40, 3)
    means, ses = width_means(tables["eigen"], "lambda_min", [16, 32])
    assert means.shape == ses.shape == (2,) and np.all(ses > 0)
    counts = draw_counts(tables)
    assert counts["tasks"] == [9, 12, 12, 12] and counts["networks"][1] == 12 * 200
    summary = gaussianity_summary(tables["gaussianity"], [8, 16])
    assert list(summary["width"]) == [8, 16] and np.all(summary["kurtosis_se"] > 0)
    paired = paired_differences(tables["limits"], "diag")
    one = tables["limits"].query("width == 40 and seed == 1")
    deq, first = (one.loc[one["depth"] == L, "diag"].item() for L in (DEQ_DEPTH, 1))
    assert paired.query("width == 40 and seed == 1 and depth == 1")["diag"].item() == pytest.approx(deq - first, abs=0)
    assert len(paired) == 4 * 3 * 3 and set(paired["depth"]) == {1, 2, 4}
    fits = distance_fits(tables["limits"], [20, 40, 80, 160], [1, 2, 4])
    assert set(fits) == {1, 2, 4} and fits[1].values["limit"] > fits[2].values["limit"] > fits[4].values["limit"]
    verdicts = [evaluate(c) for c in claims(experiment, tables)]
    assert len(verdicts) == 8 and all(v["perturbations"] for v in verdicts)
    assert all(v["statistic"] is None or math.isfinite(v["statistic"]) for v in verdicts)
    assert any(v["resolution"] for v in verdicts)
    # the eigenvalue claim against lambda_min = 0 is the z of the fitted limit a + b/n + c/n^2
    fit = fit_linear(correction_columns([8, 16, 32]), *width_means(tables["eigen"], "lambda_min", [8, 16, 32]))
    eigen = claims(experiment, tables)[-1]
    assert eigen.test(KernelTheory(0.0)).statistic == pytest.approx(abs(fit.z("limit")), rel=1e-12)
    # an equilibrium at depth 1 predicts a zero distance at every depth: rejected with an infinite z
    depth = claims(experiment, tables)[6]
    assert depth.name == "no finite depth reaches the equilibrium"
    assert depth.test(DepthTheory(experiment.sigma_w, 1)).statistic == math.inf
    # the contraction bound's rate per layer is a wrong theory of the decay; the paired kernel claim
    # names the shallow depths fixed in advance
    assert any(t.rate is not None and t.rate == pytest.approx(0.98**2) for t in depth.perturbations.values())
    assert depth.test(DepthTheory(experiment.sigma_w, rate=0.98**2)).statistic > depth.test(depth.theory).statistic
    paired = claims(experiment, tables)[5]
    assert [t.equilibrium_depth for t in paired.perturbations.values()] == list(SHALLOW_DEPTHS)


def test_kernel_functions_are_the_theory_and_cached():
    experiment = _small()
    kernel, distances = kernel_functions(experiment)
    X = sphere_inputs(experiment.base_seed, experiment.n_inputs, experiment.d0)
    star = deq_kernel(input_kernel(X, experiment.sigma_u), experiment.activation, experiment.sigma_w).sigma
    assert np.array_equal(kernel(experiment.sigma_w, None), star)
    D = distances(experiment.sigma_w)
    assert D is distances(experiment.sigma_w) and D.shape == (max(experiment.limits_depths) + 1,)
    assert D[0] == pytest.approx(np.mean(np.diag(star)), rel=1e-12) and np.all(np.diff(D) < 0)

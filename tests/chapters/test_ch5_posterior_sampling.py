"""Tests of deepgep.chapters.ch5_posterior_sampling, its tasks and its estimators: the experiment
(presets, validation, coercion, derived GLMs against the book's reference values, stable sweep
keys), the tasks (their random streams, determinism, the spectra task regenerating a posterior
instance bit for bit), the estimators (batches combined exactly, the paired deviation's algebra,
the t-corrected joint test), the summary of a small computed table, and the claims on tables
drawn from the theory (they hold; the wrong theories are rejected)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from deepgep.chapters import experiment_class
from deepgep.chapters.ch5_posterior_sampling import (PosteriorSampling, claims, deviations, figure_summary, gap_fits,
                                                     summarise)
from deepgep.chapters.ch5_posterior_sampling_estimates import (InstanceSpectra, glm_value, law_test, paired_deviations,
                                                               ridge_means, ridge_points)
from deepgep.chapters.ch5_posterior_sampling_tasks import (RIDGE_MOMENTS, TEACHERS_PER_BATCH, bayes_instance,
                                                           instance_data, posterior_task, ridge_task, spectra_task)
from deepgep.support.claims import evaluate
from deepgep.support.experiment import ExperimentError
from deepgep.support.stats import pooled_mean
from deepgep.theory.glm import control_variate_estimate, gram_spectrum
from deepgep.theory.layers import GLMTheory, equivalent_glm, layer_coefficients
from deepgep.theory.state_evolution import gaussian_closed_form

TINY = dict(base_seed=0, activation="tanh", gain=2.0, noise=0.1, n_test=50, n_warmup=30, n_samples=20)


def test_the_registry_finds_the_experiment_and_the_presets_are_valid():
    assert experiment_class(5) is PosteriorSampling
    paper, fast = PosteriorSampling.paper(), PosteriorSampling.fast()
    assert paper.is_book and fast.preset_name() == "fast"
    assert {name for name, _, _ in fast.differences()} == {"d0s", "alphas", "teachers", "n_warmup", "n_samples",
                                                            "ridge_batches"}
    assert {name: sweep.n_tasks for name, sweep in paper.sweeps().items()} == {"posterior": 400, "spectra": 400,
                                                                               "ridge": 400}
    assert fast.sweeps()["posterior"].n_tasks == 18 and fast.sweeps()["ridge"].n_tasks == 12


def test_derived_glms_are_the_books_reference_values():
    """tanh(2x), L = 2: kappa = 0.409095, gamma0 = 0.152506 (book notation.md, reference values)."""
    glm = PosteriorSampling.paper().glms[2]
    assert glm.kappa == pytest.approx(0.409095, abs=1e-6) and glm.gamma0 == pytest.approx(0.152506, abs=1e-6)
    assert glm.ridge_penalty == pytest.approx((0.152506 + 0.1) / 0.409095, rel=1e-5)
    assert PosteriorSampling.paper().derived()["ridge teachers per point"] == 1000


def test_bad_parameters_are_refused_naming_the_field():
    fast = PosteriorSampling.fast()
    for change, word in ((dict(teachers=1), "teachers"), (dict(activation="softplus"), "activation"),
                         (dict(d0s=(16, 32)), "d0s"), (dict(alphas=(0.0,)), "alpha"), (dict(depths=(0,)), "depths"),
                         (dict(noise=0.0), "noise"), (dict(n_samples=2), "n_samples"), (dict(d0s=(16, 16, 32)), "d0s"),
                         (dict(ridge_batches=0), "ridge_batches")):
        with pytest.raises(ExperimentError, match=word):
            fast.replace(**change)
    with pytest.raises(ExperimentError, match="no parameter"):
        fast.replace(delta=0.1)


def test_values_are_coerced_and_the_book_key_is_stable():
    cell = PosteriorSampling.from_cell("paper", gain=2, depths=[1, 2], alphas=[0.5, 1, 2, 4])
    assert cell == PosteriorSampling.paper() and isinstance(cell.alphas[0], float)
    # the key of the recorded table (results/ch5/posterior-41c6b198dc4f.csv)
    assert cell.sweeps()["posterior"].key == "41c6b198dc4f"
    assert {name: sweep.key for name, sweep in cell.sweeps().items() if name != "posterior"} == {
        "spectra": "71458ec55618", "ridge": "04565759ffce"}
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


def test_spectra_task_regenerates_the_posterior_instance():
    """The spectra task draws the posterior task's data from the same stream: ridge's error is
    the posterior table's bit for bit, the eigenvalues are those of the regenerated inputs
    (min(n, d0) of them: 5 at alpha = 1, d0 = 5; 2 at alpha = 0.5 where n = round(2.5) = 2)."""
    for alpha in (1.0, 0.5):
        params = _params(1, 5, alpha)
        rows = spectra_task(params, 1)
        record = posterior_task(params, 1)
        n = record["n"]
        assert [r["k"] for r in rows] == list(range(min(n, 5)))
        assert all(r["ridge_error"] == record["ridge_error"] for r in rows)
        data = instance_data((5, 5), "tanh", alpha, 0.1, np.random.default_rng([0, 1, 5, round(1000 * alpha), 1]),
                             gain=2.0, n_test=50)
        assert np.array_equal([r["eigenvalue"] for r in rows], gram_spectrum(data.X))
        assert rows == spectra_task(params, 1)


def test_ridge_task_batch_moments():
    """One batch of fresh teachers: the record's fields, determinism, a stream unlike the
    posterior task's, the readout power near its mean 1 (|a|^2/d has sd sqrt(2/d)/sqrt(batch)),
    and non-negative variances with a covariance within Cauchy-Schwarz."""
    params = _params(1, 6, 2.0)
    record = ridge_task(params, 0)
    assert record == ridge_task(params, 0) and record != ridge_task(params, 1)
    assert record["teachers"] == TEACHERS_PER_BATCH
    assert set(record) == {"teachers", *RIDGE_MOMENTS, *(f"var_{m}" for m in RIDGE_MOMENTS),
                           "cov_error_excess_readout", "cov_overlap_excess_readout"}
    assert abs(record["readout_power"] - 1.0) < 5 * math.sqrt(2 / 6 / TEACHERS_PER_BATCH)
    for name in ("error_excess", "overlap_excess"):
        assert record[f"cov_{name}_readout"] ** 2 <= record[f"var_{name}"] * record["var_readout_power"]


def _batches(values: np.ndarray, sizes: list[int]) -> pd.DataFrame:
    """A ridge table of one point from per-teacher rows (error, overlap, readout) cut in batches."""
    rows, start = [], 0
    for seed, size in enumerate(sizes):
        chunk = values[start:start + size]
        start += size
        mean, centred = chunk.mean(axis=0), chunk - chunk.mean(axis=0)
        row = {"depth": 1, "d0": 8, "alpha": 1.0, "seed": seed, "teachers": size}
        row.update({m: mean[j] for j, m in enumerate(RIDGE_MOMENTS)})
        row.update({f"var_{m}": np.mean(centred[:, j] ** 2) for j, m in enumerate(RIDGE_MOMENTS)})
        for j, m in enumerate(RIDGE_MOMENTS[:2]):
            row[f"cov_{m}_readout"] = np.mean(centred[:, j] * centred[:, 2])
        rows.append(row)
    return pd.DataFrame(rows)


def test_ridge_means_combine_batches_exactly():
    """Batches of unequal sizes give the control-variate estimate (regression on the readout
    power, mean 1) of all the teachers at once, as deepgep.theory.glm.control_variate_estimate
    computes it from the raw values (an identity: 1e-10), and the plain mean and its error."""
    rng = np.random.default_rng(4)
    readout = 1.0 + 0.3 * rng.standard_normal(90)
    values = np.column_stack([0.2 * (readout - 1) + 0.01 * rng.standard_normal(90),
                              -0.5 * (readout - 1) + 0.02 * rng.standard_normal(90), readout])
    means = ridge_means(_batches(values, [20, 30, 40])).iloc[0]
    assert means["teachers"] == 90
    for j, name in enumerate(RIDGE_MOMENTS[:2]):
        cv, cv_se = control_variate_estimate(values[:, j], values[:, [2]], np.array([1.0]))
        assert means[name] == pytest.approx(cv, rel=1e-10, abs=1e-14)
        assert means[f"{name}_se"] == pytest.approx(cv_se, rel=1e-10)
        assert means[f"{name}_plain"] == pytest.approx(values[:, j].mean(), rel=1e-12)
        assert means[f"{name}_plain_se"] == pytest.approx(values[:, j].std(ddof=1) / math.sqrt(90), rel=1e-10)
        assert means[f"{name}_se"] < means[f"{name}_plain_se"] / 3  # the control variate works here


def test_law_test_reads_a_law_and_rejects_another():
    """Points exactly c/d0 give chi2 = 0 (z = 0); a constant offset of 10 standard errors is
    rejected; with many degrees of freedom the t-correction vanishes (the plain chi-square's
    p-value), with few it makes the same chi-square less significant."""
    d0 = np.array([16, 24, 32, 48, 64] * 2, dtype=float)
    alpha = np.repeat([1.0, 2.0], 5)
    exact = pd.DataFrame({"alpha": alpha, "d0": d0, "deviation": np.where(alpha == 1, 0.3, -0.2) / d0,
                          "se": 0.001, "dof": 1e9})
    assert law_test(exact, 1.0).statistic == pytest.approx(0.0, abs=1e-6) and law_test(exact, 1.0).holds
    assert not law_test(exact.assign(deviation=exact["deviation"] + 0.01), 1.0).holds
    noisy = exact.assign(deviation=exact["deviation"] + 0.002 * np.resize([1, -1, 1, 1, -1], 10))
    chi2 = sum(np.sum((g["deviation"] - np.sum(g["deviation"] / g["d0"]) / np.sum(g["d0"] ** -2.0) / g["d0"]) ** 2)
               for _, g in noisy.groupby("alpha")) / 0.001 ** 2
    assert law_test(noisy, 1.0).statistic == pytest.approx(stats.norm.isf(stats.chi2.sf(chi2, 8) / 2), rel=1e-6)
    assert law_test(noisy.assign(dof=9.0), 1.0).statistic < law_test(noisy, 1.0).statistic


def _spectra_and_tables(rng: np.random.Generator, *, offset: float = 0.0):
    """Tables of one depth (L = 1), three widths, two alphas, 30 teachers, drawn from the
    finite-size theory: real Gaussian inputs, ridge = GLM on the inputs + excess -0.2/d0, the
    posterior = ridge - 0.1/d0 (its gap), plus ``offset``; overlaps alike."""
    glm = GLMTheory.of("tanh", 2.0, 1, 0.1)
    posterior, spectra, ridge = [], [], []
    for d0 in (16, 32, 64):
        for alpha in (1.0, 2.0):
            n = int(alpha * d0)
            for seed in range(30):
                eig = gram_spectrum(rng.standard_normal((n, d0)))
                g_err, g_ov = (float(glm_value(o, eig, d0, glm)) for o in ("error", "overlap"))
                r_err = g_err - 0.2 / d0 + 0.02 * rng.standard_normal()
                r_ov = g_ov + 0.1 / d0 + 0.02 * rng.standard_normal()
                post = r_err - 0.1 / d0 + offset + 0.001 * rng.standard_normal()
                over = r_ov + 0.05 / d0 - offset + 0.001 * rng.standard_normal()
                posterior.append({"depth": 1, "d0": d0, "alpha": alpha, "seed": seed, "posterior_error": post,
                                  "ridge_error": r_err, "overlap_teacher": over,
                                  "overlap_samples": over + 0.005 * rng.standard_normal()})
                spectra += [{"depth": 1, "d0": d0, "alpha": alpha, "seed": seed, "k": k, "eigenvalue": e,
                             "ridge_error": r_err, "ridge_overlap": r_ov} for k, e in enumerate(eig)]
            readout = 1.0 + 0.1 * rng.standard_normal(1000)
            values = np.column_stack([-0.2 / d0 + 0.02 * (readout - 1) + 0.0005 * rng.standard_normal(1000),
                                      0.1 / d0 + 0.0005 * rng.standard_normal(1000), readout])
            ridge.append(_batches(values, [500, 500]).assign(d0=d0, alpha=alpha))
    return {"posterior": pd.DataFrame(posterior), "spectra": pd.DataFrame(spectra),
            "ridge": pd.concat(ridge, ignore_index=True)}


def test_paired_deviation_algebra():
    """At the book's theory the deviation is mean(y - r) + mu_R; at another theory it moves by
    the mean over the instances' own inputs of G(X; book) - G(X; theory), exactly."""
    tables = _spectra_and_tables(np.random.default_rng(5))
    spectra, ridge = InstanceSpectra(tables["spectra"], tables["posterior"]), ridge_means(tables["ridge"])
    book = GLMTheory.of("tanh", 2.0, 1, 0.1)
    other = GLMTheory(book.kappa, 1.1 * book.gamma0, book.noise)
    at_book = paired_deviations("error", 1, book, book, tables["posterior"], spectra, ridge)
    at_other = paired_deviations("error", 1, other, book, tables["posterior"], spectra, ridge)
    point = tables["posterior"].query("d0 == 32 and alpha == 2.0")
    row = at_book.query("d0 == 32 and alpha == 2.0").iloc[0]
    mu = ridge.query("d0 == 32 and alpha == 2.0")["error_excess"].iloc[0]
    assert row["deviation"] == pytest.approx((point["posterior_error"] - point["ridge_error"]).mean() + mu, rel=1e-12)
    eig = spectra.points[(1, 32, 2.0)]["eigenvalue"]
    shift = np.mean(glm_value("error", eig, 32, book) - glm_value("error", eig, 32, other))
    assert at_other.query("d0 == 32 and alpha == 2.0")["deviation"].iloc[0] == pytest.approx(row["deviation"] + shift,
                                                                                               rel=1e-12)
    bad = tables["spectra"].assign(ridge_error=tables["spectra"]["ridge_error"] + 1e-9)
    with pytest.raises(ValueError, match="regenerate"):
        InstanceSpectra(bad, tables["posterior"])


def test_ridge_points_and_figure_summary_carry_the_right_columns():
    """ridge_points reads the control-variate excess of ridge_means for each observable;
    figure_summary puts the paired deviation where the figure's left panel reads the error."""
    tables = _spectra_and_tables(np.random.default_rng(7))
    ridge = ridge_means(tables["ridge"])
    for observable, name in (("error", "error_excess"), ("overlap", "overlap_excess")):
        points = ridge_points(ridge, observable)
        assert points["deviation"].tolist() == ridge[name].tolist()
        assert points["se"].tolist() == ridge[f"{name}_se"].tolist() and (points["dof"] == 998).all()
    experiment = PosteriorSampling.fast().replace(depths=(1,), d0s=(16, 32, 64), alphas=(1.0, 2.0), teachers=30)
    summary = pd.DataFrame({"depth": 1, "d0": [16, 32, 64] * 2, "alpha": np.repeat([1.0, 2.0], 3),
                            "gap": np.arange(6.0), "gap_se": 0.1})
    dev = deviations(experiment, tables)
    fig = figure_summary(summary, dev).set_index(["d0", "alpha"])
    assert (fig["glm_error"] == 0).all()
    assert fig.loc[(32, 2.0), "posterior_error"] == dev.set_index(["d0", "alpha"]).loc[(32, 2.0), "deviation"]
    assert fig.loc[(32, 2.0), "gap"] == summary.set_index(["d0", "alpha"]).loc[(32, 2.0), "gap"]


def test_claims_hold_on_the_theory_and_reject_the_wrong_theories():
    """On tables drawn from the finite-size theory every claim holds and rejects its wrong
    theories (the GLM of depth 2, a constant offset of the error, a constant or 1/d0^2 excess of
    ridge), and the error claim resolves gamma0 and kappa to better than 10 %; with a constant
    offset of 0.01 added to the posterior's error the error claim fails."""
    experiment = PosteriorSampling.fast().replace(depths=(1,), d0s=(16, 32, 64), alphas=(1.0, 2.0), teachers=30)
    tables = _spectra_and_tables(np.random.default_rng(6))
    verdicts = [evaluate(c) for c in claims(experiment, tables)]
    assert [v["kind"] for v in verdicts] == ["claim", "claim", "claim", "identity"]
    assert [len(v["perturbations"]) for v in verdicts] == [2, 1, 2, 1]
    for v in verdicts:
        assert v["holds"], v
        assert v["perturbations"] and not any(p["holds"] for p in v["perturbations"]), v
    error = verdicts[0]
    resolution = {r["parameter"]: r for r in error["resolution"]}
    assert set(resolution) == {"gamma0", "kappa", "exponent"}
    for name in ("gamma0", "kappa"):
        assert -0.1 < resolution[name]["lower"] < 0 < resolution[name]["upper"] < 0.1, resolution[name]
    shifted = [evaluate(c) for c in claims(experiment, _spectra_and_tables(np.random.default_rng(6), offset=0.01))]
    assert not shifted[0]["holds"]
    assert deviations(experiment, tables)["deviation"].abs().max() < 0.02

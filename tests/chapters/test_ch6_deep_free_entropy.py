"""Tests of deepgep.chapters.ch6_deep_free_entropy, its tasks, summaries and claims: the experiment
(presets, validation, coercion, the derived GLMs against Cui et al.'s values, stable sweep keys),
the validation tasks (determinism; the exact evidence and the SMC of a validation are those of
the instance regenerated from its stream), the summaries on a small computed experiment (against
direct computations: the Jensen term, the offset between the informations, the GLM's own
variance, the fits) and the claims on it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from deepgep.chapters import experiment_class
from deepgep.chapters.ch6_deep_free_entropy import NEAREST_FIRST_SEED, DeepFreeEntropy, claims
from deepgep.chapters.ch6_deep_free_entropy_claims import (AssignmentTheory, BiasTheory, FormFinding, InformationScales,
                                                           NearestTheory, RatioTheory)
from deepgep.chapters.ch6_deep_free_entropy_summaries import (bias_bound, cpu_hours, depth0_summary, glm_separation,
                                                              instance_table, llr_fits, nearest_pooled,
                                                              nearest_summary, particles_summary, point_summary,
                                                              regenerate, t_scores, ti_summary,
                                                              variance_estimate, variance_fit, variance_frame)
from deepgep.chapters.ch6_deep_free_entropy_tasks import depth0_task, nearest_task, particles_task
from deepgep.simulate.evidence_instances import evidence_instance, glm_free_entropy
from deepgep.support.claims import evaluate
from deepgep.support.experiment import CONFIRMATION_FIRST_SEED, ExperimentError
from deepgep.support.sweeps import resolve_task
from deepgep.theory.glm import linear_evidence_derivatives, linear_mutual_information
from deepgep.theory.state_evolution import gaussian_closed_form

#: The keys of the book's tables (results/ch6/<name>-<key>.csv): a change of any parameter, task
#: or constant of a sweep changes its key, and the recorded table is no longer the book's.
PAPER_KEYS = {"depth0": "87d55f832ad6", "ti": "fd3c43f62da6", "particles": "496171be642e", "narrow": "2b9a612874b5",
              "evidence": "9da55a385888", "evidence_large": "45714bccaac8", "evidence_confirmation": "def90e7f3313",
              "nearest": "40c9659e5c25"}


def test_the_registry_finds_the_experiment_and_the_presets_are_valid():
    assert experiment_class(6) is DeepFreeEntropy
    paper, fast = DeepFreeEntropy.paper(), DeepFreeEntropy.fast()
    assert paper.is_book and not fast.is_book and fast.preset_name() == "fast"
    assert paper.validation_alpha == 2.0 and fast.replace(alphas=(0.5, 4.0)).validation_alpha == 0.5
    assert {name: s.key for name, s in paper.sweeps().items()} == PAPER_KEYS


def test_the_derived_glms_are_cui_et_al_s():
    """tanh(2x): rho_1 = 0.729478, eps_1 = 0.103124 (L = 1: kappa = rho_1^2, gamma0 = eps_1) and
    kappa = 0.409095, gamma0 = 0.152506 at L = 2 (book's reference values, notation page)."""
    e = DeepFreeEntropy.paper()
    assert abs(e.glm(1).kappa - 0.729478**2) < 2e-6 and abs(e.glm(1).gamma0 - 0.103124) < 1e-6
    assert abs(e.glm(2).kappa - 0.409095) < 1e-6 and abs(e.glm(2).gamma0 - 0.152506) < 1e-6
    assert e.derived()["gamma0 (L = 2)"] == e.glm(2).gamma0 and e.glm(1).noise == e.noise


def test_bad_parameters_are_refused_naming_the_field():
    fast = DeepFreeEntropy.fast()
    for change, match in (({"teachers": 1}, "teachers"), ({"runs": 1}, "runs"), ({"d0s": (8, 8)}, "d0s"),
                          ({"large_d0s": (12,)}, "overlap"), ({"alphas": (1.0, 1.0)}, "alphas"),
                          ({"noise": 0.0}, "noise"), ({"gain": -1.0}, "gain"), ({"particles": 2.5}, "particles"),
                          ({"hidden_widths": (0, 4)}, "hidden_widths"), ({"nearest_d0s": (16,)}, "nearest_d0s"),
                          ({"nearest_teachers": 1}, "nearest_teachers")):
        with pytest.raises(ExperimentError, match=match):
            fast.replace(**change)
    with pytest.raises(ExperimentError, match="no parameter"):
        fast.replace(widths=(4,))


def test_values_are_coerced_so_that_equal_parameters_give_equal_tables():
    cell = DeepFreeEntropy.from_cell("paper", gain=2, d0s=[8, 16, 24], alphas=[0.5, 1, 2, 4], noise=None)
    assert cell == DeepFreeEntropy.paper() and isinstance(cell.gain, float) and isinstance(cell.alphas[1], float)
    assert {k: s.key for k, s in cell.sweeps().items()} == PAPER_KEYS
    assert DeepFreeEntropy.paper().replace(particles=256).sweeps()["evidence"].key != PAPER_KEYS["evidence"]


PARAMS = {"base_seed": 3, "activation": "tanh", "gain": 2.0, "noise": 0.1, "particles": 32, "runs": 2, "d0": 4,
          "alpha": 2.0}


def test_depth0_task_is_deterministic_and_its_exact_value_is_the_regenerated_glm_evidence():
    first, again = depth0_task({**PARAMS, "runs": 4}, 1), depth0_task({**PARAMS, "runs": 4}, 1)
    assert first == again != depth0_task({**PARAMS, "runs": 4}, 2)
    e = DeepFreeEntropy.fast().replace(base_seed=3)
    frame = pd.DataFrame([{"d0": 4, "alpha": 2.0, "seed": 1}])
    (X, y), = regenerate(e, frame, depth=0)
    assert first["n"] == 8.0 and first["exact"] == glm_free_entropy(X, y, 1.0, 0.0, 0.1)
    assert math.isclose(first["z"], (first["estimate"] - first["exact"]) / first["standard_error"])


def test_particles_task_runs_on_the_evidence_sweeps_instance():
    rec = particles_task({**PARAMS, "depth": 1, "instance": 0}, 5)
    assert rec == particles_task({**PARAMS, "depth": 1, "instance": 0}, 5) != particles_task(
        {**PARAMS, "depth": 1, "instance": 0}, 6)
    assert rec["n"] == 8.0 and rec["temperatures"] >= 1 and rec["evaluations"] > 32
    mine = evidence_instance({**PARAMS, "depth": 1}, 0)  # the same instance: its evidence agrees within the SMC error
    assert abs(rec["log_z"] - mine["free_entropy_deep"]) < 0.1


def test_t_scores_and_the_variance_estimate():
    assert np.allclose(t_scores(np.array([0.0, 2.0, -2.0]), 1e6), [0.0, 2.0, -2.0], atol=1e-5)
    assert 0 < t_scores(np.array([5.0]), 3)[0] < 5.0  # heavier tails: a smaller normal score
    assert abs(t_scores(np.array([stats.t.isf(0.025, 4)]), 4)[0] - 1.959964) < 1e-6
    x = np.random.default_rng(0).standard_normal(4000)
    v, se = variance_estimate(x, np.full(x.size, 0.01))
    assert abs(v - (x.var(ddof=1) - 0.01)) < 1e-12 and abs(se - math.sqrt(2 / 3999)) < 0.2 * math.sqrt(2 / 3999)


# --- a small experiment computed in this process --------------------------------------------------

def _small() -> DeepFreeEntropy:
    return DeepFreeEntropy.fast().replace(
        base_seed=11, depths=(1,), d0s=(4, 6), teachers=4, large_d0s=(8,), large_teachers=3, alphas=(0.5, 1.0, 2.0),
        narrow_d0=4, narrow_alpha=2.0, hidden_widths=(2, 4, 8), narrow_teachers=4, particles=32, depth0_d0s=(4, 6),
        ti_d0s=(4,), ti_teachers=2, bias_particles=(16, 32, 64), bias_repeats=4, nearest_d0s=(8, 16),
        nearest_teachers=4)


@pytest.fixture(scope="module")
def small_tables() -> dict[str, pd.DataFrame]:
    """The small experiment's tables, rows as the sweeps write them (grid point, seed, record,
    and the task's CPU time)."""
    out = {}
    for name, sweep in _small().sweeps().items():
        task = resolve_task(sweep.task)
        out[name] = pd.DataFrame([{**point, "seed": seed, **task({**sweep.constants, **point}, seed), "cpu_time": 1.0}
                                  for point, seed in sweep.tasks()])
    return out


def test_the_validation_summaries(small_tables):
    e = _small()
    d0 = depth0_summary(small_tables["depth0"], 2 * e.runs)
    first = small_tables["depth0"].query("d0 == 4")
    assert d0["instances"].tolist() == [2, 2]
    assert math.isclose(d0["difference"].iloc[0], float((8 * (first["estimate"] - first["exact"])).mean()))
    assert math.isclose(d0["jensen"].iloc[0], float((-0.5 * 4 * (8 * first["standard_error"]) ** 2).mean()))
    ti = ti_summary(small_tables["ti"])
    assert ti["instances"].tolist() == [2] and ti["work_ratio"].iloc[0] > 1
    same = small_tables["ti"].merge(instance_table(small_tables), on=["depth", "d0", "alpha", "seed"])
    assert len(same) == 2 and (same["smc"] == same["free_entropy_deep"]).all()  # the chapter's own estimate
    p = particles_summary(small_tables["particles"])
    top = small_tables["particles"].query("particles == 64")["log_z"].to_numpy() * 8
    ref = math.log(np.mean(np.exp(top)))
    row = p.query("particles == 16").iloc[0]
    assert math.isclose(row["bias"], row["mean"] - ref) and row["jensen"] < np.var(top, ddof=1) / 8
    b = bias_bound(p, 32, 2, 3.5)
    assert math.isclose(b["ratio"].iloc[0], -b["jensen"].iloc[0] / b["standard_error"].iloc[0])
    assert b["ratio_upper"].iloc[0] > b["ratio"].iloc[0]


def test_the_information_summaries(small_tables):
    e = _small()
    instances = instance_table(small_tables)
    points = point_summary(instances, e)
    assert len(points) == 3 * 3 and points["teachers"].tolist()[:3] == [4, 4, 4]
    glm = e.glm(1)
    p = points.query("d0 == 6 and alpha == 1.0").iloc[0]
    assert math.isclose(p["offset"], 0.5 * math.log(1 + glm.gamma0 / e.noise))
    assert math.isclose(p["replica"], gaussian_closed_form(glm.kappa, glm.total_noise, 1.0)["mutual_information"])
    rows = instances.query("d0 == 6 and alpha == 1.0")
    data = regenerate(e, rows)
    exact = [linear_mutual_information(X, glm.kappa, glm.total_noise) * 6 / 6 for X, _ in data]
    assert np.allclose(exact, rows["mi_glm_exact"], rtol=1e-12)
    assert math.isclose(p["var_glm_own"], 1 / 12 + np.var(exact, ddof=1), rel_tol=1e-9)
    fits = llr_fits(points, 1, 2.0)
    assert set(fits) >= {"constant", "1/d0", "1/sqrt(d0)"} and fits["1/d0"].dof == 1
    narrow = point_summary(small_tables["narrow"], e, ["depth", "d0", "alpha", "width"])
    assert narrow["width"].tolist() == [2, 4, 8]
    frame = variance_frame(points, narrow, 1)
    assert len(frame) == len(points) + 3 and frame["d_m"].tolist()[-3:] == [2, 4, 8]
    assert (frame["d_m"].iloc[:len(points)] == points["d0"]).all()
    separation = glm_separation(e, instances, 1, 2)
    two = e.glm(2)
    direct = [glm_free_entropy(X, y, glm.kappa, glm.gamma0, e.noise) - glm_free_entropy(X, y, two.kappa, two.gamma0, e.noise)
              for X, y in data]
    assert math.isclose(separation.query("d0 == 6 and alpha == 1.0")["separation"].iloc[0], float(np.mean(direct)))
    assert np.allclose(glm_separation(e, instances, 1, 1)["separation"], 0.0)
    assert cpu_hours(small_tables)["evidence"] == len(small_tables["evidence"]) / 3600


def test_the_claims_on_the_small_experiment(small_tables):
    e = _small()
    found = claims(e, small_tables)
    assert len(found) >= 3 and all(c.chapter == 6 and c.perturbations for c in found)
    verdicts = [evaluate(c) for c in found]
    names = [v["name"] for v in verdicts]
    assert "SMC = thermodynamic integration" in names and "finding: at the largest width the free entropies still differ" in names
    assert all(v["statistic"] is None or v["statistic"] >= 0 for v in verdicts
               if "nearer" not in v["name"] and not v["name"].startswith("finding"))
    assert len(found) == 9  # three validations, the extrapolation's finding, the ratio, nearer, information, Theorem 2,
    # the nearest Gaussian model
    assert names.count("Theorem 2: Var(ln Z / n) = a/n + b/d_m") == 1
    ratio = next(c for c in found if c.name.startswith("finding: at the largest width"))
    assert isinstance(ratio.theory, RatioTheory) and not ratio.theory.vanishing
    assert ratio.test(ratio.theory).statistic == -ratio.test(RatioTheory()).statistic
    # the claim recomputes r from the regenerated data: on them it is the recorded log_ratio
    rows = instance_table(small_tables)
    (X, y), = regenerate(e, rows.iloc[:1])
    glm = e.glm(1)
    assert math.isclose(rows["free_entropy_deep"].iloc[0] - glm_free_entropy(X, y, glm.kappa, glm.gamma0, e.noise),
                        rows["log_ratio"].iloc[0], rel_tol=1e-12, abs_tol=1e-15)
    # equal mutual informations: the ratio's limit is the offset (1/2) ln(1 + gamma0/Delta), far from the data
    offset = 0.5 * math.log1p(e.glm(1).gamma0 / e.noise)
    equal_mi = ratio.test(RatioTheory(offset_factor=0.0))
    assert equal_mi.statistic > ratio.test(RatioTheory()).statistic and offset > 0.3
    nearer = next(c for c in found if c.name.startswith("the theorem's GLM is nearer"))
    assert isinstance(nearer.theory, AssignmentTheory) and nearer.resolves == ()
    # its statistic: the largest one-sided z of the inverse-variance mean of the exact separations
    instances = instance_table(small_tables)
    zs = []
    for other in (0, 2):
        s = glm_separation(e, instances, 1, other)
        w = s["separation_se"].to_numpy() ** -2
        zs.append(-float(np.average(s["separation"], weights=w)) * math.sqrt(w.sum()))
    assert math.isclose(nearer.test(nearer.theory).statistic, max(zs), rel_tol=1e-9)
    # the GLM one layer deeper is compared with depths 0 and 1: its z against depth 1 is -(the z of depth 1 against 2)
    assert nearer.test(AssignmentTheory(shift=1)).statistic >= -zs[1] - 1e-9
    with pytest.raises(ValueError, match="no GLM of depth"):
        nearer.test(AssignmentTheory(shift=-2))
    mi = next(c for c in found if c.name.startswith("deep mutual information"))
    assert isinstance(mi.theory, InformationScales) and mi.resolves == ("gamma0_scale", "kappa_scale")
    ti = next(c for c in found if c.name == "SMC = thermodynamic integration")
    assert ti.test(BiasTheory(reference="glm")).statistic > ti.test(BiasTheory()).statistic


def test_the_variance_fit_recovers_an_exact_law_and_refuses_an_empty_form():
    """Points on an exact law a/n + b/d_m with 30 % relative errors: the reweighted fit returns
    a and b with chi2 = 0; dropping a term or fitting a constant gives a worse chi-square."""
    n = np.array([8.0, 16, 32, 64, 32, 32, 32])
    d = np.array([8.0, 8, 16, 16, 4, 32, 64])
    var = 0.5 / n + 0.2 / d
    frame = pd.DataFrame({"n": n, "d_m": d, "var_deep": var, "var_deep_se": 0.3 * var, "var_glm_own": 1 / (2 * n)})
    fit = variance_fit(frame)
    assert math.isclose(fit.values["a"], 0.5, rel_tol=1e-9) and math.isclose(fit.values["b"], 0.2, rel_tol=1e-9)
    assert fit.chi2 < 1e-15 and fit.dof == 5
    for options in ({"width_term": False}, {"n_term": False}, {"n_exponent": 0.0, "width_exponent": 0.0}):
        assert variance_fit(frame, **options).chi2 > 1.0
    assert set(variance_fit(frame, n_exponent=0.0, width_exponent=0.0).values) == {"a"}
    with pytest.raises(ValueError, match="at least one term"):
        variance_fit(frame, n_term=False, width_term=False)


def test_the_confirmation_sweep_has_fresh_teachers_at_the_largest_width():
    paper = DeepFreeEntropy.paper()
    sweeps = paper.sweeps()
    fresh = sweeps["evidence_confirmation"]
    seeds = {seed for _, seed in fresh.tasks()}
    assert seeds == set(range(CONFIRMATION_FIRST_SEED, CONFIRMATION_FIRST_SEED + paper.confirmation_teachers))
    others = {seed for name in ("evidence", "evidence_large", "narrow") for _, seed in sweeps[name].tasks()}
    assert not seeds & others
    assert {point["d0"] for point, _ in fresh.tasks()} == {max(paper.large_d0s)}
    assert fresh.task == sweeps["evidence_large"].task and fresh.constants == sweeps["evidence_large"].constants
    with pytest.raises(ExperimentError, match="confirmation_teachers"):
        paper.replace(confirmation_teachers=1)


def test_the_largest_width_claim_reads_the_fresh_teachers_only(small_tables):
    e = _small()
    ratio = next(c for c in claims(e, small_tables) if c.name.startswith("finding: at the largest width"))
    base = ratio.test(RatioTheory()).statistic
    # the design table at the largest width does not enter (only its smallest width does, for a persistent ratio)
    changed = {**small_tables, "evidence_large": small_tables["evidence_large"].assign(
        free_entropy_deep=small_tables["evidence_large"]["free_entropy_deep"] + 1.0)}
    again = next(c for c in claims(e, changed) if c.name.startswith("finding: at the largest width"))
    assert math.isclose(again.test(RatioTheory()).statistic, base, rel_tol=1e-12)
    # the fresh teachers do: r pooled over alpha by inverse variance at the one width, against 0
    fresh = small_tables["evidence_confirmation"]
    rows = fresh.reset_index(drop=True)
    glm = e.glm(1)
    r = np.array([rows["free_entropy_deep"].iloc[i] - glm_free_entropy(X, y, glm.kappa, glm.gamma0, e.noise)
                  for i, (X, y) in enumerate(regenerate(e, rows))])
    groups = rows.groupby("alpha").indices
    means = np.array([r[g].mean() for g in groups.values()])
    ses = np.array([r[g].std(ddof=1) / math.sqrt(len(g)) for g in groups.values()])
    w = ses**-2.0
    assert math.isclose(base, abs(float(np.sum(w * means) / w.sum())) * math.sqrt(w.sum()), rel_tol=1e-9)


def test_the_extrapolation_finding_is_the_sign_of_the_pooled_limit(small_tables):
    e = _small()
    finding = next(c for c in claims(e, small_tables) if c.name.startswith("finding"))
    assert isinstance(finding.theory, FormFinding) and finding.resolves == ("power",)
    instances = instance_table(small_tables)
    points = point_summary(instances, e)
    from deepgep.chapters.ch6_deep_free_entropy_summaries import pooled_fit
    fit = pooled_fit(points.query("depth == 1").rename(columns={"log_ratio": "r", "log_ratio_se": "r_se"}), "r")
    z = fit.values["limit"] / fit.errors["limit"]
    negative, vanishing = finding.test(FormFinding()), finding.test(FormFinding(negative=False))
    assert math.isclose(negative.statistic, z, rel_tol=1e-9) and negative.threshold < 0
    assert math.isclose(vanishing.statistic, abs(z), rel_tol=1e-9) and vanishing.threshold == -negative.threshold


def test_the_nearest_sweep_has_fresh_teachers_and_no_smc():
    sweeps = DeepFreeEntropy.paper().sweeps()
    nearest = sweeps["nearest"]
    assert list(nearest.seeds) == list(range(NEAREST_FIRST_SEED, NEAREST_FIRST_SEED + 40))
    assert not set(nearest.seeds) & {s for k, w in sweeps.items() if k != "nearest" for s in w.seeds}
    assert "particles" not in nearest.constants and nearest.n_tasks == 2 * 6 * 4 * 40


def test_nearest_summary_finds_the_glm_that_drew_the_labels():
    """Labels drawn from the GLM with kappa 10 % larger and gamma0 20 % smaller than the GLM the
    derivatives are taken at: the one-step estimate recovers both shifts within a few errors
    (its second-order bias is below them at these sizes)."""
    rng = np.random.default_rng(8)
    kappa, gamma0, noise = 0.4, 0.15, 0.1
    rows = []
    for seed in range(300):
        X = rng.standard_normal((120, 60))
        y = (math.sqrt(1.1 * kappa / 60) * X @ rng.standard_normal(60)
             + math.sqrt(0.8 * gamma0 + noise) * rng.standard_normal(120))
        out = linear_evidence_derivatives(X, y, kappa, gamma0 + noise)
        rows.append({"depth": 1, "d0": 60, "alpha": 2.0, "seed": seed, "kappa": kappa, "gamma0": gamma0,
                     "g_kappa": out.gradient[0], "g_s": out.gradient[1], "h_kk": out.hessian[0, 0],
                     "h_ks": out.hessian[0, 1], "h_ss": out.hessian[1, 1]})
    (row,) = nearest_summary(pd.DataFrame(rows)).itertuples(index=False)
    with pytest.raises(ValueError, match="not negative definite"):
        nearest_summary(pd.DataFrame(rows).assign(h_kk=1.0))
    assert abs(row.kappa_shift - 0.1) < 4 * row.kappa_shift_se and row.kappa_shift_se < 0.03
    assert abs(row.gamma0_shift + 0.2) < 4 * row.gamma0_shift_se and row.teachers == 300


def test_the_nearest_claim_reads_the_nearest_table_at_its_largest_width(small_tables):
    claim = next(c for c in claims(_small(), small_tables) if c.name.startswith("the Gaussian model nearest"))
    assert isinstance(claim.theory, NearestTheory) and claim.resolves == ("kappa_scale", "gamma0_scale")
    outcome = claim.test(claim.theory)
    assert math.isfinite(outcome.statistic) and "d0 = 16" in outcome.detail
    top = nearest_summary(small_tables["nearest"]).query("d0 == 16")
    assert outcome.statistic == pytest.approx(max(np.abs(np.r_[top["kappa_shift"] / top["kappa_shift_se"],
                                                               top["gamma0_shift"] / top["gamma0_shift_se"]])))
    task = nearest_task({**_small().sweeps()["nearest"].constants, "depth": 1, "d0": 8, "alpha": 2.0}, NEAREST_FIRST_SEED)
    assert set(task) == {"n", "kappa", "gamma0", "value", "g_kappa", "g_s", "h_kk", "h_ks", "h_ss"} and task["n"] == 16


def test_nearest_pooled_is_the_inverse_variance_mean_over_the_ratios():
    summary = pd.DataFrame({"depth": [1, 1, 1], "d0": [16, 16, 32], "alpha": [1.0, 2.0, 1.0],
                            "kappa_shift": [0.1, 0.3, 0.0], "kappa_shift_se": [0.1, 0.2, 0.05],
                            "gamma0_shift": [0.0, 0.2, 0.1], "gamma0_shift_se": [0.2, 0.2, 0.1]})
    pooled = nearest_pooled(summary).set_index("d0")
    assert pooled.loc[16, "kappa_shift"] == pytest.approx((0.1 / 0.01 + 0.3 / 0.04) / (1 / 0.01 + 1 / 0.04), rel=1e-12)
    assert pooled.loc[16, "gamma0_shift"] == pytest.approx(0.1, rel=1e-12)
    assert pooled.loc[32, "kappa_shift_se"] == pytest.approx(0.05, rel=1e-12)

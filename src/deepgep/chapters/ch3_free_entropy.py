"""Chapter 3: the replica formula of the Bayes-optimal GLM checked at finite size: the exact
mutual information of the linear GLM (book eq-linear-exact-mi) against the formula, GAMP against
state evolution on sampled instances, and the concentration of the free entropy (Camilli et al.
2025, Theorem 2; book thm-concentration, eq-concentration) on the linear GLM, where ``log Z``
is exact. The simulations are sweeps of independent draws (:func:`sweeps`) that the notebook,
the claims (:func:`claims`) and ``deepgep results verify`` read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepgep.simulate.amp import gamp
from deepgep.simulate.teachers import sample_glm
from deepgep.support.claims import CLAIM_Z, Claim, max_abs_z, z_test
from deepgep.support.stats import inverse_size_extrapolation, loglog_slope, mean_and_error
from deepgep.support.sweeps import field_matrix, grid_product, Sweep, task_rng
from deepgep.theory.channels import make_channel
from deepgep.theory.glm import control_variate_estimate, linear_log_partition, linear_mutual_information, wishart_statistics
from deepgep.theory.state_evolution import bayes_optimal_curve, gaussian_closed_form, state_evolution_trajectory

__all__ = ["bayes_depth_curves", "information_task",
           "concentration_task", "gamp_task", "sweeps", "information_extrapolation", "pooled_variances", "claims"]


def bayes_depth_curves(models: dict[int, tuple[float, float]], alphas: Sequence[float],
                       noise: float) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """Bayes-optimal curves (:func:`deepgep.theory.state_evolution.bayes_optimal_curve`) of the
    equivalent GLM ``models[depth] = (kappa, gamma0)`` of each depth, keyed ``(task, depth)``:
    ``"regression"`` (linear channel, label noise ``noise``) with ``relative_error`` the test
    error over the label variance ``kappa + gamma0 + noise``, and ``"classification"`` (sign
    channel, no label noise) with ``relative_error`` the error rate itself."""
    curves = {}
    for depth, (kappa, gamma0) in models.items():
        reg = bayes_optimal_curve(make_channel("linear", gamma0=gamma0, noise=noise), kappa, alphas)
        reg["relative_error"] = reg["test_error"] / (kappa + gamma0 + noise)
        cls = bayes_optimal_curve(make_channel("sign", gamma0=gamma0), kappa, alphas)
        cls["relative_error"] = cls["test_error"]
        curves["regression", depth], curves["classification", depth] = reg, cls
    return curves


# --- the simulations, as sweeps -----------------------------------------------------------------

#: Tags of the experiments in the seeds of their random streams.
_INFORMATION, _CONCENTRATION, _GAMP = 1, 2, 3



def information_task(params: Mapping, seed: int) -> dict[str, float]:
    """One Gaussian input matrix ``n x d`` (``n = alpha d``): the exact ``I(a; Y | X)/d`` of the
    linear GLM (book eq-linear-exact-mi) and the Wishart statistics used as control variates with
    their exact means (:func:`deepgep.theory.glm.wishart_statistics`): fields ``value``,
    ``control_k``, ``mean_k``."""
    d = int(params["d"])
    X = task_rng(params, seed, _INFORMATION, d).standard_normal((round(float(params["alpha"]) * d), d))
    controls, means = wishart_statistics(X)
    record = {"value": linear_mutual_information(X, float(params["kappa"]), float(params["total_noise"]))}
    for k, (c, m) in enumerate(zip(controls, means)):
        record[f"control_{k}"], record[f"mean_{k}"] = float(c), float(m)
    return record


def concentration_task(params: Mapping, seed: int) -> dict[str, float]:
    """A batch of ``batch`` independent linear-GLM datasets of size ``n`` (``d = round(n/alpha)``,
    noise ``total_noise``): the mean of ``(1/n) log Z`` over the batch and the sum of squared
    deviations from it (``m2``), from which batches pool into one variance."""
    n, alpha, kappa, noise = int(params["n"]), float(params["alpha"]), float(params["kappa"]), float(params["total_noise"])
    rng = task_rng(params, seed, _CONCENTRATION, n)
    values = np.empty(int(params["batch"]))
    for i in range(values.size):
        data = sample_glm(n, round(n / alpha), rng, eta0=math.sqrt(kappa), gamma0=0.0, noise=noise, output="linear")
        values[i] = linear_log_partition(data.X, data.y, kappa, noise) / n
    return {"mean": float(values.mean()), "m2": float(np.sum((values - values.mean()) ** 2)), "count": int(values.size)}


def gamp_task(params: Mapping, seed: int) -> dict[str, float]:
    """GAMP on one instance of the equivalent GLM (``kappa``, ``gamma0``; ``task`` regression with
    label noise ``noise`` or classification) of size ``d``, ``n = alpha d``: the MSE on the teacher
    ``a`` after each iteration, fields ``mse@t``."""
    d, alpha, task = int(params["d"]), float(params["alpha"]), params["task"]
    output, noise = ("linear", float(params["noise"])) if task == "regression" else ("sign", 0.0)
    rng = task_rng(params, seed, _GAMP, round(100 * alpha), 0 if task == "regression" else 1)
    channel = make_channel(output, gamma0=float(params["gamma0"]), noise=noise)
    data = sample_glm(round(alpha * d), d, rng, eta0=math.sqrt(float(params["kappa"])), gamma0=float(params["gamma0"]),
                      noise=noise, output=output)
    res = gamp(data.X, data.y, channel, math.sqrt(float(params["kappa"])), n_iter=int(params["n_iter"]), tol=0.0,
               teacher=data.a)
    return {f"mse@{t}": float(m) for t, m in enumerate(res.mse)}


_MODULE = "deepgep.chapters.ch3_free_entropy"


def sweeps(p: Mapping[str, Any], preset: str) -> dict[str, Sweep]:
    """The chapter's sweeps from the notebook's parameters ``p``: ``information`` (per size),
    ``concentration`` (per ``n``, batches of datasets) and ``gamp`` (per task and ``alpha``)."""
    common = {"base_seed": p["SEED"], "kappa": p["KAPPA"]}
    return {
        "information": Sweep(3, "information", preset, f"{_MODULE}:information_task",
                             grid=grid_product(d=p["SIZES"]), seeds=range(p["DRAWS"]),
                             constants={**common, "alpha": p["ALPHA_FINITE_SIZE"], "total_noise": p["GAMMA0"]}),
        "concentration": Sweep(3, "concentration", preset, f"{_MODULE}:concentration_task",
                               grid=grid_product(n=p["CONCENTRATION_NS"]), seeds=range(p["CONCENTRATION_BATCHES"]),
                               constants={**common, "alpha": p["ALPHA_FINITE_SIZE"], "total_noise": p["GAMMA0"],
                                          "batch": p["CONCENTRATION_BATCH"]}),
        "gamp": Sweep(3, "gamp", preset, f"{_MODULE}:gamp_task",
                      grid=grid_product(task=["regression", "classification"], alpha=p["GAMP_ALPHAS"]),
                      seeds=range(p["GAMP_SEEDS"]),
                      constants={**common, "d": p["GAMP_D"], "gamma0": p["GAMMA0"], "noise": p["DELTA_REGRESSION"],
                                 "n_iter": p["GAMP_ITERATIONS"]}),
    }


def information_extrapolation(rows: Sequence[Mapping[str, Any]], sizes: Sequence[int]) -> dict[str, Any]:
    """Per size the control-variate estimate of ``E I(a; Y | X)/d``
    (:func:`deepgep.theory.glm.control_variate_estimate` over the draws), and the weighted fit
    ``I_d = I_inf + c/d``."""
    values, errors = [], []
    for d in sizes:
        chosen = [r for r in rows if r["d"] == int(d)]
        k = sum(name.startswith("control_") for name in chosen[0])
        v = field_matrix(chosen, ["value"])[0]
        controls = field_matrix(chosen, [f"control_{i}" for i in range(k)]).T
        means = [chosen[0][f"mean_{i}"] for i in range(k)]
        est, se = control_variate_estimate(v, controls, means)
        values.append(est)
        errors.append(se)
    fit = inverse_size_extrapolation(np.asarray(sizes, float), np.array(values), np.array(errors))
    return {"d": np.asarray(sizes), "value": np.array(values), "se": np.array(errors), "fit": fit}


def pooled_variances(rows: Sequence[Mapping[str, Any]], ns: Sequence[int]) -> dict[str, np.ndarray]:
    """Per ``n`` the variance of ``(1/n) log Z`` pooled over the batches of
    :func:`concentration_task` (each batch's sum of squares about its own mean plus the spread
    of the batch means), and its standard error ``variance sqrt(2/(N - 1))`` for Gaussian draws."""
    out = {"n": np.asarray(ns), "variance": [], "variance_se": [], "datasets": []}
    for n in ns:
        chosen = [r for r in rows if r["n"] == int(n)]
        counts = np.array([r["count"] for r in chosen], float)
        means = np.array([r["mean"] for r in chosen])
        total = counts.sum()
        grand = float(np.sum(counts * means) / total)
        m2 = sum(r["m2"] for r in chosen) + float(np.sum(counts * (means - grand) ** 2))
        var = m2 / (total - 1)
        out["variance"].append(var)
        out["variance_se"].append(var * math.sqrt(2.0 / (total - 1)))
        out["datasets"].append(int(total))
    return {k: np.asarray(v) for k, v in out.items()}


# --- the chapter's claims ---------------------------------------------------------------------------


def claims(rows: Mapping[str, Sequence[Mapping[str, Any]]], p: Mapping[str, Any]) -> list[Claim]:
    """Chapter 3's quantitative claims on the rows of its sweeps and the notebook's parameters
    ``p``, each with the wrong theories it must reject (:mod:`deepgep.support.claims`)."""
    alpha = p["ALPHA_FINITE_SIZE"]

    def formula(t):
        return gaussian_closed_form(p["KAPPA"] * t.get("kappa_factor", 1.0), p["GAMMA0"] * t.get("gamma0_factor", 1.0), alpha)

    def information_test(t):
        fit = information_extrapolation(rows["information"], p["SIZES"])["fit"]
        return z_test(fit.limit, fit.limit_se, formula(t)["mutual_information"], CLAIM_Z,
                      f"I_inf (fit I_inf + c/d over d = {list(p['SIZES'])}) ")

    def gamp_test(t):
        ests, ses, refs = [], [], []
        for task in ("regression", "classification"):
            noise = p["DELTA_REGRESSION"] if task == "regression" else 0.0
            channel = make_channel("linear" if task == "regression" else "sign",
                                   gamma0=p["GAMMA0"] * t.get("gamma0_factor", 1.0), noise=noise)
            for a in p["GAMP_ALPHAS"]:
                chosen = [r for r in rows["gamp"] if r["task"] == task and r["alpha"] == float(a)]
                m, se = mean_and_error(field_matrix(chosen, [f"mse@{i}" for i in range(p["GAMP_ITERATIONS"] + 1)]))
                ref = 1.0 - state_evolution_trajectory(channel, p["KAPPA"] * t.get("kappa_factor", 1.0), a,
                                                       p["GAMP_ITERATIONS"])
                ests += list(m[1:])
                ses += list(se[1:])
                refs += list(ref[1:])
        return max_abs_z(ests, ses, refs, CLAIM_Z, f"d = {p['GAMP_D']}, iterations 1..{p['GAMP_ITERATIONS']}: ")

    def concentration_test(t):
        v = pooled_variances(rows["concentration"], p["CONCENTRATION_NS"])
        slope, se = loglog_slope(v["n"].astype(float), v["variance"])
        return z_test(slope, se, t["exponent"], CLAIM_Z, "log-log slope of Var(log Z / n) ")

    wrong = {"gamma0 -> gamma0/2": {"gamma0_factor": 0.5}, "kappa -> 0.8 kappa": {"kappa_factor": 0.8}}
    return [
        Claim(3, "replica formula = limit of the exact mutual information",
              f"For the linear GLM at alpha = {alpha:g}, the exact finite-size mutual information, "
              f"extrapolated in 1/d, equals the replica formula (|z| <= {CLAIM_Z}).",
              information_test, {}, wrong),
        Claim(3, "GAMP = state evolution",
              f"GAMP on instances of the equivalent GLM (d = {p['GAMP_D']}) has, at every iteration, the MSE "
              f"1 - q_t that state evolution predicts, in regression and classification (|z| <= {CLAIM_Z}).",
              gamp_test, {}, wrong),
        Claim(3, "free entropy concentrates at rate 1/n (linear GLM)",
              f"Var(log Z / n) of the linear GLM decays like n^-1 over n = {list(p['CONCENTRATION_NS'])} "
              f"(fitted exponent, |z| <= {CLAIM_Z}); only the linear GLM is tested (Theorem 2's 1/d_m term "
              "and the deep model are not).",
              concentration_test, {"exponent": -1.0}, {"rate n^-1/2": {"exponent": -0.5}}),
    ]

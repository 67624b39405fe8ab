"""Chapter 4: Bayes-optimal generalisation of deep random networks, and what learners achieve.

The figure of Cui, Krzakala & Zdeborova (2023, Fig. 1 and section 4) compares, on data from a
deep random teacher, the Bayes-optimal test error of the equivalent GLM (Camilli et al. 2025,
Theorem 4) with ridge regression, logistic regression and a trained network of the teacher's
architecture. The drivers here compute the theory curves (closed forms and state evolution of
the equivalent GLM, random-matrix formulas for ridge) and run the simulations; the notebook
only prints, plots and asserts.

Test errors: regression, the mean squared error on noisy test labels (so the Bayes error
includes ``Delta``, book eq-linear-closed-form); classification, the misclassification rate.
"""


from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepgep.simulate.estimators import (classification_error, logistic_regression, predict,
                                         prediction_error, regression_error, ridge_path)
from deepgep.simulate.networks import gaussian_inputs
from deepgep.simulate.teachers import noisy_labels, sample_teacher, teacher_preactivation
from deepgep.simulate.training import student_predict, train_student
from deepgep.support.claims import CLAIM_Z, Claim, Test, max_abs_z
from deepgep.support.stats import inverse_size_extrapolation, standard_error
from deepgep.support.sweeps import as_columns, field_matrix, grid_product, Sweep, task_rng
from deepgep.theory.channels import make_channel
from deepgep.theory.layers import depth_table, equivalent_parameters, indistinguishable_depth
from deepgep.theory.ridge import (bayes_ridge_lambda, optimal_ridge_classification,
                                  optimal_ridge_regression, ridge_classification_error,
                                  ridge_regression_error)
from deepgep.theory.state_evolution import bayes_optimal_curve, gaussian_closed_form

__all__ = ["regression_theory", "classification_theory", "plateau", "depth_activation_table",
           "field", "optimal_penalties", "learners_task", "network_task", "escape_task", "sweeps",
           "teacher_means", "simulation_arrays", "finite_size_deviations", "claims"]


def _grid(alphas: Sequence[float]) -> np.ndarray:
    grid = np.asarray(alphas, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or np.any(~np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"alphas must be a non-empty list of positive numbers, got {alphas!r}")
    return grid


def regression_theory(kappa: float, gamma0: float, noise: float, alphas: Sequence[float],
                      lambda_factors: Sequence[float]) -> dict[str, np.ndarray]:
    """Theory curves for ``y = f(x) + sqrt(Delta) xi`` on the equivalent GLM.

    ``bayes``: the closed form ``kappa (1 - q*) + gamma0 + Delta`` (book eq-linear-closed-form);
    ``ridge``: ridge at ``lambda* x factor`` (``lambda* = (gamma0 + Delta) / kappa``), shape
    ``(alphas, factors)``; ``ridge_best`` and ``lambda_best``: ridge minimised numerically over
    ``lambda`` (:func:`deepgep.theory.ridge.optimal_ridge_regression`), independent of the closed form for
    ``lambda*``, so ``ridge_best == bayes`` and ``lambda_best == lambda*`` are checks.
    """
    grid = _grid(alphas)
    total_noise = gamma0 + noise
    lam_star = total_noise / kappa
    factors = np.asarray(lambda_factors, dtype=float)
    out = {"alpha": grid, "lambda_star": lam_star, "lambda_factor": factors,
           "bayes": np.array([gaussian_closed_form(kappa, total_noise, a)["test_error"] for a in grid]),
           "ridge": np.array([[ridge_regression_error(kappa, total_noise, a, f * lam_star) for f in factors]
                              for a in grid])}
    best = [optimal_ridge_regression(kappa, total_noise, a) for a in grid]
    out["lambda_best"] = np.array([b[0] for b in best])
    out["ridge_best"] = np.array([b[1] for b in best])
    return out


def classification_theory(kappa: float, gamma0: float, alphas: Sequence[float],
                          lambda_factors: Sequence[float]) -> dict[str, np.ndarray]:
    """Theory curves for ``y = sign(f(x))``: the equivalent GLM is the probit channel
    ``sign(z + sqrt(gamma0) xi)``. ``bayes`` from state evolution
    (:func:`deepgep.theory.state_evolution.bayes_optimal_curve`); ``lambda_opt``/``ridge_opt``: the
    optimal ridge penalty and error (:func:`deepgep.theory.ridge.optimal_ridge_classification`);
    ``ridge``: ridge at ``lambda_opt x factor``, shape ``(alphas, factors)``."""
    grid = _grid(alphas)
    factors = np.asarray(lambda_factors, dtype=float)
    curve = bayes_optimal_curve(make_channel("sign", gamma0), kappa, np.sort(grid))
    order = np.argsort(np.argsort(grid))
    opt = [optimal_ridge_classification(kappa, gamma0, a) for a in grid]
    lam_opt = np.array([o[0] for o in opt])
    return {"alpha": grid, "lambda_factor": factors, "bayes": curve["test_error"][order],
            "lambda_opt": lam_opt, "ridge_opt": np.array([o[1] for o in opt]),
            "ridge": np.array([[ridge_classification_error(kappa, gamma0, a, f * lo) for f in factors]
                               for a, lo in zip(grid, lam_opt)])}


def plateau(kappa: float, gamma0: float, noise: float, large_alphas: Sequence[float]) -> dict[str, np.ndarray]:
    """How the Bayes errors reach their plateaus as ``alpha -> infinity``.

    Regression: ``E -> gamma0 + Delta`` with ``alpha (E - gamma0 - Delta) -> gamma0 + Delta``
    (from the closed form, ``1 - q* = Delta_e / alpha + O(alpha^-2)``, ``Delta_e = (gamma0 +
    Delta) / kappa``). Classification: ``q* -> 1`` and the error tends to
    ``arccos(sqrt(kappa / (kappa + gamma0))) / pi``, the error of the optimal linear rule when the
    nonlinear part of the teacher acts as probit noise of variance ``gamma0``."""
    grid = _grid(large_alphas)
    total_noise = gamma0 + noise
    reg = np.array([gaussian_closed_form(kappa, total_noise, a)["test_error"] for a in grid])
    cls = bayes_optimal_curve(make_channel("sign", gamma0), kappa, np.sort(grid))["test_error"]
    return {"alpha": grid, "regression": reg, "scaled_excess": grid * (reg - total_noise),
            "regression_plateau": total_noise, "classification": cls[np.argsort(np.argsort(grid))],
            "classification_plateau": math.acos(math.sqrt(kappa / (kappa + gamma0))) / math.pi}


# --- the simulations, as sweeps of independent teachers -------------------------------------

#: Column of a per-alpha record field, e.g. ``ridge_regression@0.5``.
def field(name: str, alpha: float) -> str:
    """The record column of quantity ``name`` at ``alpha`` (``name@alpha``)."""
    return f"{name}@{float(alpha):g}"


#: Tags of the experiments in the seeds of their random streams.
_LEARNERS, _NETWORK, _ESCAPE = 1, 2, 3



def _teacher_data(params: Mapping, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A deep teacher of widths ``(d0,) * (depth + 1)``, ``n`` training and ``n_test`` test inputs,
    and BOTH label sets on the same inputs: regression ``s + sqrt(noise) xi`` and
    classification ``sign(s)`` (``s`` the teacher's pre-activation; ``rng`` order: teacher,
    training inputs, test inputs, regression noises)."""
    widths = (int(params["d0"]),) * (int(params["depth"]) + 1)
    teacher = sample_teacher(widths, params["activation"], rng, gain=params["gain"])
    X = gaussian_inputs(n, widths[0], rng)
    X_test = gaussian_inputs(int(params["n_test"]), widths[0], rng)
    s, s_test = teacher_preactivation(teacher, X), teacher_preactivation(teacher, X_test)
    noise = float(params["noise"])
    return {"teacher": teacher, "X": X, "X_test": X_test,
            "regression": noisy_labels(s, 0.0, rng, "linear", noise),
            "regression_test": noisy_labels(s_test, 0.0, rng, "linear", noise),
            "classification": np.where(s >= 0.0, 1.0, -1.0),
            "classification_test": np.where(s_test >= 0.0, 1.0, -1.0)}


def optimal_penalties(params: Mapping, alpha: float) -> dict[str, float]:
    """Ridge's optimal penalties on the equivalent GLM: ``lambda* = (gamma0 + Delta)/kappa`` for
    regression, the numerical optimum of the sign channel's ridge error for classification."""
    eta0, gamma0 = equivalent_parameters(params["activation"], params["gain"], params["depth"])
    return {"regression": bayes_ridge_lambda(eta0, gamma0, params["noise"]),
            "classification": optimal_ridge_classification(eta0**2, gamma0, alpha)[0]}


def learners_task(params: Mapping, seed: int) -> dict[str, float]:
    """One teacher at input width ``d0``: ridge at its optimal penalty (regression and
    classification) and L2 logistic regression at ``logistic_lambda`` (classification), each
    trained on the first ``round(alpha d0)`` samples of ONE draw for every ``alpha`` of
    ``alphas`` (nested prefixes), tested on ``n_test`` fresh samples of the same teacher.
    Record fields ``ridge_regression@alpha``, ``ridge_classification@alpha``,
    ``logistic@alpha``."""
    alphas = [float(a) for a in params["alphas"]]
    d0 = int(params["d0"])
    data = _teacher_data(params, max(1, round(max(alphas) * d0)), task_rng(params, seed, _LEARNERS, d0))
    record = {}
    for alpha in alphas:
        n = max(1, round(alpha * d0))
        X = data["X"][:n]
        lam = optimal_penalties(params, alpha)
        for task, output in (("regression", "linear"), ("classification", "sign")):
            (w,) = ridge_path(X, data[task][:n], [lam[task]])
            record[field(f"ridge_{task}", alpha)] = prediction_error(
                data[f"{task}_test"], predict(data["X_test"], w), output)
        w = logistic_regression(X, data["classification"][:n], float(params["logistic_lambda"]))
        record[field("logistic", alpha)] = classification_error(data["X_test"], data["classification_test"], w)
    return record


def network_task(params: Mapping, seed: int) -> dict[str, float]:
    """One teacher at ``(d0, alpha)``: a student of the teacher's architecture trained on the
    ``task``'s labels by :func:`~deepgep.simulate.training.train_student` (L-BFGS, weight decay
    ``lambda*`` for regression (the MAP of the teacher's model), ``weight_decay`` for
    classification), and, on the same data, ridge at its optimal penalty (a paired baseline).
    Record: ``network``, ``ridge``, ``converged``, ``iterations``."""
    d0, alpha, task = int(params["d0"]), float(params["alpha"]), params["task"]
    rng = task_rng(params, seed, _NETWORK, d0, round(1000 * alpha))
    n = max(1, round(alpha * d0))
    data = _teacher_data(params, n, rng)
    output = "linear" if task == "regression" else "sign"
    lam = optimal_penalties(params, alpha)[task]
    decay = lam if task == "regression" else float(params["weight_decay"])
    res = train_student(data["X"], data[task], data["teacher"].widths, params["activation"],
                        params["gain"], rng, task=task, weight_decay=decay, optimizer="lbfgs",
                        epochs=int(params["max_iter"]), tol=float(params["tol"]))
    (w,) = ridge_path(data["X"], data[task], [lam])
    return {"network": prediction_error(data[f"{task}_test"], student_predict(res, data["X_test"]), output),
            "ridge": prediction_error(data[f"{task}_test"], predict(data["X_test"], w), output),
            "converged": bool(res.converged), "iterations": int(res.epochs)}


def escape_task(params: Mapping, seed: int) -> dict[str, float]:
    """Regression beyond the proportional regime: one teacher of depth ``depth`` and widths
    ``d0``, ``n = round(ratio d0^2)`` samples; ridge on ``X0`` at the GLM's ``lambda*`` and the
    MAP student (L-BFGS, weight decay ``Delta``). Record: ``ridge``, ``network``, ``converged``."""
    d0, ratio = int(params["d0"]), float(params["ratio"])
    rng = task_rng(params, seed, _ESCAPE, d0, round(1000 * ratio))
    n = max(1, round(ratio * d0 * d0))
    data = _teacher_data(params, n, rng)
    lam = optimal_penalties(params, n / d0)["regression"]
    (w,) = ridge_path(data["X"], data["regression"], [lam])
    res = train_student(data["X"], data["regression"], data["teacher"].widths, params["activation"],
                        params["gain"], rng, weight_decay=float(params["noise"]), optimizer="lbfgs",
                        epochs=int(params["max_iter"]), tol=1e-12)
    return {"ridge": regression_error(data["X_test"], data["regression_test"], w),
            "network": prediction_error(data["regression_test"], student_predict(res, data["X_test"]), "linear"),
            "converged": bool(res.converged)}


def depth_activation_table(activations: Sequence[str], gains: Sequence[float], max_depth: int,
                           threshold: float) -> dict[str, object]:
    """``eta0^2``, ``gamma0`` and the signal fraction ``eta0^2 / (eta0^2 + gamma0)`` of the
    equivalent GLM for each activation, gain and depth ``1..max_depth``
    (:func:`deepgep.theory.layers.depth_table`), and per (activation, gain) the smallest depth
    whose signal fraction is below ``threshold`` (``None`` if not reached)."""
    rows = depth_table(activations, gains, max_depth)
    cutoff: dict[tuple[str, float], int | None] = {}
    for act in activations:
        for g in gains:
            sel = (rows["activation"] == act) & (rows["gain"] == float(g))
            cutoff[(act, float(g))] = indistinguishable_depth({k: v[sel] for k, v in rows.items()}, threshold)
    return {"rows": rows, "indistinguishable_depth": cutoff}


_MODULE = "deepgep.chapters.ch4_bayes_optimal_generalisation"


def sweeps(p: Mapping[str, Any], preset: str) -> dict[str, Sweep]:
    """The chapter's three sweeps, from the notebook's parameters ``p`` (the names of its
    ``parameters`` cell): ``learners`` (one task per input width and teacher), ``network``
    (per width, alpha, task and teacher) and ``escape`` (per width, ``n / d0^2`` and teacher)."""
    common = {"base_seed": p["SEED"], "activation": p["ACTIVATION"], "gain": p["GAIN"],
              "depth": p["DEPTH"], "noise": p["DELTA"], "n_test": p["N_TEST"]}
    return {
        "learners": Sweep(4, "learners", preset, f"{_MODULE}:learners_task",
                          grid=[{"d0": d0} for d0 in p["SIM_D0S"]], seeds=range(p["N_TEACHERS"]),
                          constants={**common, "alphas": list(p["SIM_ALPHAS"]),
                                     "logistic_lambda": p["LOGISTIC_LAMBDA"]}),
        "network": Sweep(4, "network", preset, f"{_MODULE}:network_task",
                         grid=grid_product(d0=p["NET_D0S"], alpha=p["NET_ALPHAS"],
                                           task=["regression", "classification"]),
                         seeds=range(p["NET_TEACHERS"]),
                         constants={**common, "weight_decay": p["NET_WEIGHT_DECAY_CLASSIFICATION"],
                                    "max_iter": p["NET_MAX_ITER"], "tol": p["NET_TOL"]}),
        "escape": Sweep(4, "escape", preset, f"{_MODULE}:escape_task",
                        grid=grid_product(d0=p["ESCAPE_D0S"], ratio=p["ESCAPE_RATIOS"]),
                        seeds=range(p["ESCAPE_TEACHERS"]),
                        constants={**common, "depth": p["ESCAPE_DEPTH"], "noise": p["ESCAPE_DELTA"],
                                   "max_iter": p["ESCAPE_MAX_ITER"]}),
    }


def teacher_means(rows: Sequence[Mapping[str, Any]], fields: Sequence[str],
                  **where: Any) -> dict[str, tuple[float, float, int]]:
    """``(mean, standard error, teachers)`` of each record field over the rows whose parameters
    equal ``where`` (e.g. ``d0=400``): the average over independent teachers."""
    cols = as_columns([r for r in rows if all(r[k] == v for k, v in where.items())])
    out = {}
    for name in fields:
        values = np.asarray(cols[name], dtype=float)
        out[name] = (float(values.mean()), standard_error(values), int(values.size))
    return out


def simulation_arrays(learners: Sequence[Mapping[str, Any]], network: Sequence[Mapping[str, Any]],
                      d0: int, net_d0: int, alphas: Sequence[float],
                      net_alphas: Sequence[float]) -> dict[str, dict[str, np.ndarray]]:
    """The simulated errors of the headline figure, per task: ``ridge`` ``(alphas, 1,
    teachers)`` and ``logistic`` ``(alphas, teachers)`` at input width ``d0``; ``network`` and
    the paired ``network_ridge`` ``(net_alphas, teachers)`` at ``net_d0``."""
    out = {}
    for task in ("regression", "classification"):
        sim = {"alpha": np.asarray(alphas, dtype=float), "network_alpha": np.asarray(net_alphas, dtype=float),
               "ridge": field_matrix(learners, [field(f"ridge_{task}", a) for a in alphas], d0=d0)[:, None, :]}
        if task == "classification":
            sim["logistic"] = field_matrix(learners, [field("logistic", a) for a in alphas], d0=d0)
        for key, name in (("network", "network"), ("network_ridge", "ridge")):
            sim[key] = np.stack([field_matrix(network, [name], d0=net_d0, alpha=float(a), task=task)[0]
                                 for a in net_alphas])
        out[task] = sim
    return out


def finite_size_deviations(rows: Sequence[Mapping[str, Any]], name: str, reference: float,
                           d0s: Sequence[int], **where: Any) -> dict[str, np.ndarray]:
    """The deviation ``field name - reference`` (mean over teachers and its standard error) at
    every input width of ``d0s``, and its weighted fit ``limit + slope / d0``
    (:func:`deepgep.support.stats.inverse_size_extrapolation`): whether it vanishes as
    ``d0 -> infinity`` (``limit`` within its standard error of zero) or not."""
    means, ses = [], []
    for d0 in d0s:
        values = field_matrix(rows, [name], d0=int(d0), **where)[0] - reference
        means.append(values.mean())
        ses.append(standard_error(values))
    d0s, means, ses = np.asarray(d0s, dtype=float), np.array(means), np.array(ses)
    fit = inverse_size_extrapolation(d0s, means, ses)
    return {"d0": d0s, "deviation": means, "se": ses, "limit": fit.limit, "limit_se": fit.limit_se,
            "slope": fit.slope, "slope_se": fit.slope_se, "chi2_per_dof": fit.chi2_per_dof}


# --- the chapter's claims -----------------------------------------------------------------------



def _theory(p: Mapping[str, Any]) -> dict[str, float]:
    eta0, gamma0 = equivalent_parameters(p["ACTIVATION"], p["GAIN"], p["DEPTH"])
    return {"kappa": eta0**2, "gamma0": gamma0, "noise": p["DELTA"]}


def claims(rows: Mapping[str, Sequence[Mapping[str, Any]]], p: Mapping[str, Any]) -> list[Claim]:
    """Chapter 4's quantitative claims on the rows of its sweeps and the notebook's parameters
    ``p``, each with the wrong theories it must reject (:mod:`deepgep.support.claims`)."""
    d_head, net_head, alphas = max(p["SIM_D0S"]), max(p["NET_D0S"]), list(p["SIM_ALPHAS"])
    task_params = {"activation": p["ACTIVATION"], "gain": p["GAIN"], "depth": p["DEPTH"], "noise": p["DELTA"]}
    lam_cls = {a: optimal_penalties(task_params, a)["classification"] for a in alphas}  # what was used
    wrong = {"gamma0 -> gamma0/2": "half", "kappa -> 0.8 kappa": "kappa", "Delta dropped": "no_delta"}

    def perturbed(names):
        table = {"half": {"gamma0_factor": 0.5}, "kappa": {"kappa_factor": 0.8}, "no_delta": {"noise_factor": 0.0}}
        return {name: table[key] for name, key in wrong.items() if key in names}

    def glm(t):
        return (t["kappa"] * t.get("kappa_factor", 1.0), t["gamma0"] * t.get("gamma0_factor", 1.0),
                t["noise"] * t.get("noise_factor", 1.0))

    def ridge_test(task):
        def test(t):
            kappa, gamma0, noise = glm(t)
            m = teacher_means(rows["learners"], [field(f"ridge_{task}", a) for a in alphas], d0=d_head)
            lam = (t["gamma0"] + t["noise"]) / t["kappa"]  # the penalty the simulation used
            ref = [ridge_regression_error(kappa, gamma0 + noise, a, lam) if task == "regression" else
                   ridge_classification_error(kappa, gamma0, a, lam_cls[a]) for a in alphas]
            ms = [m[field(f"ridge_{task}", a)] for a in alphas]
            return max_abs_z([x[0] for x in ms], [x[1] for x in ms], ref, CLAIM_Z, f"d0 = {d_head}: ")
        return test

    def bayes(task, kappa, gamma0, noise, grid):
        if task == "regression":
            return regression_theory(kappa, gamma0, noise, grid, [1.0])["bayes"]
        return classification_theory(kappa, gamma0, grid, [1.0])["bayes"]

    def identity_test(t):
        th = regression_theory(*glm(t), alphas, [t.get("lambda_factor", 1.0)])
        # below 1e-15 the difference is rounding (it differs between machines): report the bound
        gap = max(float(np.max(np.abs(th["ridge"][:, 0] - th["bayes"]))), 1e-15)
        text = f"{gap:.2e}" if gap > 1e-15 else "< 1e-15 (float64 rounding)"
        return Test(gap, 1e-10, f"max over alpha of |ridge(lambda) - Bayes| = {text}")

    def network_test(t):
        kappa, gamma0, noise = glm(t)
        ests, ses, refs = [], [], []
        for task in ("regression", "classification"):
            ref = bayes(task, kappa, gamma0, noise, list(p["NET_ALPHAS"]))
            for a, r in zip(p["NET_ALPHAS"], ref):
                m, se, _ = teacher_means([x for x in rows["network"] if x["task"] == task], ["network"],
                                         d0=net_head, alpha=float(a))["network"]
                ests.append(m), ses.append(se), refs.append(r)
        return max_abs_z(ests, ses, refs, CLAIM_Z, f"d0 = {net_head}, both tasks: ")

    def logistic_limit_test(t):
        kappa, gamma0, noise = glm(t)
        ref = bayes("classification", kappa, gamma0, noise, alphas)
        worst = -math.inf
        for a, r in zip(alphas, ref):
            fit = finite_size_deviations(rows["learners"], field("logistic", a), r, p["SIM_D0S"])
            worst = max(worst, -fit["limit"] / fit["limit_se"])
        return Test(worst, CLAIM_Z, f"largest -limit/se over alpha: {worst:.2f}")

    def escape_test(t):
        floor = t["floor"]
        worst = -math.inf
        for d0 in p["ESCAPE_D0S"]:
            m, se, _ = teacher_means(rows["escape"], ["network"], d0=d0, ratio=max(p["ESCAPE_RATIOS"]))["network"]
            worst = max(worst, (m - floor) / se)
        return Test(worst, -CLAIM_Z, f"largest (network - floor)/se over d0: {worst:.2f}")

    theory = _theory(p)
    eta0_e, gamma0_e = equivalent_parameters(p["ACTIVATION"], p["GAIN"], p["ESCAPE_DEPTH"])
    return [
        Claim(4, "ridge regression = its asymptotic theory",
              f"At d0 = {d_head}, ridge at lambda* (regression) matches its asymptotic test error on the "
              f"equivalent GLM at every alpha within {CLAIM_Z} standard errors of the teacher average.",
              ridge_test("regression"), theory, perturbed(["half", "kappa", "no_delta"])),
        Claim(4, "ridge classification = its asymptotic theory",
              f"At d0 = {d_head}, ridge at its optimal penalty classifies sign labels with the error of "
              f"its asymptotic theory on the probit GLM at every alpha (|z| <= {CLAIM_Z}).",
              ridge_test("classification"), theory, perturbed(["half", "kappa"])),
        Claim(4, "optimal ridge is Bayes-optimal (regression)",
              "Ridge's asymptotic error at lambda* = (gamma0 + Delta)/kappa equals the Bayes error at "
              "every alpha to 1e-10 (a penalty off by a factor 2 is not).",
              identity_test, theory, {"lambda* -> 2 lambda*": {"lambda_factor": 2.0},
                                      "lambda* -> lambda*/2": {"lambda_factor": 0.5}}),
        Claim(4, "trained network = Bayes error",
              f"At d0 = {net_head}, the student of the teacher's architecture trained to a minimum reaches "
              f"the GLM's Bayes error in both tasks (|z| <= {CLAIM_Z}).",
              network_test, theory, perturbed(["half"])),
        Claim(4, "logistic regression is not below Bayes as d0 -> infinity",
              f"The extrapolation limit + c/d0 of logistic regression's classification error minus the "
              f"Bayes error is not below zero by more than {CLAIM_Z} standard errors at any alpha "
              "(below the Bayes curve at d0 = 100 is a finite-size effect).",
              logistic_limit_test, theory, {"gamma0 -> 1.5 gamma0": {"gamma0_factor": 1.5}}),
        Claim(4, "escape below the plateau at n ~ d0^2",
              f"At n = {max(p['ESCAPE_RATIOS']):g} d0^2 the trained network's test error is below the "
              f"proportional regime's floor gamma0 + Delta by more than {CLAIM_Z} standard errors at every d0.",
              escape_test, {"floor": gamma0_e + p["ESCAPE_DELTA"]},
              {"perfect learning (floor = Delta)": {"floor": p["ESCAPE_DELTA"]}}),
    ]

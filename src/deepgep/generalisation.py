"""Chapter 4: Bayes-optimal generalisation of deep random networks, and what learners achieve.

The figure of Cui, Krzakala & Zdeborova (2023, Fig. 1 and section 4) compares, on data from a
deep random teacher, the Bayes-optimal test error of the equivalent GLM (Camilli et al. 2025,
Theorem 4) with ridge regression, logistic regression and a trained network of the teacher's
architecture. The drivers here compute the theory curves (closed forms and state evolution of
the equivalent GLM, random-matrix formulas for ridge) and run the simulations; the notebook
only prints, plots and asserts.

Test errors: regression, the mean squared error on noisy test labels (so the Bayes error
includes ``Delta``, SCIENCE.md section 4); classification, the misclassification rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from tqdm import tqdm

from deepgep.channels import make_channel
from deepgep.data import deep_teacher_sample
from deepgep.estimators import (
    bayes_ridge_lambda,
    classification_error,
    logistic_regression,
    regression_error,
    ridge_path,
)
from deepgep.layers import depth_profile, indistinguishable_depth
from deepgep.reduction import equivalent_parameters
from deepgep.ridge_theory import (
    optimal_ridge_classification,
    ridge_classification_error,
    ridge_regression_error,
)
from deepgep.state_evolution import bayes_optimal_curve, gaussian_closed_form
from deepgep.training import student_predict, train_student
from deepgep.validation import check_generator

#: Search interval (log10 lambda) of the numerical minimisation of the ridge error over lambda.
_LOG_LAMBDA_RANGE = (-6.0, 4.0)


def _grid(alphas: Sequence[float]) -> np.ndarray:
    grid = np.asarray(alphas, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or np.any(~np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"alphas must be a non-empty list of positive numbers, got {alphas!r}")
    return grid


def regression_theory(kappa: float, gamma0: float, delta: float, alphas: Sequence[float],
                      lambda_factors: Sequence[float]) -> dict[str, np.ndarray]:
    """Theory curves for ``y = f(x) + sqrt(Delta) xi`` on the equivalent GLM.

    ``bayes``: the closed form ``kappa (1 - q*) + gamma0 + Delta`` (SCIENCE.md section 4);
    ``ridge``: ridge at ``lambda* x factor`` (``lambda* = (gamma0 + Delta) / kappa``), shape
    ``(alphas, factors)``; ``ridge_best`` and ``lambda_best``: ridge minimised numerically over
    ``lambda`` (bounded search in ``log10 lambda``), independent of the closed form for
    ``lambda*``, so ``ridge_best == bayes`` and ``lambda_best == lambda*`` are checks.
    """
    grid = _grid(alphas)
    noise = gamma0 + delta
    lam_star = noise / kappa
    factors = np.asarray(lambda_factors, dtype=float)
    out = {"alpha": grid, "lambda_star": lam_star, "lambda_factor": factors,
           "bayes": np.array([gaussian_closed_form(kappa, noise, a)["test_error"] for a in grid]),
           "ridge": np.array([[ridge_regression_error(kappa, noise, a, f * lam_star) for f in factors]
                              for a in grid])}
    best = [minimize_scalar(lambda t, a=a: ridge_regression_error(kappa, noise, a, 10.0**t),
                            bounds=_LOG_LAMBDA_RANGE, method="bounded", options={"xatol": 1e-10})
            for a in grid]
    out["lambda_best"] = np.array([10.0**r.x for r in best])
    out["ridge_best"] = np.array([r.fun for r in best])
    return out


def classification_theory(kappa: float, gamma0: float, alphas: Sequence[float],
                          lambda_factors: Sequence[float]) -> dict[str, np.ndarray]:
    """Theory curves for ``y = sign(f(x))``: the equivalent GLM is the probit channel
    ``sign(z + sqrt(gamma0) xi)``. ``bayes`` from state evolution
    (:func:`deepgep.state_evolution.bayes_optimal_curve`); ``lambda_opt``/``ridge_opt``: the
    optimal ridge penalty and error (:func:`deepgep.ridge_theory.optimal_ridge_classification`);
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


def plateau(kappa: float, gamma0: float, delta: float, large_alphas: Sequence[float]) -> dict[str, np.ndarray]:
    """How the Bayes errors reach their plateaus as ``alpha -> infinity``.

    Regression: ``E -> gamma0 + Delta`` with ``alpha (E - gamma0 - Delta) -> gamma0 + Delta``
    (from the closed form, ``1 - q* = Delta_e / alpha + O(alpha^-2)``, ``Delta_e = (gamma0 +
    Delta) / kappa``). Classification: ``q* -> 1`` and the error tends to
    ``arccos(sqrt(kappa / (kappa + gamma0))) / pi``, the error of the optimal linear rule when the
    nonlinear part of the teacher acts as probit noise of variance ``gamma0``."""
    grid = _grid(large_alphas)
    noise = gamma0 + delta
    reg = np.array([gaussian_closed_form(kappa, noise, a)["test_error"] for a in grid])
    cls = bayes_optimal_curve(make_channel("sign", gamma0), kappa, np.sort(grid))["test_error"]
    return {"alpha": grid, "regression": reg, "scaled_excess": grid * (reg - noise),
            "regression_plateau": noise, "classification": cls[np.argsort(np.argsort(grid))],
            "classification_plateau": math.acos(math.sqrt(kappa / (kappa + gamma0))) / math.pi}


def _test_error(task: str, X_test: np.ndarray, y_test: np.ndarray, prediction: np.ndarray) -> float:
    if task == "regression":
        return float(np.mean((y_test - prediction) ** 2))
    return float(np.mean(np.where(prediction >= 0.0, 1.0, -1.0) != y_test))


def estimator_scan(
    task: str,
    activation: str,
    gain: float,
    widths: Sequence[int],
    alphas: Sequence[float],
    ridge_lambdas: np.ndarray,
    n_seeds: int,
    n_test: int,
    rng: np.random.Generator,
    *,
    delta: float = 0.0,
    logistic_lambda: float | None = None,
    network_alphas: Sequence[float] = (),
    network_seeds: int = 0,
    network_options: dict | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Simulated test errors of ridge, logistic regression and a trained network on deep-teacher data.

    For each ``alpha`` and seed a fresh teacher of architecture ``widths = (d0, d1, .., dL)`` and
    ``n = round(alpha d0)`` training samples (``task="regression"``: linear output, label noise
    ``delta``; ``"classification"``: sign output, no noise). On the same data: ridge on ``X0`` at
    each penalty of ``ridge_lambdas[i]`` (shape ``(alphas, k)``: one row per alpha); for
    classification, ridge's prediction is ``sign(x.w)``, and logistic regression at
    ``logistic_lambda`` (if given); at the alphas of ``network_alphas`` and for the first
    ``network_seeds`` seeds, a student of the teacher's architecture trained by
    :func:`deepgep.training.train_student` with ``network_options`` (its initialisation drawn from
    ``rng`` after the data). Returns arrays ``ridge`` ``(alphas, k, seeds)``, ``logistic``
    ``(alphas, seeds)`` (NaN-free, absent for regression), ``network`` ``(network_alphas,
    network_seeds)``, and ``network_converged``.
    """
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    grid = _grid(alphas)
    lams = np.asarray(ridge_lambdas, dtype=float)
    if lams.ndim != 2 or lams.shape[0] != grid.size or np.any(lams <= 0):
        raise ValueError(f"ridge_lambdas must be positive with shape (len(alphas), k), got {lams.shape}")
    net_grid = [float(a) for a in network_alphas]
    if any(a not in grid for a in net_grid):
        raise ValueError("network_alphas must be a subset of alphas")
    if not 0 <= network_seeds <= n_seeds:
        raise ValueError(f"network_seeds must be in [0, n_seeds = {n_seeds}], got {network_seeds!r}")
    rng = check_generator(rng)
    output = "linear" if task == "regression" else "sign"
    d0 = int(widths[0])
    ridge_err = np.empty((grid.size, lams.shape[1], n_seeds))
    logistic = np.empty((grid.size, n_seeds))
    network = np.empty((len(net_grid), network_seeds))
    converged = np.zeros((len(net_grid), network_seeds), dtype=bool)
    options = {"task": task, **(network_options or {})}
    for i, alpha in enumerate(tqdm(grid, desc=f"{task} scan", disable=not progress)):
        n = max(1, int(round(alpha * d0)))
        for s in range(n_seeds):
            data = deep_teacher_sample(widths, activation, n, rng, gain=gain, output=output,
                                       noise=delta if task == "regression" else 0.0, n_test=n_test)
            score = regression_error if task == "regression" else classification_error
            ridge_err[i, :, s] = [score(data.X_test, data.y_test, w) for w in ridge_path(data.X, data.y, lams[i])]
            if task == "classification" and logistic_lambda is not None:
                w = logistic_regression(data.X, data.y, logistic_lambda)
                logistic[i, s] = classification_error(data.X_test, data.y_test, w)
            if alpha in net_grid and s < network_seeds:
                j = net_grid.index(alpha)
                res = train_student(data.X, data.y, widths, activation, gain, rng, **options)
                network[j, s] = _test_error(task, data.X_test, data.y_test, student_predict(res, data.X_test))
                converged[j, s] = res.converged
    out = {"alpha": grid, "ridge": ridge_err, "network_alpha": np.asarray(net_grid),
           "network": network, "network_converged": converged}
    if task == "classification" and logistic_lambda is not None:
        out["logistic"] = logistic
    return out


def escape_scan(
    activation: str,
    gain: float,
    depth: int,
    d0s: Sequence[int],
    sample_ratios: Sequence[float],
    n_seeds: int,
    n_test: int,
    delta: float,
    rng: np.random.Generator,
    *,
    network_options: dict | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Regression beyond the proportional regime: ``n = ratio d0^2`` samples.

    For each ``d0`` (hidden widths equal to ``d0``) and ``ratio`` of ``sample_ratios``: a fresh
    teacher per seed, ridge on ``X0`` at the GLM-optimal ``lambda*`` (:func:`ridge_path`) and a
    student of the teacher's architecture trained by :func:`train_student` with
    ``network_options`` (default: L-BFGS, weight decay ``Delta``, i.e. the MAP estimator of the
    teacher's model). Also returned, at each ``alpha = n / d0``: the equivalent GLM's Bayes error
    (``glm_bayes``, what every learner is limited to in the proportional regime) and ridge's
    asymptotic error (``ridge_theory``). Arrays ``ridge``, ``network`` ``(d0s, ratios, seeds)``.
    """
    rng = check_generator(rng)
    ratios = _grid(sample_ratios)
    eta0, gamma0 = equivalent_parameters(activation, gain, depth)
    kappa, lam_star = eta0**2, bayes_ridge_lambda(eta0, gamma0, delta)
    options = {"optimizer": "lbfgs", "weight_decay": delta, "epochs": 3000, "tol": 1e-12,
               **(network_options or {})}
    shape = (len(d0s), ratios.size, n_seeds)
    ridge_err, network = np.empty(shape), np.empty(shape)
    n_samples = np.empty(shape[:2], dtype=int)
    for i, d0 in enumerate(d0s):
        widths = (int(d0),) * (depth + 1)
        for j, ratio in enumerate(tqdm(ratios, desc=f"d0 = {d0}", disable=not progress)):
            n = n_samples[i, j] = int(round(ratio * d0 * d0))
            for s in range(n_seeds):
                data = deep_teacher_sample(widths, activation, n, rng, gain=gain, noise=delta, n_test=n_test)
                (w,) = ridge_path(data.X, data.y, [lam_star])
                ridge_err[i, j, s] = regression_error(data.X_test, data.y_test, w)
                res = train_student(data.X, data.y, widths, activation, gain, rng, **options)
                network[i, j, s] = _test_error("regression", data.X_test, data.y_test,
                                               student_predict(res, data.X_test))
    alpha = n_samples / np.asarray(d0s, dtype=float)[:, None]
    noise = gamma0 + delta
    return {"d0": np.asarray(d0s), "ratio": ratios, "n": n_samples, "alpha": alpha,
            "ridge": ridge_err, "network": network, "plateau": noise, "kappa": kappa, "gamma0": gamma0,
            "glm_bayes": np.vectorize(lambda a: gaussian_closed_form(kappa, noise, a)["test_error"])(alpha),
            "ridge_theory": np.vectorize(lambda a: ridge_regression_error(kappa, noise, a, lam_star))(alpha)}


def depth_activation_table(activations: Sequence[str], gains: Sequence[float], max_depth: int,
                           threshold: float) -> dict[str, object]:
    """``eta0^2``, ``gamma0`` and the signal fraction ``eta0^2 / (eta0^2 + gamma0)`` of the
    equivalent GLM for each activation, gain and depth ``1..max_depth``
    (:func:`deepgep.layers.depth_profile`), and per (activation, gain) the smallest depth whose
    signal fraction is below ``threshold`` (``None`` if not reached)."""
    rows: dict[str, list] = {"activation": [], "gain": [], "depth": [], "eta0^2": [], "gamma0": [],
                             "signal_fraction": []}
    cutoff: dict[tuple[str, float], int | None] = {}
    for act in activations:
        for g in gains:
            prof = depth_profile(act, max_depth, gain=g)
            cutoff[(act, float(g))] = indistinguishable_depth(prof, threshold)
            for k, L in enumerate(prof["depth"]):
                for key, val in (("activation", act), ("gain", float(g)), ("depth", int(L)),
                                 ("eta0^2", prof["eta0^2"][k]), ("gamma0", prof["gamma0"][k]),
                                 ("signal_fraction", prof["signal_fraction"][k])):
                    rows[key].append(val)
    return {"rows": {k: np.asarray(v) for k, v in rows.items()}, "indistinguishable_depth": cutoff}

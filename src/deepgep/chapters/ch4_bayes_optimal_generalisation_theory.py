"""Chapter 4's theory curves: the Bayes-optimal and ridge errors of the equivalent GLM, its
plateaus, and the depth-activation table.

Everything here is computed from a :class:`deepgep.theory.layers.GLMTheory` (book
eq-equivalent-glm; Camilli et al. 2025, Theorem 4): the Bayes errors from the closed form of the
linear channel (book eq-linear-closed-form) and from state evolution of the probit channel
(Cui et al. 2023, section 4), ridge from its random-matrix formulas (book eq-ridge-asymptotics).
The chapter's notebook plots them and :mod:`deepgep.chapters.ch4_bayes_optimal_generalisation`
compares the recorded simulations with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from deepgep.chapters.ch4_bayes_optimal_generalisation_tasks import PROBLEMS
from deepgep.theory.channels import make_channel
from deepgep.theory.hypotheses import outside_theorem_on_purpose
from deepgep.theory.layers import GLMTheory, depth_table, indistinguishable_depth
from deepgep.theory.ridge import (optimal_ridge_classification, optimal_ridge_regression, ridge_classification_error,
                                  ridge_regression_error)
from deepgep.theory.state_evolution import bayes_optimal_curve, gaussian_closed_form

__all__ = ["bayes_errors", "regression_theory", "classification_theory", "plateau", "depth_activation_table"]

def _grid(alphas: Sequence[float]) -> np.ndarray:
    grid = np.asarray(alphas, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or np.any(~np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"alphas must be a non-empty list of positive numbers, got {alphas!r}")
    return grid


def bayes_errors(glm: GLMTheory, problem: str, alphas: Sequence[float]) -> np.ndarray:
    """The Bayes-optimal test error of the equivalent GLM at each alpha: regression, the closed
    form ``kappa (1 - q*) + gamma0 + Delta`` (book eq-linear-closed-form); classification, state
    evolution of the probit channel ``sign(z + sqrt(gamma0) xi)`` (run on the sorted grid)."""
    grid = _grid(alphas)
    if problem == "regression":
        return np.array([gaussian_closed_form(glm.kappa, glm.total_noise, a)["test_error"] for a in grid])
    if problem != "classification":
        raise ValueError(f"problem must be one of {PROBLEMS}, got {problem!r}")
    with outside_theorem_on_purpose():  # the sign readout: the conjecture's case, said in the chapter
        curve = bayes_optimal_curve(make_channel("sign", glm.gamma0), glm.kappa, np.sort(grid))
    return curve["test_error"][np.argsort(np.argsort(grid))]


def regression_theory(glm: GLMTheory, alphas: Sequence[float], penalty_factors: Sequence[float]) -> dict[str, Any]:
    """Theory curves for ``y = f(x) + sqrt(Delta) xi``: ``bayes`` (:func:`bayes_errors`);
    ``ridge`` at ``lambda* x factor`` (book eq-ridge-bayes), shape ``(alphas, factors)``;
    ``ridge_best`` and ``lambda_best``: ridge minimised numerically over ``lambda``
    (:func:`deepgep.theory.ridge.optimal_ridge_regression`), independent of the closed form for
    ``lambda*``, so ``ridge_best == bayes`` and ``lambda_best == lambda*`` are checks."""
    grid, factors, lam = _grid(alphas), np.asarray(penalty_factors, dtype=float), glm.ridge_penalty
    best = [optimal_ridge_regression(glm.kappa, glm.total_noise, a) for a in grid]
    return {"alpha": grid, "lambda_star": lam, "penalty_factor": factors,
            "bayes": bayes_errors(glm, "regression", grid),
            "ridge": np.array([[ridge_regression_error(glm.kappa, glm.total_noise, a, f * lam) for f in factors]
                               for a in grid]),
            "lambda_best": np.array([b[0] for b in best]), "ridge_best": np.array([b[1] for b in best])}


def classification_theory(glm: GLMTheory, alphas: Sequence[float], penalty_factors: Sequence[float]) -> dict[str, Any]:
    """Theory curves for ``y = sign(f(x))`` (the GLM's probit channel, noise ``gamma0``):
    ``bayes`` (:func:`bayes_errors`); ``lambda_opt``/``ridge_opt``: the optimal ridge penalty and
    error (:func:`deepgep.theory.ridge.optimal_ridge_classification`); ``ridge``: ridge at
    ``lambda_opt x factor``, shape ``(alphas, factors)``."""
    grid, factors = _grid(alphas), np.asarray(penalty_factors, dtype=float)
    opt = [optimal_ridge_classification(glm.kappa, glm.gamma0, a) for a in grid]
    lam_opt = np.array([o[0] for o in opt])
    return {"alpha": grid, "penalty_factor": factors, "bayes": bayes_errors(glm, "classification", grid),
            "lambda_opt": lam_opt, "ridge_opt": np.array([o[1] for o in opt]),
            "ridge": np.array([[ridge_classification_error(glm.kappa, glm.gamma0, a, f * lo) for f in factors]
                               for a, lo in zip(grid, lam_opt)])}


def plateau(glm: GLMTheory, large_alphas: Sequence[float]) -> dict[str, Any]:
    """How the Bayes errors reach their plateaus as ``alpha -> infinity``. Regression: ``E ->
    gamma0 + Delta`` with ``alpha (E - gamma0 - Delta) -> gamma0 + Delta`` (from the closed form,
    ``1 - q* = Delta_e / alpha + O(alpha^-2)``, ``Delta_e = (gamma0 + Delta) / kappa``).
    Classification: the error tends to ``arccos(sqrt(kappa / (kappa + gamma0))) / pi``, that of
    the optimal linear rule when the nonlinear part of the teacher acts as probit noise."""
    grid = _grid(large_alphas)
    reg = bayes_errors(glm, "regression", grid)
    return {"alpha": grid, "regression": reg, "scaled_excess": grid * (reg - glm.total_noise),
            "regression_plateau": glm.total_noise, "classification": bayes_errors(glm, "classification", grid),
            "classification_plateau": math.acos(math.sqrt(glm.kappa / (glm.kappa + glm.gamma0))) / math.pi}


def depth_activation_table(activations: Sequence[str], gains: Sequence[float], max_depth: int,
                           threshold: float) -> dict[str, object]:
    """``eta0^2``, ``gamma0`` and the signal fraction ``eta0^2 / (eta0^2 + gamma0)`` (book
    eq-signal-fraction) for each activation, gain and depth ``1..max_depth``
    (:func:`deepgep.theory.layers.depth_table`), and per (activation, gain) the smallest depth
    whose signal fraction is below ``threshold`` (``None`` if not reached)."""
    rows = depth_table(activations, gains, max_depth)
    cutoff: dict[tuple[str, float], int | None] = {}
    for act in activations:
        for g in gains:
            sel = (rows["activation"] == act) & (rows["gain"] == float(g))
            cutoff[(act, float(g))] = indistinguishable_depth({k: v[sel] for k, v in rows.items()}, threshold)
    return {"rows": rows, "indistinguishable_depth": cutoff}

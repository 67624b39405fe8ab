"""Chapter 4's sweep tasks: learners on data from a deep random teacher, one teacher per task.

Each task draws one teacher of the architecture of Camilli et al. (2025, eq. (1); book
eq-model), its training and test data, and runs learners on them with its own random stream
(:func:`deepgep.support.sweeps.task_rng`, ``[base_seed, experiment tag, d0, (1000 x point),
seed]``):

* :func:`learners_task`: ridge at its optimal penalty (both problems) and logistic regression
  (classification) at every ``alpha`` of ``alphas``, by nested prefixes of one sample: one
  record per ``alpha`` (the index column);
* :func:`network_task`: a student of the teacher's architecture trained to a minimum, and ridge
  on the same data (a paired baseline), at one ``(d0, alpha, problem)``;
* :func:`escape_task`: regression with ``n = quadratic_alpha d0^2`` samples, beyond the
  proportional regime: ridge against the trained student.

Test errors: regression, the mean squared error on noisy test labels (so the Bayes error
includes ``Delta``, book eq-linear-closed-form); classification, the misclassification rate.
Every task is a pure function of ``(params, seed)`` with one BLAS thread (L-BFGS included), so
the sweeps are verified bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from deepgep.simulate.estimators import (classification_error, logistic_regression, predict, prediction_error,
                                         regression_error, ridge_path)
from deepgep.simulate.networks import gaussian_inputs
from deepgep.simulate.teachers import noisy_labels, sample_teacher, teacher_preactivation
from deepgep.simulate.training import student_predict, train_student
from deepgep.support.sweeps import task_rng
from deepgep.theory.layers import equivalent_parameters
from deepgep.theory.ridge import bayes_ridge_lambda, optimal_ridge_classification

__all__ = ["TASKS_MODULE", "PROBLEMS", "OUTPUT", "ESCAPE_TOL", "teacher_data", "optimal_penalties",
           "learners_task", "network_task", "escape_task"]

#: The import path of this module (the sweeps name their tasks by it).
TASKS_MODULE = "deepgep.chapters.ch4_bayes_optimal_generalisation_tasks"
#: The two learning problems on the same teacher and inputs.
PROBLEMS = ("regression", "classification")
#: The output function of each problem: its test error is the MSE (linear) or the error rate (sign).
OUTPUT = {"regression": "linear", "classification": "sign"}
#: The L-BFGS tolerance of the escape student: tight, since at n >> d0^2 it reaches errors near Delta.
ESCAPE_TOL = 1e-12
#: Tags of the three experiments in the seeds of their random streams.
_LEARNERS, _NETWORK, _ESCAPE = 1, 2, 3


def teacher_data(params: Mapping, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A deep teacher of widths ``(d0,) * (depth + 1)``, ``n`` training and ``n_test`` test
    inputs, and BOTH label sets on the same inputs: regression ``s + sqrt(noise) xi`` and
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
    regression (book eq-ridge-bayes), the numerical optimum of the sign channel's ridge error for
    classification (:func:`deepgep.theory.ridge.optimal_ridge_classification`)."""
    eta0, gamma0 = equivalent_parameters(params["activation"], params["gain"], params["depth"])
    return {"regression": bayes_ridge_lambda(eta0, gamma0, params["noise"]),
            "classification": optimal_ridge_classification(eta0**2, gamma0, alpha)[0]}


def learners_task(params: Mapping, seed: int) -> list[dict[str, float]]:
    """One teacher at input width ``d0``: ridge at its optimal penalty (regression and
    classification) and L2 logistic regression at ``logistic_penalty`` (classification), each
    trained on the first ``round(alpha d0)`` samples of ONE draw for every ``alpha`` of
    ``alphas`` (nested prefixes), tested on ``n_test`` fresh samples of the same teacher. One
    record per ``alpha``: ``alpha``, ``ridge_regression``, ``ridge_classification``,
    ``logistic``. Verified bit for bit."""
    alphas = [float(a) for a in params["alphas"]]
    d0 = int(params["d0"])
    data = teacher_data(params, max(1, round(max(alphas) * d0)), task_rng(params, seed, _LEARNERS, d0))
    records = []
    for alpha in alphas:
        n = max(1, round(alpha * d0))
        X = data["X"][:n]
        lam = optimal_penalties(params, alpha)
        record = {"alpha": alpha}
        for problem in PROBLEMS:
            (w,) = ridge_path(X, data[problem][:n], [lam[problem]])
            record[f"ridge_{problem}"] = prediction_error(data[f"{problem}_test"], predict(data["X_test"], w),
                                                          OUTPUT[problem])
        w = logistic_regression(X, data["classification"][:n], float(params["logistic_penalty"]))
        record["logistic"] = classification_error(data["X_test"], data["classification_test"], w)
        records.append(record)
    return records


def network_task(params: Mapping, seed: int) -> dict[str, float]:
    """One teacher at ``(d0, alpha)``: a student of the teacher's architecture trained on the
    labels of ``problem`` by :func:`~deepgep.simulate.training.train_student` (L-BFGS to ``tol``
    within ``max_iter`` iterations; weight decay ``lambda*`` for regression, the MAP of the
    teacher's model, ``weight_decay`` for classification), and, on the same data, ridge at its
    optimal penalty (a paired baseline). Record: ``network``, ``ridge``, ``converged``,
    ``iterations``. Verified bit for bit."""
    d0, alpha, problem = int(params["d0"]), float(params["alpha"]), params["problem"]
    rng = task_rng(params, seed, _NETWORK, d0, round(1000 * alpha))
    data = teacher_data(params, max(1, round(alpha * d0)), rng)
    lam = optimal_penalties(params, alpha)[problem]
    decay = lam if problem == "regression" else float(params["weight_decay"])
    res = train_student(data["X"], data[problem], data["teacher"].widths, params["activation"],
                        params["gain"], rng, task=problem, weight_decay=decay, optimizer="lbfgs",
                        epochs=int(params["max_iter"]), tol=float(params["tol"]))
    (w,) = ridge_path(data["X"], data[problem], [lam])
    output, y_test = OUTPUT[problem], data[f"{problem}_test"]
    return {"network": prediction_error(y_test, student_predict(res, data["X_test"]), output),
            "ridge": prediction_error(y_test, predict(data["X_test"], w), output),
            "converged": bool(res.converged), "iterations": int(res.epochs)}


def escape_task(params: Mapping, seed: int) -> dict[str, float]:
    """Regression beyond the proportional regime: one teacher of depth ``depth`` and widths
    ``d0``, ``n = round(quadratic_alpha d0^2)`` samples; ridge on ``X0`` at the GLM's ``lambda*``
    and the MAP student (L-BFGS to :data:`ESCAPE_TOL`, weight decay ``Delta``). Record:
    ``ridge``, ``network``, ``converged``. Verified bit for bit."""
    d0, ratio = int(params["d0"]), float(params["quadratic_alpha"])
    rng = task_rng(params, seed, _ESCAPE, d0, round(1000 * ratio))
    n = max(1, round(ratio * d0 * d0))
    data = teacher_data(params, n, rng)
    lam = optimal_penalties(params, n / d0)["regression"]
    (w,) = ridge_path(data["X"], data["regression"], [lam])
    res = train_student(data["X"], data["regression"], data["teacher"].widths, params["activation"],
                        params["gain"], rng, weight_decay=float(params["noise"]), optimizer="lbfgs",
                        epochs=int(params["max_iter"]), tol=ESCAPE_TOL)
    return {"ridge": regression_error(data["X_test"], data["regression_test"], w),
            "network": prediction_error(data["regression_test"], student_predict(res, data["X_test"]), "linear"),
            "converged": bool(res.converged)}

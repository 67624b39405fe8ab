"""Chapter 3's sweep tasks: the equivalent GLM at finite size (Camilli et al. 2025, Theorems 2
and 4; book thm-replica-glm, thm-concentration, eq-equivalent-glm).

Each task draws its data with its own random stream (:func:`deepgep.support.sweeps.task_rng`):

* :func:`information_task`: one Gaussian input matrix and the exact mutual information of the
  linear GLM on it (book eq-linear-exact-mi), with control variates;
* :func:`concentration_task`: a batch of linear-GLM datasets and the exact ``(1/n) log Z`` of
  each (the concentration of the free entropy, eq-concentration);
* :func:`gamp_task`: GAMP on one instance of the equivalent GLM, one record per iteration
  (index column ``iteration``).

Every task is deterministic given ``(params, seed)`` with one BLAS thread (exact draws, then
dense linear algebra or a fixed number of GAMP iterations): its sweep is verified bit for bit
(tolerance 0) on the machine that recorded it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from deepgep.simulate.amp import gamp
from deepgep.simulate.teachers import glm_teacher_sample
from deepgep.support.sweeps import task_rng
from deepgep.theory.channels import make_channel
from deepgep.theory.glm import linear_log_partition, linear_mutual_information, wishart_statistics

__all__ = ["TASKS_MODULE", "PROBLEMS", "problem_channel", "information_task", "concentration_task", "gamp_task"]

#: The import path of this module (the sweeps name their tasks by it).
TASKS_MODULE = "deepgep.chapters.ch3_free_entropy_tasks"
#: The two problems of GAMP and of the Bayes-optimal curves: the linear channel with label noise,
#: and the sign channel without.
PROBLEMS = ("regression", "classification")
#: Tags of the experiments in the seeds of their random streams.
_INFORMATION, _CONCENTRATION, _GAMP = 1, 2, 3


def problem_channel(problem: str, gamma0: float, noise: float) -> tuple[str, float]:
    """``(output, label noise)`` of a problem: ``("linear", noise)`` for regression,
    ``("sign", 0.0)`` for classification (its labels carry no noise beyond ``gamma0``)."""
    if problem not in PROBLEMS:
        raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}, got {problem!r}")
    return ("linear", float(noise)) if problem == "regression" else ("sign", 0.0)


def information_task(params: Mapping, seed: int) -> dict[str, float]:
    """One Gaussian input matrix ``n x d0`` (``n = round(alpha d0)``, stream
    ``task_rng(params, seed, 1, d0)``): the exact ``I(a; Y | X)/d0`` of the linear GLM of
    ``kappa`` and ``total_noise`` (book eq-linear-exact-mi) and the Wishart statistics used as
    control variates with their exact means (:func:`deepgep.theory.glm.wishart_statistics`):
    fields ``value``, ``control_k``, ``mean_k`` (``k`` numbers the statistics of one matrix)."""
    d0 = int(params["d0"])
    X = task_rng(params, seed, _INFORMATION, d0).standard_normal((round(float(params["alpha"]) * d0), d0))
    controls, means = wishart_statistics(X)
    record = {"value": linear_mutual_information(X, float(params["kappa"]), float(params["total_noise"]))}
    for k, (c, m) in enumerate(zip(controls, means)):
        record[f"control_{k}"], record[f"mean_{k}"] = float(c), float(m)
    return record


def concentration_task(params: Mapping, seed: int) -> dict[str, float]:
    """A batch of ``datasets`` independent linear-GLM datasets of ``n`` samples
    (``d0 = round(n/alpha)``, signal ``kappa``, noise ``total_noise``; stream
    ``task_rng(params, seed, 2, n)``): the mean of ``(1/n) log Z`` over the batch and the sum of
    squared deviations from it (``m2``), from which batches pool into one variance."""
    n, alpha, kappa, noise = int(params["n"]), float(params["alpha"]), float(params["kappa"]), float(params["total_noise"])
    rng = task_rng(params, seed, _CONCENTRATION, n)
    values = np.empty(int(params["datasets"]))
    for i in range(values.size):
        data = glm_teacher_sample(round(n / alpha), n, rng, eta0=math.sqrt(kappa), gamma0=0.0, noise=noise,
                                  output="linear")
        values[i] = linear_log_partition(data.X, data.y, kappa, noise) / n
    return {"mean": float(values.mean()), "m2": float(np.sum((values - values.mean()) ** 2)), "count": int(values.size)}


def gamp_task(params: Mapping, seed: int) -> list[dict[str, float | int]]:
    """GAMP on one instance of the equivalent GLM (``kappa``, ``gamma0``; ``problem``
    regression with label noise ``noise`` or classification) of input width ``d0`` and
    ``n = round(alpha d0)`` (stream ``task_rng(params, seed, 3, round(100 alpha), 0 or 1)``),
    run for ``iterations`` iterations without a stopping rule: one record per iteration
    ``t = 0..iterations`` (index column ``iteration``), field ``mse`` ``||a_t - a||^2 / d0``."""
    d0, alpha, problem = int(params["d0"]), float(params["alpha"]), params["problem"]
    output, noise = problem_channel(problem, float(params["gamma0"]), float(params["noise"]))
    rng = task_rng(params, seed, _GAMP, round(100 * alpha), PROBLEMS.index(problem))
    eta0 = math.sqrt(float(params["kappa"]))
    channel = make_channel(output, gamma0=float(params["gamma0"]), noise=noise)
    data = glm_teacher_sample(d0, round(alpha * d0), rng, eta0=eta0, gamma0=float(params["gamma0"]), noise=noise,
                              output=output)
    res = gamp(data.X, data.y, channel, eta0, n_iter=int(params["iterations"]), tol=0.0, teacher=data.teacher.readout)
    return [{"iteration": t, "mse": float(m)} for t, m in enumerate(res.mse)]

"""One teacher of the deep network and its evidence next to the equivalent GLM's, on the same
inputs and labels: the per-instance quantities of the free-entropy chapter, and the sweep task.

Conventions (Gaussian channel, ``Z = p(y | X)`` a normalised density of the labels):

* free entropy per sample ``(1/n) ln Z``; for the deep network by
  :func:`deepgep.simulate.evidence.log_evidence` (SMC), for the GLM ``y ~ N(0, kappa X X^T / d0
  + (gamma0 + Delta) I)`` exactly (:func:`deepgep.theory.glm.linear_log_partition`, book
  eq-linear-evidence) with ``kappa = eta0^2``, ``gamma0`` of book eq-composition;
* the paired log-likelihood ratio ``(1/n) [ln p_deep(y|X) - ln p_GLM(y|X)]`` on the deep
  teacher's labels: its expectation is ``KL(p_deep || p_GLM) / n >= 0`` (book
  eq-log-likelihood-ratio); the SMC's error is its only error at a given instance;
* mutual information per sample, ``I(theta; y | X) / n = -(1/n) E ln Z - (1/n) H(y | X, theta)``
  (book eq-deep-mutual-information): for the deep network ``H(y|X,theta) = (n/2) ln(2 pi e
  Delta)`` (all the weights known, only the label noise is left); for the GLM, whose channel
  noise is ``gamma0 + Delta`` (book eq-mutual-information, eq-linear-exact-mi), ``(n/2) ln(2 pi e
  (gamma0 + Delta))``. Per instance the expectation over ``y`` is replaced by the observed
  labels. So ``I_deep/n - I_GLM/n = -ratio + (1/2) ln(1 + gamma0/Delta)``: equal free entropies
  mean mutual informations that differ by the information ``(1/2) ln(1 + gamma0/Delta)`` per
  sample that the hidden weights carry about the non-linear part of the labels (a constant that
  no estimator has to measure). ``mi_glm_exact`` is the GLM's ``(1/2n) ln det(I + kappa X X^T /
  (d0 (gamma0 + Delta)))``, its information averaged over its own labels given ``X``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from deepgep.simulate.evidence import check_architecture, deep_likelihood, log_evidence
from deepgep.simulate.teachers import deep_teacher_sample, glm_teacher_sample
from deepgep.support.sweeps.tasks import task_rng
from deepgep.support.validation import check_alpha, check_count, check_generator, check_real
from deepgep.theory.glm import linear_log_partition, linear_mutual_information
from deepgep.theory.layers import equivalent_parameters

__all__ = ["glm_free_entropy", "instance_data", "evidence_record", "evidence_instance", "instance_rng"]


def glm_free_entropy(X: np.ndarray, y: np.ndarray, kappa: float, gamma0: float, noise: float) -> float:
    """``(1/n) ln p_GLM(y | X)`` of the GLM ``y ~ N(0, kappa X X^T / d0 + (gamma0 + noise) I)``,
    exactly (book eq-linear-evidence): any GLM, the right one or a wrong one, on given data."""
    return linear_log_partition(X, y, kappa, gamma0 + noise) / X.shape[0]


def instance_data(activation: str, gain: float, depth: int, d0: int, width: int, alpha: float, noise: float,
                  rng: np.random.Generator):
    """The teacher and its data of one instance, drawn FIRST from ``rng`` (so that the data of a
    recorded instance are regenerated exactly from its stream, without its SMC):
    :func:`~deepgep.simulate.teachers.deep_teacher_sample` (``glm_teacher_sample`` at depth 0)
    with ``n = round(alpha d0)`` samples; returns ``(widths, data)``."""
    depth = check_count("depth", depth, 0)
    d0, width = check_count("d0", d0), check_count("width", width)
    alpha = check_alpha(alpha)
    noise = check_real("noise", noise, positive=True)
    gain = check_real("gain", gain, positive=True)
    rng = check_generator(rng)
    widths = check_architecture((d0,) + (width,) * depth)
    n = max(1, int(round(alpha * d0)))
    if depth == 0:
        return widths, glm_teacher_sample(d0, n, rng, noise=noise)
    return widths, deep_teacher_sample(widths, activation, n, rng, gain=gain, noise=noise)


def evidence_record(activation: str, gain: float, depth: int, d0: int, width: int, alpha: float, noise: float,
                    rng: np.random.Generator, *, n_particles: int = 128, n_runs: int = 2,
                    **smc_options) -> dict[str, float]:
    """One teacher (widths ``(d0, width, ..., width)``, ``depth`` hidden layers; depth 0 is the
    GLM ``y = X a / sqrt(d0) + noise``), ``n = round(alpha d0)`` samples, and the quantities of
    the module docstring. ``rng`` draws the teacher and the data (:func:`instance_data`), then
    the SMC runs. Any other GLM on the same data (a wrong kappa, gamma0 or depth) is
    :func:`glm_free_entropy` of the data :func:`instance_data` regenerates from the same stream.

    Record (flat floats): ``n``, ``d_min`` (smallest width); ``free_entropy_deep`` (``ln`` of the
    mean ``Z-hat`` over ``n_runs`` runs, over ``n``), ``free_entropy_deep_mean_of_logs``,
    ``free_entropy_deep_se``; ``free_entropy_glm`` (exact); ``log_ratio`` and ``log_ratio_se``;
    ``mi_deep``, ``mi_glm``, ``mi_glm_exact``; ``kappa``, ``gamma0``; the SMC's
    ``n_temperatures`` (mean per run), ``n_evaluations`` (all runs), ``acceptance`` (mean) and
    ``cpu_seconds``.
    """
    cpu = time.process_time()
    widths, data = instance_data(activation, gain, depth, d0, width, alpha, noise, rng)
    X, y = data.X, data.y
    n = X.shape[0]
    estimate = log_evidence(deep_likelihood(X, y, widths, activation, noise, gain), rng,
                            n_particles=n_particles, n_runs=n_runs, **smc_options)
    eta0, gamma0 = equivalent_parameters(activation, gain, depth)
    kappa = eta0**2
    deep, glm = estimate.log_evidence / n, glm_free_entropy(X, y, kappa, gamma0, noise)
    record = {
        "n": float(n), "d_min": float(min(widths)),
        "free_entropy_deep": deep, "free_entropy_deep_mean_of_logs": estimate.mean_of_logs / n,
        "free_entropy_deep_se": estimate.standard_error / n,
        "free_entropy_glm": glm, "log_ratio": deep - glm, "log_ratio_se": estimate.standard_error / n,
        "mi_deep": -deep - 0.5 * math.log(2.0 * math.pi * math.e * noise),
        "mi_glm": -glm - 0.5 * math.log(2.0 * math.pi * math.e * (gamma0 + noise)),
        "mi_glm_exact": linear_mutual_information(X, kappa, gamma0 + noise) * d0 / n,
        "kappa": kappa, "gamma0": gamma0,
    }
    record.update({
        "n_temperatures": estimate.mean_temperatures, "n_evaluations": float(estimate.n_likelihood_evaluations),
        "acceptance": float(np.mean([r.acceptance.mean() for r in estimate.runs])),
        "cpu_seconds": time.process_time() - cpu,
    })
    return record


def instance_rng(params: Mapping[str, Any], seed: int) -> np.random.Generator:
    """The stream of instance ``seed`` of a sweep point: ``task_rng(params, seed, depth, d0,
    width, round(1000 alpha))`` (:func:`deepgep.support.sweeps.tasks.task_rng`)."""
    d0 = int(params["d0"])
    return task_rng(params, seed, int(params["depth"]), d0, int(params.get("width") or d0),
                    round(1000 * float(params["alpha"])))


def evidence_instance(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """The sweep task: :func:`evidence_record` for teacher ``seed`` with ``params`` keys
    ``activation``, ``gain``, ``depth``, ``d0``, ``alpha``, ``noise``, ``base_seed`` and the
    optional ``width`` (hidden width, default ``d0``), ``particles`` (128), ``runs`` (2),
    ``target_ess``, ``n_moves``. Its random stream is
    ``task_rng(params, seed, depth, d0, width, round(1000 alpha))``
    (:func:`deepgep.support.sweeps.tasks.task_rng`): one independent stream per grid point and
    teacher."""
    depth, d0 = int(params["depth"]), int(params["d0"])
    width = int(params.get("width") or d0)
    alpha = float(params["alpha"])
    options = {k: params[k] for k in ("target_ess", "n_moves") if params.get(k) is not None}
    return evidence_record(str(params["activation"]), float(params["gain"]), depth, d0, width, alpha,
                           float(params["noise"]), instance_rng(params, seed), n_particles=int(params.get("particles", 128)),
                           n_runs=int(params.get("runs", 2)), **options)

"""Chapter 5's sweep tasks: one teacher of the deep network, its Bayes posterior sampled by NUTS
over all the weights, against the equivalent GLM's Bayes error (Camilli et al. 2025, Theorem 4;
book thm-deep-bayes-error, eq-linear-closed-form) and against ridge at ``lambda*``
(eq-ridge-bayes); and the two cheap companions that make the comparison exact at finite size.

* :func:`bayes_instance` is one instance (a teacher, its data, two chains); :func:`posterior_task`
  runs it for one task of the ``posterior`` sweep with its own random stream.
* :func:`spectra_task` regenerates the data of one ``posterior`` instance from the same stream
  (no sampling: the chains draw after the data) and records the spectrum of its inputs, from
  which the GLM's exact Bayes error on those inputs follows for any ``(kappa, gamma0)``
  (:func:`deepgep.theory.glm.linear_bayes_test_error`), and ridge's error and overlap on it.
* :func:`ridge_task` draws a batch of fresh teachers at a point and records, for ridge at
  ``lambda*``, the mean and covariances of its excess error and excess overlap over the GLM's
  exact values on the same inputs, with the readout power ``|a|^2/d_L`` (mean exactly 1) as a
  control variate: the known-mean partner of the ``posterior`` table's paired ridge columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepgep.simulate.estimators import predict, ridge
from deepgep.simulate.nuts import concatenate_chains, effective_sample_size, r_hat, sample_posterior
from deepgep.simulate.posterior import NetworkPrior
from deepgep.simulate.teachers import deep_teacher_sample
from deepgep.support.sweeps import task_rng
from deepgep.support.validation import check_alpha, check_real, check_widths
from deepgep.simulate.teachers import TeacherData
from deepgep.theory.glm import gram_spectrum, spectral_posterior_mse
from deepgep.theory.layers import GLMTheory, equivalent_glm, layer_coefficients
from deepgep.theory.ridge import bayes_ridge_lambda
from deepgep.theory.state_evolution import gaussian_closed_form

__all__ = ["N_DIAGNOSTIC_INPUTS", "TASKS_MODULE", "RIDGE_STREAM", "TEACHERS_PER_BATCH", "RIDGE_MOMENTS",
           "instance_data", "ridge_measures", "bayes_instance", "posterior_task", "spectra_task", "ridge_task"]

#: Test inputs on which R-hat and ESS of the predictions are computed (the first ones of the
#: test set): enough to see a non-mixing direction, few enough that the maximum of R-hat over
#: them is not dominated by the chance fluctuations of many near-independent statistics.
N_DIAGNOSTIC_INPUTS = 20
#: The import path of this module (the sweep names its task by it).
TASKS_MODULE = "deepgep.chapters.ch5_posterior_sampling_tasks"
#: The first tag of the ``ridge`` sweep's streams (``[base_seed, 5001, depth, d0, 1000 alpha,
#: batch]``): unlike the ``posterior`` streams (whose first tag is the depth), so that no two
#: tasks of the chapter share a stream unless a network had 5001 layers.
RIDGE_STREAM = 5001
#: Fresh teachers per task of the ``ridge`` sweep (about one CPU second per task at d0 = 64).
TEACHERS_PER_BATCH = 100
#: The per-teacher quantities of :func:`ridge_task`: their batch means are recorded under these
#: names, with the variances ``var_<name>`` and the covariances ``cov_<name>_readout``.
RIDGE_MOMENTS = ("error_excess", "overlap_excess", "readout_power")


def instance_data(widths: Sequence[int], activation: str, alpha: float, noise: float, rng: np.random.Generator,
                  *, gain: float = 1.0, n_test: int = 2000) -> TeacherData:
    """The teacher and data of one instance: ``n = round(alpha d_0)`` training and ``n_test``
    test samples of a deep teacher of widths ``widths`` (regression, label noise ``noise``),
    the first draws of ``rng`` (:func:`deepgep.simulate.teachers.deep_teacher_sample`)."""
    n = max(1, int(round(alpha * widths[0])))
    return deep_teacher_sample(widths, activation, n, rng, gain=gain, noise=noise, n_test=n_test)


def ridge_measures(data: TeacherData, activation: str, gain: float, noise: float) -> tuple[float, float]:
    """Ridge on ``X^0`` at ``lambda* = (gamma0 + Delta)/kappa`` of the teacher's depth
    (eq-ridge-bayes): its test error against the noiseless teacher plus ``Delta``, and its
    overlap ``mean_test f_ridge f_t`` with the teacher (the quantities of :func:`bayes_instance`)."""
    glm = equivalent_glm(layer_coefficients(activation, data.teacher.depth, gain=gain))
    pred = predict(data.X_test, ridge(data.X, data.y, bayes_ridge_lambda(glm.eta0, glm.gamma0, noise)))
    f_t = data.preactivation_test
    return float(np.mean((f_t - pred) ** 2)) + noise, float(np.mean(pred * f_t))


def bayes_instance(
    widths: Sequence[int],
    activation: str,
    alpha: float,
    noise: float,
    rng: np.random.Generator,
    *,
    gain: float = 1.0,
    n_test: int = 2000,
    n_warmup: int = 500,
    n_samples: int = 500,
    **sampler_options: Any,
) -> dict[str, float]:
    """One teacher of Camilli et al.'s model (``rho = 1``, ``eps = 0``, regression with label
    noise ``Delta = noise``; book eq-model) of widths ``(d_0, ..., d_L)``, ``n = round(alpha
    d_0)`` samples, and its Bayes posterior sampled with the teacher's own prior and likelihood
    (the Bayes-optimal setting).

    Two chains: one started AT the teacher (by the Nishimori property a posterior sample), one
    from a prior draw. Returns, with ``f_t`` the teacher's noiseless output and ``<f>`` the
    posterior mean (errors against the noiseless ``f_t``, plus ``Delta``: the same expectation
    over the label noise, with less variance):

    * ``posterior_error`` = ``mean_test (f_t - <f>)^2 + Delta``, the Bayes test error of Theorem 4;
    * ``ridge_error``: the same for ridge on ``X^0`` at ``lambda* = (gamma0 + Delta)/kappa``;
    * ``glm_error``: the equivalent GLM's Bayes error ``kappa (1 - q*) + gamma0 + Delta``
      (closed form eq-linear-closed-form, :func:`deepgep.theory.state_evolution.gaussian_closed_form`)
      and ``glm_q`` (``q*``), ``kappa``;
    * ``overlap_teacher`` = ``mean_test <f> f_t`` and ``overlap_samples`` = ``mean_test
      fbar_1 fbar_2`` (the product of the two chains' means: unbiased for ``<f>^2``). Nishimori:
      equal in expectation; both tend to ``kappa q*`` (the function-space overlap, the identifiable
      counterpart of the readout overlap ``q`` of the GLM);
    * ``r_hat_max`` over the predictions at :data:`N_DIAGNOSTIC_INPUTS` test inputs and the
      training error; ``ess_min`` (the smallest ESS among them); divergences, acceptance, step
      sizes, gradient evaluations and their rate.
    """
    widths = check_widths(widths)
    alpha = check_alpha(alpha)
    noise = check_real("noise", noise, positive=True)
    data = instance_data(widths, activation, alpha, noise, rng, gain=gain, n_test=n_test)
    n = data.n
    prior = NetworkPrior(widths, activation, noise, gain=gain)
    teacher = data.teacher.network.weights + (data.teacher.readout,)
    kw = dict(n_chains=1, n_warmup=n_warmup, n_samples=n_samples, **sampler_options)
    runs = [sample_posterior(data.X, data.y, prior, rng, init=start, **kw) for start in (teacher, "prior")]
    s = concatenate_chains(runs)

    f = s.predict(data.X_test)
    f_t = data.preactivation_test
    chain_means = f.mean(axis=1)
    f_mean = chain_means.mean(axis=0)
    glm = equivalent_glm(layer_coefficients(activation, len(widths) - 1, gain=gain))
    closed = gaussian_closed_form(glm.kappa, glm.gamma0 + noise, alpha)
    ridge_error, _ = ridge_measures(data, activation, gain, noise)

    f_train = s.predict(data.X)
    train_error = np.mean((data.y - f_train) ** 2, axis=2)
    watched = np.concatenate([f[:, :, :N_DIAGNOSTIC_INPUTS], train_error[:, :, None]], axis=2)
    d = s.diagnostics
    return {
        "n": n,
        "posterior_error": float(np.mean((f_t - f_mean) ** 2)) + noise,
        "ridge_error": ridge_error,
        "glm_error": closed["test_error"],
        "glm_q": closed["q"],
        "kappa": glm.kappa,
        "overlap_teacher": float(np.mean(f_mean * f_t)),
        "overlap_samples": float(np.mean(chain_means[0] * chain_means[1])),
        "r_hat_max": float(np.max(r_hat(watched))),
        "ess_min": float(np.min(effective_sample_size(watched))),
        "divergences": int(np.sum(d["n_divergences"])),
        "acceptance_rate": float(np.mean(d["acceptance_rate"])),
        "step_size": float(np.mean(d["step_size"])),
        "mean_integration_steps": float(np.mean(d["mean_integration_steps"])),
        "gradient_evaluations": int(d["n_gradient_evaluations"]),
        "gradient_evaluations_per_second": float(d["gradient_evaluations_per_second"]),
    }


def posterior_task(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """:func:`bayes_instance` for teacher ``seed`` at ``(depth, d0, alpha)`` (all widths equal to
    ``d0``), with its own random stream ``task_rng(params, seed, depth, d0, round(1000 alpha))``
    (``[base_seed, depth, d0, 1000 alpha, seed]``): a task depends neither on the others nor on
    the order a scheduler runs them. Deterministic given ``(params, seed)`` with one BLAS thread
    (JAX on the CPU, the same machine): verified bit for bit (``gradient_evaluations_per_second``,
    a speed, is not compared)."""
    depth, d0, alpha = int(params["depth"]), int(params["d0"]), float(params["alpha"])
    rng = task_rng(params, seed, depth, d0, round(1000 * alpha))
    return bayes_instance((d0,) * (depth + 1), params["activation"], alpha, params["noise"], rng,
                          gain=params["gain"], n_test=int(params["n_test"]),
                          n_warmup=int(params["n_warmup"]), n_samples=int(params["n_samples"]))


def spectra_task(params: Mapping[str, Any], seed: int) -> list[dict[str, float]]:
    """The data of ``posterior`` instance ``(depth, d0, alpha, seed)`` regenerated from its own
    stream (the same ``task_rng`` key as :func:`posterior_task`; the data are its first draws),
    one record per eigenvalue ``k = 0..m-1`` of the smaller Gram matrix of its training inputs
    (:func:`deepgep.theory.glm.gram_spectrum`, ``m = min(n, d0)``, ascending; the other
    ``d0 - m`` eigenvalues of ``X^T X/d0`` are 0), each with the instance's ``ridge_error``
    (equal bit for bit to the ``posterior`` table's: the proof that the inputs are the same) and
    ``ridge_overlap``, the same on all its rows. Deterministic with one BLAS thread."""
    depth, d0, alpha = int(params["depth"]), int(params["d0"]), float(params["alpha"])
    rng = task_rng(params, seed, depth, d0, round(1000 * alpha))
    data = instance_data((d0,) * (depth + 1), params["activation"], alpha, params["noise"], rng,
                         gain=params["gain"], n_test=int(params["n_test"]))
    error, overlap = ridge_measures(data, params["activation"], params["gain"], params["noise"])
    return [{"k": k, "eigenvalue": float(value), "ridge_error": error, "ridge_overlap": overlap}
            for k, value in enumerate(gram_spectrum(data.X))]


def ridge_task(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """Batch ``seed`` of :data:`TEACHERS_PER_BATCH` fresh teachers at ``(depth, d0, alpha)``
    (stream ``task_rng(params, seed, RIDGE_STREAM, depth, d0, round(1000 alpha))``), each with
    its data drawn as in a ``posterior`` instance (``n_test`` test inputs). Per teacher, with
    ``E_GLM(X)`` and ``kappa (1 - mse(X))`` the equivalent GLM's exact Bayes error and overlap
    on its inputs (:func:`deepgep.theory.glm.spectral_posterior_mse`, the theory of
    ``GLMTheory.of`` at this depth):

    * ``error_excess`` = ridge error - ``E_GLM(X)``, ``overlap_excess`` = ridge overlap -
      ``kappa (1 - mse(X))`` (:func:`ridge_measures`);
    * ``readout_power`` = ``|a|^2 / d_L`` (exactly 1 on average: a control variate).

    Returns ``teachers``, the batch means of :data:`RIDGE_MOMENTS` (same names), their
    variances ``var_<name>`` and the covariances ``cov_error_excess_readout`` and
    ``cov_overlap_excess_readout`` (within the batch, normalised by the batch size: the moments
    that combine exactly across batches). Deterministic with one BLAS thread."""
    depth, d0, alpha = int(params["depth"]), int(params["d0"]), float(params["alpha"])
    activation, gain, noise = params["activation"], params["gain"], params["noise"]
    rng = task_rng(params, seed, RIDGE_STREAM, depth, d0, round(1000 * alpha))
    glm = GLMTheory.of(activation, gain, depth, noise)
    values = np.empty((TEACHERS_PER_BATCH, len(RIDGE_MOMENTS)))
    for t in range(TEACHERS_PER_BATCH):
        data = instance_data((d0,) * (depth + 1), activation, alpha, noise, rng, gain=gain, n_test=int(params["n_test"]))
        mse = float(spectral_posterior_mse(gram_spectrum(data.X), d0, glm.kappa, glm.total_noise))
        error, overlap = ridge_measures(data, activation, gain, noise)
        readout = data.teacher.readout
        values[t] = (error - (glm.kappa * mse + glm.total_noise), overlap - glm.kappa * (1.0 - mse),
                     float(readout @ readout) / readout.size)
    means = values.mean(axis=0)
    centred = values - means
    record: dict[str, float] = {"teachers": TEACHERS_PER_BATCH}
    record.update({name: float(m) for name, m in zip(RIDGE_MOMENTS, means)})
    record.update({f"var_{name}": float(np.mean(centred[:, j] ** 2)) for j, name in enumerate(RIDGE_MOMENTS)})
    for j, name in enumerate(RIDGE_MOMENTS[:2]):
        record[f"cov_{name}_readout"] = float(np.mean(centred[:, j] * centred[:, 2]))
    return record

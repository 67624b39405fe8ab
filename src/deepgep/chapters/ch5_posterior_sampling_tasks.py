"""Chapter 5's sweep task: one teacher of the deep network, its Bayes posterior sampled by NUTS
over all the weights, against the equivalent GLM's Bayes error (Camilli et al. 2025, Theorem 4;
book thm-deep-bayes-error, eq-linear-closed-form) and against ridge at ``lambda*``
(eq-ridge-bayes).

:func:`bayes_instance` is one instance (a teacher, its data, two chains); :func:`posterior_task`
runs it for one task of the ``posterior`` sweep with its own random stream.
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
from deepgep.theory.layers import equivalent_glm, layer_coefficients
from deepgep.theory.ridge import bayes_ridge_lambda
from deepgep.theory.state_evolution import gaussian_closed_form

__all__ = ["N_DIAGNOSTIC_INPUTS", "TASKS_MODULE", "bayes_instance", "posterior_task"]

#: Test inputs on which R-hat and ESS of the predictions are computed (the first ones of the
#: test set): enough to see a non-mixing direction, few enough that the maximum of R-hat over
#: them is not dominated by the chance fluctuations of many near-independent statistics.
N_DIAGNOSTIC_INPUTS = 20
#: The import path of this module (the sweep names its task by it).
TASKS_MODULE = "deepgep.chapters.ch5_posterior_sampling_tasks"


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
    n = max(1, int(round(alpha * widths[0])))
    data = deep_teacher_sample(widths, activation, n, rng, gain=gain, noise=noise, n_test=n_test)
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
    w = ridge(data.X, data.y, bayes_ridge_lambda(glm.eta0, glm.gamma0, noise))
    ridge_pred = predict(data.X_test, w)

    f_train = s.predict(data.X)
    train_error = np.mean((data.y - f_train) ** 2, axis=2)
    watched = np.concatenate([f[:, :, :N_DIAGNOSTIC_INPUTS], train_error[:, :, None]], axis=2)
    d = s.diagnostics
    return {
        "n": n,
        "posterior_error": float(np.mean((f_t - f_mean) ** 2)) + noise,
        "ridge_error": float(np.mean((f_t - ridge_pred) ** 2)) + noise,
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

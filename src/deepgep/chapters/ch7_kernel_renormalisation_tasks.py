"""Chapter 7's instances and sweep tasks: kernel renormalisation at finite width (Pacelli et al.
2023; book thm-kernel-renormalisation, eq-effective-action, eq-renormalised-predictor) on one
data set, against the sampled posterior of the actual network and against the GLM reduction.

* :class:`Instance` / :func:`make_instance` / :func:`teacher_instance`: a training and a test
  set with their NNGP kernels; :func:`hidden_width_scan` the renormalised predictor across
  hidden widths on one instance;
* :func:`sampling_task` (sweep ``sampling``): the one-hidden-layer network sampled by NUTS on
  one instance (:func:`sampling_instance`), compared with the renormalised kernel, the NNGP and a
  wrong renormalisation (:func:`sampling_comparison`, :func:`summarise_samples`);
* :func:`glm_task` (sweep ``glm``): the common instance of the renormalisation theory and of the
  GLM reduction (eq-renormalisation-glm, eq-linear-closed-form; Camilli et al. 2025, Theorem 4).

Random streams (:func:`deepgep.support.sweeps.task_rng`): the sampling instance
``[base_seed, 1, seed]`` (the same data at every width of a seed: comparisons across widths are
paired), the sampler ``[base_seed, 3, width, seed]``, the GLM instance ``[base_seed, 2, d0, seed]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepgep.simulate.nuts import r_hat, sample_posterior
from deepgep.simulate.posterior import NetworkPrior
from deepgep.simulate.teachers import deep_teacher_sample
from deepgep.support.stats import standard_error
from deepgep.support.sweeps import task_rng
from deepgep.support.threads import single_threaded_blas
from deepgep.theory.kernels import nngp_kernel
from deepgep.theory.renormalisation import generalisation_error, glm_prediction, gp_predict, solve_renormalisation

__all__ = ["TASKS_MODULE", "VARIANTS", "Instance", "make_instance", "hidden_width_scan", "SampledPredictor",
           "summarise_samples", "teacher_instance", "sampling_comparison", "sampling_instance", "sampling_task",
           "glm_size", "glm_task"]

#: The import path of this module (the sweeps name their tasks by it).
TASKS_MODULE = "deepgep.chapters.ch7_kernel_renormalisation_tasks"
#: Tags of the random streams: the sampling instance, the GLM instance, the sampler. The sampler
#: has its own tag: ``[base_seed, 1, width, 0]`` would be the stream of the instance of seed
#: ``width`` (numpy's seeding ignores trailing zeros of a key shorter than four words).
_SAMPLING, _GLM, _SAMPLER = 1, 2, 3
#: The predictions the sampled network is compared with: suffix of the sampling records.
VARIANTS = {"theory": "renormalised kernel Qbar* K", "nngp": "NNGP kernel K (Qbar = 1)",
            "scaled": "kernel 0.8 Qbar* K (Qbar* perturbed)"}


@dataclass(frozen=True)
class Instance:
    """A training set and a test set with their NNGP kernels (``K`` training, ``K_cross`` test x
    training, ``K_test`` test x test), for the network of ``activation``/``gain``/``weight_variance``."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    K: np.ndarray
    K_cross: np.ndarray
    K_test: np.ndarray

    @property
    def n(self) -> int:
        return int(self.y.size)


@single_threaded_blas
def make_instance(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *, activation: str = "erf",
                  gain: float = 1.0, weight_variance: float = 1.0, method: str = "auto") -> Instance:
    """Compute the joint NNGP kernel of training and test inputs (:func:`nngp_kernel`) once."""
    X = np.asarray(X, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    if X.ndim != 2 or X_test.ndim != 2 or X.shape[1] != X_test.shape[1]:
        raise ValueError(f"X {X.shape} and X_test {X_test.shape} must be (n, d0) with the same d0")
    y = np.asarray(y, dtype=np.float64)
    y_test = np.asarray(y_test, dtype=np.float64)
    if y.shape != (X.shape[0],) or y_test.shape != (X_test.shape[0],):
        raise ValueError("y and y_test must have one entry per row of X and X_test")
    full = nngp_kernel(np.vstack([X, X_test]), activation, gain=gain, weight_variance=weight_variance,
                       method=method)
    n = X.shape[0]
    return Instance(X, y, X_test, y_test, full[:n, :n], full[n:, :n], full[n:, n:])


@single_threaded_blas
def hidden_width_scan(instance: Instance, hidden_widths: Sequence[float], *, temperature: float,
                      readout_precision: float = 1.0) -> dict[str, np.ndarray]:
    """``Qbar`` and the test error (bias^2, variance, total) of the renormalised predictor for each
    hidden width ``N1`` of ``hidden_widths`` (columns ``width``, ``alpha1`` = n/N1, ``q_bar``,
    ``bias2``, ``variance``, ``error``), with the NNGP (``N1 = infinity``) values in the
    ``*_nngp`` entries."""
    out: dict[str, list[float]] = {k: [] for k in ("width", "alpha1", "q_bar", "bias2", "variance", "error")}
    nngp = gp_predict(instance.K, instance.K_cross, np.diag(instance.K_test), instance.y,
                      temperature=temperature, readout_precision=readout_precision)
    ref = generalisation_error(instance.y_test, nngp)
    for n1 in hidden_widths:
        sol = solve_renormalisation(instance.K, instance.y, hidden_widths=float(n1), temperature=temperature,
                                    readout_precision=readout_precision)
        pred = gp_predict(instance.K, instance.K_cross, np.diag(instance.K_test), instance.y,
                          temperature=temperature, kernel_scale=sol.kernel_scale,
                          readout_precision=readout_precision)
        err = generalisation_error(instance.y_test, pred)
        values = (float(n1), instance.n / n1, sol.kernel_scale, err.bias2, err.variance, err.total)
        for k, v in zip(out, values):
            out[k].append(v)
    res = {k: np.array(v) for k, v in out.items()}
    res.update(bias2_nngp=np.float64(ref.bias2), variance_nngp=np.float64(ref.variance),
               error_nngp=np.float64(ref.total))
    return res


@dataclass(frozen=True)
class SampledPredictor:
    """Posterior mean, variance and Gibbs test error of sampled networks, averaged over chains,
    with standard errors from the spread between chains (each chain one estimate)."""

    mean: np.ndarray
    mean_se: np.ndarray
    variance: np.ndarray
    variance_se: np.ndarray
    error: float
    error_se: float
    average_variance: float
    average_variance_se: float


def summarise_samples(predictions: np.ndarray, y_test: np.ndarray) -> SampledPredictor:
    """Reduce sampled outputs ``f`` of shape ``(n_chains, n_samples, n_test)`` (e.g.
    ``PosteriorSamples.predict``) to per-point posterior mean and variance and the test error
    ``mean_x <(y0 - f)^2>`` and the test-averaged variance, with between-chain standard errors
    (needs >= 2 chains; test points share a chain, so averages get their SE from chain averages)."""
    f = np.asarray(predictions, dtype=np.float64)
    y_test = np.asarray(y_test, dtype=np.float64)
    if f.ndim != 3 or f.shape[0] < 2 or f.shape[1] < 2 or f.shape[2] != y_test.size:
        raise ValueError(f"predictions must be (n_chains >= 2, n_samples >= 2, {y_test.size}), got {f.shape}")
    m = f.mean(axis=1)                      # (chains, n_test)
    v = f.var(axis=1, ddof=1)
    e = np.mean((y_test - f) ** 2, axis=(1, 2))
    va = v.mean(axis=1)
    return SampledPredictor(m.mean(axis=0), standard_error(m), v.mean(axis=0), standard_error(v),
                            float(e.mean()), standard_error(e), float(va.mean()), standard_error(va))


def teacher_instance(d0: int, width: int, n: int, n_test: int, rng: np.random.Generator, *, activation: str = "erf",
                     readout_gain: float = 1.0, noise: float) -> Instance:
    """Gaussian inputs labelled by a one-hidden-layer teacher of :mod:`deepgep.simulate.teachers`
    (weights ``N(0, 1)``, ``y = rho a.phi(Wx/sqrt(d0))/sqrt(N1) + sqrt(noise) xi``), with the NNGP
    kernels of a student with the same architecture and unit prior variances. ``readout_gain = 1``
    is the matched (Bayes-optimal) case; ``readout_gain < 1`` gives targets smaller than the prior's."""
    data = deep_teacher_sample((d0, width), activation, n, rng, rho=readout_gain, noise=noise, n_test=n_test)
    return make_instance(data.X, data.y, data.X_test, data.y_test, activation=activation)


@single_threaded_blas
def sampling_comparison(instance: Instance, predictions: np.ndarray, *, width: int, temperature: float,
                        readout_precision: float = 1.0, perturbed_scale: float = 0.8) -> dict[str, float]:
    """Theory (renormalised kernel), NNGP (``Qbar = 1``) and sampled networks of hidden width
    ``width`` on one instance.

    ``predictions``: sampled ``f`` on the test inputs, ``(n_chains, n_samples, n_test)``.
    Returns ``q_bar``; test-averaged posterior variance (``var_theory``, ``var_nngp``,
    ``var_sampled`` +- ``var_sampled_se``); root-mean-square distance of the theory's and the
    NNGP's posterior means to the sampled one (``mean_gap_theory``, ``mean_gap_nngp``) and the
    rms standard error of the sampled mean (``mean_se``); Gibbs test errors (``error_*``). The
    ``*_scaled`` fields are a wrong theory kept for the claims: the kernel renormalised by
    ``perturbed_scale * Qbar*`` instead of ``Qbar*``."""
    sol = solve_renormalisation(instance.K, instance.y, hidden_widths=width, temperature=temperature,
                                readout_precision=readout_precision)
    diag = np.diag(instance.K_test)
    args = (instance.K, instance.K_cross, diag, instance.y)
    theory = gp_predict(*args, temperature=temperature, kernel_scale=sol.kernel_scale,
                        readout_precision=readout_precision)
    nngp = gp_predict(*args, temperature=temperature, readout_precision=readout_precision)
    scaled = gp_predict(*args, temperature=temperature, kernel_scale=perturbed_scale * sol.kernel_scale,
                        readout_precision=readout_precision)
    s = summarise_samples(predictions, instance.y_test)
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    return {
        "q_bar": sol.kernel_scale,
        "var_theory": float(theory.variance.mean()), "var_nngp": float(nngp.variance.mean()),
        "var_scaled": float(scaled.variance.mean()),
        "var_sampled": s.average_variance, "var_sampled_se": s.average_variance_se,
        "mean_gap_theory": rms(theory.mean - s.mean), "mean_gap_nngp": rms(nngp.mean - s.mean),
        "mean_gap_scaled": rms(scaled.mean - s.mean), "mean_se": rms(s.mean_se),
        "error_theory": generalisation_error(instance.y_test, theory).total,
        "error_nngp": generalisation_error(instance.y_test, nngp).total,
        "error_scaled": generalisation_error(instance.y_test, scaled).total,
        "error_sampled": s.error, "error_sampled_se": s.error_se,
    }


def sampling_instance(params: Mapping[str, Any], seed: int) -> Instance:
    """The data of :func:`sampling_task` for ``seed`` at ``n = params["n"]`` training pairs (a pure
    function of the parameters and the seed: the notebook redraws it for the theory curves)."""
    d0 = int(params["d0"])
    return teacher_instance(d0, d0, int(params["n"]), int(params["n_test"]), task_rng(params, seed, _SAMPLING),
                            activation=params["activation"], readout_gain=float(params["readout_gain"]),
                            noise=float(params["temperature"]))


def sampling_task(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """The network of hidden width ``width`` sampled by NUTS on instance ``seed``.

    The instance (:func:`sampling_instance`: ``d0`` Gaussian inputs, a teacher of width ``d0``
    with readout gain ``readout_gain``, ``n`` training and ``n_test`` test pairs, label noise
    ``temperature``) draws from the stream ``[base_seed, 1, seed]``, so every width of a seed
    sees the same data; the sampler from ``[base_seed, 3, width, seed]``. The student's posterior
    (unit prior variances, ``T = temperature``) is sampled with ``n_chains`` chains of
    ``n_warmup`` + ``n_samples`` NUTS steps from prior draws. Returns the fields of
    :func:`sampling_comparison` (with ``perturbed_scale``), the largest split-R-hat over the
    test predictions, the divergences and the mean leapfrog steps per draw. Deterministic given
    ``(params, seed)`` with one BLAS thread (JAX on the CPU): verified bit for bit."""
    d0, width, T = int(params["d0"]), int(params["width"]), float(params["temperature"])
    inst = sampling_instance(params, seed)
    prior = NetworkPrior(widths=(d0, width), activation=params["activation"], noise=T)
    samples = sample_posterior(inst.X, inst.y, prior, task_rng(params, seed, _SAMPLER, width),
                               n_chains=int(params["n_chains"]), n_warmup=int(params["n_warmup"]),
                               n_samples=int(params["n_samples"]))
    f = samples.predict(inst.X_test)
    d = samples.diagnostics
    return {**sampling_comparison(inst, f, width=width, temperature=T, perturbed_scale=float(params["perturbed_scale"])),
            "r_hat_max": float(np.max(r_hat(f))), "divergences": int(np.sum(d["n_divergences"])),
            "mean_integration_steps": float(np.mean(d["mean_integration_steps"]))}


def glm_size(d0: int, alpha: float, alpha1: float) -> tuple[int, int]:
    """``(n, N1)`` of the GLM instance: ``n = round(alpha d0)`` samples, hidden width
    ``N1 = round(n / alpha1)``; a clear error if either is not positive."""
    n = int(round(alpha * d0))
    width = int(round(n / alpha1))
    if d0 < 1 or n < 1 or width < 1:
        raise ValueError(f"sizes must be positive: d0 = {d0}, n = {n}, N1 = {width}")
    return n, width


@single_threaded_blas
def glm_task(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """The common instance of Chapters 1-3 and of the renormalisation theory, input width ``d0``,
    instance ``seed`` (stream ``[base_seed, 2, d0, seed]``).

    A one-hidden-layer teacher of widths ``(d0, N1 = n/alpha1)``, ``n = alpha d0``
    (:func:`glm_size`), unit weight variances, label noise ``noise``; the student is the same
    architecture with the same priors at ``T = noise``, so its Gibbs posterior IS the Bayes
    posterior of Camilli et al. Returns ``n``, ``width`` (``N1``), ``q_bar`` (the
    renormalisation); ``error_predicted``, the theory's own Bayes error on a noisy label
    ``mean_x Var f(x) + T``; ``error_measured``, the error of its posterior mean against the
    noiseless teacher on ``n_test`` fresh inputs plus ``T`` (the expectation over the label
    noise, without its sampling noise); ``glm_error``, the GLM reduction's Bayes error
    :func:`glm_prediction` (book eq-linear-closed-form); and ``glm_error_finite``, the exact Bayes
    error of the equivalent GLM on the same inputs (the GP with the linearised kernel
    ``kappa X X^T/d0 + gamma0 I`` and noise ``T``): the GLM at finite size, which separates the
    fluctuations of the design from the theory. Deterministic: verified bit for bit."""
    d0, alpha, alpha1 = int(params["d0"]), float(params["alpha"]), float(params["alpha1"])
    noise, activation = float(params["noise"]), params["activation"]
    n, width = glm_size(d0, alpha, alpha1)
    data = deep_teacher_sample((d0, width), activation, n, task_rng(params, seed, _GLM, d0), noise=noise,
                               n_test=int(params["n_test"]))
    inst = make_instance(data.X, data.y, data.X_test, data.y_test, activation=activation)
    sol = solve_renormalisation(inst.K, inst.y, hidden_widths=width, temperature=noise)
    pred = gp_predict(inst.K, inst.K_cross, np.diag(inst.K_test), inst.y, temperature=noise,
                      kernel_scale=sol.kernel_scale)
    glm = glm_prediction(activation, noise=noise, alpha=n / d0)
    K_lin = glm["kappa"] * inst.X @ inst.X.T / d0
    K_lin[np.diag_indices_from(K_lin)] += glm["gamma0"]
    lin = gp_predict(K_lin, glm["kappa"] * inst.X_test @ inst.X.T / d0,
                     glm["kappa"] * np.sum(inst.X_test**2, axis=1) / d0 + glm["gamma0"], inst.y,
                     temperature=noise)
    return {"n": n, "width": width, "q_bar": sol.kernel_scale,
            "error_predicted": float(pred.variance.mean()) + noise,
            "error_measured": float(np.mean((data.preactivation_test - pred.mean) ** 2)) + noise,
            "glm_error": glm["test_error"], "glm_error_finite": float(lin.variance.mean()) + noise}

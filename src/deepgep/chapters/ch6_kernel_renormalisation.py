"""Chapter 6: kernel renormalisation at finite width (Pacelli et al. 2023; book
thm-kernel-renormalisation) on sampled instances: the renormalised predictor against the NNGP,
against the sampled posterior of the actual network, and against the GLM reduction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deepgep.simulate.teachers import deep_teacher_sample
from deepgep.support.stats import standard_error
from deepgep.support.threads import single_threaded_blas
from deepgep.theory.kernels import nngp_kernel
from deepgep.theory.renormalisation import (generalisation_error, glm_prediction, gp_predict,
                                            solve_renormalisation)

__all__ = ["Instance", "make_instance", "hidden_width_scan", "SampledPredictor", "summarise_samples",
           "teacher_instance", "sampling_comparison", "glm_comparison"]


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
def make_instance(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    activation: str = "erf",
    gain: float = 1.0,
    weight_variance: float = 1.0,
    method: str = "auto",
) -> Instance:
    """Compute the joint NNGP kernel of training and test inputs (:func:`nngp_kernel`) once."""
    X = np.asarray(X, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    if X.ndim != 2 or X_test.ndim != 2 or X.shape[1] != X_test.shape[1]:
        raise ValueError(f"X {X.shape} and X_test {X_test.shape} must be (n, N0) with the same N0")
    y = np.asarray(y, dtype=np.float64)
    y_test = np.asarray(y_test, dtype=np.float64)
    if y.shape != (X.shape[0],) or y_test.shape != (X_test.shape[0],):
        raise ValueError("y and y_test must have one entry per row of X and X_test")
    full = nngp_kernel(np.vstack([X, X_test]), activation, gain=gain, weight_variance=weight_variance,
                       method=method)
    P = X.shape[0]
    return Instance(X, y, X_test, y_test, full[:P, :P], full[P:, :P], full[P:, P:])


@single_threaded_blas
def hidden_width_scan(
    instance: Instance,
    widths: Sequence[int],
    *,
    temperature: float,
    readout_precision: float = 1.0,
) -> dict[str, np.ndarray]:
    """``Qbar`` and the test error (bias^2, variance, total) of the renormalised predictor for each
    hidden width ``N1``, with the NNGP (``N1 = infinity``) values in the ``*_nngp`` entries."""
    out: dict[str, list[float]] = {k: [] for k in ("N1", "alpha1", "q_bar", "bias2", "variance", "error")}
    nngp = gp_predict(instance.K, instance.K_cross, np.diag(instance.K_test), instance.y,
                      temperature=temperature, readout_precision=readout_precision)
    ref = generalisation_error(instance.y_test, nngp)
    for n1 in widths:
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
    """Reduce sampled outputs ``f`` of shape ``(n_chains, n_samples, n_test)`` (e.g. Chapter 5's
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


def teacher_instance(
    n0: int,
    width: int,
    n: int,
    n_test: int,
    rng: np.random.Generator,
    *,
    activation: str = "erf",
    readout_gain: float = 1.0,
    noise: float,
) -> Instance:
    """Gaussian inputs labelled by a one-hidden-layer teacher of :mod:`deepgep.simulate.teachers` (weights
    ``N(0, 1)``, ``y = rho a.phi(Wx/sqrt(N0))/sqrt(N1) + sqrt(noise) xi``), with the NNGP kernels
    of a student with the same architecture and unit prior variances. ``readout_gain = 1`` is the
    matched (Bayes-optimal) case; ``readout_gain < 1`` gives targets smaller than the prior's."""
    data = deep_teacher_sample((n0, width), activation, n, rng, rho=readout_gain, noise=noise, n_test=n_test)
    return make_instance(data.X, data.y, data.X_test, data.y_test, activation=activation)


@single_threaded_blas
def sampling_comparison(
    instance: Instance,
    predictions: np.ndarray,
    *,
    hidden_width: int,
    temperature: float,
    readout_precision: float = 1.0,
) -> dict[str, float]:
    """Theory (renormalised kernel), NNGP (``Qbar = 1``) and sampled networks on one instance.

    ``predictions``: sampled ``f`` on the test inputs, ``(n_chains, n_samples, n_test)``.
    Returns ``q_bar``; test-averaged posterior variance (``var_theory``, ``var_nngp``,
    ``var_sampled`` +- ``var_sampled_se``); root-mean-square distance of the theory's and the
    NNGP's posterior means to the sampled one (``mean_gap_theory``, ``mean_gap_nngp``) and the
    rms standard error of the sampled mean (``mean_se``); Gibbs test errors (``error_*``)."""
    sol = solve_renormalisation(instance.K, instance.y, hidden_widths=hidden_width, temperature=temperature,
                                readout_precision=readout_precision)
    diag = np.diag(instance.K_test)
    args = (instance.K, instance.K_cross, diag, instance.y)
    theory = gp_predict(*args, temperature=temperature, kernel_scale=sol.kernel_scale,
                        readout_precision=readout_precision)
    nngp = gp_predict(*args, temperature=temperature, readout_precision=readout_precision)
    s = summarise_samples(predictions, instance.y_test)
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    return {
        "N1": hidden_width, "q_bar": sol.kernel_scale,
        "var_theory": float(theory.variance.mean()), "var_nngp": float(nngp.variance.mean()),
        "var_sampled": s.average_variance, "var_sampled_se": s.average_variance_se,
        "mean_gap_theory": rms(theory.mean - s.mean), "mean_gap_nngp": rms(nngp.mean - s.mean),
        "mean_se": rms(s.mean_se),
        "error_theory": generalisation_error(instance.y_test, theory).total,
        "error_nngp": generalisation_error(instance.y_test, nngp).total,
        "error_sampled": s.error, "error_sampled_se": s.error_se,
    }


@single_threaded_blas
def glm_comparison(
    n0: int,
    *,
    alpha: float,
    alpha1: float,
    noise: float,
    n_seeds: int,
    n_test: int,
    rng: np.random.Generator,
    activation: str = "erf",
) -> dict[str, np.ndarray]:
    """The common instance of Chapters 1-3 and of the renormalisation theory (Chapter 6, part 4).

    A one-hidden-layer teacher of widths ``(N0, N1 = P/alpha1)``, ``P = alpha N0``, unit weight
    variances, label noise ``noise``; the student is the same architecture with the same priors
    at ``T = noise``, so its Gibbs posterior IS the Bayes posterior of Camilli et al. For each of
    ``n_seeds`` independent instances: ``q_bar`` (the renormalisation), the theory's predicted
    Bayes test error on a noisy label, ``mean_x var(x) + T`` (``error_predicted``), and the
    measured squared error of its posterior mean on ``n_test`` fresh noisy labels
    (``error_measured``). ``glm_error`` is the GLM reduction's Bayes-optimal error
    :func:`glm_prediction` (one number, repeated); ``glm_error_finite`` the exact Bayes error of
    the equivalent GLM on the same inputs, i.e. the GP with the linearised kernel
    ``kappa X X^T/N0 + gamma0 I`` and noise ``T`` (posterior variance + ``T``, averaged over the
    test inputs): it separates the finite-size fluctuations of the design from the theory."""
    n0 = int(n0)
    P = int(round(alpha * n0))
    width = int(round(P / alpha1))
    if n0 < 1 or P < 1 or width < 1:
        raise ValueError(f"sizes must be positive: N0 = {n0}, P = {P}, N1 = {width}")
    glm = glm_prediction(activation, noise=noise, alpha=P / n0)
    keys = ("q_bar", "error_predicted", "error_measured", "glm_error_finite")
    out: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(int(n_seeds)):
        inst = teacher_instance(n0, width, P, n_test, rng, activation=activation, noise=noise)
        sol = solve_renormalisation(inst.K, inst.y, hidden_widths=width, temperature=noise)
        pred = gp_predict(inst.K, inst.K_cross, np.diag(inst.K_test), inst.y, temperature=noise,
                          kernel_scale=sol.kernel_scale)
        out["q_bar"].append(sol.kernel_scale)
        out["error_predicted"].append(float(pred.variance.mean()) + noise)
        out["error_measured"].append(float(np.mean((inst.y_test - pred.mean) ** 2)))
        K_lin = glm["kappa"] * inst.X @ inst.X.T / n0
        K_lin[np.diag_indices_from(K_lin)] += glm["gamma0"]
        lin = gp_predict(K_lin, glm["kappa"] * inst.X_test @ inst.X.T / n0,
                         glm["kappa"] * np.sum(inst.X_test**2, axis=1) / n0 + glm["gamma0"], inst.y,
                         temperature=noise)
        out["glm_error_finite"].append(float(lin.variance.mean()) + noise)
    res = {k: np.array(v) for k, v in out.items()}
    res["glm_error"] = np.full(int(n_seeds), glm["test_error"])
    res["sizes"] = np.array([n0, P, width])
    return res

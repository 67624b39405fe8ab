"""The checks of the SMC evidence of :mod:`deepgep.simulate.evidence`: an independent estimator
(thermodynamic integration with the NUTS sampler of Chapter 5), the exact depth-0 comparison,
and the bias of ``ln Z-hat`` against the number of particles.

Thermodynamic integration (book eq-thermodynamic-integration). With ALL the weights
``theta = (W^1..W^L, a)`` explicit (no readout integrated out) and ``ell(theta) = ln p(y | X,
theta) = -(n/2) ln(2 pi Delta) - |y - f_theta(X)|^2 / (2 Delta)``,

    ln Z = int_0^1 E_beta[ell] d beta,    E_beta = expectation under prior x p(y|X,theta)^beta,

and the tempered posterior is the posterior of :class:`deepgep.simulate.posterior.NetworkPrior`
with likelihood variance ``Delta / beta``, sampled by :func:`deepgep.simulate.nuts.sample_posterior`
(JAX, BlackJAX NUTS): no code in common with the SMC besides the data. The ladder is
``beta_k = (k/K)^exponent`` (Friel & Pettitt 2008; dense near 0, where ``E_beta`` falls fast);
``beta_0 = 0`` is the prior, averaged over independent draws. The integral is the trapezoid rule
with its Euler-Maclaurin correction ``-sum_k (d beta_k)^2 / 12 (V_{k+1} - V_k)``, ``V_beta =
Var_beta(ell) = dE_beta/d beta`` (Friel, Hurn & Wyse 2014). Each ``E_beta`` carries a
batch-means standard error; the chains are independent, so the errors add in quadrature with
the trapezoid weights. The discretisation allowance is ``|I_K - I_{K/2}| / 15``, the difference
with the same corrected rule on every other point of the ladder (a rule of order four).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp
from tqdm import tqdm

from deepgep.simulate.evidence import check_architecture, deep_likelihood, tempered_smc
from deepgep.simulate.nuts import sample_posterior
from deepgep.simulate.posterior import NetworkPrior, PosteriorSamples
from deepgep.support.validation import check_count, check_design, check_generator, check_real, check_vector
from deepgep.theory.glm import linear_log_partition

__all__ = ["batch_means_error", "TIEstimate", "thermodynamic_integration", "corrected_trapezoid",
           "exact_depth0_check", "ti_check", "bias_table"]


def batch_means_error(values: np.ndarray, n_batches: int = 10) -> float:
    """Standard error of the mean of a correlated chain: the standard error of the means of
    ``n_batches`` consecutive batches (the remainder at the start is dropped)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    n_batches = check_count("n_batches", n_batches, 2)
    size = v.size // n_batches
    if size < 1:
        raise ValueError(f"need at least {n_batches} values for {n_batches} batches, got {v.size}")
    means = v[v.size - size * n_batches:].reshape(n_batches, size).mean(axis=1)
    return float(means.std(ddof=1) / math.sqrt(n_batches))


def corrected_trapezoid(betas: np.ndarray, means: np.ndarray, variances: np.ndarray) -> tuple[float, np.ndarray]:
    """``int E_beta d beta`` by the trapezoid rule plus ``-sum (d beta)^2 (V_{k+1} - V_k) / 12``,
    and the weights of ``means`` in it (for the standard error)."""
    db = np.diff(betas)
    weights = np.zeros(betas.size)
    weights[:-1] += 0.5 * db
    weights[1:] += 0.5 * db
    return float(weights @ means - np.sum(db * db * np.diff(variances)) / 12.0), weights


@dataclass(frozen=True)
class TIEstimate:
    """``log_evidence`` (corrected trapezoid) with its Monte-Carlo ``standard_error`` and the
    ``discretisation`` allowance; per temperature ``betas``, ``means`` and ``variances`` of
    ``ell`` and the ``errors`` of the means; ``n_gradient_evaluations`` of all the chains."""

    log_evidence: float
    standard_error: float
    discretisation: float
    betas: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    errors: np.ndarray
    n_gradient_evaluations: int


def _full_log_likelihood(samples: PosteriorSamples, X: np.ndarray, y: np.ndarray, noise: float) -> np.ndarray:
    residual = y - samples.predict(X).reshape(-1, X.shape[0])
    return -0.5 * (X.shape[0] * math.log(2.0 * math.pi * noise) + np.einsum("sn,sn->s", residual, residual) / noise)


def thermodynamic_integration(X: np.ndarray, y: np.ndarray, widths: Sequence[int], activation: str, noise: float,
                              rng: np.random.Generator, *, gain: float = 1.0, n_temperatures: int = 24,
                              exponent: float = 5.0, n_warmup: int = 200, n_samples: int = 400,
                              n_prior: int = 20000, n_batches: int = 10, progress: bool = False) -> TIEstimate:
    """``ln Z`` of the deep network of ``widths`` (``L >= 1``) on ``(X, y)`` by thermodynamic
    integration over ``n_temperatures + 1`` inverse temperatures (module docstring). One NUTS
    chain per ``beta > 0`` (``n_warmup`` adaptation steps, ``n_samples`` draws), each started
    at the last draw of the previous one; ``n_prior`` independent prior draws at ``beta = 0``.
    ``n_temperatures`` must be even (the discretisation allowance halves the ladder)."""
    widths = check_architecture(widths)
    if len(widths) < 2:
        raise ValueError("thermodynamic integration needs L >= 1 (depth 0 is exact: book eq-linear-evidence)")
    X = check_design(X)
    y = check_vector("y", y, X.shape[0], "one label per row")
    noise = check_real("noise", noise, positive=True)
    rng = check_generator(rng)
    K = check_count("n_temperatures", n_temperatures, 2)
    if K % 2:
        raise ValueError(f"n_temperatures must be even, got {K}")
    exponent = check_real("exponent", exponent, positive=True)
    betas = (np.arange(K + 1) / K) ** exponent

    prior = NetworkPrior(widths, activation, noise, gain=gain)
    batch = tuple(rng.standard_normal((1, check_count("n_prior", n_prior, 2)) + s) for s in prior.shapes)
    ell0 = _full_log_likelihood(PosteriorSamples(batch[:-1], batch[-1], prior, {}), X, y, noise)
    means, variances, errors = [ell0.mean()], [ell0.var(ddof=1)], [ell0.std(ddof=1) / math.sqrt(ell0.size)]
    init, evaluations = "prior", 0
    for beta in tqdm(betas[1:], desc="thermodynamic integration", disable=not progress, leave=False):
        tempered = NetworkPrior(widths, activation, noise / beta, gain=gain)
        run = sample_posterior(X, y, tempered, rng, n_chains=1, n_warmup=n_warmup, n_samples=n_samples, init=init)
        ell = _full_log_likelihood(run, X, y, noise)
        means.append(ell.mean())
        variances.append(ell.var(ddof=1))
        errors.append(batch_means_error(ell, n_batches))
        evaluations += run.diagnostics["n_gradient_evaluations"]
        init = run.draw(0, run.n_samples - 1)
    means, variances, errors = np.array(means), np.array(variances), np.array(errors)
    value, weights = corrected_trapezoid(betas, means, variances)
    coarse, _ = corrected_trapezoid(betas[::2], means[::2], variances[::2])
    return TIEstimate(value, float(np.sqrt(np.sum((weights * errors) ** 2))), abs(value - coarse) / 15.0,
                      betas, means, variances, errors, int(evaluations))


def exact_depth0_check(X: np.ndarray, y: np.ndarray, noise: float, rng: np.random.Generator, *,
                       n_particles: int = 128, n_runs: int = 8, **smc_options) -> dict[str, float]:
    """The SMC over the readout of the depth-0 model (:class:`~deepgep.simulate.evidence.ReadoutLikelihood`)
    against the exact ``ln N(y; 0, X X^T / d_0 + Delta I)`` (book eq-linear-evidence):
    ``exact``, ``estimate`` (``ln`` of the mean ``Z-hat``), ``mean_of_logs``, ``standard_error``
    (``sd / sqrt(n_runs)``), ``z = (estimate - exact) / standard_error``."""
    likelihood = deep_likelihood(X, y, (np.shape(X)[1],), "linear", noise)
    logs = np.array([tempered_smc(likelihood, n_particles, rng, **smc_options).log_evidence
                     for _ in range(check_count("n_runs", n_runs, 2))])
    exact = linear_log_partition(X, y, 1.0, noise)
    estimate = float(logsumexp(logs) - math.log(logs.size))
    se = float(logs.std(ddof=1) / math.sqrt(logs.size))
    return {"exact": exact, "estimate": estimate, "mean_of_logs": float(logs.mean()), "standard_error": se,
            "z": (estimate - exact) / se}


def ti_check(X: np.ndarray, y: np.ndarray, widths: Sequence[int], activation: str, noise: float,
             rng: np.random.Generator, *, gain: float = 1.0, n_particles: int = 128, n_runs: int = 4,
             smc_options: dict | None = None, **ti_options) -> dict[str, float]:
    """SMC (:func:`~deepgep.simulate.evidence.tempered_smc`, ``n_runs`` repeats) and
    :func:`thermodynamic_integration` on the same data: ``smc``, ``smc_se``, ``ti``, ``ti_se``,
    ``ti_discretisation``, ``z = (smc - ti) / sqrt(smc_se^2 + ti_se^2 + ti_discretisation^2)``
    and the work of each (``smc_evaluations``, ``ti_evaluations``)."""
    likelihood = deep_likelihood(X, y, widths, activation, noise, gain)
    runs = [tempered_smc(likelihood, n_particles, rng, **(smc_options or {}))
            for _ in range(check_count("n_runs", n_runs, 2))]
    logs = np.array([r.log_evidence for r in runs])
    smc, smc_se = float(logsumexp(logs) - math.log(logs.size)), float(logs.std(ddof=1) / math.sqrt(logs.size))
    ti = thermodynamic_integration(X, y, widths, activation, noise, rng, gain=gain, **ti_options)
    scale = math.sqrt(smc_se**2 + ti.standard_error**2 + ti.discretisation**2)
    return {"smc": smc, "smc_se": smc_se, "ti": ti.log_evidence, "ti_se": ti.standard_error,
            "ti_discretisation": ti.discretisation, "z": (smc - ti.log_evidence) / scale,
            "smc_evaluations": float(sum(r.n_likelihood_evaluations for r in runs)),
            "ti_evaluations": float(ti.n_gradient_evaluations)}


def bias_table(likelihood, rng: np.random.Generator, *, particles: Sequence[int] = (64, 128, 256, 512, 1024),
               n_repeats: int = 16, reference: float | None = None, progress: bool = False,
               **smc_options) -> dict[str, np.ndarray]:
    """The bias of ``ln Z-hat`` of one SMC run against the number of particles.

    ``n_repeats`` independent runs at each count of ``particles``. The reference ``ln Z`` is
    ``reference`` if given (the exact value at depth 0), else ``ln`` of the mean ``Z-hat`` of
    the runs at the largest count (bias ``~ -Var / (2 n_repeats)`` there; its error is that of
    those runs' mean of logs). Columns: ``particles``, ``mean_log`` (mean of ``ln Z-hat``),
    ``sd`` (its spread over runs), ``bias`` (``mean_log - reference``), ``bias_se``,
    ``jensen`` (``-sd^2 / 2``, the bias a log-normal ``Z-hat`` would have), ``evaluations`` and
    ``cpu_seconds`` (means per run), and ``reference``.
    """
    rng = check_generator(rng)
    n_repeats = check_count("n_repeats", n_repeats, 2)
    counts = sorted(check_count("particles", p, 2) for p in particles)
    logs, evaluations, cpu = [], [], []
    for N in tqdm(counts, desc="bias table", disable=not progress, leave=False):
        runs = [tempered_smc(likelihood, N, rng, **smc_options) for _ in range(n_repeats)]
        logs.append([r.log_evidence for r in runs])
        evaluations.append(np.mean([r.n_likelihood_evaluations for r in runs]))
        cpu.append(np.mean([r.cpu_seconds for r in runs]))
    logs = np.array(logs)
    mean, sd = logs.mean(axis=1), logs.std(axis=1, ddof=1)
    se = sd / math.sqrt(n_repeats)
    if reference is None:
        ref, ref_se = float(logsumexp(logs[-1]) - math.log(n_repeats)), float(se[-1])
    else:
        ref, ref_se = float(reference), 0.0
    return {"particles": np.array(counts), "mean_log": mean, "sd": sd, "bias": mean - ref,
            "bias_se": np.sqrt(se**2 + ref_se**2), "jensen": -0.5 * sd**2, "evaluations": np.array(evaluations),
            "cpu_seconds": np.array(cpu), "reference": np.full(len(counts), ref)}

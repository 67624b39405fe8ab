"""Chapter 3: the replica formula of the Bayes-optimal GLM checked at finite size: GAMP against
state evolution on sampled instances, and the concentration of the free entropy (Camilli et al.
2025, Theorem 2; book thm-concentration, eq-concentration) on the linear GLM, where
``log Z`` is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from deepgep.simulate.amp import gamp
from deepgep.simulate.teachers import sample_glm
from deepgep.support.stats import standard_error
from deepgep.support.validation import check_alpha, check_count, check_generator, check_real
from deepgep.theory.glm import linear_log_partition
from deepgep.theory.channels import make_channel
from deepgep.theory.state_evolution import bayes_optimal_curve, state_evolution_trajectory

__all__ = ["gamp_versus_state_evolution", "log_partition_variance_scan", "bayes_depth_curves"]


def gamp_versus_state_evolution(
    channel,
    kappa: float,
    alpha: float,
    d: int,
    n_seeds: int,
    n_iter: int,
    rng: np.random.Generator,
    *,
    output: str,
    gamma0: float = 0.0,
    noise: float = 0.0,
) -> dict[str, np.ndarray]:
    """GAMP on ``n_seeds`` independent GLM instances of size ``d``, ``n = alpha d``, drawn with
    :func:`deepgep.simulate.teachers.sample_glm` (``output`` "linear" or "sign", extra noise ``gamma0`` and
    label noise ``noise``, which ``channel`` must describe). Returns per iteration ``t = 0..n_iter``
    the mean MSE on ``a`` over instances, its standard error, and state evolution's ``1 - q_t``."""
    eta0 = math.sqrt(kappa)
    n = int(round(alpha * d))
    mse = np.empty((n_seeds, n_iter + 1))
    for s in range(n_seeds):
        data = sample_glm(n, d, rng, eta0=eta0, gamma0=gamma0, noise=noise, output=output)
        res = gamp(data.X, data.y, channel, eta0, n_iter=n_iter, tol=0.0, teacher=data.a)
        mse[s] = res.mse
    return {
        "iteration": np.arange(n_iter + 1),
        "mse": mse.mean(axis=0),
        "mse_se": standard_error(mse) if n_seeds > 1 else np.zeros(n_iter + 1),
        "state_evolution": 1.0 - state_evolution_trajectory(channel, kappa, alpha, n_iter),
    }


def log_partition_variance_scan(
    ns: Sequence[int],
    alpha: float,
    kappa: float,
    total_noise: float,
    n_samples: int,
    rng: np.random.Generator,
    *,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Sample variance of ``(1/n) log Z`` against ``n`` for the linear GLM (Theorem 2).

    Theorem 2 of Camilli et al. (2025) bounds ``Var((1/n) log Z) <= C (1/n + 1/d_m)``. For each
    ``n`` in ``ns`` (with ``d = round(n / alpha)``) this draws ``n_samples`` independent datasets
    with :func:`sample_glm` (``eta0 = sqrt(kappa)``, ``gamma0 = 0``, ``noise = total_noise``,
    linear output; ``rng`` consumed in the order of ``ns``) and evaluates
    :func:`linear_log_partition` on each.

    For the linear channel ``y^T C^{-1} y`` is exactly chi-squared with ``n`` degrees of freedom
    given ``X``, so ``Var((1/n) log Z) = 1/(2n) + Var(log det C)/(4 n^2)``: the leading term is
    ``1/(2n)``.

    Returns
    -------
    dict of float arrays, one entry per ``n``:
        ``"n"``, ``"d"``; ``"mean"`` and ``"mean_se"`` (its standard error) of ``(1/n) log Z``;
        ``"variance"`` (``ddof=1``) and ``"variance_se"`` = ``variance * sqrt(2/(N - 1))``, the
        standard error of a sample variance for Gaussian samples.

    Raises
    ------
    TypeError
        ``rng`` is not a ``numpy.random.Generator``.
    ValueError
        An ``n`` not a positive integer, ``alpha <= 0``, ``d`` rounding to 0, ``n_samples < 2``,
        ``kappa <= 0``, ``total_noise <= 0``, or any of them non-finite.
    """
    ns_checked = [check_count("each n", n) for n in ns]
    if not ns_checked:
        raise ValueError("ns must contain at least one sample size")
    alpha = check_alpha(alpha)
    kappa = check_real("kappa", kappa, positive=True)
    total_noise = check_real("total_noise", total_noise, positive=True)
    n_samples = check_count("n_samples", n_samples)
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 for a variance, got {n_samples}")
    rng = check_generator(rng)
    ds = [round(n / alpha) for n in ns_checked]
    if min(ds) < 1:
        raise ValueError(f"d = round(n / alpha) must be >= 1, got {ds} for ns={ns_checked}, alpha={alpha}")

    eta0 = math.sqrt(kappa)
    means, mean_ses, variances = [], [], []
    for n, d in tqdm(list(zip(ns_checked, ds)), desc="Var (1/n) log Z", disable=not progress):
        values = np.empty(n_samples)
        for s in range(n_samples):
            data = sample_glm(n, d, rng, eta0=eta0, gamma0=0.0, noise=total_noise, output="linear")
            values[s] = linear_log_partition(data.X, data.y, kappa, total_noise) / n
        means.append(values.mean())
        mean_ses.append(standard_error(values))
        variances.append(values.var(ddof=1))
    variance = np.array(variances)
    return {
        "n": np.array(ns_checked, dtype=np.int64),
        "d": np.array(ds, dtype=np.int64),
        "mean": np.array(means),
        "mean_se": np.array(mean_ses),
        "variance": variance,
        "variance_se": variance * math.sqrt(2.0 / (n_samples - 1)),
    }


def bayes_depth_curves(models: dict[int, tuple[float, float]], alphas: Sequence[float],
                       noise: float) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """Bayes-optimal curves (:func:`deepgep.theory.state_evolution.bayes_optimal_curve`) of the
    equivalent GLM ``models[depth] = (kappa, gamma0)`` of each depth, keyed ``(task, depth)``:
    ``"regression"`` (linear channel, label noise ``noise``) with ``relative_error`` the test
    error over the label variance ``kappa + gamma0 + noise``, and ``"classification"`` (sign
    channel, no label noise) with ``relative_error`` the error rate itself."""
    curves = {}
    for depth, (kappa, gamma0) in models.items():
        reg = bayes_optimal_curve(make_channel("linear", gamma0=gamma0, noise=noise), kappa, alphas)
        reg["relative_error"] = reg["test_error"] / (kappa + gamma0 + noise)
        cls = bayes_optimal_curve(make_channel("sign", gamma0=gamma0), kappa, alphas)
        cls["relative_error"] = cls["test_error"]
        curves["regression", depth], curves["classification", depth] = reg, cls
    return curves

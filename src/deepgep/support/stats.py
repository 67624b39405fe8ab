"""Standard errors, pooled means, fits and goodness-of-fit statistics: how the book turns
Monte Carlo samples into numbers with error bars.

One home for the standard error of a mean, ``std(ddof=1) / sqrt(m)`` (:func:`standard_error`),
used by every chapter; delta-method errors of kurtosis and covariance estimates; the Kolmogorov-Smirnov statistic and
Pearson's chi-square. Fits live in :mod:`deepgep.support.fits`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from deepgep.support.validation import check_count

__all__ = [
    "standard_error",
    "mean_and_error",
    "pooled_mean",
    "inverse_variance_mean",
    "mean_estimate",
    "kurtosis_estimate",
    "scale_kurtosis_estimate",
    "covariance_estimate",
    "excess_kurtosis",
    "KOLMOGOROV_MEAN",
    "kolmogorov_mean",
    "pearson_z",
    "ks_critical_value",
    "ks_statistic",
]


def standard_error(values, axis: int = 0):
    """Standard error of the mean of independent samples along ``axis``:
    ``std(ddof=1) / sqrt(m)``, ``m`` the number of samples (a float for a 1-d input)."""
    v = np.asarray(values, dtype=np.float64)
    m = v.shape[axis]
    if m < 2:
        raise ValueError(f"a standard error needs at least two samples, got {m}")
    se = v.std(axis=axis, ddof=1) / math.sqrt(m)
    return float(se) if np.ndim(se) == 0 else se


def mean_and_error(values, axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ``axis`` and its standard error (zero when there is a single sample)."""
    v = np.asarray(values, dtype=float)
    m = v.mean(axis=axis)
    se = standard_error(v, axis) if v.shape[axis] > 1 else np.zeros_like(m)
    return m, se


def pooled_mean(values) -> tuple[float, float]:
    """Mean of independent per-instance values and its standard error."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size < 2 or not np.all(np.isfinite(v)):
        raise ValueError(f"need at least two finite values, got {v.size}")
    return float(v.mean()), standard_error(v)


def inverse_variance_mean(values, errors) -> tuple[float, float]:
    """The inverse-variance weighted mean of independent estimates ``values`` with standard
    errors ``errors``, and its standard error ``(sum errors^-2)^(-1/2)`` (no inflation by the
    scatter: :func:`deepgep.support.fits.fit_constant` inflates by chi-square)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    e = np.asarray(errors, dtype=np.float64).ravel()
    if v.size == 0 or v.shape != e.shape or not (np.all(np.isfinite(v)) and np.all(e > 0) and np.all(np.isfinite(e))):
        raise ValueError(f"need as many finite values as positive finite errors, got {v.size} and {e.size}")
    w = e ** -2.0
    return float(np.sum(w * v) / np.sum(w)), float(np.sum(w) ** -0.5)


def mean_estimate(x) -> tuple[float, float]:
    """Sample mean and its standard error."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < 2:
        raise ValueError(f"need at least two samples, got {x.size}")
    return float(x.mean()), standard_error(x)


def kurtosis_estimate(f) -> tuple[float, float]:
    """Sample kurtosis ``mean(f^4) / mean(f^2)^2`` of centred outputs (the mean is zero by
    symmetry) and its delta-method standard error (influence function
    ``f^4 / m2^2 - 2 m4 f^2 / m2^3``)."""
    f = np.asarray(f, dtype=np.float64).ravel()
    if f.size < 2:
        raise ValueError(f"need at least two samples, got {f.size}")
    f2 = f * f
    m2, m4 = f2.mean(), (f2 * f2).mean()
    influence = f2 * f2 / m2**2 - 2.0 * m4 * f2 / m2**3
    return float(m4 / m2**2), standard_error(influence)


def scale_kurtosis_estimate(log_scale) -> tuple[float, float]:
    """``3 mean(s^2) / mean(s)^2`` from sampled scales ``s = exp(log_scale)`` (the conditional
    expectation of the sample kurtosis of a Gaussian scale mixture given ``s``) and its
    delta-method standard error."""
    s = np.exp(np.asarray(log_scale, dtype=np.float64).ravel())
    if s.size < 2:
        raise ValueError(f"need at least two samples, got {s.size}")
    m1, m2 = s.mean(), (s * s).mean()
    influence = 3.0 * (s * s / m1**2 - 2.0 * m2 * s / m1**3)
    return float(3.0 * m2 / m1**2), standard_error(influence)


def covariance_estimate(u, v) -> tuple[float, float]:
    """Sample covariance ``mean(u v) - mean(u) mean(v)`` and its standard error (influence
    function ``(u - mean u)(v - mean v)``)."""
    u = np.asarray(u, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    if u.shape != v.shape or u.size < 2:
        raise ValueError(f"u and v must have the same length >= 2, got {u.size} and {v.size}")
    prod = (u - u.mean()) * (v - v.mean())
    return float(prod.mean()), standard_error(prod)


def excess_kurtosis(y) -> float:
    """``E(y - m)^4 / Var(y)^2 - 3``: zero for a Gaussian."""
    y = np.asarray(y, dtype=np.float64)
    c = y - y.mean()
    v = float(np.mean(c * c))
    return float(np.mean(c**4)) / (v * v) - 3.0


#: Mean of the Kolmogorov distribution, ``sqrt(pi / 2) ln 2``: the limit of ``E sqrt(n) D_n``
#: for the KS statistic ``D_n`` of ``n`` samples against their own law.
KOLMOGOROV_MEAN = math.sqrt(math.pi / 2.0) * math.log(2.0)


def kolmogorov_mean(n_samples: int) -> float:
    """``E sqrt(n) D_n`` under the true law to first order: ``KOLMOGOROV_MEAN - 1/(6 sqrt(n))``
    (the first correction of the law of ``sqrt(n) D_n``, ``P(sqrt(n) D_n <= x) ~ K(x + 1/(6
    sqrt(n)))``)."""
    return KOLMOGOROV_MEAN - 1.0 / (6.0 * math.sqrt(check_count("n_samples", n_samples)))


def pearson_z(counts, probabilities) -> tuple[float, float]:
    """Pearson's ``X^2 = sum_j (C_j - n p_j)^2 / (n p_j)`` of multinomial counts, and
    ``z = (X^2 - (K - 1)) / sd``: under the law ``p``, ``E X^2 = K - 1`` and
    ``Var X^2 = 2 (K - 1) + (sum_j 1/p_j - K^2 - 2K + 2) / n`` exactly (``K`` bins)."""
    counts, p = np.asarray(counts, dtype=float), np.asarray(probabilities, dtype=float)
    n, k = counts.sum(), counts.size
    x2 = float(np.sum((counts - n * p) ** 2 / (n * p)))
    var = 2.0 * (k - 1) + (np.sum(1.0 / p) - k * k - 2 * k + 2) / n
    return x2, (x2 - (k - 1)) / math.sqrt(var)


def ks_critical_value(n_samples: int, level: float) -> float:
    """The exact ``1 - level`` quantile of the one-sample Kolmogorov-Smirnov statistic for
    ``n_samples`` samples (``scipy.stats.kstwo``): a correct CDF exceeds it with probability
    ``level``."""
    n_samples = check_count("n_samples", n_samples)
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(stats.kstwo.ppf(1.0 - float(level), n_samples))


def ks_statistic(samples, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    """``sup |F_n - F|`` between the empirical CDF of ``samples`` and a vectorised ``cdf``."""
    x = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    if x.size < 1 or not np.all(np.isfinite(x)):
        raise ValueError("samples must be a non-empty finite array")
    F = np.asarray(cdf(x), dtype=np.float64)
    i = np.arange(1, x.size + 1)
    return float(max(np.max(i / x.size - F), np.max(F - (i - 1) / x.size)))

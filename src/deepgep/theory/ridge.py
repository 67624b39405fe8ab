"""Asymptotic test errors of ridge regression on the equivalent GLM (random-matrix formulas).

Data: ``x ~ N(0, I_d)``, ``z = eta0 a.x / sqrt(d)`` with ``a ~ N(0, I_d)`` (variance ``kappa =
eta0^2``), labels from a channel. Ridge: ``w = argmin |y - X w / sqrt(d)|^2 + lam |w|^2``
(:func:`deepgep.estimators.ridge`), predictions ``x.w / sqrt(d)``.

Write ``F = X / sqrt(d)``: the spectrum of ``F^T F = X^T X / d`` tends to the Marchenko-Pastur law
of ratio ``alpha = n / d`` and mean ``alpha``, whose Stieltjes transform at ``-lam``,
``g = lim (1/d) tr (F^T F + lam)^{-1}``, solves ``lam g^2 + (lam - 1 + alpha) g - 1 = 0``.
For labels ``y = b z + e`` with ``e`` uncorrelated with ``x`` of variance ``v`` (exact for the
linear channel; for other channels ``b = E[y z] / kappa`` and ``v = E y^2 - b^2 kappa``, the
Gaussian-equivalent linear part, exact in the proportional limit), with ``s = b eta0``:

    |w - s a|^2 / d  ->  s^2 lam^2 g'  +  v (g - lam g'),
    w . a / d        ->  s (1 - lam g),

``g' = (g^2 + g) / (2 lam g + lam - 1 + alpha)`` the derivative of the transform. At
``lam* = noise / kappa`` on the linear channel this is the Bayes error (SCIENCE.md section 4),
which the tests check.
"""

from __future__ import annotations

import math

from deepgep.channels import check_kappa
from deepgep.state_evolution import check_alpha


def marchenko_pastur_transform(alpha: float, lam: float) -> tuple[float, float]:
    """``(g, g')`` at ``-lam`` for ``X^T X / d``, ``X`` of shape ``n x d``, ``alpha = n / d``."""
    alpha = check_alpha(alpha)
    if not (math.isfinite(lam) and lam > 0.0):
        raise ValueError(f"lam must be positive and finite, got {lam!r}")
    c = lam - 1.0 + alpha
    g = (-c + math.sqrt(c * c + 4.0 * lam)) / (2.0 * lam)
    dg = (g * g + g) / (2.0 * lam * g + c)
    return g, dg


def _check_noise(noise: float) -> float:
    if not (math.isfinite(noise) and noise >= 0.0):
        raise ValueError(f"noise must be a non-negative variance, got {noise!r}")
    return float(noise)


def ridge_regression_error(kappa: float, noise: float, alpha: float, lam: float) -> float:
    """Test MSE of ridge on ``y = z + sqrt(noise) xi`` (``noise = gamma0 + Delta``):
    ``noise + kappa lam^2 g' + noise (g - lam g')``."""
    kappa, noise = check_kappa(kappa), _check_noise(noise)
    g, dg = marchenko_pastur_transform(alpha, lam)
    return noise + kappa * lam * lam * dg + noise * (g - lam * dg)


def ridge_overlaps(kappa: float, alpha: float, lam: float, b: float, v: float) -> tuple[float, float]:
    """``(m, Q) = (w.a / d, |w|^2 / d)`` for labels ``y = b z + e``, ``Var e = v`` (module docstring)."""
    kappa = check_kappa(kappa)
    g, dg = marchenko_pastur_transform(alpha, lam)
    s = b * math.sqrt(kappa)
    m = s * (1.0 - lam * g)
    err = s * s * lam * lam * dg + _check_noise(v) * (g - lam * dg)  # |w - s a|^2 / d
    Q = err + 2.0 * s * m - s * s
    return m, Q


def ridge_classification_error(kappa: float, noise: float, alpha: float, lam: float) -> float:
    """Test error of ``sign(x.w)`` for ridge trained on ``y = sign(z + sqrt(noise) xi)``.

    The labels' linear part: ``b = E[y z] / kappa = sqrt(2 / (pi (kappa + noise)))`` and
    ``v = 1 - b^2 kappa``. With ``m``, ``Q`` from :func:`ridge_overlaps` and the prediction's
    correlation with ``z + sqrt(noise) xi``, ``c = sqrt(kappa) m / sqrt(Q (kappa + noise))``, the
    error is ``arccos(c) / pi``.
    """
    kappa, noise = check_kappa(kappa), _check_noise(noise)
    b = math.sqrt(2.0 / (math.pi * (kappa + noise)))
    m, Q = ridge_overlaps(kappa, alpha, lam, b, 1.0 - b * b * kappa)
    c = math.sqrt(kappa) * m / math.sqrt(Q * (kappa + noise))
    return math.acos(max(-1.0, min(1.0, c))) / math.pi


#: Search interval of the optimal ridge penalty (log10 lambda).
_LOG_LAMBDA_RANGE = (-6.0, 4.0)


def optimal_ridge_classification(kappa: float, noise: float, alpha: float) -> tuple[float, float]:
    """``(lam_opt, error)``: the ridge penalty minimising :func:`ridge_classification_error`
    (bounded scalar minimisation in ``log10 lam`` over ``[1e-6, 1e4]``, to 1e-10 in the log)."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda t: ridge_classification_error(kappa, noise, alpha, 10.0**t),
                          bounds=_LOG_LAMBDA_RANGE, method="bounded", options={"xatol": 1e-10})
    if not res.success:
        raise RuntimeError(f"optimal ridge penalty not found: {res.message}")
    return 10.0**res.x, float(res.fun)

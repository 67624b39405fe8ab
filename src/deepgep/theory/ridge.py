"""Ridge regression on the equivalent GLM: the Bayes-optimal penalty and the asymptotic test
errors at any penalty (random-matrix formulas, book eq-ridge-asymptotics, eq-ridge-bayes).

Data: ``x ~ N(0, I_d)``, ``z = eta0 a.x / sqrt(d)`` with ``a ~ N(0, I_d)`` (variance ``kappa =
eta0^2``), labels from a channel. Ridge: ``w = argmin |y - X w / sqrt(d)|^2 + lam |w|^2``
(:func:`deepgep.simulate.estimators.ridge`), predictions ``x.w / sqrt(d)``.

Write ``F = X / sqrt(d)``: the spectrum of ``F^T F = X^T X / d`` tends to the Marchenko-Pastur law
of ratio ``alpha = n / d`` and mean ``alpha``, whose Stieltjes transform at ``-lam``,
``g = lim (1/d) tr (F^T F + lam)^{-1}``, solves ``lam g^2 + (lam - 1 + alpha) g - 1 = 0``.
For labels ``y = b z + e`` with ``e`` uncorrelated with ``x`` of variance ``v`` (exact for the
linear channel; for other channels ``b = E[y z] / kappa`` and ``v = E y^2 - b^2 kappa``, the
Gaussian-equivalent linear part, exact in the proportional limit), with ``s = b eta0``:

    |w - s a|^2 / d  ->  s^2 lam^2 g'  +  v (g - lam g'),
    w . a / d        ->  s (1 - lam g),

``g' = (g^2 + g) / (2 lam g + lam - 1 + alpha)`` the derivative of the transform. At
``lam* = total_noise / kappa`` (:func:`bayes_ridge_lambda`) on the linear channel this is the
Bayes error (book eq-linear-closed-form), which the tests check.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy.optimize import minimize_scalar

from deepgep.support.validation import check_alpha, check_kappa, check_nonzero, check_real

__all__ = ["LOG_LAMBDA_RANGE", "bayes_ridge_lambda", "marchenko_pastur_transform",
           "ridge_regression_error", "ridge_overlaps", "ridge_classification_error",
           "optimal_penalty", "optimal_ridge_regression", "optimal_ridge_classification"]

#: Search interval (log10 lambda) of the numerical minimisation of a ridge error over lambda.
LOG_LAMBDA_RANGE = (-6.0, 4.0)
#: Tolerance (in log10 lambda) of that minimisation.
LOG_LAMBDA_TOLERANCE = 1e-10


def bayes_ridge_lambda(eta0: float, gamma0: float, noise: float) -> float:
    """``lam* = (gamma0 + Delta) / eta0^2`` (book eq-ridge-bayes): ridge on ``X^0`` with ``lam*``
    is the Bayes posterior mean of the linear GLM, scaled by ``eta0``.

    Raises ``ValueError`` for ``eta0`` zero or non-finite, ``gamma0`` or ``noise`` negative or
    non-finite, or ``gamma0 + noise = 0`` (noiseless: ``lam* = 0``, not a ridge problem).
    """
    eta0 = check_nonzero("eta0", eta0)
    total = check_real("gamma0", gamma0) + check_real("noise", noise)
    if total == 0.0:
        raise ValueError("gamma0 + noise = 0: the Bayes-optimal penalty is 0 (interpolation), not ridge")
    return total / (eta0 * eta0)


def marchenko_pastur_transform(alpha: float, lam: float) -> tuple[float, float]:
    """``(g, g')`` at ``-lam`` for ``X^T X / d``, ``X`` of shape ``n x d``, ``alpha = n / d``."""
    alpha = check_alpha(alpha)
    lam = check_real("lam", lam, positive=True)
    c = lam - 1.0 + alpha
    g = (-c + math.sqrt(c * c + 4.0 * lam)) / (2.0 * lam)
    dg = (g * g + g) / (2.0 * lam * g + c)
    return g, dg


def ridge_regression_error(kappa: float, total_noise: float, alpha: float, lam: float) -> float:
    """Test MSE of ridge on ``y = z + sqrt(total_noise) xi`` (``total_noise = gamma0 + Delta``):
    ``total_noise + kappa lam^2 g' + total_noise (g - lam g')``."""
    kappa, noise = check_kappa(kappa), check_real("total_noise", total_noise)
    g, dg = marchenko_pastur_transform(alpha, lam)
    return noise + kappa * lam * lam * dg + noise * (g - lam * dg)


def ridge_overlaps(kappa: float, alpha: float, lam: float, b: float, v: float) -> tuple[float, float]:
    """``(m, Q) = (w.a / d, |w|^2 / d)`` for labels ``y = b z + e``, ``Var e = v`` (module docstring)."""
    kappa = check_kappa(kappa)
    g, dg = marchenko_pastur_transform(alpha, lam)
    s = b * math.sqrt(kappa)
    m = s * (1.0 - lam * g)
    err = s * s * lam * lam * dg + check_real("v", v) * (g - lam * dg)  # |w - s a|^2 / d
    Q = err + 2.0 * s * m - s * s
    return m, Q


def ridge_classification_error(kappa: float, total_noise: float, alpha: float, lam: float) -> float:
    """Test error of ``sign(x.w)`` for ridge trained on ``y = sign(z + sqrt(total_noise) xi)``.

    The labels' linear part: ``b = E[y z] / kappa = sqrt(2 / (pi (kappa + noise)))`` and
    ``v = 1 - b^2 kappa``. With ``m``, ``Q`` from :func:`ridge_overlaps` and the prediction's
    correlation with ``z + sqrt(noise) xi``, ``c = sqrt(kappa) m / sqrt(Q (kappa + noise))``, the
    error is ``arccos(c) / pi``.
    """
    kappa, noise = check_kappa(kappa), check_real("total_noise", total_noise)
    b = math.sqrt(2.0 / (math.pi * (kappa + noise)))
    m, Q = ridge_overlaps(kappa, alpha, lam, b, 1.0 - b * b * kappa)
    c = math.sqrt(kappa) * m / math.sqrt(Q * (kappa + noise))
    return math.acos(max(-1.0, min(1.0, c))) / math.pi


def optimal_penalty(error: Callable[[float], float]) -> tuple[float, float]:
    """``(lam_opt, error(lam_opt))``: bounded scalar minimisation of ``error(lam)`` in
    ``log10 lam`` over :data:`LOG_LAMBDA_RANGE`, to :data:`LOG_LAMBDA_TOLERANCE` in the log."""
    res = minimize_scalar(lambda t: error(10.0**t), bounds=LOG_LAMBDA_RANGE, method="bounded",
                          options={"xatol": LOG_LAMBDA_TOLERANCE})
    if not res.success:
        raise RuntimeError(f"optimal ridge penalty not found: {res.message}")
    return 10.0**res.x, float(res.fun)


def optimal_ridge_regression(kappa: float, total_noise: float, alpha: float) -> tuple[float, float]:
    """``(lam_opt, error)`` minimising :func:`ridge_regression_error` numerically: independent of
    the closed form ``lam* = total_noise / kappa``, so ``lam_opt == lam*`` and ``error == Bayes``
    are checks."""
    return optimal_penalty(lambda lam: ridge_regression_error(kappa, total_noise, alpha, lam))


def optimal_ridge_classification(kappa: float, total_noise: float, alpha: float) -> tuple[float, float]:
    """``(lam_opt, error)``: the ridge penalty minimising :func:`ridge_classification_error`."""
    return optimal_penalty(lambda lam: ridge_classification_error(kappa, total_noise, alpha, lam))

"""Finite-size extrapolation of Monte Carlo estimates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Extrapolation:
    """Weighted least-squares fit ``value(d) = limit + slope / d``."""

    limit: float
    limit_se: float
    slope: float
    slope_se: float
    chi2_per_dof: float


def inverse_size_extrapolation(sizes: np.ndarray, values: np.ndarray, errors: np.ndarray) -> Extrapolation:
    """Fit ``values = limit + slope / sizes`` with weights ``1 / errors^2``.

    The standard errors of the parameters come from the weighted normal equations (they assume
    the given ``errors`` are the true standard deviations; ``chi2_per_dof`` near 1 says they are).
    """
    d = np.asarray(sizes, dtype=float)
    y = np.asarray(values, dtype=float)
    e = np.asarray(errors, dtype=float)
    if not (d.shape == y.shape == e.shape) or d.size < 3:
        raise ValueError("need at least three sizes with one value and one error each")
    if np.any(e <= 0) or np.any(d <= 0):
        raise ValueError("sizes and errors must be positive")
    A = np.vstack([np.ones_like(d), 1.0 / d]).T / e[:, None]
    b = y / e
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    resid = b - A @ coef
    chi2 = float(resid @ resid) / (d.size - 2)
    return Extrapolation(float(coef[0]), float(np.sqrt(cov[0, 0])), float(coef[1]),
                         float(np.sqrt(cov[1, 1])), chi2)

"""Matrix distances, spectra and rates: the diagnostics of the Gaussian-equivalence checks."""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh


def gram(X: np.ndarray) -> np.ndarray:
    """``X X^T / d`` for ``X`` of shape ``n x d`` (samples as rows)."""
    X = np.asarray(X, dtype=np.float64)
    return (X @ X.T) / X.shape[1]


def operator_norm(A: np.ndarray) -> float:
    """Spectral norm of a symmetric matrix: the largest ``|eigenvalue|``."""
    ev = eigh(np.asarray(A, dtype=np.float64), eigvals_only=True, check_finite=True)
    return float(max(abs(ev[0]), abs(ev[-1])))


def relative_operator_distance(A: np.ndarray, B: np.ndarray) -> float:
    """``||A - B||_op / ||B||_op`` for symmetric ``A``, ``B``."""
    return operator_norm(np.asarray(A) - np.asarray(B)) / operator_norm(B)


def eigenvalues(A: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of a symmetric matrix."""
    return eigh(np.asarray(A, dtype=np.float64), eigvals_only=True)


def spectrum_quantiles(ev: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Empirical quantiles of a spectrum at the probabilities ``probs``."""
    return np.quantile(np.asarray(ev, dtype=np.float64), probs)


def loglog_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of ``log y`` against ``log x`` and its standard error."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if lx.size < 3:
        raise ValueError("need at least three points to fit a slope with an error")
    A = np.vstack([lx, np.ones_like(lx)]).T
    coef, res, *_ = np.linalg.lstsq(A, ly, rcond=None)
    dof = lx.size - 2
    sigma2 = float(res[0]) / dof if res.size else 0.0
    cov = sigma2 * np.linalg.inv(A.T @ A)
    return float(coef[0]), float(np.sqrt(cov[0, 0]))

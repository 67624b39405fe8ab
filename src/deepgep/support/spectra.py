"""Matrix distances, spectra and rates: the diagnostics of the Gaussian-equivalence checks."""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh

__all__ = ["gram", "operator_norm", "relative_operator_distance", "eigenvalues", "spectrum_quantiles",
           "spectral_distance"]


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


def spectral_distance(ev_a: np.ndarray, ev_b: np.ndarray) -> float:
    """Wasserstein-1 distance between two spectra of equal size, divided by the mean of ``ev_a``.

    For two empirical measures with the same number of atoms, W1 is the mean absolute
    difference of the sorted eigenvalues.
    """
    a, b = np.sort(ev_a), np.sort(ev_b)
    if a.shape != b.shape:
        raise ValueError("spectra must have the same size")
    return float(np.mean(np.abs(a - b)) / np.mean(a))

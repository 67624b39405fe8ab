"""Conjugate kernels of a layer and their linearisation.

Given the Gram matrix ``G = X X^T / d`` of the inputs of a layer (samples as rows), the width
average of the next layer's Gram matrix is the conjugate (NNGP) kernel

    K(G)_ij = E phi(u_i) phi(u_j),   (u_i, u_j) ~ N(0, [[G_ii, G_ij], [G_ij, G_jj]]),

and Theorem 1 of Camilli et al. (2025) replaces it by its linearisation ``rho^2 G + eps I``
(the kernel form of the statement; El Karoui 2010 proves the operator-norm convergence for
kernel random matrices in the proportional regime). Off the diagonal we evaluate ``K`` by
Mehler's formula ``sum_k h_k(G_ii) h_k(G_jj) r_ij^k`` with ``h_k = c_k / sqrt(k!)`` and
``r_ij = G_ij / sqrt(G_ii G_jj)``; on the diagonal by 1-D quadrature. The truncation error of
each entry is bounded by Cauchy-Schwarz and Parseval, ``sum_{k > K} h_k^2 = E phi^2 - sum_{k<=K}
h_k^2``, and checked.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deepgep.activations import Activation
from deepgep.hermite import gaussian_moments, normalized_hermite_table

#: Most terms of Mehler's series that :func:`conjugate_kernel` will use.
MAX_MEHLER_TERMS = 400
#: Largest admissible bound on the truncation error of one kernel entry.
MEHLER_TOLERANCE = 1e-10


class TruncationError(RuntimeError):
    """Mehler's series cannot reach the tolerance with the requested number of terms."""


@njit(cache=True)
def _mehler_sum(H, R, diag):
    """K_ij = sum_k H[i, k] H[j, k] R_ij^k for i != j (Horner in R_ij); K_ii = diag_i."""
    n, kp1 = H.shape
    K = np.empty((n, n))
    for i in range(n):
        K[i, i] = diag[i]
        for j in range(i + 1, n):
            r = R[i, j]
            acc = H[i, kp1 - 1] * H[j, kp1 - 1]
            for k in range(kp1 - 2, -1, -1):
                acc = acc * r + H[i, k] * H[j, k]
            K[i, j] = acc
            K[j, i] = acc
    return K


def conjugate_kernel(
    G: np.ndarray,
    activation: Activation,
    n_terms: int | None = None,
    n_nodes: int | None = None,
) -> np.ndarray:
    """The kernel matrix ``K(G)_ij = E phi(u_i) phi(u_j)`` for a Gram matrix ``G`` (n x n).

    ``n_terms=None`` picks the number of terms from the largest off-diagonal correlation so
    that the remainder bound ``E phi^2 |r|^{K+1}`` is below ``MEHLER_TOLERANCE`` (at most
    ``MAX_MEHLER_TERMS``). Raises :class:`TruncationError` if the rigorous bound on the
    series' remainder exceeds ``MEHLER_TOLERANCE`` for some entry.
    """
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] != G.shape[1]:
        raise ValueError(f"G must be a square matrix, got shape {G.shape}")
    s = np.diag(G).copy()
    if np.any(s <= 0):
        raise ValueError("G must have a positive diagonal")
    second = np.array([gaussian_moments(activation, v, n_nodes).second for v in s])
    inv_sqrt = 1.0 / np.sqrt(s)
    R = G * inv_sqrt[:, None] * inv_sqrt[None, :]
    off = ~np.eye(s.size, dtype=bool)
    if n_terms is None:
        n_terms = _terms_needed(float(np.abs(R[off]).max(initial=0.0)), float(second.max()))
    k_max = int(n_terms) - 1
    H = normalized_hermite_table(activation, s, k_max, n_nodes)
    tail = np.sqrt(np.maximum(second - np.sum(H * H, axis=1), 0.0))
    bound = (np.outer(tail, tail) * np.abs(R) ** (k_max + 1))[off]
    worst = float(bound.max()) if bound.size else 0.0
    if not worst <= MEHLER_TOLERANCE:  # also catches a NaN bound
        raise TruncationError(
            f"Mehler series with {n_terms} terms may be off by {worst:.1e} (max |r| = "
            f"{np.abs(R[off]).max():.2f}); pass a larger n_terms"
        )
    return _mehler_sum(np.ascontiguousarray(H), np.ascontiguousarray(R), second)


def _terms_needed(r_max: float, second_max: float) -> int:
    """Smallest K + 1 with ``second_max r_max^{K+1} <= MEHLER_TOLERANCE / 10`` (capped)."""
    if r_max >= 1.0:
        raise TruncationError("the Gram matrix has two perfectly correlated samples (|r| = 1)")
    if r_max == 0.0:
        return 2
    needed = math.log(MEHLER_TOLERANCE / (10.0 * max(second_max, 1e-300))) / math.log(r_max)
    return int(min(max(math.ceil(needed) + 1, 2), MAX_MEHLER_TERMS))


def linearised_kernel(G: np.ndarray, rho: float, eps: float) -> np.ndarray:
    """``rho^2 G + eps I``: the kernel of the Gaussian-equivalent layer (Theorem 1)."""
    G = np.asarray(G, dtype=np.float64)
    if not math.isfinite(eps) or eps < -1e-12:
        raise ValueError(f"eps must be a non-negative variance, got {eps!r}")
    out = (rho * rho) * G
    out[np.diag_indices_from(out)] += max(eps, 0.0)
    return out

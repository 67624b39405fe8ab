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

from deepgep.activations import ERF, LINEAR, RELU, SIN, Activation, apply_builtin, get_activation
from deepgep.hermite import gaussian_moments, normalized_hermite_table, rule_for

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


# --- the kernel map of one layer on a whole covariance matrix (NNGP, DEQ) ----------------------

#: Activations whose two-point kernel has a closed form here.
_CLOSED_FORMS = frozenset({ERF, RELU, SIN, LINEAR})


def check_gram(S: np.ndarray, name: str = "S") -> np.ndarray:
    """``S`` as a finite, symmetric float64 matrix with a non-negative diagonal (a covariance)."""
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1] or not np.all(np.isfinite(S)):
        raise ValueError(f"{name} must be a finite square matrix, got shape {S.shape}")
    if np.any(np.diag(S) < 0.0) or not np.allclose(S, S.T, rtol=1e-12, atol=1e-14):
        raise ValueError(f"{name} must be symmetric with a non-negative diagonal")
    return S


def _builtin_activation(activation: str | Activation) -> Activation:
    act = get_activation(activation)
    if not act.is_builtin:
        raise ValueError(f"the kernel map supports the built-in activations only, got {act.name!r}")
    return act


def erf_kernel(S: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Williams' arcsine kernel: ``E erf(g u) erf(g u') = (2/pi) arcsin(2g^2 S_xx' /
    sqrt((1 + 2g^2 S_xx)(1 + 2g^2 S_x'x')))`` for ``(u, u') ~ N(0, S)``."""
    return _erf(check_gram(S), float(gain))


def _erf(S: np.ndarray, gain: float) -> np.ndarray:
    a = 2.0 * gain * gain
    d = 1.0 + a * np.diag(S)
    r = np.clip(a * S / np.sqrt(np.outer(d, d)), -1.0, 1.0)
    return (2.0 / math.pi) * np.arcsin(r)


def relu_kernel(S: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Arc-cosine kernel of degree one: ``E relu(g u) relu(g u') = g^2 sqrt(S_xx S_x'x')
    (sin t + (pi - t) cos t) / (2 pi)`` with ``cos t = S_xx' / sqrt(S_xx S_x'x')``."""
    return _relu(check_gram(S), float(gain))


def _relu(S: np.ndarray, gain: float) -> np.ndarray:
    s = np.sqrt(np.diag(S))
    norm = np.outer(s, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(norm > 0.0, S / np.where(norm > 0.0, norm, 1.0), 0.0)
    t = np.arccos(np.clip(c, -1.0, 1.0))
    return (gain * gain / (2.0 * math.pi)) * norm * (np.sin(t) + (math.pi - t) * np.cos(t))


def sin_kernel(S: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """``E sin(g u) sin(g u') = exp(-g^2 (S_xx + S_x'x') / 2) sinh(g^2 S_xx')``."""
    return _sin(check_gram(S), float(gain))


def _sin(S: np.ndarray, gain: float) -> np.ndarray:
    g2 = gain * gain
    dg = np.diag(S)
    return np.exp(-0.5 * g2 * (dg[:, None] + dg[None, :])) * np.sinh(g2 * S)


@njit(cache=True)
def _pairwise_builtin(code, gain, S, x, w):
    """``E phi(u_i) phi(u_j)`` for all pairs, ``u ~ N(0, S)``: 1-D rule on the diagonal, tensor
    rule after the Cholesky change of variables off it (as :func:`deepgep.hermite.activation_kernel`)."""
    p = S.shape[0]
    m = x.size
    K = np.empty((p, p))
    fa = np.empty(m)
    for i in range(p):
        a = math.sqrt(S[i, i])
        diag = 0.0
        for k in range(m):
            fa[k] = apply_builtin(code, gain, a * x[k])
            diag += w[k] * fa[k] * fa[k]
        K[i, i] = diag
        for j in range(i + 1, p):
            b = S[i, j] / a if a > 0.0 else 0.0
            c = math.sqrt(max(S[j, j] - b * b, 0.0))
            total = 0.0
            for k in range(m):
                inner = 0.0
                bx = b * x[k]
                for q in range(m):
                    inner += w[q] * apply_builtin(code, gain, bx + c * x[q])
                total += w[k] * fa[k] * inner
            K[i, j] = total
            K[j, i] = total
    return K


def kernel_map(S: np.ndarray, activation: str | Activation, method: str = "auto",
               n_nodes: int | None = None, rule: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``E phi(u) phi(u')`` for every pair of a centred Gaussian vector ``u ~ N(0, S)``.

    ``method="closed"`` uses the closed form (erf, relu, sin, linear), ``"quadrature"`` the
    compiled tensor rule of :mod:`deepgep.hermite` (any built-in; ``n_nodes`` as there, or an
    explicit 1-D ``rule = (nodes, weights)`` for the standard Gaussian), and ``"auto"`` the
    closed form when there is one. Used by :mod:`deepgep.deq` (the kernel fixed point) and
    :mod:`deepgep.renormalisation` (the NNGP kernel).
    """
    act = _builtin_activation(activation)
    _check_method(method, act)
    return _kernel_map(check_gram(S), act, method, n_nodes, rule)


def _check_method(method: str, act: Activation) -> None:
    if method not in ("auto", "closed", "quadrature"):
        raise ValueError(f"method must be 'auto', 'closed' or 'quadrature', got {method!r}")
    if method == "closed" and act.code not in _CLOSED_FORMS:
        raise ValueError(f"no closed-form kernel for {act.name!r}; use method='quadrature'")


def _kernel_map(S: np.ndarray, act: Activation, method: str, n_nodes: int | None,
                rule: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """:func:`kernel_map` without the checks (called in the fixed-point loops)."""
    if method == "quadrature" or (method == "auto" and act.code not in _CLOSED_FORMS):
        x, w = rule_for(n_nodes) if rule is None else rule
        return _pairwise_builtin(act.code, act.gain, np.ascontiguousarray(S), x, w)
    if act.code == ERF:
        return _erf(S, act.gain)
    if act.code == RELU:
        return _relu(S, act.gain)
    if act.code == SIN:
        return _sin(S, act.gain)
    return act.gain**2 * S



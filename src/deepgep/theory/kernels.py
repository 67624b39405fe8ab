"""Conjugate kernels of a layer, their linearisation, and the NNGP kernel of a network.

Given the Gram matrix ``G = X X^T / d`` of the inputs of a layer (samples as rows), the width
average of the next layer's Gram matrix is the conjugate (NNGP) kernel

    K(G)_ij = E phi(u_i) phi(u_j),   (u_i, u_j) ~ N(0, [[G_ii, G_ij], [G_ij, G_jj]]),

and Theorem 1 of Camilli et al. (2025) replaces it by its linearisation ``rho^2 G + eps I``
(the kernel form of the statement, book eq-kernel-linearisation; El Karoui 2010 proves the
operator-norm convergence for kernel random matrices in the proportional regime). Off the diagonal we evaluate ``K`` by
Mehler's formula ``sum_k h_k(G_ii) h_k(G_jj) r_ij^k`` with ``h_k = c_k / sqrt(k!)`` and
``r_ij = G_ij / sqrt(G_ii G_jj)``; on the diagonal by 1-D quadrature. The truncation error of
each entry is bounded by Cauchy-Schwarz and Parseval, ``sum_{k > K} h_k^2 = E phi^2 - sum_{k<=K}
h_k^2``, and checked (book eq-conjugate-kernel).

The same two-point map applied to a whole covariance matrix, :func:`kernel_map` (closed forms
for erf, relu, sin and linear, book eq-closed-form-kernels; compiled 2-D quadrature otherwise),
is one layer of the NNGP recursion (:func:`nngp_kernel`, Chapter 7) and of the deep-equilibrium
kernel map (:mod:`deepgep.theory.deq`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit

from deepgep.support.threads import single_threaded_blas
from deepgep.support.validation import check_count, check_covariance, check_design, check_real
from deepgep.theory.activations import ERF, LINEAR, RELU, SIN, Activation, builtin_activation, get_activation
from deepgep.theory.quadrature import (gaussian_moments, normalized_hermite_table, pairwise_kernel,
                                       split_legendre_rule)

__all__ = [
    "MAX_MEHLER_TERMS", "MEHLER_TOLERANCE", "NNGP_QUADRATURE_NODES", "NNGP_QUADRATURE_CUTOFF",
    "TruncationError", "conjugate_kernel", "linearised_kernel", "erf_kernel", "relu_kernel",
    "sin_kernel", "kernel_map", "check_kernel_method", "quadrature_kernel", "nngp_kernel",
]

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

#: Activations whose two-point kernel has a closed form (book eq-closed-form-kernels).
_CLOSED_FORMS = frozenset({ERF, RELU, SIN, LINEAR})


def erf_kernel(S: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Williams' arcsine kernel: ``E erf(g u) erf(g u') = (2/pi) arcsin(2g^2 S_xx' /
    sqrt((1 + 2g^2 S_xx)(1 + 2g^2 S_x'x')))`` for ``(u, u') ~ N(0, S)``."""
    return _erf(check_covariance(S), float(gain))


def _erf(S: np.ndarray, gain: float) -> np.ndarray:
    a = 2.0 * gain * gain
    d = 1.0 + a * np.diag(S)
    r = np.clip(a * S / np.sqrt(np.outer(d, d)), -1.0, 1.0)
    return (2.0 / math.pi) * np.arcsin(r)


def relu_kernel(S: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Arc-cosine kernel of degree one: ``E relu(g u) relu(g u') = g^2 sqrt(S_xx S_x'x')
    (sin t + (pi - t) cos t) / (2 pi)`` with ``cos t = S_xx' / sqrt(S_xx S_x'x')``."""
    return _relu(check_covariance(S), float(gain))


def _relu(S: np.ndarray, gain: float) -> np.ndarray:
    s = np.sqrt(np.diag(S))
    norm = np.outer(s, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(norm > 0.0, S / np.where(norm > 0.0, norm, 1.0), 0.0)
    t = np.arccos(np.clip(c, -1.0, 1.0))
    return (gain * gain / (2.0 * math.pi)) * norm * (np.sin(t) + (math.pi - t) * np.cos(t))


def sin_kernel(S: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """``E sin(g u) sin(g u') = exp(-g^2 (S_xx + S_x'x') / 2) sinh(g^2 S_xx')``."""
    return _sin(check_covariance(S), float(gain))


def _sin(S: np.ndarray, gain: float) -> np.ndarray:
    g2 = gain * gain
    dg = np.diag(S)
    return np.exp(-0.5 * g2 * (dg[:, None] + dg[None, :])) * np.sinh(g2 * S)


def kernel_map(S: np.ndarray, activation: str | Activation, method: str = "auto",
               n_nodes: int | None = None, rule: tuple[np.ndarray, np.ndarray] | None = None,
               *, check: bool = True) -> np.ndarray:
    """``E phi(u) phi(u')`` for every pair of a centred Gaussian vector ``u ~ N(0, S)``.

    ``method="closed"`` uses the closed form (erf, relu, sin, linear; book
    eq-closed-form-kernels), ``"quadrature"`` the compiled tensor rule of
    :func:`deepgep.theory.quadrature.pairwise_kernel` (any built-in; ``n_nodes`` as there, or an
    explicit 1-D ``rule = (nodes, weights)`` for the standard Gaussian), and ``"auto"`` the
    closed form when there is one. ``check=False`` skips the validation of ``S`` and of the
    method (for fixed-point loops that checked them once).
    """
    act = builtin_activation(activation, "the kernel map") if check else activation
    if check:
        check_kernel_method(method, act)
        S = check_covariance(S)
    if method == "quadrature" or (method == "auto" and act.code not in _CLOSED_FORMS):
        return pairwise_kernel(S, act, n_nodes, rule)
    if act.code == ERF:
        return _erf(S, act.gain)
    if act.code == RELU:
        return _relu(S, act.gain)
    if act.code == SIN:
        return _sin(S, act.gain)
    return act.gain**2 * S


def check_kernel_method(method: str, act: Activation) -> None:
    """``method`` is ``auto``, ``closed`` (then ``act`` must have a closed form) or
    ``quadrature``."""
    if method not in ("auto", "closed", "quadrature"):
        raise ValueError(f"method must be 'auto', 'closed' or 'quadrature', got {method!r}")
    if method == "closed" and act.code not in _CLOSED_FORMS:
        raise ValueError(f"no closed-form kernel for {act.name!r}; use method='quadrature'")


# --- the NNGP kernel of a network (Chapter 7) --------------------------------------------------

#: Gauss-Legendre nodes per half-line and cutoff of the split rule used per dimension by the NNGP
#: kernel's quadrature (6400 evaluations per pair). Measured against the erf closed form and
#: Mehler's series: error 4e-15 at gain 1, 2e-11 at gain 2 (30 nodes and cutoff 8 give 5e-13 and
#: 7e-9); P(|Z| > 9) = 2e-19.
NNGP_QUADRATURE_NODES = 40
NNGP_QUADRATURE_CUTOFF = 9.0


def quadrature_kernel(G: np.ndarray, activation: str | Activation,
                      n_nodes: int = NNGP_QUADRATURE_NODES) -> np.ndarray:
    """The NNGP layer map ``E phi(u) phi(v)`` for every pair of ``G`` by the compiled 2-D tensor
    rule with a split Gauss-Legendre rule of ``n_nodes`` per half-line, cut at
    :data:`NNGP_QUADRATURE_CUTOFF` (any built-in activation): spectrally accurate for smooth
    activations; for relu (a kink) only algebraically, where :func:`relu_kernel` is exact."""
    rule = split_legendre_rule(check_count("n_nodes", n_nodes), NNGP_QUADRATURE_CUTOFF)
    return kernel_map(G, activation, "quadrature", rule=rule)


def _per_layer(value: float | Sequence[float], depth: int, name: str) -> tuple[float, ...]:
    values = (value,) * depth if np.isscalar(value) else tuple(value)
    if len(values) != depth:
        raise ValueError(f"{name} needs one value per hidden layer ({depth}), got {value!r}")
    return tuple(check_real(name, v, positive=True) for v in values)


@single_threaded_blas
def nngp_kernel(
    X: np.ndarray,
    activation: str | Activation = "erf",
    *,
    gain: float = 1.0,
    weight_variance: float | Sequence[float] = 1.0,
    depth: int = 1,
    method: str = "auto",
) -> np.ndarray:
    """The NNGP kernel ``K_{mu nu} = E phi(h^L_mu) phi(h^L_nu)`` of the last hidden layer on the
    rows of ``X``.

    First layer ``h^1 = w . x / sqrt(N0)`` with ``w ~ N(0, weight_variance[0] I)`` (Pacelli's
    ``1/lambda0``): ``G^1 = v_1 X X^T / N0``; then ``G^{l+1} = v_{l+1} K(G^l)`` with the layer map
    :func:`kernel_map` (quadrature with :data:`NNGP_QUADRATURE_NODES` nodes per half-line where
    there is no closed form). The prior covariance of the output ``f`` is ``K / lambda1`` =
    ``readout_variance * K``. Stack training and test inputs in ``X`` to get the cross kernel.
    """
    X = check_design(X)
    depth = check_count("depth", depth, 1)
    variances = _per_layer(weight_variance, depth, "weight_variance")
    act = builtin_activation(get_activation(activation, gain), "the kernel map")
    check_kernel_method(method, act)
    rule = split_legendre_rule(NNGP_QUADRATURE_NODES, NNGP_QUADRATURE_CUTOFF)  # as quadrature_kernel
    G = variances[0] * (X @ X.T) / X.shape[1]
    for ell in range(depth):
        K = kernel_map(G, act, method, rule=rule, check=False)
        if ell + 1 < depth:
            G = variances[ell + 1] * K
    return K

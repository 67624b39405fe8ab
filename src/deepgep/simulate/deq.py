"""Deep equilibrium models at finite width (Gao et al. 2023; book eq-deq-fixed-point): sampled
weights, the fixed point ``h* = phi(W h* + U x)`` by plain iteration or Anderson acceleration,
for a batch of networks and inputs at once, and their empirical kernels. The infinite-width
theory is :mod:`deepgep.theory.deq`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepgep.support.validation import check_count, check_design, check_real
from deepgep.theory.activations import Activation, builtin_activation

__all__ = ["FORWARD_TOLERANCE", "FORWARD_MAX_ITER", "ANDERSON_MEMORY", "BATCH_ENTRIES",
           "DEQConvergenceError", "sample_weights", "DEQSolution", "deq_forward",
           "weight_tied_forward", "weight_tied_states", "empirical_kernel", "relative_error",
           "network_batches"]

#: Default tolerance of the finite-width forward solver (max-norm of ``phi(W h + U x) - h``).
FORWARD_TOLERANCE = 1e-10
#: Default iteration budget of the forward solver.
FORWARD_MAX_ITER = 2000
#: History length of Anderson acceleration (Walker and Ni 2011 use 1 to 10).
ANDERSON_MEMORY = 5

#: Largest float64 batch (entries of the stacked ``W``) built at once by the samplers: 2^22
#: doubles = 32 MiB, so that the experiments stay modest on a small machine.
BATCH_ENTRIES = 2**22


class DEQConvergenceError(RuntimeError):
    """The finite-width forward solver did not reach its tolerance."""


def sample_weights(n: int, d: int, sigma_w: float, sigma_u: float, rng: np.random.Generator,
                   n_networks: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``W`` (n x n, variance ``sigma_w^2/n``) and ``U`` (n x d, variance ``sigma_u^2/d``); with
    ``n_networks`` a leading batch axis of independent networks."""
    n, d = check_count("n", n), check_count("d", d)
    sw, su = check_real("sigma_w", sigma_w), check_real("sigma_u", sigma_u, positive=True)
    lead = () if n_networks is None else (check_count("n_networks", n_networks),)
    W = rng.standard_normal((*lead, n, n)) * (sw / math.sqrt(n))
    U = rng.standard_normal((*lead, n, d)) * (su / math.sqrt(d))
    return W, U


@dataclass(frozen=True)
class DEQSolution:
    """Hidden states ``h`` (``(..., n, P)``: one column per input), iterations used, the
    residual ``max |phi(W h + U x) - h|`` after every iteration and, per network, whether it
    reached the tolerance (all True unless the solver was called with ``allow_failures``)."""

    h: np.ndarray
    iterations: int
    residuals: np.ndarray
    converged: np.ndarray


def _forward_map(act: Activation, W: np.ndarray, B: np.ndarray):
    """``g(H, idx) = phi(W[idx] H + B[idx])`` (all networks when ``idx`` is None); the slices
    of the last ``idx`` are kept, so that a shrinking set of networks is copied only once."""
    cache: dict[str, np.ndarray] = {}

    def g(H: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        if idx is None:
            Wi, Bi = W, B
        else:
            if cache.get("idx") is None or not np.array_equal(cache["idx"], idx):
                cache.update(idx=idx.copy(), W=W[idx], B=B[idx])
            Wi, Bi = cache["W"], cache["B"]
        Z = np.matmul(Wi, H)
        Z += Bi
        return act.apply_inplace(Z)

    return g


def _injection(W: np.ndarray, U: np.ndarray, X: np.ndarray) -> np.ndarray:
    W, U, X = np.asarray(W, np.float64), np.asarray(U, np.float64), check_design(X)
    if W.ndim not in (2, 3) or W.shape[-1] != W.shape[-2] or U.shape[:-1] != W.shape[:-1]:
        raise ValueError(f"W must be (..., n, n) and U (..., n, d), got {W.shape} and {U.shape}")
    if U.shape[-1] != X.shape[1]:
        raise ValueError(f"U has {U.shape[-1]} columns but the inputs have dimension {X.shape[1]}")
    return np.matmul(U, X.T)


def deq_forward(
    W: np.ndarray,
    U: np.ndarray,
    X: np.ndarray,
    activation: str | Activation,
    *,
    method: str = "iteration",
    tol: float = FORWARD_TOLERANCE,
    max_iter: int = FORWARD_MAX_ITER,
    memory: int = ANDERSON_MEMORY,
    allow_failures: bool = False,
) -> DEQSolution:
    """Solve ``h = phi(W h + U x)`` for all inputs (columns) and all networks (leading axis of
    ``W``, ``U``) at once, from ``h = 0``.

    ``method="iteration"`` is the plain fixed-point iteration (its first ``L`` steps are the
    weight-tied network of depth ``L``); ``"anderson"`` is Anderson acceleration (type II,
    history ``memory``) on the whole stacked state. Stops when the residual
    ``max |phi(W h + U x) - h|`` is at most ``tol``; raises :class:`DEQConvergenceError`
    otherwise (including a non-finite state). With ``allow_failures`` (plain iteration only)
    each network of the batch stops at its own tolerance, the solver returns after at most
    ``max_iter`` steps and flags in ``converged`` the networks that reached the tolerance: at
    small width some draws of ``W`` have no stable equilibrium.
    """
    act = builtin_activation(activation, "deq")
    B = _injection(W, U, X)
    check_real("tol", tol, positive=True)
    max_iter = check_count("max_iter", max_iter)
    g = _forward_map(act, np.asarray(W, np.float64), B)
    if method == "iteration":
        return _plain_iteration(g, np.zeros_like(B), tol, max_iter, bool(allow_failures))
    if allow_failures:
        raise ValueError("allow_failures is supported by method='iteration' only")
    if method == "anderson":
        return _anderson(g, np.zeros_like(B), tol, max_iter, check_count("memory", memory))
    raise ValueError(f"method must be 'iteration' or 'anderson', got {method!r}")


def _plain_iteration(g, H, tol, max_iter, allow_failures=False) -> DEQSolution:
    if allow_failures:
        return _plain_iteration_batch(g, H, tol, max_iter)
    residuals = []
    G = g(H)
    for it in range(1, max_iter + 1):
        res = float(np.max(np.abs(G - H)))
        residuals.append(res)
        if not math.isfinite(res):
            break
        H = G
        if res <= tol:
            return DEQSolution(H, it, np.array(residuals), np.ones(H.shape[:-2], dtype=bool))
        G = g(H)
    raise DEQConvergenceError(
        f"fixed-point iteration not converged after {len(residuals)} steps "
        f"(residual {residuals[-1]:.2e} > tol {tol:.1e}); sigma_w may be too large"
    )


def _plain_iteration_batch(g, H, tol, max_iter) -> DEQSolution:
    """Plain iteration network by network: a network stops once its residual is below
    ``tol``; the residual recorded at each step is the largest among the networks still
    iterating. Networks still iterating after ``max_iter`` steps are flagged as failed."""
    single = H.ndim == 2
    H = H[None] if single else H.copy()
    active = np.arange(H.shape[0])
    converged = np.zeros(H.shape[0], dtype=bool)
    residuals = []
    for it in range(1, max_iter + 1):
        G = g(H[active], None if active.size == H.shape[0] else active)
        per_network = np.max(np.abs(G - H[active]), axis=(-2, -1))
        per_network = np.where(np.isfinite(per_network), per_network, np.inf)
        residuals.append(float(per_network.max()))
        H[active] = G
        done = per_network <= tol
        converged[active[done]] = True
        active = active[~done]
        if active.size == 0:
            break
    if single:
        return DEQSolution(H[0], it, np.array(residuals), converged[0])
    return DEQSolution(H, it, np.array(residuals), converged)


def _anderson(g, H, tol, max_iter, memory) -> DEQSolution:
    """Anderson acceleration (Walker and Ni 2011, type II, no damping) on the flattened state."""
    shape = H.shape
    x = H.ravel()
    gx = g(H).ravel()
    f = gx - x
    dF, dG = [], []
    residuals = []
    for it in range(1, max_iter + 1):
        res = float(np.max(np.abs(f)))
        residuals.append(res)
        if not math.isfinite(res):
            break
        if res <= tol:
            return DEQSolution(gx.reshape(shape), it, np.array(residuals),
                               np.ones(shape[:-2], dtype=bool))
        if dF:
            Fm = np.stack(dF, axis=1)
            gamma = np.linalg.lstsq(Fm, f, rcond=None)[0]
            x_new = gx - np.stack(dG, axis=1) @ gamma
        else:
            x_new = gx
        gx_new = g(x_new.reshape(shape)).ravel()
        f_new = gx_new - x_new
        dF.append(f_new - f)
        dG.append(gx_new - gx)
        if len(dF) > memory:
            dF.pop(0)
            dG.pop(0)
        x, gx, f = x_new, gx_new, f_new
    raise DEQConvergenceError(
        f"Anderson iteration not converged after {len(residuals)} steps "
        f"(residual {residuals[-1]:.2e} > tol {tol:.1e}); sigma_w may be too large"
    )


def weight_tied_forward(W: np.ndarray, U: np.ndarray, X: np.ndarray, activation: str | Activation,
                        depth: int) -> np.ndarray:
    """Hidden states of the finite-depth weight-tied network: ``h^0 = 0``,
    ``h^l = phi(W h^{l-1} + U x)``, returned at ``l = depth``."""
    act = builtin_activation(activation, "deq")
    B = _injection(W, U, X)
    g = _forward_map(act, np.asarray(W, np.float64), B)
    H = np.zeros_like(B)
    for _ in range(check_count("depth", depth, 0)):
        H = g(H)
    return H


def weight_tied_states(W: np.ndarray, U: np.ndarray, X: np.ndarray, activation: str | Activation,
                       depths) -> list[np.ndarray]:
    """Hidden states of the weight-tied network (``h^0 = 0``, ``h^l = phi(W h^{l-1} + U x)``) at
    each depth of the increasing sequence ``depths``, in one pass."""
    act = builtin_activation(activation, "deq")
    B = _injection(W, U, X)
    g = _forward_map(act, np.asarray(W, np.float64), B)
    wanted = {check_count("depth", L, 1) for L in depths}
    H = np.zeros_like(B)
    out = []
    for ell in range(1, max(wanted) + 1):
        H = g(H)
        if ell in wanted:
            out.append(H)
    return out


def empirical_kernel(h: np.ndarray, sigma_w: float) -> np.ndarray:
    """``K_n = sigma_w^2 h^T h / n`` for hidden states ``h`` of shape ``(..., n, P)``."""
    h = np.asarray(h, dtype=np.float64)
    return (float(sigma_w) ** 2 / h.shape[-2]) * np.matmul(np.swapaxes(h, -1, -2), h)


def relative_error(K: np.ndarray, sigma_star: np.ndarray) -> np.ndarray:
    """``||K - Sigma*||_F / ||Sigma*||_F`` (over the last two axes of ``K``)."""
    diff = np.asarray(K) - sigma_star
    return np.sqrt(np.sum(diff * diff, axis=(-2, -1))) / np.linalg.norm(sigma_star)


def network_batches(total: int, n: int) -> list[int]:
    """Sizes of the batches of ``total`` width-``n`` networks solved at once (each batch at most
    :data:`BATCH_ENTRIES` weights)."""
    size = max(1, BATCH_ENTRIES // (n * n))
    return [min(size, total - start) for start in range(0, total, size)]

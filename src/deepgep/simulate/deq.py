"""Deep equilibrium models at finite width (Gao et al. 2023; book eq-deq-fixed-point): sampled
weights, the fixed point ``h* = phi(W h* + U x)`` by plain iteration or Anderson acceleration,
for a batch of networks and inputs at once, and their empirical kernels. The infinite-width
theory is :mod:`deepgep.theory.deq`.

The contraction hypothesis of thm-deq-gp: the map ``h -> phi(W h + U x)`` is a contraction of
``R^n`` with factor ``q = Lip(phi) ||W||_op`` when ``q < 1`` (:func:`contraction_factor`), and
``||W||_op -> 2 sigma_w`` (Bai-Yin), so ``2 sigma_w Lip(phi) < 1`` puts a draw inside it with
probability tending to 1. The diagnostics :func:`forward_convergence`, :func:`contraction_scan`
and :func:`failure_fractions` measure the forward iteration against the local rate ``sqrt(ell)``
and count the draws outside the hypothesis or not converged (never dropped silently).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scipy.sparse.linalg import svds

from deepgep.support.validation import check_count, check_design, check_real
from deepgep.theory.activations import Activation, builtin_activation
from deepgep.theory.deq import ContractionError, activation_lipschitz, deq_kernel, input_kernel

__all__ = ["FORWARD_TOLERANCE", "FORWARD_MAX_ITER", "ANDERSON_MEMORY", "BATCH_ENTRIES",
           "DEQConvergenceError", "sample_weights", "DEQSolution", "deq_forward",
           "weight_tied_forward", "weight_tied_states", "empirical_kernel", "relative_error",
           "network_batches", "DENSE_NORM_WIDTH", "NORM_TOLERANCE", "contraction_factor", "tail_rate",
           "forward_convergence", "contraction_scan", "failure_fractions"]

#: Default tolerance of the finite-width forward solver (max-norm of ``phi(W h + U x) - h``).
FORWARD_TOLERANCE = 1e-10
#: Default iteration budget of the forward solver.
FORWARD_MAX_ITER = 2000
#: History length of Anderson acceleration (Walker and Ni 2011 use 1 to 10).
ANDERSON_MEMORY = 5

#: Largest float64 batch (entries of the stacked ``W``) built at once by the samplers: 2^22
#: doubles = 32 MiB, so that the experiments stay modest on a small machine.
BATCH_ENTRIES = 2**22
#: Above this width ``||W||_op`` is computed by Lanczos (relative tolerance ``NORM_TOLERANCE``):
#: a full SVD costs ``n^3``.
DENSE_NORM_WIDTH, NORM_TOLERANCE = 256, 1e-10


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


def contraction_factor(W: np.ndarray, activation: str | Activation) -> np.ndarray | float:
    """``q = Lip(phi) ||W||_op`` of each network (leading axes of ``W``): the DEQ map is a
    contraction of ``R^n`` with factor ``q`` when ``q < 1`` (module docstring; ``Lip(phi)`` from
    :func:`deepgep.theory.deq.activation_lipschitz`)."""
    lip = activation_lipschitz(activation)
    W = np.asarray(W, dtype=float)
    if W.shape[-1] <= DENSE_NORM_WIDTH:
        q = lip * np.linalg.norm(W, ord=2, axis=(-2, -1))
    else:  # the largest singular value by Lanczos
        q = lip * np.array([svds(w, k=1, v0=np.ones(w.shape[1]), tol=NORM_TOLERANCE, return_singular_vectors=False)[0]
                            for w in W.reshape(-1, *W.shape[-2:])]).reshape(W.shape[:-2])
    return float(q) if np.ndim(q) == 0 else q


def tail_rate(residuals: np.ndarray) -> float:
    """The geometric rate of a residual trace over its second half."""
    r = np.asarray(residuals, dtype=float)
    half = r.size // 2
    return float((r[-1] / r[half]) ** (1.0 / (r.size - 1 - half)))


def forward_convergence(X: np.ndarray, activation: str, sigma_w: float, sigma_u: float, width: int,
                        rng: np.random.Generator, tol: float = FORWARD_TOLERANCE) -> dict[str, object]:
    """Residual traces of plain iteration and Anderson acceleration on one width-``width`` DEQ
    (same weights), the geometric rate of the plain iteration over its second half
    (:func:`tail_rate`), its prediction ``sqrt(ell)`` (book eq-deq-rate) and the largest gap
    between the two solutions."""
    X = check_design(X)
    W, U = sample_weights(width, X.shape[1], sigma_w, sigma_u, rng)
    plain = deq_forward(W, U, X, activation, method="iteration", tol=tol)
    anderson = deq_forward(W, U, X, activation, method="anderson", tol=tol)
    ell = deq_kernel(input_kernel(X, sigma_u), activation, sigma_w).lipschitz
    return {"plain": plain, "anderson": anderson, "rate": tail_rate(plain.residuals),
            "predicted_rate": math.sqrt(ell), "gap": float(np.max(np.abs(plain.h - anderson.h)))}


def contraction_scan(X: np.ndarray, activation: str, sigma_ws, sigma_u: float, width: int,
                     rng: np.random.Generator, max_iter: int = FORWARD_MAX_ITER) -> dict[str, np.ndarray]:
    """For each ``sigma_w``: ``ell`` (also when :func:`~deepgep.theory.deq.deq_kernel` raises
    :class:`~deepgep.theory.deq.ContractionError`), whether one width-``width`` DEQ on ``X``
    converges by plain iteration within ``max_iter`` steps, and its geometric rate over the
    second half of the iterations (``nan`` if it did not converge)."""
    X = check_design(X)
    ells, converged, rates = [], [], []
    for sw in sigma_ws:
        try:
            ells.append(deq_kernel(input_kernel(X, sigma_u), activation, float(sw)).lipschitz)
        except ContractionError as err:
            ells.append(err.lipschitz)
        W, U = sample_weights(width, X.shape[1], float(sw), sigma_u, rng)
        sol = deq_forward(W, U, X, activation, max_iter=max_iter, allow_failures=True)
        converged.append(bool(sol.converged))
        rates.append(tail_rate(sol.residuals) if converged[-1] else math.nan)
    return {"sigma_w": np.asarray(sigma_ws, dtype=float), "lipschitz": np.array(ells),
            "converged": np.array(converged), "rate": np.array(rates)}


def failure_fractions(x: np.ndarray, activation: str, sigma_w: float, sigma_u: float, width: int, networks: int,
                      rng: np.random.Generator, max_iter: int = FORWARD_MAX_ITER) -> dict[str, float]:
    """Out of ``networks`` width-``width`` DEQs on the input ``x``: the fractions of draws with
    ``q >= 1`` (outside the contraction hypothesis), of draws whose iteration does not converge
    within ``max_iter`` steps, and of those with ``q < 1`` (converging, but too slowly)."""
    x = np.asarray(x, dtype=float).ravel()
    W, U = sample_weights(width, x.size, sigma_w, sigma_u, rng, networks)
    sol = deq_forward(W, U, np.atleast_2d(x), activation, max_iter=max_iter, allow_failures=True)
    ok, q = np.asarray(sol.converged, dtype=bool), contraction_factor(W, activation)
    return {"q >= 1": float(np.mean(q >= 1)), "not converged": float(np.mean(~ok)),
            "not converged, q < 1": float(np.mean(~ok & (q < 1)))}

"""Deep equilibrium models (DEQs) and their Gaussian-process limit (Gao et al. 2023).

A weight-tied network applied infinitely many times is a DEQ: for inputs ``x`` (rows of ``X``,
dimension ``d``) the hidden state of width ``n`` solves

    h* = phi(W h* + U x),   W_ij ~ N(0, sigma_w^2 / n),   U_ij ~ N(0, sigma_u^2 / d),

and the output is ``f(x) = sigma_w v . h*(x) / sqrt(n)``, ``v ~ N(0, I_n)``: the readout is drawn
like one more row of ``W`` (SCIENCE.md section 5). The finite-width (empirical) kernel is
``K_n(x, x') = sigma_w^2 h*(x) . h*(x') / n`` and the output is, given the weights, a centred
Gaussian vector with covariance ``K_n``.

Infinite width (Gao et al. 2023, main results; SCIENCE.md section 5). With the input kernel
``Sigma1 = sigma_u^2 X X^T / d`` the limit of ``K_n`` is the fixed point ``Sigma*`` of the
kernel map

    T(S)(x, x') = sigma_w^2 E phi(u) phi(u'),   (u, u') ~ N(0, S + Sigma1)  (restricted to x, x'),

so ``S + Sigma1`` is the covariance of the pre-activations ``W h* + U x``. Iterating ``T`` from
``S = 0`` gives, after ``L`` steps, the infinite-width kernel of the weight-tied network of depth
``L`` (``h^0 = 0``, ``h^l = phi(W h^{l-1} + U x)``): "width first, then depth". The DEQ fixed
point at finite width followed by ``n -> infinity`` is "depth first, then width"; the paper
proves both give ``Sigma*`` and that ``lambda_min(Sigma*) > 0`` for distinct, non-parallel
inputs and a non-polynomial ``phi``.

Contraction (where the limits are taken). At the fixed point, Price's theorem gives
``dT_xx' / dS_xx' = sigma_w^2 E phi'(u) phi'(u')``, bounded by Cauchy-Schwarz by

    ell = sigma_w^2 max_x E phi'(u_x)^2,   u_x ~ N(0, S_xx + Sigma1_xx),

and ``ell`` is also the squared spectral radius of the Jacobian ``diag(phi'(z)) W`` of the
finite-width map at large width (circular law: ``W`` has i.i.d. entries of variance
``sigma_w^2 / n``). With ``ell < 1`` the kernel iteration contracts entrywise, and the forward
iteration of the DEQ contracts at the rate ``sqrt(ell)``; with ``ell >= 1`` the DEQ has no stable
equilibrium to converge to, and :func:`deq_kernel` raises :class:`ContractionError`.

Expectations: closed forms for ``erf`` (Williams' arcsine kernel), ``relu`` (the degree-1
arc-cosine kernel of Cho and Saul), ``sin`` and ``linear``; for ``tanh`` the two-dimensional
rule of :mod:`deepgep.hermite` (Cholesky change of variables, tensor split-Legendre rule) in one
compiled loop over all pairs. Only built-in activations are supported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from deepgep.activations import ERF, RELU, SIN, TANH, Activation, get_activation
from deepgep.hermite import gaussian_expectation
from deepgep.kernels import (  # noqa: F401  (the kernel map of a layer is shared with renormalisation)
    _check_method,
    _kernel_map,
    check_gram as _gram,
    erf_kernel,
    kernel_map,
    relu_kernel,
    sin_kernel,
)

#: Default tolerance of the kernel fixed point (max-norm of one update, relative to max |S|).
KERNEL_TOLERANCE = 1e-12
#: Default tolerance of the finite-width forward solver (max-norm of ``phi(W h + U x) - h``).
FORWARD_TOLERANCE = 1e-10
#: Default iteration budgets of the two solvers.
KERNEL_MAX_ITER = 1000
FORWARD_MAX_ITER = 2000
#: History length of Anderson acceleration (Walker and Ni 2011 use 1 to 10).
ANDERSON_MEMORY = 5
#: Largest float64 batch (entries of the stacked ``W``) built at once by the samplers: 2^22
#: doubles = 32 MiB, so that the experiments stay modest on a small machine.
BATCH_ENTRIES = 2**22
#: Activations with a closed-form kernel map.


class ContractionError(ValueError):
    """``sigma_w`` is too large: the kernel map / DEQ is not a contraction (``ell >= 1``).

    ``lipschitz`` holds the measured ``ell`` (``inf`` when the kernel iteration blew up)."""

    def __init__(self, message: str, lipschitz: float = math.inf) -> None:
        super().__init__(message)
        self.lipschitz = lipschitz


class KernelFixedPointError(RuntimeError):
    """The kernel iteration did not converge within its iteration budget."""


class DEQConvergenceError(RuntimeError):
    """The finite-width forward solver did not reach its tolerance."""


# --- validation -------------------------------------------------------------------------------


def _builtin(activation: str | Activation) -> Activation:
    act = get_activation(activation)
    if not act.is_builtin:
        raise ValueError(f"deq supports the built-in activations only, got {act.name!r}")
    return act


def _positive(value: float, name: str, allow_zero: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or (v == 0.0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} finite number, got {value!r}")
    return v


def _inputs(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1 or not np.all(np.isfinite(X)):
        raise ValueError(f"X must be a finite (samples, dimension) matrix, got shape {X.shape}")
    return X


def _widths(widths) -> np.ndarray:
    w = np.asarray(widths)
    if w.ndim != 1 or w.size < 1 or np.any(w < 1) or np.any(w != np.round(w)):
        raise ValueError(f"widths must be positive integers, got {widths!r}")
    return w.astype(int)


def _count(value: int, name: str, minimum: int = 1) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --- the kernel map ---------------------------------------------------------------------------


def input_kernel(X: np.ndarray, sigma_u: float) -> np.ndarray:
    """``Sigma1 = sigma_u^2 X X^T / d``, the covariance of the injection ``U x`` (rows of X)."""
    X = _inputs(X)
    return (_positive(sigma_u, "sigma_u") ** 2 / X.shape[1]) * (X @ X.T)


def derivative_second_moment(activation: str | Activation, variances: np.ndarray) -> np.ndarray:
    """``E phi'(u)^2`` for ``u ~ N(0, s)``, one value per variance ``s`` (closed forms except
    for tanh, where the 1-D split rule of :mod:`deepgep.hermite` is used)."""
    act = _builtin(activation)
    s = np.asarray(variances, dtype=np.float64)
    if not np.all(np.isfinite(s)) or np.any(s < 0.0):
        raise ValueError("variances must be finite and non-negative")
    g2 = act.gain**2
    if act.code == ERF:  # phi' = (2g/sqrt(pi)) exp(-g^2 u^2)
        return (4.0 * g2 / math.pi) / np.sqrt(1.0 + 4.0 * g2 * s)
    if act.code == RELU:
        return np.where(s > 0.0, 0.5 * g2, 0.0)
    if act.code == SIN:  # g^2 E cos^2(g u)
        return 0.5 * g2 * (1.0 + np.exp(-2.0 * g2 * s))
    if act.code == TANH:
        g = act.gain

        def dtanh2(u: np.ndarray) -> np.ndarray:
            return (g * (1.0 - np.tanh(g * u) ** 2)) ** 2

        return np.array([gaussian_expectation(dtanh2, float(v)) for v in s.ravel()]).reshape(s.shape)
    return np.full(s.shape, g2)


def lipschitz_constant(pre: np.ndarray, activation: str | Activation, sigma_w: float) -> float:
    """``ell = sigma_w^2 max_x E phi'(u_x)^2`` with ``u_x ~ N(0, pre_xx)`` (module docstring)."""
    pre = _gram(pre, "pre")
    sw2 = _positive(sigma_w, "sigma_w", allow_zero=True) ** 2
    return float(sw2 * derivative_second_moment(activation, np.diag(pre)).max())


@dataclass(frozen=True)
class KernelFixedPoint:
    """The fixed point ``Sigma*`` of the kernel map (``pre = Sigma* + Sigma1`` is the
    pre-activation covariance), the number of iterations, the max-norm of every update and
    the contraction constant ``ell`` at the fixed point."""

    sigma: np.ndarray
    pre: np.ndarray
    iterations: int
    residuals: np.ndarray
    lipschitz: float


def deq_kernel(
    sigma1: np.ndarray,
    activation: str | Activation,
    sigma_w: float,
    *,
    damping: float = 1.0,
    tol: float = KERNEL_TOLERANCE,
    max_iter: int = KERNEL_MAX_ITER,
    method: str = "auto",
    n_nodes: int | None = None,
) -> KernelFixedPoint:
    """``Sigma* = sigma_w^2 E_{u ~ N(0, Sigma* + Sigma1)} phi(u) phi(u')`` (Gao et al. 2023,
    the infinite-width kernel; SCIENCE.md section 5) by damped iteration from ``S = 0``:
    ``S <- (1 - damping) S + damping T(S)``, stopped when an update moves no entry by more
    than ``tol * max(1, max |S|)``.

    Raises
    ------
    ContractionError
        ``ell = sigma_w^2 max E phi'(u)^2 >= 1`` at the fixed point (or where the iteration
        stopped or blew up): ``sigma_w`` is too large for a contraction.
    KernelFixedPointError
        No convergence within ``max_iter`` although ``ell < 1``.
    """
    act = _builtin(activation)
    _check_method(method, act)
    sigma1 = _gram(sigma1, "sigma1")
    sw2 = _positive(sigma_w, "sigma_w", allow_zero=True) ** 2
    beta = float(damping)
    if not 0.0 < beta <= 1.0:
        raise ValueError(f"damping must be in (0, 1], got {damping!r}")
    _positive(tol, "tol")
    max_iter = _count(max_iter, "max_iter")
    S = np.zeros_like(sigma1)
    residuals = []
    for it in range(1, max_iter + 1):
        new = (1.0 - beta) * S + beta * sw2 * _kernel_map(S + sigma1, act, method, n_nodes)
        if not np.all(np.isfinite(new)):
            raise ContractionError(
                f"the kernel iteration blew up at step {it}: sigma_w = {sigma_w!r} is too large "
                f"for a contraction with {act.name}"
            )
        step = float(np.max(np.abs(new - S)))
        residuals.append(step)
        S = new
        if step <= tol * max(1.0, float(np.max(np.abs(S)))):
            break
    else:
        ell = lipschitz_constant(S + sigma1, act, sigma_w)
        if ell >= 1.0:
            raise ContractionError(_contraction_message(sigma_w, act, ell), ell)
        raise KernelFixedPointError(
            f"kernel iteration not converged after {max_iter} steps (last update {step:.2e}, "
            f"ell = {ell:.3f}); increase max_iter or damping"
        )
    ell = lipschitz_constant(S + sigma1, act, sigma_w)
    if ell >= 1.0:
        raise ContractionError(_contraction_message(sigma_w, act, ell), ell)
    return KernelFixedPoint(S, S + sigma1, it, np.array(residuals), ell)


def _contraction_message(sigma_w: float, act: Activation, ell: float) -> str:
    return (
        f"sigma_w = {sigma_w!r} is too large for {act.name}: sigma_w^2 E phi'(u)^2 = {ell:.3f} >= 1, "
        "the DEQ is not a contraction"
    )


def weight_tied_kernels(
    sigma1: np.ndarray, activation: str | Activation, sigma_w: float, depth: int,
    method: str = "auto", n_nodes: int | None = None,
) -> np.ndarray:
    """Infinite-width kernels ``Sigma^l = T(Sigma^{l-1})``, ``Sigma^0 = 0``, of the weight-tied
    network of depth ``l = 0..depth``; shape ``(depth + 1, P, P)`` ("width first")."""
    act = _builtin(activation)
    _check_method(method, act)
    sigma1 = _gram(sigma1, "sigma1")
    sw2 = _positive(sigma_w, "sigma_w", allow_zero=True) ** 2
    out = np.zeros((_count(depth, "depth", 0) + 1, *sigma1.shape))
    for ell in range(1, out.shape[0]):
        out[ell] = sw2 * _kernel_map(out[ell - 1] + sigma1, act, method, n_nodes)
    return out


# --- finite width -----------------------------------------------------------------------------


def sample_weights(n: int, d: int, sigma_w: float, sigma_u: float, rng: np.random.Generator,
                   n_networks: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``W`` (n x n, variance ``sigma_w^2/n``) and ``U`` (n x d, variance ``sigma_u^2/d``); with
    ``n_networks`` a leading batch axis of independent networks."""
    n, d = _count(n, "n"), _count(d, "d")
    sw, su = _positive(sigma_w, "sigma_w", True), _positive(sigma_u, "sigma_u")
    lead = () if n_networks is None else (_count(n_networks, "n_networks"),)
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
    W, U, X = np.asarray(W, np.float64), np.asarray(U, np.float64), _inputs(X)
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
    act = _builtin(activation)
    B = _injection(W, U, X)
    _positive(tol, "tol")
    max_iter = _count(max_iter, "max_iter")
    g = _forward_map(act, np.asarray(W, np.float64), B)
    if method == "iteration":
        return _plain_iteration(g, np.zeros_like(B), tol, max_iter, bool(allow_failures))
    if allow_failures:
        raise ValueError("allow_failures is supported by method='iteration' only")
    if method == "anderson":
        return _anderson(g, np.zeros_like(B), tol, max_iter, _count(memory, "memory"))
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
    act = _builtin(activation)
    B = _injection(W, U, X)
    g = _forward_map(act, np.asarray(W, np.float64), B)
    H = np.zeros_like(B)
    for _ in range(_count(depth, "depth", 0)):
        H = g(H)
    return H


def empirical_kernel(h: np.ndarray, sigma_w: float) -> np.ndarray:
    """``K_n = sigma_w^2 h^T h / n`` for hidden states ``h`` of shape ``(..., n, P)``."""
    h = np.asarray(h, dtype=np.float64)
    return (float(sigma_w) ** 2 / h.shape[-2]) * np.matmul(np.swapaxes(h, -1, -2), h)


def relative_error(K: np.ndarray, sigma_star: np.ndarray) -> np.ndarray:
    """``||K - Sigma*||_F / ||Sigma*||_F`` (over the last two axes of ``K``)."""
    diff = np.asarray(K) - sigma_star
    return np.sqrt(np.sum(diff * diff, axis=(-2, -1))) / np.linalg.norm(sigma_star)


def _batches(total: int, n: int) -> list[int]:
    size = max(1, BATCH_ENTRIES // (n * n))
    return [min(size, total - start) for start in range(0, total, size)]


# --- experiments of Chapter 8 -----------------------------------------------------------------


@dataclass(frozen=True)
class DEQModel:
    """The shared settings of the chapter's experiments: activation, ``sigma_w``, ``sigma_u``."""

    activation: str
    sigma_w: float
    sigma_u: float

    def kernel(self, X: np.ndarray, **kwargs) -> KernelFixedPoint:
        """``Sigma*`` on the inputs ``X`` (rows)."""
        return deq_kernel(input_kernel(X, self.sigma_u), self.activation, self.sigma_w, **kwargs)

    def solve(self, X: np.ndarray, n: int, rng: np.random.Generator, n_networks: int | None = None,
              **kwargs) -> DEQSolution:
        """Sample width-``n`` networks and solve their DEQs on ``X``."""
        W, U = sample_weights(n, X.shape[1], self.sigma_w, self.sigma_u, rng, n_networks)
        return deq_forward(W, U, X, self.activation, **kwargs)


def forward_convergence(model: DEQModel, X: np.ndarray, n: int, rng: np.random.Generator,
                        tol: float = FORWARD_TOLERANCE) -> dict[str, object]:
    """Residual traces of plain iteration and Anderson acceleration on one width-``n`` DEQ
    (same weights), with the geometric rate of the plain iteration over its second half and
    its prediction ``sqrt(ell)``."""
    X = _inputs(X)
    W, U = sample_weights(n, X.shape[1], model.sigma_w, model.sigma_u, rng)
    plain = deq_forward(W, U, X, model.activation, method="iteration", tol=tol)
    anderson = deq_forward(W, U, X, model.activation, method="anderson", tol=tol)
    r = plain.residuals
    half = r.size // 2
    rate = float((r[-1] / r[half]) ** (1.0 / (r.size - 1 - half)))
    return {"plain": plain, "anderson": anderson, "rate": rate,
            "predicted_rate": math.sqrt(model.kernel(X).lipschitz),
            "gap": float(np.max(np.abs(plain.h - anderson.h)))}


def contraction_scan(X: np.ndarray, activation: str, sigma_ws, sigma_u: float, n: int,
                     rng: np.random.Generator, max_iter: int = FORWARD_MAX_ITER
                     ) -> dict[str, np.ndarray]:
    """For each ``sigma_w``: ``ell`` from :func:`deq_kernel` (also when it raises
    :class:`ContractionError`), and whether one width-``n`` DEQ on ``X`` converges by plain
    iteration within ``max_iter`` steps, with its geometric rate over the second half of the
    iterations (``nan`` where it did not converge)."""
    X = _inputs(X)
    ells, converged, rates = [], [], []
    for sw in sigma_ws:
        try:
            ells.append(DEQModel(activation, float(sw), sigma_u).kernel(X).lipschitz)
        except ContractionError as err:
            ells.append(err.lipschitz)
        W, U = sample_weights(n, X.shape[1], float(sw), sigma_u, rng)
        sol = deq_forward(W, U, X, activation, max_iter=max_iter, allow_failures=True)
        ok = bool(sol.converged)
        converged.append(ok)
        r = sol.residuals
        half = r.size // 2
        rates.append(float((r[-1] / r[half]) ** (1.0 / (r.size - 1 - half))) if ok else math.nan)
    return {"sigma_w": np.asarray(sigma_ws, dtype=float), "lipschitz": np.array(ells),
            "converged": np.array(converged), "rate": np.array(rates)}


def width_scan(model: DEQModel, X: np.ndarray, widths, n_seeds: int, rng: np.random.Generator,
               tol: float = FORWARD_TOLERANCE) -> dict[str, np.ndarray]:
    """Relative error ``||K_n - Sigma*||_F / ||Sigma*||_F`` of the DEQ's empirical kernel,
    ``n_seeds`` independent networks per width (rows: widths)."""
    X = _inputs(X)
    widths = _widths(widths)
    star = model.kernel(X).sigma
    errors = np.empty((widths.size, _count(n_seeds, "n_seeds")))
    for i, n in enumerate(widths):
        col = 0
        for size in _batches(errors.shape[1], n):
            h = model.solve(X, int(n), rng, n_networks=size, tol=tol).h
            errors[i, col:col + size] = relative_error(empirical_kernel(h, model.sigma_w), star)
            col += size
    return {"widths": widths, "errors": errors, "sigma_star": star}


def output_gaussianity(model: DEQModel, x: np.ndarray, widths, n_networks: int,
                       rng: np.random.Generator, tol: float = FORWARD_TOLERANCE,
                       max_iter: int = FORWARD_MAX_ITER) -> dict[str, np.ndarray]:
    """Outputs ``f(x) = sigma_w v . h*(x) / sqrt(n)`` of ``n_networks`` independent DEQs per
    width, standardised by ``sqrt(Sigma*(x, x))``, against ``N(0, 1)``: the Kolmogorov-Smirnov
    statistic and p-value and the mean square of the standardised outputs. Networks whose
    iteration does not reach ``tol`` within ``max_iter`` steps (no stable equilibrium, which
    happens at small width) are left out and counted in ``failed`` (a fraction)."""
    X = _inputs(np.atleast_2d(x))
    if X.shape[0] != 1:
        raise ValueError("output_gaussianity takes one input x")
    widths = _widths(widths)
    n_networks = _count(n_networks, "n_networks", 2)
    scale = math.sqrt(model.kernel(X).sigma[0, 0])
    ks, pvalue, variance, failed = [], [], [], []
    for n in widths:
        f, ok = [], []
        for size in _batches(n_networks, n):
            sol = model.solve(X, int(n), rng, n_networks=size, tol=tol, max_iter=max_iter,
                              allow_failures=True)
            h = sol.h[:, :, 0]
            v = rng.standard_normal(h.shape)
            f.append(model.sigma_w * np.sum(v * h, axis=1) / math.sqrt(n))
            ok.append(sol.converged)
        ok = np.concatenate(ok)
        z = np.concatenate(f)[ok] / scale
        test = stats.kstest(z, "norm")
        ks.append(test.statistic)
        pvalue.append(test.pvalue)
        variance.append(float(np.mean(z * z)))
        failed.append(1.0 - ok.mean())
    return {"widths": widths, "ks": np.array(ks), "pvalue": np.array(pvalue),
            "variance": np.array(variance), "failed": np.array(failed)}


def commuting_limits(model: DEQModel, X: np.ndarray, widths, depths, n_seeds: int,
                     rng: np.random.Generator, tol: float = FORWARD_TOLERANCE) -> dict[str, np.ndarray]:
    """Relative distance to ``Sigma*`` of the kernels on the (depth, width) grid.

    ``errors[i, j]``: mean over ``n_seeds`` networks of ``||K_{n_j, L_i} - Sigma*||_F /
    ||Sigma*||_F`` for the weight-tied network of depth ``L_i`` and width ``n_j``; the last row
    (``L = inf``) uses the DEQ fixed point of the same networks. ``infinite_width[i]``: the same
    for the infinite-width kernel ``Sigma^{L_i}`` (width first), last entry 0 by definition
    (``Sigma^inf = Sigma*``). ``deq_vs_deep[j]``: mean ``||K_{n_j, L_max} - K_{n_j}||_F /
    ||Sigma*||_F`` (the deepest network against the DEQ, same weights)."""
    X = _inputs(X)
    widths = _widths(widths)
    depths = np.unique(_widths(depths))
    n_seeds = _count(n_seeds, "n_seeds")
    fp = model.kernel(X)
    star = fp.sigma
    deep = weight_tied_kernels(input_kernel(X, model.sigma_u), model.activation, model.sigma_w,
                               int(depths.max()))
    infinite_width = np.append(relative_error(deep[depths], star), 0.0)
    errors = np.zeros((depths.size + 1, widths.size))
    deq_vs_deep = np.zeros(widths.size)
    for j, n in enumerate(widths):
        W, U = sample_weights(int(n), X.shape[1], model.sigma_w, model.sigma_u, rng, n_seeds)
        h_star = deq_forward(W, U, X, model.activation, tol=tol).h
        K_star = empirical_kernel(h_star, model.sigma_w)
        errors[-1, j] = relative_error(K_star, star).mean()
        for i, K in enumerate(_weight_tied_kernels_at(W, U, X, model, depths)):
            errors[i, j] = relative_error(K, star).mean()
        deq_vs_deep[j] = (relative_error(K, K_star) * np.linalg.norm(K_star, axis=(-2, -1))
                          / np.linalg.norm(star)).mean()
    return {"widths": widths, "depths": depths, "errors": errors, "infinite_width": infinite_width,
            "deq_vs_deep": deq_vs_deep, "lipschitz": fp.lipschitz}


def _weight_tied_kernels_at(W, U, X, model: DEQModel, depths: np.ndarray) -> list[np.ndarray]:
    """Empirical kernels of the weight-tied network at the sorted ``depths``, in one pass."""
    g = _forward_map(_builtin(model.activation), W, _injection(W, U, X))
    H = np.zeros((*W.shape[:-1], X.shape[0]))
    out = []
    for ell in range(1, int(depths.max()) + 1):
        H = g(H)
        if ell in depths:
            out.append(empirical_kernel(H, model.sigma_w))
    return out


def min_eigenvalue_scan(X: np.ndarray, activation: str, sigma_ws, sigma_u: float) -> np.ndarray:
    """``lambda_min(Sigma*)`` for each ``sigma_w`` (``lambda_min(Sigma1)`` at ``sigma_w = 0``
    is not included: ``Sigma* = 0`` there)."""
    return np.array([np.linalg.eigvalsh(DEQModel(activation, float(s), sigma_u).kernel(X).sigma)[0]
                     for s in sigma_ws])


def finite_width_min_eigenvalues(model: DEQModel, X: np.ndarray, widths, n_seeds: int,
                                 rng: np.random.Generator, max_draws: int = 10
                                 ) -> dict[str, np.ndarray]:
    """``lambda_min(K_n)`` of the DEQ's empirical kernel (rows: widths, columns: seeds).

    Draws of ``W`` whose DEQ has no stable equilibrium on some input (the plain iteration does
    not converge; this happens at small width) are redrawn and counted in ``rejected``; more
    than ``max_draws * n_seeds`` draws at one width raise :class:`DEQConvergenceError`."""
    X = _inputs(X)
    widths = _widths(widths)
    n_seeds = _count(n_seeds, "n_seeds")
    out = np.empty((widths.size, n_seeds))
    rejected = np.zeros(widths.size, dtype=int)
    for i, n in enumerate(widths):
        col = 0
        while col < n_seeds:
            if rejected[i] + col >= max_draws * n_seeds:
                raise DEQConvergenceError(f"width {n}: {rejected[i]} draws without an equilibrium")
            sol = model.solve(X, int(n), rng, n_networks=1, allow_failures=True)
            if not sol.converged[0]:
                rejected[i] += 1
                continue
            out[i, col] = np.linalg.eigvalsh(empirical_kernel(sol.h[0], model.sigma_w))[0]
            col += 1
    return {"widths": widths, "lambda_min": out, "rejected": rejected}


# --- kernel ridge on a small real data set ----------------------------------------------------


def digits_inputs(n_train: int, n_test: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A random train/test split of scikit-learn's ``load_digits`` (1797 images of 8 x 8 pixels,
    shipped with the package). Pixels are centred by the training mean and every image is
    scaled to norm ``sqrt(d)`` (so ``<x, x>/d = 1``). Returns ``X_train, y_train, X_test, y_test``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    n_train, n_test = _count(n_train, "n_train", 2), _count(n_test, "n_test")
    if n_train + n_test > data.target.size:
        raise ValueError(f"n_train + n_test must be at most {data.target.size}, got {n_train + n_test}")
    order = rng.permutation(data.target.size)
    X = data.data[order].astype(np.float64)
    X -= X[:n_train].mean(axis=0)
    X *= math.sqrt(X.shape[1]) / np.linalg.norm(X, axis=1, keepdims=True)
    y = data.target[order]
    return X[:n_train], y[:n_train], X[n_train:n_train + n_test], y[n_train:n_train + n_test]


def kernel_ridge_predict(K_train: np.ndarray, K_cross: np.ndarray, Y: np.ndarray,
                         ridge: float) -> np.ndarray:
    """Kernel ridge regression ``K_cross (K_train + ridge I)^{-1} Y`` (Cholesky solve)."""
    from scipy.linalg import cho_factor, cho_solve

    A = K_train + _positive(ridge, "ridge") * np.eye(K_train.shape[0])
    return K_cross @ cho_solve(cho_factor(A), Y)


def _classify(K: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
              ridge: float) -> np.ndarray:
    """Arg-max of one-hot kernel ridge regression (centred targets) on the ``test`` rows."""
    Y = np.eye(int(y.max()) + 1)[y[train]]
    scores = kernel_ridge_predict(K[np.ix_(train, train)], K[np.ix_(test, train)], Y - Y.mean(0), ridge)
    return np.argmax(scores, axis=1)


def ridge_classification(K: np.ndarray, y: np.ndarray, n_train: int, ridges, validation: float = 0.25
                         ) -> tuple[np.ndarray, float]:
    """One-hot kernel ridge classification with the kernel ``K`` on all samples (the first
    ``n_train`` are the training set). The ridge is chosen among ``ridges`` (multiples of the
    mean diagonal of ``K``) on the last ``validation`` fraction of the training set, then the
    model is refitted on the whole training set. Returns the test predictions and the ridge."""
    n_train = _count(n_train, "n_train", 2)
    idx = np.arange(y.size)
    n_fit = int(round((1.0 - validation) * n_train))
    if not 1 <= n_fit < n_train:
        raise ValueError(f"validation must leave both parts non-empty, got {validation!r}")
    scale = float(np.mean(np.diag(K)))
    accuracy = [np.mean(_classify(K, y, idx[:n_fit], idx[n_fit:n_train], r * scale) == y[n_fit:n_train])
                for r in ridges]
    best = float(ridges[int(np.argmax(accuracy))]) * scale
    return _classify(K, y, idx[:n_train], idx[n_train:], best), best


def kernel_ridge_comparison(model: DEQModel, n_train: int, n_test: int, ridges,
                            rng: np.random.Generator) -> dict[str, object]:
    """Digits classified by kernel ridge with ``Sigma*`` against the linear kernel ``Sigma1``
    (the same network at ``sigma_w = 0``, i.e. ridge on the pixels). Returns the accuracies,
    the paired counts ``deq_only`` (test images right with ``Sigma*`` only) and
    ``linear_only``, and McNemar's statistic ``(deq_only - linear_only) / sqrt(deq_only +
    linear_only)``."""
    X_train, y_train, X_test, y_test = digits_inputs(n_train, n_test, rng)
    X = np.vstack([X_train, X_test])
    y = np.concatenate([y_train, y_test])
    fp = model.kernel(X)
    pred_deq, ridge_deq = ridge_classification(fp.sigma, y, n_train, ridges)
    pred_lin, ridge_lin = ridge_classification(input_kernel(X, model.sigma_u), y, n_train, ridges)
    right_deq, right_lin = pred_deq == y_test, pred_lin == y_test
    b = int(np.sum(right_deq & ~right_lin))
    c = int(np.sum(~right_deq & right_lin))
    return {"accuracy_deq": float(right_deq.mean()), "accuracy_linear": float(right_lin.mean()),
            "deq_only": b, "linear_only": c, "mcnemar": (b - c) / math.sqrt(max(b + c, 1)),
            "ridge_deq": ridge_deq, "ridge_linear": ridge_lin, "iterations": fp.iterations}

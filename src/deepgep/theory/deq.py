"""Deep equilibrium models (DEQs) and their Gaussian-process limit (Gao et al. 2023): the theory.

A weight-tied network applied infinitely many times is a DEQ: for inputs ``x`` (rows of ``X``,
dimension ``d``) the hidden state of width ``n`` solves

    h* = phi(W h* + U x),   W_ij ~ N(0, sigma_w^2 / n),   U_ij ~ N(0, sigma_u^2 / d),

and the output is ``f(x) = sigma_w v . h*(x) / sqrt(n)``, ``v ~ N(0, I_n)``: the readout is drawn
like one more row of ``W`` (book eq-deq-fixed-point). The finite-width (empirical) kernel is
``K_n(x, x') = sigma_w^2 h*(x) . h*(x') / n`` and the output is, given the weights, a centred
Gaussian vector with covariance ``K_n``.

Infinite width (Gao et al. 2023, main results; book thm-deq-gp, eq-deq-kernel). With the input kernel
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
equilibrium to converge to, and :func:`deq_kernel` raises :class:`ContractionError` (book
eq-deq-contraction).

Expectations: closed forms for ``erf`` (Williams' arcsine kernel), ``relu`` (the degree-1
arc-cosine kernel of Cho and Saul), ``sin`` and ``linear``; for ``tanh`` the two-dimensional
rule of :mod:`deepgep.theory.quadrature` (Cholesky change of variables, tensor split-Legendre rule)
in one compiled loop over all pairs, through :func:`deepgep.theory.kernels.kernel_map`. Only
built-in activations are supported. The finite-width solvers are in :mod:`deepgep.simulate.deq`.
"""


from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepgep.support.validation import check_count, check_covariance, check_design, check_real
from deepgep.theory.activations import ERF, RELU, SIN, TANH, Activation, builtin_activation
from deepgep.theory.kernels import check_kernel_method, kernel_map
from deepgep.theory.quadrature import gaussian_expectation, rule_for

__all__ = [
    "KERNEL_TOLERANCE", "KERNEL_MAX_ITER", "ContractionError", "KernelFixedPointError",
    "input_kernel", "derivative_second_moment", "lipschitz_constant", "KernelFixedPoint",
    "deq_kernel", "weight_tied_kernels", "state_distances", "LIPSCHITZ_AT_ZERO", "activation_lipschitz",
    "min_eigenvalue_scan",
]

#: Default tolerance of the kernel fixed point (max-norm of one update, relative to max |S|).
KERNEL_TOLERANCE = 1e-12
#: Default iteration budget of the kernel fixed point.
KERNEL_MAX_ITER = 1000
#: The activations whose Lipschitz constant is ``|phi'(0)|`` (odd, ``|phi'|`` largest at 0).
LIPSCHITZ_AT_ZERO = ("tanh", "erf", "sin")


class ContractionError(ValueError):
    """``sigma_w`` is too large: the kernel map / DEQ is not a contraction (``ell >= 1``).

    ``lipschitz`` holds the measured ``ell`` (``inf`` when the kernel iteration blew up)."""

    def __init__(self, message: str, lipschitz: float = math.inf) -> None:
        super().__init__(message)
        self.lipschitz = lipschitz


class KernelFixedPointError(RuntimeError):
    """The kernel iteration did not converge within its iteration budget."""


def input_kernel(X: np.ndarray, sigma_u: float) -> np.ndarray:
    """``Sigma1 = sigma_u^2 X X^T / d``, the covariance of the injection ``U x`` (rows of X)."""
    X = check_design(X)
    return (check_real("sigma_u", sigma_u, positive=True) ** 2 / X.shape[1]) * (X @ X.T)


def derivative_second_moment(activation: str | Activation, variances: np.ndarray) -> np.ndarray:
    """``E phi'(u)^2`` for ``u ~ N(0, s)``, one value per variance ``s`` (closed forms except
    for tanh, where the 1-D split rule of :mod:`deepgep.theory.quadrature` is used)."""
    act = builtin_activation(activation, "deq")
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
        def dtanh2(u: np.ndarray) -> np.ndarray:
            return act.derivative(u) ** 2

        return np.array([gaussian_expectation(dtanh2, float(v)) for v in s.ravel()]).reshape(s.shape)
    return np.full(s.shape, g2)


def lipschitz_constant(pre: np.ndarray, activation: str | Activation, sigma_w: float) -> float:
    """``ell = sigma_w^2 max_x E phi'(u_x)^2`` with ``u_x ~ N(0, pre_xx)`` (module docstring)."""
    pre = check_covariance(pre, "pre")
    sw2 = check_real("sigma_w", sigma_w) ** 2
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
    the infinite-width kernel; book eq-deq-kernel) by damped iteration from ``S = 0``:
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
    act = builtin_activation(activation, "deq")
    check_kernel_method(method, act)
    sigma1 = check_covariance(sigma1, "sigma1")
    sw2 = check_real("sigma_w", sigma_w) ** 2
    beta = float(damping)
    if not 0.0 < beta <= 1.0:
        raise ValueError(f"damping must be in (0, 1], got {damping!r}")
    check_real("tol", tol, positive=True)
    max_iter = check_count("max_iter", max_iter)
    S = np.zeros_like(sigma1)
    residuals = []
    for it in range(1, max_iter + 1):
        new = (1.0 - beta) * S + beta * sw2 * kernel_map(S + sigma1, act, method, n_nodes, check=False)
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
    act = builtin_activation(activation, "deq")
    check_kernel_method(method, act)
    sigma1 = check_covariance(sigma1, "sigma1")
    sw2 = check_real("sigma_w", sigma_w) ** 2
    out = np.zeros((check_count("depth", depth, 0) + 1, *sigma1.shape))
    for ell in range(1, out.shape[0]):
        out[ell] = sw2 * kernel_map(out[ell - 1] + sigma1, act, method, n_nodes, check=False)
    return out


def state_distances(
    sigma1: np.ndarray, activation: str | Activation, sigma_w: float, depth: int, *,
    fixed_point: KernelFixedPoint | None = None, n_nodes: int | None = None,
) -> np.ndarray:
    """Infinite-width squared distance of the weight-tied network's state to the equilibrium,
    ``D^L(x) = lim sigma_w^2 ||h^L(x) - h*(x)||^2 / n`` for ``L = 0..depth`` (``h^0 = 0``, so
    ``D^0 = Sigma*(x, x)``), one column per input: shape ``(depth + 1, P)``.

    The pre-activations at equilibrium ``b = W h* + U x`` and the gap ``delta = W e`` of the
    depth-``L`` network (``e = h^{L-1} - h*``, the injection cancels) are jointly Gaussian at
    infinite width, with ``Var b = Sigma* + Sigma1``, ``Var delta = D^{L-1}`` and ``Cov(b, delta) =
    E^{L-1} = lim sigma_w^2 h* . e / n`` (a weight-tied forward pass uses no transpose of ``W``, so
    the Gaussian conditioning of the kernel map applies, book eq-deq-kernel). Hence, per input,

        D^L = sigma_w^2 E [phi(b + delta) - phi(b)]^2,   E^L = sigma_w^2 E phi(b) [phi(b + delta) - phi(b)],

    from ``D^0 = Sigma*``, ``E^0 = -Sigma*``: a recursion on the small quantities themselves, so
    that ``D^L`` stays accurate far below the rounding of ``Sigma*`` (``Sigma^L + Sigma* - 2 C^L``
    would cancel catastrophically). Near equilibrium ``D^{L+1} / D^L -> sigma_w^2 E phi'(b)^2``,
    the constant ``ell`` of eq-deq-contraction: the state approaches ``h*`` at the rate
    ``sqrt(ell)`` per layer and no finite depth reaches it. The difference ``phi(b + delta) -
    phi(b)`` is evaluated directly, so ``D^L`` has a relative rounding error of about
    ``1e-16 sqrt(Sigma*/D^L)``. Tensor rule :func:`deepgep.theory.quadrature.rule_for` in the two
    standard normals of the Cholesky factor of ``Cov(b, delta)``. ``fixed_point``: the
    :func:`deq_kernel` of ``sigma1`` (computed if None)."""
    act = builtin_activation(activation, "deq")
    sigma1 = check_covariance(sigma1, "sigma1")
    sw2 = check_real("sigma_w", sigma_w) ** 2
    depth = check_count("depth", depth, 0)
    fp = deq_kernel(sigma1, act, sigma_w) if fixed_point is None else fixed_point
    x, w = rule_for(n_nodes)
    z1, z2, weights = x[None, :, None], x[None, None, :], w[:, None] * w[None, :]
    root = np.sqrt(np.diag(fp.pre))[:, None, None]           # one row per input
    b = root * z1
    phi_b = act(b)
    D, E = np.diag(fp.sigma).copy(), -np.diag(fp.sigma).copy()
    out = np.empty((depth + 1, D.size))
    out[0] = D
    for ell in range(1, depth + 1):
        beta = E / root[:, 0, 0]
        gamma = np.sqrt(np.maximum(D - beta * beta, 0.0))
        diff = act(b + (beta[:, None, None] * z1 + gamma[:, None, None] * z2)) - phi_b
        D = sw2 * np.einsum("ij,kij->k", weights, diff * diff)
        E = sw2 * np.einsum("ij,kij->k", weights, phi_b * diff)
        out[ell] = D
    return out


def activation_lipschitz(activation: str | Activation) -> float:
    """``Lip(phi) = |phi'(0)|`` of the activations of :data:`LIPSCHITZ_AT_ZERO` (``1`` for tanh,
    ``2/sqrt(pi)`` for erf, times the gain): the factor of the contraction hypothesis
    ``2 sigma_w Lip(phi) < 1`` of thm-deq-gp (book eq-deq-contraction)."""
    act = builtin_activation(activation, "activation_lipschitz")
    if act.name not in LIPSCHITZ_AT_ZERO:
        raise ValueError(f"activation_lipschitz supports {', '.join(LIPSCHITZ_AT_ZERO)}, got {act.name!r}")
    return math.sqrt(float(derivative_second_moment(act, np.zeros(1))[0]))


def min_eigenvalue_scan(sigma1: np.ndarray, activation: str | Activation, sigma_ws) -> np.ndarray:
    """``lambda_min(Sigma*)`` of the fixed point (:func:`deq_kernel`) for each ``sigma_w`` of
    ``sigma_ws`` (``Sigma* = 0`` at ``sigma_w = 0``). thm-deq-pd: positive for ``sigma_w > 0``, a
    non-polynomial ``phi`` and pairwise non-parallel inputs, even when ``Sigma1`` is singular."""
    return np.array([np.linalg.eigvalsh(deq_kernel(sigma1, activation, float(s)).sigma)[0] for s in sigma_ws])

"""Bayes-optimal GAMP for the GLM of the book, and its state evolution.

The model (book eq-equivalent-glm): inputs ``X`` (``n x d``, rows = samples, i.i.d.
``N(0, 1)``), teacher ``a ~ N(0, I_d)``, pre-activations ``z = eta0 X a / sqrt(d)`` of variance
``kappa = eta0**2``, labels ``y ~ P_out(. | z)`` given by a channel of
:mod:`deepgep.theory.channels`.
With the design ``F = eta0 X / sqrt(d)`` (so that ``z = F a``) and the prior ``N(0, 1)`` on each
coordinate of ``a``, generalised approximate message passing (Rangan 2011; in the notation of
Barbier, Krzakala, Macris, Miolane & Zdeborova, PNAS 2019, and of the Zdeborova-Krzakala
review) reads, for ``t = 0, 1, 2, ...``

    V_t     = (|F|_F^2 / n) v_t                          (output variance, a scalar)
    omega_t = F a_t - V_t g_{t-1}                         (with the Onsager term; g_{-1} = 0)
    g_t, dg_t = g_out(y, omega_t, V_t), d g_out / d omega (elementwise, the channel)
    A_t     = (|F|_F^2 / d) mean_mu(-dg_t)               (input precision, a scalar)
    B_t     = F^T g_t + A_t a_t
    a_{t+1} = B_t / (1 + A_t),   v_{t+1} = 1 / (1 + A_t)  (Gaussian-prior denoiser)

This is the *scalar-variance* ("uniform variance") form, exact to leading order for i.i.d.
designs: the per-entry variances ``F_{mu i}^2`` are replaced by their mean, so that ``V`` and
``A`` are scalars. One iteration therefore costs exactly two BLAS matrix-vector products
(``X @ .`` and ``X.T @ .``; ``X.T`` is a view, never a copy) plus ``O(n + d)`` elementwise work.
The only ``O(n d)`` set-up is one pass over ``X`` computing ``|X|_F^2`` (which also checks that
``X`` is finite), plus one copy if ``X`` is neither C- nor Fortran-contiguous (a strided view
would otherwise be copied by every matvec).

**Initialisation.** ``a_0 = 0`` and ``v_0 = 1`` (the prior): this is the state of state
evolution with ``q_0 = 0``. It needs no symmetry breaking for the channels that provide
``g_out`` (linear and sign): their ``g_out`` at ``omega = 0`` is informative
(``E[g_out^2](q=0) > 0``, e.g. ``2 / (pi (kappa + noise))`` for the probit channel), so the first
step already correlates with the teacher. For a channel with an even output function
(``E[g_out^2](q=0) = 0``) ``a = 0`` is a fixed point; pass ``rng`` to start instead from a tiny
random ``a_0 ~ N(0, INIT_VARIANCE)`` (overlap with the teacher ``O(1/sqrt(d))``).

**Fixed point of the linear channel.** For ``g_out = (y - omega)/(V + noise)`` any fixed point
satisfies ``(noise I + F^T F) a = F^T y``: GAMP converges to the exact posterior mean (ridge on
the ``a`` scale with ``lambda = noise / kappa``), whatever the scalar-variance approximation.

**Index alignment with state evolution.** Every per-iteration array of :class:`GAMPResult` has
``iterations + 1`` entries; entry ``t`` is measured on ``a_t``, the estimate after ``t``
iterations (entry 0 is the initialisation).
:func:`deepgep.theory.state_evolution.state_evolution_trajectory` returns
``q_0, ..., q_T`` with ``q_{t+1} = q_hat_t / (1 + q_hat_t)``, ``q_hat_t = q_hat_of(q_t)``, the
``q_hat_t`` being the (large-``d``) value of ``A_t`` computed from ``a_t``. Then, as
``d -> infinity`` at fixed ``t``, entry ``t`` of GAMP matches ``q_t`` of SE (same ``t``):
``overlap_t -> q_t``, ``self_overlap_t -> q_t`` (Nishimori), ``mse_t -> 1 - q_t`` and GAMP's
own variance ``v_t -> 1 - q_t`` (for ``t >= 1``: ``v_t = 1/(1 + A_{t-1})``).
With ``damping > 0`` GAMP is no longer described by this recursion and no SE prediction is
attached to the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepgep.support.validation import check_count, check_design, check_kappa, check_real, check_vector
from deepgep.theory.channels import GAMPChannel
from deepgep.theory.state_evolution import state_evolution_trajectory

__all__ = ["INIT_VARIANCE", "GAMPResult", "gamp"]

#: Variance of the coordinates of the random start (only when ``rng`` is passed to :func:`gamp`).
INIT_VARIANCE = 1e-6


@dataclass(frozen=True, eq=False)
class GAMPResult:
    """Output of :func:`gamp`.

    ``estimate`` is the final posterior-mean estimate ``a_T`` (length ``d``) and ``variance`` its
    (uniform) posterior variance per coordinate. The arrays ``self_overlap`` (``|a_t|^2 / d``),
    ``variances`` (``v_t``), ``overlap`` (``a_t . a / d``), ``mse`` (``|a_t - a|^2 / d``) and
    ``se_overlap`` (state evolution's ``q_t``) have ``iterations + 1`` entries, entry ``t``
    after ``t`` iterations (module docstring). ``overlap`` and ``mse`` are ``None`` without a
    teacher; ``se_overlap`` is ``None`` when ``damping > 0``. ``converged`` tells whether the
    root-mean-square change of the estimate fell below ``tol`` before ``n_iter`` iterations.
    """

    estimate: np.ndarray
    variance: float
    self_overlap: np.ndarray
    variances: np.ndarray
    overlap: np.ndarray | None
    mse: np.ndarray | None
    se_overlap: np.ndarray | None
    converged: bool
    iterations: int
    alpha: float
    kappa: float
    estimates: np.ndarray | None = None  # (iterations + 1) x d with keep_estimates=True

    @property
    def se_mse(self) -> np.ndarray | None:
        """State evolution's prediction ``1 - q_t`` of ``mse`` (entry ``t`` after ``t`` steps)."""
        return None if self.se_overlap is None else 1.0 - self.se_overlap


# --- validation ----------------------------------------------------------------------------


def _check_channel(channel) -> None:
    if not isinstance(channel, GAMPChannel):
        raise TypeError(
            f"GAMP needs a channel with g_out(y, omega, V) and mean_g_out_squared(kappa, q) "
            f"(GaussianChannel, SignChannel); got {type(channel).__name__}"
        )


def _frobenius_squared(X: np.ndarray) -> float:
    """``|X|_F^2`` in one BLAS pass (a view for C- or Fortran-contiguous ``X``); raises if ``X``
    is not finite (a NaN or an infinity makes the sum non-finite)."""
    flat = X.ravel(order="K")
    total = float(np.dot(flat, flat))
    if not math.isfinite(total):
        raise ValueError("X contains non-finite (or overflowing) values")
    if total == 0.0:
        raise ValueError("X is identically zero")
    return total


def _check_iteration_options(n_iter, damping, tol) -> tuple[int, float, float]:
    damping = float(damping)
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"damping must be in [0, 1), got {damping!r}")
    return check_count("n_iter", n_iter), damping, check_real("tol", tol)


# --- GAMP ----------------------------------------------------------------------------------


def gamp(
    X,
    y,
    channel,
    eta0: float,
    *,
    n_iter: int = 50,
    damping: float = 0.0,
    tol: float = 1e-10,
    teacher=None,
    rng: np.random.Generator | None = None,
    keep_estimates: bool = False,
) -> GAMPResult:
    """Bayes-optimal GAMP (module docstring) on ``y ~ channel(eta0 X a / sqrt(d))``, prior
    ``a ~ N(0, I_d)``.

    ``X``: ``n x d`` inputs (used in place, never copied when float64; ``X.T`` is a view).
    ``channel``: provides ``g_out`` (:class:`~deepgep.theory.channels.GaussianChannel`,
    :class:`~deepgep.theory.channels.SignChannel`). ``eta0``: non-zero, ``kappa = eta0**2``.
    ``n_iter``: maximum number of iterations. ``damping`` in ``[0, 1)``: the new ``g``, ``a``
    and ``v`` are mixed with the old ones, ``new <- (1 - damping) new + damping old`` (0: plain
    GAMP). ``tol``: stop when ``sqrt(mean((a_{t+1} - a_t)^2)) < tol`` (``tol = 0`` never stops
    early). ``teacher``: the true ``a`` (length ``d``), for the overlap and the MSE. ``rng``:
    if given, start from a tiny random ``a_0`` instead of ``0`` (module docstring); the attached
    SE trajectory starts from ``q_0 = 0`` either way (``|a_0|^2 / d ~ 1e-6``).
    ``keep_estimates``: also return every iterate ``a_t`` (``estimates``, one row per ``t``), e.g.
    to measure a test error per iteration on data that have no teacher vector.

    Raises ``ValueError`` on shapes that do not match or non-finite inputs, ``TypeError`` for a
    channel without ``g_out``, and ``FloatingPointError`` if an iterate becomes non-finite.
    """
    _check_channel(channel)
    X = check_design(X, contiguous=True)
    n, d = X.shape
    y = check_vector("y", y, n, "one label per row")
    a_true = None if teacher is None else check_vector("teacher", teacher, d, "one entry per column")
    n_iter, damping, tol = _check_iteration_options(n_iter, damping, tol)
    eta0 = float(eta0)
    kappa = check_kappa(eta0 * eta0)  # eta0 = 0, nan or inf raise
    alpha = n / d
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (or None for the zero start)")

    scale = eta0 / math.sqrt(d)  # F = scale * X
    fro2 = scale * scale * _frobenius_squared(X)  # |F|_F^2
    row_sq, col_sq = fro2 / n, fro2 / d  # mean squared row / column norm of F

    if rng is None:
        ahat = np.zeros(d)
    else:
        ahat = math.sqrt(INIT_VARIANCE) * rng.standard_normal(d)
    v = 1.0
    g = np.zeros(n)

    self_overlap = [float(ahat @ ahat) / d]
    variances = [v]
    overlap, mse = None, None
    if a_true is not None:
        overlap = [float(ahat @ a_true) / d]
        diff = ahat - a_true
        mse = [float(diff @ diff) / d]

    kept = [ahat.copy()] if keep_estimates else None
    converged = False
    iterations = 0
    for t in range(n_iter):
        V = row_sq * v
        omega = X @ (scale * ahat)  # matvec 1 (BLAS gemv)
        omega -= V * g  # Onsager term
        g_new, dg = channel.g_out(y, omega, V)
        A = -col_sq * float(np.sum(dg)) / n
        if not (math.isfinite(A) and A >= 0.0):
            raise FloatingPointError(
                f"GAMP: input precision A = {A} at iteration {t + 1} (V = {V}); the channel's "
                "g_out derivative is non-finite or positive"
            )
        if damping:
            g_new = (1.0 - damping) * g_new + damping * g
        B = X.T @ (scale * g_new)  # matvec 2 (BLAS gemv on the transposed view)
        B += A * ahat
        a_new = B / (1.0 + A)
        v_new = 1.0 / (1.0 + A)
        if damping:
            a_new = (1.0 - damping) * a_new + damping * ahat
            v_new = (1.0 - damping) * v_new + damping * v
        step = a_new - ahat
        change = math.sqrt(float(step @ step) / d)
        q_t = float(a_new @ a_new) / d
        if not (math.isfinite(q_t) and math.isfinite(change)):
            raise FloatingPointError(f"GAMP: non-finite estimate at iteration {t + 1}")
        ahat, v, g = a_new, v_new, g_new
        iterations = t + 1
        self_overlap.append(q_t)
        variances.append(v)
        if kept is not None:
            kept.append(ahat.copy())
        if a_true is not None:
            overlap.append(float(ahat @ a_true) / d)
            diff = ahat - a_true
            mse.append(float(diff @ diff) / d)
        if change < tol:
            converged = True
            break

    se = None if damping else state_evolution_trajectory(channel, kappa, alpha, iterations)
    return GAMPResult(
        estimate=ahat,
        variance=float(v),
        self_overlap=np.array(self_overlap),
        variances=np.array(variances),
        overlap=None if overlap is None else np.array(overlap),
        mse=None if mse is None else np.array(mse),
        se_overlap=se,
        converged=converged,
        iterations=iterations,
        alpha=alpha,
        kappa=kappa,
        estimates=None if kept is None else np.array(kept),
    )

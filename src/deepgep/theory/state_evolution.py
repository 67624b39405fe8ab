"""Replica-symmetric fixed point of the Bayes-optimal GLM with a Gaussian prior: the one home
of the state-evolution map.

Book eq-rs-free-entropy and eq-state-evolution (Barbier, Krzakala, Macris, Miolane, Zdeborova
2019, Theorem 1 and eq. (7), specialised to the prior ``a ~ N(0, 1)``): with ``kappa = eta0^2``,

    f_RS(q, q_hat) = 1/2 (q_hat - ln(1 + q_hat)) - 1/2 q q_hat + alpha Psi_out(q),

stationary at ``q = q_hat / (1 + q_hat)`` and ``q_hat = alpha kappa E[g_out^2](q)``. The free
entropy is ``lim (1/d0) E ln Z`` and the mutual information per input dimension is
``I(a; Y | X) / d0 = -f_RS + alpha Psi_out(1)`` (``Psi_out(1) = E ln P_out(Y | z)``). With
several fixed points, the Bayes-optimal one maximises ``f_RS``; both iterations (from an
uninformed and an informed start) are run and their disagreement is reported (a first-order
transition: the algorithmic and the information-theoretic thresholds differ).

The map ``q -> q_hat(q) -> q_hat / (1 + q_hat)`` is written once (:func:`q_hat_of`,
:func:`damped_update`) and iterated in three ways: to a fixed point (:func:`iterate`, with a
compiled loop for the sign channel, the book's most used channel), step by step as the
prediction of GAMP's trajectory (:func:`state_evolution_trajectory`), and over a grid of
``alpha`` with both starts (:func:`bayes_optimal_curve`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit
from tqdm import tqdm

from deepgep.support.validation import check_alpha, check_count, check_kappa, check_overlap, check_real
from deepgep.theory.channels import Channel, GaussianChannel, SignChannel
from deepgep.theory.channels.sign import probit_average, probit_rules
from deepgep.theory.hypotheses import warn_outside_theorem

__all__ = [
    "DEFAULT_TOLERANCE", "DEFAULT_MAX_ITERATIONS", "UNINFORMED_START", "INFORMED_START",
    "ConvergenceError", "FixedPoint", "free_entropy", "q_hat_of", "damped_update", "iterate",
    "fixed_point", "state_evolution_trajectory", "bayes_optimal_curve", "gaussian_closed_form",
    "solve", "mutual_information", "identity_checks",
]

#: Default stopping rule: |q_{t+1} - q_t| below this.
DEFAULT_TOLERANCE = 1e-10
#: Default cap on iterations of the fixed-point map.
DEFAULT_MAX_ITERATIONS = 10_000
#: Starting overlaps of the two iterations.
UNINFORMED_START = 1e-6
INFORMED_START = 1.0 - 1e-6
#: Relative tolerance below which two fixed points are the same.
_SAME_FIXED_POINT = 1e-6


class ConvergenceError(RuntimeError):
    """The fixed-point iteration did not converge (or produced a non-finite value)."""


@dataclass(frozen=True)
class FixedPoint:
    """One solution of the state-evolution equations, and the quantities at it."""

    alpha: float
    q: float
    q_hat: float
    iterations: int
    free_entropy: float
    start: str  # "uninformed" or "informed"


def free_entropy(channel: Channel, kappa: float, alpha: float, q: float, q_hat: float) -> float:
    """``f_RS(q, q_hat)`` of the module docstring."""
    return 0.5 * (q_hat - math.log1p(q_hat)) - 0.5 * q * q_hat + alpha * channel.psi_out(kappa, q)


def q_hat_of(channel: Channel, kappa: float, alpha: float, q: float) -> float:
    """The channel update ``q_hat = alpha kappa E[g_out^2](q)`` (book eq-state-evolution)."""
    return alpha * kappa * channel.mean_g_out_squared(kappa, q)


@njit(cache=True)
def damped_update(q_hat: float, q: float, damping: float) -> float:
    """The prior update ``q_hat / (1 + q_hat)`` mixed with the old ``q``:
    ``(1 - damping) q_hat / (1 + q_hat) + damping q``."""
    return (1.0 - damping) * q_hat / (1.0 + q_hat) + damping * q


@njit(cache=True)
def _sign_fixed_point(kappa, total_noise, alpha, q0, damping, tol, max_iter, zx, zw, tx, tw):
    """:func:`iterate` for the sign channel, compiled end to end (1 us per iteration): the
    update of :meth:`SignChannel.mean_g_out_squared` inlined.

    Returns (q, q_hat, iterations, status): status 0 converged, 1 out of iterations,
    2 non-finite value."""
    q = q0
    q_hat = 0.0
    for it in range(1, max_iter + 1):
        w = kappa * (1.0 - q) + total_noise
        q_hat = alpha * kappa * probit_average(0, math.sqrt(kappa * q / w), zx, zw, tx, tw) / w
        q_new = damped_update(q_hat, q, damping)
        if not (math.isfinite(q_new) and math.isfinite(q_hat)):
            return q, q_hat, it, 2
        if abs(q_new - q) < tol:
            q = q_new
            w = kappa * (1.0 - q) + total_noise
            q_hat = alpha * kappa * probit_average(0, math.sqrt(kappa * q / w), zx, zw, tx, tw) / w
            return q, q_hat, it, 0
        q = q_new
    return q, q_hat, max_iter, 1


def iterate(
    channel: Channel,
    kappa: float,
    alpha: float,
    q_start: float,
    *,
    damping: float = 0.0,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> tuple[float, float, int]:
    """Iterate ``q <- (1 - damping) q_hat/(1 + q_hat) + damping q`` from ``q_start``.

    Returns ``(q, q_hat, iterations)``; raises :class:`ConvergenceError` when ``max_iter`` is
    reached or a value is not finite.
    """
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"damping must be in [0, 1), got {damping!r}")
    if isinstance(channel, SignChannel):
        q, q_hat, its, status = _sign_fixed_point(check_kappa(kappa), channel.total_noise, float(alpha),
                                                  float(q_start), float(damping), float(tol),
                                                  int(max_iter), *probit_rules())
        q, q_hat, its = float(q), float(q_hat), int(its)
        if status == 2:
            raise ConvergenceError(f"non-finite value at iteration {its} (alpha={alpha}, q={q})")
        if status == 1:
            raise ConvergenceError(
                f"no convergence in {max_iter} iterations at alpha={alpha} (last q={q}); "
                "raise max_iter or damping"
            )
        return q, q_hat, its
    q = float(q_start)
    for it in range(1, int(max_iter) + 1):
        q_hat = q_hat_of(channel, kappa, alpha, q)
        q_new = damped_update(q_hat, q, damping)
        if not (math.isfinite(q_new) and math.isfinite(q_hat)):
            raise ConvergenceError(f"non-finite value at iteration {it} (alpha={alpha}, q={q})")
        if abs(q_new - q) < tol:
            q = q_new
            return q, q_hat_of(channel, kappa, alpha, q), it
        q = q_new
    raise ConvergenceError(
        f"no convergence in {max_iter} iterations at alpha={alpha} (last q={q}); "
        "raise max_iter or damping"
    )


def fixed_point(
    channel: Channel,
    kappa: float,
    alpha: float,
    q_start: float,
    start: str,
    **kwargs,
) -> FixedPoint:
    """One fixed point from ``q_start``, with its free entropy."""
    q, q_hat, its = iterate(channel, kappa, alpha, q_start, **kwargs)
    return FixedPoint(alpha, q, q_hat, its, free_entropy(channel, kappa, alpha, q, q_hat), start)


def state_evolution_trajectory(channel, kappa: float, alpha: float, n_iter: int, q0: float = 0.0) -> np.ndarray:
    """State evolution of Bayes-optimal GAMP, iteration by iteration: ``q_0 = q0`` and
    ``q_{t+1} = q_hat_t / (1 + q_hat_t)``, ``q_hat_t = q_hat_of(channel, kappa, alpha, q_t)``.

    Returns the ``n_iter + 1`` values ``q_0, ..., q_{n_iter}``; entry ``t`` predicts GAMP's
    overlap, self-overlap and variance after ``t`` iterations, and ``1 - q_t`` its MSE (module
    docstring: GAMP started from ``a_0 = 0`` corresponds to ``q0 = 0``).
    """
    kappa, alpha = check_kappa(kappa), check_alpha(alpha)
    n_iter = check_count("n_iter", n_iter, 0)
    q = np.empty(n_iter + 1)
    q[0] = check_overlap(q0)
    for t in range(n_iter):
        q_hat = q_hat_of(channel, kappa, alpha, float(q[t]))
        if not math.isfinite(q_hat):
            raise FloatingPointError(f"state evolution: non-finite q_hat at t = {t} (q = {q[t]})")
        q[t + 1] = damped_update(q_hat, float(q[t]), 0.0)
    return q


def bayes_optimal_curve(
    channel: Channel,
    kappa: float,
    alphas: Sequence[float],
    *,
    damping: float = 0.0,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Bayes-optimal quantities of the GLM over a grid of ``alpha`` (increasing, warm-started).

    The uninformed branch starts at ``q = 1e-6`` for the first ``alpha`` and from the previous
    uninformed solution after; the informed branch runs down the grid from ``q = 1 - 1e-6``
    and warm-starts likewise. At each ``alpha`` the fixed point with the larger free entropy is
    the Bayes-optimal one. Returned arrays, one entry per ``alpha``: ``alpha, q, q_hat, mse``
    (``1 - q``), ``test_error``, ``free_entropy``, ``mutual_information`` (per input dimension),
    ``mutual_information_per_sample``, ``iterations`` (of the chosen branch), ``q_uninformed``,
    ``q_informed``, ``branches_disagree``.

    Warns :class:`deepgep.theory.hypotheses.TheoremWarning` when the readout is outside the
    deep-network theorem (``channel.caveat``: sign, abs, relu): the curve is the GLM's, but
    the reduction of a deep network to this GLM is not proved for that readout.
    """
    kappa = check_kappa(kappa)
    grid = np.array([check_alpha(a) for a in alphas], dtype=float)
    if grid.size == 0 or np.any(np.diff(grid) <= 0):
        raise ValueError("alphas must be a non-empty strictly increasing grid")
    caveat = getattr(channel, "caveat", "")  # a user's channel may not say
    if caveat:
        warn_outside_theorem(caveat)
    opts = dict(damping=damping, tol=tol, max_iter=max_iter)
    up: list[FixedPoint] = []
    q = UNINFORMED_START
    for a in tqdm(grid, desc="uninformed", disable=not progress):
        up.append(fixed_point(channel, kappa, a, q, "uninformed", **opts))
        q = max(up[-1].q, UNINFORMED_START)
    down: list[FixedPoint] = []
    q = INFORMED_START  # just below 1: the noiseless sign channel's E[g_out^2] is infinite at q = 1
    for a in tqdm(grid[::-1], desc="informed", disable=not progress):
        down.append(fixed_point(channel, kappa, a, q, "informed", **opts))
        q = max(down[-1].q, up[0].q)  # never start below the uninformed solution
    down.reverse()
    return _assemble(channel, kappa, grid, up, down)


def _assemble(channel: Channel, kappa: float, grid: np.ndarray, up, down) -> dict[str, np.ndarray]:
    best = [u if u.free_entropy >= d.free_entropy else d for u, d in zip(up, down)]
    psi_one = channel.psi_out(kappa, 1.0)
    rec = {
        "alpha": grid,
        "q": np.array([b.q for b in best]),
        "q_hat": np.array([b.q_hat for b in best]),
        "free_entropy": np.array([b.free_entropy for b in best]),
        "iterations": np.array([b.iterations for b in best]),
        "q_uninformed": np.array([u.q for u in up]),
        "q_informed": np.array([d.q for d in down]),
    }
    rec["mse"] = 1.0 - rec["q"]
    rec["test_error"] = np.array([channel.bayes_test_error(kappa, q) for q in rec["q"]])
    rec["mutual_information"] = -rec["free_entropy"] + grid * psi_one
    rec["mutual_information_per_sample"] = rec["mutual_information"] / grid
    scale = np.maximum(np.abs(rec["q_informed"]), 1e-12)
    rec["branches_disagree"] = np.abs(rec["q_informed"] - rec["q_uninformed"]) > _SAME_FIXED_POINT * scale
    return rec


def gaussian_closed_form(kappa: float, total_noise: float, alpha: float) -> dict[str, float]:
    """Closed forms for the linear channel (book eq-linear-closed-form): ``q``, ``q_hat``,
    ``mse``, ``test_error`` and ``mutual_information`` per input dimension,
    ``total_noise = gamma0 + Delta``."""
    kappa, alpha = check_kappa(kappa), check_alpha(alpha)
    noise = check_real("total_noise", total_noise, positive=True)
    de = noise / kappa
    one_minus_q = 0.5 * (-(de + alpha - 1.0) + math.sqrt((de + alpha - 1.0) ** 2 + 4.0 * de))
    q = 1.0 - one_minus_q
    q_hat = q / one_minus_q
    mi = 0.5 * math.log1p(q_hat) - 0.5 * q + 0.5 * alpha * math.log1p(kappa * one_minus_q / noise)
    return {"q": q, "q_hat": q_hat, "mse": one_minus_q,
            "test_error": kappa * one_minus_q + noise, "mutual_information": mi}


def solve(channel: Channel, kappa: float, alpha: float, **kwargs) -> FixedPoint:
    """The Bayes-optimal fixed point at one ``alpha``: both starts, larger free entropy."""
    kappa, alpha = check_kappa(kappa), check_alpha(alpha)
    up = fixed_point(channel, kappa, alpha, UNINFORMED_START, "uninformed", **kwargs)
    down = fixed_point(channel, kappa, alpha, INFORMED_START, "informed", **kwargs)
    return up if up.free_entropy >= down.free_entropy else down


def mutual_information(channel: Channel, kappa: float, alpha: float, **kwargs) -> float:
    """``I(a; Y | X) / d0 = -f_RS + alpha Psi_out(1)`` at the Bayes-optimal fixed point."""
    fp = solve(channel, kappa, alpha, **kwargs)
    return -fp.free_entropy + fp.alpha * channel.psi_out(kappa, 1.0)


def _derivative_in_q_hat(channel: Channel, kappa: float, alpha: float, fp: FixedPoint, step: float) -> float:
    """d f_RS / d q_hat at the fixed point, central difference with a step relative to q_hat
    (its terms are of size q_hat, which reaches 1e5 near perfect recovery)."""
    h = step * max(1.0, fp.q_hat)
    return (free_entropy(channel, kappa, alpha, fp.q, fp.q_hat + h)
            - free_entropy(channel, kappa, alpha, fp.q, fp.q_hat - h)) / (2.0 * h)


def _psi_derivative(channel: Channel, kappa: float, q: float, step: float) -> float:
    """d Psi_out / dq by finite differences: central with a step shrinking near q = 1 (where
    the curvature grows like q_hat^2), second-order one-sided where q is within reach of 0."""
    psi = lambda x: channel.psi_out(kappa, x)  # noqa: E731
    h = step * min(1.0, 0.5 * (1.0 - q))
    if q - h < 0.0:
        h = step
        return (-3.0 * psi(q) + 4.0 * psi(q + h) - psi(q + 2.0 * h)) / (2.0 * h)
    return (psi(q + h) - psi(q - h)) / (2.0 * h)


def identity_checks(channel: Channel, kappa: float, alpha: float, step: float = 1e-5) -> dict[str, tuple[float, float]]:
    """Pairs ``(lhs, rhs)`` that must be equal at the fixed point, the derivatives taken by
    central finite differences of step ``step`` (error O(step^2)):

    * ``dF/dalpha = Psi_out(q*)`` (envelope theorem: the fixed point is stationary);
    * ``df_RS/dq_hat = 0`` and ``df_RS/dq = 0`` at ``(q*, q_hat*)``;
    * for the Gaussian channel ``y = sqrt(kappa) s + sqrt(N) xi`` with ``s = a.x/sqrt(d)``, the
      I-MMSE relation (Guo, Shamai, Verdu 2005) in ``snr = kappa / N``:
      ``dI/dsnr = (alpha / 2) mmse_s`` per input dimension, where
      ``mmse_s = (1 - q*) / (1 + snr (1 - q*))`` is the posterior variance of a training
      pre-activation ``s_mu`` (its prior variance given the other samples is ``1 - q*``).
    """
    tol = dict(tol=1e-13)
    fp = solve(channel, kappa, alpha, **tol)
    h_alpha = step * max(1.0, alpha)  # relative step: alpha up to hundreds
    f_alpha = [solve(channel, kappa, alpha + s, **tol).free_entropy for s in (h_alpha, -h_alpha)]
    out = {
        "dF/dalpha = Psi_out(q*)": ((f_alpha[0] - f_alpha[1]) / (2 * h_alpha), channel.psi_out(kappa, fp.q)),
        "df/dq_hat = 0": (_derivative_in_q_hat(channel, kappa, alpha, fp, step), 0.0),
        "alpha dPsi_out/dq = q_hat/2 (df/dq = 0)": (alpha * _psi_derivative(channel, kappa, fp.q, step),
                                                     0.5 * fp.q_hat),
    }
    if isinstance(channel, GaussianChannel):
        N = channel.total_noise
        i_k = [mutual_information(channel, kappa + N * s, alpha, **tol) for s in (step, -step)]
        snr = kappa / N
        mmse_s = (1.0 - fp.q) / (1.0 + snr * (1.0 - fp.q))
        out["I-MMSE: dI/dsnr = alpha mmse_s / 2"] = ((i_k[0] - i_k[1]) / (2 * step), 0.5 * alpha * mmse_s)
    return out

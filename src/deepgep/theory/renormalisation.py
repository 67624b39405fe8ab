"""Kernel renormalisation of a finite-width Bayesian network (Pacelli et al. 2023).

One hidden layer, ``f(x) = N1^{-1/2} sum_i v_i phi(w_i . x / sqrt(N0))`` with priors
``w_i ~ N(0, I/lambda0)``, ``v_i ~ N(0, 1/lambda1)`` and the Gibbs posterior at temperature ``T``
(the likelihood ``exp(-sum_mu (y_mu - f(x_mu))^2 / 2T)``), on ``P`` training pairs with
``alpha1 = P / N1`` fixed (Pacelli, Ariosto, Pastore, Ginelli, Gherardi, Rotondo, Nature Machine
Intelligence 5, 1497 (2023)). Integrating the readout exactly, treating
``sum_mu sbar_mu phi(h_mu)`` as Gaussian under the prior of ``w`` and taking the saddle point in
``N1`` leaves one order parameter ``Qbar`` and the effective action (book eq-effective-action)

    S(Qbar) = Qbar - ln Qbar + (alpha1/P) Tr ln(T + Qbar K/lambda1)
              + (alpha1/P) y^T (T + Qbar K/lambda1)^{-1} y,

``K_{mu nu} = E_w phi(w.x_mu/sqrt(N0)) phi(w.x_nu/sqrt(N0))`` the NNGP kernel. The network then
predicts like a Gaussian process with the *renormalised* kernel ``Qbar K / lambda1`` and noise
``T``; ``Qbar = 1`` is the infinite-width (NNGP) limit ``alpha1 -> 0``.

Deep linear networks (``phi(x) = x``, ``L`` hidden layers of widths ``N_l``) have one order
parameter per layer and the action
``sum_l (N_l/N1)(Qbar_l - ln Qbar_l) + (alpha1/P)[Tr ln(T + u K/lambda) + y^T(T + u K/lambda)^{-1} y]``
with ``u = prod_l Qbar_l``. Setting its gradient to zero gives ``N_l (Qbar_l - 1) = -g`` for a
common ``g``: every stationary point lies on the curve ``Qbar_l = 1 - c alpha_l`` and the
minimisation is one-dimensional in ``c`` for any depth (:func:`solve_renormalisation`; ``L = 1``
is the one-hidden-layer case, with any activation).

``T -> 0`` (with ``K`` invertible): ``Qbar_l = 1 + alpha_l (r/u - 1)``,
``r = lambda y^T K^{-1} y / P``; for ``L = 1`` this is ``Qbar^2 - (1 - alpha1) Qbar - alpha1 r = 0``.
At ``T = 0`` the predictor's mean does not depend on ``Qbar`` and its variance is ``Qbar`` times
the NNGP variance, so finite width generalises better than infinite width iff ``Qbar < 1``,
i.e. iff ``r < 1`` (book eq-zero-temperature, eq-finite-beats-infinite).

The NNGP kernel ``K`` is :func:`deepgep.theory.kernels.nngp_kernel`; the experiments of Chapter 7
are in :mod:`deepgep.chapters.ch7_kernel_renormalisation`.
"""


from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, eigh
from scipy.optimize import brentq

from deepgep.support.threads import single_threaded_blas
from deepgep.support.validation import check_alpha, check_real
from deepgep.theory.layers import layer_coefficients
from deepgep.theory.state_evolution import gaussian_closed_form

__all__ = [
    "Q_BAR_RANGE", "SCAN_POINTS", "ROOT_XTOL", "EIGEN_RTOL", "NoMinimumError", "KernelSpectrum",
    "kernel_spectrum", "effective_action", "Renormalisation", "solve_renormalisation",
    "target_ratio", "q_bar_zero_temperature", "deep_linear_zero_temperature", "Prediction",
    "gp_predict", "ErrorDecomposition", "generalisation_error", "glm_prediction",
]
#: Range of the smallest-width order parameter scanned by the solver, ``[1/R, R]``.
Q_BAR_RANGE = 1e8

#: Grid points of the solver's scan (log-spaced) before the roots are refined by Brent's method.
SCAN_POINTS = 801

#: Relative tolerance of Brent's method on the order parameter.
ROOT_XTOL = 1e-13

#: Relative size of the negative eigenvalues of a kernel attributed to rounding.
EIGEN_RTOL = 1e-10


class NoMinimumError(RuntimeError):
    """The effective action has no minimum with positive order parameters (in the scanned range)."""


@dataclass(frozen=True)
class KernelSpectrum:
    """``K / lambda = U diag(eigenvalues) U^T`` and the squared projections ``(U^T y)^2`` of the
    labels: everything the action needs, so that ``S`` costs ``O(P)`` per evaluation."""

    eigenvalues: np.ndarray
    projections: np.ndarray

    @property
    def n(self) -> int:
        return int(self.eigenvalues.size)


@single_threaded_blas
def kernel_spectrum(K: np.ndarray, y: np.ndarray, readout_precision: float = 1.0) -> KernelSpectrum:
    """Diagonalise ``K / readout_precision`` (a symmetric PSD ``P x P`` kernel) against ``y``."""
    K = np.asarray(K, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or not np.all(np.isfinite(K)):
        raise ValueError(f"K must be a finite square matrix, got shape {K.shape}")
    if y.shape != (K.shape[0],) or not np.all(np.isfinite(y)):
        raise ValueError(f"y must be a finite vector of length {K.shape[0]}, got shape {y.shape}")
    lam = check_real("readout_precision", readout_precision, positive=True)
    if not np.allclose(K, K.T, rtol=1e-12, atol=1e-12 * max(1.0, float(np.abs(K).max()))):
        raise ValueError("K must be symmetric")
    a, U = eigh(K / lam)
    if a[0] < -EIGEN_RTOL * max(abs(a[-1]), 1.0):
        raise ValueError(f"K must be positive semi-definite, smallest eigenvalue {a[0]:.3e}")
    return KernelSpectrum(np.maximum(a, 0.0), (U.T @ y) ** 2)


def _hidden_widths(hidden_widths: float | Sequence[float]) -> np.ndarray:
    """The action depends on the widths only through ``alpha_l = P/N_l``: real widths are
    accepted (a grid in ``alpha1`` maps to non-integer ``N1``)."""
    widths = (hidden_widths,) if np.isscalar(hidden_widths) else tuple(hidden_widths)
    try:
        arr = np.array(widths, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"hidden widths must be positive numbers, got {hidden_widths!r}") from None
    if arr.ndim != 1 or arr.size < 1 or np.any(~(arr > 0)) or not np.all(np.isfinite(arr)):
        raise ValueError(f"hidden widths must be positive numbers, got {hidden_widths!r}")
    return arr


def _data_terms(spec: KernelSpectrum, u: float, temperature: float) -> tuple[float, float]:
    """``Tr ln(T + uA)`` and ``y^T (T + uA)^{-1} y``."""
    d = temperature + u * spec.eigenvalues
    return float(np.sum(np.log(d))), float(np.sum(spec.projections / d))


def effective_action(
    q_bar: float | Sequence[float],
    K: np.ndarray,
    y: np.ndarray,
    *,
    hidden_widths: int | Sequence[int],
    temperature: float,
    readout_precision: float = 1.0,
) -> float:
    """``S(Qbar_1..Qbar_L)`` (book eq-effective-action; Pacelli et al.'s action for ``L = 1``):
    ``sum_l (N_l/N1)(Qbar_l - ln Qbar_l) + (alpha1/P)[Tr ln(T + u K/lambda) + y^T(T + u K/lambda)^{-1}y]``,
    ``u = prod_l Qbar_l``. ``L > 1`` is Pacelli's deep *linear* action (``K`` the linear kernel)."""
    widths = _hidden_widths(hidden_widths)
    q = np.atleast_1d(np.asarray(q_bar, dtype=np.float64))
    if q.shape != widths.shape or np.any(~(q > 0)) or not np.all(np.isfinite(q)):
        raise ValueError(f"q_bar must hold {widths.size} positive value(s), got {q_bar!r}")
    spec = kernel_spectrum(K, y, readout_precision)
    return _action(spec, widths, q, check_real("temperature", temperature, positive=True))


def _action(spec: KernelSpectrum, widths: np.ndarray, q: np.ndarray, temperature: float) -> float:
    logdet, quad = _data_terms(spec, float(np.prod(q)), temperature)
    return float(np.sum(widths / widths[0] * (q - np.log(q))) + (logdet + quad) / widths[0])


def _stationarity_residual(spec: KernelSpectrum, u: float, temperature: float) -> float:
    """``g(u)/P`` with ``g = u d/du [Tr ln(T + uA) + y^T (T + uA)^{-1} y]``."""
    x = u * spec.eigenvalues
    d = temperature + x
    return float(np.sum(x / d) - np.sum(spec.projections * x / (d * d))) / spec.n


@dataclass(frozen=True)
class Renormalisation:
    """The minimiser of the effective action.

    ``q_bar`` (one per hidden layer), ``kernel_scale = prod q_bar`` (the factor renormalising the
    kernel ``K/lambda``), ``alphas = P/N_l``, ``action`` at the minimum, ``temperature`` and the
    number of stationary points found on the scanned curve."""

    q_bar: np.ndarray
    kernel_scale: float
    alphas: np.ndarray
    action: float
    temperature: float
    n_stationary: int


@single_threaded_blas
def solve_renormalisation(
    K: np.ndarray,
    y: np.ndarray,
    *,
    hidden_widths: int | Sequence[int],
    temperature: float,
    readout_precision: float = 1.0,
) -> Renormalisation:
    """Minimise the effective action (one hidden layer, or a deep linear network).

    On the curve ``Qbar_l = 1 - c alpha_l`` that holds every stationary point (module docstring)
    the residual ``R(c) = g(u(c))/P - c`` is scanned on a log grid of the smallest width's
    ``Qbar`` over ``[1/Q_BAR_RANGE, Q_BAR_RANGE]``; each sign change is refined by Brent's method
    and the stationary point of lowest action is returned.

    Raises
    ------
    NoMinimumError
        If no stationary point lies in the scanned range (e.g. ``T`` so small that the minimum
        sits at ``Qbar -> 0``), or the lowest action is at the edge of the range.
    ValueError
        On bad widths, a non-positive temperature or readout precision, a non-PSD kernel.
    """
    widths = _hidden_widths(hidden_widths)
    temperature = check_real("temperature", temperature, positive=True)
    spec = kernel_spectrum(K, y, readout_precision)
    alphas = spec.n / widths
    a_max = float(alphas.max())

    def q_of(c: float) -> np.ndarray:
        return 1.0 - c * alphas

    def residual(c: float) -> float:
        return _stationarity_residual(spec, float(np.prod(q_of(c))), temperature) - c

    # the smallest width's Qbar on a log grid, mapped to c (decreasing in Qbar)
    q_small = np.logspace(-math.log10(Q_BAR_RANGE), math.log10(Q_BAR_RANGE), SCAN_POINTS)
    cs = (1.0 - q_small) / a_max
    res = np.array([residual(c) for c in cs])
    if not np.all(np.isfinite(res)):
        raise NoMinimumError("the stationarity residual is not finite on the scanned range")
    roots = []
    for k in np.flatnonzero(np.sign(res[:-1]) * np.sign(res[1:]) <= 0):
        lo, hi = cs[k + 1], cs[k]
        if res[k + 1] == 0 or res[k] == 0:
            c = lo if res[k + 1] == 0 else hi
        else:
            c = brentq(residual, lo, hi, xtol=1e-15, rtol=ROOT_XTOL)
        roots.append(c)
    if not roots:
        raise NoMinimumError(
            "the effective action has no stationary point with Qbar in "
            f"[{1 / Q_BAR_RANGE:g}, {Q_BAR_RANGE:g}] "
            f"(T = {temperature:g}, alpha = {alphas.tolist()})"
        )
    actions = [_action(spec, widths, q_of(c), temperature) for c in roots]
    best = roots[int(np.argmin(actions))]
    edge = [_action(spec, widths, q_of(c), temperature) for c in (cs[0], cs[-1])]
    if min(edge) < min(actions):
        raise NoMinimumError(
            f"the action decreases towards the edge of the scanned range (T = {temperature:g})"
        )
    q = q_of(best)
    return Renormalisation(q, float(np.prod(q)), alphas, float(min(actions)), temperature, len(roots))


@single_threaded_blas
def target_ratio(K: np.ndarray, y: np.ndarray, readout_precision: float = 1.0) -> float:
    """``r = lambda1 y^T K^{-1} y / P`` (the label norm in the prior's metric; ``r ~ 1`` for labels
    drawn from the infinite-width prior). Raises ``ValueError`` if ``K`` is singular."""
    K = np.asarray(K, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lam = check_real("readout_precision", readout_precision, positive=True)
    try:
        factor = cho_factor(K)
    except np.linalg.LinAlgError:
        raise ValueError("K is not positive definite: r (and the T -> 0 limit) is undefined") from None
    return float(lam * y @ cho_solve(factor, y) / y.size)


def q_bar_zero_temperature(r: float, alpha1: float) -> float:
    """The ``T -> 0`` minimiser for one hidden layer, the positive root of
    ``Qbar^2 - (1 - alpha1) Qbar - alpha1 r = 0`` (book eq-zero-temperature).

    Raises ``NoMinimumError`` when that root is not positive (``r = 0`` and ``alpha1 >= 1``)."""
    r = float(r)
    alpha1 = check_real("alpha1", alpha1, positive=True)
    if not (math.isfinite(r) and r >= 0.0):
        raise ValueError(f"r must be non-negative and finite, got {r!r}")
    b = 1.0 - alpha1
    q = 0.5 * (b + math.sqrt(b * b + 4.0 * alpha1 * r))
    if not q > 0.0:
        raise NoMinimumError(f"no positive Qbar at T = 0 for r = {r!r}, alpha1 = {alpha1!r}")
    return q


def deep_linear_zero_temperature(r: float, alphas: Sequence[float]) -> np.ndarray:
    """The ``T -> 0`` order parameters of a deep linear network: ``Qbar_l = 1 + alpha_l (r/u - 1)``,
    ``u = prod_l Qbar_l``, solved as one monotone equation in ``c = 1 - r/u`` (unique root).
    For ``L = 1`` it is :func:`q_bar_zero_temperature`; for equal widths
    ``Qbar^{L+1} - (1 - alpha) Qbar^L - alpha r = 0``."""
    a = np.asarray(alphas, dtype=np.float64)
    if a.ndim != 1 or a.size < 1 or np.any(~(a > 0)) or not np.all(np.isfinite(a)):
        raise ValueError(f"alphas must be positive, got {alphas!r}")
    r = float(r)
    if not (math.isfinite(r) and r > 0.0):
        raise NoMinimumError(f"the T = 0 action has a minimum only for r > 0, got r = {r!r}")

    def phi(c: float) -> float:
        return c - 1.0 + r / float(np.prod(1.0 - c * a))

    hi = (1.0 - 1e-15) / float(a.max())
    lo = min(-1.0, 1.0 - 2.0 * r)
    while phi(lo) > 0:
        lo *= 2.0
    while phi(hi) < 0:  # only if r/u is tiny even at the pole; move towards it
        hi = 0.5 * (hi + 1.0 / float(a.max()))
    c = brentq(phi, lo, hi, xtol=1e-15, rtol=ROOT_XTOL)
    return 1.0 - c * a


@dataclass(frozen=True)
class Prediction:
    """Predictive ``mean`` and ``variance`` of ``f`` at the test points (and, if asked for, the
    full posterior ``covariance`` of ``f`` on them)."""

    mean: np.ndarray
    variance: np.ndarray
    covariance: np.ndarray | None = None


@single_threaded_blas
def gp_predict(
    K_train: np.ndarray,
    K_cross: np.ndarray,
    K_test: np.ndarray,
    y: np.ndarray,
    *,
    temperature: float,
    kernel_scale: float = 1.0,
    readout_precision: float = 1.0,
    full_covariance: bool = False,
) -> Prediction:
    """The GP predictor with the renormalised kernel ``s K``, ``s = kernel_scale/lambda1``, and noise ``T``
    (Pacelli et al. 2023; book eq-renormalised-predictor):
    ``mean = s k0^T (T + s K)^{-1} y``, ``var = s K00 - s^2 k0^T (T + s K)^{-1} k0``.

    ``K_cross`` is ``(n_test, P)``; ``K_test`` the ``(n_test, n_test)`` test kernel or just its
    diagonal (then ``full_covariance`` must be False). ``kernel_scale = 1`` is the NNGP."""
    K_train = np.asarray(K_train, dtype=np.float64)
    K_cross = np.atleast_2d(np.asarray(K_cross, dtype=np.float64))
    K_test = np.asarray(K_test, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    P = y.size
    if K_train.shape != (P, P) or K_cross.ndim != 2 or K_cross.shape[1] != P:
        raise ValueError(
            f"shapes do not match: K_train {K_train.shape}, K_cross {K_cross.shape}, y {y.shape}"
        )
    m = K_cross.shape[0]
    if K_test.shape not in ((m,), (m, m)):
        raise ValueError(f"K_test must be ({m},) or ({m}, {m}), got {K_test.shape}")
    if full_covariance and K_test.shape != (m, m):
        raise ValueError("full_covariance needs the full test kernel")
    T = float(temperature)
    if not (math.isfinite(T) and T >= 0.0):
        raise ValueError(f"temperature must be non-negative, got {temperature!r}")
    s = (check_real("kernel_scale", kernel_scale, positive=True)
         / check_real("readout_precision", readout_precision, positive=True))
    A = s * K_train
    A[np.diag_indices_from(A)] += T
    try:
        factor = cho_factor(A)
    except np.linalg.LinAlgError:
        raise ValueError("T + sK is singular (T = 0 needs a positive-definite K)") from None
    mean = s * K_cross @ cho_solve(factor, y)
    V = cho_solve(factor, K_cross.T)  # (P, m)
    diag = np.diag(K_test) if K_test.ndim == 2 else K_test
    variance = s * diag - s * s * np.einsum("mp,pm->m", K_cross, V)
    cov = s * K_test - s * s * K_cross @ V if full_covariance else None
    return Prediction(mean, np.maximum(variance, 0.0), cov)


@dataclass(frozen=True)
class ErrorDecomposition:
    """``total = bias2 + variance``: the test error ``<(y0 - f(x0))^2>`` averaged over test points,
    its bias part ``(y0 - <f(x0)>)^2`` and its variance part ``<(f - <f>)^2>``."""

    bias2: float
    variance: float

    @property
    def total(self) -> float:
        return self.bias2 + self.variance


def generalisation_error(y_test: np.ndarray, prediction: Prediction) -> ErrorDecomposition:
    """Bias-variance decomposition of the Gibbs test error (Pacelli et al. 2023's generalisation error)."""
    y_test = np.asarray(y_test, dtype=np.float64)
    if y_test.shape != prediction.mean.shape:
        raise ValueError(f"y_test has shape {y_test.shape}, the prediction {prediction.mean.shape}")
    bias2 = float(np.mean((y_test - prediction.mean) ** 2))
    return ErrorDecomposition(bias2, float(np.mean(prediction.variance)))


def glm_prediction(
    activation: str,
    *,
    gain: float = 1.0,
    weight_variance: float = 1.0,
    readout_variance: float = 1.0,
    noise: float,
    alpha: float,
) -> dict[str, float]:
    """What the GLM reduction (Chapters 2-3) predicts for a one-hidden-layer teacher-student pair
    with matched priors, Gaussian inputs, ``alpha = P/N0`` and label noise ``noise`` (= ``T``):
    ``kappa = readout_variance * weight_variance * rho1^2`` and
    ``gamma0 = readout_variance * eps1`` (Theorem 1 with input variance ``weight_variance``),
    and the Bayes-optimal test error on a noisy label, ``kappa(1 - q*) + gamma0 + noise``."""
    v0 = check_real("weight_variance", weight_variance, positive=True)
    va = check_real("readout_variance", readout_variance, positive=True)
    layer = layer_coefficients(activation, 1, gain=gain, sigma0=v0).layer(1)
    if abs(layer["mean"]) > 1e-12:
        raise ValueError(
            f"the GLM reduction needs an odd activation, {activation!r} has mean {layer['mean']:.3g}"
        )
    kappa = va * v0 * layer["rho"] ** 2
    gamma0 = va * layer["eps"]
    noise = check_real("noise", noise, positive=True)
    closed = gaussian_closed_form(kappa, gamma0 + noise, check_alpha(alpha))
    return {"kappa": kappa, "gamma0": gamma0, "q": closed["q"],
            "posterior_variance": closed["test_error"] - noise, "test_error": closed["test_error"]}

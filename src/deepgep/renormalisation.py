"""Kernel renormalisation of a finite-width Bayesian network (Pacelli et al. 2023).

One hidden layer, ``f(x) = N1^{-1/2} sum_i v_i phi(w_i . x / sqrt(N0))`` with priors
``w_i ~ N(0, I/lambda0)``, ``v_i ~ N(0, 1/lambda1)`` and the Gibbs posterior at temperature ``T``
(the likelihood ``exp(-sum_mu (y_mu - f(x_mu))^2 / 2T)``), on ``P`` training pairs with
``alpha1 = P / N1`` fixed (Pacelli, Ariosto, Pastore, Ginelli, Gherardi, Rotondo, Nature Machine
Intelligence 5, 1497 (2023)). Integrating the readout exactly, treating
``sum_mu sbar_mu phi(h_mu)`` as Gaussian under the prior of ``w`` and taking the saddle point in
``N1`` leaves one order parameter ``Qbar`` and the effective action (SCIENCE.md section 5)

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
i.e. iff ``r < 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, eigh
from scipy.optimize import brentq

from deepgep.activations import ERF, LINEAR, RELU, Activation, get_activation
from deepgep.hermite import split_legendre_rule
from deepgep.kernels import erf_kernel, kernel_map, relu_kernel  # noqa: F401  (shared kernel map)
from deepgep.layers import layer_coefficients
from deepgep.threads import single_threaded_blas

#: Gauss-Legendre nodes per half-line and cutoff of the split rule of :mod:`deepgep.hermite` used
#: per dimension by :func:`quadrature_kernel` (6400 evaluations per pair). Measured against the
#: erf closed form and Mehler's series: error 4e-15 at gain 1, 2e-11 at gain 2 (30 nodes and
#: cutoff 8 give 5e-13 and 7e-9); P(|Z| > 9) = 2e-19.
KERNEL_QUADRATURE_NODES = 40
KERNEL_QUADRATURE_CUTOFF = 9.0
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


# --- NNGP kernels ---------------------------------------------------------------------------------


def _check_gram(G: np.ndarray) -> np.ndarray:
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] != G.shape[1] or not np.all(np.isfinite(G)):
        raise ValueError(f"G must be a finite square matrix, got shape {G.shape}")
    if np.any(np.diag(G) < 0):
        raise ValueError("G must have a non-negative diagonal (it is a covariance)")
    return G


def quadrature_kernel(
    G: np.ndarray, activation: Activation, n_nodes: int = KERNEL_QUADRATURE_NODES
) -> np.ndarray:
    """``E phi(u) phi(v)`` for every pair of a covariance ``G``, by the compiled 2-D tensor rule
    of :func:`deepgep.kernels.kernel_map` with a split Gauss-Legendre rule (``n_nodes`` per
    half-line, cut at ``KERNEL_QUADRATURE_CUTOFF``), any built-in activation. Spectrally accurate
    for smooth activations; for relu (a kink) only algebraically: use :func:`relu_kernel`."""
    return kernel_map(G, activation, "quadrature",
                      rule=split_legendre_rule(int(n_nodes), KERNEL_QUADRATURE_CUTOFF))


def _layer_map(G: np.ndarray, activation: Activation, method: str) -> np.ndarray:
    """One layer of the NNGP recursion, ``G -> E phi(u) phi(v)``: closed form when there is one
    (``method="auto"``), else this module's quadrature rule."""
    if method not in ("auto", "closed", "quadrature"):
        raise ValueError(f"method must be 'auto', 'closed' or 'quadrature', got {method!r}")
    if method == "quadrature" or (method == "auto" and activation.code not in (ERF, RELU, LINEAR)):
        return quadrature_kernel(G, activation)
    return kernel_map(G, activation, "closed")


def _per_layer(value: float | Sequence[float], depth: int, name: str) -> tuple[float, ...]:
    values = (value,) * depth if np.isscalar(value) else tuple(value)
    if len(values) != depth:
        raise ValueError(f"{name} needs one value per hidden layer ({depth}), got {value!r}")
    for v in values:
        if not (math.isfinite(float(v)) and float(v) > 0):
            raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return tuple(float(v) for v in values)


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
    ``1/lambda0``): ``G^1 = v_1 X X^T / N0``; then ``G^{l+1} = v_{l+1} K(G^l)`` (the conventions of
    :mod:`deepgep.data` and of Chapter 5's ``NetworkPrior``). The prior covariance of the output
    ``f`` is ``K / lambda1`` = ``readout_variance * K``. Stack training and test inputs in ``X`` to
    get the cross kernel.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1 or not np.all(np.isfinite(X)):
        raise ValueError(f"X must be a finite (n, N0) array, got shape {X.shape}")
    if int(depth) != depth or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    variances = _per_layer(weight_variance, int(depth), "weight_variance")
    act = get_activation(activation, gain)
    G = variances[0] * (X @ X.T) / X.shape[1]
    for ell in range(int(depth)):
        K = _layer_map(G, act, method)
        if ell + 1 < depth:
            G = variances[ell + 1] * K
    return K


# --- the effective action -------------------------------------------------------------------------


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
    lam = _positive("readout_precision", readout_precision)
    if not np.allclose(K, K.T, rtol=1e-12, atol=1e-12 * max(1.0, float(np.abs(K).max()))):
        raise ValueError("K must be symmetric")
    a, U = eigh(K / lam)
    if a[0] < -EIGEN_RTOL * max(abs(a[-1]), 1.0):
        raise ValueError(f"K must be positive semi-definite, smallest eigenvalue {a[0]:.3e}")
    return KernelSpectrum(np.maximum(a, 0.0), (U.T @ y) ** 2)


def _positive(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


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
    """``S(Qbar_1..Qbar_L)`` (SCIENCE.md section 5; Pacelli et al.'s action for ``L = 1``):
    ``sum_l (N_l/N1)(Qbar_l - ln Qbar_l) + (alpha1/P)[Tr ln(T + u K/lambda) + y^T(T + u K/lambda)^{-1}y]``,
    ``u = prod_l Qbar_l``. ``L > 1`` is Pacelli's deep *linear* action (``K`` the linear kernel)."""
    widths = _hidden_widths(hidden_widths)
    q = np.atleast_1d(np.asarray(q_bar, dtype=np.float64))
    if q.shape != widths.shape or np.any(~(q > 0)) or not np.all(np.isfinite(q)):
        raise ValueError(f"q_bar must hold {widths.size} positive value(s), got {q_bar!r}")
    spec = kernel_spectrum(K, y, readout_precision)
    return _action(spec, widths, q, _positive("temperature", temperature))


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
    temperature = _positive("temperature", temperature)
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
    lam = _positive("readout_precision", readout_precision)
    try:
        factor = cho_factor(K)
    except np.linalg.LinAlgError:
        raise ValueError("K is not positive definite: r (and the T -> 0 limit) is undefined") from None
    return float(lam * y @ cho_solve(factor, y) / y.size)


def q_bar_zero_temperature(r: float, alpha1: float) -> float:
    """The ``T -> 0`` minimiser for one hidden layer, the positive root of
    ``Qbar^2 - (1 - alpha1) Qbar - alpha1 r = 0`` (SCIENCE.md section 5).

    Raises ``NoMinimumError`` when that root is not positive (``r = 0`` and ``alpha1 >= 1``)."""
    r = float(r)
    alpha1 = _positive("alpha1", alpha1)
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


# --- predictor -------------------------------------------------------------------------------------


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
    (Pacelli et al. 2023; SCIENCE.md section 5):
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
    s = _positive("kernel_scale", kernel_scale) / _positive("readout_precision", readout_precision)
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


# --- experiments used by Chapter 6 -----------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """A training set and a test set with their NNGP kernels (``K`` training, ``K_cross`` test x
    training, ``K_test`` test x test), for the network of ``activation``/``gain``/``weight_variance``."""

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    K: np.ndarray
    K_cross: np.ndarray
    K_test: np.ndarray

    @property
    def n(self) -> int:
        return int(self.y.size)


@single_threaded_blas
def make_instance(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    activation: str = "erf",
    gain: float = 1.0,
    weight_variance: float = 1.0,
    method: str = "auto",
) -> Instance:
    """Compute the joint NNGP kernel of training and test inputs (:func:`nngp_kernel`) once."""
    X = np.asarray(X, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    if X.ndim != 2 or X_test.ndim != 2 or X.shape[1] != X_test.shape[1]:
        raise ValueError(f"X {X.shape} and X_test {X_test.shape} must be (n, N0) with the same N0")
    y = np.asarray(y, dtype=np.float64)
    y_test = np.asarray(y_test, dtype=np.float64)
    if y.shape != (X.shape[0],) or y_test.shape != (X_test.shape[0],):
        raise ValueError("y and y_test must have one entry per row of X and X_test")
    full = nngp_kernel(np.vstack([X, X_test]), activation, gain=gain, weight_variance=weight_variance,
                       method=method)
    P = X.shape[0]
    return Instance(X, y, X_test, y_test, full[:P, :P], full[P:, :P], full[P:, P:])


def digits_two_classes(
    classes: tuple[int, int], n_train: int, n_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two classes of scikit-learn's 8x8 digits (shipped with the package, ``N0 = 64``), labels
    ``+1`` / ``-1``, a random disjoint train/test split; pixels centred by the training mean and
    every image scaled to squared norm ``N0`` (so ``|x|^2 / N0 = 1`` as for Gaussian inputs)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    a, b = classes
    if a == b or a not in range(10) or b not in range(10):
        raise ValueError(f"classes must be two different digits 0..9, got {classes!r}")
    keep = np.flatnonzero((digits.target == a) | (digits.target == b))
    if n_train < 1 or n_test < 1 or n_train + n_test > keep.size:
        raise ValueError(
            f"need 1 <= n_train, n_test and n_train + n_test <= {keep.size}, got {n_train}, {n_test}"
        )
    order = rng.permutation(keep)
    X = digits.data[order].astype(np.float64)
    y = np.where(digits.target[order] == a, 1.0, -1.0)
    X = X - X[:n_train].mean(axis=0)
    X *= math.sqrt(X.shape[1]) / np.linalg.norm(X, axis=1, keepdims=True)
    return X[:n_train], y[:n_train], X[n_train:n_train + n_test], y[n_train:n_train + n_test]


@single_threaded_blas
def width_scan(
    instance: Instance,
    widths: Sequence[int],
    *,
    temperature: float,
    readout_precision: float = 1.0,
) -> dict[str, np.ndarray]:
    """``Qbar`` and the test error (bias^2, variance, total) of the renormalised predictor for each
    hidden width ``N1``, with the NNGP (``N1 = infinity``) values in the ``*_nngp`` entries."""
    out: dict[str, list[float]] = {k: [] for k in ("N1", "alpha1", "q_bar", "bias2", "variance", "error")}
    nngp = gp_predict(instance.K, instance.K_cross, np.diag(instance.K_test), instance.y,
                      temperature=temperature, readout_precision=readout_precision)
    ref = generalisation_error(instance.y_test, nngp)
    for n1 in widths:
        sol = solve_renormalisation(instance.K, instance.y, hidden_widths=float(n1), temperature=temperature,
                                    readout_precision=readout_precision)
        pred = gp_predict(instance.K, instance.K_cross, np.diag(instance.K_test), instance.y,
                          temperature=temperature, kernel_scale=sol.kernel_scale,
                          readout_precision=readout_precision)
        err = generalisation_error(instance.y_test, pred)
        values = (float(n1), instance.n / n1, sol.kernel_scale, err.bias2, err.variance, err.total)
        for k, v in zip(out, values):
            out[k].append(v)
    res = {k: np.array(v) for k, v in out.items()}
    res.update(bias2_nngp=np.float64(ref.bias2), variance_nngp=np.float64(ref.variance),
               error_nngp=np.float64(ref.total))
    return res


@dataclass(frozen=True)
class SampledPredictor:
    """Posterior mean, variance and Gibbs test error of sampled networks, averaged over chains,
    with standard errors from the spread between chains (each chain one estimate)."""

    mean: np.ndarray
    mean_se: np.ndarray
    variance: np.ndarray
    variance_se: np.ndarray
    error: float
    error_se: float
    average_variance: float
    average_variance_se: float


def summarise_samples(predictions: np.ndarray, y_test: np.ndarray) -> SampledPredictor:
    """Reduce sampled outputs ``f`` of shape ``(n_chains, n_samples, n_test)`` (e.g. Chapter 5's
    ``PosteriorSamples.predict``) to per-point posterior mean and variance and the test error
    ``mean_x <(y0 - f)^2>`` and the test-averaged variance, with between-chain standard errors
    (needs >= 2 chains; test points share a chain, so averages get their SE from chain averages)."""
    f = np.asarray(predictions, dtype=np.float64)
    y_test = np.asarray(y_test, dtype=np.float64)
    if f.ndim != 3 or f.shape[0] < 2 or f.shape[1] < 2 or f.shape[2] != y_test.size:
        raise ValueError(f"predictions must be (n_chains >= 2, n_samples >= 2, {y_test.size}), got {f.shape}")
    chains = f.shape[0]
    m = f.mean(axis=1)                      # (chains, n_test)
    v = f.var(axis=1, ddof=1)
    e = np.mean((y_test - f) ** 2, axis=(1, 2))
    se = lambda a: a.std(axis=0, ddof=1) / math.sqrt(chains)  # noqa: E731
    va = v.mean(axis=1)
    return SampledPredictor(m.mean(axis=0), se(m), v.mean(axis=0), se(v), float(e.mean()), float(se(e)),
                            float(va.mean()), float(se(va)))


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
    from deepgep.state_evolution import gaussian_closed_form

    v0 = _positive("weight_variance", weight_variance)
    va = _positive("readout_variance", readout_variance)
    layer = layer_coefficients(activation, 1, gain=gain, sigma0=v0).layer(1)
    if abs(layer["mean"]) > 1e-12:
        raise ValueError(
            f"the GLM reduction needs an odd activation, {activation!r} has mean {layer['mean']:.3g}"
        )
    kappa = va * v0 * layer["rho"] ** 2
    gamma0 = va * layer["eps"]
    noise = _positive("noise", noise)
    closed = gaussian_closed_form(kappa, gamma0 + noise, _positive("alpha", alpha))
    return {"kappa": kappa, "gamma0": gamma0, "q": closed["q"],
            "posterior_variance": closed["test_error"] - noise, "test_error": closed["test_error"]}


def teacher_instance(
    n0: int,
    width: int,
    n: int,
    n_test: int,
    rng: np.random.Generator,
    *,
    activation: str = "erf",
    readout_gain: float = 1.0,
    noise: float,
) -> Instance:
    """Gaussian inputs labelled by a one-hidden-layer teacher of :mod:`deepgep.data` (weights
    ``N(0, 1)``, ``y = rho a.phi(Wx/sqrt(N0))/sqrt(N1) + sqrt(noise) xi``), with the NNGP kernels
    of a student with the same architecture and unit prior variances. ``readout_gain = 1`` is the
    matched (Bayes-optimal) case; ``readout_gain < 1`` gives targets smaller than the prior's."""
    from deepgep.data import deep_teacher_sample

    data = deep_teacher_sample((n0, width), activation, n, rng, rho=readout_gain, noise=noise, n_test=n_test)
    return make_instance(data.X, data.y, data.X_test, data.y_test, activation=activation)


@single_threaded_blas
def sampling_comparison(
    instance: Instance,
    predictions: np.ndarray,
    *,
    hidden_width: int,
    temperature: float,
    readout_precision: float = 1.0,
) -> dict[str, float]:
    """Theory (renormalised kernel), NNGP (``Qbar = 1``) and sampled networks on one instance.

    ``predictions``: sampled ``f`` on the test inputs, ``(n_chains, n_samples, n_test)``.
    Returns ``q_bar``; test-averaged posterior variance (``var_theory``, ``var_nngp``,
    ``var_sampled`` +- ``var_sampled_se``); root-mean-square distance of the theory's and the
    NNGP's posterior means to the sampled one (``mean_gap_theory``, ``mean_gap_nngp``) and the
    rms standard error of the sampled mean (``mean_se``); Gibbs test errors (``error_*``)."""
    sol = solve_renormalisation(instance.K, instance.y, hidden_widths=hidden_width, temperature=temperature,
                                readout_precision=readout_precision)
    diag = np.diag(instance.K_test)
    args = (instance.K, instance.K_cross, diag, instance.y)
    theory = gp_predict(*args, temperature=temperature, kernel_scale=sol.kernel_scale,
                        readout_precision=readout_precision)
    nngp = gp_predict(*args, temperature=temperature, readout_precision=readout_precision)
    s = summarise_samples(predictions, instance.y_test)
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    return {
        "N1": hidden_width, "q_bar": sol.kernel_scale,
        "var_theory": float(theory.variance.mean()), "var_nngp": float(nngp.variance.mean()),
        "var_sampled": s.average_variance, "var_sampled_se": s.average_variance_se,
        "mean_gap_theory": rms(theory.mean - s.mean), "mean_gap_nngp": rms(nngp.mean - s.mean),
        "mean_se": rms(s.mean_se),
        "error_theory": generalisation_error(instance.y_test, theory).total,
        "error_nngp": generalisation_error(instance.y_test, nngp).total,
        "error_sampled": s.error, "error_sampled_se": s.error_se,
    }


@single_threaded_blas
def glm_comparison(
    n0: int,
    *,
    alpha: float,
    alpha1: float,
    noise: float,
    n_seeds: int,
    n_test: int,
    rng: np.random.Generator,
    activation: str = "erf",
) -> dict[str, np.ndarray]:
    """The common instance of Chapters 1-3 and of the renormalisation theory (Chapter 6, part 4).

    A one-hidden-layer teacher of widths ``(N0, N1 = P/alpha1)``, ``P = alpha N0``, unit weight
    variances, label noise ``noise``; the student is the same architecture with the same priors
    at ``T = noise``, so its Gibbs posterior IS the Bayes posterior of Camilli et al. For each of
    ``n_seeds`` independent instances: ``q_bar`` (the renormalisation), the theory's predicted
    Bayes test error on a noisy label, ``mean_x var(x) + T`` (``error_predicted``), and the
    measured squared error of its posterior mean on ``n_test`` fresh noisy labels
    (``error_measured``). ``glm_error`` is the GLM reduction's Bayes-optimal error
    :func:`glm_prediction` (one number, repeated); ``glm_error_finite`` the exact Bayes error of
    the equivalent GLM on the same inputs, i.e. the GP with the linearised kernel
    ``kappa X X^T/N0 + gamma0 I`` and noise ``T`` (posterior variance + ``T``, averaged over the
    test inputs): it separates the finite-size fluctuations of the design from the theory."""
    n0 = int(n0)
    P = int(round(alpha * n0))
    width = int(round(P / alpha1))
    if n0 < 1 or P < 1 or width < 1:
        raise ValueError(f"sizes must be positive: N0 = {n0}, P = {P}, N1 = {width}")
    glm = glm_prediction(activation, noise=noise, alpha=P / n0)
    keys = ("q_bar", "error_predicted", "error_measured", "glm_error_finite")
    out: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(int(n_seeds)):
        inst = teacher_instance(n0, width, P, n_test, rng, activation=activation, noise=noise)
        sol = solve_renormalisation(inst.K, inst.y, hidden_widths=width, temperature=noise)
        pred = gp_predict(inst.K, inst.K_cross, np.diag(inst.K_test), inst.y, temperature=noise,
                          kernel_scale=sol.kernel_scale)
        out["q_bar"].append(sol.kernel_scale)
        out["error_predicted"].append(float(pred.variance.mean()) + noise)
        out["error_measured"].append(float(np.mean((inst.y_test - pred.mean) ** 2)))
        K_lin = glm["kappa"] * inst.X @ inst.X.T / n0
        K_lin[np.diag_indices_from(K_lin)] += glm["gamma0"]
        lin = gp_predict(K_lin, glm["kappa"] * inst.X_test @ inst.X.T / n0,
                         glm["kappa"] * np.sum(inst.X_test**2, axis=1) / n0 + glm["gamma0"], inst.y,
                         temperature=noise)
        out["glm_error_finite"].append(float(lin.variance.mean()) + noise)
    res = {k: np.array(v) for k, v in out.items()}
    res["glm_error"] = np.full(int(n_seeds), glm["test_error"])
    res["sizes"] = np.array([n0, P, width])
    return res

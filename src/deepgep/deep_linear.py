"""Deep linear networks whose depth grows with their width (Chapter 7).

Bassetti, Ladelli & Rotondo (2024) (SCIENCE.md section 5) study the deep linear network

    h_0 = x in R^d,   h_l = W_l h_{l-1} / sqrt(N_{l-1})  (l = 1..L),   f(x) = a . h_L / sqrt(N),

with ``W_1`` of size ``N x d``, ``W_2..W_L`` of size ``N x N``, ``a ~ N(0, I_N)`` and i.i.d.
``N(0, 1)`` weights (``N_0 = d``, ``N_l = N``), in the joint limit ``L, N -> infinity`` with
``lambda = L / N`` fixed. This module gives the exact finite-``(N, L)`` laws that the limit
describes, and a sampler of actual networks to check them.

Exact law at finite size (derived in Chapter 7). Given ``h_{l-1}``, the vector ``W_l h_{l-1}`` is
``N(0, |h_{l-1}|^2 I_N)`` (rotation invariance of the Gaussian matrix), so
``|h_l|^2 / N = (|h_{l-1}|^2 / N_{l-1}) chi^2_N / N`` with a fresh chi-square at every layer, and

    f = sqrt(q0 s) g,   q0 = |x|^2 / d,   s = prod_{l=1}^{L} chi^2_{N,l} / N,   g ~ N(0, 1),

with ``g`` independent of ``s``: one output is a Gaussian scale mixture. Reading the network
from the readout backwards, ``u = W_2^T ... W_L^T a / sqrt(N^{L-1})`` has ``|u|^2 / N``
distributed as ``s`` (same chi-square argument), and given ``u`` the row vector
``r = u^T W_1 / sqrt(N d)`` is ``N(0, (|u|^2 / N) I_d / d)``; so ``f(x) = r . x`` and, for several
inputs, ``(f(x_1), ..., f(x_k)) = sqrt(s) (g . x_1, ..., g . x_k) / sqrt(d)`` with
``g ~ N(0, I_d)`` independent of ``s``: the outputs are the NNGP (the linear kernel
``x . x' / d``) times one random scale ``sqrt(s)`` shared by every input. Consequences used here:

* ``ln s = sum_l ln(chi^2_N / N)`` has mean ``L (psi(N/2) + ln(2/N))``, variance ``L psi'(N/2)``
  and characteristic function ``[Gamma(N/2 + it) / Gamma(N/2) (2/N)^{it}]^L``; the moments are
  ``E s^k = [Gamma(N/2 + k) / Gamma(N/2) (2/N)^k]^L`` (``k > -N/2``), in particular
  ``E s = 1`` and ``E s^2 = (1 + 2/N)^L``.
* Proportional limit (SCIENCE.md section 5): ``ln s -> N(-lambda, 2 lambda)``,
  ``E s^k -> exp(lambda k (k - 1))``.
* Kurtosis of one output ``3 E s^2 = 3 (1 + 2/N)^L -> 3 e^{2 lambda}``.
* Two inputs with Gram matrix ``G`` (``G_ab = x_a . x_b / d``):
  ``E f_a f_b = G_ab`` at every ``(N, L)`` (the kernel is the NNGP's) and
  ``E f_a^2 f_b^2 = (1 + 2/N)^L (G_aa G_bb + 2 G_ab^2)``, so that
  ``Cov(f_a^2, f_b^2) = (1 + 2/N)^L (G_aa G_bb + 2 G_ab^2) - G_aa G_bb``, which for orthogonal
  inputs (``G_ab = 0``) is ``((1 + 2/N)^L - 1) G_aa G_bb > 0``: uncorrelated but dependent
  outputs (in the limit ``e^{2 lambda} - 1``; for a Gaussian pair it would be ``2 G_ab^2 = 0``).
  The same numbers follow from the layer-to-layer recursion of the hidden Gram matrix
  (:func:`gram_fourth_moments`), an independent derivation checked in the tests.

Sampling (:func:`sample_deep_linear`) multiplies the actual Gaussian matrices, batched over
networks, and renormalises the hidden vectors at every layer while accumulating the log of the
renormalisation, so that nothing overflows even when ``s`` does not fit in a float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import digamma, gammaln, loggamma, ndtr, polygamma

from deepgep.validation import check_generator, check_real

#: Half-width of the grid of ``ln s`` in standard deviations of ``ln s`` (the right tail decays
#: doubly exponentially; the left one, like ``exp(N y / 2)``, gets a wider grid when needed).
LOG_SCALE_HALF_WIDTH_SD = 16.0

#: Number of points of the ``ln s`` grid (trapezoid rule; spacing 0.016 standard deviations).
LOG_SCALE_GRID_POINTS = 2049

#: The characteristic function of ``ln s`` is truncated where its modulus falls below
#: ``exp(-CHARACTERISTIC_LOG_CUTOFF)`` (below double-precision rounding of the density).
CHARACTERISTIC_LOG_CUTOFF = 40.0

#: The density of ``ln s`` must integrate to one within this tolerance, or
#: :class:`QuadratureError` is raised.
NORMALISATION_TOLERANCE = 1e-9

#: Largest spacing of the ``ln s`` nodes of the output mixture (in units of ``ln s`` and of its
#: standard deviation, whichever is smaller).
MIXTURE_SPACING = 0.05

#: Multiple of machine epsilon (times the sum of the moduli of the Fourier terms) below which
#: the inverted density is rounding noise and is set to zero.
_ROUNDING_FACTOR = 64.0

#: Gauss-Hermite nodes of the limiting mixture's integral over ``ln s ~ N(-lambda, 2 lambda)``
#: (SCIENCE.md section 6 asks for at least 100).
LIMIT_HERMITE_NODES = 160

#: Cumulant series of the characteristic function of ``ln s``: at most this many terms, stopped
#: when a term falls below ``_CUMULANT_SERIES_TOL`` (its ratio of successive terms is <= 1/2).
_MAX_CUMULANTS = 80
_CUMULANT_SERIES_TOL = 1e-17

#: Largest number of weight entries drawn at once by the sampler (16 MB of float64).
SAMPLER_BATCH_ENTRIES = 2**21

_SQRT_2PI = math.sqrt(2.0 * math.pi)

#: Evaluation points of the mixture CDF handled per block (bounds memory at ~16 MB).
_CDF_BLOCK = 1024


class QuadratureError(RuntimeError):
    """A quadrature of this module did not reach its stated accuracy."""


# --- validation ----------------------------------------------------------------------------------


def _check_width(width: int) -> int:
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    return int(width)


def _check_depth(depth: int) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    return int(depth)


def _check_nonneg(name: str, value: float) -> float:
    return check_real(name, value, positive=False)


def _check_positive(name: str, value: float) -> float:
    return check_real(name, value, positive=True)


# --- the law of the scale s ----------------------------------------------------------------------


def log_scale_mean_variance(width: int, depth: int) -> tuple[float, float]:
    """Exact mean and variance of ``ln s = sum_{l=1}^{L} ln(chi^2_N / N)`` (SCIENCE.md section 5):
    ``L (psi(N/2) + ln(2/N))`` and ``L psi'(N/2)``."""
    n, L = _check_width(width), _check_depth(depth)
    half = 0.5 * n
    return L * (float(digamma(half)) + math.log(2.0 / n)), L * float(polygamma(1, half))


def scale_moment(k: float, width: int, depth: int) -> float:
    """Exact ``E s^k = [Gamma(N/2 + k) / Gamma(N/2) (2/N)^k]^L`` for real ``k > -N/2``."""
    n, L = _check_width(width), _check_depth(depth)
    k = float(k)
    if not math.isfinite(k) or k <= -0.5 * n:
        raise ValueError(f"E s^k is finite only for k > -N/2 = {-0.5 * n}, got k = {k!r}")
    log_one = float(gammaln(0.5 * n + k) - gammaln(0.5 * n)) + k * math.log(2.0 / n)
    return math.exp(L * log_one)


def limit_scale_moment(k: float, lam: float) -> float:
    """``E s^k = exp(lambda k (k - 1))`` for ``ln s ~ N(-lambda, 2 lambda)``."""
    lam = _check_nonneg("lam", lam)
    k = float(k)
    return math.exp(lam * k * (k - 1.0))


def kurtosis(width: int, depth: int) -> float:
    """Kurtosis ``E f^4 / (E f^2)^2 = 3 E s^2 = 3 (1 + 2/N)^L`` of one output, exactly."""
    n, L = _check_width(width), _check_depth(depth)
    return 3.0 * math.exp(L * math.log1p(2.0 / n))


def limit_kurtosis(lam: float) -> float:
    """Kurtosis ``3 e^{2 lambda}`` of one output in the proportional limit ``L / N -> lambda``."""
    return 3.0 * math.exp(2.0 * _check_nonneg("lam", lam))


def fourth_moment_tail_ratio(width: int, depth: int) -> float:
    """``E s^4 / (E s^2)^2 = [(1 + 4/N)(1 + 6/N) / (1 + 2/N)]^L`` (limit ``e^{8 lambda}``).

    The variance of ``s^2`` relative to its squared mean is this ratio minus one: it sets how
    many sampled networks a Monte Carlo estimate of the kurtosis (or of ``Cov(f_a^2, f_b^2)``)
    needs before its standard error means anything.
    """
    n, L = _check_width(width), _check_depth(depth)
    return math.exp(L * (math.log1p(4.0 / n) + math.log1p(6.0 / n) - math.log1p(2.0 / n)))


#: Observables of :func:`monte_carlo_relative_se` and ``Var(X) / (E X)^2`` of each as a function
#: of ``R = E s^4 / (E s^2)^2``: ``f^4`` (``E g^8 / (E g^4)^2 = 105 / 9``), ``f_a^2 f_b^2`` for
#: orthogonal inputs (``E u^4 v^4 / (E u^2 v^2)^2 = 9``) and ``s^2``.
_RELATIVE_VARIANCE = {
    "f4": lambda R: 35.0 * R / 3.0 - 1.0,
    "fa2fb2": lambda R: 9.0 * R - 1.0,
    "s2": lambda R: R - 1.0,
}


def monte_carlo_relative_se(width: int, depth: int, n_networks: int, observable: str) -> float:
    """Predicted relative standard error ``sqrt(Var X / (E X)^2 / n)`` of the sample mean of a
    fourth-order observable over ``n_networks`` networks: ``"f4"`` (``f^4``, the kurtosis),
    ``"fa2fb2"`` (``f_a^2 f_b^2``, orthogonal inputs of equal norm) or ``"s2"`` (``s^2``).

    These grow like ``e^{4 lambda}`` (:func:`fourth_moment_tail_ratio`): the fourth moments of the
    scale mixture are carried by rare networks.
    """
    if observable not in _RELATIVE_VARIANCE:
        raise ValueError(f"observable must be one of {sorted(_RELATIVE_VARIANCE)}, got {observable!r}")
    if isinstance(n_networks, bool) or not isinstance(n_networks, (int, np.integer)) or n_networks < 1:
        raise ValueError(f"n_networks must be a positive integer, got {n_networks!r}")
    R = fourth_moment_tail_ratio(width, depth)
    return math.sqrt(max(_RELATIVE_VARIANCE[observable](R), 0.0) / int(n_networks))


def _log_char_one_layer(t: np.ndarray, n: int) -> np.ndarray:
    """``ln E exp(i t ln(chi^2_N / N)) = ln Gamma(N/2 + i t) - ln Gamma(N/2) + i t ln(2/N)``."""
    half = 0.5 * n
    return loggamma(half + 1j * t) - gammaln(half) + 1j * t * math.log(2.0 / n)


def _centred_log_char(t: np.ndarray, n: int, L: int) -> np.ndarray:
    """``ln E exp(i t (ln s - E ln s))`` for ``t >= 0``.

    For wide layers the phase ``L (arg Gamma(N/2 + it) + t ln(2/N))`` is large and nearly cancels
    against ``t E ln s``; when ``t <= N/4`` the cumulant series
    ``sum_{k>=2} L psi^{(k-1)}(N/2) (it)^k / k!`` (convergent for ``|t| < N/2``) is used instead, so
    that no digits are lost. Otherwise the log-gamma form is used directly.
    """
    half = 0.5 * n
    mean, _ = log_scale_mean_variance(n, L)
    t_max = float(np.max(t, initial=0.0))
    if t_max <= 0.5 * half:
        out = np.zeros(t.shape, dtype=np.complex128)
        it = 1j * t
        power = it * it
        for k in range(2, _MAX_CUMULANTS + 1):
            coef = L * float(polygamma(k - 1, half)) / math.factorial(k)
            out += coef * power
            if abs(coef) * t_max**k < _CUMULANT_SERIES_TOL:
                return out
            power = power * it
    return L * _log_char_one_layer(t, n) - 1j * t * mean


def _cutoff_frequency(n: int, L: int) -> float:
    """Smallest ``T`` (by doubling) with ``|phi(T)|^L < exp(-CHARACTERISTIC_LOG_CUTOFF)``;
    ``|Gamma(a + it)|`` decreases in ``|t|``, so the modulus stays below the cutoff beyond ``T``."""
    t = 1.0
    while L * float(_log_char_one_layer(np.array([t]), n).real[0]) > -CHARACTERISTIC_LOG_CUTOFF:
        t *= 2.0
    return t


@dataclass(frozen=True, eq=False)
class LogScaleLaw:
    """Exact density of ``ln s`` on a uniform grid (trapezoid weights), ``depth >= 1``.

    Attributes
    ----------
    width, depth:
        ``N`` and ``L``.
    grid:
        Points ``y_j`` from ``mean - max(LOG_SCALE_HALF_WIDTH_SD sd, 2 CHARACTERISTIC_LOG_CUTOFF / N)``
        (the left tail decays like ``exp(N y / 2)``) to ``mean + LOG_SCALE_HALF_WIDTH_SD sd``.
    density:
        ``p(y_j)``, the density of ``ln s`` at the grid points.
    weights:
        Trapezoid weights; ``sum(weights * density) = 1`` within ``NORMALISATION_TOLERANCE``.
    """

    width: int
    depth: int
    grid: np.ndarray
    density: np.ndarray
    weights: np.ndarray

    def expectation(self, func: Callable[[np.ndarray], np.ndarray]) -> float:
        """``E func(ln s)`` by the grid's trapezoid rule."""
        return float(np.sum(self.weights * self.density * func(self.grid)))

    def mixture_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Every ``m``-th grid point and its trapezoid weight times the density, ``m`` the largest
        stride keeping the spacing below ``MIXTURE_SPACING`` (absolute, and in standard
        deviations of ``ln s``): the nodes of the output mixture's integral over ``ln s``, whose
        integrand is smooth on that scale (the trapezoid rule converges spectrally there; the
        tests compare with the full grid)."""
        h = float(self.grid[1] - self.grid[0])
        _, var = log_scale_mean_variance(self.width, self.depth)
        stride = max(1, int(MIXTURE_SPACING * min(1.0, math.sqrt(var)) / h))
        idx = np.arange(0, self.grid.size, stride)
        w = np.full(idx.size, stride * h)
        w[0] = 0.5 * stride * h
        if idx[-1] == self.grid.size - 1:
            w[-1] = 0.5 * stride * h
        return self.grid[idx], w * self.density[idx]

    def cdf(self, y: np.ndarray) -> np.ndarray:
        """``P(ln s <= y)``, cumulative trapezoid on the grid, interpolated linearly."""
        dens = self.density
        steps = 0.5 * (dens[1:] + dens[:-1]) * np.diff(self.grid)
        cum = np.concatenate(([0.0], np.cumsum(steps)))
        cum /= cum[-1]
        return np.interp(np.asarray(y, dtype=np.float64), self.grid, cum, left=0.0, right=1.0)


def log_scale_law(width: int, depth: int) -> LogScaleLaw:
    """The exact density of ``ln s`` for ``N = width``, ``L = depth >= 1``, by Fourier inversion
    of its characteristic function ``[Gamma(N/2 + it) / Gamma(N/2) (2/N)^{it}]^L``:
    ``p(y) = (1/pi) int_0^T Re[exp(-i t y) phi(t)^L] dt`` (trapezoid in ``t``, step small enough
    that the aliases of the density, spaced ``2 pi / dt`` apart, lie four grid lengths away).

    The density is resolved down to about ``1e-16`` of its peak (below, the inversion returns
    rounding noise, which is set to zero). Expectations of ``e^{k ln s}`` are therefore accurate
    only while the tilted law ``e^{k y} p(y)`` lies well inside that body, roughly
    ``|k| sqrt(Var ln s) <= 4``: ``E s^{-1/2}`` (the output density at zero) to ``1e-9`` up to
    ``lambda = 2``, ``E s^2`` to ``1e-6`` up to ``lambda = 1`` (see the tests).

    Raises
    ------
    ValueError
        On ``depth = 0`` (then ``s = 1`` exactly and there is no density) or bad arguments.
    QuadratureError
        If the density does not integrate to one within ``NORMALISATION_TOLERANCE`` or is
        negative beyond rounding.
    """
    n, L = _check_width(width), _check_depth(depth)
    if L == 0:
        raise ValueError("depth = 0: s = 1 exactly, the law of ln s is a point mass")
    mean, var = log_scale_mean_variance(n, L)
    sd = math.sqrt(var)
    right = LOG_SCALE_HALF_WIDTH_SD * sd
    # The left tail decays only like exp(N y / 2): extend the grid until it is below the cutoff.
    left = max(right, 2.0 * CHARACTERISTIC_LOG_CUTOFF / n)
    u = np.linspace(-left, right, LOG_SCALE_GRID_POINTS)
    t_max = _cutoff_frequency(n, L)
    dt = 2.0 * math.pi / (4.0 * (left + right))
    t = np.arange(0.0, t_max + dt, dt)
    # Characteristic function of ln s - mean (the linear phase removed: slow oscillation in t).
    phi = np.exp(_centred_log_char(t, n, L))
    trap = np.full(t.size, dt)
    trap[0] = 0.5 * dt
    phase = np.outer(u, t)
    density = (np.cos(phase) @ (trap * phi.real) + np.sin(phase) @ (trap * phi.imag)) / math.pi
    # Rounding floor of the sum: values below it are noise (the true tails are far smaller there,
    # and positive moments such as E s^2 would amplify the noise by e^{2y}).
    floor = _ROUNDING_FACTOR * np.finfo(np.float64).eps * float(np.sum(trap * np.abs(phi))) / math.pi
    weights = np.full(u.size, u[1] - u[0])
    weights[[0, -1]] *= 0.5
    total = float(np.sum(weights * density))
    if abs(total - 1.0) > NORMALISATION_TOLERANCE or density.min() < -NORMALISATION_TOLERANCE:
        raise QuadratureError(
            f"density of ln s (N={n}, L={L}) integrates to {total!r} (min {density.min()!r})"
        )
    density = _resolved_body(density, floor)
    for a in (u, density, weights):
        a.setflags(write=False)
    grid = mean + u
    grid.setflags(write=False)
    return LogScaleLaw(n, L, grid, density, weights)


def _resolved_body(density: np.ndarray, floor: float) -> np.ndarray:
    """Keep the contiguous stretch around the mode where ``density > floor`` and zero the rest:
    beyond it the inversion returns rounding noise, which weights such as ``e^{-y/2}`` (the output
    density at zero) or ``e^{2y}`` (``E s^2``) would amplify from the far ends of the grid."""
    above = density > floor
    mode = int(np.argmax(density))
    below_left = np.flatnonzero(~above[:mode])
    below_right = np.flatnonzero(~above[mode:])
    lo = below_left[-1] + 1 if below_left.size else 0
    hi = mode + below_right[0] if below_right.size else density.size
    out = np.zeros_like(density)
    out[lo:hi] = density[lo:hi]
    return out


def _limit_nodes(lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``y_k`` and weights of ``E h(ln s)``, ``ln s ~ N(-lambda, 2 lambda)`` (Gauss-Hermite)."""
    z, w = np.polynomial.hermite_e.hermegauss(LIMIT_HERMITE_NODES)
    return -lam + math.sqrt(2.0 * lam) * z, w / math.sqrt(2.0 * math.pi)


# --- one output: the Gaussian scale mixture ------------------------------------------------------


def _mixture(values: np.ndarray, log_s: np.ndarray, weights: np.ndarray, q0: float, kind: str) -> np.ndarray:
    """``sum_j weights_j K(values / sqrt(q0 e^{y_j}))`` with ``K`` the normal pdf or cdf, blockwise."""
    keep = weights > 0.0  # grid points where the density of ln s was rounded to zero
    log_s, weights = log_s[keep], weights[keep]
    inv_sd = 1.0 / np.sqrt(q0 * np.exp(log_s))
    out = np.empty(values.size)
    for start in range(0, values.size, _CDF_BLOCK):
        z = values[start : start + _CDF_BLOCK, None] * inv_sd[None, :]
        if kind == "pdf":
            out[start : start + _CDF_BLOCK] = (np.exp(-0.5 * z * z) * inv_sd) @ weights / _SQRT_2PI
        else:
            out[start : start + _CDF_BLOCK] = ndtr(z) @ weights
    return out


def _scale_mixture_law(f, q0: float, kind: str, nodes) -> np.ndarray:
    """Density or CDF of ``sqrt(q0 s) g`` at ``f``; ``nodes()`` gives the quadrature nodes and
    weights in ``ln s``, or ``None`` when ``s = 1`` (a plain Gaussian)."""
    q0 = _check_positive("q0", q0)
    values = np.asarray(f, dtype=np.float64)
    flat = values.ravel()
    if not np.all(np.isfinite(flat)):
        raise ValueError("f contains non-finite values")
    rule = nodes()
    if rule is None:
        z = flat / math.sqrt(q0)
        out = stats.norm.pdf(z) / math.sqrt(q0) if kind == "pdf" else stats.norm.cdf(z)
    else:
        out = _mixture(flat, rule[0], rule[1], q0, kind)
    return out.reshape(values.shape)


def _output_law(f, width: int, depth: int, q0: float, kind: str) -> np.ndarray:
    n, L = _check_width(width), _check_depth(depth)
    return _scale_mixture_law(f, q0, kind, lambda: None if L == 0 else log_scale_law(n, L).mixture_nodes())


def output_pdf(f, width: int, depth: int, q0: float = 1.0) -> np.ndarray:
    """Exact density of one output ``f = sqrt(q0 s) g`` of the depth-``L`` width-``N`` network
    (``q0 = |x|^2 / d``): ``E_s[N(f; 0, q0 s)]`` by quadrature over the exact law of ``ln s``."""
    return _output_law(f, width, depth, q0, "pdf")


def output_cdf(f, width: int, depth: int, q0: float = 1.0) -> np.ndarray:
    """Exact CDF ``P(f_out <= f) = E_s Phi(f / sqrt(q0 s))`` of one output."""
    return _output_law(f, width, depth, q0, "cdf")


def _limit_output_law(f, lam: float, q0: float, kind: str) -> np.ndarray:
    lam = _check_nonneg("lam", lam)
    return _scale_mixture_law(f, q0, kind, lambda: None if lam == 0.0 else _limit_nodes(lam))


def limit_output_pdf(f, lam: float, q0: float = 1.0) -> np.ndarray:
    """Density of one output in the proportional limit: ``E N(f; 0, q0 s)``, ``ln s ~ N(-lam, 2 lam)``
    (Bassetti et al. 2024; SCIENCE.md section 5), by Gauss-Hermite quadrature over ``ln s``."""
    return _limit_output_law(f, lam, q0, "pdf")


def limit_output_cdf(f, lam: float, q0: float = 1.0) -> np.ndarray:
    """CDF of one output in the proportional limit (see :func:`limit_output_pdf`)."""
    return _limit_output_law(f, lam, q0, "cdf")


def gaussian_distance(width: int, depth: int, q0: float = 1.0, n_points: int = 4001) -> float:
    """``sup_f |F_mix(f) - Phi(f / sqrt(q0))|``: the Kolmogorov distance between the exact output
    law and the NNGP's Gaussian, on a grid of ``n_points`` in ``[-8 sqrt(q0), 8 sqrt(q0)]``.

    Between grid points each CDF moves by at most the grid spacing (``0.004 sqrt(q0)``) times
    its largest density, ``E s^{-1/2} / sqrt(2 pi q0)``, so the grid maximum is below the true
    supremum by at most ``0.004 (1 + E s^{-1/2}) / sqrt(2 pi)``; the result is meant for printing
    to two or three digits.
    """
    q0 = _check_positive("q0", q0)
    f = np.linspace(-8.0, 8.0, int(n_points)) * math.sqrt(q0)
    return float(np.max(np.abs(output_cdf(f, width, depth, q0) - stats.norm.cdf(f / math.sqrt(q0)))))


# --- two inputs ----------------------------------------------------------------------------------


def _gram(x_a, x_b) -> tuple[float, float, float]:
    xa = np.asarray(x_a, dtype=np.float64)
    xb = np.asarray(x_b, dtype=np.float64)
    if xa.ndim != 1 or xa.shape != xb.shape or xa.size < 1:
        raise ValueError(f"x_a and x_b must be vectors of the same length, got {xa.shape} and {xb.shape}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(xb))):
        raise ValueError("inputs contain non-finite values")
    d = xa.size
    return float(xa @ xa) / d, float(xb @ xb) / d, float(xa @ xb) / d


def gram_fourth_moments(g_aa: float, g_bb: float, g_ab: float, width: int, depth: int) -> tuple[float, float]:
    """``(E[G_aa G_bb], E[G_ab^2])`` of the hidden Gram matrix after ``L`` layers, by recursion.

    ``G_l = (1/N) sum_i u_i u_i^T`` with ``u_i ~ N(0, G_{l-1})`` i.i.d. (the ``N`` rows of
    ``W_l``), and the Wishart moments ``E[W_ij W_kl] = G_ij G_kl + (G_ik G_jl + G_il G_jk) / N``
    make ``m = (E G_aa G_bb, E G_ab^2)`` evolve linearly, ``m_l = T m_{l-1}`` with
    ``T = [[1, 2/N], [1/N, 1 + 1/N]]``. Independent of the scale-mixture derivation of
    :func:`two_input_moments`; the tests check that the two agree.
    """
    n, L = _check_width(width), _check_depth(depth)
    T = np.array([[1.0, 2.0 / n], [1.0 / n, 1.0 + 1.0 / n]])
    m = np.linalg.matrix_power(T, L) @ np.array([g_aa * g_bb, g_ab * g_ab])
    return float(m[0]), float(m[1])


def _abs_product_mean(g_aa: float, g_bb: float, g_ab: float) -> float:
    """``E|u v|`` for ``(u, v) ~ N(0, [[g_aa, g_ab], [g_ab, g_bb]])``:
    ``(2/pi) sqrt(g_aa g_bb) (sqrt(1 - r^2) + r arcsin r)``, ``r`` the correlation."""
    scale = math.sqrt(g_aa * g_bb)
    r = min(1.0, max(-1.0, g_ab / scale)) if scale > 0 else 0.0
    return 2.0 / math.pi * scale * (math.sqrt(1.0 - r * r) + r * math.asin(r))


def _two_input(g_aa: float, g_bb: float, g_ab: float, es_half: float, es2: float) -> dict[str, float]:
    fourth = es2 * (g_aa * g_bb + 2.0 * g_ab**2)
    abs_cov = _abs_product_mean(g_aa, g_bb, g_ab) - es_half**2 * 2.0 / math.pi * math.sqrt(g_aa * g_bb)
    return {
        "cov_f": g_ab,
        "mean_fa2_fb2": fourth,
        "cov_f2": fourth - g_aa * g_bb,
        "cov_abs_f": abs_cov,
    }


def two_input_moments(x_a, x_b, width: int, depth: int) -> dict[str, float]:
    """Exact joint moments of the outputs ``f_a = f(x_a)``, ``f_b = f(x_b)`` of one network.

    With ``G`` the input Gram matrix (``G_ab = x_a . x_b / d``) and
    ``(f_a, f_b) = sqrt(s) (u, v)``, ``(u, v) ~ N(0, G)`` independent of ``s``:

    * ``cov_f = E f_a f_b = G_ab`` (the NNGP kernel, at every ``N`` and ``L``);
    * ``mean_fa2_fb2 = E f_a^2 f_b^2 = (1 + 2/N)^L (G_aa G_bb + 2 G_ab^2)``;
    * ``cov_f2 = Cov(f_a^2, f_b^2)`` (``= (1 + 2/N)^L - 1`` for orthogonal inputs of unit ``G``);
    * ``cov_abs_f = Cov(|f_a|, |f_b|) = E s E|u v| - (E sqrt(s))^2 E|u| E|v|``.
    """
    g_aa, g_bb, g_ab = _gram(x_a, x_b)
    return _two_input(g_aa, g_bb, g_ab, scale_moment(0.5, width, depth), scale_moment(2.0, width, depth))


def limit_two_input_moments(x_a, x_b, lam: float) -> dict[str, float]:
    """The moments of :func:`two_input_moments` in the proportional limit ``L / N -> lambda``
    (``E s^2 -> e^{2 lambda}``, ``E sqrt(s) -> e^{-lambda / 4}``)."""
    g_aa, g_bb, g_ab = _gram(x_a, x_b)
    return _two_input(g_aa, g_bb, g_ab, limit_scale_moment(0.5, lam), limit_scale_moment(2.0, lam))


# --- sampling networks ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DeepLinearSample:
    """Outputs of ``n_networks`` independent deep linear networks on the same ``k`` inputs.

    Attributes
    ----------
    log_scale:
        ``(n_networks,)``: ``sum_l ln c_l^2``, the accumulated log of the per-layer
        renormalisations (``c_l^2`` = mean over inputs of ``|h_l|^2 / N`` before renormalising,
        the inputs being scaled to ``mean_j |x_j|^2 / d = 1`` first). For one input this is
        exactly ``ln s`` (plus ``L ln weight_variance``).
    unit_outputs:
        ``(n_networks, k)``: ``f / sqrt(exp(log_scale))``, the outputs with the scale removed
        (always finite).
    width, depth, weight_variance:
        The architecture.
    """

    log_scale: np.ndarray
    unit_outputs: np.ndarray
    width: int
    depth: int
    weight_variance: float

    @property
    def outputs(self) -> np.ndarray:
        """``f = exp(log_scale / 2) * unit_outputs``; ``OverflowError`` if ``s`` exceeds float64."""
        if np.max(self.log_scale, initial=-np.inf) / 2.0 > math.log(np.finfo(np.float64).max) - 50.0:
            raise OverflowError(
                f"exp(log_scale / 2) overflows float64 (max log_scale {np.max(self.log_scale)!r}); "
                "use log_scale and unit_outputs"
            )
        return np.exp(0.5 * self.log_scale)[:, None] * self.unit_outputs


def _check_inputs(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be a vector or a d x k matrix of k inputs, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains non-finite values")
    if not np.any(X):
        raise ValueError("X is zero: every output would be zero")
    return X


def _propagate(Xhat: np.ndarray, n: int, L: int, b: int, rng: np.random.Generator, wv: float):
    """One batch of ``b`` networks: returns ``(log_scale, unit_outputs)``."""
    d, k = Xhat.shape
    h = np.broadcast_to(Xhat, (b, d, k))
    fan_in = d
    log_scale = np.zeros(b)
    for _ in range(L):
        W = rng.standard_normal((b, n, fan_in))
        h = np.matmul(W, h) * math.sqrt(wv / fan_in)
        c2 = np.einsum("bnk,bnk->b", h, h) / (n * k)
        log_scale += np.log(c2)
        h = h / np.sqrt(c2)[:, None, None]
        fan_in = n
    a = rng.standard_normal((b, fan_in))
    unit = np.einsum("bn,bnk->bk", a, h) / math.sqrt(fan_in)
    return log_scale, unit


def sample_deep_linear(
    X,
    width: int,
    depth: int,
    n_networks: int,
    rng: np.random.Generator,
    *,
    weight_variance: float = 1.0,
) -> DeepLinearSample:
    """Draw ``n_networks`` deep linear networks and evaluate them on the inputs ``X``.

    Each network has ``W_1`` (``N x d``), ``W_2..W_L`` (``N x N``) with i.i.d.
    ``N(0, weight_variance)`` entries, a readout ``a ~ N(0, I_N)``, and computes
    ``f(x) = a . W_L ... W_1 x / sqrt(N^L d)`` (``depth = 0``: ``f(x) = a . x / sqrt(d)``, ``a`` in
    ``R^d``). The matrices are multiplied for real, batched over networks
    (``SAMPLER_BATCH_ENTRIES`` weights at a time); after each layer the hidden vectors are divided
    by their root-mean-square norm and the log of that factor is accumulated, so ``L = N = 512``
    (or a ``weight_variance`` that makes ``s`` overflow float64) is handled without overflow.

    Parameters
    ----------
    X:
        ``(d,)`` one input, or ``(d, k)`` with the ``k`` inputs as columns.
    width, depth:
        ``N >= 1`` and ``L >= 0``.
    n_networks:
        Number of independent networks.
    rng:
        Seeded ``numpy.random.Generator``; draws are made batch by batch, layer by layer.
    weight_variance:
        Variance of the hidden weights (``> 0``); it multiplies ``s`` by ``weight_variance^L``.
    """
    X = _check_inputs(X)
    n, L = _check_width(width), _check_depth(depth)
    if isinstance(n_networks, bool) or not isinstance(n_networks, (int, np.integer)) or n_networks < 1:
        raise ValueError(f"n_networks must be a positive integer, got {n_networks!r}")
    wv = _check_positive("weight_variance", weight_variance)
    rng = check_generator(rng)
    d, k = X.shape
    r0 = math.sqrt(float(np.sum(X * X)) / (d * k))
    Xhat = X / r0
    # Weights drawn per network and per layer: the largest matrix, N x max(N, d) (or the readout).
    per_network = n * max(n, d) if L > 0 else d
    batch = max(1, SAMPLER_BATCH_ENTRIES // per_network)
    log_scale = np.empty(int(n_networks))
    unit = np.empty((int(n_networks), k))
    for start in range(0, int(n_networks), batch):
        b = min(batch, int(n_networks) - start)
        ls, u = _propagate(Xhat, n, L, b, rng, wv)
        log_scale[start : start + b] = ls
        unit[start : start + b] = u * r0
    if not (np.all(np.isfinite(log_scale)) and np.all(np.isfinite(unit))):
        raise FloatingPointError("non-finite values in the sampled networks")
    return DeepLinearSample(log_scale, unit, n, L, wv)


# --- Monte Carlo estimators with standard errors -------------------------------------------------


def kurtosis_estimate(f) -> tuple[float, float]:
    """Sample kurtosis ``mean(f^4) / mean(f^2)^2`` of centred outputs (the mean is zero by
    symmetry) and its delta-method standard error (influence function
    ``f^4 / m2^2 - 2 m4 f^2 / m2^3``)."""
    f = np.asarray(f, dtype=np.float64).ravel()
    if f.size < 2:
        raise ValueError(f"need at least two samples, got {f.size}")
    f2 = f * f
    m2, m4 = f2.mean(), (f2 * f2).mean()
    influence = f2 * f2 / m2**2 - 2.0 * m4 * f2 / m2**3
    return float(m4 / m2**2), float(influence.std(ddof=1) / math.sqrt(f.size))


def scale_kurtosis_estimate(log_scale) -> tuple[float, float]:
    """``3 mean(s^2) / mean(s)^2`` from the sampled networks' scales (the conditional expectation
    of the sample kurtosis given ``s``) and its delta-method standard error."""
    s = np.exp(np.asarray(log_scale, dtype=np.float64).ravel())
    if s.size < 2:
        raise ValueError(f"need at least two samples, got {s.size}")
    m1, m2 = s.mean(), (s * s).mean()
    influence = 3.0 * (s * s / m1**2 - 2.0 * m2 * s / m1**3)
    return float(3.0 * m2 / m1**2), float(influence.std(ddof=1) / math.sqrt(s.size))


def covariance_estimate(u, v) -> tuple[float, float]:
    """Sample covariance ``mean(u v) - mean(u) mean(v)`` and its standard error (influence
    function ``(u - mean u)(v - mean v)``)."""
    u = np.asarray(u, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    if u.shape != v.shape or u.size < 2:
        raise ValueError(f"u and v must have the same length >= 2, got {u.size} and {v.size}")
    prod = (u - u.mean()) * (v - v.mean())
    return float(prod.mean()), float(prod.std(ddof=1) / math.sqrt(u.size))


def mean_estimate(x) -> tuple[float, float]:
    """Sample mean and its standard error."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < 2:
        raise ValueError(f"need at least two samples, got {x.size}")
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def ks_critical_value(n_samples: int, level: float) -> float:
    """The exact ``1 - level`` quantile of the one-sample Kolmogorov-Smirnov statistic for
    ``n_samples`` samples (``scipy.stats.kstwo``): a correct CDF exceeds it with probability
    ``level``."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(stats.kstwo.ppf(1.0 - float(level), int(n_samples)))


def ks_statistic(samples, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    """``sup |F_n - F|`` between the empirical CDF of ``samples`` and a vectorised ``cdf``."""
    x = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    if x.size < 1 or not np.all(np.isfinite(x)):
        raise ValueError("samples must be a non-empty finite array")
    F = np.asarray(cdf(x), dtype=np.float64)
    i = np.arange(1, x.size + 1)
    return float(max(np.max(i / x.size - F), np.max(F - (i - 1) / x.size)))

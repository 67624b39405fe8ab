"""Deep linear networks whose depth grows with their width (Chapter 8): the law of the scale.

Bassetti, Ladelli & Rotondo (2024) (book thm-deep-linear-limit) study the deep linear network

    h_0 = x in R^d,   h_l = W_l h_{l-1} / sqrt(N_{l-1})  (l = 1..L),   f(x) = a . h_L / sqrt(N),

with ``W_1`` of size ``N x d``, ``W_2..W_L`` of size ``N x N``, ``a ~ N(0, I_N)`` and i.i.d.
``N(0, 1)`` weights (``N_0 = d``, ``N_l = N``), in the joint limit ``L, N -> infinity`` with
``lambda = L / N`` fixed. This module gives the exact finite-``(N, L)`` laws that the limit
describes: this module the law of the random scale ``s``, :mod:`deepgep.theory.deep_linear_outputs`
the laws of the outputs it mixes, :mod:`deepgep.simulate.deep_linear` a sampler of actual
networks to check them.

Exact law at finite size (derived in Chapter 8; book eq-deep-linear-exact). Given ``h_{l-1}``, the vector ``W_l h_{l-1}`` is
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
* Proportional limit (book eq-deep-linear-limit): ``ln s -> N(-lambda, 2 lambda)``,
  ``E s^k -> exp(lambda k (k - 1))``.
* Kurtosis of one output ``3 E s^2 = 3 (1 + 2/N)^L -> 3 e^{2 lambda}``.
* Two inputs with Gram matrix ``G`` (``G_ab = x_a . x_b / d``):
  ``E f_a f_b = G_ab`` at every ``(N, L)`` (the kernel is the NNGP's) and
  ``E f_a^2 f_b^2 = (1 + 2/N)^L (G_aa G_bb + 2 G_ab^2)``, so that
  ``Cov(f_a^2, f_b^2) = (1 + 2/N)^L (G_aa G_bb + 2 G_ab^2) - G_aa G_bb``, which for orthogonal
  inputs (``G_ab = 0``) is ``((1 + 2/N)^L - 1) G_aa G_bb > 0``: uncorrelated but dependent
  outputs (in the limit ``e^{2 lambda} - 1``; for a Gaussian pair it would be ``2 G_ab^2 = 0``).
  The same numbers follow from the layer-to-layer recursion of the hidden Gram matrix
  (:func:`deepgep.theory.deep_linear_outputs.gram_fourth_moments`), an independent derivation
  checked in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln, loggamma, polygamma

from deepgep.support.validation import check_count, check_real

__all__ = [
    "LOG_SCALE_HALF_WIDTH_SD", "LOG_SCALE_GRID_POINTS", "CHARACTERISTIC_LOG_CUTOFF",
    "NORMALISATION_TOLERANCE", "MIXTURE_SPACING", "LIMIT_HERMITE_NODES", "QuadratureError",
    "log_scale_mean_variance", "scale_moment", "limit_scale_moment", "kurtosis", "limit_kurtosis",
    "fourth_moment_tail_ratio", "monte_carlo_relative_se", "LogScaleLaw", "log_scale_law",
    "limit_nodes", "depth_contrast", "fourth_moment_reach", "log_scale_table",
]
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
#: (at least 100, so that the mixture's smooth integrand is resolved to float64).
LIMIT_HERMITE_NODES = 160

#: Cumulant series of the characteristic function of ``ln s``: at most this many terms, stopped
#: when a term falls below ``_CUMULANT_SERIES_TOL`` (its ratio of successive terms is <= 1/2).
_MAX_CUMULANTS = 80

_CUMULANT_SERIES_TOL = 1e-17


class QuadratureError(RuntimeError):
    """A quadrature of this module did not reach its stated accuracy."""


def log_scale_mean_variance(width: int, depth: int) -> tuple[float, float]:
    """Exact mean and variance of ``ln s = sum_{l=1}^{L} ln(chi^2_N / N)`` (book eq-deep-linear-exact):
    ``L (psi(N/2) + ln(2/N))`` and ``L psi'(N/2)``."""
    n, L = check_count("width", width, 1), check_count("depth", depth, 0)
    half = 0.5 * n
    return L * (float(digamma(half)) + math.log(2.0 / n)), L * float(polygamma(1, half))


def scale_moment(k: float, width: int, depth: int) -> float:
    """Exact ``E s^k = [Gamma(N/2 + k) / Gamma(N/2) (2/N)^k]^L`` for real ``k > -N/2``."""
    n, L = check_count("width", width, 1), check_count("depth", depth, 0)
    k = float(k)
    if not math.isfinite(k) or k <= -0.5 * n:
        raise ValueError(f"E s^k is finite only for k > -N/2 = {-0.5 * n}, got k = {k!r}")
    log_one = float(gammaln(0.5 * n + k) - gammaln(0.5 * n)) + k * math.log(2.0 / n)
    return math.exp(L * log_one)


def limit_scale_moment(k: float, lam: float) -> float:
    """``E s^k = exp(lambda k (k - 1))`` for ``ln s ~ N(-lambda, 2 lambda)``."""
    lam = check_real("lam", lam)
    k = float(k)
    return math.exp(lam * k * (k - 1.0))


def kurtosis(width: int, depth: int) -> float:
    """Kurtosis ``E f^4 / (E f^2)^2 = 3 E s^2 = 3 (1 + 2/N)^L`` of one output, exactly."""
    n, L = check_count("width", width, 1), check_count("depth", depth, 0)
    return 3.0 * math.exp(L * math.log1p(2.0 / n))


def limit_kurtosis(lam: float) -> float:
    """Kurtosis ``3 e^{2 lambda}`` of one output in the proportional limit ``L / N -> lambda``."""
    return 3.0 * math.exp(2.0 * check_real("lam", lam))


def fourth_moment_tail_ratio(width: int, depth: int) -> float:
    """``E s^4 / (E s^2)^2 = [(1 + 4/N)(1 + 6/N) / (1 + 2/N)]^L`` (limit ``e^{8 lambda}``).

    The variance of ``s^2`` relative to its squared mean is this ratio minus one: it sets how
    many sampled networks a Monte Carlo estimate of the kurtosis (or of ``Cov(f_a^2, f_b^2)``)
    needs before its standard error means anything.
    """
    n, L = check_count("width", width, 1), check_count("depth", depth, 0)
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
    n, L = check_count("width", width, 1), check_count("depth", depth, 0)
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


def limit_nodes(lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``y_k`` and weights of ``E h(ln s)``, ``ln s ~ N(-lambda, 2 lambda)`` (Gauss-Hermite)."""
    z, w = np.polynomial.hermite_e.hermegauss(LIMIT_HERMITE_NODES)
    return -lam + math.sqrt(2.0 * lam) * z, w / math.sqrt(2.0 * math.pi)


def depth_contrast(fixed_depth: int, widths: Sequence[int], lam: float) -> tuple[dict[str, list], dict[str, list]]:
    """Fixed depth against proportional depth, closed forms: at ``L = fixed_depth`` the variance
    of ``ln s`` and the excess kurtosis ``3 ((1 + 2/N)^L - 1)``, also times ``N / (6 L)`` (tends
    to one); at ``L = lam N`` the same and the excess kurtosis over its limit ``3 (e^{2 lam} - 1)``."""
    fixed: dict[str, list] = {k: [] for k in ("N", "Var ln s", "excess kurtosis", "x N/(6L)")}
    prop: dict[str, list] = {k: [] for k in ("N", "L", "Var ln s", "excess kurtosis", "/ limit")}
    limit_excess = limit_kurtosis(lam) - 3.0
    for width in widths:
        excess = kurtosis(width, fixed_depth) - 3.0
        vals = (width, log_scale_mean_variance(width, fixed_depth)[1], excess, excess * width / (6 * fixed_depth))
        for key, val in zip(fixed, vals):
            fixed[key].append(val)
        depth = round(lam * width)
        excess_p = kurtosis(width, depth) - 3.0
        for key, val in zip(prop, (width, depth, log_scale_mean_variance(width, depth)[1], excess_p,
                                   excess_p / limit_excess)):
            prop[key].append(val)
    return fixed, prop


def fourth_moment_reach(width: int, depths: Sequence[int], networks: int, max_relative_se: float) -> dict[str, list]:
    """Per depth with ``R`` (eq-deep-linear-tail) too large: the predicted relative error of the
    sample mean of ``f^4`` over ``networks`` networks and the networks it would take to reach
    ``max_relative_se``."""
    out: dict[str, list] = {k: [] for k in ("lambda", "L", "R", "rel. error at n", "networks needed")}
    for depth in depths:
        lam = depth / width
        rel = monte_carlo_relative_se(width, depth, networks, "f4")
        if rel >= max_relative_se:
            needed = monte_carlo_relative_se(width, depth, 1, "f4") ** 2 / max_relative_se**2
            for key, val in zip(out, (lam, depth, fourth_moment_tail_ratio(width, depth), rel, needed)):
                out[key].append(val)
    return out


def log_scale_table(width: int, depths: Sequence[int]) -> dict[str, list]:
    """The exact mean, variance and kurtosis of ``ln s`` at ``(N, L)`` for each depth against the limit
    (eq-deep-linear-moments, eq-deep-linear-limit), and ``quadrature``: the largest error of the
    Fourier-inverted density of ``ln s`` on its mean, its variance (relative) and ``E s^{-1/2}``
    (relative) — zero at ``L = 0``."""
    keys = ("lambda", "L", "E ln s", "limit", "Var ln s", "limit ", "kurtosis", "3 e^(2 lambda)", "quadrature")
    out: dict[str, list] = {k: [] for k in keys}
    for depth in depths:
        lam = depth / width
        mean, var = log_scale_mean_variance(width, depth)
        error = 0.0
        if depth > 0:
            law = log_scale_law(width, depth)
            error = max(abs(law.expectation(lambda y: y) - mean),
                        abs(law.expectation(lambda y: (y - mean) ** 2) / var - 1),
                        abs(law.expectation(lambda y: np.exp(-0.5 * y)) / scale_moment(-0.5, width, depth) - 1))
        for key, val in zip(keys, (lam, depth, mean, -lam, var, 2 * lam, kurtosis(width, depth), limit_kurtosis(lam), error)):
            out[key].append(val)
    return out

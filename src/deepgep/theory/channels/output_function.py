"""``y = f(z + sqrt(gamma0) xi) + sqrt(noise) xi'`` for a built-in output function ``f``, by
quadrature (odd ``f`` satisfy the theorem; ``relu`` and ``abs`` are allowed for the plain GLM);
``noise > 0`` is required (the label density)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from deepgep.support.validation import check_kappa, check_overlap, check_real
from deepgep.theory.activations import (ODD_OUTPUT_FUNCTIONS, OUTPUT_FUNCTIONS, apply_builtin,
                                        apply_builtin_inplace)
from deepgep.theory.quadrature import split_legendre_rule
from deepgep.theory.channels.base import SIGN_CAVEAT

__all__ = ["OutputFunctionChannel"]
#: Uniform (trapezoidal) nodes per unit of the inner Gaussian variable of the general channel.
_INNER_STEP = 0.02

#: Range of the inner variable: the Gaussian weight below e^{-50} is dropped.
_INNER_CUTOFF = 10.0

#: Gauss-Legendre nodes per half-line of the zeta average (split at 0, where a kinked f such as
#: abs makes the integrand vary on the scale sqrt(V)/sqrt(kappa q)).
_OUTER_NODES = 60


@njit(cache=True)
def _z_and_derivative(y, fvals, W, noise, s, ws):
    """Z_out(y) = E_s N(y - f(omega + sqrt(W) s); noise) and E_s[s N(...)] / sqrt(W), from the
    values ``fvals`` of f on the inner nodes (terms below e^{-40} are skipped)."""
    sq = math.sqrt(W)
    z = 0.0
    dz = 0.0
    cut = 80.0 * noise
    for k in range(s.size):
        r = y - fvals[k]
        if r * r > cut:
            continue
        dens = ws[k] * math.exp(-0.5 * r * r / noise)
        z += dens
        dz += s[k] * dens
    norm = 1.0 / math.sqrt(2.0 * math.pi * noise)
    return z * norm, (dz * norm / sq if sq > 0.0 else 0.0)


#: Label-grid step of the general channel, in units of the output noise's standard deviation:
#: Z_out(y) is a Gaussian convolution of width sqrt(noise), so the trapezoidal rule in y with
#: this step is exact to ~1e-12 (the rule's error decays like exp(-2 pi^2 / step^2)).
_LABEL_STEP = 0.25


@njit(cache=True)
def _output_averages(code, kappa, q, gamma0, noise, s, ws, hx, hw):
    """(E g_out^2, E log Z_out): zeta by Gauss-Hermite, the label y by the trapezoidal rule on
    a grid covering the support of Z_out(., omega, V), Z_out itself by the inner rule."""
    V = kappa * (1.0 - q)
    W = V + gamma0
    a = math.sqrt(kappa * q)
    sq = math.sqrt(W)
    sn = math.sqrt(noise)
    h = _LABEL_STEP * sn
    g2 = 0.0
    psi = 0.0
    fvals = np.empty(s.size)
    for i in range(hx.size):  # zeta
        omega = a * hx[i]
        lo = math.inf
        hi = -math.inf
        for k in range(s.size):
            fvals[k] = apply_builtin(code, 1.0, omega + sq * s[k])
            lo = min(lo, fvals[k])
            hi = max(hi, fvals[k])
        lo -= 10.0 * sn
        hi += 10.0 * sn
        n_y = int(math.ceil((hi - lo) / h)) + 1
        for m in range(n_y):
            y = lo + m * h
            zval, dz = _z_and_derivative(y, fvals, W, noise, s, ws)
            if zval <= 1e-300:
                continue
            wt = hw[i] * h * zval
            g = dz / zval
            g2 += wt * g * g
            psi += wt * math.log(zval)
    return g2, psi


@njit(cache=True)
def _output_predictive_variance(code, kappa, q, gamma0, s, ws, hx, hw):
    """E over zeta of Var(f(omega + sqrt(W) s)) under the inner Gaussian."""
    V = kappa * (1.0 - q)
    sq = math.sqrt(V + gamma0)
    a = math.sqrt(kappa * q)
    total = 0.0
    for i in range(hx.size):
        m1 = 0.0
        m2 = 0.0
        for k in range(s.size):
            f = apply_builtin(code, 1.0, a * hx[i] + sq * s[k])
            m1 += ws[k] * f
            m2 += ws[k] * f * f
        total += hw[i] * (m2 - m1 * m1)
    return total


@dataclass(frozen=True)
class OutputFunctionChannel:
    """``y = f(z + sqrt(gamma0) xi) + sqrt(noise) xi'`` for a built-in ``f``, by quadrature.

    The inner Gaussian average uses a trapezoidal rule of step ``0.02`` on ``[-10, 10]``: exact to
    ~1e-10 while ``sqrt(noise)`` exceeds a few steps of ``f`` (``noise >= 0.01`` for Lipschitz-1
    ``f`` and unit variances; :func:`make_channel` refuses smaller noise). The label is
    integrated on a trapezoidal grid of step ``sqrt(noise) / 4`` (smooth in ``y`` whatever
    ``f``: kinks and jumps of ``f`` are smoothed by the noise) and ``zeta`` by the split
    Gauss-Legendre rule with 60 nodes per half-line.
    """

    function: str
    gamma0: float
    noise: float
    name: str = ""
    satisfies_theorem: bool = False
    caveat: str = ""

    #: Smallest output noise for which the quadrature is accurate (see the class docstring).
    MIN_NOISE = 0.01

    def __post_init__(self) -> None:
        if self.function not in OUTPUT_FUNCTIONS:
            raise ValueError(f"unknown output function {self.function!r}; known: "
                             f"{', '.join(OUTPUT_FUNCTIONS)}")
        check_real("gamma0", self.gamma0)
        if check_real("noise", self.noise, positive=True) < self.MIN_NOISE:
            raise ValueError(f"the general output channel needs noise >= {self.MIN_NOISE} "
                             f"(quadrature accuracy), got {self.noise!r}")
        object.__setattr__(self, "name", self.function)
        caveat = (SIGN_CAVEAT if self.function == "sign" else "" if self.function in ODD_OUTPUT_FUNCTIONS
                  else f"the output function {self.function!r} is not odd")
        object.__setattr__(self, "caveat", caveat)
        object.__setattr__(self, "satisfies_theorem", not caveat)

    @property
    def _code(self) -> int:
        return OUTPUT_FUNCTIONS[self.function]

    @staticmethod
    def _inner_rule() -> tuple[np.ndarray, np.ndarray]:
        s = np.arange(-_INNER_CUTOFF, _INNER_CUTOFF + _INNER_STEP / 2, _INNER_STEP)
        w = _INNER_STEP * np.exp(-0.5 * s * s) / math.sqrt(2.0 * math.pi)
        return s, w

    @staticmethod
    def _outer_rule() -> tuple[np.ndarray, np.ndarray]:
        return split_legendre_rule(_OUTER_NODES)

    def sample(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        f = np.ascontiguousarray(z + math.sqrt(self.gamma0) * rng.standard_normal(z.shape), dtype=np.float64)
        apply_builtin_inplace(self._code, 1.0, f)
        return f + math.sqrt(self.noise) * rng.standard_normal(z.shape)

    def _averages(self, kappa: float, q: float) -> tuple[float, float]:
        s, ws = self._inner_rule()
        hx, hw = self._outer_rule()
        return _output_averages(self._code, check_kappa(kappa), check_overlap(q),
                                self.gamma0, self.noise, s, ws, hx, hw)

    def mean_g_out_squared(self, kappa: float, q: float) -> float:
        return float(self._averages(kappa, q)[0])

    def psi_out(self, kappa: float, q: float) -> float:
        return float(self._averages(kappa, q)[1])

    def bayes_test_error(self, kappa: float, q: float) -> float:
        """Mean squared error of the posterior-mean prediction of a new label."""
        s, ws = self._inner_rule()
        hx, hw = self._outer_rule()
        v = _output_predictive_variance(self._code, check_kappa(kappa), check_overlap(q),
                                        self.gamma0, s, ws, hx, hw)
        return float(v) + self.noise

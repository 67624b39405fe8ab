"""Phase retrieval ``y = |z + sqrt(gamma0) xi| + sqrt(noise) xi'``: not odd, so outside the
theorem; the plain GLM's example of a first-order transition (Chapter 3). ``Z_out`` is in closed
form, so the Gaussian averages are two-dimensional; ``noise > 0`` (the label density)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.special import ndtr

from deepgep.support.validation import check_kappa, check_overlap, check_real
from deepgep.theory.channels.base import SQRT2
from deepgep.theory.quadrature import gauss_legendre, half_line_rule

__all__ = ["AbsChannel"]

#: Half-line Gauss-Legendre nodes of the zeta average of the phase-retrieval channel.
_AVERAGE_NODES = 200
#: Standard-Gaussian cutoff of that average (P(|Z| > 12) = 3.6e-33).
_ZETA_CUTOFF = 12.0
#: Gauss-Legendre nodes of the label integral on each side of the fold at y = 0.
_ABS_NEGATIVE_NODES = 60

_ABS_POSITIVE_NODES = 300

#: Gaussian widths kept on each side of the label's support.
_ABS_WIDTHS = 12.0


@njit(cache=True)
def _abs_z_out(y, omega, w_in, noise):
    """Z_out and dZ_out/domega of phase retrieval in closed form.

    With z' ~ N(omega, W) and y = |z'| + sqrt(noise) xi': Z = sum_{s = +-1} N(y; s omega, W + noise)
    Phi(s mu_s / sqrt(v)), mu_s = (omega noise + s y W)/(W + noise), v = W noise / (W + noise)."""
    if w_in <= 1e-300:
        r = y - abs(omega)
        z = math.exp(-0.5 * r * r / noise) / math.sqrt(2.0 * math.pi * noise)
        return z, (r / noise) * z * (1.0 if omega >= 0.0 else -1.0)
    tot = w_in + noise
    sv = math.sqrt(w_in * noise / tot)
    z = 0.0
    dz = 0.0
    for s in (-1.0, 1.0):
        r = y - s * omega
        gauss = math.exp(-0.5 * r * r / tot) / math.sqrt(2.0 * math.pi * tot)
        arg = s * (omega * noise + s * y * w_in) / tot / sv
        cdf = 0.5 * math.erfc(-arg / SQRT2)
        pdf = math.exp(-0.5 * arg * arg) / math.sqrt(2.0 * math.pi)
        z += gauss * cdf
        dz += gauss * (s * r / tot * cdf + pdf * s * noise / (tot * sv))
    return z, dz


@njit(cache=True)
def _abs_averages(kappa, q, gamma0, noise, zx, zw, nx, nw, px, pw):
    """(E g_out^2, E log Z_out): zeta on the half-line (the channel is even in omega), the label
    by Gauss-Legendre on [-12 sqrt(noise), 0] and [0, |omega| + 12 sqrt(W + noise)]."""
    w_in = kappa * (1.0 - q) + gamma0
    a = math.sqrt(kappa * q)
    g2 = 0.0
    psi = 0.0
    lo = -_ABS_WIDTHS * math.sqrt(noise)
    for i in range(zx.size):
        omega = a * zx[i]
        hi = abs(omega) + _ABS_WIDTHS * math.sqrt(w_in + noise)
        for part in range(2):
            xs = nx if part == 0 else px
            ws = nw if part == 0 else pw
            left = lo if part == 0 else 0.0
            right = 0.0 if part == 0 else hi
            half = 0.5 * (right - left)
            for k in range(xs.size):
                y = left + half * (xs[k] + 1.0)
                zval, dz = _abs_z_out(y, omega, w_in, noise)
                if zval <= 1e-300:
                    continue
                wt = zw[i] * ws[k] * half * zval
                g = dz / zval
                g2 += wt * g * g
                psi += wt * math.log(zval)
    return g2, psi


@dataclass(frozen=True)
class AbsChannel:
    """Phase retrieval ``y = |z + sqrt(gamma0) xi| + sqrt(noise) xi'`` (not odd: outside the
    theorem; the plain GLM's example of a first-order transition). ``Z_out`` is in closed form,
    so the Gaussian averages are two-dimensional; ``noise > 0`` (the label density)."""

    gamma0: float
    noise: float
    name: str = "abs"
    satisfies_theorem: bool = False
    caveat: str = "the output |z| is even, not odd"

    def __post_init__(self) -> None:
        check_real("gamma0", self.gamma0)
        check_real("noise", self.noise, positive=True)

    def sample(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = z + math.sqrt(self.gamma0) * rng.standard_normal(z.shape)
        return np.abs(u) + math.sqrt(self.noise) * rng.standard_normal(z.shape)

    @staticmethod
    def _rules():
        zeta, wz = half_line_rule(_AVERAGE_NODES, _ZETA_CUTOFF)
        nx, nw = gauss_legendre(_ABS_NEGATIVE_NODES)
        px, pw = gauss_legendre(_ABS_POSITIVE_NODES)
        return zeta, wz, nx, nw, px, pw

    def _averages(self, kappa: float, q: float) -> tuple[float, float]:
        return _abs_averages(check_kappa(kappa), check_overlap(q), self.gamma0, self.noise,
                             *self._rules())

    def mean_g_out_squared(self, kappa: float, q: float) -> float:
        return float(self._averages(kappa, q)[0])

    def psi_out(self, kappa: float, q: float) -> float:
        return float(self._averages(kappa, q)[1])

    def bayes_test_error(self, kappa: float, q: float) -> float:
        """Mean squared error of the posterior-mean prediction of a new label:
        ``E_zeta Var(|z'| | omega) + noise``, ``z' ~ N(omega, kappa (1 - q) + inner_noise)``."""
        kappa, q = check_kappa(kappa), check_overlap(q)
        w = kappa * (1.0 - q) + self.gamma0
        zeta, wz = half_line_rule(_AVERAGE_NODES, _ZETA_CUTOFF)
        omega = math.sqrt(kappa * q) * zeta
        sw = math.sqrt(w)
        mean_abs = (sw * math.sqrt(2.0 / math.pi) * np.exp(-0.5 * omega**2 / max(w, 1e-300))
                    + omega * (1.0 - 2.0 * ndtr(-omega / max(sw, 1e-300))))
        return float(np.sum(wz * (omega**2 + w - mean_abs**2))) + self.noise

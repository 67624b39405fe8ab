"""The sign (probit) channel ``y = sign(z + sqrt(total_noise) xi)``: ``total_noise = 0`` is the
noiseless perceptron, and for the deep model ``total_noise = gamma0 + Delta`` (both noises enter
before the sign; book eq-probit-qhat, eq-classification-error). The Gaussian averages are
one-dimensional, compiled, and stable in the tails (``log Phi`` by ``erfc`` or its asymptotic
series, never ``log(0)``). The compiled averages (:func:`probit_average`, :func:`probit_rules`)
also serve the compiled state-evolution loop of :mod:`deepgep.theory.state_evolution`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit
from scipy.integrate import quad
from scipy.special import erfcx, log_ndtr

from deepgep.support.validation import check_kappa, check_overlap, check_real
from deepgep.theory.channels.base import LOG_2PI, SIGN_CAVEAT, SQRT2
from deepgep.theory.quadrature import gauss_legendre, half_line_rule

__all__ = ["SignChannel", "probit_average", "probit_rules", "log_phi_cdf",
           "probit_mean_g_out_squared_reference"]

#: Below this argument log Phi(t) uses its asymptotic series (relative error < 1e-14 there).
_LOG_NDTR_SERIES_BELOW = -30.0


@njit(cache=True)
def log_phi_cdf(t: float) -> float:
    """``log Phi(t)``, accurate in both tails."""
    if t > 0.0:
        return math.log1p(-0.5 * math.erfc(t / SQRT2))
    if t > _LOG_NDTR_SERIES_BELOW:
        return math.log(0.5 * math.erfc(-t / SQRT2))
    u = 1.0 / (t * t)
    series = 1.0 - u * (1.0 - 3.0 * u * (1.0 - 5.0 * u * (1.0 - 7.0 * u * (1.0 - 9.0 * u))))
    return -0.5 * t * t - math.log(-t) - 0.5 * LOG_2PI + math.log(series)


#: The sign channel's integrands decay like t exp(-t^2/2): beyond t = 9 they are below 1e-17.
_SIGN_CUTOFF = 9.0

#: Below this scale sqrt(kappa q / W) the averages run in zeta with 40 Gauss-Legendre nodes on
#: [0, 9] (weights precomputed); above it in t = scale zeta with 48 nodes. Both reach 1e-13
#: relative against 200-node rules and scipy quad (tests/test_channels.py).
_SCALE_SWITCH = 1.5

_ZETA_NODES = 40

_T_NODES = 48


@njit(cache=True)
def _sign_g2_integrand(t: float) -> float:
    """phi(t)^2 [1/Phi(t) + 1/Phi(-t)] for t >= 0 (even in t): one erfc and one exp."""
    p = 0.5 * math.erfc(t / SQRT2)  # Phi(-t), accurate in the tail
    return math.exp(-t * t) / (2.0 * math.pi) * (1.0 / (1.0 - p) + 1.0 / p)


@njit(cache=True)
def _sign_psi_integrand(t: float) -> float:
    """Phi(t) log Phi(t) + Phi(-t) log Phi(-t) for t >= 0 (even in t)."""
    p = 0.5 * math.erfc(t / SQRT2)
    return (1.0 - p) * math.log1p(-p) + p * math.log(p)


@njit(cache=True)
def probit_average(kind: int, scale: float, zx, zw, tx, tw) -> float:
    """``E F(scale zeta)``, ``zeta ~ N(0, 1)``, for the even integrand ``kind`` (0: g2, 1: psi).

    In the variable where the integrand is smooth: ``zeta`` (precomputed weights ``zw`` with the
    Gaussian density, doubled for the half-line) when ``scale <= 1.5``, else ``t = scale zeta``
    (weights ``tw`` times the density of ``t``)."""
    total = 0.0
    if scale <= _SCALE_SWITCH:
        for i in range(zx.size):
            t = scale * zx[i]
            total += zw[i] * (_sign_g2_integrand(t) if kind == 0 else _sign_psi_integrand(t))
    else:
        for i in range(tx.size):
            t = tx[i]
            u = t / scale
            w = tw[i] * math.exp(-0.5 * u * u) / scale
            total += w * (_sign_g2_integrand(t) if kind == 0 else _sign_psi_integrand(t))
    return total


@lru_cache(maxsize=1)
def probit_rules() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(zeta nodes, zeta weights with the doubled Gaussian density, t nodes, t weights without
    the density) on the half-line [0, 9]: the rules of :func:`probit_average`."""
    zx, zw = half_line_rule(_ZETA_NODES, _SIGN_CUTOFF)
    x, w = gauss_legendre(_T_NODES)
    tx = 0.5 * _SIGN_CUTOFF * (x + 1.0)
    tw = w * _SIGN_CUTOFF / math.sqrt(2.0 * math.pi)
    return zx, zw, tx, tw


#: Below this ``t`` the sum ``t + phi(t)/Phi(t)`` is taken from its continued fraction.
_MILLS_TAIL_BELOW = -5.0

#: Terms of the continued fraction (at u >= 5, 40 terms are exact to float64).
_MILLS_TERMS = 40


def _mills_excess(u: np.ndarray) -> np.ndarray:
    """``phi(u)/Phi(-u) - u`` for ``u >= 5`` without cancellation: the continued fraction
    ``Phi(-u)/phi(u) = 1/(u + 1/(u + 2/(u + 3/(u + ...))))`` gives
    ``phi(u)/Phi(-u) - u = 1/(u + 2/(u + 3/(u + ...)))``."""
    acc = np.asarray(u, dtype=float).copy()
    for k in range(_MILLS_TERMS, 1, -1):
        acc = u + k / acc
    return 1.0 / acc


@dataclass(frozen=True)
class SignChannel:
    """``y = sign(z + sqrt(total_noise) xi)`` (probit; ``total_noise = 0`` is the noiseless
    perceptron)."""

    total_noise: float
    name: str = "sign"
    satisfies_theorem: bool = False
    caveat: str = SIGN_CAVEAT

    def __post_init__(self) -> None:
        check_real("total_noise", self.total_noise)

    def sample(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noisy = z + math.sqrt(self.total_noise) * rng.standard_normal(z.shape)
        return np.where(noisy >= 0.0, 1.0, -1.0)

    def log_z_out(self, y, omega, V):
        return log_ndtr(y * omega / np.sqrt(V + self.total_noise))

    def g_out(self, y, omega, V):
        """``(g_out, d g_out / d omega)`` from the inverse Mills ratio ``M = phi(t)/Phi(t)``:
        ``g = y M / s`` and ``dg/domega = -M (t + M) / s^2`` with ``t = y omega / s``. For
        ``t < -5`` the sum ``t + M`` cancels; it is taken from the continued fraction instead."""
        s = np.sqrt(V + self.total_noise)
        t = np.asarray(y * omega / s, dtype=float)
        mills = np.exp(-0.5 * t * t - 0.5 * LOG_2PI - log_ndtr(t))
        t_plus_mills = t + mills
        tail = t < _MILLS_TAIL_BELOW
        if np.any(tail):
            t_plus_mills = np.where(tail, _mills_excess(-np.where(tail, t, -10.0)), t_plus_mills)
        return y * mills / s, -(mills * t_plus_mills) / (s * s)

    def _scale(self, kappa: float, q: float) -> float:
        W = kappa * (1.0 - q) + self.total_noise
        if W == 0.0:
            return math.inf
        return math.sqrt(kappa * q / W)

    def mean_g_out_squared(self, kappa: float, q: float) -> float:
        kappa, q = check_kappa(kappa), check_overlap(q)
        W = kappa * (1.0 - q) + self.total_noise
        if W == 0.0:
            raise ValueError("E[g_out^2] diverges at q = 1 for the noiseless sign channel")
        return probit_average(0, self._scale(kappa, q), *probit_rules()) / W

    def psi_out(self, kappa: float, q: float) -> float:
        kappa, q = check_kappa(kappa), check_overlap(q)
        scale = self._scale(kappa, q)
        if math.isinf(scale):
            return 0.0  # the label is a deterministic function of z
        return probit_average(1, scale, *probit_rules())

    def bayes_test_error(self, kappa: float, q: float) -> float:
        """Classification error of the Bayes-optimal classifier, ``arccos(sqrt(kappa q /
        (kappa + total_noise))) / pi`` (book eq-classification-error)."""
        kappa, q = check_kappa(kappa), check_overlap(q)
        return math.acos(min(1.0, math.sqrt(kappa * q / (kappa + self.total_noise)))) / math.pi


def probit_mean_g_out_squared_reference(kappa: float, q: float, noise: float) -> float:
    """The closed integral of book eq-probit-qhat for the probit ``E[g_out^2]`` (without the
    factor ``alpha kappa``), by scipy quad with ``1/erfc(t) = e^{t^2}/erfcx(t)``: an independent
    check of :meth:`SignChannel.mean_g_out_squared`."""

    rho_tot = kappa + noise
    a = math.sqrt(kappa * q / 2.0)

    def integrand(x: float) -> float:
        t = a * x
        if t > 0:
            return math.exp(-(rho_tot + kappa * q) * x * x / 2.0 + t * t) * 2.0 / erfcx(t)
        return math.exp(-(rho_tot + kappa * q) * x * x / 2.0) * 2.0 / math.erfc(t)

    value, _ = quad(integrand, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-12, limit=200)
    # sqrt(kappa (1 - q) + noise) rather than sqrt(rho_tot - kappa q): no cancellation as q -> 1
    return 2.0 * value / ((2.0 * math.pi) ** 1.5 * math.sqrt(kappa * (1.0 - q) + noise))

"""Output channels of the generalised linear model and their replica quantities.

The GLM of the book (SCIENCE.md section 3-4): ``z = eta0 a.x / sqrt(d)`` has variance
``kappa = eta0^2``; the label is drawn from ``P_out(y | z)``. Each channel provides

* ``log_z_out(y, omega, V)``, ``g_out(y, omega, V)`` (and its ``omega``-derivative) for GAMP:
  ``Z_out(y, omega, V) = E_{z ~ N(omega, V)} P_out(y | z)``, ``g_out = d log Z_out / d omega``;
* ``mean_g_out_squared(kappa, q)``: ``E[g_out^2]`` at ``omega = sqrt(kappa q) zeta``,
  ``V = kappa (1 - q)``, ``y ~ Z_out(., omega, V)`` (Nishimori), so that the state-evolution
  update is ``q_hat = alpha kappa E[g_out^2]``;
* ``psi_out(kappa, q) = E ln Z_out``, the channel part of the replica free entropy
  (Barbier, Krzakala, Macris, Miolane, Zdeborova 2019, eq. (7)); ``psi_out(kappa, 1)`` is
  ``E ln P_out(y | z)``, minus the conditional entropy of the labels;
* ``bayes_test_error(kappa, q)``: the Bayes-optimal test error on a new label.

Channels (a registry by name, :func:`make_channel`):

* ``GaussianChannel(noise)``: ``y = z + sqrt(noise) xi``; every quantity in closed form.
* ``SignChannel(noise)``: ``y = sign(z + sqrt(noise) xi)``, a probit channel; the Gaussian
  averages are one-dimensional, compiled, and stable in the tails (``log Phi`` by ``erfc`` or its
  asymptotic series, never ``log(0)``). For the deep model ``noise = gamma0 + Delta``
  (SCIENCE.md: the label noise enters before the sign).
* ``AbsChannel(inner_noise, noise)``: phase retrieval ``y = |z + sqrt(inner_noise) xi| +
  sqrt(noise) xi'`` with ``Z_out`` in closed form (any ``noise > 0``).
* ``OutputFunctionChannel(f, inner_noise, noise)``: ``y = f(z + sqrt(inner_noise) xi) +
  sqrt(noise) xi'`` for a built-in output function (odd ones satisfy the theorem; ``relu`` and
  ``abs`` are allowed for the plain GLM), by quadrature; ``noise > 0`` is required.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit
from scipy.special import log_ndtr, ndtr

from deepgep.activations import LINEAR, RELU, SIN, TANH, ERF, apply_builtin

LOG_2PI = math.log(2.0 * math.pi)
SQRT2 = math.sqrt(2.0)
#: Below this argument log Phi(t) uses its asymptotic series (relative error < 1e-14 there).
_LOG_NDTR_SERIES_BELOW = -30.0
#: Half-line Gauss-Legendre nodes of the zeta average of the phase-retrieval channel.
_AVERAGE_NODES = 200
#: Standard-Gaussian cutoff of that average (P(|Z| > 12) = 3.6e-33).
_ZETA_CUTOFF = 12.0


def _check_noise(noise: float, name: str = "noise", positive: bool = False) -> float:
    v = float(noise)
    if not math.isfinite(v) or v < 0.0 or (positive and v == 0.0):
        need = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a finite {need} variance, got {noise!r}")
    return v


def check_overlap(q: float) -> float:
    """``q`` must lie in ``[0, 1]`` (the overlap of a unit-variance prior)."""
    v = float(q)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"overlap q must be in [0, 1], got {q!r}")
    return v


def check_kappa(kappa: float) -> float:
    v = float(kappa)
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"kappa = eta0^2 must be positive and finite, got {kappa!r}")
    return v


# --- compiled scalar helpers ----------------------------------------------------------------


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


@njit(cache=True)
def _log_phi_pdf(t: float) -> float:
    return -0.5 * t * t - 0.5 * LOG_2PI


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
def _even_average(kind: int, scale: float, zx, zw, tx, tw) -> float:
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


@njit(cache=True)
def _sign_fixed_point(kappa, noise, alpha, q0, damping, tol, max_iter, zx, zw, tx, tw):
    """The state-evolution iteration of the sign channel, compiled end to end.

    Returns (q, q_hat, iterations, status): status 0 converged, 1 out of iterations,
    2 non-finite value."""
    q = q0
    q_hat = 0.0
    for it in range(1, max_iter + 1):
        w = kappa * (1.0 - q) + noise
        q_hat = alpha * kappa * _even_average(0, math.sqrt(kappa * q / w), zx, zw, tx, tw) / w
        q_new = (1.0 - damping) * q_hat / (1.0 + q_hat) + damping * q
        if not (math.isfinite(q_new) and math.isfinite(q_hat)):
            return q, q_hat, it, 2
        if abs(q_new - q) < tol:
            q = q_new
            w = kappa * (1.0 - q) + noise
            q_hat = alpha * kappa * _even_average(0, math.sqrt(kappa * q / w), zx, zw, tx, tw) / w
            return q, q_hat, it, 0
        q = q_new
    return q, q_hat, max_iter, 1


@lru_cache(maxsize=1)
def _sign_rules() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(zeta nodes, zeta weights with the doubled Gaussian density, t nodes, t weights without
    the density) on the half-line [0, 9]."""
    x, w = np.polynomial.legendre.leggauss(_ZETA_NODES)
    zx = 0.5 * _SIGN_CUTOFF * (x + 1.0)
    zw = w * _SIGN_CUTOFF * np.exp(-0.5 * zx * zx) / math.sqrt(2.0 * math.pi)
    x, w = np.polynomial.legendre.leggauss(_T_NODES)
    tx = 0.5 * _SIGN_CUTOFF * (x + 1.0)
    tw = w * _SIGN_CUTOFF / math.sqrt(2.0 * math.pi)
    return zx, zw, tx, tw


@lru_cache(maxsize=4)
def _legendre(n: int = _AVERAGE_NODES) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


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


# --- channels -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GaussianChannel:
    """``y = z + sqrt(noise) xi``: the linear (regression) channel, all in closed form."""

    noise: float
    name: str = "linear"
    satisfies_theorem: bool = True

    def __post_init__(self) -> None:
        _check_noise(self.noise, positive=True)

    def sample(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return z + math.sqrt(self.noise) * rng.standard_normal(z.shape)

    def log_z_out(self, y, omega, V):
        W = V + self.noise
        return -0.5 * (LOG_2PI + np.log(W)) - 0.5 * (y - omega) ** 2 / W

    def g_out(self, y, omega, V):
        """``(g_out, d g_out / d omega)``."""
        W = V + self.noise
        return (y - omega) / W, -1.0 / W + 0.0 * omega

    def mean_g_out_squared(self, kappa: float, q: float) -> float:
        return 1.0 / (check_kappa(kappa) * (1.0 - check_overlap(q)) + self.noise)

    def psi_out(self, kappa: float, q: float) -> float:
        W = check_kappa(kappa) * (1.0 - check_overlap(q)) + self.noise
        return -0.5 * (LOG_2PI + math.log(W)) - 0.5

    def bayes_test_error(self, kappa: float, q: float) -> float:
        """Mean squared error of the posterior-mean prediction of a new label."""
        return check_kappa(kappa) * (1.0 - check_overlap(q)) + self.noise


@dataclass(frozen=True)
class SignChannel:
    """``y = sign(z + sqrt(noise) xi)`` (probit; ``noise = 0`` is the noiseless perceptron)."""

    noise: float
    name: str = "sign"
    satisfies_theorem: bool = True

    def __post_init__(self) -> None:
        _check_noise(self.noise)

    def sample(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noisy = z + math.sqrt(self.noise) * rng.standard_normal(z.shape)
        return np.where(noisy >= 0.0, 1.0, -1.0)

    def log_z_out(self, y, omega, V):
        return log_ndtr(y * omega / np.sqrt(V + self.noise))

    def g_out(self, y, omega, V):
        """``(g_out, d g_out / d omega)`` from the inverse Mills ratio ``M = phi(t)/Phi(t)``:
        ``g = y M / s`` and ``dg/domega = -M (t + M) / s^2`` with ``t = y omega / s``. For
        ``t < -5`` the sum ``t + M`` cancels; it is taken from the continued fraction instead."""
        s = np.sqrt(V + self.noise)
        t = np.asarray(y * omega / s, dtype=float)
        mills = np.exp(-0.5 * t * t - 0.5 * LOG_2PI - log_ndtr(t))
        t_plus_mills = t + mills
        tail = t < _MILLS_TAIL_BELOW
        if np.any(tail):
            t_plus_mills = np.where(tail, _mills_excess(-np.where(tail, t, -10.0)), t_plus_mills)
        return y * mills / s, -(mills * t_plus_mills) / (s * s)

    def _scale(self, kappa: float, q: float) -> float:
        W = kappa * (1.0 - q) + self.noise
        if W == 0.0:
            return math.inf
        return math.sqrt(kappa * q / W)

    def mean_g_out_squared(self, kappa: float, q: float) -> float:
        kappa, q = check_kappa(kappa), check_overlap(q)
        W = kappa * (1.0 - q) + self.noise
        if W == 0.0:
            raise ValueError("E[g_out^2] diverges at q = 1 for the noiseless sign channel")
        return _even_average(0, self._scale(kappa, q), *_sign_rules()) / W

    def psi_out(self, kappa: float, q: float) -> float:
        kappa, q = check_kappa(kappa), check_overlap(q)
        scale = self._scale(kappa, q)
        if math.isinf(scale):
            return 0.0  # the label is a deterministic function of z
        return _even_average(1, scale, *_sign_rules())

    def fixed_point_iteration(self, kappa: float, alpha: float, q_start: float, damping: float,
                              tol: float, max_iter: int) -> tuple[float, float, int, int]:
        """The state-evolution iteration compiled end to end (used by
        :func:`deepgep.state_evolution.iterate`): ``(q, q_hat, iterations, status)``."""
        q, q_hat, its, status = _sign_fixed_point(check_kappa(kappa), self.noise, float(alpha),
                                                  float(q_start), float(damping), float(tol),
                                                  int(max_iter), *_sign_rules())
        return float(q), float(q_hat), int(its), int(status)

    def bayes_test_error(self, kappa: float, q: float) -> float:
        """Classification error of the Bayes-optimal classifier, ``arccos(sqrt(kappa q /
        (kappa + noise))) / pi`` (SCIENCE.md section 4)."""
        kappa, q = check_kappa(kappa), check_overlap(q)
        return math.acos(min(1.0, math.sqrt(kappa * q / (kappa + self.noise)))) / math.pi


# --- general output function --------------------------------------------------------------

ABS, SIGN = 5, 6
_OUTPUT_FUNCTIONS = {"linear": LINEAR, "tanh": TANH, "erf": ERF, "sin": SIN, "relu": RELU,
                     "abs": ABS, "sign": SIGN}
_ODD_OUTPUTS = frozenset({"linear", "tanh", "erf", "sin", "sign"})
#: Uniform (trapezoidal) nodes per unit of the inner Gaussian variable of the general channel.
_INNER_STEP = 0.02
#: Range of the inner variable: the Gaussian weight below e^{-50} is dropped.
_INNER_CUTOFF = 10.0
#: Gauss-Legendre nodes per half-line of the zeta average (split at 0, where a kinked f such as
#: abs makes the integrand vary on the scale sqrt(V)/sqrt(kappa q)).
_OUTER_NODES = 60


@njit(cache=True)
def _output_value(code: int, u: float) -> float:
    if code == ABS:
        return abs(u)
    if code == SIGN:
        return 1.0 if u >= 0.0 else -1.0
    return apply_builtin(code, 1.0, u)


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
def _output_averages(code, kappa, q, inner_noise, noise, s, ws, hx, hw):
    """(E g_out^2, E log Z_out): zeta by Gauss-Hermite, the label y by the trapezoidal rule on
    a grid covering the support of Z_out(., omega, V), Z_out itself by the inner rule."""
    V = kappa * (1.0 - q)
    W = V + inner_noise
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
            fvals[k] = _output_value(code, omega + sq * s[k])
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
def _output_predictive_variance(code, kappa, q, inner_noise, s, ws, hx, hw):
    """E over zeta of Var(f(omega + sqrt(W) s)) under the inner Gaussian."""
    V = kappa * (1.0 - q)
    sq = math.sqrt(V + inner_noise)
    a = math.sqrt(kappa * q)
    total = 0.0
    for i in range(hx.size):
        m1 = 0.0
        m2 = 0.0
        for k in range(s.size):
            f = _output_value(code, a * hx[i] + sq * s[k])
            m1 += ws[k] * f
            m2 += ws[k] * f * f
        total += hw[i] * (m2 - m1 * m1)
    return total


@dataclass(frozen=True)
class OutputFunctionChannel:
    """``y = f(z + sqrt(inner_noise) xi) + sqrt(noise) xi'`` for a built-in ``f``, by quadrature.

    The inner Gaussian average uses a trapezoidal rule of step ``0.02`` on ``[-10, 10]``: exact to
    ~1e-10 while ``sqrt(noise)`` exceeds a few steps of ``f`` (``noise >= 0.01`` for Lipschitz-1
    ``f`` and unit variances; :func:`make_channel` refuses smaller noise). The label is
    integrated on a trapezoidal grid of step ``sqrt(noise) / 4`` (smooth in ``y`` whatever
    ``f``: kinks and jumps of ``f`` are smoothed by the noise) and ``zeta`` by the split
    Gauss-Legendre rule with 60 nodes per half-line.
    """

    function: str
    inner_noise: float
    noise: float
    name: str = ""
    satisfies_theorem: bool = False

    #: Smallest output noise for which the quadrature is accurate (see the class docstring).
    MIN_NOISE = 0.01

    def __post_init__(self) -> None:
        if self.function not in _OUTPUT_FUNCTIONS:
            raise ValueError(f"unknown output function {self.function!r}; known: "
                             f"{', '.join(_OUTPUT_FUNCTIONS)}")
        _check_noise(self.inner_noise, "inner_noise")
        if _check_noise(self.noise, positive=True) < self.MIN_NOISE:
            raise ValueError(f"the general output channel needs noise >= {self.MIN_NOISE} "
                             f"(quadrature accuracy), got {self.noise!r}")
        object.__setattr__(self, "name", self.function)
        object.__setattr__(self, "satisfies_theorem", self.function in _ODD_OUTPUTS)

    @property
    def _code(self) -> int:
        return _OUTPUT_FUNCTIONS[self.function]

    @staticmethod
    def _inner_rule() -> tuple[np.ndarray, np.ndarray]:
        s = np.arange(-_INNER_CUTOFF, _INNER_CUTOFF + _INNER_STEP / 2, _INNER_STEP)
        w = _INNER_STEP * np.exp(-0.5 * s * s) / math.sqrt(2.0 * math.pi)
        return s, w

    @staticmethod
    def _outer_rule() -> tuple[np.ndarray, np.ndarray]:
        from deepgep.hermite import split_legendre_rule

        return split_legendre_rule(_OUTER_NODES)

    def sample(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = z + math.sqrt(self.inner_noise) * rng.standard_normal(z.shape)
        f = np.vectorize(lambda v: _output_value(self._code, v))(u) if u.size else u
        return f + math.sqrt(self.noise) * rng.standard_normal(z.shape)

    def _averages(self, kappa: float, q: float) -> tuple[float, float]:
        s, ws = self._inner_rule()
        hx, hw = self._outer_rule()
        return _output_averages(self._code, check_kappa(kappa), check_overlap(q),
                                self.inner_noise, self.noise, s, ws, hx, hw)

    def mean_g_out_squared(self, kappa: float, q: float) -> float:
        return float(self._averages(kappa, q)[0])

    def psi_out(self, kappa: float, q: float) -> float:
        return float(self._averages(kappa, q)[1])

    def bayes_test_error(self, kappa: float, q: float) -> float:
        """Mean squared error of the posterior-mean prediction of a new label."""
        s, ws = self._inner_rule()
        hx, hw = self._outer_rule()
        v = _output_predictive_variance(self._code, check_kappa(kappa), check_overlap(q),
                                        self.inner_noise, s, ws, hx, hw)
        return float(v) + self.noise


# --- phase retrieval: y = |z + sqrt(inner) xi| + sqrt(noise) xi' ----------------------------

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
def _abs_averages(kappa, q, inner_noise, noise, zx, zw, nx, nw, px, pw):
    """(E g_out^2, E log Z_out): zeta on the half-line (the channel is even in omega), the label
    by Gauss-Legendre on [-12 sqrt(noise), 0] and [0, |omega| + 12 sqrt(W + noise)]."""
    w_in = kappa * (1.0 - q) + inner_noise
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
    """Phase retrieval ``y = |z + sqrt(inner_noise) xi| + sqrt(noise) xi'`` (not odd: outside the
    theorem; the plain GLM's example of a first-order transition). ``Z_out`` is in closed form,
    so the Gaussian averages are two-dimensional; ``noise > 0`` (the label density)."""

    inner_noise: float
    noise: float
    name: str = "abs"
    satisfies_theorem: bool = False

    def __post_init__(self) -> None:
        _check_noise(self.inner_noise, "inner_noise")
        _check_noise(self.noise, positive=True)

    def sample(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = z + math.sqrt(self.inner_noise) * rng.standard_normal(z.shape)
        return np.abs(u) + math.sqrt(self.noise) * rng.standard_normal(z.shape)

    @staticmethod
    def _rules():
        zeta, wz = split_zeta_rule()
        nx, nw = _legendre(_ABS_NEGATIVE_NODES)
        px, pw = _legendre(_ABS_POSITIVE_NODES)
        return zeta, wz, nx, nw, px, pw

    def _averages(self, kappa: float, q: float) -> tuple[float, float]:
        return _abs_averages(check_kappa(kappa), check_overlap(q), self.inner_noise, self.noise,
                             *self._rules())

    def mean_g_out_squared(self, kappa: float, q: float) -> float:
        return float(self._averages(kappa, q)[0])

    def psi_out(self, kappa: float, q: float) -> float:
        return float(self._averages(kappa, q)[1])

    def bayes_test_error(self, kappa: float, q: float) -> float:
        """Mean squared error of the posterior-mean prediction of a new label:
        ``E_zeta Var(|z'| | omega) + noise``, ``z' ~ N(omega, kappa (1 - q) + inner_noise)``."""
        kappa, q = check_kappa(kappa), check_overlap(q)
        w = kappa * (1.0 - q) + self.inner_noise
        zeta, wz = split_zeta_rule()
        omega = math.sqrt(kappa * q) * zeta
        sw = math.sqrt(w)
        mean_abs = (sw * math.sqrt(2.0 / math.pi) * np.exp(-0.5 * omega**2 / max(w, 1e-300))
                    + omega * (1.0 - 2.0 * ndtr(-omega / max(sw, 1e-300))))
        return float(np.sum(wz * (omega**2 + w - mean_abs**2))) + self.noise


@lru_cache(maxsize=1)
def split_zeta_rule() -> tuple[np.ndarray, np.ndarray]:
    """Half-line rule for an even function of ``zeta ~ N(0, 1)``: nodes in ``[0, 12]``, weights
    (Gaussian density included, doubled) summing to one."""
    x, w = _legendre(_AVERAGE_NODES)
    zeta = 0.5 * _ZETA_CUTOFF * (x + 1.0)
    weights = w * _ZETA_CUTOFF * np.exp(-0.5 * zeta**2) / math.sqrt(2.0 * math.pi)
    return zeta, weights


Channel = GaussianChannel | SignChannel | OutputFunctionChannel | AbsChannel


def known_channels() -> tuple[str, ...]:
    """Names accepted by :func:`make_channel`."""
    return ("linear", "sign", "tanh", "erf", "sin", "relu", "abs")


def make_channel(name: str, gamma0: float = 0.0, noise: float = 0.0) -> Channel:
    """The channel ``y = f(z + sqrt(gamma0) xi) + sqrt(noise) xi'`` of the equivalent GLM.

    ``linear`` and ``sign`` reduce to the closed-form channels with total noise
    ``gamma0 + noise`` (for ``sign`` the noise enters before the sign, SCIENCE.md section 4);
    other names give an :class:`OutputFunctionChannel`.
    """
    key = str(name).strip().lower()
    g = _check_noise(gamma0, "gamma0")
    n = _check_noise(noise, "noise")
    if key == "linear":
        if g + n == 0.0:
            raise ValueError("the linear channel needs gamma0 + noise > 0 (else the mutual "
                             "information is infinite)")
        return GaussianChannel(g + n)
    if key == "sign":
        return SignChannel(g + n)
    if key == "abs":
        return AbsChannel(g, n)
    if key in _OUTPUT_FUNCTIONS:
        return OutputFunctionChannel(key, g, n)
    raise ValueError(f"unknown channel {name!r}; known: {', '.join(known_channels())}")


def probit_mean_g_out_squared_reference(kappa: float, q: float, noise: float) -> float:
    """SCIENCE.md's closed integral for the probit ``E[g_out^2]`` (without the factor
    ``alpha kappa``), by scipy quad with ``1/erfc(t) = e^{t^2}/erfcx(t)``: an independent check."""
    from scipy.integrate import quad
    from scipy.special import erfcx

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


__all__ = ["GaussianChannel", "SignChannel", "AbsChannel", "OutputFunctionChannel", "make_channel",
           "known_channels", "log_phi_cdf", "probit_mean_g_out_squared_reference", "ndtr"]

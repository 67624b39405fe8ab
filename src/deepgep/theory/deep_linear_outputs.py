"""The outputs of a deep linear network at proportional depth: one output is the Gaussian scale
mixture ``f = sqrt(q0 s) g`` (book eq-deep-linear-exact, eq-deep-linear-limit), two outputs share
the scale (uncorrelated yet dependent, book eq-deep-linear-covariance). The law of ``s`` is in
:mod:`deepgep.theory.deep_linear`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from scipy.special import ndtr

from deepgep.support.validation import check_count, check_real
from deepgep.theory.deep_linear import limit_nodes, limit_scale_moment, log_scale_law, scale_moment

__all__ = ["output_pdf", "output_cdf", "limit_output_pdf", "limit_output_cdf", "gaussian_distance",
           "gram_fourth_moments", "two_input_moments", "limit_two_input_moments"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)

#: Evaluation points of the mixture CDF handled per block (bounds memory at ~16 MB).
_CDF_BLOCK = 1024


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
    q0 = check_real("q0", q0, positive=True)
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
    n, L = check_count("width", width, 1), check_count("depth", depth, 0)
    return _scale_mixture_law(f, q0, kind, lambda: None if L == 0 else log_scale_law(n, L).mixture_nodes())


def output_pdf(f, width: int, depth: int, q0: float = 1.0) -> np.ndarray:
    """Exact density of one output ``f = sqrt(q0 s) g`` of the depth-``L`` width-``N`` network
    (``q0 = |x|^2 / d``): ``E_s[N(f; 0, q0 s)]`` by quadrature over the exact law of ``ln s``."""
    return _output_law(f, width, depth, q0, "pdf")


def output_cdf(f, width: int, depth: int, q0: float = 1.0) -> np.ndarray:
    """Exact CDF ``P(f_out <= f) = E_s Phi(f / sqrt(q0 s))`` of one output."""
    return _output_law(f, width, depth, q0, "cdf")


def _limit_output_law(f, lam: float, q0: float, kind: str) -> np.ndarray:
    lam = check_real("lam", lam)
    return _scale_mixture_law(f, q0, kind, lambda: None if lam == 0.0 else limit_nodes(lam))


def limit_output_pdf(f, lam: float, q0: float = 1.0) -> np.ndarray:
    """Density of one output in the proportional limit: ``E N(f; 0, q0 s)``, ``ln s ~ N(-lam, 2 lam)``
    (Bassetti et al. 2024; book eq-deep-linear-limit), by Gauss-Hermite quadrature over ``ln s``."""
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
    q0 = check_real("q0", q0, positive=True)
    f = np.linspace(-8.0, 8.0, int(n_points)) * math.sqrt(q0)
    return float(np.max(np.abs(output_cdf(f, width, depth, q0) - stats.norm.cdf(f / math.sqrt(q0)))))


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
    n, L = check_count("width", width, 1), check_count("depth", depth, 0)
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

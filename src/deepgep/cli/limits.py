"""What the command line refuses before it computes: caps on sizes and iteration counts, and the
range of scales within which float64 computes the model safely.

Every check raises ``ValueError`` with one line saying what is refused and why (the command
line exits with status 2). The checks of :mod:`deepgep.cli.model` call them before any
quadrature, fixed-point iteration or numba kernel sees the numbers.

Caps
    ``MAX_ALPHA_POINTS`` points on an ``--alpha`` grid, ``MAX_ITERATIONS`` for
    ``--max-iter``, ``MAX_DEPTH`` for ``--depth`` (each constant documents its reason).
Scales
    float64 represents magnitudes from ``2.2e-308`` (below, subnormal numbers lose digits,
    then zero) to ``1.8e308`` (then ``inf``). The layer recursion squares the activation's
    values (book eq-layer-coefficients), and the state evolution (book eq-state-evolution)
    multiplies and divides the model's scales (``alpha kappa / (gamma0 + Delta)``) and squares
    their ratios. Each scale — the gain, ``rho^2``, ``eps`` and ``Delta`` when non-zero, every
    ``alpha``, every layer's variance ``sigma_l``, and ``kappa = eta0^2`` and
    ``gamma0 + Delta`` for the state evolution — must therefore lie in ``SCALE_RANGE``
    ``= [1e-100, 1e100]``: then a ratio of two scales lies within ``1e±200`` and the product
    of a scale with such a ratio within ``1e±300``, all normal float64 numbers.

    The variance of layer ``l`` is known before the recursion runs, to the accuracy needed
    here: at small gain every built-in activation is linear, ``act(g x) ~ act'(0) g x``, so
    ``sigma_l ~ c g^2 sigma_{l-1}`` with ``c = act'(0)^2`` (1 for tanh, sin and linear,
    ``4/pi`` for erf); this is exact at every gain for linear and for relu (``c = 1/2``),
    and an upper bound for the bounded odd ones (``|act(u)| <= |act'(0) u|``), whose
    variance stays below 1 at large gain. So ``sigma_L ~ (c g^2)^L``: ``--gain 1e-200`` at
    depth 2 gives ``1e-800``, which float64 stores as 0 — the recursion then divides by
    ``sqrt(sigma_1) = 0``; it is refused with that reason instead.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

from deepgep.support.validation import check_nonzero, check_real

__all__ = ["MAX_ALPHA_POINTS", "MAX_ITERATIONS", "MAX_DEPTH", "SCALE_RANGE", "SMALL_GAIN_FACTOR", "UNBOUNDED",
           "check_alpha_count", "check_max_iter", "check_depth", "check_scale", "check_network_scales",
           "check_coefficients", "check_state_evolution_scales"]

#: Most points of one ``--alpha`` grid. A Bayes-optimal curve is smooth in alpha but at a
#: first-order transition, which a grid locates to within its spacing: 10 000 points on
#: 0.1:7 resolve it to 7e-4, finer than any plot. The cost is linear in the count (measured
#: with the sign channel: 10^4 points about 1 s and 10 MB beyond start-up; 10^6 points took
#: 54 s and 1.2 GB), so larger grids are refused rather than left to exhaust the machine.
MAX_ALPHA_POINTS = 10_000
#: Most iterations of the fixed-point map per alpha and start. The iteration stops when a
#: step is below --tol: a map contracting by a factor r per step needs about
#: ln(1/tol) / (1 - r) steps, so 10^6 steps reach tol = 1e-10 whenever r < 1 - 2.3e-5; a map
#: slower than that sits at a critical point, where more steps do not help (damping does).
#: 10^6 steps take about 1.3 s with the compiled sign channel and hours with a quadrature
#: channel (0.16 s a step for tanh), and numba's loop counter is an int64.
MAX_ITERATIONS = 1_000_000
#: Deepest network. The recursion and its output have a row per layer (10^4 layers: a few
#: ms and a 10^4-row table); by then eta0^2 has decayed geometrically (rho_l^2 ~ 0.88 per
#: layer for tanh at gain 2: eta0^2 falls below the smallest normal float64 near 5 600 layers), so deeper networks
#: are refused rather than allocated.
MAX_DEPTH = 10_000
#: The range of every scale of the model (see the module docstring).
SCALE_RANGE = (1e-100, 1e100)
#: ``act'(0)^2`` of each built-in activation: ``sigma_l ~ c g^2 sigma_{l-1}`` at small gain.
SMALL_GAIN_FACTOR = {"linear": 1.0, "tanh": 1.0, "erf": 4.0 / math.pi, "sin": 1.0, "relu": 0.5}
#: The built-in activations whose variance grows without bound with the gain (exactly
#: ``(c g^2)^L``); the others are bounded by 1.
UNBOUNDED = ("linear", "relu")
#: Relative slack on the bounds of SCALE_RANGE: ``rho = 1e50`` squares to ``1.0000000000000002e100``.
_SLACK = 1e-12
_WHY = ("outside 1e-100..1e100, the range within which float64 computes the model without overflow, "
        "underflow or lost digits")


def check_alpha_count(count: int, option: str) -> int:
    """The number of points of an ``--alpha`` grid, at most ``MAX_ALPHA_POINTS``."""
    if count > MAX_ALPHA_POINTS:
        raise ValueError(f"{option}: {count} points, at most {MAX_ALPHA_POINTS} (10^4 points resolve a transition "
                         "in alpha finer than any plot, and the cost is linear in the count)")
    return count


def check_max_iter(max_iter: int) -> int:
    """``--max-iter``: an integer in ``1..MAX_ITERATIONS``."""
    if max_iter < 1:
        raise ValueError(f"--max-iter must be at least 1, got {max_iter}")
    if max_iter > MAX_ITERATIONS:
        raise ValueError(f"--max-iter must be at most {MAX_ITERATIONS}, got {max_iter} (10^6 steps reach the "
                         "tolerance unless the map is critical, where more steps do not help: try --damping)")
    return max_iter


def check_depth(depth: int) -> int:
    """``--depth``: an integer in ``0..MAX_DEPTH``."""
    if depth < 0:
        raise ValueError(f"--depth must be a non-negative integer, got {depth}")
    if depth > MAX_DEPTH:
        raise ValueError(f"--depth must be at most {MAX_DEPTH}, got {depth} (a row per layer; far deeper, "
                         "eta0^2 has decayed below what float64 represents)")
    return depth


def check_scale(what: str, value: float, *, zero: bool = False) -> float:
    """``value`` finite with its magnitude in ``SCALE_RANGE`` (or exactly 0 with ``zero``)."""
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    if (value == 0.0 and zero) or SCALE_RANGE[0] * (1 - _SLACK) <= abs(value) <= SCALE_RANGE[1] * (1 + _SLACK):
        return value
    raise ValueError(f"{what} = {value!r} is {_WHY}")


def check_network_scales(activation: str | None, gain: float | None, depth: int, rho: float, eps: float) -> None:
    """The inputs of the network, before the recursion: the gain, ``rho^2`` and ``eps`` in
    ``SCALE_RANGE``, and the predicted variance of the last layer ``(c g^2)^L`` in it too."""
    rho = check_nonzero("--rho", rho)
    _check_exponent(f"--rho {rho!r}: the readout's signal variance rho^2", 2.0 * math.log10(abs(rho)))
    check_scale("--eps (the readout's noise variance)", check_real("--eps", eps), zero=True)
    if depth == 0 or gain is None:
        return
    name = (activation or "tanh").strip().lower()
    check_scale("--gain", check_real("--gain", gain, positive=True))
    c = SMALL_GAIN_FACTOR.get(name)
    if c is None:
        return  # an unknown name: get_activation refuses it with the list of names
    exponent = depth * (math.log10(c) + 2.0 * math.log10(gain))  # log10 of (c g^2)^L, never overflows
    if exponent > 0.0 and name not in UNBOUNDED:
        return  # a bounded activation saturates: sigma_l < 1
    _check_exponent(f"--gain {gain!r} at --depth {depth}: the variance of layer {depth}, sigma_{depth} ~ "
                    f"({c:.4g} g^2)^{depth} for {name},", exponent)


def _check_exponent(what: str, exponent: float) -> None:
    """A scale known by its base-10 logarithm (computed without overflow) in ``SCALE_RANGE``."""
    low, high = (math.log10(b) for b in SCALE_RANGE)
    if not low <= exponent <= high:
        raise ValueError(f"{what} would be about 1e{exponent:+.0f}, {_WHY}")


def check_coefficients(eta: Sequence[float], kappa: float, gamma0: float) -> None:
    """The composed GLM: every ``eta_k`` and ``kappa = eta0^2`` a normal float64 (``eta0`` is a
    product of one factor ``rho_l`` per layer, which underflows at great depth) and ``gamma0``
    finite."""
    values = [(f"eta_{k}", value) for k, value in enumerate(eta)] + [("kappa = eta0^2", kappa)]
    for what, value in values:
        if not (math.isfinite(value) and abs(value) >= sys.float_info.min):
            raise ValueError(f"{what} = {value!r} (a product of one rho_l per layer) is below "
                             f"{sys.float_info.min:.3g}, the smallest normal float64: the network's signal "
                             "cannot be represented at this depth and gain")
    if not math.isfinite(gamma0):
        raise ValueError(f"gamma0 = {gamma0!r} is not finite")


def check_state_evolution_scales(kappa: float, gamma0: float, noise: float, alphas: Sequence[float]) -> None:
    """The scales the state evolution combines: ``kappa``, ``gamma0 + Delta`` (if non-zero),
    ``Delta`` (if non-zero) and every ``alpha``, in ``SCALE_RANGE``."""
    check_scale("--noise (the label noise variance Delta)", noise, zero=True)
    check_scale("kappa = eta0^2 (the equivalent GLM's signal variance)", kappa)
    check_scale("gamma0 + Delta (the equivalent GLM's noise variance)", gamma0 + noise, zero=True)
    for alpha in (alphas[0], alphas[-1]) if alphas else ():
        check_scale("alpha", alpha)

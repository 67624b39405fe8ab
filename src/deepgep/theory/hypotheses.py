"""The theorem's hypotheses on an activation, checked numerically, and the one warning the library
gives when a computation leaves them.

Camilli, Tieplova, Bergamin & Barbier (2025, hypotheses of Theorem 1; book thm-layer-equivalence)
need an odd activation, twice continuously differentiable with bounded first and second
derivatives (``phi`` itself may grow: ``linear`` qualifies). :func:`check_hypotheses` tests each
property on finite grids of ``u`` for a vectorised function ``act(u)`` (the gain does not matter:
``act(g x)`` has the same properties as ``act``):

odd
    ``max |act(u) + act(-u)| <= ODD_RTOL max(1, max |act|)`` on ``[-6, 6]`` and on the wide grid.
first and second derivatives bounded (the wide grid, ``|u| <= WIDE``)
    the central differences ``D1 = (f(u+h) - f(u-h)) / 2h`` and ``D2 = (f(u+h) - 2 f(u) +
    f(u-h)) / h^2`` at ``h = STEPS[0]`` are finite and still growing by less than
    ``GROWTH_RTOL`` over the outer tenth ``0.9 WIDE <= |u| <= WIDE`` compared with the rest: a
    derivative growing like ``|u|^k`` grows by ``1.11^k`` there, ``log |u|`` by 2.8 %, whereas a
    bounded derivative has settled (``x - tanh x``) or oscillates (``sin``).
continuous ``act``, ``act'`` and ``act''`` (C^2), on the three steps ``STEPS``
    the grids are uniform (every point of ``[-WIDE, WIDE]`` is within a step of a node): a jump of
    ``act`` makes ``max |D1|`` grow like ``1/h``, a kink (a jump of ``act'``: relu) makes
    ``max |D2|`` grow like ``1/h``, an infinite derivative (``cbrt`` at 0) makes ``max |D1|``
    grow like ``h^{-2/3}``: each is reported when the maximum grows by more than ``BLOWUP``
    between the last two steps (a smooth function changes by ``O(h^2)``). A jump of ``act''``
    (``u |u|``) keeps the largest change of ``D2`` between neighbouring nodes at the size of the
    jump, where a continuous ``act''`` makes it shrink with ``h``: reported when it shrinks by
    less than ``JUMP_SHRINK``. Rounding (``~ 4 eps max|act| / h^2`` on ``D2``) is kept below
    every verdict by ``ROUNDING_FLOOR``.

A numerical check probes a finite grid: a feature narrower than the finest step or beyond
``WIDE`` is not seen. The verdict is what the library reports, never a proof.

Warnings: :class:`TheoremWarning`, issued by :func:`warn_outside_theorem` from
:func:`deepgep.theory.layers.layer_coefficients` (an activation outside the hypotheses) and
:func:`deepgep.theory.state_evolution.bayes_optimal_curve` (a readout outside them); the command
line prints the same texts as one ``deepgep: warning:`` line. Code that leaves the hypotheses on purpose (a chapter on the conjecture's sign readout, a
relu contrast) says so with :func:`outside_theorem_on_purpose`, which silences them in its block.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["WIDE", "STEPS", "ODD_RTOL", "GROWTH_RTOL", "BLOWUP", "JUMP_SHRINK", "ROUNDING_FLOOR",
           "OUTSIDE_THEOREM", "TheoremWarning", "Hypotheses", "check_hypotheses", "warn_outside_theorem",
           "outside_theorem_on_purpose"]

#: Half-width of the wide grid: 50 standard deviations of a unit-variance pre-activation.
WIDE = 50.0
#: Finite-difference steps (each a uniform grid on ``[-WIDE, WIDE]``).
STEPS = (1e-2, 5e-3, 2.5e-3)
#: Relative tolerance of the oddness test (of the size of rounding in a vectorised function).
ODD_RTOL = 1e-10
#: Growth over the outer tenth of the wide grid above which a derivative is unbounded.
GROWTH_RTOL = 0.01
#: Growth of ``max |D1|`` or ``max |D2|`` between the last two steps that marks a blow-up
#: (``2`` for a jump or a kink, ``1.59`` for ``cbrt``, ``1 + O(h^2)`` when smooth).
BLOWUP = 1.25
#: Largest ratio of the biggest neighbour change of ``D2`` between the last two steps for a
#: continuous ``act''`` (``1/2`` when ``act'''`` is bounded, ``1`` at a jump of ``act''``).
JUMP_SHRINK = 0.75
#: Multiple of the rounding error of ``D2`` below which no difference is read as a verdict.
ROUNDING_FLOOR = 1000.0
#: The prefix of every warning and of the command line's warning line.
OUTSIDE_THEOREM = "outside the theorem's hypotheses: "

_ODD_PROBE = np.linspace(-6.0, 6.0, 241)
_EPS = np.finfo(np.float64).eps


class TheoremWarning(UserWarning):
    """A computation outside the hypotheses of the theorems (Camilli et al. 2025): computed as
    asked, but no theorem says that the deep network equals its GLM there."""


@dataclass(frozen=True)
class Hypotheses:
    """The verdict of :func:`check_hypotheses`: one flag per hypothesis and, for each that
    fails, a sentence saying what was measured (``failures``)."""

    odd: bool
    twice_differentiable: bool
    bounded_derivatives: bool
    failures: tuple[str, ...]

    @property
    def holds(self) -> bool:
        """All the hypotheses of Theorem 1 hold (numerically)."""
        return self.odd and self.twice_differentiable and self.bounded_derivatives


def _values(func: Callable[[np.ndarray], np.ndarray], u: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(func(u), dtype=np.float64)


def _differences(f: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        return (f[2:] - f[:-2]) / (2.0 * h), (f[2:] - 2.0 * f[1:-1] + f[:-2]) / (h * h)


def _odd_failure(func: Callable[[np.ndarray], np.ndarray], wide: np.ndarray, f_wide: np.ndarray) -> str | None:
    for u, f in ((_ODD_PROBE, _values(func, _ODD_PROBE)), (wide, f_wide)):
        f_minus = _values(func, -u)
        if not (np.all(np.isfinite(f)) and np.all(np.isfinite(f_minus))):
            continue  # the growth test reports non-finite values
        gap = float(np.max(np.abs(f + f_minus)))
        if gap > ODD_RTOL * max(1.0, float(np.max(np.abs(f)))):
            return f"not odd (max |f(u) + f(-u)| = {gap:.3g} on [{u[0]:g}, {u[-1]:g}])"
    return None


def _growth_failure(d1: np.ndarray, d2: np.ndarray, u: np.ndarray, floor: float) -> str | None:
    outer = np.abs(u) >= 0.9 * WIDE
    for name, d in (("f'", d1), ("f''", d2)):
        if not np.all(np.isfinite(d)):
            return f"{name} is not finite on [-{WIDE:g}, {WIDE:g}] (unbounded)"
        inner_max, outer_max = float(np.max(np.abs(d[~outer]))), float(np.max(np.abs(d[outer])))
        if outer_max > floor and outer_max > (1.0 + GROWTH_RTOL) * inner_max:
            return (f"{name} is unbounded (max |{name}| still grows at |u| = {WIDE:g}: {outer_max:.3g} on "
                    f"0.9 {WIDE:g} <= |u| <= {WIDE:g} against {inner_max:.3g} inside)")
    return None


def _smoothness_failure(func: Callable[[np.ndarray], np.ndarray]) -> str | None:
    peaks, jumps, floors = [], [], []
    for h in STEPS[-2:]:
        u = np.linspace(-WIDE, WIDE, int(round(2 * WIDE / h)) + 1)
        f = _values(func, u)
        d1, d2 = _differences(f, h)
        peaks.append((float(np.max(np.abs(d1))), float(np.max(np.abs(d2)))))
        jumps.append(float(np.max(np.abs(np.diff(d2)))))
        floors.append(ROUNDING_FLOOR * 4.0 * _EPS * max(1.0, float(np.max(np.abs(f)))) / (h * h))
    (d1_coarse, d2_coarse), (d1_fine, d2_fine) = peaks
    if d1_fine > floors[1] and d1_fine > BLOWUP * d1_coarse:
        return (f"not continuously differentiable (max |f'| by differences grows from {d1_coarse:.3g} to "
                f"{d1_fine:.3g} as the step halves: a jump of f or an infinite slope)")
    if d2_fine > floors[1] and d2_fine > BLOWUP * d2_coarse:
        return (f"not C^2 (max |f''| by differences grows from {d2_coarse:.3g} to {d2_fine:.3g} as the "
                f"step halves: a kink)")
    if jumps[1] > floors[1] and jumps[1] > JUMP_SHRINK * jumps[0]:
        return (f"not C^2 (f'' jumps by about {jumps[1]:.3g}: the change of f'' between neighbouring nodes "
                f"does not shrink with the step)")
    return None


def check_hypotheses(func: Callable[[np.ndarray], np.ndarray]) -> Hypotheses:
    """The hypotheses of Theorem 1 for the vectorised ``func`` (see the module docstring).

    Raises ``ValueError`` if ``func`` fails on a float64 array or does not act elementwise.
    """
    name = getattr(func, "__name__", repr(func))
    h = STEPS[0]
    wide = np.linspace(-WIDE, WIDE, int(round(2 * WIDE / h)) + 1)
    try:
        f_wide = _values(func, wide)
    except Exception as exc:  # a user function failing on an array: say which and why
        raise ValueError(f"activation {name!r} failed on a float64 array: {exc}") from exc
    if f_wide.shape != wide.shape:
        raise ValueError(f"activation {name!r} must act elementwise: input shape {wide.shape}, "
                         f"output {f_wide.shape}")
    d1, d2 = _differences(f_wide, h)
    finite = f_wide[np.isfinite(f_wide)]
    floor = ROUNDING_FLOOR * 4.0 * _EPS * max(1.0, float(np.max(np.abs(finite))) if finite.size else 1.0) / (h * h)
    odd = _odd_failure(func, wide, f_wide)
    growth = _growth_failure(d1, d2, wide[1:-1], floor)
    smooth = None if growth and "not finite" in growth else _smoothness_failure(func)
    failures = tuple(text for text in (odd, smooth, growth) if text)
    return Hypotheses(odd is None, smooth is None, growth is None, failures)


def warn_outside_theorem(issue: str, stacklevel: int = 3) -> None:
    """Issue the :class:`TheoremWarning` ``"outside the theorem's hypotheses: " + issue``;
    ``stacklevel`` 3 names the caller of the library function that calls this one."""
    warnings.warn(OUTSIDE_THEOREM + issue, TheoremWarning, stacklevel=stacklevel)


@contextlib.contextmanager
def outside_theorem_on_purpose() -> Iterator[None]:
    """A block that leaves the theorem's hypotheses knowingly (the caveat is stated where the
    result is shown): no :class:`TheoremWarning` in it; every other warning as before."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TheoremWarning)
        yield

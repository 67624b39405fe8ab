"""Activation functions phi(x) = act(gain * x), built in or supplied by the user.

The theorems of Camilli, Tieplova, Bergamin & Barbier (2025, hypotheses of Theorem 1) need an
odd activation, twice differentiable with bounded derivatives. ``tanh``, ``erf``, ``sin`` and
``linear`` satisfy them; ``relu`` does not (it is neither odd nor C^2) and is offered only to
explore what breaks. Built-in activations carry an integer code so that the compiled
quadrature kernels of :mod:`deepgep.hermite` evaluate them without leaving numba.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit

LINEAR, TANH, ERF, SIN, RELU = 0, 1, 2, 3, 4
USER_DEFINED = -1

_BUILTIN_CODES = {"linear": LINEAR, "tanh": TANH, "erf": ERF, "sin": SIN, "relu": RELU}
_ODD_BUILTINS = frozenset({"linear", "tanh", "erf", "sin"})

#: Points on which a user-supplied callable is probed for finiteness and oddness.
_PROBE_POINTS = np.linspace(-6.0, 6.0, 241)
#: Relative tolerance of the numerical oddness probe of a user callable.
_ODDNESS_RTOL = 1e-10


@njit(cache=True)
def apply_builtin(code: int, gain: float, x: float) -> float:
    """Value of the built-in activation ``code`` at ``gain * x`` (scalar, compiled)."""
    u = gain * x
    if code == TANH:
        return math.tanh(u)
    if code == ERF:
        return math.erf(u)
    if code == SIN:
        return math.sin(u)
    if code == RELU:
        return u if u > 0.0 else 0.0
    return u


@njit(cache=True)
def apply_builtin_inplace(code: int, gain: float, a: np.ndarray) -> None:
    """Overwrite the C-contiguous array ``a`` with ``phi(a)`` (no temporary array)."""
    flat = a.reshape(-1)
    for i in range(flat.size):
        flat[i] = apply_builtin(code, gain, flat[i])


_NUMPY_BUILTINS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda u: u,
    "tanh": np.tanh,
    "erf": lambda u: _erf_numpy(u),
    "sin": np.sin,
    "relu": lambda u: np.maximum(u, 0.0),
}


def _erf_numpy(u: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(u)


@dataclass(frozen=True)
class Activation:
    """An activation ``phi(x) = act(gain * x)``.

    Attributes
    ----------
    name:
        Built-in name, or the callable's ``__name__`` for user activations.
    gain:
        The factor ``g`` in ``act(g x)``; strictly positive and finite.
    odd:
        Whether ``phi(-x) = -phi(x)`` (the theorems' hypothesis).
    code:
        Integer code of a built-in (used by compiled kernels), ``USER_DEFINED`` otherwise.
    """

    name: str
    gain: float
    odd: bool
    code: int
    _func: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """Evaluate ``phi`` elementwise (vectorised, float64)."""
        return np.asarray(self._func(self.gain * np.asarray(x, dtype=np.float64)), dtype=np.float64)

    @property
    def is_builtin(self) -> bool:
        return self.code != USER_DEFINED

    @property
    def satisfies_theorem(self) -> bool:
        """True for the activations covered by Theorem 1 (odd, smooth). ``relu`` is not."""
        return self.odd and self.name != "relu"

    def apply_inplace(self, a: np.ndarray, prescale: float = 1.0) -> np.ndarray:
        """Overwrite the float64 array ``a`` with ``phi(prescale * a)``; return it.

        Built-ins run in a compiled loop with no temporary; folding ``prescale`` (e.g. the
        ``1/sqrt(d)`` of a layer) into the gain saves a pass over the array.
        """
        if self.is_builtin and a.dtype == np.float64 and a.flags.c_contiguous:
            apply_builtin_inplace(self.code, self.gain * prescale, a)
        else:
            a[...] = self(prescale * a)
        return a


def known_activations() -> tuple[str, ...]:
    """Names accepted by :func:`get_activation`."""
    return tuple(_BUILTIN_CODES)


def _check_gain(gain: float) -> float:
    try:
        g = float(gain)
    except (TypeError, ValueError):
        raise ValueError(f"gain must be a positive number, got {gain!r}") from None
    if not math.isfinite(g) or g <= 0.0:
        raise ValueError(f"gain must be positive and finite, got {gain!r}")
    return g


def get_activation(
    activation: str | Callable[[np.ndarray], np.ndarray] | Activation,
    gain: float = 1.0,
) -> Activation:
    """Return the :class:`Activation` ``act(gain * x)``.

    ``activation`` is a built-in name (see :func:`known_activations`), a vectorised callable
    ``act`` acting on float64 arrays, or an :class:`Activation` (returned unchanged when ``gain``
    is 1). A user callable is probed on ``[-6, 6]``: it must return finite values of the input's
    shape; its oddness is detected numerically and recorded in ``Activation.odd``.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones), ``gain <= 0`` or non-finite, or a
        callable returning non-finite values or the wrong shape.
    """
    g = _check_gain(gain)
    if isinstance(activation, Activation):
        if g == 1.0:
            return activation
        return Activation(activation.name, activation.gain * g, activation.odd, activation.code,
                          activation._func)
    if isinstance(activation, str):
        key = activation.strip().lower()
        if key not in _BUILTIN_CODES:
            raise ValueError(
                f"unknown activation {activation!r}; known: {', '.join(known_activations())}"
            )
        return Activation(key, g, key in _ODD_BUILTINS, _BUILTIN_CODES[key], _NUMPY_BUILTINS[key])
    if callable(activation):
        return _user_activation(activation, g)
    raise ValueError(
        f"activation must be a name ({', '.join(known_activations())}) or a callable, "
        f"got {type(activation).__name__}"
    )


def _user_activation(func: Callable[[np.ndarray], np.ndarray], gain: float) -> Activation:
    name = getattr(func, "__name__", "user")
    x = gain * _PROBE_POINTS
    try:
        y = np.asarray(func(x), dtype=np.float64)
        y_minus = np.asarray(func(-x), dtype=np.float64)
    except Exception as exc:  # a user function failing on an array: say which and why
        raise ValueError(f"activation {name!r} failed on a float64 array: {exc}") from exc
    if y.shape != x.shape:
        raise ValueError(
            f"activation {name!r} must act elementwise: input shape {x.shape}, output {y.shape}"
        )
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(y_minus))):
        raise ValueError(f"activation {name!r} returns non-finite values on [-6, 6]")
    scale = max(1.0, float(np.max(np.abs(y))))
    odd = bool(np.max(np.abs(y + y_minus)) <= _ODDNESS_RTOL * scale)
    return Activation(name, gain, odd, USER_DEFINED, func)


def require_odd(activation: Activation, context: str = "this result") -> None:
    """Raise ``ValueError`` unless ``activation`` satisfies the theorem's hypotheses."""
    if not activation.satisfies_theorem:
        raise ValueError(
            f"{context} needs an odd, smooth activation (Camilli et al. 2025, Theorem 1); "
            f"{activation.name!r} is not"
        )

"""Activation functions phi(x) = act(gain * x), built in or supplied by the user, and their
derivatives phi'.

The theorems of Camilli, Tieplova, Bergamin & Barbier (2025, hypotheses of Theorem 1; book
thm-layer-equivalence) need an odd activation, twice differentiable with bounded derivatives.
``tanh``, ``erf``, ``sin`` and ``linear`` satisfy them; ``relu`` does not (it is neither odd nor
C^2) and is offered only to explore what breaks. Any other activation is a vectorised callable,
given as a function or by name as ``"module:function"`` (``"numpy:arcsinh"``, a user's
``"mypkg.acts:softplus"``; resolved by :func:`resolve_function` with importlib); its hypotheses are
checked numerically (:func:`deepgep.theory.hypotheses.check_hypotheses`,
:attr:`Activation.hypotheses`). Built-in activations carry an integer code so
that the compiled quadrature kernels of :mod:`deepgep.theory.quadrature` evaluate them without
leaving numba. The output functions of the GLM's channels (:mod:`deepgep.theory.channels`) use
the same codes, plus ``abs`` and ``sign``, which are output functions only.

This module is the one home of ``phi`` and ``phi'``: numpy (:meth:`Activation.__call__`,
:meth:`Activation.derivative`), compiled (:func:`apply_builtin`) and JAX
(:func:`jax_activation`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from scipy.special import erf

from deepgep.support.backends import jax_float64
from deepgep.support.imports import import_callable
from deepgep.support.validation import check_real
from deepgep.theory.hypotheses import Hypotheses, check_hypotheses

__all__ = [
    "LINEAR", "TANH", "ERF", "SIN", "RELU", "ABS", "SIGN", "USER_DEFINED", "OUTPUT_FUNCTIONS",
    "ODD_OUTPUT_FUNCTIONS", "apply_builtin", "apply_builtin_inplace", "Activation",
    "known_activations", "builtin_name", "builtin_activation", "get_activation", "require_odd", "jax_activation",
    "resolve_function", "activation_issue",
]

LINEAR, TANH, ERF, SIN, RELU = 0, 1, 2, 3, 4
#: Output functions of the GLM channels only (never hidden-layer activations).
ABS, SIGN = 5, 6
USER_DEFINED = -1

_BUILTIN_CODES = {"linear": LINEAR, "tanh": TANH, "erf": ERF, "sin": SIN, "relu": RELU}
_ODD_BUILTINS = frozenset({"linear", "tanh", "erf", "sin"})
#: Codes of the output functions ``f`` of a channel ``y = f(z + ...) + ...``: the activations
#: and ``abs``, ``sign`` (``sign(0) = +1``).
OUTPUT_FUNCTIONS = {**_BUILTIN_CODES, "abs": ABS, "sign": SIGN}
ODD_OUTPUT_FUNCTIONS = frozenset(_ODD_BUILTINS | {"sign"})
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

#: Points on which a user-supplied callable is probed for finiteness and oddness.
_PROBE_POINTS = np.linspace(-6.0, 6.0, 241)
#: Relative tolerance of the numerical oddness probe of a user callable.
_ODDNESS_RTOL = 1e-10


@njit(cache=True)
def apply_builtin(code: int, gain: float, x: float) -> float:
    """Value of the built-in function ``code`` at ``gain * x`` (scalar, compiled)."""
    u = gain * x
    if code == TANH:
        return math.tanh(u)
    if code == ERF:
        return math.erf(u)
    if code == SIN:
        return math.sin(u)
    if code == RELU:
        return u if u > 0.0 else 0.0
    if code == ABS:
        return abs(u)
    if code == SIGN:
        return 1.0 if u >= 0.0 else -1.0
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
    "erf": erf,
    "sin": np.sin,
    "relu": lambda u: np.maximum(u, 0.0),
}


@dataclass(frozen=True)
class Activation:
    """An activation ``phi(x) = act(gain * x)``.

    Attributes
    ----------
    name:
        Built-in name, the ``"module:function"`` it was resolved from, or the callable's
        ``__name__`` for other user activations.
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
    def hypotheses(self) -> Hypotheses:
        """The hypotheses of Theorem 1 checked numerically on ``act`` (the gain does not change
        them; :func:`deepgep.theory.hypotheses.check_hypotheses`), cached per function."""
        return _hypotheses_of(_NUMPY_BUILTINS[self.name] if self.is_builtin else self._func)

    @property
    def satisfies_theorem(self) -> bool:
        """True for the activations covered by Theorem 1 (odd, C^2 with bounded derivatives):
        ``tanh``, ``erf``, ``sin``, ``linear`` (known), a user callable whose numerical check
        passes (:attr:`hypotheses`). ``relu`` is not."""
        if self.is_builtin:
            return self.name in _ODD_BUILTINS
        return self.odd and self.hypotheses.holds

    def derivative(self, z: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
        """``phi'(z) = g act'(g z)`` elementwise (``g = gain``; ``relu'(0)`` is taken as 0).

        ``h = phi(z)``, if given, is reused by ``tanh`` (``phi' = g (1 - h^2)``). Raises
        ``ValueError`` for a user callable: no derivative is known.
        """
        if not self.is_builtin:
            raise ValueError(
                f"phi' is implemented only for the built-in activations "
                f"({', '.join(_BUILTIN_CODES)}), not for the user callable {self.name!r}"
            )
        g = self.gain
        z = np.asarray(z, dtype=np.float64)
        if self.code == LINEAR:
            return np.full_like(z, g)
        if self.code == TANH:
            t = np.tanh(g * z) if h is None else np.asarray(h, dtype=np.float64)
            return g * (1.0 - t * t)
        if self.code == ERF:
            u = g * z
            return (g * _TWO_OVER_SQRT_PI) * np.exp(-(u * u))
        if self.code == SIN:
            return g * np.cos(g * z)
        return np.where(z > 0.0, g, 0.0)  # relu

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


def get_activation(
    activation: str | Callable[[np.ndarray], np.ndarray] | Activation,
    gain: float = 1.0,
) -> Activation:
    """Return the :class:`Activation` ``act(gain * x)``.

    ``activation`` is a built-in name (see :func:`known_activations`), a vectorised callable
    ``act`` acting on float64 arrays, the name ``"module:function"`` of one
    (:func:`resolve_function`), or an :class:`Activation` (returned unchanged when ``gain`` is 1). A user callable is probed on ``[-6, 6]``: it must return finite values of the input's
    shape; its oddness is detected numerically and recorded in ``Activation.odd``.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones), ``gain <= 0`` or non-finite, or a
        callable returning non-finite values or the wrong shape.
    """
    g = check_real("gain", gain, positive=True)
    if isinstance(activation, Activation):
        if g == 1.0:
            return activation
        return Activation(activation.name, activation.gain * g, activation.odd, activation.code,
                          activation._func)
    if isinstance(activation, str) and ":" in activation:
        return _user_activation(resolve_function(activation), g, activation.strip())
    if isinstance(activation, str):
        key = builtin_name(activation)
        return Activation(key, g, key in _ODD_BUILTINS, _BUILTIN_CODES[key], _NUMPY_BUILTINS[key])
    if callable(activation):
        return _user_activation(activation, g)
    raise ValueError(
        f"activation must be a name ({', '.join(known_activations())}) or a callable, "
        f"got {type(activation).__name__}"
    )


def resolve_function(spec: str) -> Callable[[np.ndarray], np.ndarray]:
    """The callable named ``"module:function"`` (``"numpy:arcsinh"``, ``"mypkg.acts:softplus"``;
    the function may be an attribute path, ``"module:Class.method"``), imported with importlib
    (never evaluated as code; every part must be a Python identifier). The module is found on
    ``sys.path`` as by ``import``.

    Raises ``ValueError`` naming what is wrong: the form, a module that cannot be imported, a
    missing attribute, or an object that is not callable.
    """
    text = str(spec).strip()
    module_name, sep, attribute = text.partition(":")
    if not sep or not all(p.isidentifier() for p in module_name.split(".") + attribute.split(".")):
        raise ValueError(f"activation {spec!r}: give a built-in name ({', '.join(known_activations())}) or "
                         "module:function with Python identifiers, e.g. numpy:arcsinh or mypkg.acts:softplus")
    return import_callable(text, f"activation {spec!r}")


def _user_activation(func: Callable[[np.ndarray], np.ndarray], gain: float, name: str | None = None) -> Activation:
    name = name or getattr(func, "__name__", "user")
    x = gain * _PROBE_POINTS
    try:
        y = np.asarray(func(x), dtype=np.float64)
        y_minus = np.asarray(func(-x), dtype=np.float64)
    except Exception as exc:  # a user function failing on an array: say which and why
        raise ValueError(f"activation {name!r} failed on a float64 array (it must act elementwise on numpy "
                         f"arrays): {exc}") from exc
    if y.shape != x.shape:
        raise ValueError(
            f"activation {name!r} must act elementwise: input shape {x.shape}, output {y.shape}"
        )
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(y_minus))):
        raise ValueError(f"activation {name!r} returns non-finite values on [-6, 6]")
    scale = max(1.0, float(np.max(np.abs(y))))
    odd = bool(np.max(np.abs(y + y_minus)) <= _ODDNESS_RTOL * scale)
    return Activation(name, gain, odd, USER_DEFINED, func)


@functools.lru_cache(maxsize=64)
def _cached_hypotheses(func: Callable[[np.ndarray], np.ndarray]) -> Hypotheses:
    return check_hypotheses(func)


def _hypotheses_of(func: Callable[[np.ndarray], np.ndarray]) -> Hypotheses:
    try:
        return _cached_hypotheses(func)
    except TypeError:  # an unhashable callable object: checked every time
        return check_hypotheses(func)


def activation_issue(activation: Activation) -> str | None:
    """Why ``activation`` is outside the hypotheses of Theorem 1, in one sentence (``None``
    when it satisfies them): the text of the library's warning and of the command line's."""
    if activation.satisfies_theorem:
        return None
    failures = list(activation.hypotheses.failures)
    if not activation.odd and not any(f.startswith("not odd") for f in failures):
        failures.insert(0, "not odd")
    if not failures:  # a built-in known to fail whose numerical check passes: none today
        failures = ["not odd and C^2 with bounded derivatives"]
    note = " (the linearisation ignores the mean mu_l a non-odd activation gives each layer)" \
        if not activation.odd else ""
    return f"activation {activation.name!r}: " + "; ".join(failures) + note


def require_odd(activation: Activation, context: str = "this result") -> None:
    """Raise ``ValueError`` unless ``activation`` satisfies the theorem's hypotheses."""
    if not activation.satisfies_theorem:
        raise ValueError(
            f"{context} needs an odd activation, C^2 with bounded derivatives (Camilli et al. 2025, "
            f"Theorem 1; book thm-layer-equivalence); {activation_issue(activation)}"
        )


def jax_activation(name: str, gain: float):
    """``phi(u) = act(gain u)`` of a built-in activation as a JAX function (for the samplers)."""
    jax = jax_float64()
    jnp = jax.numpy
    table = {
        "linear": lambda u: gain * u,
        "tanh": lambda u: jnp.tanh(gain * u),
        "erf": lambda u: jax.scipy.special.erf(gain * u),
        "sin": lambda u: jnp.sin(gain * u),
        "relu": lambda u: jnp.maximum(gain * u, 0.0),
    }
    return table[builtin_name(name)]


def builtin_activation(activation: str | Activation, context: str = "this computation") -> Activation:
    """``activation`` as an :class:`Activation` that is a built-in (compiled kernels and closed
    forms know only those); ``ValueError`` for a user callable."""
    act = get_activation(activation)
    if not act.is_builtin:
        raise ValueError(f"{context} supports the built-in activations only, not the user callable {act.name!r}")
    return act


def builtin_name(name: str) -> str:
    """A built-in activation name (stripped, lower case); the message lists the known ones."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in _BUILTIN_CODES:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(known_activations())}, or a vectorised "
                         "function as module:function (e.g. numpy:arcsinh)")
    return key

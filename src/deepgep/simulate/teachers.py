"""The teachers that label data: the deep random network of Camilli et al. (book eq-model) and
its equivalent GLM (book eq-equivalent-glm), with one convention for labels and random draws.

Labels (both teachers): with ``s`` the noiseless pre-activation (``rho X^L a / sqrt(d_L)`` for
the deep teacher, ``z = eta0 X a / sqrt(d)`` for the GLM) and ``gamma`` the noise added before
the output function (``eps`` of the deep readout, ``gamma0`` of the GLM):

* ``"linear"``: ``Y = s + sqrt(gamma) xi + sqrt(noise) xi'``;
* ``"sign"``:   ``Y = sign(s + sqrt(gamma) xi + sqrt(noise) xi')`` (both noises BEFORE the sign:
  a probit channel of total noise ``gamma + noise``); ``sign(0) = +1``;
* a callable ``f`` (GLM only): ``Y = f(s + sqrt(gamma) xi) + sqrt(noise) xi'``.

``noise`` is the label noise ``Delta`` throughout. The noises ``xi`` then ``xi'`` (``n`` normals
each) are drawn from ``rng`` in this order whatever the output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from deepgep.support.validation import check_count, check_generator, check_real
from deepgep.simulate.networks import (DEFAULT_CHUNK, DeepNetwork, chunk_starts, forward,
                                       gaussian_inputs, sample_network)
from deepgep.theory.activations import Activation
from deepgep.theory.layers import check_readout

__all__ = ["OUTPUTS", "DeepTeacher", "sample_teacher", "teacher_preactivation", "noisy_labels", "label",
           "GLMTeacher", "TeacherData", "deep_teacher_sample", "glm_teacher_sample"]

#: Output channels known by name (the conventions of the module docstring and of
#: :func:`deepgep.theory.channels.make_channel`).
OUTPUTS = ("linear", "sign")


def _check_output(output: str) -> str:
    key = str(output).strip().lower() if isinstance(output, str) else None
    if key not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; known: {', '.join(OUTPUTS)}")
    return key


@dataclass(frozen=True, eq=False)
class DeepTeacher:
    """All the teacher's weights ``theta = (W^1..W^L, a)`` and its readout constants.

    The label of an input ``x`` (book eq-model) is drawn from
    ``P_out(. | rho a.X^L(x)/sqrt(d_L) + sqrt(eps) xi)``, ``a ~ N(0, I_{d_L})``; see :func:`label`.
    """

    network: DeepNetwork
    readout: np.ndarray
    rho: float = 1.0
    eps: float = 0.0

    def __post_init__(self) -> None:
        a = np.asarray(self.readout, dtype=np.float64)
        if a.shape != (self.network.widths[-1],):
            raise ValueError(f"readout must have shape ({self.network.widths[-1]},) = (d_L,), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("readout contains non-finite values")
        object.__setattr__(self, "readout", a)
        rho, eps = check_readout(self.rho, self.eps)
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "eps", eps)

    @property
    def widths(self) -> tuple[int, ...]:
        """``(d_0, d_1, ..., d_L)``."""
        return self.network.widths

    @property
    def depth(self) -> int:
        return self.network.depth


def sample_teacher(
    widths: Sequence[int],
    activation: str | Callable[[np.ndarray], np.ndarray] | Activation,
    rng: np.random.Generator,
    gain: float = 1.0,
    rho: float = 1.0,
    eps: float = 0.0,
) -> DeepTeacher:
    """Draw a deep teacher: ``W^1..W^L`` by :func:`sample_network` (same draws), THEN the readout
    ``a ~ N(0, I_{d_L})`` (``d_L`` normals). So the teacher's network is the network that
    :func:`sample_network` gives for the same seed, and ``a`` comes after it."""
    rho, eps = check_readout(rho, eps)
    network = sample_network(widths, activation, rng, gain)
    a = rng.standard_normal(network.widths[-1])
    return DeepTeacher(network, a, rho, eps)


def teacher_preactivation(
    teacher: DeepTeacher, X0: np.ndarray, chunk_size: int = DEFAULT_CHUNK
) -> np.ndarray:
    """The noiseless readout ``s = rho X^L a / sqrt(d_L)`` (length ``n``).

    Memory-light: the inputs are pushed through the network ``chunk_size`` rows at a time
    (:func:`forward` with ``keep_all=False``) and each chunk is reduced to its ``s`` at once, so
    the peak memory is one chunk of features, never the ``n x d_L`` matrix ``X^L``.
    """
    X0 = np.asarray(X0, dtype=np.float64)
    d0 = teacher.widths[0]
    if X0.ndim != 2 or X0.shape[1] != d0:
        raise ValueError(f"X0 must have shape (n, {d0}), got {X0.shape}")
    n = X0.shape[0]
    scale = teacher.rho / math.sqrt(teacher.widths[-1])
    s = np.empty(n)
    for start in chunk_starts(n, chunk_size):
        stop = min(start + int(chunk_size), n)
        (XL,) = forward(teacher.network, X0[start:stop], keep_all=False, chunk_size=chunk_size)
        np.matmul(XL, teacher.readout, out=s[start:stop])
    s *= scale
    return s


def noisy_labels(s: np.ndarray, gamma: float, rng: np.random.Generator, output, noise: float) -> np.ndarray:
    """The labels of the module docstring for pre-activations ``s``: ``xi`` then ``xi'`` drawn
    from ``rng`` (``n`` normals each), ``output`` a name of :data:`OUTPUTS` or a callable."""
    n = s.shape[0]
    xi = rng.standard_normal(n)
    xi_out = rng.standard_normal(n)
    u = s + math.sqrt(gamma) * xi
    if output == "linear":
        return u + math.sqrt(noise) * xi_out
    if output == "sign":
        return np.where(u + math.sqrt(noise) * xi_out >= 0.0, 1.0, -1.0)
    name = _output_name(output)
    try:
        fu = np.asarray(output(u), dtype=np.float64)
    except Exception as exc:  # say which output failed and why
        raise ValueError(f"output {name!r} failed on a float64 array: {exc}") from exc
    if fu.shape != u.shape:
        raise ValueError(f"output {name!r} must act elementwise: input shape {u.shape}, output {fu.shape}")
    if not np.all(np.isfinite(fu)):
        raise ValueError(f"output {name!r} returned non-finite values")
    return fu + math.sqrt(noise) * xi_out


def label(
    teacher: DeepTeacher,
    X0: np.ndarray,
    rng: np.random.Generator,
    output: str = "linear",
    noise: float = 0.0,
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray:
    """Labels of the deep teacher (module docstring). With ``s`` = :func:`teacher_preactivation`:

    * ``"linear"``: ``Y = s + sqrt(eps) xi + sqrt(noise) xi'``;
    * ``"sign"``:   ``Y = sign(s + sqrt(eps) xi + sqrt(noise) xi')`` (both noises BEFORE the
      sign: a probit channel of total noise ``eps + noise``); ``sign(0) = +1``.

    ``rng`` is consumed in a fixed order whatever the output: ``xi`` (``n`` normals), then
    ``xi'`` (``n``), as in :func:`glm_teacher_sample`; the teacher's weights are not touched.

    Raises ``TypeError`` if ``rng`` is not a ``numpy.random.Generator`` and ``ValueError`` on an
    unknown output, ``noise < 0`` or non-finite, or ``X0`` of the wrong shape.
    """
    key = _check_output(output)
    noise = check_real("noise", noise)
    rng = check_generator(rng)
    s = teacher_preactivation(teacher, X0, chunk_size)
    return noisy_labels(s, teacher.eps, rng, key, noise)


@dataclass(frozen=True, eq=False)
class GLMTeacher:
    """The teacher of the equivalent GLM ``Y ~ P_out(. | eta0 a.X^0/sqrt(d0) + sqrt(gamma0) xi)``."""

    readout: np.ndarray
    eta0: float
    gamma0: float

    @property
    def kappa(self) -> float:
        """``eta0**2``: the variance of each noiseless pre-activation ``z_mu`` given ``|a|^2 = d0``."""
        return self.eta0**2


@dataclass(frozen=True, eq=False)
class TeacherData:
    """A training set and a test set drawn from ONE teacher.

    ``X`` (``n x d0``), ``y`` (``n``); ``X_test`` (``n_test x d0``), ``y_test`` (``n_test``; the
    arrays have zero rows when ``n_test = 0``). ``preactivation`` and ``preactivation_test`` are
    the teacher's noiseless pre-activations (``rho X^L a/sqrt(d_L)`` for the deep teacher,
    ``eta0 X a/sqrt(d0)`` for the GLM), for diagnostics. ``teacher`` is a :class:`DeepTeacher` or
    a :class:`GLMTeacher`; ``output`` and ``noise`` (``Delta``) describe the label channel.
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    preactivation: np.ndarray
    preactivation_test: np.ndarray
    teacher: DeepTeacher | GLMTeacher
    output: str
    noise: float

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def alpha(self) -> float:
        """Sample ratio ``n / d``."""
        return self.n / self.d

    @property
    def n_test(self) -> int:
        return self.X_test.shape[0]


def deep_teacher_sample(
    widths: Sequence[int],
    activation: str | Callable[[np.ndarray], np.ndarray] | Activation,
    n: int,
    rng: np.random.Generator,
    *,
    gain: float = 1.0,
    rho: float = 1.0,
    eps: float = 0.0,
    output: str = "linear",
    noise: float = 0.0,
    n_test: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
) -> TeacherData:
    """A deep teacher (:func:`sample_teacher`) with ``n`` training and ``n_test`` test samples.

    ``rng`` is consumed in this order: the teacher (``W^1..W^L`` then ``a``), the training
    inputs (``n x d0``), the training labels' noises (``xi``, ``xi'``, see :func:`label`), then the
    test inputs and the test labels' noises. So the teacher and the training set do not depend
    on ``n_test``.
    """
    key = _check_output(output)
    noise = check_real("noise", noise)
    n = check_count("n", n, 1)
    n_test = check_count("n_test", n_test, 0)
    rng = check_generator(rng)
    teacher = sample_teacher(widths, activation, rng, gain=gain, rho=rho, eps=eps)
    d0 = teacher.widths[0]

    def draw(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if m == 0:
            return np.empty((0, d0)), np.empty(0), np.empty(0)
        X = gaussian_inputs(m, d0, rng)
        s = teacher_preactivation(teacher, X, chunk_size)
        return X, noisy_labels(s, teacher.eps, rng, key, noise), s

    X, y, s = draw(n)
    X_test, y_test, s_test = draw(n_test)
    return TeacherData(X, y, X_test, y_test, s, s_test, teacher, key, noise)


def _output_name(output: Callable[[np.ndarray], np.ndarray]) -> str:
    name = getattr(output, "name", None)  # a deepgep Activation
    return name if isinstance(name, str) else getattr(output, "__name__", "user")


def glm_teacher_sample(
    d0: int,
    n: int,
    rng: np.random.Generator,
    *,
    eta0: float = 1.0,
    gamma0: float = 0.0,
    noise: float = 0.0,
    output: str | Callable[[np.ndarray], np.ndarray] = "linear",
    n_test: int = 0,
) -> TeacherData:
    """The equivalent GLM teacher (book eq-equivalent-glm) with ``n`` training and ``n_test``
    test samples: the one sampler of the GLM's data.

    With ``z = eta0 X a / sqrt(d0)`` and ``u = z + sqrt(gamma0) xi``:

    * ``output="linear"``: ``Y = u + sqrt(noise) xi'``, equal in law to
      ``z + sqrt(gamma0 + noise) xi``;
    * ``output="sign"``: ``Y = sign(u + sqrt(noise) xi')``, equal in law to
      ``sign(z + sqrt(gamma0 + noise) xi)`` (the probit channel of book eq-probit-qhat, noise
      inside the sign); ``sign(0)`` is taken as ``+1`` (a probability-zero event);
    * ``output=f`` a vectorised callable: ``Y = f(u) + sqrt(noise) xi'`` (its ``name``, or its
      ``__name__``, is the data's ``output``).

    The generator is consumed in a fixed order, whatever the output and parameters: ``a``
    (``d0`` normals), then ``X`` (``(n + n_test) x d0``, row-major), then ``xi`` (``n +
    n_test``), then ``xi'`` (``n + n_test``); the first ``n`` rows are the training set, the rest
    the test set, all labelled by the same ``a``. So one seed gives the same teacher and inputs
    for every channel, ``output="linear"`` reproduces ``output=lambda x: x`` exactly, and ``a``
    and the training inputs do not depend on ``n_test`` (the training labels' noises do: ``xi``
    has ``n + n_test`` entries before ``xi'``). :func:`deep_teacher_sample`, whose teacher is
    drawn once and then labels any inputs, draws its test set after its training set instead.
    The GLM's parameters for a deep teacher are :func:`deepgep.theory.layers.equivalent_parameters`.

    Raises ``TypeError`` if ``rng`` is not a ``numpy.random.Generator``, and ``ValueError`` for
    ``n`` or ``d0`` not a positive integer, ``n_test`` negative, ``eta0 <= 0``, ``gamma0 < 0`` or
    ``noise < 0``, a parameter that is not finite, an unknown output name, or a callable that
    does not return finite values of its input's shape.
    """
    d0 = check_count("d0", d0)
    n = check_count("n", n)
    n_test = check_count("n_test", n_test, 0)
    eta0 = check_real("eta0", eta0, positive=True)
    gamma0 = check_real("gamma0", gamma0)
    noise = check_real("noise", noise)
    if isinstance(output, str):
        channel = name = _check_output(output)
    elif callable(output):
        channel, name = output, _output_name(output)
    else:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)} or a callable, got {output!r}")
    rng = check_generator(rng)

    a = rng.standard_normal(d0)
    X = rng.standard_normal((n + n_test, d0))
    z = (eta0 / math.sqrt(d0)) * (X @ a)
    y = noisy_labels(z, gamma0, rng, channel, noise)
    return TeacherData(X[:n], y[:n], X[n:], y[n:], z[:n], z[n:], GLMTeacher(a, eta0, gamma0), name, noise)

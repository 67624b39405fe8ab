"""Deep random networks and their features (Camilli et al. 2025, section 2 model).

Convention: samples are ROWS. ``X^0`` is ``n x d_0`` with i.i.d. ``N(0, 1)`` entries, and layer
``l`` maps ``X^{l-1}`` (``n x d_{l-1}``) to ``X^l = phi(X^{l-1} W^{l T} / sqrt(d_{l-1}))``
(``n x d_l``), ``W^l`` of shape ``d_l x d_{l-1}`` with i.i.d. ``N(0, 1)`` entries. The paper's
Gram matrix ``X^{l T} X^l / d_l`` (columns = samples) is ``X @ X.T / d_l`` here.

Forward passes run over chunks of samples so that a large ``n`` never holds more than one
chunk's pre-activations besides the outputs; the products are BLAS matrix multiplications and
the activation is applied in place by a compiled kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from deepgep.activations import Activation, get_activation
from deepgep.layers import LayerCoefficients
from deepgep.validation import check_generator as _check_generator

#: Samples per chunk of a forward pass: 2048 rows of width 4000 are 64 MB of float64.
DEFAULT_CHUNK = 2048


def _check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    w = tuple(int(d) for d in widths)
    if len(w) < 2 or any(d < 1 for d in w) or any(int(d) != d for d in widths):
        raise ValueError(f"widths must be (d_0, d_1, ..., d_L) with L >= 1 positive integers, got {widths!r}")
    return w


@dataclass(frozen=True)
class DeepNetwork:
    """Weights ``W^1..W^L`` (``W^l`` of shape ``d_l x d_{l-1}``) and the activation."""

    weights: tuple[np.ndarray, ...]
    activation: Activation

    @property
    def widths(self) -> tuple[int, ...]:
        """``(d_0, d_1, ..., d_L)``."""
        return (self.weights[0].shape[1],) + tuple(W.shape[0] for W in self.weights)

    @property
    def depth(self) -> int:
        return len(self.weights)


def gaussian_inputs(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n x d`` matrix of i.i.d. standard Gaussians (the inputs ``X^0``)."""
    if int(n) != n or int(d) != d or n < 1 or d < 1:
        raise ValueError(f"n and d must be positive integers, got n={n!r}, d={d!r}")
    return _check_generator(rng).standard_normal((int(n), int(d)))


def sample_network(
    widths: Sequence[int],
    activation: str | Callable[[np.ndarray], np.ndarray] | Activation,
    rng: np.random.Generator,
    gain: float = 1.0,
) -> DeepNetwork:
    """Draw ``W^l`` with i.i.d. ``N(0, 1)`` entries for ``widths = (d_0, ..., d_L)``."""
    w = _check_widths(widths)
    act = get_activation(activation, gain)
    rng = _check_generator(rng)
    weights = tuple(rng.standard_normal((w[ell], w[ell - 1])) for ell in range(1, len(w)))
    return DeepNetwork(weights, act)


def _chunks(n: int, chunk_size: int, progress: bool, label: str):
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    starts = range(0, n, int(chunk_size))
    return tqdm(starts, desc=label, disable=not progress, leave=False)


def forward(
    network: DeepNetwork,
    X0: np.ndarray,
    *,
    keep_all: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = False,
) -> list[np.ndarray]:
    """Features of every layer, ``[X^0, X^1, ..., X^L]`` (or ``[X^L]`` if not ``keep_all``).

    Peak memory is the returned arrays plus one chunk of pre-activations per layer.
    """
    X0 = np.ascontiguousarray(X0, dtype=np.float64)
    widths = network.widths
    if X0.ndim != 2 or X0.shape[1] != widths[0]:
        raise ValueError(f"X0 must have shape (n, {widths[0]}), got {X0.shape}")
    n = X0.shape[0]
    layers = range(1, network.depth + 1)
    out = {ell: np.empty((n, widths[ell])) for ell in layers if keep_all or ell == network.depth}
    for start in _chunks(n, chunk_size, progress, "forward"):
        h = X0[start : start + chunk_size]
        for ell in layers:
            W = network.weights[ell - 1]
            target = out[ell][start : start + h.shape[0]] if ell in out else None
            u = np.matmul(h, W.T, out=target) if target is not None else h @ W.T
            h = network.activation.apply_inplace(u, prescale=1.0 / math.sqrt(widths[ell - 1]))
    if keep_all:
        return [X0] + [out[ell] for ell in layers]
    return [out[network.depth]]


def linearised_forward(
    network: DeepNetwork,
    coefficients: LayerCoefficients,
    X0: np.ndarray,
    rng: np.random.Generator,
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> list[np.ndarray]:
    """Features of the Gaussian-equivalent network with the SAME weights (Theorem 1 per layer):

        Xlin^l = rho_l Xlin^{l-1} W^{l T} / sqrt(d_{l-1}) + sqrt(eps_l) Xi^l,

    ``Xi^l`` i.i.d. ``N(0, 1)`` drawn from ``rng`` chunk by chunk (so the draw depends on
    ``chunk_size``). Returns ``[X^0, Xlin^1, ..., Xlin^L]``.
    """
    if coefficients.depth != network.depth:
        raise ValueError(f"coefficients are for depth {coefficients.depth}, network has {network.depth}")
    rng = _check_generator(rng)
    X0 = np.ascontiguousarray(X0, dtype=np.float64)
    widths = network.widths
    n = X0.shape[0]
    out = [X0] + [np.empty((n, d)) for d in widths[1:]]
    for start in _chunks(n, chunk_size, False, "linearised"):
        stop = min(start + chunk_size, n)
        for ell in range(1, network.depth + 1):
            c = coefficients.layer(ell)
            target = out[ell][start:stop]
            np.matmul(out[ell - 1][start:stop], network.weights[ell - 1].T, out=target)
            target *= c["rho"] / math.sqrt(widths[ell - 1])
            target += math.sqrt(max(c["eps"], 0.0)) * rng.standard_normal(target.shape)
    return out


# --- the deep teacher of Camilli et al. (SCIENCE.md section 1) ---------------------------------

#: Output channels of :func:`label` (the same conventions as :func:`deepgep.glm.sample_glm` and
#: :func:`deepgep.channels.make_channel`).
TEACHER_OUTPUTS = ("linear", "sign")


def _check_readout_gain(rho: float) -> float:
    r = float(rho)
    if not math.isfinite(r) or r == 0.0:
        raise ValueError(f"readout gain rho must be finite and non-zero, got {rho!r}")
    return r


def _check_variance(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v < 0.0:
        raise ValueError(f"{name} must be a finite non-negative variance, got {value!r}")
    return v


def _check_output(output: str) -> str:
    key = str(output).strip().lower() if isinstance(output, str) else None
    if key not in TEACHER_OUTPUTS:
        raise ValueError(f"unknown output {output!r}; known: {', '.join(TEACHER_OUTPUTS)}")
    return key


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True, eq=False)
class DeepTeacher:
    """All the teacher's weights ``theta = (W^1..W^L, a)`` and its readout constants.

    The label of an input ``x`` (SCIENCE.md section 1) is drawn from
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
        object.__setattr__(self, "rho", _check_readout_gain(self.rho))
        object.__setattr__(self, "eps", _check_variance("eps", self.eps))

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
    rho = _check_readout_gain(rho)
    eps = _check_variance("eps", eps)
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
    for start in _chunks(n, chunk_size, False, "teacher"):
        stop = min(start + int(chunk_size), n)
        (XL,) = forward(teacher.network, X0[start:stop], keep_all=False, chunk_size=chunk_size)
        np.matmul(XL, teacher.readout, out=s[start:stop])
    s *= scale
    return s


def _labels(s: np.ndarray, eps: float, rng: np.random.Generator, output: str, noise: float) -> np.ndarray:
    """``f(s + sqrt(eps) xi) + ...`` with ``xi`` then ``xi'`` drawn from ``rng`` (``n`` each)."""
    n = s.shape[0]
    xi = rng.standard_normal(n)
    xi_out = rng.standard_normal(n)
    u = s + math.sqrt(eps) * xi + math.sqrt(noise) * xi_out
    if output == "linear":
        return u
    return np.where(u >= 0.0, 1.0, -1.0)


def label(
    teacher: DeepTeacher,
    X0: np.ndarray,
    rng: np.random.Generator,
    output: str = "linear",
    noise: float = 0.0,
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray:
    """Labels of the deep teacher, with the conventions of :func:`deepgep.glm.sample_glm` and
    :func:`deepgep.channels.make_channel`. With ``s`` = :func:`teacher_preactivation`:

    * ``"linear"``: ``Y = s + sqrt(eps) xi + sqrt(noise) xi'``;
    * ``"sign"``:   ``Y = sign(s + sqrt(eps) xi + sqrt(noise) xi')`` (both noises BEFORE the
      sign: a probit channel of total noise ``eps + noise``); ``sign(0) = +1``.

    ``rng`` is consumed in a fixed order whatever the output: ``xi`` (``n`` normals), then
    ``xi'`` (``n``), as in ``sample_glm``; the teacher's weights are not touched.

    Raises ``TypeError`` if ``rng`` is not a ``numpy.random.Generator`` and ``ValueError`` on an
    unknown output, ``noise < 0`` or non-finite, or ``X0`` of the wrong shape.
    """
    key = _check_output(output)
    noise = _check_variance("noise", noise)
    rng = _check_generator(rng)
    s = teacher_preactivation(teacher, X0, chunk_size)
    return _labels(s, teacher.eps, rng, key, noise)


@dataclass(frozen=True, eq=False)
class GLMTeacher:
    """The teacher of the equivalent GLM ``Y ~ P_out(. | eta0 a.X^0/sqrt(d0) + sqrt(gamma0) xi)``."""

    readout: np.ndarray
    eta0: float
    gamma0: float


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
    def n_test(self) -> int:
        return self.X_test.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def alpha(self) -> float:
        """``n / d0``."""
        return self.n / self.d


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
    noise = _check_variance("noise", noise)
    n = _check_count("n", n, 1)
    n_test = _check_count("n_test", n_test, 0)
    rng = _check_generator(rng)
    teacher = sample_teacher(widths, activation, rng, gain=gain, rho=rho, eps=eps)
    d0 = teacher.widths[0]

    def draw(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if m == 0:
            return np.empty((0, d0)), np.empty(0), np.empty(0)
        X = gaussian_inputs(m, d0, rng)
        s = teacher_preactivation(teacher, X, chunk_size)
        return X, _labels(s, teacher.eps, rng, key, noise), s

    X, y, s = draw(n)
    X_test, y_test, s_test = draw(n_test)
    return TeacherData(X, y, X_test, y_test, s, s_test, teacher, key, noise)


def glm_teacher_sample(
    d: int,
    n: int,
    rng: np.random.Generator,
    *,
    eta0: float,
    gamma0: float,
    output: str = "linear",
    noise: float = 0.0,
    n_test: int = 0,
) -> TeacherData:
    """The equivalent GLM teacher (:func:`deepgep.glm.sample_glm`) with a test set.

    :func:`~deepgep.glm.sample_glm` draws its own teacher ``a`` and cannot reuse one, so ONE call
    draws ``n + n_test`` samples and they are split: the first ``n`` rows are the training set,
    the rest the test set, all labelled by the same ``a``. Consequences of the generator order of
    ``sample_glm`` (``a``, ``X`` row-major, ``xi``, ``xi'``): for a given seed, ``a`` and the
    training inputs do not depend on ``n_test``, but the training labels' noises do (``xi`` has
    ``n + n_test`` entries before ``xi'``); with ``n_test = 0`` the result is exactly
    ``sample_glm(n, d, ...)``. The GLM's parameters for a deep teacher are
    ``equivalent_glm(layer_coefficients(...), rho, eps)``'s ``eta0``, ``gamma0``.
    """
    from deepgep.glm import sample_glm

    key = _check_output(output)
    n = _check_count("n", n, 1)
    n_test = _check_count("n_test", n_test, 0)
    data = sample_glm(n + n_test, d, _check_generator(rng), eta0=eta0, gamma0=gamma0, noise=noise, output=key)
    teacher = GLMTeacher(data.a, data.eta0, data.gamma0)
    return TeacherData(
        data.X[:n], data.y[:n], data.X[n:], data.y[n:], data.z[:n], data.z[n:], teacher, key, data.noise
    )

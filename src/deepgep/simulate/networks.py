"""Deep random networks and their features (Camilli et al. 2025, section 2; book eq-model).

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

from deepgep.support.validation import check_count, check_generator, check_widths
from deepgep.theory.activations import Activation, get_activation
from deepgep.theory.layers import LayerCoefficients

__all__ = ["DEFAULT_CHUNK", "DeepNetwork", "gaussian_inputs", "sample_network", "chunk_starts",
           "forward", "linearised_forward"]
#: Samples per chunk of a forward pass: 2048 rows of width 4000 are 64 MB of float64.
DEFAULT_CHUNK = 2048


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
    n, d = check_count("n", n), check_count("d", d)
    return check_generator(rng).standard_normal((n, d))


def sample_network(
    widths: Sequence[int],
    activation: str | Callable[[np.ndarray], np.ndarray] | Activation,
    rng: np.random.Generator,
    gain: float = 1.0,
) -> DeepNetwork:
    """Draw ``W^l`` with i.i.d. ``N(0, 1)`` entries for ``widths = (d_0, ..., d_L)``."""
    w = check_widths(widths)
    act = get_activation(activation, gain)
    rng = check_generator(rng)
    weights = tuple(rng.standard_normal((w[ell], w[ell - 1])) for ell in range(1, len(w)))
    return DeepNetwork(weights, act)


def chunk_starts(n: int, chunk_size: int, progress: bool = False, label: str = "chunks"):
    """The first rows ``0, chunk_size, 2 chunk_size, ...`` of the chunks of ``n`` rows (a tqdm
    iterator, silent unless ``progress``)."""
    starts = range(0, n, check_count("chunk_size", chunk_size))
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
    for start in chunk_starts(n, chunk_size, progress, "forward"):
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
    rng = check_generator(rng)
    X0 = np.ascontiguousarray(X0, dtype=np.float64)
    widths = network.widths
    n = X0.shape[0]
    out = [X0] + [np.empty((n, d)) for d in widths[1:]]
    for start in chunk_starts(n, chunk_size, False, "linearised"):
        stop = min(start + chunk_size, n)
        for ell in range(1, network.depth + 1):
            c = coefficients.layer(ell)
            target = out[ell][start:stop]
            np.matmul(out[ell - 1][start:stop], network.weights[ell - 1].T, out=target)
            target *= c["rho"] / math.sqrt(widths[ell - 1])
            target += math.sqrt(max(c["eps"], 0.0)) * rng.standard_normal(target.shape)
    return out

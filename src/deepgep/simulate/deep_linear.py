"""Sampled deep linear networks (Chapter 8): the outputs of actual Gaussian matrices multiplied
together, to check the exact laws of :mod:`deepgep.theory.deep_linear` (book
eq-deep-linear-exact).

Sampling (:func:`sample_deep_linear`) multiplies the actual Gaussian matrices, batched over
networks, and renormalises the hidden vectors at every layer while accumulating the log of the
renormalisation, so that nothing overflows even when ``s`` does not fit in a float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepgep.support.validation import check_count, check_generator, check_real

__all__ = ["SAMPLER_BATCH_ENTRIES", "DeepLinearSample", "sample_deep_linear"]

#: Largest number of weight entries drawn at once by the sampler (16 MB of float64).
SAMPLER_BATCH_ENTRIES = 2**21


@dataclass(frozen=True, eq=False)
class DeepLinearSample:
    """Outputs of ``n_networks`` independent deep linear networks on the same ``k`` inputs.

    Attributes
    ----------
    log_scale:
        ``(n_networks,)``: ``sum_l ln c_l^2``, the accumulated log of the per-layer
        renormalisations (``c_l^2`` = mean over inputs of ``|h_l|^2 / N`` before renormalising,
        the inputs being scaled to ``mean_j |x_j|^2 / d = 1`` first). For one input this is
        exactly ``ln s`` (plus ``L ln weight_variance``).
    unit_outputs:
        ``(n_networks, k)``: ``f / sqrt(exp(log_scale))``, the outputs with the scale removed
        (always finite).
    width, depth, weight_variance:
        The architecture.
    """

    log_scale: np.ndarray
    unit_outputs: np.ndarray
    width: int
    depth: int
    weight_variance: float

    @property
    def outputs(self) -> np.ndarray:
        """``f = exp(log_scale / 2) * unit_outputs``; ``OverflowError`` if ``s`` exceeds float64."""
        if np.max(self.log_scale, initial=-np.inf) / 2.0 > math.log(np.finfo(np.float64).max) - 50.0:
            raise OverflowError(
                f"exp(log_scale / 2) overflows float64 (max log_scale {np.max(self.log_scale)!r}); "
                "use log_scale and unit_outputs"
            )
        return np.exp(0.5 * self.log_scale)[:, None] * self.unit_outputs


def _check_inputs(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be a vector or a d x k matrix of k inputs, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains non-finite values")
    if not np.any(X):
        raise ValueError("X is zero: every output would be zero")
    return X


def _propagate(Xhat: np.ndarray, n: int, L: int, b: int, rng: np.random.Generator, wv: float):
    """One batch of ``b`` networks: returns ``(log_scale, unit_outputs)``."""
    d, k = Xhat.shape
    h = np.broadcast_to(Xhat, (b, d, k))
    fan_in = d
    log_scale = np.zeros(b)
    for _ in range(L):
        W = rng.standard_normal((b, n, fan_in))
        h = np.matmul(W, h) * math.sqrt(wv / fan_in)
        c2 = np.einsum("bnk,bnk->b", h, h) / (n * k)
        log_scale += np.log(c2)
        h = h / np.sqrt(c2)[:, None, None]
        fan_in = n
    a = rng.standard_normal((b, fan_in))
    unit = np.einsum("bn,bnk->bk", a, h) / math.sqrt(fan_in)
    return log_scale, unit


def sample_deep_linear(
    X,
    width: int,
    depth: int,
    n_networks: int,
    rng: np.random.Generator,
    *,
    weight_variance: float = 1.0,
) -> DeepLinearSample:
    """Draw ``n_networks`` deep linear networks and evaluate them on the inputs ``X``.

    Each network has ``W_1`` (``N x d``), ``W_2..W_L`` (``N x N``) with i.i.d.
    ``N(0, weight_variance)`` entries, a readout ``a ~ N(0, I_N)``, and computes
    ``f(x) = a . W_L ... W_1 x / sqrt(N^L d)`` (``depth = 0``: ``f(x) = a . x / sqrt(d)``, ``a`` in
    ``R^d``). The matrices are multiplied for real, batched over networks
    (``SAMPLER_BATCH_ENTRIES`` weights at a time); after each layer the hidden vectors are divided
    by their root-mean-square norm and the log of that factor is accumulated, so ``L = N = 512``
    (or a ``weight_variance`` that makes ``s`` overflow float64) is handled without overflow.

    Parameters
    ----------
    X:
        ``(d,)`` one input, or ``(d, k)`` with the ``k`` inputs as columns.
    width, depth:
        ``N >= 1`` and ``L >= 0``.
    n_networks:
        Number of independent networks.
    rng:
        Seeded ``numpy.random.Generator``; draws are made batch by batch, layer by layer.
    weight_variance:
        Variance of the hidden weights (``> 0``); it multiplies ``s`` by ``weight_variance^L``.
    """
    X = _check_inputs(X)
    n, L = check_count("width", width, 1), check_count("depth", depth, 0)
    n_networks = check_count("n_networks", n_networks)
    wv = check_real("weight_variance", weight_variance, positive=True)
    rng = check_generator(rng)
    d, k = X.shape
    r0 = math.sqrt(float(np.sum(X * X)) / (d * k))
    Xhat = X / r0
    # Weights drawn per network and per layer: the largest matrix, N x max(N, d) (or the readout).
    per_network = n * max(n, d) if L > 0 else d
    batch = max(1, SAMPLER_BATCH_ENTRIES // per_network)
    log_scale = np.empty(int(n_networks))
    unit = np.empty((int(n_networks), k))
    for start in range(0, int(n_networks), batch):
        b = min(batch, int(n_networks) - start)
        ls, u = _propagate(Xhat, n, L, b, rng, wv)
        log_scale[start : start + b] = ls
        unit[start : start + b] = u * r0
    if not (np.all(np.isfinite(log_scale)) and np.all(np.isfinite(unit))):
        raise FloatingPointError("non-finite values in the sampled networks")
    return DeepLinearSample(log_scale, unit, n, L, wv)

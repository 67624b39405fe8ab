"""The Bayes posterior of the deep network over ALL its weights (Chapters 5 and 7): the prior,
the log-posterior and its gradient, and the draws.

The model is the teacher of :mod:`deepgep.simulate.teachers` (Camilli et al. 2025, section 2;
book eq-model), samples as ROWS. For ``widths = (d_0, ..., d_L)``:

    X^0 = x,   X^l = phi(X^{l-1} W^{l T} / sqrt(d_{l-1})),   f(x) = X^L a / sqrt(d_L),

``phi(u) = act(gain u)``. Priors ``W^l_ij ~ N(0, v_l)``, ``a_i ~ N(0, v_a)``, likelihood
``y_mu ~ N(f(x_mu), noise)``. The unnormalised log-posterior of ``theta = (W^1..W^L, a)`` is

    log p(theta | X, y) = - sum_l |W^l|_F^2 / (2 v_l) - |a|^2 / (2 v_a)
                          - sum_mu (y_mu - f(x_mu))^2 / (2 noise) + const.         (*)

With ``v_l = v_a = 1`` and ``noise = Delta`` (plus ``eps`` if the teacher has one) this is the
Bayes-optimal posterior of Camilli et al.'s Theorem 4: the statistician knows the architecture
and the priors. Pacelli et al.'s one-hidden-layer Gibbs posterior at temperature ``T`` with
priors ``w ~ N(0, I/lambda_0)``, ``v ~ N(0, 1/lambda_1)`` is ``NetworkPrior(widths=(N0, N1),
weight_variance=1/lambda_0, readout_variance=1/lambda_1, noise=T)``.

Sampling (:mod:`deepgep.simulate.nuts`) is BlackJAX's NUTS (multinomial, iterative; Hoffman & Gelman 2014) on JAX (CPU,
float64) after Stan-style window adaptation of the step size and of a diagonal mass matrix. The
sampler works in whitened coordinates ``u = theta / sqrt(prior variance)`` (prior ``N(0, I)``),
a linear change of variables that leaves the posterior unchanged. One compiled program per
``(widths, activation, gain, n, n_warmup, n_samples, sampler options)`` is kept and reused for
every chain and every data set of the same shapes.

Diagnostics (:func:`r_hat`, :func:`effective_sample_size`) are BlackJAX's rank-normalised
split-R-hat (Vehtari et al. 2021) and its multi-chain ESS. The weights are identifiable only up
to sign flips and permutations of hidden units (and, for odd ``phi``, joint sign flips of a
unit's in- and out-weights), so diagnostics are meant for identifiable quantities: predictions
``f(x_test)``, the training loss, function-space overlaps.
"""


from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from deepgep.support.validation import (check_design, check_generator, check_real,
                                        check_vector, check_widths)
from deepgep.support.backends import jax_float64
from deepgep.theory.activations import get_activation, jax_activation

__all__ = [
    "JAX_ACTIVATIONS", "PREDICT_CHUNK", "NetworkPrior", "check_parameters", "flatten",
    "unflatten", "numpy_log_posterior_and_gradient", "log_density_function",
    "log_posterior_and_gradient", "jax_gradient_function", "PosteriorSamples",
]
#: Activations with a JAX implementation (the built-ins of :mod:`deepgep.theory.activations`).
JAX_ACTIVATIONS = ("linear", "tanh", "erf", "sin", "relu")

#: Draws pushed through the network at once by :meth:`PosteriorSamples.predict` (memory bound).
PREDICT_CHUNK = 64


@dataclass(frozen=True)
class NetworkPrior:
    """Architecture, Gaussian priors and Gaussian likelihood of equation (*) of the module.

    ``widths = (d_0, ..., d_L)``, ``L >= 1``; ``activation`` a built-in name (see
    :data:`JAX_ACTIVATIONS`), ``phi(x) = act(gain x)``; ``noise`` the likelihood variance
    (Pacelli's temperature ``T``); ``weight_variance`` one value or one per layer (``L`` values);
    ``readout_variance`` the variance of ``a_i``.
    """

    widths: tuple[int, ...]
    activation: str
    noise: float
    gain: float = 1.0
    weight_variance: float | tuple[float, ...] = 1.0
    readout_variance: float = 1.0

    def __post_init__(self) -> None:
        widths = check_widths(self.widths)
        object.__setattr__(self, "widths", widths)
        name = self.activation.strip().lower() if isinstance(self.activation, str) else None
        if name not in JAX_ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(JAX_ACTIVATIONS)} (a name, sampled with JAX), "
                f"got {self.activation!r}"
            )
        object.__setattr__(self, "activation", name)
        object.__setattr__(self, "noise", check_real("noise", self.noise, positive=True))
        object.__setattr__(self, "gain", check_real("gain", self.gain, positive=True))
        object.__setattr__(self, "readout_variance", check_real("readout_variance", self.readout_variance, positive=True))
        wv = self.weight_variance
        if np.ndim(wv) == 0:
            wv = check_real("weight_variance", wv, positive=True)
        else:
            wv = tuple(check_real("weight_variance", v, positive=True) for v in wv)
            if len(wv) != self.depth:
                raise ValueError(
                    f"weight_variance must be one value or {self.depth} values (one per layer), got {len(wv)}"
                )
        object.__setattr__(self, "weight_variance", wv)

    @property
    def depth(self) -> int:
        """``L``, the number of hidden layers."""
        return len(self.widths) - 1

    @property
    def layer_variances(self) -> tuple[float, ...]:
        """``(v_1, ..., v_L)``."""
        wv = self.weight_variance
        return tuple(wv) if isinstance(wv, tuple) else (wv,) * self.depth

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shapes of ``(W^1, ..., W^L, a)``."""
        w = self.widths
        return tuple((w[ell], w[ell - 1]) for ell in range(1, len(w))) + ((w[-1],),)

    @property
    def n_parameters(self) -> int:
        """``d_L + sum_l d_l d_{l-1}``."""
        return sum(math.prod(s) for s in self.shapes)

    def scales(self) -> np.ndarray:
        """Prior standard deviations of ``(W^1, ..., W^L, a)`` (``L + 1`` values)."""
        return np.sqrt(np.array(self.layer_variances + (self.readout_variance,)))

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """One prior draw ``(W^1, ..., W^L, a)`` (in this order from ``rng``)."""
        rng = check_generator(rng)
        return tuple(s * rng.standard_normal(shape) for s, shape in zip(self.scales(), self.shapes))


def check_parameters(params: Sequence, prior: NetworkPrior) -> tuple[np.ndarray, ...]:
    """``(W^1, ..., W^L, a)`` as finite float64 arrays of the prior's shapes."""
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        raise ValueError(f"parameters must be a sequence (W^1, ..., W^L, a), got {type(params).__name__}")
    if len(params) != prior.depth + 1:
        raise ValueError(f"parameters must hold {prior.depth + 1} arrays (W^1..W^L, a), got {len(params)}")
    out = []
    for k, (p, shape) in enumerate(zip(params, prior.shapes)):
        arr = np.asarray(p, dtype=np.float64)
        label = "a" if k == prior.depth else f"W^{k + 1}"
        if arr.shape != shape:
            raise ValueError(f"{label} must have shape {shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{label} contains non-finite values")
        out.append(arr)
    return tuple(out)


def flatten(params: Sequence[np.ndarray], prior: NetworkPrior) -> np.ndarray:
    """Whitened flat vector ``u = theta / sqrt(prior variance)``."""
    return np.concatenate([np.ravel(p) / s for p, s in zip(params, prior.scales())])


def unflatten(u: np.ndarray, prior: NetworkPrior) -> tuple[np.ndarray, ...]:
    """Inverse of :func:`flatten` on the last axis (leading axes are kept)."""
    out, start = [], 0
    lead = u.shape[:-1]
    for s, shape in zip(prior.scales(), prior.shapes):
        size = math.prod(shape)
        out.append(s * u[..., start : start + size].reshape(lead + shape))
        start += size
    return tuple(out)


def numpy_log_posterior_and_gradient(
    params: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray, prior: NetworkPrior
) -> tuple[float, tuple[np.ndarray, ...]]:
    """Equation (*) and its gradient in ``theta = (W^1..W^L, a)`` by hand-written backpropagation
    (numpy/BLAS over the whole batch): the plain baseline of ``benchmarks/bench_posterior.py`` and
    an independent check of the JAX gradient."""
    params = check_parameters(params, prior)
    X = check_design(X)
    y = check_vector("y", y, X.shape[0], "one label per row")
    return _numpy_value_and_grad(params, X, y, prior)


def _numpy_value_and_grad(params, X, y, prior):
    act = get_activation(prior.activation, prior.gain)
    *weights, a = params
    roots = [math.sqrt(W.shape[1]) for W in weights]
    zs, hs = [], [X]
    for W, root in zip(weights, roots):
        z = hs[-1] @ W.T / root
        zs.append(z)
        hs.append(act(z))
    root_L = math.sqrt(a.shape[0])
    res = y - hs[-1] @ a / root_L
    variances = prior.layer_variances
    value = -0.5 * float(res @ res) / prior.noise - 0.5 * float(a @ a) / prior.readout_variance
    value -= 0.5 * sum(float(np.vdot(W, W)) / v for W, v in zip(weights, variances))
    r = res / prior.noise  # d(log-likelihood)/df
    grad_a = hs[-1].T @ r / root_L - a / prior.readout_variance
    G = np.multiply.outer(r, a / root_L)  # d/dX^L
    grads = [None] * len(weights)
    for ell in range(len(weights) - 1, -1, -1):
        D = G * act.derivative(zs[ell])
        grads[ell] = D.T @ hs[ell] / roots[ell] - weights[ell] / variances[ell]
        if ell > 0:
            G = D @ weights[ell] / roots[ell]
    return value, tuple(grads) + (grad_a,)


def log_density_function(widths: tuple[int, ...], activation: str, gain: float):
    """``log p(u | X, y)`` of (*) in whitened coordinates, a pure JAX function of
    ``(u, X, y, scales, noise)``."""
    jnp = jax_float64().numpy
    phi = jax_activation(activation, gain)
    shapes = tuple((widths[ell], widths[ell - 1]) for ell in range(1, len(widths))) + ((widths[-1],),)
    sizes = [math.prod(s) for s in shapes]
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    def unflatten(u, scales):
        return [scales[k] * u[offsets[k] : offsets[k + 1]].reshape(shape) for k, shape in enumerate(shapes)]

    def network(u, X, scales):
        *weights, a = unflatten(u, scales)
        h = X
        for W in weights:
            h = phi(h @ W.T / math.sqrt(W.shape[1]))
        return h @ a / math.sqrt(a.shape[0])

    def log_density(u, X, y, scales, noise):
        res = y - network(u, X, scales)
        return -0.5 * jnp.dot(u, u) - 0.5 * jnp.dot(res, res) / noise

    return log_density, network


@functools.lru_cache(maxsize=32)
def _compiled_gradient(widths: tuple[int, ...], activation: str, gain: float):
    jax = jax_float64()
    log_density, _ = log_density_function(widths, activation, gain)
    return jax.jit(jax.value_and_grad(log_density))


def log_posterior_and_gradient(
    params: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray, prior: NetworkPrior
) -> tuple[float, tuple[np.ndarray, ...]]:
    """Equation (*) and its gradient in ``theta`` by JAX automatic differentiation (the function
    the sampler uses, up to the whitening ``u = theta / sqrt(v)``: ``d/dtheta = (d/du) / sqrt(v)``)."""
    params = check_parameters(params, prior)
    X = check_design(X)
    y = check_vector("y", y, X.shape[0], "one label per row")
    scales = prior.scales()
    fn = _compiled_gradient(prior.widths, prior.activation, prior.gain)
    value, grad_u = fn(flatten(params, prior), X, y, scales, prior.noise)
    grads = unflatten(np.asarray(grad_u), prior)
    # d/dtheta = (d/du) / s, and _unflatten multiplies by s: divide twice.
    grads = tuple(g / (s * s) for g, s in zip(grads, scales))
    return float(value), grads


def jax_gradient_function(prior: NetworkPrior):
    """The compiled ``(u, X, y, scales, noise) -> (log p, grad_u log p)`` in whitened coordinates
    and the whitened vector of a parameter set (for benchmarks): returns ``(fn, flatten)``."""
    fn = _compiled_gradient(prior.widths, prior.activation, prior.gain)
    return fn, functools.partial(flatten, prior=prior)


@dataclass(frozen=True, eq=False)
class PosteriorSamples:
    """Draws of :func:`sample_posterior`.

    ``weights[l-1]`` holds the draws of ``W^l``, shape ``(n_chains, n_samples, d_l, d_{l-1})``;
    ``readout`` those of ``a``, ``(n_chains, n_samples, d_L)``; ``log_density`` the unnormalised
    log-posterior (*) at each draw (up to the constant of the whitening), ``(n_chains, n_samples)``;
    ``diagnostics`` step sizes, mean acceptance rates and divergences per chain, gradient
    evaluations (warm-up and sampling), wall time of the sampling and of the compilation.
    """

    weights: tuple[np.ndarray, ...]
    readout: np.ndarray
    prior: NetworkPrior
    diagnostics: dict
    log_density: np.ndarray = field(default=None, repr=False)

    @property
    def n_chains(self) -> int:
        return self.readout.shape[0]

    @property
    def n_samples(self) -> int:
        return self.readout.shape[1]

    def draw(self, chain: int, index: int) -> tuple[np.ndarray, ...]:
        """One draw ``(W^1, ..., W^L, a)``."""
        return tuple(W[chain, index] for W in self.weights) + (self.readout[chain, index],)

    def predict(self, X_test: np.ndarray) -> np.ndarray:
        """``f(x)`` of every draw on the rows of ``X_test``: shape ``(n_chains, n_samples, n_test)``.

        Batched matrix products over chunks of :data:`PREDICT_CHUNK` draws (no loop over draws).
        """
        X_test = check_design(X_test)
        d0 = self.prior.widths[0]
        if X_test.shape[1] != d0:
            raise ValueError(f"X_test must have shape (n_test, {d0}) = (n_test, d_0), got {X_test.shape}")
        act = get_activation(self.prior.activation, self.prior.gain)
        S = self.n_chains * self.n_samples
        Ws = [W.reshape((S,) + W.shape[2:]) for W in self.weights]
        a = self.readout.reshape(S, -1)
        out = np.empty((S, X_test.shape[0]))
        for start in range(0, S, PREDICT_CHUNK):
            sl = slice(start, start + PREDICT_CHUNK)
            h = X_test[None]
            for W in Ws:
                h = act(np.matmul(h, np.swapaxes(W[sl], 1, 2)) / math.sqrt(W.shape[2]))
            out[sl] = np.einsum("sni,si->sn", h, a[sl]) / math.sqrt(a.shape[1])
        return out.reshape(self.n_chains, self.n_samples, X_test.shape[0])

    def posterior_mean_prediction(self, X_test: np.ndarray) -> np.ndarray:
        """The posterior-mean predictor ``E[f(x) | data]`` (average over all draws): ``(n_test,)``."""
        return self.predict(X_test).mean(axis=(0, 1))

    def predictive_moments(self, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of ``f(x)`` over all draws (the variance excludes the
        likelihood noise; add ``prior.noise`` for the predictive variance of a label)."""
        f = self.predict(X_test)
        return f.mean(axis=(0, 1)), f.var(axis=(0, 1))

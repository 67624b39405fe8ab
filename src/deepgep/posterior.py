"""Sampling the Bayes posterior of the deep network over ALL its weights (Chapter 5).

The model is the teacher of :mod:`deepgep.data` (Camilli et al. 2025, section 2; SCIENCE.md
section 1), samples as ROWS. For ``widths = (d_0, ..., d_L)``:

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

Sampling is BlackJAX's NUTS (multinomial, iterative; Hoffman & Gelman 2014) on JAX (CPU,
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
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from deepgep.activations import get_activation
from deepgep.data import _check_widths, deep_teacher_sample
from deepgep.estimators import bayes_ridge_lambda, ridge
from deepgep.fitting import Extrapolation, inverse_size_extrapolation
from deepgep.layers import equivalent_glm, layer_coefficients
from deepgep.state_evolution import check_alpha, gaussian_closed_form
from deepgep.validation import check_design as _check_design
from deepgep.validation import check_generator as _check_generator
from deepgep.validation import check_real
from deepgep.validation import check_vector as _check_vector

#: Activations with a JAX implementation (the built-ins of :mod:`deepgep.activations`).
JAX_ACTIVATIONS = ("linear", "tanh", "erf", "sin", "relu")
#: Stan's default target acceptance rate of the step-size adaptation (Hoffman & Gelman 2014).
DEFAULT_TARGET_ACCEPTANCE = 0.8
#: NUTS trajectories are at most ``2**max_num_doublings`` leapfrog steps (BlackJAX default 10).
DEFAULT_MAX_DOUBLINGS = 10
#: Fewest warm-up steps: Stan's window schedule needs an initial fast window (75 in Stan) to be
#: meaningful; below ~20 steps the adapted step size is a guess.
MIN_WARMUP = 20
#: Draws pushed through the network at once by :meth:`PosteriorSamples.predict` (memory bound).
PREDICT_CHUNK = 64
#: Recognised ``**sampler_options`` of :func:`sample_posterior`.
SAMPLER_OPTIONS = ("target_acceptance_rate", "max_num_doublings", "vectorize")


def _jax():
    """Import JAX with float64 enabled (lazily: importing deepgep does not start JAX)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


# --- the prior ----------------------------------------------------------------------------------


def _positive(name: str, value) -> float:
    return check_real(name, value, positive=True)


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
        widths = _check_widths(self.widths)
        object.__setattr__(self, "widths", widths)
        name = self.activation.strip().lower() if isinstance(self.activation, str) else None
        if name not in JAX_ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(JAX_ACTIVATIONS)} (a name, sampled with JAX), "
                f"got {self.activation!r}"
            )
        object.__setattr__(self, "activation", name)
        object.__setattr__(self, "noise", _positive("noise", self.noise))
        object.__setattr__(self, "gain", _positive("gain", self.gain))
        object.__setattr__(self, "readout_variance", _positive("readout_variance", self.readout_variance))
        wv = self.weight_variance
        if np.ndim(wv) == 0:
            wv = _positive("weight_variance", wv)
        else:
            wv = tuple(_positive("weight_variance", v) for v in wv)
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
        rng = _check_generator(rng)
        return tuple(s * rng.standard_normal(shape) for s, shape in zip(self.scales(), self.shapes))


def _check_parameters(params: Sequence, prior: NetworkPrior) -> tuple[np.ndarray, ...]:
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


def _flatten(params: Sequence[np.ndarray], prior: NetworkPrior) -> np.ndarray:
    """Whitened flat vector ``u = theta / sqrt(prior variance)``."""
    return np.concatenate([np.ravel(p) / s for p, s in zip(params, prior.scales())])


def _unflatten_numpy(u: np.ndarray, prior: NetworkPrior) -> tuple[np.ndarray, ...]:
    """Inverse of :func:`_flatten` on the last axis (leading axes are kept)."""
    out, start = [], 0
    lead = u.shape[:-1]
    for s, shape in zip(prior.scales(), prior.shapes):
        size = math.prod(shape)
        out.append(s * u[..., start : start + size].reshape(lead + shape))
        start += size
    return tuple(out)


# --- the network and the log-posterior ----------------------------------------------------------


def _activation_derivative(prior: NetworkPrior, z: np.ndarray) -> np.ndarray:
    """``phi'(z)`` of the built-ins (``relu'(0) = 0``)."""
    g = prior.gain
    u = g * z
    name = prior.activation
    if name == "linear":
        return np.full_like(z, g)
    if name == "tanh":
        t = np.tanh(u)
        return g * (1.0 - t * t)
    if name == "erf":
        return g * (2.0 / math.sqrt(math.pi)) * np.exp(-u * u)
    if name == "sin":
        return g * np.cos(u)
    return np.where(u > 0.0, g, 0.0)


def numpy_log_posterior_and_gradient(
    params: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray, prior: NetworkPrior
) -> tuple[float, tuple[np.ndarray, ...]]:
    """Equation (*) and its gradient in ``theta = (W^1..W^L, a)`` by hand-written backpropagation
    (numpy/BLAS over the whole batch): the plain baseline of ``benchmarks/bench_posterior.py`` and
    an independent check of the JAX gradient."""
    params = _check_parameters(params, prior)
    X = _check_design(X)
    y = _check_vector("y", y, X.shape[0], "one label per row")
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
        D = G * _activation_derivative(prior, zs[ell])
        grads[ell] = D.T @ hs[ell] / roots[ell] - weights[ell] / variances[ell]
        if ell > 0:
            G = D @ weights[ell] / roots[ell]
    return value, tuple(grads) + (grad_a,)


def _jax_activation(name: str, gain: float):
    jax = _jax()
    jnp = jax.numpy
    table = {
        "linear": lambda u: gain * u,
        "tanh": lambda u: jnp.tanh(gain * u),
        "erf": lambda u: jax.scipy.special.erf(gain * u),
        "sin": lambda u: jnp.sin(gain * u),
        "relu": lambda u: jnp.maximum(gain * u, 0.0),
    }
    return table[name]


def _make_log_density(widths: tuple[int, ...], activation: str, gain: float):
    """``log p(u | X, y)`` of (*) in whitened coordinates, a pure JAX function of
    ``(u, X, y, scales, noise)``."""
    jnp = _jax().numpy
    phi = _jax_activation(activation, gain)
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
    jax = _jax()
    log_density, _ = _make_log_density(widths, activation, gain)
    return jax.jit(jax.value_and_grad(log_density))


def log_posterior_and_gradient(
    params: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray, prior: NetworkPrior
) -> tuple[float, tuple[np.ndarray, ...]]:
    """Equation (*) and its gradient in ``theta`` by JAX automatic differentiation (the function
    the sampler uses, up to the whitening ``u = theta / sqrt(v)``: ``d/dtheta = (d/du) / sqrt(v)``)."""
    params = _check_parameters(params, prior)
    X = _check_design(X)
    y = _check_vector("y", y, X.shape[0], "one label per row")
    scales = prior.scales()
    fn = _compiled_gradient(prior.widths, prior.activation, prior.gain)
    value, grad_u = fn(_flatten(params, prior), X, y, scales, prior.noise)
    grads = _unflatten_numpy(np.asarray(grad_u), prior)
    # d/dtheta = (d/du) / s, and _unflatten multiplies by s: divide twice.
    grads = tuple(g / (s * s) for g, s in zip(grads, scales))
    return float(value), grads


def jax_gradient_function(prior: NetworkPrior):
    """The compiled ``(u, X, y, scales, noise) -> (log p, grad_u log p)`` in whitened coordinates
    and the whitened vector of a parameter set (for benchmarks): returns ``(fn, flatten)``."""
    fn = _compiled_gradient(prior.widths, prior.activation, prior.gain)
    return fn, functools.partial(_flatten, prior=prior)


# --- the sampler --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _compiled_chain(
    widths: tuple[int, ...],
    activation: str,
    gain: float,
    n_warmup: int,
    n_samples: int,
    target_acceptance: float,
    max_doublings: int,
    vectorize: bool,
):
    """The jitted ``(key, u0, X, y, scales, noise) -> (draws, stats)`` of one chain: window
    adaptation (``n_warmup`` NUTS steps) then ``n_samples`` NUTS draws."""
    jax = _jax()
    jnp = jax.numpy
    import blackjax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    log_density, _ = _make_log_density(widths, activation, gain)
    keep = {"num_integration_steps", "acceptance_rate", "is_divergent"}

    def run(key, u0, X, y, scales, noise):
        logdensity = functools.partial(log_density, X=X, y=y, scales=scales, noise=noise)
        warmup = blackjax.window_adaptation(
            blackjax.nuts,
            logdensity,
            target_acceptance_rate=target_acceptance,
            adaptation_info_fn=get_filter_adapt_info_fn(info_keys=keep),
            max_num_doublings=max_doublings,
        )
        key_warm, key_draw = jax.random.split(key)
        (state, parameters), warm_info = warmup.run(key_warm, u0, num_steps=n_warmup)
        kernel = blackjax.nuts(logdensity, **{**parameters, "max_num_doublings": max_doublings}).step

        def step(state, k):
            state, info = kernel(k, state)
            out = (state.position, state.logdensity, info.num_integration_steps,
                   info.acceptance_rate, info.is_divergent)
            return state, out

        _, (positions, logdens, n_steps, accept, divergent) = jax.lax.scan(
            step, state, jax.random.split(key_draw, n_samples)
        )
        stats = {
            "log_density": logdens,
            "integration_steps": n_steps,
            "acceptance_rate": accept,
            "divergent": divergent,
            "step_size": parameters["step_size"],
            "warmup_integration_steps": jnp.sum(warm_info.info.num_integration_steps),
            "warmup_divergences": jnp.sum(warm_info.info.is_divergent),
        }
        return positions, stats

    if vectorize:
        return jax.jit(jax.vmap(run, in_axes=(0, 0, None, None, None, None)))
    return jax.jit(run)


@functools.lru_cache(maxsize=16)
def _executable(config: tuple, n: int, n_chains: int) -> tuple:
    """The compiled program of :func:`_compiled_chain` for ``n`` samples (ahead of time, so that
    the sampling time excludes compilation) and the compilation time in seconds."""
    jax = _jax()
    widths, vectorize = config[0], config[-1]
    f64 = jax.numpy.float64
    P = sum(widths[ell] * widths[ell - 1] for ell in range(1, len(widths))) + widths[-1]
    lead = (n_chains,) if vectorize else ()
    shapes = (
        jax.ShapeDtypeStruct(lead + (2,), jax.numpy.uint32),
        jax.ShapeDtypeStruct(lead + (P,), f64),
        jax.ShapeDtypeStruct((n, widths[0]), f64),
        jax.ShapeDtypeStruct((n,), f64),
        jax.ShapeDtypeStruct((len(widths),), f64),
        jax.ShapeDtypeStruct((), f64),
    )
    t0 = time.perf_counter()
    compiled = _compiled_chain(*config).lower(*shapes).compile()
    return compiled, time.perf_counter() - t0


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _initial_positions(init, prior: NetworkPrior, n_chains: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(init, str):
        if init.strip().lower() != "prior":
            raise ValueError(f"init must be 'prior' or a sequence (W^1, ..., W^L, a), got {init!r}")
        return rng.standard_normal((n_chains, prior.n_parameters))
    u0 = _flatten(_check_parameters(init, prior), prior)
    return np.tile(u0, (n_chains, 1))


def _sampler_options(options: dict) -> tuple[float, int, bool]:
    unknown = sorted(set(options) - set(SAMPLER_OPTIONS))
    if unknown:
        raise ValueError(f"unknown sampler option(s) {unknown}; known: {', '.join(SAMPLER_OPTIONS)}")
    target = float(options.get("target_acceptance_rate", DEFAULT_TARGET_ACCEPTANCE))
    if not 0.0 < target < 1.0:
        raise ValueError(f"target_acceptance_rate must be in (0, 1), got {target!r}")
    doublings = _check_int("max_num_doublings", options.get("max_num_doublings", DEFAULT_MAX_DOUBLINGS), 1)
    return target, doublings, bool(options.get("vectorize", False))


class SamplingError(RuntimeError):
    """The sampler produced non-finite draws (the chain diverged numerically)."""


def sample_posterior(
    X: np.ndarray,
    y: np.ndarray,
    prior: NetworkPrior,
    rng: np.random.Generator,
    *,
    n_chains: int = 4,
    n_warmup: int = 500,
    n_samples: int = 500,
    init: str | Sequence = "prior",
    progress: bool = False,
    **sampler_options,
) -> PosteriorSamples:
    """Draws from the posterior (*) of all the weights by NUTS after window adaptation.

    ``X`` (``n x d_0``) and ``y`` (``n``) are the training set. ``init="prior"`` starts every
    chain from an independent prior draw; a sequence ``(W^1, ..., W^L, a)`` (e.g. the teacher's:
    by the Nishimori property it is a typical posterior sample in the Bayes-optimal setting)
    starts every chain there. Each chain adapts its own step size and diagonal mass matrix over
    ``n_warmup`` steps, then keeps ``n_samples`` draws. The program is compiled ahead of time once
per shape; ``diagnostics["wall_time"]`` excludes the compilation (``"compile_time"``, zero
when the program was cached). The JAX key of each chain is derived from
    ``rng`` (one 32-bit seed per chain, drawn after the initial positions).

    ``sampler_options``: ``target_acceptance_rate`` (default 0.8), ``max_num_doublings``
    (default 10: at most 1024 leapfrog steps per draw), ``vectorize`` (run the chains together
    under ``jax.vmap``; default False, chains one after the other).

    Raises ``ValueError`` on bad input and :class:`SamplingError` on non-finite draws.
    """
    if not isinstance(prior, NetworkPrior):
        raise ValueError(f"prior must be a NetworkPrior, got {type(prior).__name__}")
    rng = _check_generator(rng)
    X = _check_design(X)
    if X.shape[1] != prior.widths[0]:
        raise ValueError(f"X must have shape (n, {prior.widths[0]}) = (n, d_0), got {X.shape}")
    y = _check_vector("y", y, X.shape[0], "one label per row")
    n_chains = _check_int("n_chains", n_chains, 1)
    n_warmup = _check_int("n_warmup", n_warmup, MIN_WARMUP)
    n_samples = _check_int("n_samples", n_samples, 1)
    target, doublings, vectorize = _sampler_options(sampler_options)

    u0 = _initial_positions(init, prior, n_chains, rng)
    seeds = rng.integers(0, 2**32, size=n_chains)
    jax = _jax()
    keys = [jax.random.PRNGKey(int(s)) for s in seeds]
    config = (prior.widths, prior.activation, prior.gain, n_warmup, n_samples, target, doublings, vectorize)
    hits = _executable.cache_info().hits
    run, compile_time = _executable(config, X.shape[0], n_chains if vectorize else 1)
    compile_time = 0.0 if _executable.cache_info().hits > hits else compile_time
    args = (X, y, prior.scales(), np.float64(prior.noise))

    t0 = time.perf_counter()
    if vectorize:
        positions, stats = run(jax.numpy.stack(keys), u0, *args)
        positions = np.asarray(positions)
        stats = {k: np.asarray(v) for k, v in stats.items()}
    else:
        outs = []
        for c in tqdm(range(n_chains), desc="chains", disable=not progress, leave=False):
            p, s = run(keys[c], u0[c], *args)
            outs.append((np.asarray(p), {k: np.asarray(v) for k, v in s.items()}))
        positions = np.stack([o[0] for o in outs])
        stats = {k: np.stack([o[1][k] for o in outs]) for k in outs[0][1]}
    wall = time.perf_counter() - t0
    if not np.all(np.isfinite(positions)):
        raise SamplingError("NUTS produced non-finite draws; lower the step size (raise target_acceptance_rate)")

    params = _unflatten_numpy(positions, prior)
    n_grad_samples = int(stats["integration_steps"].sum())
    n_grad_warmup = int(stats["warmup_integration_steps"].sum())
    diagnostics = {
        "step_size": stats["step_size"],
        "acceptance_rate": stats["acceptance_rate"].mean(axis=1),
        "n_divergences": stats["divergent"].sum(axis=1).astype(int),
        "n_divergences_warmup": stats["warmup_divergences"].astype(int),
        "mean_integration_steps": stats["integration_steps"].mean(axis=1),
        "n_gradient_evaluations": n_grad_samples + n_grad_warmup,
        "n_gradient_evaluations_sampling": n_grad_samples,
        "n_gradient_evaluations_warmup": n_grad_warmup,
        "wall_time": wall,
        "compile_time": compile_time,
        "gradient_evaluations_per_second": (n_grad_samples + n_grad_warmup) / wall,
        "target_acceptance_rate": target,
        "max_num_doublings": doublings,
    }
    return PosteriorSamples(
        weights=params[:-1],
        readout=params[-1],
        prior=prior,
        diagnostics=diagnostics,
        log_density=stats["log_density"],
    )


# --- the draws ----------------------------------------------------------------------------------


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
        X_test = _check_design(X_test)
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


# --- diagnostics --------------------------------------------------------------------------------


def _check_draws(draws) -> np.ndarray:
    arr = np.asarray(draws, dtype=np.float64)
    if arr.ndim < 2 or arr.shape[1] < 4:
        raise ValueError(f"draws must have shape (n_chains, n_draws >= 4, ...), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("draws contain non-finite values")
    return arr


def r_hat(draws: np.ndarray) -> np.ndarray:
    """Rank-normalised split-R-hat (Vehtari et al. 2021; BlackJAX's ``diagnostics.rhat``) of
    ``(n_chains, n_draws, ...)`` draws: one value per trailing index. Close to 1 at convergence;
    a common threshold is 1.01 (Vehtari et al.) or, looser, 1.05."""
    _jax()
    from blackjax.diagnostics import rhat

    return np.asarray(rhat(_check_draws(draws), chain_axis=0, sample_axis=1))


def effective_sample_size(draws: np.ndarray) -> np.ndarray:
    """Multi-chain effective sample size (Geyer's initial monotone sequence; BlackJAX's
    ``diagnostics.effective_sample_size``) of ``(n_chains, n_draws, ...)`` draws."""
    _jax()
    from blackjax.diagnostics import effective_sample_size as ess

    return np.asarray(ess(_check_draws(draws), chain_axis=0, sample_axis=1))


def concatenate_chains(runs: Sequence[PosteriorSamples]) -> PosteriorSamples:
    """The chains of several :func:`sample_posterior` runs of the SAME prior and draw count as one
    :class:`PosteriorSamples` (e.g. chains started at the teacher and from the prior, to compare
    them with :func:`r_hat`). Per-chain diagnostics are concatenated, counts and times added."""
    runs = list(runs)
    if not runs or not all(isinstance(r, PosteriorSamples) for r in runs):
        raise ValueError("runs must be a non-empty sequence of PosteriorSamples")
    if any(r.prior != runs[0].prior or r.n_samples != runs[0].n_samples for r in runs):
        raise ValueError("runs must share the prior and the number of draws per chain")
    diagnostics = {}
    for key, value in runs[0].diagnostics.items():
        values = [r.diagnostics[key] for r in runs]
        if isinstance(value, np.ndarray):
            diagnostics[key] = np.concatenate(values)
        elif key.startswith("n_") or key in ("wall_time", "compile_time"):
            diagnostics[key] = sum(values)
        else:
            diagnostics[key] = value
    rate = diagnostics["n_gradient_evaluations"] / diagnostics["wall_time"]
    diagnostics["gradient_evaluations_per_second"] = rate
    return PosteriorSamples(
        weights=tuple(np.concatenate([r.weights[k] for r in runs]) for k in range(runs[0].prior.depth)),
        readout=np.concatenate([r.readout for r in runs]),
        prior=runs[0].prior,
        diagnostics=diagnostics,
        log_density=np.concatenate([r.log_density for r in runs]),
    )


# --- Chapter 5's experiment: the deep posterior against the equivalent GLM ------------------------

#: Test inputs on which R-hat and ESS of the predictions are computed (the first ones of the
#: test set): enough to see a non-mixing direction, few enough that the maximum of R-hat over
#: them is not dominated by the chance fluctuations of many near-independent statistics.
N_DIAGNOSTIC_INPUTS = 20


def bayes_instance(
    widths: Sequence[int],
    activation: str,
    alpha: float,
    noise: float,
    rng: np.random.Generator,
    *,
    gain: float = 1.0,
    n_test: int = 2000,
    n_warmup: int = 500,
    n_samples: int = 500,
    **sampler_options,
) -> dict[str, float]:
    """One teacher of Camilli et al.'s model (``rho = 1``, ``eps = 0``, regression with label
    noise ``Delta = noise``), ``n = round(alpha d_0)`` samples, and its Bayes posterior sampled
    with the teacher's own prior and likelihood (the Bayes-optimal setting, SCIENCE.md section 1).

    Two chains: one started AT the teacher (by the Nishimori property a posterior sample), one
    from a prior draw. Returns, with ``f_t`` the teacher's noiseless output and ``<f>`` the
    posterior mean (errors against the noiseless ``f_t``, plus ``Delta``: the same expectation
    over the label noise, with less variance):

    * ``posterior_error`` = ``mean_test (f_t - <f>)^2 + Delta``, the Bayes test error of Theorem 4;
    * ``ridge_error``: the same for ridge on ``X^0`` at ``lam* = (gamma0 + Delta)/kappa``;
    * ``glm_error``: the equivalent GLM's Bayes error ``kappa (1 - q*) + gamma0 + Delta``
      (closed form, :func:`deepgep.state_evolution.gaussian_closed_form`) and ``glm_q`` (``q*``);
    * ``overlap_teacher`` = ``mean_test <f> f_t`` and ``overlap_samples`` = ``mean_test
      fbar_1 fbar_2`` (the product of the two chains' means: unbiased for ``<f>^2``). Nishimori:
      equal in expectation; both tend to ``kappa q*`` (the function-space overlap, the identifiable
      counterpart of the readout overlap ``q`` of the GLM);
    * ``r_hat_max`` over the predictions at :data:`N_DIAGNOSTIC_INPUTS` test inputs and the
      training error; ``ess_min`` (the smallest ESS among them); divergences, acceptance, step
      sizes, gradient evaluations and their rate.
    """
    widths = _check_widths(widths)
    alpha = check_alpha(alpha)
    noise = _positive("noise", noise)
    n = max(1, int(round(alpha * widths[0])))
    data = deep_teacher_sample(widths, activation, n, rng, gain=gain, noise=noise, n_test=n_test)
    prior = NetworkPrior(widths, activation, noise, gain=gain)
    teacher = data.teacher.network.weights + (data.teacher.readout,)
    kw = dict(n_chains=1, n_warmup=n_warmup, n_samples=n_samples, **sampler_options)
    runs = [sample_posterior(data.X, data.y, prior, rng, init=start, **kw) for start in (teacher, "prior")]
    s = concatenate_chains(runs)

    f = s.predict(data.X_test)
    f_t = data.preactivation_test
    chain_means = f.mean(axis=1)
    f_mean = chain_means.mean(axis=0)
    glm = equivalent_glm(layer_coefficients(activation, len(widths) - 1, gain=gain))
    closed = gaussian_closed_form(glm.kappa, glm.gamma0 + noise, alpha)
    w = ridge(data.X, data.y, bayes_ridge_lambda(glm.eta0, glm.gamma0, noise))
    ridge_pred = data.X_test @ w / math.sqrt(widths[0])

    f_train = s.predict(data.X)
    train_error = np.mean((data.y - f_train) ** 2, axis=2)
    watched = np.concatenate([f[:, :, :N_DIAGNOSTIC_INPUTS], train_error[:, :, None]], axis=2)
    d = s.diagnostics
    return {
        "n": n,
        "posterior_error": float(np.mean((f_t - f_mean) ** 2)) + noise,
        "ridge_error": float(np.mean((f_t - ridge_pred) ** 2)) + noise,
        "glm_error": closed["test_error"],
        "glm_q": closed["q"],
        "kappa": glm.kappa,
        "overlap_teacher": float(np.mean(f_mean * f_t)),
        "overlap_samples": float(np.mean(chain_means[0] * chain_means[1])),
        "r_hat_max": float(np.max(r_hat(watched))),
        "ess_min": float(np.min(effective_sample_size(watched))),
        "divergences": int(np.sum(d["n_divergences"])),
        "acceptance_rate": float(np.mean(d["acceptance_rate"])),
        "step_size": float(np.mean(d["step_size"])),
        "mean_integration_steps": float(np.mean(d["mean_integration_steps"])),
        "gradient_evaluations": int(d["n_gradient_evaluations"]),
        "gradient_evaluations_per_second": float(d["gradient_evaluations_per_second"]),
    }


def bayes_scan(
    depths: Sequence[int],
    d0s: Sequence[int],
    alphas: Sequence[float],
    n_teachers: int,
    activation: str,
    noise: float,
    rng: np.random.Generator,
    *,
    gain: float = 1.0,
    progress: bool = False,
    **instance_options,
) -> dict[str, np.ndarray]:
    """:func:`bayes_instance` for every depth ``L``, input width ``d_0`` (all widths equal to
    ``d_0``), ``alpha`` and ``n_teachers`` teachers. Returns columns (one row per instance):
    ``depth``, ``d0``, ``alpha``, ``teacher`` and every key of :func:`bayes_instance`.

    The teachers draw from independent child generators of ``rng`` (one per instance, in the
    loop order depth, d0, alpha, teacher), so an instance does not depend on the others."""
    rng = _check_generator(rng)
    n_teachers = _check_int("n_teachers", n_teachers, 1)
    grid = [(L, d0, a, t) for L in depths for d0 in d0s for a in alphas for t in range(n_teachers)]
    children = rng.spawn(len(grid))
    rows = []
    for (L, d0, a, t), child in tqdm(list(zip(grid, children)), desc="instances", disable=not progress):
        L = _check_int("depth", L, 1)
        row = bayes_instance((int(d0),) * (L + 1), activation, a, noise, child, gain=gain, **instance_options)
        rows.append({"depth": L, "d0": int(d0), "alpha": float(a), "teacher": t, **row})
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def summarise_scan(scan: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Means over teachers and their standard errors (``std / sqrt(n_teachers)``, ddof 1) per
    ``(depth, d0, alpha)``: ``posterior_error``, ``ridge_error``, the paired gap
    ``ridge_error - posterior_error``, ``nishimori`` = ``overlap_teacher - overlap_samples``,
    ``overlap_teacher``, ``overlap_samples``; plus ``glm_error``, ``glm_q``, ``kappa`` and the worst
    ``r_hat_max`` and ``ess_min`` over the teachers."""
    keys = np.stack([scan["depth"], scan["d0"], scan["alpha"]], axis=1)
    groups = sorted({tuple(k) for k in keys})
    derived = {
        "gap": scan["ridge_error"] - scan["posterior_error"],
        "nishimori": scan["overlap_teacher"] - scan["overlap_samples"],
        "posterior_error": scan["posterior_error"],
        "ridge_error": scan["ridge_error"],
        "overlap_teacher": scan["overlap_teacher"],
        "overlap_samples": scan["overlap_samples"],
    }
    out: dict[str, list] = {k: [] for k in ("depth", "d0", "alpha", "n_teachers")}
    for g in groups:
        mask = np.all(keys == np.array(g), axis=1)
        m = int(mask.sum())
        out["depth"].append(int(g[0]))
        out["d0"].append(int(g[1]))
        out["alpha"].append(float(g[2]))
        out["n_teachers"].append(m)
        for name, v in derived.items():
            out.setdefault(name, []).append(float(np.mean(v[mask])))
            se = float(np.std(v[mask], ddof=1) / math.sqrt(m)) if m > 1 else float("nan")
            out.setdefault(name + "_se", []).append(se)
        for name in ("glm_error", "glm_q", "kappa"):
            out.setdefault(name, []).append(float(scan[name][mask][0]))
        out.setdefault("r_hat_max", []).append(float(np.max(scan["r_hat_max"][mask])))
        out.setdefault("ess_min", []).append(float(np.min(scan["ess_min"][mask])))
    return {k: np.array(v) for k, v in out.items()}


def pooled_mean(values: np.ndarray) -> tuple[float, float]:
    """Mean of independent per-instance values and its standard error (``std / sqrt(m)``, ddof 1)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size < 2 or not np.all(np.isfinite(v)):
        raise ValueError(f"need at least two finite values, got {v.size}")
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


def gap_extrapolation(summary: dict[str, np.ndarray], depth: int, alpha: float) -> Extrapolation:
    """Weighted fit ``gap(d0) = limit + slope / d0`` of the paired gap ``ridge - posterior`` over
    the input widths of one ``(depth, alpha)`` of :func:`summarise_scan`
    (:func:`deepgep.fitting.inverse_size_extrapolation`; at least three widths)."""
    mask = (summary["depth"] == depth) & np.isclose(summary["alpha"], alpha)
    return inverse_size_extrapolation(summary["d0"][mask], summary["gap"][mask], summary["gap_se"][mask])

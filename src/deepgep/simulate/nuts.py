"""NUTS sampling of the deep network's posterior (:mod:`deepgep.simulate.posterior`) with
BlackJAX, and the convergence diagnostics of the draws.

BlackJAX's NUTS (multinomial, iterative; Hoffman & Gelman 2014) on JAX (CPU, float64) after
Stan-style window adaptation of the step size and of a diagonal mass matrix, in whitened
coordinates (prior ``N(0, I)``). One compiled program per ``(widths, activation, gain, n,
n_warmup, n_samples, sampler options)`` is kept and reused for every chain and every data set of
the same shapes. Diagnostics (:func:`r_hat`, :func:`effective_sample_size`) are BlackJAX's
rank-normalised split-R-hat (Vehtari et al. 2021) and its multi-chain ESS, meant for
identifiable quantities: predictions, the training loss, function-space overlaps.
:func:`inference_data` gives those quantities and the sampler's statistics as an ArviZ
``InferenceData`` (extra ``[sampling]``), for ``arviz.summary``, ``arviz.plot_trace`` and the
rest of the ArviZ toolbox.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from deepgep.simulate.posterior import (NetworkPrior, PosteriorSamples, check_parameters, flatten,
                                        log_density_function, unflatten)
from deepgep.support.backends import jax_float64
from deepgep.support.validation import check_count, check_design, check_generator, check_vector
from deepgep.version import VERSION

__all__ = ["DEFAULT_TARGET_ACCEPTANCE", "DEFAULT_MAX_DOUBLINGS", "MIN_WARMUP", "SAMPLER_OPTIONS",
           "SamplingError", "sample_posterior", "r_hat", "effective_sample_size",
           "concatenate_chains", "inference_data"]
#: Stan's default target acceptance rate of the step-size adaptation (Hoffman & Gelman 2014).
DEFAULT_TARGET_ACCEPTANCE = 0.8

#: NUTS trajectories are at most ``2**max_num_doublings`` leapfrog steps (BlackJAX default 10).
DEFAULT_MAX_DOUBLINGS = 10

#: Fewest warm-up steps: Stan's window schedule needs an initial fast window (75 in Stan) to be
#: meaningful; below ~20 steps the adapted step size is a guess.
MIN_WARMUP = 20

#: Recognised ``**sampler_options`` of :func:`sample_posterior`.
SAMPLER_OPTIONS = ("target_acceptance_rate", "max_num_doublings", "vectorize")


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
    jax = jax_float64()
    jnp = jax.numpy
    import blackjax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    log_density, _ = log_density_function(widths, activation, gain)
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
    jax = jax_float64()
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


def _initial_positions(init, prior: NetworkPrior, n_chains: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(init, str):
        if init.strip().lower() != "prior":
            raise ValueError(f"init must be 'prior' or a sequence (W^1, ..., W^L, a), got {init!r}")
        return rng.standard_normal((n_chains, prior.n_parameters))
    u0 = flatten(check_parameters(init, prior), prior)
    return np.tile(u0, (n_chains, 1))


def _sampler_options(options: dict) -> tuple[float, int, bool]:
    unknown = sorted(set(options) - set(SAMPLER_OPTIONS))
    if unknown:
        raise ValueError(f"unknown sampler option(s) {unknown}; known: {', '.join(SAMPLER_OPTIONS)}")
    target = float(options.get("target_acceptance_rate", DEFAULT_TARGET_ACCEPTANCE))
    if not 0.0 < target < 1.0:
        raise ValueError(f"target_acceptance_rate must be in (0, 1), got {target!r}")
    doublings = check_count("max_num_doublings", options.get("max_num_doublings", DEFAULT_MAX_DOUBLINGS), 1)
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

    ``diagnostics`` holds per chain ``step_size``, ``acceptance_rate`` (mean), ``n_divergences``,
    ``n_divergences_warmup``, ``mean_integration_steps``; per draw (``n_chains x n_samples``)
    ``divergent``, ``acceptance_rate_per_draw`` and ``integration_steps``; and the totals
    (gradient evaluations, wall and compilation times, the sampler's settings).

    Raises ``ValueError`` on bad input and :class:`SamplingError` on non-finite draws.
    """
    if not isinstance(prior, NetworkPrior):
        raise ValueError(f"prior must be a NetworkPrior, got {type(prior).__name__}")
    rng = check_generator(rng)
    X = check_design(X)
    if X.shape[1] != prior.widths[0]:
        raise ValueError(f"X must have shape (n, {prior.widths[0]}) = (n, d_0), got {X.shape}")
    y = check_vector("y", y, X.shape[0], "one label per row")
    n_chains = check_count("n_chains", n_chains, 1)
    n_warmup = check_count("n_warmup", n_warmup, MIN_WARMUP)
    n_samples = check_count("n_samples", n_samples, 1)
    target, doublings, vectorize = _sampler_options(sampler_options)

    u0 = _initial_positions(init, prior, n_chains, rng)
    seeds = rng.integers(0, 2**32, size=n_chains)
    jax = jax_float64()
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

    params = unflatten(positions, prior)
    n_grad_samples = int(stats["integration_steps"].sum())
    n_grad_warmup = int(stats["warmup_integration_steps"].sum())
    diagnostics = {
        "step_size": stats["step_size"],
        "acceptance_rate": stats["acceptance_rate"].mean(axis=1),
        "n_divergences": stats["divergent"].sum(axis=1).astype(int),
        "n_divergences_warmup": stats["warmup_divergences"].astype(int),
        "mean_integration_steps": stats["integration_steps"].mean(axis=1),
        "divergent": stats["divergent"].astype(bool),
        "acceptance_rate_per_draw": stats["acceptance_rate"].astype(np.float64),
        "integration_steps": stats["integration_steps"].astype(np.int64),
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
    jax_float64()
    from blackjax.diagnostics import rhat

    return np.asarray(rhat(_check_draws(draws), chain_axis=0, sample_axis=1))


def effective_sample_size(draws: np.ndarray) -> np.ndarray:
    """Multi-chain effective sample size (Geyer's initial monotone sequence; BlackJAX's
    ``diagnostics.effective_sample_size``) of ``(n_chains, n_draws, ...)`` draws."""
    jax_float64()
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


def inference_data(samples: PosteriorSamples, X_test: np.ndarray | None = None, X: np.ndarray | None = None,
                   y: np.ndarray | None = None):
    """The draws of :func:`sample_posterior` as an ``arviz.InferenceData``, chains as ArviZ's
    chains.

    Only identifiable quantities are posterior variables (the weights are not: permuting the
    hidden units, or flipping their signs for an odd activation, leaves the network unchanged):
    ``prediction`` (``chain, draw, test_point``), ``f(x)`` on the rows of ``X_test``, and
    ``training_loss`` (``chain, draw``), the mean squared error ``mean_mu (y_mu - f(x_mu))^2``
    on the training set ``(X, y)``, which is also stored (``observed_data.y``,
    ``constant_data.X``). ``sample_stats``: ``lp`` (the unnormalised log posterior), ``diverging``,
    ``acceptance_rate``, ``n_steps`` (leapfrog steps) and ``step_size`` (the adapted one of each
    chain, repeated on its draws); those per draw need a run that recorded them (this version's
    :func:`sample_posterior`). ``attrs``: the prior, the sampler and deepgep's version.

    ``arviz`` is imported here (``import deepgep`` imports this module and must not import ArviZ,
    which takes seconds). Raises ``ValueError`` without ``X_test`` or ``(X, y)``, or on arrays of
    the wrong shape.
    """
    import arviz  # the [sampling] extra; see the docstring

    if not isinstance(samples, PosteriorSamples):
        raise ValueError(f"samples must be PosteriorSamples, got {type(samples).__name__}")
    if X_test is None and X is None:
        raise ValueError("give X_test (predictions) and/or the training set X, y (training loss)")
    posterior, observed, constant = {}, {}, {}
    if X_test is not None:
        posterior["prediction"] = samples.predict(X_test)
    if X is not None or y is not None:
        if X is None or y is None:
            raise ValueError("the training loss needs both X and y")
        X = check_design(X)
        y = check_vector("y", y, X.shape[0], "one label per row of X")
        posterior["training_loss"] = np.mean((y - samples.predict(X)) ** 2, axis=2)
        observed["y"], constant["X"] = y, X
    d, shape = samples.diagnostics, (samples.n_chains, samples.n_samples)
    stats = {"lp": samples.log_density}
    for name, key in (("diverging", "divergent"), ("acceptance_rate", "acceptance_rate_per_draw"),
                      ("n_steps", "integration_steps")):
        if key in d:
            stats[name] = np.asarray(d[key])
    if "step_size" in d:
        stats["step_size"] = np.broadcast_to(np.asarray(d["step_size"], dtype=np.float64)[:, None], shape).copy()
    prior = samples.prior
    attrs = {"inference_library": "blackjax", "sampler": "NUTS with window adaptation", "deepgep_version": VERSION,
             "widths": list(prior.widths), "activation": str(prior.activation), "gain": float(prior.gain),
             "noise": float(prior.noise)}
    return arviz.from_dict(
        posterior=posterior, sample_stats={k: v for k, v in stats.items() if v is not None},
        observed_data=observed or None, constant_data=constant or None,
        coords={"test_point": np.arange(posterior["prediction"].shape[2])} if "prediction" in posterior else None,
        dims={"prediction": ["test_point"], "y": ["sample"], "X": ["sample", "input"]}, attrs=dict(attrs),
        posterior_attrs=dict(attrs), sample_stats_attrs=dict(attrs),
    )

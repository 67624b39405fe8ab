"""Benchmark of the log-posterior gradient that drives Chapter 5's NUTS sampler.

deepgep.simulate.posterior: the log-posterior (*) of a deep network (all W^l and a unknown, Gaussian
priors, Gaussian likelihood) of widths (d0, d0, d0), phi = tanh(2x), n = 2 d0 samples, at
d0 = 60 (``--quick``: d0 = 30). Three rates, in gradient evaluations per second, measured in the
same run, interleaved, best of several repeats:

* numpy: the hand-written backpropagation ``numpy_log_posterior_and_gradient`` (BLAS matrix
  products over the whole batch), the plain baseline;
* JAX call: the jit-compiled ``jax.value_and_grad`` called from Python once per evaluation (so
  it pays the dispatch cost of one call);
* JAX in NUTS: ``sample_posterior`` (one chain), leapfrog steps (one gradient each) divided by
  the sampling time (compilation excluded) - the rate that matters for the chapter.

Expectation: JAX in NUTS at least as fast as numpy (ratio >= 1, printed PASS/FAIL). Exit status
1 if the two gradients disagree (max relative difference > 1e-10), or with ``--strict`` if the
ratio fails.

Usage: python benchmarks/bench_posterior.py [--quick] [--strict]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "_build" / "numba_cache"))

import numpy as np  # noqa: E402

from deepgep.simulate.teachers import deep_teacher_sample  # noqa: E402
from deepgep.simulate.nuts import sample_posterior
from deepgep.simulate.posterior import (
    NetworkPrior,
    jax_gradient_function,
    numpy_log_posterior_and_gradient,
)

EXPECTED_RATIO = 1.0
#: Largest admissible relative difference between the JAX and numpy gradients (float64 round-off
#: of sums over ~10^4 terms is ~1e-14).
AGREEMENT = 1e-10
DELTA, GAIN = 0.1, 2.0


def _rate(func, count: int, repeat: int) -> float:
    """Best evaluations per second of ``count`` calls of ``func``, over ``repeat`` blocks."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(count):
            func()
        best = min(best, time.perf_counter() - t0)
    return count / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d0 = 30 instead of 60")
    parser.add_argument("--strict", action="store_true", help="exit 1 if the ratio is below 1")
    args = parser.parse_args(argv)
    d0 = 30 if args.quick else 60
    widths, n = (d0, d0, d0), 2 * d0
    count, repeat = (200, 5) if args.quick else (100, 5)
    n_warmup, n_samples = (50, 50) if args.quick else (100, 100)

    rng = np.random.default_rng(2025)
    data = deep_teacher_sample(widths, "tanh", n, rng, gain=GAIN, noise=DELTA)
    prior = NetworkPrior(widths, "tanh", DELTA, gain=GAIN)
    params = prior.sample(rng)
    fn, flatten = jax_gradient_function(prior)
    u, scales = flatten(params), prior.scales()

    value_np, grads_np = numpy_log_posterior_and_gradient(params, data.X, data.y, prior)
    value_jax, grad_u = fn(u, data.X, data.y, scales, DELTA)  # compiles
    grad_jax = np.asarray(grad_u) / np.repeat(scales, [g.size for g in grads_np])
    grad_flat = np.concatenate([g.ravel() for g in grads_np])
    diff = float(np.max(np.abs(grad_jax - grad_flat)) / np.max(np.abs(grad_flat)))

    def numpy_gradient():
        numpy_log_posterior_and_gradient(params, data.X, data.y, prior)

    def jax_gradient():
        fn(u, data.X, data.y, scales, DELTA)[1].block_until_ready()

    rate_np, rate_jax = [], []
    for _ in range(2):  # interleaved, so that machine load hits both alike
        rate_np.append(_rate(numpy_gradient, count, repeat))
        rate_jax.append(_rate(jax_gradient, count, repeat))
    run = sample_posterior(data.X, data.y, prior, np.random.default_rng(1), n_chains=1,
                           n_warmup=n_warmup, n_samples=n_samples)
    d = run.diagnostics
    rate_nuts = d["gradient_evaluations_per_second"]
    ratio = rate_nuts / max(rate_np)

    print(f"== log-posterior gradient: widths {widths}, tanh(2x), n = {n}, "
          f"{prior.n_parameters} parameters ==")
    print(f"cpu count {os.cpu_count()}")
    print(f"numpy backprop:             {max(rate_np):10.0f} gradient evaluations/s (best of {repeat} x {count})")
    print(f"JAX jit, one call each:     {max(rate_jax):10.0f} gradient evaluations/s (best of {repeat} x {count})")
    print(f"JAX inside NUTS:            {rate_nuts:10.0f} gradient evaluations/s "
          f"({d['n_gradient_evaluations']} evaluations in {d['wall_time']:.2f} s; compilation "
          f"{d['compile_time']:.1f} s excluded)")
    print(f"ratio JAX call / numpy: {max(rate_jax) / max(rate_np):.2f}")
    ok = ratio >= EXPECTED_RATIO
    print(f"ratio JAX in NUTS / numpy: {ratio:.2f} [{'PASS' if ok else 'FAIL'}: expected >= {EXPECTED_RATIO}]")
    sane = diff <= AGREEMENT and np.isclose(float(value_jax), value_np, rtol=1e-12)
    print(f"sanity: max relative |JAX - numpy| gradient difference {diff:.1e} (must be <= {AGREEMENT:.0e}): "
          f"{'ok' if sane else 'WRONG'}")
    if not sane:
        return 1
    return 1 if (args.strict and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())

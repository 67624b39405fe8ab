"""Benchmark of the SMC evidence estimator of the deep network (deepgep.simulate.evidence).

Teacher tanh(2x), Delta = 0.1, one hidden layer of width d0, n = 2 d0, at d0 = 16, 32, 48
(``--quick``: 16). For each size, in the same run and in CPU seconds (``time.process_time``,
so that a back end using several threads is charged for all of them):

* the estimator: one ``tempered_smc`` run of 128 particles (defaults: ESS fraction 0.9, two
  split-HMC moves per temperature); its throughput in particles x temperatures per second and in
  likelihood+gradient evaluations per second;
* the plain baseline: a Python loop over 64 prior particles, each evaluated one by one by the
  textbook route, ``forward`` then ``linear_log_partition`` on its features (the value only, no
  gradient: less work than the estimator does per evaluation);
* the other back end: the same marginal likelihood in JAX, ``jit(vmap(value_and_grad))`` over
  the 128 particles (compilation excluded, one intra-op thread), the evaluation BlackJAX's
  tempered SMC would run; with ``--blackjax`` also a whole BlackJAX ``adaptive_tempered_smc``
  run (HMC kernel, the step size and leapfrog count the numpy run adapted, same ESS target).

Expectation: estimator evaluations per second / baseline evaluations per second >= 3 at every
size (printed PASS/FAIL). The numpy / JAX ratio is printed, not asserted: measured at d0 = 16 on
the book's 2-core machine it is 0.54 (JAX's compiled gradient is faster per evaluation); the
library keeps its numpy SMC because it needs no compilation per shape (the sweeps' instances have
many different n and widths). Exit status 1 if the batched values disagree
with the baseline's (max |difference| > 1e-9) or the SMC result is not finite, or with
``--strict`` if a ratio fails.

Usage: python benchmarks/bench_evidence.py [--quick] [--strict] [--blackjax]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "_build" / "numba_cache"))
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from deepgep.simulate.evidence import deep_likelihood, tempered_smc  # noqa: E402
from deepgep.simulate.networks import DeepNetwork, forward  # noqa: E402
from deepgep.simulate.teachers import deep_teacher_sample  # noqa: E402
from deepgep.support.backends import jax_float64  # noqa: E402
from deepgep.theory.activations import jax_activation  # noqa: E402
from deepgep.theory.glm import linear_log_partition  # noqa: E402

DELTA, GAIN, PARTICLES, BASELINE_PARTICLES = 0.1, 2.0, 128, 64
EXPECTED_RATIO = 3.0
#: Largest admissible |batched - baseline| log-likelihood (round-off of sums of ~10^3 terms).
AGREEMENT = 1e-9


def _cpu(func) -> float:
    t0 = time.process_time()
    func()
    return time.process_time() - t0


def _jax_value_and_grad(X: np.ndarray, y: np.ndarray, widths: tuple[int, ...]):
    """The marginal likelihood of deepgep.simulate.evidence in JAX, jit(vmap(value_and_grad))."""
    jax = jax_float64()
    jnp = jax.numpy
    phi = jax_activation("tanh", GAIN)
    n, m = X.shape[0], widths[-1]
    shapes = [(widths[k], widths[k - 1]) for k in range(1, len(widths))]

    def loglik(u):
        h, start = X, 0
        for shape in shapes:
            W = u[start:start + shape[0] * shape[1]].reshape(shape)
            start += shape[0] * shape[1]
            h = phi(h @ W.T / math.sqrt(shape[1]))
        B = h / math.sqrt(m)
        M = DELTA * jnp.eye(m) + B.T @ B
        chol = jnp.linalg.cholesky(M)
        mu = jax.scipy.linalg.cho_solve((chol, True), B.T @ y)
        r = y - B @ mu
        logdet = (n - m) * math.log(DELTA) + 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
        return -0.5 * (n * math.log(2 * math.pi) + logdet + r @ r / DELTA + mu @ mu)

    return jax, jax.jit(jax.vmap(jax.value_and_grad(loglik))), loglik


def _blackjax_runner(jax, loglik, dim: int, step: float, n_leapfrog: int):
    """A function ``seed -> (ln Z-hat, temperatures)`` running BlackJAX's adaptive tempered SMC
    (HMC moves, fixed step size and leapfrog count, ESS target 0.9); its step is jitted once."""
    import blackjax
    from blackjax.smc import resampling

    jnp = jax.numpy
    smc = blackjax.adaptive_tempered_smc(
        lambda u: -0.5 * u @ u, loglik, blackjax.hmc.build_kernel(), blackjax.hmc.init,
        {"step_size": jnp.array([step]), "inverse_mass_matrix": jnp.ones((1, dim)),
         "num_integration_steps": jnp.array([n_leapfrog])},
        resampling.systematic, 0.9, num_mcmc_steps=1)
    step_fn = jax.jit(smc.step)

    def run(seed: int) -> tuple[float, int]:
        key = jax.random.PRNGKey(seed)
        state = smc.init(jax.random.normal(key, (PARTICLES, dim)))
        log_z, T = 0.0, 0
        while float(state.tempering_param) < 1.0:
            key, sub = jax.random.split(key)
            state, info = step_fn(sub, state)
            log_z += float(info.log_likelihood_increment)
            T += 1
        return log_z, T

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d0 = 16 only")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a ratio fails")
    parser.add_argument("--blackjax", action="store_true", help="also time a whole BlackJAX SMC run")
    args = parser.parse_args(argv)
    sizes = (16,) if args.quick else (16, 32, 48)
    print(f"== SMC evidence of the deep network: tanh({GAIN:g}x), Delta = {DELTA}, L = 1, n = 2 d0, "
          f"{PARTICLES} particles ==")
    print(f"cpu count {os.cpu_count()}; times are CPU seconds of this process, one BLAS thread")
    sane, ok = True, True
    for d0 in sizes:
        widths, n = (d0, d0), 2 * d0
        data = deep_teacher_sample(widths, "tanh", n, np.random.default_rng(2025), gain=GAIN, noise=DELTA)
        lik = deep_likelihood(data.X, data.y, widths, "tanh", DELTA, GAIN)
        U = np.random.default_rng(1).standard_normal((PARTICLES, lik.dim))
        with threadpool_limits(limits=1, user_api="blas"):
            run = tempered_smc(lik, PARTICLES, np.random.default_rng(3))
            smc_cpu = run.cpu_seconds
            batched = lik(U[:BASELINE_PARTICLES])
            baseline = np.empty(BASELINE_PARTICLES)

            def one_by_one():
                for i in range(BASELINE_PARTICLES):
                    net = DeepNetwork((U[i].reshape(d0, d0),), lik.activation)
                    (features,) = forward(net, data.X, keep_all=False)
                    baseline[i] = linear_log_partition(features, data.y, 1.0, DELTA)

            base_cpu = min(_cpu(one_by_one) for _ in range(3))
            batch_cpu = min(_cpu(lambda: lik(U, gradient=True)) for _ in range(5))
        jax, vg, loglik = _jax_value_and_grad(data.X, data.y, widths)
        vg(U)[1].block_until_ready()  # compiles
        jax_cpu = min(_cpu(lambda: vg(U)[1].block_until_ready()) for _ in range(5))

        diff = float(np.max(np.abs(batched - baseline)))
        sane &= diff <= AGREEMENT and math.isfinite(run.log_evidence)
        rate_smc = run.n_likelihood_evaluations / smc_cpu
        rate_base = BASELINE_PARTICLES / base_cpu
        per_pt = run.n_likelihood_evaluations / (PARTICLES * run.n_temperatures)
        ratio = rate_smc / rate_base
        ok &= ratio >= EXPECTED_RATIO
        print(f"-- d0 = {d0}, n = {n}, {lik.dim} inner weights: ln Z = {run.log_evidence:.3f}, "
              f"{run.n_temperatures} temperatures, {per_pt:.1f} evaluations per particle and temperature")
        print(f"estimator (tempered_smc):       {PARTICLES * run.n_temperatures / smc_cpu:10.0f} particles x temperatures/s, "
              f"{rate_smc:9.0f} value+gradient evaluations/s ({smc_cpu:.2f} s)")
        print(f"baseline (one by one, value):   {rate_base / per_pt:10.0f} particles x temperatures/s, "
              f"{rate_base:9.0f} value evaluations/s")
        print(f"ratio estimator / baseline at d0 = {d0}: {ratio:.1f} "
              f"[{'PASS' if ratio >= EXPECTED_RATIO else 'FAIL'}: expected >= {EXPECTED_RATIO:g}]")
        print(f"numpy batched value+gradient:   {PARTICLES / batch_cpu:9.0f} evaluations/s; JAX jit(vmap): "
              f"{PARTICLES / jax_cpu:9.0f} evaluations/s; ratio numpy / JAX: {jax_cpu / batch_cpu:.2f}")
        if args.blackjax:
            step, leap = float(np.median(run.step_sizes)), int(np.median(run.leapfrog_steps))
            blackjax_run = _blackjax_runner(jax, loglik, lik.dim, step, leap)
            blackjax_run(0)  # compiles
            t0 = time.process_time()
            log_z, T = blackjax_run(1)
            bj_cpu = time.process_time() - t0
            print(f"BlackJAX adaptive_tempered_smc (HMC, step {step:.3f}, {leap} leapfrogs): ln Z = {log_z:.3f}, "
                  f"{T} temperatures, {bj_cpu:.2f} s; ratio BlackJAX / numpy CPU time: {bj_cpu / smc_cpu:.2f}")
        print(f"sanity: max |batched - one by one| log-likelihood {diff:.1e} (must be <= {AGREEMENT:.0e}): "
              f"{'ok' if diff <= AGREEMENT else 'WRONG'}")
    if not sane:
        return 1
    return 1 if (args.strict and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())

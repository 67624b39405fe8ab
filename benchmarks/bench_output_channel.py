"""Benchmark of the general output channel (a script, not a test; `make bench` runs it).

Problem: ``deepgep bayes --activation tanh --gain 2 --depth 2 --channel tanh --noise 0.05 --alpha
0.1:20:100``, the reference deep model (kappa = eta0^2 = 0.409095, gamma0 = 0.152506, book
eq-composition) read out by y = tanh(z + sqrt(gamma0) xi) + sqrt(0.05) xi' (``--quick``: 10 alpha
points on the same range).

Timed in this run (compilation excluded: one warm-up call of each rule first):

* deepgep ``bayes_optimal_curve`` with ``OutputFunctionChannel("tanh", ...)``, the adaptive rule
  of :mod:`deepgep.theory.channels.output_function` (what the command line runs);
* baseline: the same curve with ``quadrature="reference"``, the fixed inner step 0.02 and the full
  zeta rule, i.e. the channel as it was before the adaptive rule (the "before" of the issue);
* one channel average (E[g_out^2] and Psi_out) with each rule, best of 20, at q = 0.5;
* the command itself, end to end in a fresh process (start-up, numba cache load, output), adaptive
  rule only (``--quick``: the 10-point grid).

Accuracy: the max relative difference in q between the two curves must be <= 1e-8 (exit 1
otherwise). Speed: ratio reference / adaptive with PASS/FAIL against 10x, and the command against
20 s (the issue's target), informational unless ``--strict`` (exit 1 on a FAIL).

Usage: python benchmarks/bench_output_channel.py [--quick] [--strict]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "_build" / "numba_cache"))

import numpy as np  # noqa: E402

from deepgep.theory.channels import OutputFunctionChannel  # noqa: E402
from deepgep.theory.layers import equivalent_glm, layer_coefficients  # noqa: E402
from deepgep.theory.state_evolution import bayes_optimal_curve  # noqa: E402

NOISE = 0.05
ALPHA_RANGE = (0.1, 20.0)
#: Largest admissible relative q difference between the rules.
AGREEMENT = 1e-8
EXPECTED_RATIO = 10.0
TARGET_SECONDS = 20.0


def best_time(func, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best


def command_seconds(n_points: int) -> float:
    """Wall time of the command line in a fresh process (warm numba cache)."""
    def command(grid: str) -> list[str]:
        return [sys.executable, "-m", "deepgep", "bayes", "--activation", "tanh", "--gain", "2", "--depth", "2",
                "--channel", "tanh", "--noise", str(NOISE), "--alpha", grid, "--format", "csv"]

    subprocess.run(command("1"), capture_output=True, check=True)  # the numba cache is written, if need be
    t0 = time.perf_counter()
    subprocess.run(command(f"{ALPHA_RANGE[0]}:{ALPHA_RANGE[1]}:{n_points}"), capture_output=True, check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 alpha points (smoke run)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a speed expectation fails")
    args = parser.parse_args(argv)
    n_points = 10 if args.quick else 100

    glm = equivalent_glm(layer_coefficients("tanh", 2, gain=2.0))
    kappa, gamma0 = glm.kappa, glm.gamma0
    alphas = np.linspace(*ALPHA_RANGE, n_points)
    fast = OutputFunctionChannel("tanh", gamma0, NOISE)
    reference = OutputFunctionChannel("tanh", gamma0, NOISE, quadrature="reference")
    print(f"== bayes, tanh channel of tanh(2x) L=2: kappa = {kappa:.6f}, gamma0 = {gamma0:.6f}, noise {NOISE}; "
          f"{n_points} alpha points in [{ALPHA_RANGE[0]:g}, {ALPHA_RANGE[1]:g}], tol 1e-10, one thread ==")

    for ch in (fast, reference):  # warm-up: loads the compiled kernels
        ch.psi_out(kappa, 0.5)
    t_avg_fast = best_time(lambda: fast.psi_out(kappa, 0.5), 20)
    t_avg_ref = best_time(lambda: reference.psi_out(kappa, 0.5), 5)
    print(f"one channel average: adaptive {t_avg_fast * 1e3:.2f} ms, reference {t_avg_ref * 1e3:.1f} ms "
          f"(ratio {t_avg_ref / t_avg_fast:.1f}x)")

    curves = {}

    def curve(channel, key):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            curves[key] = bayes_optimal_curve(channel, kappa, alphas)

    t_fast = best_time(lambda: curve(fast, "fast"), 1 if not args.quick else 3)
    t_ref = best_time(lambda: curve(reference, "reference"), 1)
    ratio = t_ref / t_fast
    print(f"deepgep bayes_optimal_curve, adaptive rule: {t_fast:8.2f} s")
    print(f"baseline, reference rule (before):           {t_ref:8.2f} s")
    diff = float(np.max(np.abs(curves["fast"]["q"] - curves["reference"]["q"]) / curves["reference"]["q"]))
    accurate = diff <= AGREEMENT
    print(f"max relative |q difference| adaptive vs reference: {diff:.1e} (must be <= {AGREEMENT:.0e}): "
          f"{'ok' if accurate else 'DISAGREE'}")
    fast_enough = ratio >= EXPECTED_RATIO
    print(f"speed ratio reference / adaptive: {ratio:.1f}x [{'PASS' if fast_enough else 'FAIL'}: expected >= "
          f"{EXPECTED_RATIO:.0f}x]")
    t_cmd = command_seconds(n_points)
    in_time = t_cmd <= TARGET_SECONDS
    print(f"deepgep bayes --channel tanh on {n_points} alpha points, end to end: {t_cmd:.2f} s "
          f"[{'PASS' if in_time else 'FAIL'}: target <= {TARGET_SECONDS:.0f} s]")
    if not accurate:
        return 1
    return 1 if (args.strict and not (fast_enough and in_time)) else 0


if __name__ == "__main__":
    sys.exit(main())

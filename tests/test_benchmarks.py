"""Smoke test of benchmarks/bench_hermite.py: the quick run completes and reports its numbers.

The speed verdict itself (PASS/FAIL against 50x) is informational and not asserted here: timing
on a shared machine is not a unit-test property. The accuracy checks inside the script are: the
default rule and the quad baseline must each be within 1e-14 of a 30-digit mpmath reference
(the baseline is the loosest quad tolerance that gets there, i.e. the same accuracy), and so
within 2e-14 of each other; they set the exit status.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_hermite.py"


def _run_quick(script: Path, timeout: float) -> str:
    """Run ``script --quick`` in a fresh process; its standard output (it must exit with 0)."""
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / "_build" / "numba_cache"))
    out = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_quick_benchmark_runs_and_reports():
    text = _run_quick(SCRIPT, timeout=120)
    ratio = re.search(r"speed ratio quad / numba: ([0-9.]+)x .*\[(PASS|FAIL): expected >= 50x\]", text)
    assert ratio, text
    assert float(ratio.group(1)) > 0
    diff = re.search(r"max \|numba - quad\| over sigma, rho, mu: ([0-9.e+-]+)", text)
    assert diff and float(diff.group(1)) < 2e-14, text
    default = re.search(r"default rule \(split Gauss-Legendre.*max error vs mpmath ([0-9.e+-]+)", text)
    assert default and float(default.group(1)) <= 1e-14, text
    baseline = re.search(r"baseline: quad at tol ([0-9.e+-]+), .*\(its error ([0-9.e+-]+)", text)
    assert baseline and float(baseline.group(2)) <= 1e-14, text
    # the table of quad tolerances includes scipy's default (the fastest candidate)
    assert re.search(r"tol 1\.49e-08: max error vs mpmath [0-9.e+-]+, +[0-9.]+ us", text), text
    assert re.search(r"compilation \(fresh process, empty numba cache\): [0-9.]+ s", text), text
    assert re.search(r"d = 1000, n = 2000, L = 3", text), text
    assert re.search(r"ratio forward / matmuls: [0-9.]+", text), text
    assert re.search(r"peak RSS of the child [0-9.]+ GB", text), text


POSTERIOR_SCRIPT = ROOT / "benchmarks" / "bench_posterior.py"


def test_quick_posterior_benchmark_runs_and_reports():
    text = _run_quick(POSTERIOR_SCRIPT, timeout=300)
    ratio = re.search(r"ratio JAX in NUTS / numpy: ([0-9.]+) \[(PASS|FAIL): expected >= 1\.0\]", text)
    assert ratio and float(ratio.group(1)) > 0, text
    rate = re.search(r"JAX inside NUTS:\s+([0-9]+) gradient evaluations/s", text)
    assert rate and int(rate.group(1)) > 0, text
    diff = re.search(r"max relative \|JAX - numpy\| gradient difference ([0-9.e+-]+)", text)
    assert diff and float(diff.group(1)) <= 1e-10, text


def test_sweeps_benchmark_reports_its_ratios():
    """benchmarks/bench_sweeps.py --quick: the nested-prefix task, L-BFGS and the 2-worker
    cluster are timed against their baselines in the same run, and the recorded CPU hours listed."""
    text = _run_quick(ROOT / "benchmarks" / "bench_sweeps.py", timeout=600)
    for pattern in (r"ratio old / new ([0-9.]+)x", r"ratio ([0-9.]+)x\n", r"speed-up ([0-9.]+)x",
                    r"all recorded sweeps: ([0-9.]+) CPU h"):
        match = re.search(pattern, text)
        assert match and float(match.group(1)) > 0, (pattern, text)


EVIDENCE_SCRIPT = ROOT / "benchmarks" / "bench_evidence.py"
CHANNEL_SCRIPT = ROOT / "benchmarks" / "bench_output_channel.py"


def test_quick_evidence_benchmark_runs_and_reports():
    """The SMC estimator's throughput against the one-by-one baseline, at d0 = 16 (its values
    must agree with the baseline's: the script exits 1 otherwise)."""
    text = _run_quick(EVIDENCE_SCRIPT, timeout=600)
    assert re.search(r"PASS|FAIL", text) and re.search(r"[0-9.]+x", text), text


def test_quick_output_channel_benchmark_runs_and_reports():
    """The compiled general output channel against the reference rule, on 10 alpha points (the
    agreement of their overlaps is checked by the script and sets its exit status)."""
    text = _run_quick(CHANNEL_SCRIPT, timeout=600)
    ratio = re.search(r"speed ratio reference / adaptive: ([0-9.]+)x", text)
    assert ratio and float(ratio.group(1)) > 0, text

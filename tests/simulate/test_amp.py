"""Tests of deepgep.simulate.amp: Bayes-optimal GAMP on finite instances against its state evolution.

Finite-size tolerances (the SE-vs-GAMP comparisons). State evolution is exact as
``d -> infinity`` at fixed iteration ``t``; on one instance the MSE fluctuates by ``O(1/sqrt(d))``
(at ``t = 0`` it is ``|a|^2 / d``, standard deviation ``sqrt(2/d) = 0.032`` at ``d = 2000``) and
its mean has an ``O(1/d)`` bias. The tests average ``SEEDS`` independent instances at
``d = 2000`` and require, at every iteration, ``|mean(mse_t) - (1 - q_t)| <= 3 SE_t + BIAS``
with ``SE_t`` the standard error of the mean over the seeds (the seeds are fixed, so the test is
deterministic). Measured once with 100 instances per setting at ``d = 2000`` (iterations 0-15):
per-instance standard deviations of ``mse_t - (1 - q_t)`` 0.007-0.031 (linear, alpha 2),
0.021-0.029 (sign, alpha 1), 0.012-0.031 (sign, alpha 3), largest at ``t = 0``; mean deviations
at most 0.0044 +- 0.0031 (t = 0) and 0.0025 +- 0.0014 (t >= 1, linear), 0.0007 +- 0.002 (sign,
alpha 1), 0.001 +- 0.0013 (sign, alpha 3): no bias resolved. With 400 instances at ``d = 500``
the mean deviations are 0.0013 +- 0.0007, 0.0038 +- 0.0023, 0.0009 +- 0.0014 (within 1.9
standard errors of zero): an ``O(1/d)`` bias, if any, is at most ~0.008 at ``d = 500`` (2 SE
bound), hence at most ~0.002 at ``d = 2000``. ``BIAS = 4/d = 0.002`` covers it, and is small
next to 3 SE (0.01-0.04 with the 6 seeds here).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepgep.simulate.amp import GAMPResult, gamp
from deepgep.theory.channels import GaussianChannel, OutputFunctionChannel, SignChannel
from deepgep.theory.state_evolution import state_evolution_trajectory

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_amp.py"

#: the book's tanh(2x) example: the sign channel of the equivalent GLM.
SIGN_NOISE, SIGN_KAPPA = 0.152506, 0.409095

D = 2000
SEEDS = 6
N_ITER = 12
#: Allowance for the O(1/d) bias of the finite-size mean (module docstring).
BIAS = 4.0 / D


def _instance(channel, eta0, n, d, rng):
    X = rng.standard_normal((n, d))
    a = rng.standard_normal(d)
    y = channel.sample(eta0 * (X @ a) / math.sqrt(d), rng)
    return X, y, a


# --- the linear channel: exact posterior mean ----------------------------------------------


def _ridge(X, y, eta0, noise):
    """Exact posterior mean of a under a ~ N(0, I), y = eta0 X a / sqrt(d) + sqrt(noise) xi."""
    d = X.shape[1]
    lam = noise / eta0**2  # ridge penalty on the a scale
    return np.linalg.solve(X.T @ X / d + lam * np.eye(d), X.T @ y / (eta0 * math.sqrt(d)))


def test_gaussian_channel_converges_to_exact_posterior_mean():
    rng = np.random.default_rng(11)
    d, n, eta0, noise = 300, 600, 0.8, 0.5
    channel = GaussianChannel(noise)
    X, y, a = _instance(channel, eta0, n, d, rng)
    res = gamp(X, y, channel, eta0, n_iter=500, tol=1e-13, teacher=a)
    assert isinstance(res, GAMPResult)
    assert res.converged and res.iterations < 500
    exact = _ridge(X, y, eta0, noise)
    assert np.max(np.abs(res.estimate - exact)) < 1e-6
    # the same fixed point with damping (slower; no SE prediction attached) and with X in
    # Fortran order (X.T @ u is then the C-ordered gemv)
    damped = gamp(X, y, channel, eta0, n_iter=2000, tol=1e-13, damping=0.5)
    assert damped.converged and damped.se_overlap is None
    assert np.max(np.abs(damped.estimate - exact)) < 1e-6
    fortran = gamp(np.asfortranarray(X), y, channel, eta0, n_iter=res.iterations, tol=0.0)
    assert np.max(np.abs(fortran.estimate - res.estimate)) < 1e-10
    # a strided (non-contiguous) view is accepted too
    wide = np.zeros((n, 2 * d))
    wide[:, ::2] = X
    strided = gamp(wide[:, ::2], y, channel, eta0, n_iter=res.iterations, tol=0.0)
    assert np.max(np.abs(strided.estimate - res.estimate)) < 1e-10
    # without a teacher, nothing teacher-dependent is reported
    assert fortran.mse is None and fortran.overlap is None
    assert fortran.self_overlap.shape == fortran.variances.shape == (res.iterations + 1,)


# --- GAMP follows state evolution ----------------------------------------------------------

SETTINGS = {
    "linear-alpha2": (GaussianChannel(0.25), 1.0, 2.0),
    "sign-alpha1": (SignChannel(SIGN_NOISE), math.sqrt(SIGN_KAPPA), 1.0),
    "sign-alpha3": (SignChannel(SIGN_NOISE), math.sqrt(SIGN_KAPPA), 3.0),
}


@pytest.fixture(scope="module")
def se_runs():
    """SEEDS instances per setting at d = D, N_ITER iterations each (tol = 0: no early stop).

    One design of 3 D rows per seed is shared by the settings (row slices are views); teachers
    and labels are drawn per setting."""
    out = {name: [] for name in SETTINGS}
    for seed in range(SEEDS):
        rng = np.random.default_rng(1000 + seed)
        X = rng.standard_normal((3 * D, D))
        for name, (channel, eta0, alpha) in SETTINGS.items():
            Xs = X[: int(alpha * D)]
            a = rng.standard_normal(D)
            y = channel.sample(eta0 * (Xs @ a) / math.sqrt(D), rng)
            out[name].append(gamp(Xs, y, channel, eta0, n_iter=N_ITER, tol=0.0, teacher=a))
    return out


@pytest.mark.parametrize("name", list(SETTINGS))
def test_gamp_mse_follows_state_evolution(se_runs, name):
    channel, eta0, alpha = SETTINGS[name]
    runs = se_runs[name]
    se = state_evolution_trajectory(channel, eta0**2, alpha, N_ITER)
    for r in runs:
        assert r.iterations == N_ITER and r.se_overlap.shape == (N_ITER + 1,)
        np.testing.assert_allclose(r.se_overlap, se, rtol=0, atol=1e-14)
    mse = np.array([r.mse for r in runs])  # seeds x (N_ITER + 1); entry t after t iterations
    mean = mse.mean(axis=0)
    sem = mse.std(axis=0, ddof=1) / math.sqrt(SEEDS)
    deviation = np.abs(mean - (1.0 - se))
    assert np.all(deviation <= 3.0 * sem + BIAS), (deviation, 3.0 * sem + BIAS)
    # the comparison resolves the index alignment: comparing entry t with q_{t+1} fails
    shifted = np.abs(mean[:3] - (1.0 - se[1:4]))
    assert np.any(shifted > 3.0 * sem[:3] + BIAS), shifted
    # GAMP's own variance v_t = 1/(1 + A_{t-1}) tracks 1 - q_t (per instance to O(1/sqrt(n)):
    # A is an average over the n outputs), and so do the overlap and the self-overlap
    for r in runs:
        assert r.variances[0] == 1.0 and r.self_overlap[0] == 0.0 and r.overlap[0] == 0.0
        np.testing.assert_allclose(r.variances, 1.0 - se, rtol=0, atol=0.02)
    for field in ("variances", "overlap", "self_overlap"):
        vals = np.array([getattr(r, field) for r in runs])
        if field == "variances":
            vals = 1.0 - vals
        dev = np.abs(vals.mean(axis=0) - se)
        sem_f = vals.std(axis=0, ddof=1) / math.sqrt(SEEDS)
        assert np.all(dev <= 3.0 * sem_f + BIAS), (field, dev, 3.0 * sem_f + BIAS)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_nishimori_at_convergence(se_runs, name):
    """Bayes-optimal estimator: overlap with the teacher = self-overlap = 1 - variance (up to
    O(1/sqrt(d)) per instance), and the MSE is |a|^2/d - overlap."""
    for r in se_runs[name]:
        m, q = r.overlap[-1], r.self_overlap[-1]
        assert abs(m - q) < 0.05, (m, q)  # per instance: fluctuation ~0.01 at d = 2000
        assert abs(q - (1.0 - r.variance)) < 0.05
        norm = r.mse[0]  # |a|^2 / d: the estimate starts at 0
        assert r.mse[-1] == pytest.approx(norm - 2 * m + q, abs=1e-12)
    m = np.array([r.overlap[-1] for r in se_runs[name]])
    q = np.array([r.self_overlap[-1] for r in se_runs[name]])
    diff = m - q
    assert abs(diff.mean()) <= 3.0 * diff.std(ddof=1) / math.sqrt(diff.size) + BIAS


def test_random_start_breaks_symmetry_and_still_converges():
    rng = np.random.default_rng(5)
    d, n = 400, 1200
    channel = SignChannel(SIGN_NOISE)
    eta0 = math.sqrt(SIGN_KAPPA)
    X, y, a = _instance(channel, eta0, n, d, rng)
    res = gamp(X, y, channel, eta0, n_iter=100, tol=1e-9, teacher=a, rng=np.random.default_rng(0))
    assert 0 < res.self_overlap[0] < 1e-5
    assert res.converged
    zero = gamp(X, y, channel, eta0, n_iter=100, tol=1e-9, teacher=a)
    assert np.max(np.abs(res.estimate - zero.estimate)) < 1e-6


# --- errors --------------------------------------------------------------------------------


def test_bad_inputs_raise():
    rng = np.random.default_rng(3)
    channel = GaussianChannel(0.5)
    X, y, a = _instance(channel, 1.0, 40, 20, rng)
    with pytest.raises(ValueError, match="y must have shape"):
        gamp(X, y[:-1], channel, 1.0)
    with pytest.raises(ValueError, match="teacher must have shape"):
        gamp(X, y, channel, 1.0, teacher=a[:-1])
    with pytest.raises(ValueError, match="2-d"):
        gamp(X[0], y, channel, 1.0)
    with pytest.raises(ValueError, match="2-d"):
        gamp(np.empty((0, 20)), y[:0], channel, 1.0)
    Xbad = X.copy()
    Xbad[3, 4] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        gamp(Xbad, y, channel, 1.0)
    Xbad[3, 4] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        gamp(Xbad, y, channel, 1.0)
    ybad = y.copy()
    ybad[0] = np.nan
    with pytest.raises(ValueError, match="y contains non-finite"):
        gamp(X, ybad, channel, 1.0)
    abad = a.copy()
    abad[0] = np.inf
    with pytest.raises(ValueError, match="teacher contains non-finite"):
        gamp(X, y, channel, 1.0, teacher=abad)
    for eta0 in (0.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="kappa"):
            gamp(X, y, channel, eta0)
    for kwargs in ({"n_iter": 0}, {"n_iter": 2.5}, {"damping": 1.0}, {"damping": -0.1},
                   {"tol": -1.0}, {"tol": np.nan}):
        with pytest.raises(ValueError):
            gamp(X, y, channel, 1.0, **kwargs)
    with pytest.raises(TypeError, match="g_out"):
        gamp(X, y, OutputFunctionChannel("tanh", 0.0, 0.1), 1.0)
    with pytest.raises(TypeError, match="Generator"):
        gamp(X, y, channel, 1.0, rng=0)


class _BrokenChannel:
    """A channel whose g_out turns non-finite: GAMP must raise, not return NaN."""

    def g_out(self, y, omega, V):
        return np.full_like(omega, np.nan), -np.ones_like(omega)

    def mean_g_out_squared(self, kappa, q):
        return 1.0


class _WrongSignChannel(_BrokenChannel):
    def g_out(self, y, omega, V):
        return y - omega, np.full_like(omega, np.nan)


def test_non_finite_iterates_raise():
    rng = np.random.default_rng(4)
    X, y, _ = _instance(GaussianChannel(0.5), 1.0, 40, 20, rng)
    with pytest.raises(FloatingPointError, match="non-finite estimate at iteration 1"):
        gamp(X, y, _BrokenChannel(), 1.0)
    with pytest.raises(FloatingPointError, match="input precision"):
        gamp(X, y, _WrongSignChannel(), 1.0)


# --- benchmark smoke test ------------------------------------------------------------------


def test_quick_benchmark_runs_and_reports_ratio():
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / "_build" / "numba_cache"))
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True,
                         timeout=120, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    ratio = re.search(r"ratio GAMP iteration / two matvecs: ([0-9.]+) \[(PASS|FAIL): expected <= 1.5\]",
                      out.stdout)
    assert ratio and float(ratio.group(1)) > 0, out.stdout
    assert "n = 2000, d = 1000" in out.stdout

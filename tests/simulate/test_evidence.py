"""Tests of deepgep.simulate.evidence, evidence_ti and evidence_instances: the marginal likelihood
against the exact linear evidence, its gradient against finite differences, the SMC against the
exact depth-0 evidence, against quadrature on networks with two inner weights, against
thermodynamic integration with NUTS, its bias against the number of particles, the errors, and
the sweep task.

Tests marked ``long`` (about a minute each) run only with ``DEEPGEP_LONG_TESTS=1``.
"""

from __future__ import annotations

import math
import os

import re

import numpy as np
import pytest
from scipy.special import logsumexp

from deepgep.simulate.evidence import (BLOCK, DeepMarginalLikelihood, ReadoutLikelihood, SMCError,
                                       check_architecture, deep_likelihood, log_evidence, tempered_smc)
from deepgep.simulate.evidence_instances import evidence_instance, evidence_record, glm_free_entropy, instance_data, instance_rng
from deepgep.simulate.evidence_ti import (batch_means_error, bias_table, corrected_trapezoid,
                                          exact_depth0_check, thermodynamic_integration, ti_check)
from deepgep.simulate.networks import forward
from deepgep.simulate.teachers import deep_teacher_sample, glm_teacher_sample
from deepgep.theory.glm import linear_log_partition, linear_mutual_information
from deepgep.theory.layers import equivalent_parameters

long = pytest.mark.skipif(os.environ.get("DEEPGEP_LONG_TESTS") != "1", reason="long: set DEEPGEP_LONG_TESTS=1")
DELTA, GAIN = 0.1, 2.0
#: |z| bound of a comparison whose standard error comes from 8 runs: Student's t with 7 degrees
#: of freedom exceeds 3.5 with probability 0.01.
T7 = 3.5


def _teacher(widths, n, seed=1, activation="tanh"):
    data = deep_teacher_sample(widths, activation, n, np.random.default_rng(seed), gain=GAIN, noise=DELTA)
    return data, deep_likelihood(data.X, data.y, widths, activation, DELTA, GAIN)


def _flat(network):
    return np.concatenate([W.ravel() for W in network.weights])[None]


# --- the marginal likelihood ---------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "erf", "sin", "relu", "linear"])
@pytest.mark.parametrize("widths, n", [((6, 5), 12), ((6, 20), 12), ((5, 4, 3), 10), ((5, 4, 30), 10)])
def test_marginal_likelihood_is_the_exact_evidence_of_the_features(widths, n, activation):
    """At fixed W the readout's evidence is the linear GLM's on the features X^L (kappa = 1):
    both sides (d_L < n and d_L >= n) agree with linear_log_partition to round-off."""
    data, lik = _teacher(widths, n, activation=activation)
    U = _flat(data.teacher.network)
    (features,) = forward(data.teacher.network, data.X, keep_all=False)
    exact = linear_log_partition(features, data.y, 1.0, DELTA)
    value, _ = lik(U, gradient=True)
    assert abs(lik(U)[0] - exact) < 1e-10 * max(1.0, abs(exact))
    assert abs(value[0] - exact) < 1e-10 * max(1.0, abs(exact))


@pytest.mark.parametrize("widths, n", [((6, 5), 12), ((6, 20), 12), ((5, 4, 3), 10), ((5, 4, 30), 10)])
def test_gradient_matches_finite_differences(widths, n):
    data, lik = _teacher(widths, n)
    U = np.random.default_rng(0).standard_normal((2, lik.dim))
    _, grad = lik(U, gradient=True)
    h = 1e-6
    for k in np.random.default_rng(1).choice(lik.dim, 6, replace=False):
        e = np.zeros(lik.dim)
        e[k] = h
        numeric = (lik(U + e) - lik(U - e)) / (2 * h)
        np.testing.assert_allclose(grad[:, k], numeric, rtol=1e-5, atol=1e-7)


def test_particle_blocks_do_not_change_the_values():
    _, lik = _teacher((4, 3), 9)
    U = np.random.default_rng(2).standard_normal((BLOCK + 7, lik.dim))
    values, grads = lik(U, gradient=True)
    single = [lik(U[i:i + 1], gradient=True) for i in (0, BLOCK - 1, BLOCK, BLOCK + 6)]
    for i, (v, g) in zip((0, BLOCK - 1, BLOCK, BLOCK + 6), single):
        assert abs(values[i] - v[0]) < 1e-12 * abs(v[0])
        np.testing.assert_allclose(grads[i], g[0], rtol=1e-12, atol=1e-14)


def test_readout_likelihood_is_the_gaussian_density():
    data = glm_teacher_sample(5, 11, np.random.default_rng(3), noise=DELTA)
    lik = deep_likelihood(data.X, data.y, (5,), "tanh", DELTA)
    assert isinstance(lik, ReadoutLikelihood) and lik.dim == 5
    a = np.random.default_rng(4).standard_normal((3, 5))
    r = data.y - a @ data.X.T / math.sqrt(5)
    direct = -0.5 * np.sum(r * r, axis=1) / DELTA - 0.5 * 11 * math.log(2 * math.pi * DELTA)
    value, grad = lik(a, gradient=True)
    np.testing.assert_allclose(value, direct, rtol=1e-13)
    e = np.zeros(5)
    e[2] = 1e-6
    np.testing.assert_allclose(grad[:, 2], (lik(a + e) - lik(a - e)) / 2e-6, rtol=1e-6)


# --- the SMC against exact values ------------------------------------------------------------------


def test_depth0_smc_agrees_with_the_exact_evidence():
    """SMC over the readout (the same tempering, resampling and HMC code as at depth >= 1) against
    ln N(y; 0, X X^T/d0 + Delta I). Resolution: 3.5 standard errors of 8 runs, about 0.3 nats."""
    data = glm_teacher_sample(8, 16, np.random.default_rng(5), noise=DELTA)
    check = exact_depth0_check(data.X, data.y, DELTA, np.random.default_rng(6), n_particles=128, n_runs=8)
    assert abs(check["z"]) < T7, check
    assert check["standard_error"] < 0.15, check


def _grid_log_evidence(lik, half_width=8.0, points=1201):
    """ln E_{w ~ N(0, I_2)} exp(lik(w)) by the rectangle rule on [-8, 8]^2 (spectrally accurate
    for a smooth integrand that vanishes at the edges; 601 and 1201 points agree to 1e-4 here,
    against a Monte Carlo error of 0.02)."""
    t = np.linspace(-half_width, half_width, points)
    U = np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    return float(logsumexp(lik(U) - 0.5 * np.sum(U * U, axis=1)) + 2 * math.log(t[1] - t[0]) - math.log(2 * math.pi))


@pytest.mark.parametrize("widths", [(2, 1), (1, 1, 1)])
def test_deep_smc_agrees_with_quadrature_on_two_inner_weights(widths):
    """Networks with two inner weights (one hidden unit of two inputs; or two layers of width 1):
    the SMC on the marginal likelihood against two-dimensional quadrature of the same integral.
    The posterior is bimodal (w and -w give the same kernel for an odd phi)."""
    _, lik = _teacher(widths, 12, seed=4)
    exact = _grid_log_evidence(lik)
    assert abs(exact - _grid_log_evidence(lik, points=601)) < 1e-4
    est = log_evidence(lik, np.random.default_rng(7), n_particles=256, n_runs=8)
    assert abs(est.log_evidence - exact) < T7 * est.standard_error, (est.logs, exact)


def test_thermodynamic_integration_agrees_with_smc_at_d0_8():
    """SMC (marginal likelihood, numpy HMC) against thermodynamic integration (all weights
    explicit, JAX NUTS): independent code on the same data, L = 1, d0 = 8, alpha = 2."""
    data, _ = _teacher((8, 8), 16, seed=11)
    check = ti_check(data.X, data.y, (8, 8), "tanh", DELTA, np.random.default_rng(2), gain=GAIN,
                     n_particles=256, n_runs=4, n_temperatures=24, n_warmup=200, n_samples=400)
    assert abs(check["z"]) < 3.0, check
    assert check["ti_discretisation"] < 0.5 * check["ti_se"], check


@long
@pytest.mark.parametrize("widths", [(8, 8, 8), (16, 16), (16, 16, 16)])
def test_thermodynamic_integration_agrees_with_smc_long(widths):
    data, _ = _teacher(widths, 2 * widths[0], seed=11)
    check = ti_check(data.X, data.y, widths, "tanh", DELTA, np.random.default_rng(2), gain=GAIN,
                     n_particles=256, n_runs=4, n_temperatures=24, n_warmup=300, n_samples=1000)
    assert abs(check["z"]) < 3.0, check


def test_bias_at_128_particles_is_below_half_the_standard_error():
    """Depth 0 against the exact value: 64 runs at 128 particles. Claim: the bias of ln Z-hat is
    below half the standard error reported with two runs (sd / sqrt 2), allowing two standard
    errors of the measured bias. Rejects a bias above about 0.6 sd."""
    data = glm_teacher_sample(8, 16, np.random.default_rng(5), noise=DELTA)
    lik = deep_likelihood(data.X, data.y, (8,), "tanh", DELTA)
    table = bias_table(lik, np.random.default_rng(8), particles=(128,), n_repeats=64,
                       reference=linear_log_partition(data.X, data.y, 1.0, DELTA))
    bound = 0.5 * table["sd"][0] / math.sqrt(2) + 2 * table["bias_se"][0]
    assert abs(table["bias"][0]) < bound, table


def test_bias_table_at_depth_one_shrinks_with_particles():
    """Depth 1 (d0 = 8): reference from the 1024-particle runs. At 128 particles the bias is
    below half the two-run standard error (up to two of its errors), and the spread falls
    with the particles (sd at 1024 below sd at 64)."""
    _, lik = _teacher((8, 8), 16, seed=11)
    table = bias_table(lik, np.random.default_rng(9), particles=(64, 128, 1024), n_repeats=16)
    i = list(table["particles"]).index(128)
    assert abs(table["bias"][i]) < 0.5 * table["sd"][i] / math.sqrt(2) + 2 * table["bias_se"][i], table
    assert table["sd"][-1] < table["sd"][0], table
    assert np.all(table["jensen"] <= 0.0)


# --- the pieces of the independent estimator -------------------------------------------------------


def test_corrected_trapezoid_is_exact_for_cubics():
    betas = (np.arange(9) / 8.0) ** 3
    value, weights = corrected_trapezoid(betas, betas**3, 3 * betas**2)
    assert abs(value - 0.25) < 1e-14
    assert abs(weights.sum() - 1.0) < 1e-14


def test_batch_means_error_of_independent_draws():
    x = np.random.default_rng(10).standard_normal(20000)
    assert abs(batch_means_error(x, 20) / (1 / math.sqrt(x.size)) - 1) < 0.5
    with pytest.raises(ValueError):
        batch_means_error(x[:5], 10)


def test_thermodynamic_integration_rejects_bad_input():
    data, _ = _teacher((4, 3), 8)
    with pytest.raises(ValueError, match="L >= 1"):
        thermodynamic_integration(data.X, data.y, (4,), "tanh", DELTA, np.random.default_rng(0))
    with pytest.raises(ValueError, match="even"):
        thermodynamic_integration(data.X, data.y, (4, 3), "tanh", DELTA, np.random.default_rng(0), n_temperatures=5)


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("widths", [(), (8, 0), (8, -2), (8, 2.5), "ab", None])
def test_bad_widths(widths):
    with pytest.raises(ValueError, match="widths"):
        check_architecture(widths)


def test_bad_arguments_give_clear_errors():
    data, lik = _teacher((4, 3), 8)
    with pytest.raises(ValueError, match="noise"):
        deep_likelihood(data.X, data.y, (4, 3), "tanh", -0.1)
    with pytest.raises(ValueError, match="d_0"):
        deep_likelihood(data.X, data.y, (5, 3), "tanh", DELTA)
    with pytest.raises(ValueError, match="y"):
        deep_likelihood(data.X, data.y[:-1], (4, 3), "tanh", DELTA)
    with pytest.raises(ValueError, match="depth"):
        evidence_record("tanh", GAIN, -1, 4, 4, 2.0, DELTA, np.random.default_rng(0))
    with pytest.raises(ValueError, match="noise"):
        evidence_record("tanh", GAIN, 1, 4, 4, 2.0, -1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="width"):
        evidence_record("tanh", GAIN, 1, 4, 0, 2.0, DELTA, np.random.default_rng(0))
    with pytest.raises(TypeError):
        tempered_smc(lik, 16, 0)
    with pytest.raises(ValueError, match="target_ess"):
        tempered_smc(lik, 16, np.random.default_rng(0), target_ess=1.0)
    with pytest.raises(ValueError, match="n_runs"):
        log_evidence(lik, np.random.default_rng(0), n_runs=1)


class _Spiky:
    """Log-likelihoods 1e200 nats apart: no temperature step keeps any effective sample size."""

    dim = 2

    def __call__(self, U, gradient=False):
        value = -1e200 * U[:, 0] ** 2
        return (value, np.zeros_like(U)) if gradient else value


class _Broken:
    """Finite values, non-finite gradients: every HMC proposal is rejected."""

    dim = 2

    def __call__(self, U, gradient=False):
        value = -np.sum(U * U, axis=1)
        return (value, np.full_like(U, np.nan)) if gradient else value


def test_degenerate_smc_raises_instead_of_returning_nan():
    rng = np.random.default_rng(0)
    with pytest.raises(SMCError, match="degenerate|non-finite"):
        tempered_smc(_Spiky(), 64, rng)
    with pytest.raises(SMCError, match="stall"):
        tempered_smc(_Broken(), 64, rng, n_moves=30)
    data = glm_teacher_sample(8, 16, np.random.default_rng(5), noise=DELTA)
    with pytest.raises(SMCError, match="does not end"):
        tempered_smc(deep_likelihood(data.X, data.y, (8,), "tanh", DELTA), 64, rng, max_temperatures=2)


# --- the sweep task -----------------------------------------------------------------------------------

PARAMS = {"activation": "tanh", "gain": GAIN, "depth": 1, "d0": 8, "alpha": 2.0, "noise": DELTA, "base_seed": 3}


def test_evidence_instance_is_a_reproducible_flat_record():
    a, b = evidence_instance(PARAMS, 0), evidence_instance(PARAMS, 0)
    other = evidence_instance(PARAMS, 1)
    assert all(isinstance(v, float) and math.isfinite(v) for v in a.values())
    drop = ("cpu_seconds",)
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}
    assert a["free_entropy_glm"] != other["free_entropy_glm"]


def test_evidence_instance_identities():
    """The record's internal identities: the ratio is the difference of the free entropies, the
    two informations differ by -ratio + (1/2) ln(1 + gamma0/Delta), kappa and gamma0 are those of
    book eq-composition, the data are regenerated from the instance's stream (so any other GLM can
    be evaluated on them afterwards), and the SMC error is small per sample."""
    r = evidence_instance({**PARAMS, "depth": 2, "width": 6}, 2)
    eta0, gamma0 = equivalent_parameters("tanh", GAIN, 2)
    assert (r["n"], r["d_min"]) == (16.0, 6.0)
    assert abs(r["kappa"] - eta0**2) < 1e-15 and abs(r["gamma0"] - gamma0) < 1e-15
    assert abs(r["log_ratio"] - (r["free_entropy_deep"] - r["free_entropy_glm"])) < 1e-15
    gap = r["mi_deep"] - r["mi_glm"] - (-r["log_ratio"] + 0.5 * math.log(1 + gamma0 / DELTA))
    assert abs(gap) < 1e-12
    params = {**PARAMS, "depth": 2, "width": 6}
    _, data = instance_data("tanh", GAIN, 2, 8, 6, 2.0, DELTA, instance_rng(params, 2))
    assert glm_free_entropy(data.X, data.y, r["kappa"], r["gamma0"], DELTA) == r["free_entropy_glm"]
    assert not any(re.search(r"_\d|\d\.\d|[=@]", name) for name in r)  # no value encoded in a field name
    assert r["free_entropy_deep_se"] < 0.02


def test_evidence_record_at_depth_zero_is_the_glm():
    """Depth 0: the deep model is the GLM (kappa = 1, gamma0 = 0); the SMC estimate agrees with
    the exact free entropy, and mi_glm_exact is the exact information of the inputs."""
    rng = np.random.default_rng(12)
    r = evidence_record("tanh", GAIN, 0, 8, 8, 2.0, DELTA, rng, n_runs=4)
    assert (r["kappa"], r["gamma0"]) == (1.0, 0.0)
    assert abs(r["log_ratio"]) < T7 * r["free_entropy_deep_se"] + 1e-3, r
    X = glm_teacher_sample(8, 16, np.random.default_rng(12), noise=DELTA).X
    assert abs(r["mi_glm_exact"] - linear_mutual_information(X, 1.0, DELTA) * 8 / 16) < 1e-14


def test_likelihood_types():
    data, lik = _teacher((4, 3, 2), 8)
    assert isinstance(lik, DeepMarginalLikelihood) and lik.dim == 4 * 3 + 3 * 2

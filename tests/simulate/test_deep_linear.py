"""Tests of deepgep.simulate.deep_linear: the sampler of deep linear networks (Chapter 8).

Its outputs equal the plain matrix product (same seed, same draw order), depth zero is a random
linear readout, the accumulated log-renormalisation of one input follows the exact law of ln s
(Kolmogorov-Smirnov at level 1e-3, Monte Carlo tolerance of four standard errors), it is
reproducible, scales with the weight variance and does not overflow at depth and width 512;
then the error paths.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.simulate.deep_linear import sample_deep_linear
from deepgep.support.stats import ks_critical_value, ks_statistic, mean_estimate
from deepgep.theory.deep_linear import log_scale_law, log_scale_mean_variance
from deepgep.theory.deep_linear_outputs import output_cdf

#: Monte Carlo tolerance in standard errors (a correct estimate fails with probability < 1e-4).
Z_MC = 4.0
#: Level of the Kolmogorov-Smirnov checks.
KS_LEVEL = 1e-3


def test_sampler_matches_the_plain_matrix_product():
    """Same seed, same draw order (per batch: W_1 .. W_L, then a): the renormalised, log-scale
    sampler equals the plain product a . W_L ... W_1 x / sqrt(N^L d)."""
    d, n, L, m = 5, 6, 4, 3
    rng = np.random.default_rng(2)
    X = rng.standard_normal((d, 2))
    sample = sample_deep_linear(X, n, L, m, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    Ws = [rng.standard_normal((m, n, d))] + [rng.standard_normal((m, n, n)) for _ in range(L - 1)]
    a = rng.standard_normal((m, n))
    for j in range(m):
        h = X
        for W in Ws:
            h = W[j] @ h
        f = a[j] @ h / math.sqrt(n**L * d)
        np.testing.assert_allclose(sample.outputs[j], f, rtol=1e-12, atol=1e-14)
    assert sample.outputs.shape == (m, 2) and sample.log_scale.shape == (m,)


def test_sampler_depth_zero_is_a_random_linear_readout():
    X = np.array([3.0, 4.0])
    sample = sample_deep_linear(X, 10, 0, 4, np.random.default_rng(1))
    a = np.random.default_rng(1).standard_normal((4, 2))
    np.testing.assert_allclose(sample.outputs[:, 0], a @ X / math.sqrt(2), rtol=1e-13)
    assert np.all(sample.log_scale == 0.0)


def test_sampler_single_input_log_scale_follows_the_exact_law():
    """For one input the accumulated log-renormalisation is ln s exactly: KS against the law."""
    n, L, m = 8, 3, 6000
    sample = sample_deep_linear(np.ones(4), n, L, m, np.random.default_rng(3))
    law = log_scale_law(n, L)
    crit = ks_critical_value(m, KS_LEVEL)
    assert ks_statistic(sample.log_scale, law.cdf) < crit
    assert ks_statistic(sample.outputs[:, 0], lambda f: output_cdf(f, n, L)) < crit
    mean, var = log_scale_mean_variance(n, L)
    est, se = mean_estimate(sample.log_scale)
    assert abs(est - mean) < Z_MC * se


def test_sampler_is_reproducible_and_scales_with_weight_variance():
    X = np.ones((3, 2))
    s1 = sample_deep_linear(X, 64, 64, 2, np.random.default_rng(4))
    s2 = sample_deep_linear(X, 64, 64, 2, np.random.default_rng(4))
    s3 = sample_deep_linear(X, 64, 64, 2, np.random.default_rng(4), weight_variance=5.0)
    np.testing.assert_array_equal(s1.outputs, s2.outputs)
    np.testing.assert_allclose(s3.log_scale, s1.log_scale + 64 * math.log(5.0), rtol=1e-13)
    np.testing.assert_allclose(s3.unit_outputs, s1.unit_outputs, rtol=1e-12)


def test_sampler_no_overflow_at_depth_and_width_512():
    """L = N = 512 with weight variance 16: s ~ 16^512 e^{-1} ~ e^{1419} exceeds float64
    (max ~ e^{709.8}); the log-scale accumulation stays finite and ln s - L ln 16 is a draw of
    the exact law (within six standard deviations for a single network)."""
    n = L = 512
    sample = sample_deep_linear(np.ones(2), n, L, 1, np.random.default_rng(0), weight_variance=16.0)
    assert np.all(np.isfinite(sample.log_scale)) and np.all(np.isfinite(sample.unit_outputs))
    assert sample.log_scale[0] > math.log(np.finfo(np.float64).max)
    mean, var = log_scale_mean_variance(n, L)
    assert abs(sample.log_scale[0] - L * math.log(16.0) - mean) < 6 * math.sqrt(var)
    with pytest.raises(OverflowError, match="overflows float64"):
        _ = sample.outputs


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sample_deep_linear(np.zeros(3), 4, 2, 5, np.random.default_rng(0)), "zero"),
        (lambda: sample_deep_linear([1.0, np.inf], 4, 2, 5, np.random.default_rng(0)), "non-finite"),
        (lambda: sample_deep_linear([1.0], 4, 2, 0, np.random.default_rng(0)), "n_networks"),
        (lambda: sample_deep_linear([1.0], 4, 2, 5, np.random.default_rng(0), weight_variance=0.0),
         "weight_variance"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unseeded_generator_is_refused():
    with pytest.raises(TypeError, match="Generator"):
        sample_deep_linear([1.0], 4, 2, 5, 0)

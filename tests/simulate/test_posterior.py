"""Tests of deepgep.simulate.posterior: the posterior of the deep network and its samples.

Identities first (the JAX log-posterior and gradient against its definition, a hand-written numpy
backprop and finite differences), then the predictions of the stored draws against the numpy
forward pass, the prior's conventions and its errors. The sampler is tested in
tests/simulate/test_nuts.py; ``posterior_instance`` comes from tests/simulate/conftest.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepgep.simulate.networks import forward
from deepgep.simulate.nuts import sample_posterior
from deepgep.simulate.posterior import (
    NetworkPrior,
    PosteriorSamples,
    log_posterior_and_gradient,
    numpy_log_posterior_and_gradient,
)


@pytest.mark.parametrize("activation", ["tanh", "erf", "sin", "linear", "relu"])
def test_jax_gradient_equals_numpy_backprop(posterior_instance, activation):
    data, params = posterior_instance(activation=activation)
    prior = NetworkPrior((6, 5, 4), activation, 0.3, gain=2.0, weight_variance=(0.7, 1.3), readout_variance=0.5)
    v_jax, g_jax = log_posterior_and_gradient(params, data.X, data.y, prior)
    v_np, g_np = numpy_log_posterior_and_gradient(params, data.X, data.y, prior)
    assert v_jax == pytest.approx(v_np, rel=1e-13)
    for a, b in zip(g_jax, g_np):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


def test_log_posterior_value_from_its_definition(posterior_instance):
    data, params = posterior_instance()
    prior = NetworkPrior((6, 5, 4), "tanh", 0.3, gain=2.0, weight_variance=(0.7, 1.3), readout_variance=0.5)
    net = data.teacher.network  # same weights, tanh(2x): f = X^L a / sqrt(d_L)
    f = forward(net, data.X, keep_all=False)[0] @ params[-1] / 2.0
    expected = -0.5 * np.sum((data.y - f) ** 2) / 0.3
    expected -= 0.5 * (np.sum(params[0] ** 2) / 0.7 + np.sum(params[1] ** 2) / 1.3 + np.sum(params[2] ** 2) / 0.5)
    value, _ = log_posterior_and_gradient(params, data.X, data.y, prior)
    assert value == pytest.approx(expected, rel=1e-13)


def test_gradient_matches_finite_differences(posterior_instance):
    data, params = posterior_instance()
    prior = NetworkPrior((6, 5, 4), "tanh", 0.3, gain=2.0, weight_variance=(0.7, 1.3), readout_variance=0.5)
    value, grads = log_posterior_and_gradient(params, data.X, data.y, prior)
    # central differences along one random direction
    rng = np.random.default_rng(5)
    direction = [rng.standard_normal(p.shape) for p in params]
    h = 1e-6
    plus = log_posterior_and_gradient([p + h * d for p, d in zip(params, direction)], data.X, data.y, prior)[0]
    minus = log_posterior_and_gradient([p - h * d for p, d in zip(params, direction)], data.X, data.y, prior)[0]
    slope = sum(float(np.vdot(g, d)) for g, d in zip(grads, direction))
    assert (plus - minus) / (2 * h) == pytest.approx(slope, rel=1e-6)


def test_predict_matches_the_numpy_forward_and_shapes(posterior_instance):
    data, params = posterior_instance()
    prior = NetworkPrior((6, 5, 4), "tanh", 0.3, gain=2.0)
    s = sample_posterior(data.X, data.y, prior, np.random.default_rng(0), n_chains=2, n_warmup=20, n_samples=5,
                         init=params)
    assert isinstance(s, PosteriorSamples)
    assert s.weights[0].shape == (2, 5, 5, 6) and s.weights[1].shape == (2, 5, 4, 5)
    assert s.readout.shape == (2, 5, 4) and s.log_density.shape == (2, 5)
    f = s.predict(data.X_test)
    assert f.shape == (2, 5, 7)
    net = type(data.teacher.network)(s.draw(1, 3)[:-1], data.teacher.network.activation)
    direct = forward(net, data.X_test, keep_all=False)[0] @ s.readout[1, 3] / 2.0
    np.testing.assert_allclose(f[1, 3], direct, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s.posterior_mean_prediction(data.X_test), f.mean(axis=(0, 1)), rtol=1e-12)
    mean, var = s.predictive_moments(data.X_test)
    np.testing.assert_allclose(var, f.var(axis=(0, 1)), rtol=1e-12)
    # the stored log densities are those of the draws
    value, _ = log_posterior_and_gradient(s.draw(0, 2), data.X, data.y, prior)
    assert s.log_density[0, 2] == pytest.approx(value, rel=1e-12)
    d = s.diagnostics
    total = d["n_gradient_evaluations_sampling"] + d["n_gradient_evaluations_warmup"]
    assert d["n_gradient_evaluations"] == total > 0
    assert d["step_size"].shape == (2,) and np.all(d["step_size"] > 0)


def test_prior_conventions():
    prior = NetworkPrior((30, 40), "TANH", 0.5, weight_variance=1 / 2.0, readout_variance=1 / 4.0)
    assert prior.activation == "tanh" and prior.depth == 1 and prior.layer_variances == (0.5,)
    assert prior.n_parameters == 30 * 40 + 40
    draws = prior.sample(np.random.default_rng(0))
    assert draws[0].shape == (40, 30) and draws[1].shape == (40,)
    assert np.var(draws[0]) == pytest.approx(0.5, rel=0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(widths=(3,)), "widths"),
        (dict(activation="softplus"), "activation"),
        (dict(noise=0.0), "noise"),
        (dict(noise=float("nan")), "noise"),
        (dict(gain=-1.0), "gain"),
        (dict(weight_variance=(1.0, 1.0, 1.0)), "weight_variance"),
        (dict(weight_variance=-1.0), "weight_variance"),
        (dict(readout_variance=0.0), "readout_variance"),
    ],
)
def test_bad_prior(kwargs, match):
    base = dict(widths=(3, 2), activation="tanh", noise=0.1)
    with pytest.raises(ValueError, match=match):
        NetworkPrior(**{**base, **kwargs})

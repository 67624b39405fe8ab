"""Posterior sampling of the deep network (deepgep.posterior).

Identities first (the JAX log-posterior and gradient against its definition, a hand-written numpy
backprop and finite differences), then the sampler against exact answers:
the prior when the likelihood is flat, and a two-parameter network whose posterior is computed
on a grid. Then the diagnostics on draws with known autocorrelation, reproducibility and errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.data import deep_teacher_sample, forward
from deepgep.posterior import (
    NetworkPrior,
    bayes_scan,
    concatenate_chains,
    gap_extrapolation,
    pooled_mean,
    summarise_scan,
    PosteriorSamples,
    effective_sample_size,
    log_posterior_and_gradient,
    numpy_log_posterior_and_gradient,
    r_hat,
    sample_posterior,
)


def _instance(widths=(6, 5, 4), n=12, seed=0, noise=0.3, activation="tanh", gain=2.0):
    rng = np.random.default_rng(seed)
    data = deep_teacher_sample(widths, activation, n, rng, gain=gain, noise=noise, n_test=7)
    params = data.teacher.network.weights + (data.teacher.readout,)
    return data, params


@pytest.mark.parametrize("activation", ["tanh", "erf", "sin", "linear", "relu"])
def test_jax_gradient_equals_numpy_backprop(activation):
    data, params = _instance(activation=activation)
    prior = NetworkPrior((6, 5, 4), activation, 0.3, gain=2.0, weight_variance=(0.7, 1.3), readout_variance=0.5)
    v_jax, g_jax = log_posterior_and_gradient(params, data.X, data.y, prior)
    v_np, g_np = numpy_log_posterior_and_gradient(params, data.X, data.y, prior)
    assert v_jax == pytest.approx(v_np, rel=1e-13)
    for a, b in zip(g_jax, g_np):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


def test_log_posterior_value_from_its_definition():
    data, params = _instance()
    prior = NetworkPrior((6, 5, 4), "tanh", 0.3, gain=2.0, weight_variance=(0.7, 1.3), readout_variance=0.5)
    net = data.teacher.network  # same weights, tanh(2x): f = X^L a / sqrt(d_L)
    f = forward(net, data.X, keep_all=False)[0] @ params[-1] / 2.0
    expected = -0.5 * np.sum((data.y - f) ** 2) / 0.3
    expected -= 0.5 * (np.sum(params[0] ** 2) / 0.7 + np.sum(params[1] ** 2) / 1.3 + np.sum(params[2] ** 2) / 0.5)
    value, _ = log_posterior_and_gradient(params, data.X, data.y, prior)
    assert value == pytest.approx(expected, rel=1e-13)


def test_gradient_matches_finite_differences():
    data, params = _instance()
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


def test_flat_likelihood_returns_the_prior():
    """noise = 1e8: the posterior is the prior, W^1 ~ N(0, 0.5), W^2 ~ N(0, 2), a ~ N(0, 3).

    Pooled over all entries and draws the mean and variance of each block are tested with a
    tolerance of 5 standard errors computed from the effective sample size."""
    data, _ = _instance(widths=(4, 3, 2), n=5)
    prior = NetworkPrior((4, 3, 2), "tanh", 1e8, gain=2.0, weight_variance=(0.5, 2.0), readout_variance=3.0)
    s = sample_posterior(data.X, data.y, prior, np.random.default_rng(3), n_chains=2, n_warmup=200, n_samples=400)
    for block, var in zip(s.weights + (s.readout,), (0.5, 2.0, 3.0)):
        draws = block.reshape(block.shape[0], block.shape[1], -1)
        ess = float(np.sum(effective_sample_size(draws)))  # independent entries: ESS add up
        assert abs(draws.mean()) < 5 * math.sqrt(var / ess)
        # Var of x^2 for a Gaussian is 2 var^2
        assert abs(np.mean(draws**2) - var) < 5 * math.sqrt(2 * var**2 / ess)
    assert r_hat(draws).max() < 1.05


def test_two_parameter_posterior_matches_grid_quadrature():
    """widths (1, 1): f(x) = a tanh(2 w x), theta = (w, a). The exact posterior on a 801^2 grid
    gives E[f(x*)] and E[a^2]; NUTS must agree within 5 Monte Carlo standard errors (ESS)."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((6, 1))
    y = 0.8 * np.tanh(2 * 1.3 * X[:, 0]) + 0.3 * rng.standard_normal(6)
    prior = NetworkPrior((1, 1), "tanh", 0.09, gain=2.0)
    x_star = np.array([[0.7]])
    grid = np.linspace(-7, 7, 801)
    w, a = np.meshgrid(grid, grid, indexing="ij")
    f_train = a[..., None] * np.tanh(2.0 * w[..., None] * X[:, 0])
    logp = -0.5 * (w**2 + a**2) - 0.5 * np.sum((y - f_train) ** 2, axis=-1) / 0.09
    p = np.exp(logp - logp.max())
    p /= p.sum()
    exact_f = float(np.sum(p * a * np.tanh(2.0 * w * 0.7)))
    exact_a2 = float(np.sum(p * a**2))

    s = sample_posterior(X, y, prior, np.random.default_rng(4), n_chains=4, n_warmup=300, n_samples=1000)
    f = s.predict(x_star)[..., 0]
    a2 = s.readout[..., 0] ** 2
    for draws, exact in ((f, exact_f), (a2, exact_a2)):
        se = draws.std() / math.sqrt(float(effective_sample_size(draws)))
        assert abs(draws.mean() - exact) < 5 * se, (draws.mean(), exact, se)
    assert r_hat(f) < 1.05


def test_predict_matches_the_numpy_forward_and_shapes():
    data, params = _instance()
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


def test_reproducible_with_seed_and_vectorised_chains_agree_in_law():
    data, params = _instance(widths=(4, 3), n=8)
    prior = NetworkPrior((4, 3), "tanh", 0.3, gain=2.0)
    kw = dict(n_chains=2, n_warmup=30, n_samples=10)
    s1 = sample_posterior(data.X, data.y, prior, np.random.default_rng(7), **kw)
    s2 = sample_posterior(data.X, data.y, prior, np.random.default_rng(7), **kw)
    s3 = sample_posterior(data.X, data.y, prior, np.random.default_rng(8), **kw)
    np.testing.assert_array_equal(s1.readout, s2.readout)
    assert not np.allclose(s1.readout, s3.readout)
    # init at a parameter set: every chain starts there (same u0), different keys
    s4 = sample_posterior(data.X, data.y, prior, np.random.default_rng(7), init=params, vectorize=True, **kw)
    assert s4.readout.shape == (2, 10, 3)


def test_r_hat_and_ess_on_known_draws():
    rng = np.random.default_rng(0)
    iid = rng.standard_normal((4, 1000, 3))
    assert np.all(np.abs(r_hat(iid) - 1) < 0.01)
    np.testing.assert_allclose(effective_sample_size(iid), 4000, rtol=0.15)
    shifted = iid + np.array([0.0, 0.0, 0.0, 1.0])[:, None, None]
    assert np.all(r_hat(shifted) > 1.05)  # expected sqrt(1 + 3/14) = 1.10 for 8 split chains
    # AR(1) with coefficient phi: ESS = N (1 - phi) / (1 + phi)
    phi, n = 0.8, 5000
    x = np.empty((4, n))
    x[:, 0] = rng.standard_normal(4)
    noise = rng.standard_normal((4, n)) * math.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    assert float(effective_sample_size(x)) == pytest.approx(4 * n * (1 - phi) / (1 + phi), rel=0.2)


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


def test_bad_sampler_input():
    data, params = _instance(widths=(4, 3), n=8)
    prior = NetworkPrior((4, 3), "tanh", 0.3)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="X must have shape"):
        sample_posterior(data.X[:, :3], data.y, prior, rng)
    with pytest.raises(ValueError, match="y must have shape"):
        sample_posterior(data.X, data.y[:-1], prior, rng)
    with pytest.raises(ValueError, match="init"):
        sample_posterior(data.X, data.y, prior, rng, init="teacher")
    with pytest.raises(ValueError, match="W\\^1 must have shape"):
        sample_posterior(data.X, data.y, prior, rng, init=(params[0].T, params[1]))
    with pytest.raises(ValueError, match="2 arrays"):
        sample_posterior(data.X, data.y, prior, rng, init=params[:1])
    with pytest.raises(ValueError, match="n_warmup"):
        sample_posterior(data.X, data.y, prior, rng, n_warmup=5)
    with pytest.raises(ValueError, match="n_chains"):
        sample_posterior(data.X, data.y, prior, rng, n_chains=0)
    with pytest.raises(ValueError, match="unknown sampler option"):
        sample_posterior(data.X, data.y, prior, rng, step_size=0.1)
    with pytest.raises(ValueError, match="target_acceptance_rate"):
        sample_posterior(data.X, data.y, prior, rng, target_acceptance_rate=1.5)
    with pytest.raises(TypeError):
        sample_posterior(data.X, data.y, prior, 0)
    with pytest.raises(ValueError, match="draws"):
        r_hat(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        effective_sample_size(np.full((2, 10), np.nan))


def test_concatenate_chains_keeps_draws_and_adds_counts():
    data, params = _instance(widths=(4, 3), n=8)
    prior = NetworkPrior((4, 3), "tanh", 0.3, gain=2.0)
    kw = dict(n_chains=1, n_warmup=30, n_samples=10)
    runs = [sample_posterior(data.X, data.y, prior, np.random.default_rng(k), init=params, **kw) for k in (1, 2)]
    both = concatenate_chains(runs)
    assert both.n_chains == 2 and both.weights[0].shape == (2, 10, 3, 4)
    np.testing.assert_array_equal(both.readout[1], runs[1].readout[0])
    assert both.diagnostics["n_gradient_evaluations"] == sum(r.diagnostics["n_gradient_evaluations"] for r in runs)
    other = NetworkPrior((4, 3), "tanh", 0.5, gain=2.0)
    moved = PosteriorSamples(runs[0].weights, runs[0].readout, other, runs[0].diagnostics, runs[0].log_density)
    with pytest.raises(ValueError, match="share the prior"):
        concatenate_chains([runs[0], moved])


def test_bayes_scan_quantities_are_consistent():
    """Tiny scan, bookkeeping: shapes, the GLM numbers against gaussian_closed_form, errors above
    Delta, the summary's means and standard errors, reproducibility from the seed."""
    from deepgep.layers import equivalent_glm, layer_coefficients
    from deepgep.state_evolution import gaussian_closed_form

    scan = bayes_scan([1], [5], [2.0], 3, "tanh", 0.1, np.random.default_rng(0), gain=2.0,
                      n_test=50, n_warmup=30, n_samples=20)
    assert scan["n"].tolist() == [10, 10, 10] and scan["teacher"].tolist() == [0, 1, 2]
    glm = equivalent_glm(layer_coefficients("tanh", 1, gain=2.0))
    closed = gaussian_closed_form(glm.kappa, glm.gamma0 + 0.1, 2.0)
    np.testing.assert_allclose(scan["glm_error"], closed["test_error"], rtol=1e-12)
    assert np.all(scan["posterior_error"] > 0.1) and np.all(scan["ridge_error"] > 0.1)
    summary = summarise_scan(scan)
    assert summary["n_teachers"].tolist() == [3]
    gap = scan["ridge_error"] - scan["posterior_error"]
    assert summary["gap"][0] == pytest.approx(gap.mean())
    assert summary["gap_se"][0] == pytest.approx(gap.std(ddof=1) / math.sqrt(3))
    assert pooled_mean(gap) == pytest.approx((summary["gap"][0], summary["gap_se"][0]))
    # the same child generators: rerunning one instance reproduces it
    again = bayes_scan([1], [5], [2.0], 3, "tanh", 0.1, np.random.default_rng(0), gain=2.0,
                       n_test=50, n_warmup=30, n_samples=20)
    np.testing.assert_array_equal(again["posterior_error"], scan["posterior_error"])
    with pytest.raises(ValueError, match="two finite"):
        pooled_mean([1.0])


def test_gap_extrapolation_recovers_an_exact_line():
    summary = {"depth": np.array([1, 1, 1, 2]), "alpha": np.array([2.0, 2.0, 2.0, 2.0]),
               "d0": np.array([10, 20, 40, 10]), "gap": 0.01 + 0.5 / np.array([10, 20, 40, 10]),
               "gap_se": np.full(4, 0.001)}
    fit = gap_extrapolation(summary, 1, 2.0)
    assert fit.limit == pytest.approx(0.01, abs=1e-12) and fit.slope == pytest.approx(0.5, rel=1e-10)

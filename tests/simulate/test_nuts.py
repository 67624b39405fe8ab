"""Tests of deepgep.simulate.nuts: NUTS sampling of the deep network's posterior.

The sampler against exact answers: the prior when the likelihood is flat, and a two-parameter
network whose posterior is computed on a grid. Then the diagnostics (R-hat, effective sample
size) on draws with known autocorrelation, reproducibility, concatenation of chains and errors.
``posterior_instance`` comes from tests/simulate/conftest.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepgep.simulate.nuts import concatenate_chains, effective_sample_size, inference_data, r_hat, sample_posterior
from deepgep.simulate.posterior import NetworkPrior, PosteriorSamples


def test_flat_likelihood_returns_the_prior(posterior_instance):
    """noise = 1e8: the posterior is the prior, W^1 ~ N(0, 0.5), W^2 ~ N(0, 2), a ~ N(0, 3).

    Pooled over all entries and draws the mean and variance of each block are tested with a
    tolerance of 5 standard errors computed from the effective sample size."""
    data, _ = posterior_instance(widths=(4, 3, 2), n=5)
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


def test_reproducible_with_seed_and_vectorised_chains_agree_in_law(posterior_instance):
    data, params = posterior_instance(widths=(4, 3), n=8)
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


def test_bad_sampler_input(posterior_instance):
    data, params = posterior_instance(widths=(4, 3), n=8)
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


def test_concatenate_chains_keeps_draws_and_adds_counts(posterior_instance):
    data, params = posterior_instance(widths=(4, 3), n=8)
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


# --- ArviZ ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(posterior_instance):
    """A 3-2 network on 6 samples, 2 chains of 40 draws (seconds, including compilation)."""
    data, _ = posterior_instance(widths=(3, 2), n=6)
    prior = NetworkPrior((3, 2), "tanh", 0.3, gain=2.0)
    samples = sample_posterior(data.X, data.y, prior, np.random.default_rng(1), n_chains=2, n_warmup=30,
                               n_samples=40)
    return data, samples


def test_inference_data_holds_the_identifiable_quantities_and_the_sampler_statistics(tiny_run):
    az = pytest.importorskip("arviz")
    data, s = tiny_run
    idata = inference_data(s, data.X_test, data.X, data.y)
    assert isinstance(idata, az.InferenceData)
    assert set(idata.groups()) == {"posterior", "sample_stats", "observed_data", "constant_data"}
    post, stats = idata.posterior, idata.sample_stats
    assert post["prediction"].dims == ("chain", "draw", "test_point")
    assert post["prediction"].shape == (2, 40, data.X_test.shape[0]) and post["training_loss"].shape == (2, 40)
    # the same numbers as the library's own, chain by chain
    np.testing.assert_array_equal(post["prediction"].values, s.predict(data.X_test))
    np.testing.assert_allclose(post["training_loss"].values,
                               np.mean((data.y - s.predict(data.X)) ** 2, axis=2), rtol=1e-15)
    np.testing.assert_array_equal(stats["lp"].values, s.log_density)
    d = s.diagnostics
    assert stats["diverging"].dtype == bool
    np.testing.assert_array_equal(stats["diverging"].values.sum(axis=1), d["n_divergences"])
    np.testing.assert_allclose(stats["acceptance_rate"].values.mean(axis=1), d["acceptance_rate"], rtol=1e-12)
    np.testing.assert_allclose(stats["n_steps"].values.mean(axis=1), d["mean_integration_steps"], rtol=1e-12)
    np.testing.assert_array_equal(stats["step_size"].values, np.repeat(d["step_size"][:, None], 40, axis=1))
    np.testing.assert_array_equal(idata.observed_data["y"].values, data.y)
    assert post.attrs["inference_library"] == "blackjax" and post.attrs["widths"] == [3, 2]


def test_arviz_r_hat_is_blackjax_r_hat(tiny_run):
    """Identity: ArviZ's rank-normalised split-R-hat of the InferenceData is r_hat of the same
    draws (both Vehtari et al. 2021; measured equal to the last bit): so the chains really are
    ArviZ's chains. 1e-12 relative."""
    az = pytest.importorskip("arviz")
    data, s = tiny_run
    idata = inference_data(s, data.X_test)
    np.testing.assert_allclose(az.rhat(idata)["prediction"].values, r_hat(s.predict(data.X_test)), rtol=1e-12)
    summary = az.summary(idata)
    assert list(summary.index) == [f"prediction[{i}]" for i in range(data.X_test.shape[0])]


def test_inference_data_survives_netcdf_and_concatenated_chains(tiny_run, tmp_path):
    az = pytest.importorskip("arviz")
    data, s = tiny_run
    both = inference_data(concatenate_chains([s, s]), X=data.X, y=data.y)
    assert both.posterior.sizes["chain"] == 4 and "prediction" not in both.posterior
    path = both.to_netcdf(str(tmp_path / "posterior.nc"))
    back = az.from_netcdf(path)
    np.testing.assert_array_equal(back.posterior["training_loss"].values, both.posterior["training_loss"].values)
    np.testing.assert_array_equal(back.sample_stats["diverging"].values, both.sample_stats["diverging"].values)


def test_inference_data_needs_something_identifiable(tiny_run):
    data, s = tiny_run
    with pytest.raises(ValueError, match="X_test"):
        inference_data(s)
    with pytest.raises(ValueError, match="both X and y"):
        inference_data(s, X=data.X)
    with pytest.raises(ValueError, match="PosteriorSamples"):
        inference_data(s.readout, data.X_test)

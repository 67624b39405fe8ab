"""Tests of deepgep.theory.ridge against closed forms, exact linear algebra and simulation."""

import math

import numpy as np
import pytest

from deepgep.simulate.estimators import classification_error, regression_error, ridge
from deepgep.simulate.teachers import glm_teacher_sample
from deepgep.theory.ridge import (
    marchenko_pastur_transform,
    ridge_classification_error,
    ridge_overlaps,
    ridge_regression_error,
)
from deepgep.theory.state_evolution import gaussian_closed_form

KAPPA, GAMMA0 = 0.409095, 0.152506  # the book's reference example: tanh(2x), L = 2


@pytest.mark.parametrize("alpha", [0.25, 0.9, 1.0, 2.0, 6.0])
@pytest.mark.parametrize("noise", [0.05, 0.2, 1.0])
def test_ridge_at_lambda_star_is_the_bayes_error(alpha, noise):
    """book eq-linear-closed-form: ridge with lambda* = noise / kappa is Bayes-optimal (closed forms)."""
    total = GAMMA0 + noise
    ridge_err = ridge_regression_error(KAPPA, total, alpha, total / KAPPA)
    assert ridge_err == pytest.approx(gaussian_closed_form(KAPPA, total, alpha)["test_error"], rel=1e-12)


def test_lambda_star_minimises_the_regression_error():
    total = GAMMA0 + 0.05
    lam_star = total / KAPPA
    best = ridge_regression_error(KAPPA, total, 2.0, lam_star)
    for factor in (0.5, 0.9, 1.1, 2.0):
        assert ridge_regression_error(KAPPA, total, 2.0, lam_star * factor) > best


def test_marchenko_pastur_transform_against_exact_spectra_and_its_derivative():
    rng = np.random.default_rng(0)
    d, alpha, lam = 1500, 1.7, 0.4
    X = rng.standard_normal((int(alpha * d), d))
    ev = np.linalg.eigvalsh(X.T @ X / d)
    g, dg = marchenko_pastur_transform(alpha, lam)
    # linear spectral statistics fluctuate at O(1/d) and have an O(1/d) bias: 10/d is generous
    assert np.mean(1 / (ev + lam)) == pytest.approx(g, abs=10 / d)
    assert np.mean(1 / (ev + lam) ** 2) == pytest.approx(dg, abs=10 / d)
    h = 1e-6  # g'(-lam) = -d g(-lam) / d lam, central difference (error ~1e-12)
    fd = -(marchenko_pastur_transform(alpha, lam + h)[0] - marchenko_pastur_transform(alpha, lam - h)[0]) / (2 * h)
    assert dg == pytest.approx(fd, rel=1e-7)


def test_large_lambda_limits():
    """lam -> infinity: w -> 0, so the regression error tends to the label variance."""
    assert ridge_regression_error(KAPPA, 0.2, 2.0, 1e9) == pytest.approx(KAPPA + 0.2, rel=1e-7)


@pytest.mark.parametrize("alpha, lam", [(0.5, 0.1), (2.0, 1.0), (2.0, 0.05), (4.0, 3.0)])
def test_theory_against_simulation(alpha, lam):
    """d = 800, 8 teachers, 4000 test samples each: the per-teacher spread of the test error is
    ~0.01, so the mean is known to ~0.004; 4 standard errors plus 0.005 (an O(1/d) finite-size
    bias: measured with 8 teachers at d = 400 and d = 1600, both within one standard error of
    theory, e.g. 0.2429 +- 0.0026 and 0.2425 +- 0.0027 against 0.2398 at alpha = 4, lam = 3)."""
    rng = np.random.default_rng(int(100 * alpha + 10 * lam))
    d, n_test, seeds = 800, 4000, 8
    n = int(alpha * d)
    reg, cls, ms = [], [], []
    for _ in range(seeds):
        data = glm_teacher_sample(d, n, rng, eta0=math.sqrt(KAPPA), gamma0=GAMMA0, noise=0.05, n_test=n_test)
        w = ridge(data.X, data.y, lam)
        reg.append(regression_error(data.X_test, data.y_test, w))
        data = glm_teacher_sample(d, n, rng, eta0=math.sqrt(KAPPA), gamma0=GAMMA0, output="sign", n_test=n_test)
        w = ridge(data.X, data.y, lam)
        cls.append(classification_error(data.X_test, data.y_test, w))
        ms.append(w @ data.teacher.readout / d)
    for values, theory in ((reg, ridge_regression_error(KAPPA, GAMMA0 + 0.05, alpha, lam)),
                           (cls, ridge_classification_error(KAPPA, GAMMA0, alpha, lam))):
        se = np.std(values, ddof=1) / math.sqrt(seeds)
        assert abs(np.mean(values) - theory) <= 4 * se + 0.005, (np.mean(values), theory, se)
    b = math.sqrt(2 / (math.pi * (KAPPA + GAMMA0)))
    m_theory = ridge_overlaps(KAPPA, alpha, lam, b, 1 - b * b * KAPPA)[0]
    assert np.mean(ms) == pytest.approx(m_theory, abs=4 * np.std(ms, ddof=1) / math.sqrt(seeds) + 0.01)


def test_bad_input():
    with pytest.raises(ValueError):
        marchenko_pastur_transform(2.0, 0.0)
    with pytest.raises(ValueError):
        marchenko_pastur_transform(-1.0, 1.0)
    with pytest.raises(ValueError):
        ridge_regression_error(KAPPA, -0.1, 2.0, 1.0)
    with pytest.raises(ValueError):
        ridge_classification_error(0.0, 0.1, 2.0, 1.0)


@pytest.mark.parametrize("alpha", [0.5, 2.0, 6.0])
def test_optimal_ridge_classification_is_optimal_and_not_better_than_bayes(alpha):
    """The optimised penalty beats a grid of others, and no estimator beats Bayes: the Bayes
    classification error of the same GLM (state evolution, sign channel) is a lower bound."""
    from deepgep.theory.channels import make_channel
    from deepgep.theory.ridge import optimal_ridge_classification
    from deepgep.theory.state_evolution import solve

    lam, err = optimal_ridge_classification(KAPPA, GAMMA0, alpha)
    # ridge sees the labels' linear part b z plus uncorrelated noise of variance 1 - b^2 kappa:
    # its optimal penalty is that linear channel's lambda* = (1 - b^2 kappa) / (b^2 kappa), any alpha
    b2k = 2 * KAPPA / (math.pi * (KAPPA + GAMMA0))
    assert lam == pytest.approx((1 - b2k) / b2k, rel=1e-6)
    for other in np.logspace(-3, 2, 11):
        assert err <= ridge_classification_error(KAPPA, GAMMA0, alpha, other) + 1e-12
    channel = make_channel("sign", gamma0=GAMMA0)
    bayes = channel.bayes_test_error(KAPPA, solve(channel, KAPPA, alpha).q)
    assert bayes <= err + 1e-12

"""Tests of deepgep.theory.glm: the exact finite-size quantities of the linear channel of the
equivalent GLM.

Identities first (every exact formula against an independent dense computation), then the
replica-symmetric closed form of book eq-linear-closed-form at large size and the Nishimori
identity. Sampling the GLM is tested in tests/simulate/test_teachers.py, the concentration of the
free entropy (Theorem 2) in tests/chapters/test_ch3_free_entropy.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from deepgep.simulate.teachers import TeacherData, glm_teacher_sample
from deepgep.theory.glm import (
    gram_spectrum,
    linear_bayes_test_error,
    spectral_posterior_mse,
    wishart_statistics,
    expected_linear_mutual_information,
    linear_evidence_derivatives,
    linear_log_partition,
    linear_mutual_information,
    linear_posterior,
)

#: Cui et al.'s example (phi = tanh(2x), L = 2, rho = 1, eps = 0), book eq-composition:
#: eta0^2 and gamma0 of the equivalent GLM; the linear channel with Delta = 0.
KAPPA = 0.409095
NOISE_TOTAL = 0.152506
ALPHA = 2.0


def replica_linear(alpha: float, kappa: float, total_noise: float) -> tuple[float, float]:
    """``(I/d, 1 - q*)`` of the linear channel, book eq-linear-closed-form (written out here on
    purpose: the library's state-evolution module is checked against the same numbers)."""
    delta_e = total_noise / kappa
    b = delta_e + alpha - 1.0
    one_minus_q = 0.5 * (-b + math.sqrt(b * b + 4.0 * delta_e))
    q = 1.0 - one_minus_q
    q_hat = q / one_minus_q
    mi = 0.5 * math.log1p(q_hat) - 0.5 * q + 0.5 * alpha * math.log1p(kappa * one_minus_q / total_noise)
    return mi, one_minus_q


def dense_covariance(X: np.ndarray, kappa: float, total_noise: float) -> np.ndarray:
    """``C = total_noise I_n + kappa X X^T / d``, the covariance of ``y`` given ``X``."""
    n, d = X.shape
    return total_noise * np.eye(n) + kappa * X @ X.T / d


def small_problem(n: int, d: int, seed: int = 0) -> TeacherData:
    return glm_teacher_sample(d, n, np.random.default_rng(seed), eta0=math.sqrt(KAPPA), gamma0=0.1, noise=0.05)


# --- exact identities of the linear channel -------------------------------------------------------


@pytest.mark.parametrize("n, d", [(15, 40), (40, 15), (20, 20)])
def test_mutual_information_is_the_logdet(n, d):
    """(1/2d) log det(I_n + kappa X X^T/(d s)) by a dense n x n slogdet. The matrices have
    condition numbers < 100, so both sides carry ~1e-15 relative error; 1e-10 is generous. Both
    Gram sides are forced, so both code paths are checked on every shape (Sylvester)."""
    X = small_problem(n, d).X
    direct = np.linalg.slogdet(np.eye(n) + KAPPA * X @ X.T / (d * NOISE_TOTAL))[1] / (2 * d)
    for gram in ("auto", "samples", "features"):
        assert linear_mutual_information(X, KAPPA, NOISE_TOTAL, gram=gram) == pytest.approx(direct, rel=1e-10)
    assert linear_mutual_information(X, 0.0, NOISE_TOTAL) == 0.0


@pytest.mark.parametrize("n, d", [(15, 40), (40, 15)])
def test_log_partition_is_the_evidence(n, d):
    """log Z = log N(y; 0, s I + kappa X X^T/d), against scipy's dense multivariate normal;
    |log Z| ~ n and the dense computation is accurate to ~1e-14 relative: 1e-10 relative."""
    s = small_problem(n, d, seed=1)
    cov = dense_covariance(s.X, KAPPA, NOISE_TOTAL)
    reference = stats.multivariate_normal(mean=np.zeros(n), cov=cov).logpdf(s.y)
    for gram in ("auto", "samples", "features"):
        value = linear_log_partition(s.X, s.y, KAPPA, NOISE_TOTAL, gram=gram)
        assert value == pytest.approx(reference, rel=1e-10)


@pytest.mark.parametrize("n, d", [(15, 40), (40, 15)])
def test_posterior_mean_is_ridge(n, d):
    """The posterior mean minimises |y - eta0 X a/sqrt(d)|^2 + s |a|^2 (ridge with
    lambda* = s/kappa in the teacher's scale): the least-squares solution of the augmented
    system [eta0 X/sqrt(d); sqrt(s) I_d] a = [y; 0], solved by numpy's SVD-based lstsq. The
    augmented matrix has condition number < 30: agreement to 1e-10 relative in norm."""
    s = small_problem(n, d, seed=2)
    eta0 = math.sqrt(KAPPA)
    augmented = np.vstack([eta0 * s.X / math.sqrt(d), math.sqrt(NOISE_TOTAL) * np.eye(d)])
    target = np.concatenate([s.y, np.zeros(d)])
    ridge = np.linalg.lstsq(augmented, target, rcond=None)[0]
    for gram in ("auto", "samples", "features"):
        mean, _ = linear_posterior(s.X, s.y, KAPPA, NOISE_TOTAL, gram=gram)
        assert np.linalg.norm(mean - ridge) <= 1e-10 * np.linalg.norm(ridge)
    # The docstring's ridge form, (sqrt(d)/eta0) (X^T X + lambda* d I)^{-1} X^T y.
    lam = NOISE_TOTAL / KAPPA
    docstring = math.sqrt(d) / eta0 * np.linalg.solve(s.X.T @ s.X + lam * d * np.eye(d), s.X.T @ s.y)
    assert np.linalg.norm(docstring - ridge) <= 1e-10 * np.linalg.norm(ridge)


@pytest.mark.parametrize("n, d", [(15, 40), (40, 15)])
def test_posterior_mse_is_the_trace(n, d):
    """tr(Sigma)/d with Sigma = (I_d + kappa X^T X/(d s))^{-1} by a dense inverse (condition
    number < 100): 1e-10 relative. The MSE does not depend on y."""
    s = small_problem(n, d, seed=3)
    direct = np.trace(np.linalg.inv(np.eye(d) + KAPPA * s.X.T @ s.X / (d * NOISE_TOTAL))) / d
    for gram in ("auto", "samples", "features"):
        _, mse = linear_posterior(s.X, s.y, KAPPA, NOISE_TOTAL, gram=gram)
        assert mse == pytest.approx(direct, rel=1e-10)
    assert linear_posterior(s.X, np.zeros(n), KAPPA, NOISE_TOTAL)[1] == pytest.approx(direct, rel=1e-10)


def test_linear_quantities_bad_inputs():
    X = np.ones((4, 3))
    y = np.ones(4)
    for bad in (
        lambda: linear_mutual_information(X, KAPPA, 0.0),
        lambda: linear_mutual_information(X, -1.0, NOISE_TOTAL),
        lambda: linear_mutual_information(X, KAPPA, math.inf),
        lambda: linear_mutual_information(np.ones(4), KAPPA, NOISE_TOTAL),
        lambda: linear_mutual_information(np.full((4, 3), np.nan), KAPPA, NOISE_TOTAL),
        lambda: linear_mutual_information(X, KAPPA, NOISE_TOTAL, gram="rows"),
        lambda: linear_log_partition(X, np.ones(3), KAPPA, NOISE_TOTAL),
        lambda: linear_log_partition(X, np.array([1.0, np.inf, 0.0, 0.0]), KAPPA, NOISE_TOTAL),
        lambda: linear_posterior(X, y, KAPPA, -0.1),
        lambda: expected_linear_mutual_information(4, 3, KAPPA, NOISE_TOTAL, 1, np.random.default_rng(0)),
        lambda: expected_linear_mutual_information(
            4, 3, KAPPA, NOISE_TOTAL, 4, np.random.default_rng(0), control_variates=True
        ),
    ):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(TypeError):
        expected_linear_mutual_information(4, 3, KAPPA, NOISE_TOTAL, 5, 0)


# --- Monte Carlo over X and the replica limit -----------------------------------------------------


def test_wishart_control_variate_means():
    """The exact means used as control variates (E log det W, E tr W, E tr W^2 of the smaller
    Gram matrix over d), against a Monte-Carlo average of 4000 draws at 5 standard errors, on
    both shapes (n < d and n > d, where the degrees of freedom swap)."""
    rng = np.random.default_rng(7)
    for n, d in ((4, 7), (7, 4)):
        draws = np.array([wishart_statistics(rng.standard_normal((n, d)))[0] for _ in range(4000)])
        means = wishart_statistics(rng.standard_normal((n, d)))[1]
        se = draws.std(axis=0, ddof=1) / math.sqrt(len(draws))
        assert np.all(np.abs(draws.mean(axis=0) - means) < 5 * se), (n, d, draws.mean(axis=0), means, se)


def test_control_variates_agree_with_plain_monte_carlo():
    """Same expectation, two estimators: plain Monte Carlo (2000 draws) and the control-variate
    regression (200 draws, independent seeds) agree within 5 combined standard errors, and the
    control variates shrink the standard error per draw by more than 5 (about 30 at alpha = 2)."""
    n, d = 40, 20
    plain, plain_se = expected_linear_mutual_information(
        n, d, KAPPA, NOISE_TOTAL, 2000, np.random.default_rng(8)
    )
    cv, cv_se = expected_linear_mutual_information(
        n, d, KAPPA, NOISE_TOTAL, 200, np.random.default_rng(9), control_variates=True
    )
    assert abs(plain - cv) < 5 * math.hypot(plain_se, cv_se)
    assert cv_se * math.sqrt(200) < plain_se * math.sqrt(2000) / 5


def test_mutual_information_approaches_replica_formula():
    """E_X (1/2d) log det(I + kappa X X^T/(d s)) -> replica I/d (book eq-linear-closed-form) with an
    O(1/d) finite-size correction: the mean of a linear spectral statistic of a real Wishart
    matrix is off its Marchenko-Pastur limit by O(1), i.e. O(1/d) per coordinate.

    At alpha = 2 (the tanh(2x) example), with control variates (the per-draw fluctuation of I/d
    is ~0.4/d, which would hide the correction from plain Monte Carlo), this test's seeds give
    d * (E I/d - I_inf) = -0.0876 +- 0.0030 at d = 100 and -0.0863 +- 0.0056 at d = 400
    (six other seeds: -0.085..-0.094), so the gap shrinks like d^-p with p = 1.01. Asserted:
    (i) each Monte-Carlo standard error is below 0.02/d (the correction, ~0.09/d, is resolved);
    (ii) both gaps are within 0.2/d of the limit (coefficient 0.09 plus margin); (iii)
    0.75 < p < 1.25, i.e. the ratio of the gaps 4^p lies in (2.83, 5.66), while its standard
    error is ~7% (p to +-0.05)."""
    mi_inf, _ = replica_linear(ALPHA, KAPPA, NOISE_TOTAL)
    gaps = {}
    for d, n_samples in ((100, 40), (400, 16)):
        mean, se = expected_linear_mutual_information(
            int(ALPHA * d), d, KAPPA, NOISE_TOTAL, n_samples, np.random.default_rng(d), control_variates=True
        )
        assert se < 0.02 / d, (d, se * d)
        gaps[d] = mean - mi_inf
        assert abs(gaps[d]) < 0.2 / d, (d, gaps[d] * d)
    exponent = math.log(gaps[100] / gaps[400]) / math.log(4.0)
    assert 0.75 < exponent < 1.25, (gaps, exponent)


def test_posterior_mse_approaches_replica_formula():
    """E tr(Sigma)/d -> 1 - q* (book eq-linear-closed-form) at alpha = 2, d = 400: in exploration
    d * (E mse - (1 - q*)) was 0.08-0.17 (an O(1/d) correction) with a per-instance spread
    ~0.2/d, and this seed gives 0.06; 5 instances must land within 1/d = 0.0025 (1% of
    1 - q* = 0.232)."""
    d = 400
    _, one_minus_q = replica_linear(ALPHA, KAPPA, NOISE_TOTAL)
    rng = np.random.default_rng(10)
    mses = []
    for _ in range(5):
        s = glm_teacher_sample(d, int(ALPHA * d), rng, eta0=math.sqrt(KAPPA), noise=NOISE_TOTAL)
        mses.append(linear_posterior(s.X, s.y, KAPPA, NOISE_TOTAL)[1])
    assert abs(np.mean(mses) - one_minus_q) < 1.0 / d


def test_nishimori_identity():
    """Bayes-optimal posterior (teacher drawn from the prior): E[a . m]/d = E[|m|^2]/d exactly at
    every size. Per instance (a - m) . m / d has standard deviation ~sqrt(q(1 - q)/d) ~ 0.06 at
    d = 50, so 1000 instances give a standard error ~2e-3 on an overlap ~0.77; checked at 4 SE.
    Also E|a|^2/d = E|m|^2/d + E tr(Sigma)/d (prior variance = self-overlap + MMSE). A posterior
    with the wrong noise (s/5) breaks the identity by many SE: the test has power."""
    n, d, n_instances = 100, 50, 1000
    rng = np.random.default_rng(11)
    diff, diff_wrong, energy, overlap = [], [], [], []
    for _ in range(n_instances):
        s = glm_teacher_sample(d, n, rng, eta0=math.sqrt(KAPPA), gamma0=0.1, noise=NOISE_TOTAL - 0.1)
        a = s.teacher.readout
        mean, mse = linear_posterior(s.X, s.y, KAPPA, NOISE_TOTAL)
        diff.append((a - mean) @ mean / d)
        overlap.append(a @ mean / d)
        energy.append((a @ a - mean @ mean) / d - mse)
        wrong, _ = linear_posterior(s.X, s.y, KAPPA, NOISE_TOTAL / 5)
        diff_wrong.append((a - wrong) @ wrong / d)

    def mean_and_se(values):
        v = np.asarray(values)
        return v.mean(), v.std(ddof=1) / math.sqrt(len(v))

    m, se = mean_and_se(diff)
    assert abs(m) < 4 * se, (m, se)
    assert np.mean(overlap) > 0.5  # a real overlap, not a trivial 0 = 0
    m, se = mean_and_se(energy)
    assert abs(m) < 4 * se, (m, se)
    m, se = mean_and_se(diff_wrong)
    assert abs(m) > 10 * se, (m, se)


# --- the Bayes-optimal test error given the inputs, from the spectrum ------------------------------


@pytest.mark.parametrize("n, d", [(15, 40), (40, 15), (20, 20)])
def test_spectral_mse_is_the_posterior_trace(n, d):
    """tr(Sigma)/d from the min(n, d) eigenvalues of the smaller Gram matrix (the d - m zero
    eigenvalues counted as 1 each) equals linear_posterior's Cholesky value (an identity: 1e-10
    relative), and the test error is kappa * mse + total_noise."""
    s = small_problem(n, d, seed=4)
    spectrum = gram_spectrum(s.X)
    assert spectrum.shape == (min(n, d),)
    direct = np.sort(np.linalg.eigvalsh(s.X.T @ s.X / d))[-min(n, d):]
    assert np.allclose(spectrum, direct, rtol=1e-10, atol=1e-12)
    _, mse = linear_posterior(s.X, s.y, KAPPA, NOISE_TOTAL)
    assert spectral_posterior_mse(spectrum, d, KAPPA, NOISE_TOTAL) == pytest.approx(mse, rel=1e-10)
    full = np.linalg.eigvalsh(s.X.T @ s.X / d)  # all d eigenvalues, zeros (to rounding) included
    assert spectral_posterior_mse(full, d, KAPPA, NOISE_TOTAL) == pytest.approx(mse, rel=1e-10)
    assert linear_bayes_test_error(spectrum, d, KAPPA, NOISE_TOTAL) == pytest.approx(KAPPA * mse + NOISE_TOTAL,
                                                                                      rel=1e-12)


def test_spectral_error_acts_row_by_row():
    """One spectrum per row of a 2-d array, one value per row."""
    spectra = np.array([gram_spectrum(small_problem(10, 6, seed=k).X) for k in range(3)])
    rows = linear_bayes_test_error(spectra, 6, KAPPA, NOISE_TOTAL)
    assert rows.shape == (3,)
    for k in range(3):
        assert rows[k] == linear_bayes_test_error(spectra[k], 6, KAPPA, NOISE_TOTAL)


def test_bayes_test_error_given_the_inputs_by_monte_carlo():
    """Fixed inputs X (n = 30, d = 20), 4000 teachers a ~ N(0, I) with their labels, the posterior
    mean of each by linear_posterior, and its squared error on 50 fresh labelled test inputs: the
    average is the exact E_GLM(X) within 4 standard errors (about 0.4% of it). The error of the
    posterior with the wrong noise (total_noise / 5) is larger by many standard errors. X has
    columns of unequal scales (0.3 to 2), so its spectrum is far from a Gaussian matrix's and
    E_GLM(X) differs from a Gaussian X's value by more than 5 standard errors: the test sees the
    dependence on the inputs, not only a typical value (test inputs stay N(0, I), as in the
    formula)."""
    n, d, teachers, n_test = 30, 20, 4000, 50
    rng = np.random.default_rng(12)
    X = rng.standard_normal((n, d)) * np.linspace(0.3, 2.0, d)
    scale = math.sqrt(KAPPA / d)

    def gain(noise: float) -> np.ndarray:
        """The posterior mean is linear in y, m = K y: K column by column from linear_posterior."""
        return np.column_stack([linear_posterior(X, e, KAPPA, noise)[0] for e in np.eye(n)])

    a = rng.standard_normal((teachers, d))
    y = scale * a @ X.T + math.sqrt(NOISE_TOTAL) * rng.standard_normal((teachers, n))
    x_test = rng.standard_normal((teachers, n_test, d))
    y_test = scale * np.einsum("tkd,td->tk", x_test, a) + math.sqrt(NOISE_TOTAL) * rng.standard_normal((teachers, n_test))

    def test_errors(noise: float) -> np.ndarray:
        mean = y @ gain(noise).T
        return np.mean((y_test - scale * np.einsum("tkd,td->tk", x_test, mean)) ** 2, axis=1)

    errors, wrong = test_errors(NOISE_TOTAL), test_errors(NOISE_TOTAL / 5)
    exact = float(linear_bayes_test_error(gram_spectrum(X), d, KAPPA, NOISE_TOTAL))
    se = errors.std(ddof=1) / math.sqrt(teachers)
    assert abs(errors.mean() - exact) < 4 * se, (errors.mean(), exact, se)
    assert wrong.mean() - exact > 10 * se
    other = float(linear_bayes_test_error(gram_spectrum(rng.standard_normal((n, d))), d, KAPPA, NOISE_TOTAL))
    assert abs(other - exact) > 5 * se, (other, exact, se)  # 7.4 standard errors with this seed


def test_bayes_test_error_approaches_the_closed_form():
    """E_X E_GLM(X) -> kappa (1 - q*) + total_noise (book eq-linear-closed-form) at alpha = 2,
    d = 400: 5 input matrices within kappa/d (the O(1/d) correction of the MSE, see
    test_posterior_mse_approaches_replica_formula, times kappa)."""
    d = 400
    _, one_minus_q = replica_linear(ALPHA, KAPPA, NOISE_TOTAL)
    rng = np.random.default_rng(13)
    values = [linear_bayes_test_error(gram_spectrum(rng.standard_normal((int(ALPHA * d), d))), d, KAPPA, NOISE_TOTAL)
              for _ in range(5)]
    assert abs(np.mean(values) - (KAPPA * one_minus_q + NOISE_TOTAL)) < KAPPA / d


def test_spectral_quantities_bad_inputs():
    good = np.array([0.5, 1.0, 2.0])
    for bad in (
        lambda: spectral_posterior_mse(good, 2, KAPPA, NOISE_TOTAL),  # more eigenvalues than d
        lambda: spectral_posterior_mse(np.array([-0.5, 1.0]), 3, KAPPA, NOISE_TOTAL),
        lambda: spectral_posterior_mse(np.array([np.nan, 1.0]), 3, KAPPA, NOISE_TOTAL),
        lambda: spectral_posterior_mse(np.array([]), 3, KAPPA, NOISE_TOTAL),
        lambda: spectral_posterior_mse(good, 3, -1.0, NOISE_TOTAL),
        lambda: linear_bayes_test_error(good, 3, KAPPA, 0.0),
        lambda: gram_spectrum(np.ones(3)),
    ):
        with pytest.raises(ValueError):
            bad()


@pytest.mark.parametrize("shape", [(30, 12), (12, 30)])
def test_evidence_derivatives_are_those_of_the_exact_evidence(shape):
    """Value = linear_log_partition / n on both sides of the Gram matrix; the gradient and the
    Hessian in (kappa, s) match central differences of it (step 1e-4, error O(h^2))."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal(shape)
    y = rng.standard_normal(shape[0]) * 1.3
    n, h = shape[0], 1e-4
    out = linear_evidence_derivatives(X, y, KAPPA, NOISE_TOTAL)

    def f(k, s):
        return linear_log_partition(X, y, k, s) / n

    assert out.value == pytest.approx(f(KAPPA, NOISE_TOTAL), rel=1e-12)
    grad = [(f(KAPPA + h, NOISE_TOTAL) - f(KAPPA - h, NOISE_TOTAL)) / (2 * h),
            (f(KAPPA, NOISE_TOTAL + h) - f(KAPPA, NOISE_TOTAL - h)) / (2 * h)]
    np.testing.assert_allclose(out.gradient, grad, rtol=1e-6, atol=1e-9)
    kk = (f(KAPPA + h, NOISE_TOTAL) - 2 * f(KAPPA, NOISE_TOTAL) + f(KAPPA - h, NOISE_TOTAL)) / h**2
    ss = (f(KAPPA, NOISE_TOTAL + h) - 2 * f(KAPPA, NOISE_TOTAL) + f(KAPPA, NOISE_TOTAL - h)) / h**2
    ks = (f(KAPPA + h, NOISE_TOTAL + h) - f(KAPPA + h, NOISE_TOTAL - h) - f(KAPPA - h, NOISE_TOTAL + h)
          + f(KAPPA - h, NOISE_TOTAL - h)) / (4 * h**2)
    np.testing.assert_allclose(out.hessian, [[kk, ks], [ks, ss]], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="kappa"):
        linear_evidence_derivatives(X, y, 0.0, NOISE_TOTAL)


def test_the_mean_evidence_is_largest_at_the_glm_that_drew_the_labels():
    """On labels drawn from the GLM itself, the mean gradient over many draws vanishes within its
    error (the score has mean zero) and the mean Hessian is negative definite."""
    rng = np.random.default_rng(4)
    grads, hess = [], []
    for _ in range(400):
        X = rng.standard_normal((40, 20))
        y = math.sqrt(KAPPA / 20) * X @ rng.standard_normal(20) + math.sqrt(NOISE_TOTAL) * rng.standard_normal(40)
        out = linear_evidence_derivatives(X, y, KAPPA, NOISE_TOTAL)
        grads.append(out.gradient)
        hess.append(out.hessian)
    g, h = np.array(grads), np.mean(hess, axis=0)
    assert np.all(np.abs(g.mean(0)) < 4 * g.std(0, ddof=1) / math.sqrt(len(g)))
    assert np.all(np.linalg.eigvalsh(h) < 0)

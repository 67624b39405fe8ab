"""Tests of deepgep.simulate.teachers: the deep teacher of Camilli et al. (book eq-model) and its
equivalent GLM teacher.

Checks: shapes and seeding of :func:`sample_teacher`, :func:`label`, :func:`deep_teacher_sample`
and :func:`glm_teacher_sample`; the label conventions (identical for both teachers and to
``deepgep.theory.channels.make_channel``: every noise enters before the sign); the label variance
``rho^2 sigma_L + eps + Delta`` of the deep teacher against the equivalent GLM's
``eta0^2 + gamma0 + Delta``; that the test set is labelled by the training set's teacher; and
the GLM teacher's model and draw order, seeding, moments, the sign and callable outputs and
errors. The composition of Theorem 1 itself is tested in tests/theory/test_layers.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtr

from deepgep.simulate.networks import forward, gaussian_inputs, sample_network
from deepgep.simulate.teachers import (
    DeepTeacher,
    GLMTeacher,
    TeacherData,
    deep_teacher_sample,
    glm_teacher_sample,
    label,
    sample_teacher,
    teacher_preactivation,
)
from deepgep.simulate.estimators import predict, ridge
from deepgep.theory.activations import get_activation
from deepgep.theory.ridge import bayes_ridge_lambda
from deepgep.theory.layers import equivalent_glm, layer_coefficients

WIDTHS = (20, 30, 25)


# --- shapes -----------------------------------------------------------------------------------


def test_shapes_and_types():
    data = deep_teacher_sample(WIDTHS, "tanh", 40, np.random.default_rng(0), gain=2.0, n_test=15)
    assert isinstance(data, TeacherData) and isinstance(data.teacher, DeepTeacher)
    assert data.X.shape == (40, 20) and data.y.shape == (40,)
    assert data.X_test.shape == (15, 20) and data.y_test.shape == (15,)
    assert data.preactivation.shape == (40,) and data.preactivation_test.shape == (15,)
    assert (data.n, data.n_test, data.d, data.alpha) == (40, 15, 20, 2.0)
    t = data.teacher
    assert t.widths == WIDTHS and t.depth == 2 and t.readout.shape == (25,)
    assert (t.rho, t.eps) == (1.0, 0.0)

    empty = deep_teacher_sample(WIDTHS, "erf", 5, np.random.default_rng(0))
    assert empty.X_test.shape == (0, 20) and empty.y_test.shape == (0,)
    assert empty.preactivation_test.shape == (0,)

    g = glm_teacher_sample(30, 50, np.random.default_rng(0), eta0=0.7, gamma0=0.1, n_test=20)
    assert isinstance(g.teacher, GLMTeacher) and g.teacher.readout.shape == (30,)
    assert g.X.shape == (50, 30) and g.X_test.shape == (20, 30)
    assert g.y.shape == (50,) and g.y_test.shape == (20,) and g.preactivation_test.shape == (20,)
    assert (g.teacher.eta0, g.teacher.gamma0) == (0.7, 0.1)


def test_sample_teacher_order_and_preactivation():
    """The network is sample_network's for the same seed, then a: d_L more normals. The
    pre-activation is rho X^L a / sqrt(d_L); chunking only changes the BLAS blocking, so the
    values agree to rounding (a few 1e-16 relative, checked at 1e-12)."""
    rng = np.random.default_rng(3)
    t = sample_teacher(WIDTHS, "sin", rng, gain=1.5, rho=0.8, eps=0.3)
    rng2 = np.random.default_rng(3)
    net = sample_network(WIDTHS, "sin", rng2, gain=1.5)
    a = rng2.standard_normal(WIDTHS[-1])
    assert all(np.array_equal(W1, W2) for W1, W2 in zip(t.network.weights, net.weights))
    np.testing.assert_array_equal(t.readout, a)
    assert rng.standard_normal() == rng2.standard_normal()  # nothing else was consumed

    X0 = gaussian_inputs(37, WIDTHS[0], np.random.default_rng(4))
    (XL,) = forward(net, X0, keep_all=False)
    s_ref = 0.8 * XL @ a / math.sqrt(WIDTHS[-1])
    for chunk in (1, 5, 37, 1000):
        s = teacher_preactivation(t, X0, chunk_size=chunk)
        np.testing.assert_allclose(s, s_ref, rtol=1e-12, atol=1e-13)


# --- seeding ----------------------------------------------------------------------------------


def test_seeding_deep():
    kw = dict(gain=2.0, rho=1.2, eps=0.1, output="linear", noise=0.05)
    a = deep_teacher_sample(WIDTHS, "tanh", 30, np.random.default_rng(7), n_test=10, **kw)
    b = deep_teacher_sample(WIDTHS, "tanh", 30, np.random.default_rng(7), n_test=10, **kw)
    c = deep_teacher_sample(WIDTHS, "tanh", 30, np.random.default_rng(8), n_test=10, **kw)
    for f in ("X", "y", "X_test", "y_test", "preactivation_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
        assert not np.array_equal(getattr(a, f), getattr(c, f))
    # the teacher and the training set do not depend on n_test (documented generator order)
    d = deep_teacher_sample(WIDTHS, "tanh", 30, np.random.default_rng(7), n_test=0, **kw)
    np.testing.assert_array_equal(a.X, d.X)
    np.testing.assert_array_equal(a.y, d.y)
    np.testing.assert_array_equal(a.teacher.readout, d.teacher.readout)


def test_seeding_glm_and_its_test_set():
    """n_test = 0 draws the training set alone; with a test set, a and the training inputs are
    the same (documented: one draw of n + n_test samples, split), and the test set is labelled
    by the same teacher."""
    kw = dict(eta0=0.6, gamma0=0.15, output="sign", noise=0.1)
    ref = glm_teacher_sample(25, 40, np.random.default_rng(5), n_test=0, **kw)
    assert ref.X_test.shape == (0, 25) and ref.y_test.shape == (0,) and ref.preactivation_test.shape == (0,)
    g = glm_teacher_sample(25, 40, np.random.default_rng(5), n_test=12, **kw)
    np.testing.assert_array_equal(g.teacher.readout, ref.teacher.readout)
    np.testing.assert_array_equal(g.X, ref.X)
    np.testing.assert_array_equal(g.preactivation, ref.preactivation)
    # test pre-activations are the same teacher's eta0 X_test a / sqrt(d)
    np.testing.assert_allclose(g.preactivation_test, 0.6 * g.X_test @ ref.teacher.readout / 5.0, rtol=1e-13, atol=1e-14)


# --- label conventions ------------------------------------------------------------------------


def test_label_conventions_exact():
    """label() draws xi then xi' (n each) and forms s + sqrt(eps) xi + sqrt(noise) xi'; the sign
    channel takes the sign of that SAME sum (noise before the sign), sign(0) = +1."""
    t = sample_teacher(WIDTHS, "erf", np.random.default_rng(1), gain=1.0, rho=1.1, eps=0.3)
    X0 = gaussian_inputs(50, WIDTHS[0], np.random.default_rng(2))
    s = teacher_preactivation(t, X0)
    ref = np.random.default_rng(9)
    xi, xi_out = ref.standard_normal(50), ref.standard_normal(50)
    u = s + math.sqrt(0.3) * xi + math.sqrt(0.2) * xi_out
    y_lin = label(t, X0, np.random.default_rng(9), "linear", 0.2)
    np.testing.assert_allclose(y_lin, u, rtol=0, atol=1e-14)
    y_sign = label(t, X0, np.random.default_rng(9), "sign", 0.2)
    np.testing.assert_array_equal(y_sign, np.where(u >= 0.0, 1.0, -1.0))
    assert set(np.unique(y_sign)) <= {-1.0, 1.0}
    # noiseless teacher: the sign label is the sign of the pre-activation
    t0 = DeepTeacher(t.network, t.readout, rho=1.1, eps=0.0)
    y0 = label(t0, X0, np.random.default_rng(0), "sign")
    np.testing.assert_array_equal(y0, np.where(s >= 0, 1.0, -1.0))
    # the same seed gives the same labels; the output name is case/space tolerant
    np.testing.assert_array_equal(label(t, X0, np.random.default_rng(9), " Sign ", 0.2), y_sign)


def test_sign_flip_rate_is_probit():
    """With noise inside the sign, P(Y != sign(s) | s) = Phi(-|s| / sqrt(eps + Delta)) exactly.
    The observed flip count is a sum of independent Bernoullis given s: the tolerance is 4 of
    its standard deviations. (Noise added after the sign would give labels outside +-1.)"""
    data = deep_teacher_sample((100, 150, 120), "tanh", 20000, np.random.default_rng(11),
                               gain=2.0, eps=0.2, output="sign", noise=0.3)
    s = data.preactivation
    p = ndtr(-np.abs(s) / math.sqrt(0.5))
    flips = np.sum(data.y != np.where(s >= 0, 1.0, -1.0))
    sd = math.sqrt(np.sum(p * (1 - p)))
    assert abs(flips - p.sum()) < 4 * sd, (flips, p.sum(), sd)
    assert set(np.unique(data.y)) == {-1.0, 1.0}


def test_validation():
    t = sample_teacher(WIDTHS, "tanh", np.random.default_rng(0))
    X0 = gaussian_inputs(5, WIDTHS[0], np.random.default_rng(0))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        label(t, X0, rng, "relu")
    with pytest.raises(ValueError):
        label(t, X0, rng, "linear", noise=-0.1)
    with pytest.raises(ValueError):
        label(t, X0, rng, "linear", noise=float("nan"))
    with pytest.raises(TypeError):
        label(t, X0, 0, "linear")
    with pytest.raises(ValueError):
        label(t, X0[:, :3], rng)
    with pytest.raises(ValueError):
        sample_teacher(WIDTHS, "tanh", rng, rho=0.0)
    with pytest.raises(ValueError):
        sample_teacher(WIDTHS, "tanh", rng, eps=-1.0)
    with pytest.raises(TypeError):
        sample_teacher(WIDTHS, "tanh", 1)
    with pytest.raises(ValueError):
        DeepTeacher(t.network, np.ones(3))
    with pytest.raises(ValueError):
        deep_teacher_sample(WIDTHS, "tanh", 0, rng)
    with pytest.raises(ValueError):
        deep_teacher_sample(WIDTHS, "tanh", 5, rng, n_test=-1)
    with pytest.raises(ValueError):
        deep_teacher_sample(WIDTHS, "tanh", 5, rng, output="abs")
    with pytest.raises(ValueError):
        glm_teacher_sample(10, 5, rng, eta0=1.0, gamma0=0.0, output="abs")
    with pytest.raises(ValueError):
        glm_teacher_sample(10, 5, rng, eta0=1.0, gamma0=-0.1)


# --- label variance: deep teacher vs equivalent GLM -------------------------------------------

#: Tanh(2x), L = 2 (Cui et al.'s example), readout rho = 1.3, eps = 0.2, label noise 0.1.
ACT, GAIN, RHO, EPS, NOISE = "tanh", 2.0, 1.3, 0.2, 0.1
WIDE = (200, 300, 250)
N_TEACHERS, N_PER_TEACHER = 30, 2000
#: Finite-width bias of E (X^L_1)^2 against sigma_L: measured -0.10/d0 at widths (200,300,250)
#: and -0.13/d0 at (400,600,500) over 40 teachers (mean of X^L^2 over all units and 1000 inputs,
#: SE 2e-4): an O(1/d) effect (the input norm |x|^2/d0 fluctuates by O(1/sqrt(d0)) and enters
#: quadratically). Allowance: 0.3 rho^2 / d0, about twice the measured value.
WIDTH_BIAS = 0.3 * RHO**2 / WIDE[0]


def _per_teacher_variances(draw) -> tuple[np.ndarray, np.ndarray]:
    """Sample variance of y and of y - s for N_TEACHERS independent teachers."""
    var_y, var_noise = np.empty(N_TEACHERS), np.empty(N_TEACHERS)
    for k in range(N_TEACHERS):
        data = draw(np.random.default_rng(1000 + k))
        var_y[k] = data.y.var(ddof=1)
        var_noise[k] = (data.y - data.preactivation).var(ddof=1)
    return var_y, var_noise


@pytest.fixture(scope="module")
def label_variances():
    coeffs = layer_coefficients(ACT, 2, gain=GAIN)
    glm = equivalent_glm(coeffs, RHO, EPS)
    deep = _per_teacher_variances(lambda rng: deep_teacher_sample(
        WIDE, ACT, N_PER_TEACHER, rng, gain=GAIN, rho=RHO, eps=EPS, output="linear", noise=NOISE))
    lin = _per_teacher_variances(lambda rng: glm_teacher_sample(
        WIDE[0], N_PER_TEACHER, rng, eta0=glm.eta0, gamma0=glm.gamma0, output="linear", noise=NOISE))
    return coeffs, glm, deep, lin


def test_equivalent_variance_identity(label_variances):
    """eta0^2 + gamma0 = rho^2 sigma_L + eps: the recursion sigma_l = sigma_{l-1} rho_l^2 + eps_l
    telescopes (sigma_0 = 1). A handful of roundings: 1e-13."""
    coeffs, glm, _, _ = label_variances
    assert glm.kappa + glm.gamma0 == pytest.approx(RHO**2 * coeffs.sigma[-1] + EPS, rel=1e-13)


def test_linear_label_noise_adds_up(label_variances):
    """Y - s = sqrt(eps) xi + sqrt(Delta) xi' exactly: its pooled variance over N = 60000 i.i.d.
    normals estimates eps + Delta with relative SE sqrt(2/N) = 0.58%; tolerance 4 SE."""
    _, _, (_, var_noise), _ = label_variances
    n_total = N_TEACHERS * N_PER_TEACHER
    assert var_noise.mean() == pytest.approx(EPS + NOISE, rel=4 * math.sqrt(2.0 / n_total))


def test_label_variance_deep_vs_glm(label_variances):
    """Var(Y) over a wide deep teacher ~ rho^2 sigma_L + eps + Delta, and over the equivalent GLM
    ~ eta0^2 + gamma0 + Delta (the same number). A single teacher's label variance fluctuates by
    O(1/sqrt(d_L)) (a^T C a / d_L for the fixed teacher's feature covariance C), so each estimate
    is the mean over 30 independent teachers; its SE (spread across teachers / sqrt(30)) contains
    the teacher, input and noise randomness. Tolerance: 4 SE, plus WIDTH_BIAS for the deep one."""
    coeffs, glm, (deep_y, _), (glm_y, _) = label_variances
    target = glm.kappa + glm.gamma0 + NOISE
    se_deep = deep_y.std(ddof=1) / math.sqrt(N_TEACHERS)
    se_glm = glm_y.std(ddof=1) / math.sqrt(N_TEACHERS)
    assert abs(deep_y.mean() - target) < 4 * se_deep + WIDTH_BIAS, (deep_y.mean(), target, se_deep)
    assert abs(glm_y.mean() - target) < 4 * se_glm, (glm_y.mean(), target, se_glm)
    assert abs(deep_y.mean() - glm_y.mean()) < 4 * math.hypot(se_deep, se_glm) + WIDTH_BIAS
    # the test has teeth: the SEs are a few % of the target
    assert max(se_deep, se_glm) < 0.03 * target


# --- train and test from the same teacher -----------------------------------------------------


def test_test_set_from_same_teacher():
    """At alpha = 10 ridge learns the teacher well: the correlation of its predictions with the
    TEST labels is large (the equivalent GLM's Bayes value sqrt(kappa q* / (kappa + gamma0 +
    Delta)) is 0.90, measured 0.887; asserted > 0.6). Against the
    labels of an INDEPENDENT teacher on the same test inputs the population correlation is the
    cosine of w with an independent random direction (the other teacher's linear part),
    O(1/sqrt(d0)), plus the O(1/sqrt(n_test)) sampling error: asserted below
    4 (1/sqrt(d0) + 1/sqrt(n_test)) = 0.30, well separated from 0.6."""
    widths, gain, noise, n = (300, 400), 1.0, 0.05, 3000
    data = deep_teacher_sample(widths, "tanh", n, np.random.default_rng(21), gain=gain,
                               output="linear", noise=noise, n_test=n)
    glm = equivalent_glm(layer_coefficients("tanh", 1, gain=gain))
    w = ridge(data.X, data.y, bayes_ridge_lambda(glm.eta0, glm.gamma0, noise))
    pred = predict(data.X_test, w)
    corr = np.corrcoef(pred, data.y_test)[0, 1]
    assert corr > 0.6, corr
    other = sample_teacher(widths, "tanh", np.random.default_rng(22), gain=gain)
    y_other = label(other, data.X_test, np.random.default_rng(23), "linear", noise)
    null = abs(np.corrcoef(pred, y_other)[0, 1])
    assert null < 4 * (1 / math.sqrt(widths[0]) + 1 / math.sqrt(n)), null

    sign = deep_teacher_sample(widths, "tanh", n, np.random.default_rng(21), gain=gain,
                               output="sign", noise=noise, n_test=n)
    w = ridge(sign.X, sign.y, 1.0)
    agree = np.mean(np.where(predict(sign.X_test, w) >= 0, 1.0, -1.0) == sign.y_test)
    assert agree > 0.75, agree  # chance is 0.5 (4 SE of chance: 0.04)


# --- the GLM teacher's model and draws ------------------------------------------------------------


def test_glm_model_and_draw_order():
    """z = eta0 X a / sqrt(d) and y = z + sqrt(gamma0) xi + sqrt(noise) xi', with the documented
    draw order a, X (training then test rows), xi, xi' (reconstructed here from the same seed)."""
    n, n_test, d, eta0, gamma0, noise = 30, 6, 20, 0.7, 0.2, 0.1
    s = glm_teacher_sample(d, n, np.random.default_rng(3), eta0=eta0, gamma0=gamma0, noise=noise, n_test=n_test)
    assert s.X.shape == (n, d) and s.y.shape == (n,) and s.teacher.readout.shape == (d,)
    assert (s.n, s.n_test, s.d, s.output, s.noise) == (n, n_test, d, "linear", noise)
    assert s.alpha == n / d and s.teacher.kappa == pytest.approx(eta0**2)
    rng = np.random.default_rng(3)
    a = rng.standard_normal(d)
    X = rng.standard_normal((n + n_test, d))
    xi, xi_out = rng.standard_normal(n + n_test), rng.standard_normal(n + n_test)
    np.testing.assert_array_equal(s.teacher.readout, a)
    np.testing.assert_array_equal(np.vstack([s.X, s.X_test]), X)
    # One matrix-vector product and a few roundings: agreement to a few ulps of |z| ~ 1.
    z = np.concatenate([s.preactivation, s.preactivation_test])
    np.testing.assert_allclose(z, eta0 * X @ a / math.sqrt(d), rtol=0, atol=1e-13)
    expected_y = z + math.sqrt(gamma0) * xi + math.sqrt(noise) * xi_out
    np.testing.assert_allclose(np.concatenate([s.y, s.y_test]), expected_y, rtol=0, atol=1e-13)
    with pytest.raises(AttributeError):
        s.noise = 2.0  # frozen


def test_glm_seeding():
    one = glm_teacher_sample(7, 10, np.random.default_rng(11), gamma0=0.3, noise=0.2)
    two = glm_teacher_sample(7, 10, np.random.default_rng(11), gamma0=0.3, noise=0.2)
    other = glm_teacher_sample(7, 10, np.random.default_rng(12), gamma0=0.3, noise=0.2)
    for get in (lambda g: g.X, lambda g: g.y, lambda g: g.teacher.readout, lambda g: g.preactivation):
        np.testing.assert_array_equal(get(one), get(two))
        assert not np.array_equal(get(one), get(other))
    # Same stream for every channel: the linear output is the identity callable, bit for bit,
    # and the sign output sees the same teacher and inputs.
    ident = glm_teacher_sample(7, 10, np.random.default_rng(11), gamma0=0.3, noise=0.2, output=lambda x: x)
    sign = glm_teacher_sample(7, 10, np.random.default_rng(11), gamma0=0.3, noise=0.2, output="sign")
    np.testing.assert_array_equal(one.y, ident.y)
    np.testing.assert_array_equal(one.X, sign.X)
    np.testing.assert_array_equal(one.teacher.readout, sign.teacher.readout)


def test_glm_moments_of_z():
    """Given a, z_mu ~ N(0, kappa |a|^2 / d) i.i.d., so mean(z^2) / (kappa |a|^2/d) has mean 1 and
    standard deviation sqrt(2/n) = 0.01 at n = 20000: checked at 5 standard deviations. Over the
    teacher too, E z^2 = kappa; |a|^2/d = 1 +- sqrt(2/d) = 0.2 at d = 50, checked at 5 sd."""
    n, d, eta0 = 20000, 50, 0.8
    s = glm_teacher_sample(d, n, np.random.default_rng(4), eta0=eta0, gamma0=0.5, noise=0.25)
    a, z = s.teacher.readout, s.preactivation
    conditional = eta0**2 * float(a @ a) / d
    assert abs(np.mean(z**2) / conditional - 1.0) < 5 * math.sqrt(2.0 / n)
    assert abs(np.mean(z)) < 5 * math.sqrt(conditional / n)
    assert abs(float(a @ a) / d - 1.0) < 5 * math.sqrt(2.0 / d)
    # Residual of the linear channel: variance gamma0 + noise = 0.75, same tolerance logic.
    assert abs(np.var(s.y - z) / 0.75 - 1.0) < 5 * math.sqrt(2.0 / n)


def test_glm_sign_output():
    """Labels are +-1 and agree with sign(z) with probability 1 - arccos(sqrt(kappa/rho))/pi,
    rho = kappa + gamma0 + noise (the probit channel, book eq-probit-qhat); the empirical
    frequency over n = 20000 has standard deviation <= 0.5/sqrt(n): checked at 5 sd."""
    n, eta0, gamma0, noise = 20000, 0.9, 0.3, 0.2
    s = glm_teacher_sample(40, n, np.random.default_rng(5), eta0=eta0, gamma0=gamma0, noise=noise, output="SIGN ")
    assert s.output == "sign"
    assert set(np.unique(s.y)) == {-1.0, 1.0}
    a, z = s.teacher.readout, s.preactivation
    kappa_given_a = eta0**2 * float(a @ a) / 40  # z | a has this variance
    expected = 1.0 - math.acos(math.sqrt(kappa_given_a / (kappa_given_a + gamma0 + noise))) / math.pi
    assert abs(np.mean(s.y == np.sign(z)) - expected) < 5 * 0.5 / math.sqrt(n)
    noiseless = glm_teacher_sample(40, 200, np.random.default_rng(5), output="sign")
    np.testing.assert_array_equal(noiseless.y, np.where(noiseless.preactivation >= 0, 1.0, -1.0))


def test_glm_callable_output():
    s = glm_teacher_sample(10, 50, np.random.default_rng(6), eta0=1.3, output=np.tanh, n_test=5)
    assert s.output == "tanh"
    np.testing.assert_array_equal(s.y, np.tanh(s.preactivation))
    np.testing.assert_array_equal(s.y_test, np.tanh(s.preactivation_test))
    # A deepgep Activation is a callable: its name is recorded, and the gain is applied (a
    # "linear" activation with gain 2 is NOT the linear channel).
    doubled = glm_teacher_sample(10, 50, np.random.default_rng(6), eta0=1.3, output=get_activation("linear", 2.0))
    assert doubled.output == "linear"
    np.testing.assert_allclose(doubled.y, 2.0 * doubled.preactivation, rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n=0, d0=5),
        dict(n=-3, d0=5),
        dict(n=2.5, d0=5),
        dict(n=5, d0=0),
        dict(n=5, d0=True),
        dict(n=5, d0=5, n_test=-1),
        dict(n=5, d0=5, eta0=0.0),
        dict(n=5, d0=5, eta0=-1.0),
        dict(n=5, d0=5, eta0=math.inf),
        dict(n=5, d0=5, gamma0=-0.1),
        dict(n=5, d0=5, noise=math.nan),
        dict(n=5, d0=5, noise=-1e-3),
        dict(n=5, d0=5, gamma0=math.inf),
        dict(n=5, d0=5, eta0="big"),
        dict(n=5, d0=5, output="relu"),
        dict(n=5, d0=5, output=3.0),
        dict(n=5, d0=5, output=lambda x: x[:2]),
        dict(n=5, d0=5, output=lambda x: np.full_like(x, np.inf)),
    ],
)
def test_glm_bad_inputs(kwargs):
    with pytest.raises(ValueError):
        glm_teacher_sample(rng=np.random.default_rng(0), **kwargs)


def test_glm_needs_generator():
    with pytest.raises(TypeError):
        glm_teacher_sample(5, 5, np.random.RandomState(0))
    with pytest.raises(TypeError):
        glm_teacher_sample(5, 5, 0)

"""Tests of deepgep.theory.quadrature: Gaussian quadrature (exactness, closed forms, 30-digit
references, and identities).

Two rules (see deepgep.theory.quadrature): the default split rule (``n_nodes=None``: Gauss-Legendre on
[-12, 0] and [0, 12], 2 x 100 nodes, Gaussian density in the weights) and Gauss-Hermite with an
explicit ``n_nodes``. Tolerance vocabulary used below:

* "exact rule": the n-node Gauss-Hermite rule integrates polynomials of degree <= 2n - 1
  exactly, so only float64 rounding remains (~1e-15 relative for small rules). Polynomial
  exactness is therefore tested on Gauss-Hermite with an explicit ``n_nodes``.
* The default split rule is not renormalised: its weights sum to 1 - 1.3e-15 (6 ulps) and its
  even moments E Z^{2k}, k <= 10, are off by <= 1.3e-15 relative (measured). On the smooth
  integrands of these tests (g sqrt(var) <= 6) it errs by <= 5e-15 against 30-digit mpmath
  (measured), and by ~1e-15 on relu (exact on each half-line). Tolerances on it are 1e-14,
  2-10x above the measured errors, unless a comment says otherwise.
* The 601-node Gauss-Hermite rule (GAUSS_HERMITE_NODES) comes from scipy's asymptotic (n > 150)
  node/weight formulas, whose moments carry a relative error ~1.4e-14; it appears here only as
  the rule the default replaced.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy.special import erf, gammaln
from scipy.stats import norm

from deepgep.theory.activations import get_activation
from deepgep.theory.quadrature import (
    GAUSS_HERMITE_NODES,
    SPLIT_RULE_CUTOFF,
    SPLIT_RULE_NODES,
    activation_kernel,
    gauss_hermite_rule,
    gaussian_expectation,
    gaussian_expectation_2d,
    gaussian_moments,
    hermite_coefficients,
    normalized_hermite_coefficients,
    normalized_hermite_table,
    rule_for,
    split_legendre_rule,
)
from deepgep.theory.kernels import conjugate_kernel
from deepgep.theory.layers import layer_coefficients

EPS = np.finfo(np.float64).eps


def double_factorial_odd(k: int) -> int:
    """(2k - 1)!! = E Z^{2k}, with (-1)!! = 1."""
    return math.prod(range(1, 2 * k, 2))


def sqrt_factorials(k_max: int) -> np.ndarray:
    """sqrt(k!) for k = 0..k_max, from exact integers (k_max <= 170)."""
    return np.sqrt([float(math.factorial(k)) for k in range(k_max + 1)])


# --- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, GAUSS_HERMITE_NODES])
def test_rule_is_a_symmetric_probability_rule(n):
    x, w = gauss_hermite_rule(n)
    assert x.shape == w.shape == (n,)
    assert np.all(w >= 0) and np.all(np.diff(x) > 0)
    # The weights are normalised by a division: the sum of n terms is 1 within n ulps.
    assert abs(w.sum() - 1.0) <= n * EPS
    # Nodes of the probabilists' rule are symmetric about 0 (to the rounding of the nodes).
    np.testing.assert_allclose(x, -x[::-1], rtol=0, atol=1e-13 * max(1.0, np.abs(x).max()))
    # The cached arrays are shared, so they must not be writable.
    assert not x.flags.writeable and not w.flags.writeable


def test_rule_exact_to_degree_2n_minus_1():
    n = 10
    x, w = gauss_hermite_rule(n)
    for k in range(n):  # even degrees 0..18 <= 2n - 1 = 19
        # exact rule: only rounding of 10 positive terms (node errors amplified by the power
        # 2k <= 18) remains, measured at <= 4e-15 relative.
        assert np.sum(w * x ** (2 * k)) == pytest.approx(double_factorial_odd(k), rel=1e-13)
    for k in range(n):  # odd degrees 1..19 vanish by symmetry; scale by E|Z|^{2k+1}
        scale = np.sum(w * np.abs(x) ** (2 * k + 1))
        assert abs(np.sum(w * x ** (2 * k + 1))) <= 1e-13 * scale


@pytest.mark.parametrize("n", [3, 5, 10])
def test_rule_error_at_degree_2n_is_n_factorial(n):
    """Gauss's remainder for f = z^{2n}: E f - Q f = f^{(2n)} ||He_n||^2 / (2n)! = n!.

    So degree 2n is NOT integrated exactly, and the defect is known exactly.
    """
    x, w = gauss_hermite_rule(n)
    exact = double_factorial_odd(n)
    quad = np.sum(w * x ** (2 * n))
    # The defect n! is >= 5e-3 of the moment, far above the rounding of quad (~1e-15 relative).
    assert exact - quad == pytest.approx(math.factorial(n), rel=1e-12)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_rule_rejects_bad_node_counts(bad):
    with pytest.raises(ValueError):
        gauss_hermite_rule(bad)


def test_split_rule_is_the_default():
    """The default rule: 2 x SPLIT_RULE_NODES Gauss-Legendre nodes on [-12, 0] and [0, 12],
    mirror-symmetric to the bit, with the Gaussian density folded into the weights."""
    x, w = split_legendre_rule()
    assert x.shape == w.shape == (2 * SPLIT_RULE_NODES,)
    assert np.all(w > 0) and np.all(np.diff(x) > 0)
    assert np.abs(x).max() < SPLIT_RULE_CUTOFF
    # built by mirroring: exactly symmetric, so odd integrands cancel pairwise
    np.testing.assert_array_equal(x, -x[::-1])
    np.testing.assert_array_equal(w, w[::-1])
    assert not x.flags.writeable and not w.flags.writeable
    # Not renormalised: sum w = 1 - 1.3e-15 (6 ulps, measured; the cut-off P(|Z| > 12) =
    # 3.6e-33 is far below that), so 10 ulps.
    assert abs(w.sum() - 1.0) <= 10 * EPS
    # |Z|^k is smooth on each half-line, so the split at 0 makes these "exact-looking"
    # (measured <= 2.1e-15).
    assert np.sum(w * np.abs(x)) == pytest.approx(math.sqrt(2 / math.pi), abs=1e-14)
    assert np.sum(w * x**2) == pytest.approx(1.0, abs=1e-14)
    assert np.sum(w * np.abs(x) ** 3) == pytest.approx(2 * math.sqrt(2 / math.pi), abs=1e-14)
    for k in range(11):  # E Z^{2k} = (2k - 1)!!, k <= 10: measured <= 1.3e-15 relative
        assert np.sum(w * x ** (2 * k)) == pytest.approx(double_factorial_odd(k), rel=1e-14)
    # n_nodes=None selects the split rule (the same cached arrays); an integer, Gauss-Hermite.
    assert rule_for()[0] is x and rule_for(None)[1] is w
    np.testing.assert_array_equal(split_legendre_rule(SPLIT_RULE_NODES, SPLIT_RULE_CUTOFF)[1], w)
    assert rule_for(11)[0] is gauss_hermite_rule(11)[0]
    assert rule_for(GAUSS_HERMITE_NODES)[1] is gauss_hermite_rule(GAUSS_HERMITE_NODES)[1]
    # rule_for no longer looks at the integrand: the old call styles are errors, not ignored.
    with pytest.raises(TypeError):
        rule_for(np.tanh, 11)
    with pytest.raises(TypeError):
        rule_for(get_activation("relu"))


@pytest.mark.parametrize(
    ("n_per_side", "cutoff"), [(0, 12.0), (-1, 12.0), (2.5, 12.0), (10, 0.0), (10, -1.0), (10, float("nan"))]
)
def test_split_rule_rejects_bad_arguments(n_per_side, cutoff):
    with pytest.raises(ValueError):
        split_legendre_rule(n_per_side, cutoff)


# --- 1-D expectations against closed forms -----------------------------------------------------


@pytest.mark.parametrize("var", [0.25, 1.0, 2.5])
@pytest.mark.parametrize("a", [0.5, 1.0, 2.0, 3.0])
def test_expectation_of_cos_and_exp(a, var):
    """E cos(b Z) = exp(-b^2 / 2), E exp(b Z) = exp(b^2 / 2), b = a sqrt(v); default rule.

    Entire integrands: measured errors <= 4e-15 (cos, absolute) and <= 3e-15 (exp, relative).
    The rule integrates over [-12, 12] only, which for exp(b Z) drops the relative mass
    P(Z > 12 - b) + P(Z > 12 + b) of the tilted Gaussian: 2.0e-13 at b = 4.74 (a = 3, v = 2.5),
    above the rule's rounding. So exp is compared with the truncated closed form, and the
    truncation itself is checked to be that tail.
    """
    b = a * math.sqrt(var)
    assert gaussian_expectation(lambda z: np.cos(a * z), var) == pytest.approx(
        math.exp(-b * b / 2), rel=0, abs=1e-14
    )
    tail = norm.sf(SPLIT_RULE_CUTOFF - b) + norm.sf(SPLIT_RULE_CUTOFF + b)
    got = gaussian_expectation(lambda z: np.exp(a * z), var)
    assert got == pytest.approx(math.exp(b * b / 2) * (1.0 - tail), rel=1e-14)
    assert abs(got / math.exp(b * b / 2) - 1.0) <= tail + 1e-14


def test_expectation_with_zero_variance_is_f_at_zero():
    # 3 * sum(w): the split rule's weights sum to 1 within 10 ulps (test above)
    assert gaussian_expectation(lambda z: np.cos(z) + 2.0, 0.0) == pytest.approx(3.0, rel=10 * EPS)


@pytest.mark.parametrize("g", [1.0, 2.0, 3.0, 5.0])
def test_why_the_split_rule_is_the_default(g, mp_gauss):
    """The measured reason for the default: on E tanh(gZ)^2 and E Z tanh(gZ) the split rule
    (200 nodes) is within 5e-14 of 30-digit mpmath at every gain (measured <= 4.5e-15), and
    beats Gauss-Hermite with 601 nodes, whose error grows as the poles of tanh(g z) at
    i pi / 2g approach the real axis (measured 2e-6 and 7e-8 at g = 5)."""
    ref_second = mp_gauss(lambda z: mpmath.tanh(g * z) ** 2)
    ref_stein = mp_gauss(lambda z: z * mpmath.tanh(g * z))
    act = get_activation("tanh", g)
    m = gaussian_moments(act, 1.0)
    assert m.second == pytest.approx(ref_second, rel=0, abs=5e-14)
    assert m.stein == pytest.approx(ref_stein, rel=0, abs=5e-14)
    assert m.residual == pytest.approx(ref_second - ref_stein**2, rel=0, abs=5e-14)
    # The generic path (values on the nodes, numpy) gives the same accuracy.
    assert gaussian_expectation(lambda z: np.tanh(g * z) ** 2, 1.0) == pytest.approx(
        ref_second, rel=0, abs=5e-14
    )
    hermite = gaussian_moments(act, 1.0, n_nodes=GAUSS_HERMITE_NODES)
    # measured: split 7e-16..5e-15, Hermite 6e-15..2e-6 (second), 9e-15..7e-8 (stein)
    assert abs(m.second - ref_second) < abs(hermite.second - ref_second)
    assert abs(m.stein - ref_stein) < abs(hermite.stein - ref_stein)
    if g == 5.0:
        assert abs(hermite.second - ref_second) > 1e-8
        assert abs(hermite.stein - ref_stein) > 1e-8


def test_default_rule_is_exact_for_relu():
    """The split at 0 puts relu's kink on a panel boundary: E relu(Z) = 1/sqrt(2 pi),
    E relu(Z)^2 = E[Z relu(Z)] = 1/2, residual 1/4, to rounding (measured <= 1.3e-15).
    Gauss-Hermite converges only algebraically on the kink (measured 5.5e-4 on the mean)."""
    relu = get_activation("relu")
    m = gaussian_moments(relu, 1.0)
    assert m.mean == pytest.approx(1 / math.sqrt(2 * math.pi), rel=0, abs=1e-14)
    assert m.second == pytest.approx(0.5, rel=0, abs=1e-14)
    assert m.stein == pytest.approx(0.5, rel=0, abs=1e-14)
    assert m.residual == pytest.approx(0.25, rel=0, abs=1e-14)
    assert gaussian_expectation(relu, 1.0) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=0, abs=1e-14)
    assert gaussian_expectation(lambda z: np.maximum(z, 0.0) ** 2, 1.0) == pytest.approx(0.5, rel=0, abs=1e-14)
    hermite = gaussian_moments(relu, 1.0, n_nodes=GAUSS_HERMITE_NODES)
    assert abs(hermite.mean - 1 / math.sqrt(2 * math.pi)) > 1e-4


def test_explicit_n_nodes_is_honoured_for_every_activation():
    """An integer n_nodes means Gauss-Hermite for relu too (no silent switch to the split
    rule): the library's moments equal the plain numpy sums on gauss_hermite_rule(n)."""
    x, w = gauss_hermite_rule(GAUSS_HERMITE_NODES)
    for act in (get_activation("relu", 1.3), get_activation("tanh", 2.0), get_activation(np.sin, 0.8)):
        m = gaussian_moments(act, 0.7, n_nodes=GAUSS_HERMITE_NODES)
        fx = act(math.sqrt(0.7) * x)
        # same terms, summation order possibly different: a few ulps of E|phi| <= 1
        assert m.mean == pytest.approx(np.sum(w * fx), rel=0, abs=4 * EPS)
        assert m.second == pytest.approx(np.sum(w * fx * fx), rel=0, abs=4 * EPS)
        assert m.stein == pytest.approx(np.sum(w * x * fx), rel=0, abs=4 * EPS)


# Variances of the tanh(2x) recursion stay <= 1 (tanh^2 <= 1); larger ones are included because
# the default rule stays accurate there (g sqrt(var) = 4 at var = 4: measured 4e-15, where the
# 601-node Hermite rule already erred by 6e-12 at var = 1.7).
@pytest.mark.parametrize("var", [0.3, 0.635261, 1.0, 1.7, 4.0])
def test_gaussian_moments_of_tanh_against_mpmath_and_stein(var, mp_gauss):
    g = 2.0
    act = get_activation("tanh", g)
    m = gaussian_moments(act, var)
    s = math.sqrt(var)
    ref_second = mp_gauss(lambda u: mpmath.tanh(g * u) ** 2, var)
    ref_stein = mp_gauss(lambda u: u * mpmath.tanh(g * u), var) / s  # E[Z phi(sZ)] = E[sZ phi]/s
    ref_dphi = mp_gauss(lambda u: g / mpmath.cosh(g * u) ** 2, var)  # E phi'(sZ)
    assert m.second == pytest.approx(ref_second, rel=0, abs=1e-14)
    assert m.stein == pytest.approx(ref_stein, rel=0, abs=1e-14)
    # Stein's lemma E[Z phi(sZ)] = s E phi'(sZ), both sides independently of each other:
    assert m.stein == pytest.approx(s * ref_dphi, rel=0, abs=1e-14)
    # the variance of the nonlinear part, E (phi - stein Z)^2 = E phi^2 - stein^2 (measured 2e-15)
    assert m.residual == pytest.approx(ref_second - ref_stein**2, rel=0, abs=1e-14)
    # odd phi on a mirror-symmetric rule: the mean cancels to rounding (measured <= 0.3 ulp).
    assert abs(m.mean) <= EPS


@pytest.mark.parametrize("var", [0.5, 1.0, 3.0])
def test_stein_identity_is_exact_for_polynomials(var):
    """phi(x) = x^3 - 2x: E[Z phi(sZ)] = s E phi'(sZ) = 3 s^3 - 2 s, exactly on an exact rule;
    the nonlinear part is phi - stein Z = s^3 He_3(Z), so residual = 3! s^6."""
    act = get_activation(lambda x: x**3 - 2 * x)
    assert act.odd
    s = math.sqrt(var)
    m = gaussian_moments(act, var, n_nodes=20)  # degree <= 7 << 39: exact rule
    # E[Z (s^3 Z^3 - 2 s Z)] = 3 s^3 - 2 s;  E phi^2 = 15 s^6 - 12 s^4 + 4 s^2 (measured 3e-15)
    assert m.stein == pytest.approx(3 * s**3 - 2 * s, rel=1e-14)
    assert m.second == pytest.approx(15 * s**6 - 12 * s**4 + 4 * s**2, rel=1e-14)
    assert m.residual == pytest.approx(6 * s**6, rel=1e-14)
    assert abs(m.mean) <= 1e-14 * max(1.0, s**3)
    dphi = gaussian_expectation(lambda u: 3 * u**2 - 2, var, n_nodes=20)
    assert m.stein == pytest.approx(s * dphi, rel=1e-14)


@pytest.mark.parametrize("var", [0.3, 0.8, 2.0])
def test_user_callable_and_builtin_give_the_same_moments(var):
    """Compiled math.tanh vs numpy tanh on the same 200 nodes: sums agree to ~ulps (measured
    <= 6e-17; 2 ulps of the O(1) moments)."""
    builtin = gaussian_moments(get_activation("tanh", 2.0), var)
    user = gaussian_moments(get_activation(np.tanh, 2.0), var)
    for field in ("mean", "second", "stein", "residual"):
        assert getattr(user, field) == pytest.approx(getattr(builtin, field), rel=0, abs=2 * EPS)


# --- Hermite coefficients and Mehler's formula --------------------------------------------------


def test_coefficients_of_he3_are_3_factorial_at_index_3():
    c = hermite_coefficients(lambda x: x**3 - 3 * x, 1.0, 8, n_nodes=20)  # exact rule, deg <= 11
    expected = np.zeros(9)
    expected[3] = 6.0  # = E He_3^2 = 3!
    # rounding relative to the natural scale sqrt(k!) ||He_3|| = sqrt(6 k!) of c_k (Cauchy-Schwarz)
    scale = np.sqrt([6.0 * math.factorial(k) for k in range(9)])
    assert np.all(np.abs(c - expected) <= 1e-13 * scale)
    # normalised: h_3 = 3! / sqrt(3!) = sqrt(6), the others vanish
    h = normalized_hermite_coefficients(lambda x: x**3 - 3 * x, 1.0, 8, n_nodes=20)
    np.testing.assert_allclose(h, expected / sqrt_factorials(8), rtol=0, atol=1e-13 * math.sqrt(6))


@pytest.mark.parametrize("k", [0, 3, 4, 7])
@pytest.mark.parametrize("var", [0.5, 1.0, 2.0])
def test_coefficients_of_monomials(k, var):
    """(s Z)^k = s^k sum_m k! / (m! 2^m (k-2m)!) He_{k-2m}(Z): c_j = s^k k! / (m! 2^m), j = k - 2m."""
    k_max = 10
    c = hermite_coefficients(lambda x: x**k, var, k_max, n_nodes=30)  # exact: deg <= 17 < 59
    expected = np.zeros(k_max + 1)
    for m in range(k // 2 + 1):
        expected[k - 2 * m] = var ** (k / 2) * math.factorial(k) / (math.factorial(m) * 2**m)
    # float64 rounding relative to the natural scale sqrt(j! E f^2) of c_j (Cauchy-Schwarz).
    scale = sqrt_factorials(k_max) * math.sqrt(var**k * double_factorial_odd(k))
    assert np.all(np.abs(c - expected) <= 1e-13 * scale)


def erf_normalized_coefficients(a: float, k_max: int) -> np.ndarray:
    """h_k of erf(a Z): h_{2m+1} = (2a/sqrt(pi)) (2m)!/m! (-a^2)^m / (1+2a^2)^{m+1/2} / sqrt(k!),
    h_even = 0 (Stein: c_k = E[f' He_{k-1}]; the generating function of E[exp(-a^2 Z^2) He_j]).
    In logarithms, so that it holds for k in the hundreds."""
    h = np.zeros(k_max + 1)
    for m in range((k_max - 1) // 2 + 1):
        k = 2 * m + 1
        log_abs = (
            math.log(2 * a / math.sqrt(math.pi)) + gammaln(2 * m + 1) - gammaln(m + 1)
            + m * math.log(a * a) - (m + 0.5) * math.log1p(2 * a * a) - 0.5 * gammaln(k + 1)
        )
        h[k] = (-1) ** m * math.exp(log_abs)
    return h


def relu_normalized_coefficients(k_max: int) -> np.ndarray:
    """h_k of relu(Z): by Stein c_k = E[1{Z>0} He_{k-1}] = He_{k-2}(0) / sqrt(2 pi), k >= 2, with
    He_{2m}(0) = (-1)^m (2m-1)!!, He_odd(0) = 0; c_0 = 1/sqrt(2 pi), c_1 = 1/2; h_k = c_k/sqrt(k!)."""
    h = np.zeros(k_max + 1)
    h[0], h[1] = 1 / math.sqrt(2 * math.pi), 0.5
    for k in range(2, k_max + 1, 2):
        m = (k - 2) // 2
        log_dfo = gammaln(2 * m + 1) - m * math.log(2) - gammaln(m + 1)  # log (2m - 1)!!
        h[k] = (-1) ** m * math.exp(log_dfo - 0.5 * gammaln(k + 1)) / math.sqrt(2 * math.pi)
    return h


@pytest.mark.parametrize(("gain", "var"), [(1.0, 1.0), (2.0, 0.5), (0.7, 3.0)])
def test_coefficients_of_erf_closed_form(gain, var):
    k_max = 15
    a = gain * math.sqrt(var)
    expected = erf_normalized_coefficients(a, k_max)
    act = get_activation("erf", gain)
    # normalised coefficients are O(1); default rule measured <= 1.2e-15
    np.testing.assert_allclose(normalized_hermite_coefficients(act, var, k_max), expected, rtol=0, atol=1e-14)
    c = hermite_coefficients(act, var, k_max)
    np.testing.assert_allclose(c / sqrt_factorials(k_max), expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("var", [0.4, 1.0, 2.5])
def test_coefficients_and_moments_of_relu_closed_form(var):
    """relu(s Z) = s relu(Z): h_k(s) = s h_k(1) (closed form above). The default split rule is
    exact on each smooth half-line: measured <= 1.3e-15 s on h_k, <= 3.1e-15 relative on the
    moments."""
    k_max = 12
    s = math.sqrt(var)
    act = get_activation("relu")
    expected = s * relu_normalized_coefficients(k_max)
    c = hermite_coefficients(act, var, k_max)
    np.testing.assert_allclose(c / sqrt_factorials(k_max), expected, rtol=0, atol=1e-14 * s)
    m = gaussian_moments(act, var)
    assert m.mean == pytest.approx(s / math.sqrt(2 * math.pi), rel=1e-14)
    assert m.second == pytest.approx(var / 2, rel=1e-14)
    assert m.stein == pytest.approx(s / 2, rel=1e-14)  # = s E relu'(sZ) = s P(Z > 0)
    assert m.residual == pytest.approx(var / 4, rel=1e-14)  # var/2 - (s/2)^2
    assert gaussian_expectation(act, var) == pytest.approx(s / math.sqrt(2 * math.pi), rel=1e-14)
    # same rule, same compiled summation: the table row is the single call, bit for bit
    np.testing.assert_array_equal(
        normalized_hermite_table(act, [var], k_max)[0], normalized_hermite_coefficients(act, var, k_max)
    )


@pytest.mark.parametrize(("su", "sv", "r"), [(0.7, 1.6, -0.6), (1.0, 1.0, 0.9), (2.0, 0.3, 0.25)])
def test_mehler_identity_for_a_polynomial(su, sv, r):
    """E p(u) p(v) = sum_k h_k(s_u) h_k(s_v) r^k, both sides exact for a quartic p."""
    p = lambda x: x**4 - 2 * x**3 + 0.5 * x + 1.0  # noqa: E731
    cu = hermite_coefficients(p, su, 6, n_nodes=20)
    cv = hermite_coefficients(p, sv, 6, n_nodes=20)
    mehler = sum(cu[k] * cv[k] * r**k / math.factorial(k) for k in range(7))
    hu = normalized_hermite_coefficients(p, su, 6, n_nodes=20)
    hv = normalized_hermite_coefficients(p, sv, 6, n_nodes=20)
    mehler_normalized = sum(hu[k] * hv[k] * r**k for k in range(7))
    s12 = r * math.sqrt(su * sv)
    direct = gaussian_expectation_2d(lambda u, v: p(u) * p(v), np.array([[su, s12], [s12, sv]]), n_nodes=20)
    # Both exact rules (degree 8 per axis); rounding relative to E p^2-sized terms ~1e-14.
    assert mehler == pytest.approx(direct, rel=1e-13)
    assert mehler_normalized == pytest.approx(direct, rel=1e-13)


def test_coefficient_table_rows_equal_single_calls():
    variances = np.array([0.2, 1.0, 2.7])
    for act in (get_activation("tanh", 2.0), get_activation("relu", 1.3), get_activation(np.sin, 0.8)):
        table = normalized_hermite_table(act, variances, 12)
        assert table.shape == (3, 13)
        for row, v in zip(table, variances):
            # Same nodes, same compiled summation: identical to the bit.
            h = normalized_hermite_coefficients(act, v, 12)
            np.testing.assert_array_equal(row, h)
            # c_k = h_k sqrt(k!), sqrt(k!) by exp(lgamma / 2): one or two roundings (measured 9e-16)
            np.testing.assert_allclose(
                hermite_coefficients(act, v, 12), h * sqrt_factorials(12), rtol=1e-14, atol=0
            )
        # explicit Gauss-Hermite nodes: same agreement
        np.testing.assert_array_equal(
            normalized_hermite_table(act, variances, 12, n_nodes=40)[1],
            normalized_hermite_coefficients(act, 1.0, 12, n_nodes=40),
        )


@pytest.mark.parametrize("n_nodes", [None, GAUSS_HERMITE_NODES])
@pytest.mark.parametrize(("name", "gain"), [("tanh", 2.0), ("erf", 1.0), ("relu", 1.0), ("sin", 1.5)])
def test_high_order_coefficients_are_finite(name, gain, n_nodes):
    """Bessel: sum_k h_k^2 <= E phi^2, so every normalised coefficient is finite and the sum of
    squares is bounded, up to k = 399 (the most that conjugate_kernel uses), on both rules
    (Gauss-Hermite's outer nodes |x| = 48 are where the old recurrence on He_k overflowed).
    c_k = h_k sqrt(k!) is finite up to k = 300 (sqrt(301!) > 1.8e308)."""
    act = get_activation(name, gain)
    k_max = 399
    h = normalized_hermite_coefficients(act, 1.0, k_max, n_nodes)
    assert np.all(np.isfinite(h))
    # the rule's own E phi^2; 1e-12 of rounding (measured: the sums fall short by 1e-15 to 1e-5)
    assert np.sum(h * h) <= gaussian_moments(act, 1.0, n_nodes).second * (1 + 1e-12)
    assert np.all(np.isfinite(hermite_coefficients(act, 1.0, 300, n_nodes)))
    table = normalized_hermite_table(act, np.array([0.5, 1.0]), k_max, n_nodes)
    assert np.all(np.isfinite(table))
    np.testing.assert_array_equal(table[1], h)


@pytest.mark.parametrize(
    ("name", "gain", "expected"),
    [
        ("relu", 1.0, relu_normalized_coefficients(399)),
        ("erf", 1.0, erf_normalized_coefficients(1.0, 399)),
        ("erf", 3.0, erf_normalized_coefficients(3.0, 399)),
    ],
)
def test_high_order_coefficients_are_accurate(name, gain, expected):
    """Not only finite: up to k = 399 the default rule's h_k match the closed forms to rounding
    (measured <= 2.2e-15; relu's h_k ~ k^{-5/4} are still 3e-4 at k ~ 300, erf(3Z)'s 3e-6)."""
    h = normalized_hermite_coefficients(get_activation(name, gain), 1.0, 399)
    np.testing.assert_allclose(h, expected, rtol=0, atol=1e-14)


# --- 2-D expectations --------------------------------------------------------------------------

COVARIANCES = [
    (1.0, 0.5, 1.0),
    (0.3, -0.25, 2.0),
    (2.0, 1.9, 2.0),
    (1.5, 0.0, 0.7),
    (1.0, 1.0, 1.0),  # singular (u = v)
    (0.0, 0.0, 0.8),  # degenerate first coordinate
]


def _cov(s11, s12, s22):
    return np.array([[s11, s12], [s12, s22]])


@pytest.mark.parametrize(("s11", "s12", "s22"), COVARIANCES)
def test_2d_expectation_exact_on_polynomials(s11, s12, s22):
    cov = _cov(s11, s12, s22)
    scale = max(1.0, s11 * s22 + 2 * s12**2, 3 * max(s11, s22) ** 2)
    # Isserlis; degree <= 4 per axis: exact with 5 Gauss-Hermite nodes (degree <= 9), rounding
    # measured <= 2.1e-15 of the scale; the default split tensor rule: measured <= 2.0e-15.
    cases = [
        (lambda u, v: u * u * v * v, s11 * s22 + 2 * s12**2),
        (lambda u, v: u * v, s12),
        (lambda u, v: u**4, 3 * s11**2),
        (lambda u, v: u**3 * v, 3 * s11 * s12),
        (lambda u, v: u + 0 * v, 0.0),
    ]
    for f, expected in cases:
        assert gaussian_expectation_2d(f, cov, n_nodes=5) == pytest.approx(expected, rel=0, abs=1e-14 * scale)
        assert gaussian_expectation_2d(f, cov) == pytest.approx(expected, rel=0, abs=1e-14 * scale)


@pytest.mark.parametrize(("s11", "s12", "s22"), COVARIANCES)
def test_2d_expectation_of_erf_product_closed_form(s11, s12, s22):
    """E erf(u) erf(v) = (2/pi) arcsin(2 s12 / sqrt((1 + 2 s11)(1 + 2 s22)))."""
    expected = 2 / math.pi * math.asin(2 * s12 / math.sqrt((1 + 2 * s11) * (1 + 2 * s22)))
    cov = _cov(s11, s12, s22)
    # erf is entire: the default 200^2 split tensor rule is at rounding level (measured 2.1e-15).
    assert gaussian_expectation_2d(lambda u, v: erf(u) * erf(v), cov) == pytest.approx(
        expected, rel=0, abs=1e-14
    )
    assert activation_kernel(get_activation("erf"), cov) == pytest.approx(expected, rel=0, abs=1e-14)


@pytest.mark.parametrize("name,gain", [("tanh", 2.0), ("sin", 1.3), ("relu", 1.0), ("linear", 0.7)])
@pytest.mark.parametrize(("s11", "s12", "s22"), COVARIANCES)
def test_compiled_activation_kernel_equals_generic_2d_quadrature(name, gain, s11, s12, s22):
    """Same tensor rule, two code paths (compiled Cholesky loop vs numpy grid): ~ulps apart
    (measured <= 1.1e-16 of the scale)."""
    act = get_activation(name, gain)
    cov = _cov(s11, s12, s22)
    generic = gaussian_expectation_2d(lambda u, v: act(u) * act(v), cov)
    scale = math.sqrt(gaussian_moments(act, s11).second * gaussian_moments(act, s22).second)
    assert activation_kernel(act, cov) == pytest.approx(generic, rel=0, abs=1e-15 * max(scale, 1.0))
    # A user Activation goes through the generic path: same number.
    user = get_activation(act._func, gain)
    assert activation_kernel(user, cov) == pytest.approx(generic, rel=0, abs=1e-15 * max(scale, 1.0))
    # an explicit Gauss-Hermite rule is honoured by both paths alike
    generic_gh = gaussian_expectation_2d(lambda u, v: act(u) * act(v), cov, n_nodes=41)
    assert activation_kernel(act, cov, n_nodes=41) == pytest.approx(
        generic_gh, rel=0, abs=1e-15 * max(scale, 1.0)
    )


@pytest.mark.parametrize(("s11", "s12", "s22"), [c for c in COVARIANCES if c[0] > 0])
def test_2d_relu_kernel_is_only_algebraically_accurate(s11, s12, s22):
    """E relu(u) relu(v) = sqrt(s11 s22) (sin t + (pi - t) cos t) / (2 pi), t = arccos r (Cho &
    Saul). The kink of relu(v) lies on a slanted line of the tensor grid, so the default rule is
    only algebraically accurate here: measured <= 1.2e-6 (at r = 0.5); it is exact when the kink
    is on a grid line (r = 0 or |r| = 1, measured 1e-15). Use conjugate_kernel (Mehler on 1-D
    coefficients, 1e-10) for relu kernels."""
    r = s12 / math.sqrt(s11 * s22)
    t = math.acos(max(-1.0, min(1.0, r)))
    expected = math.sqrt(s11 * s22) * (math.sin(t) + (math.pi - t) * math.cos(t)) / (2 * math.pi)
    got = activation_kernel(get_activation("relu"), _cov(s11, s12, s22))
    assert got == pytest.approx(expected, rel=0, abs=1e-5)
    if r == 0.0 or abs(r) == 1.0:
        assert got == pytest.approx(expected, rel=0, abs=1e-14)
    K = conjugate_kernel(_cov(s11, s12, s22), get_activation("relu")) if abs(r) < 1 else None
    if K is not None:
        assert K[0, 1] == pytest.approx(expected, rel=0, abs=1e-10)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("var", [-1e-3, -1.0, float("nan"), float("inf")])
def test_bad_variances_raise(var):
    act = get_activation("tanh")
    with pytest.raises(ValueError):
        gaussian_expectation(np.cos, var)
    with pytest.raises(ValueError):
        gaussian_moments(act, var)
    with pytest.raises(ValueError):
        hermite_coefficients(act, var, 3)
    with pytest.raises(ValueError):
        normalized_hermite_coefficients(act, var, 3)
    with pytest.raises(ValueError):
        normalized_hermite_table(act, np.array([1.0, var]), 3)


@pytest.mark.parametrize(
    "cov",
    [
        [[1.0, 1.5], [1.5, 1.0]],  # |s12| > sqrt(s11 s22): not PSD
        [[-1.0, 0.0], [0.0, 1.0]],  # negative variance
        [[1.0, 0.2], [0.3, 1.0]],  # not symmetric
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],  # not 2x2
        [[1.0, float("nan")], [float("nan"), 1.0]],
    ],
)
def test_bad_covariances_raise(cov):
    with pytest.raises(ValueError):
        gaussian_expectation_2d(lambda u, v: u * v, np.array(cov))
    with pytest.raises(ValueError):
        activation_kernel(get_activation("tanh"), np.array(cov))


@pytest.mark.parametrize("bad", [0, -2, 2.5])
@pytest.mark.parametrize(
    "activation", [("relu", 1.0), ("tanh", 2.0), (np.tanh, 1.0)], ids=["relu", "tanh", "user"]
)
def test_bad_node_counts_raise_everywhere(bad, activation):
    """Every public function taking n_nodes rejects a bad one, for every kind of activation:
    in particular the relu path does not silently fall back to the split rule."""
    act = get_activation(*activation)
    calls = {
        "rule_for": lambda: rule_for(bad),
        "gaussian_expectation": lambda: gaussian_expectation(act, 1.0, n_nodes=bad),
        "gaussian_expectation(callable)": lambda: gaussian_expectation(np.cos, 1.0, n_nodes=bad),
        "gaussian_moments": lambda: gaussian_moments(act, 1.0, n_nodes=bad),
        "hermite_coefficients": lambda: hermite_coefficients(act, 1.0, 3, n_nodes=bad),
        "normalized_hermite_coefficients": lambda: normalized_hermite_coefficients(act, 1.0, 3, n_nodes=bad),
        "normalized_hermite_table": lambda: normalized_hermite_table(act, np.array([0.5, 1.0]), 3, n_nodes=bad),
        "gaussian_expectation_2d": lambda: gaussian_expectation_2d(
            lambda u, v: act(u) * act(v), np.eye(2), n_nodes=bad
        ),
        "activation_kernel": lambda: activation_kernel(act, np.eye(2), n_nodes=bad),
        "layer_coefficients": lambda: layer_coefficients(act, 2, n_nodes=bad),
        "conjugate_kernel": lambda: conjugate_kernel(np.array([[1.0, 0.3], [0.3, 1.0]]), act, n_nodes=bad),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError):
            call()
            pytest.fail(f"{name} accepted n_nodes={bad!r}")  # pragma: no cover


@pytest.mark.parametrize("k_max", [-1, 2.5])
def test_bad_k_max_raises(k_max):
    act = get_activation("tanh")
    with pytest.raises(ValueError):
        hermite_coefficients(act, 1.0, k_max)
    with pytest.raises(ValueError):
        normalized_hermite_coefficients(act, 1.0, k_max)
    with pytest.raises(ValueError):
        normalized_hermite_table(act, np.array([1.0]), k_max)


@pytest.mark.parametrize(
    "f",
    [lambda z: np.log(z), lambda z: np.sum(z), lambda z: np.concatenate([z, z])],
    ids=["non-finite", "scalar", "wrong-length"],
)
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_bad_integrands_raise(f):
    with pytest.raises(ValueError):
        gaussian_expectation(f, 1.0)
    with pytest.raises(ValueError):
        gaussian_expectation_2d(lambda u, v: f(u), np.eye(2))

"""Tests of deepgep.support.claims: typed theories and their perturbations, the measured
resolution (bisection against a z-test whose answer is known in closed form), the report."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from deepgep.support.claims import (CLAIM_Z, Claim, evaluate, max_abs_z, report_rows, resolution, resolution_text,
                                    scaled, z_test)


@dataclass(frozen=True)
class Line:
    slope: float
    offset: float = 0.0


def _claim(estimate=2.0, se=0.01) -> Claim:
    """A measured slope 2.0 +- se, tested two-sided at CLAIM_Z."""
    return Claim(1, "slope", "the slope is the theory's", lambda t: z_test(estimate, se, t.slope, CLAIM_Z),
                 Line(2.0), {"slope 10% larger": scaled(Line(2.0), slope=1.1)}, resolves=("slope",))


def test_scaled_multiplies_the_named_fields():
    assert scaled(Line(2.0, 1.0), slope=1.1) == Line(2.0 * 1.1, 1.0)


def test_resolution_is_the_smallest_rejected_change_in_both_directions():
    [entry] = resolution(_claim())
    exact = CLAIM_Z * 0.01 / 2.0  # |2 (1 + r) - 2| / 0.01 > 3.5  <=>  |r| > 0.0175
    assert entry["parameter"] == "slope"
    assert entry["upper"] == pytest.approx(exact, rel=1e-3) and entry["lower"] == pytest.approx(-exact, rel=1e-3)
    assert entry["upper"] >= exact and entry["lower"] <= -exact  # never claims more than it resolves


def test_an_absolute_resolution_adds_the_change_to_a_parameter_whose_value_is_zero():
    """A measured offset 0.0 +- 0.01 against the theory's 0: a relative change of 0 is 0, so the
    offset is resolved by absolute changes, |r| > 3.5 x 0.01, and reported as such."""
    claim = Claim(1, "offset", "no offset", lambda t: z_test(0.0, 0.01, t.offset, CLAIM_Z), Line(2.0),
                  {"offset 0.1": Line(2.0, 0.1)}, resolves=("offset",), absolute=("offset",))
    [entry] = resolution(claim)
    assert entry["change"] == "absolute" and entry["parameter"] == "offset"
    assert entry["upper"] == pytest.approx(0.035, rel=1e-3) and entry["lower"] == pytest.approx(-0.035, rel=1e-3)
    assert resolution_text(entry) == "offset -0.035/+0.035"
    assert resolution(_claim())[0]["change"] == "relative"
    with pytest.raises(ValueError, match="absolute"):
        Claim(1, "x", "x", claim.test, Line(2.0), absolute=("offset",))


def test_a_claim_that_resolves_nothing_says_so():
    [entry] = resolution(_claim(se=10.0))  # even 100 % passes
    assert entry["upper"] is None and entry["lower"] is None


def test_evaluate_reports_verdict_perturbations_and_resolution():
    verdict = evaluate(_claim())
    assert verdict["holds"] and verdict["statistic"] == 0.0
    assert verdict["perturbations"] == [{"name": "slope 10% larger", "statistic": pytest.approx(20.0), "holds": False}]
    cols = report_rows([verdict])
    assert cols["resolves"] == ["slope -1.8%/+1.8%"] and cols["holds"] == ["yes"]


def test_max_abs_z_on_no_point_does_not_hold():
    test = max_abs_z([], [], [], CLAIM_Z)
    assert not test.holds and "no point" in test.detail


def test_joint_thresholds_keep_the_family_level():
    from scipy.stats import norm

    from deepgep.support.claims import CLAIM_LEVEL, bonferroni_z, chi2_test, joint_max_z

    assert bonferroni_z(1) == pytest.approx(CLAIM_Z)
    z10 = bonferroni_z(10)
    assert 10 * 2 * norm.sf(z10) == pytest.approx(CLAIM_LEVEL)
    assert joint_max_z([1.0] * 10, [1.0] * 10, [1.0 + 3.8] * 10).holds  # 3.8 > 3.5 but < the 10-point threshold
    assert not joint_max_z([1.0], [1.0], [4.8]).holds
    test = chi2_test([1.0, 1.0], [[1.0, 0.9], [0.9, 1.0]])  # correlated points: chi2 = 2 / 1.9
    assert "chi2 = 1.05 on 2 dof" in test.detail and test.holds
    assert not chi2_test([5.0, -5.0], [[1.0, 0.9], [0.9, 1.0]]).holds  # anti-correlated residuals: chi2 = 500


def test_an_identity_is_reported_as_such_and_a_bad_kind_is_refused():
    identity = Claim(1, "sum rule", "a + b = c", lambda t: z_test(1.0, 0.1, 1.0, CLAIM_Z), Line(1.0), kind="identity")
    assert evaluate(identity)["kind"] == "identity" and evaluate(_claim())["kind"] == "claim"
    with pytest.raises(ValueError, match="kind must be one of"):
        Claim(1, "x", "y", lambda t: None, Line(1.0), kind="evidence")

"""Quantitative claims as objects that can fail: a statement, a test with its threshold, and the
wrong theories the test must reject.

A :class:`Claim` binds data (recorded tables, or a computation) to a statistical test of a
theory. Its ``test`` takes the THEORY — a frozen dataclass of the numbers the claim compares the
data with (``gamma0``, ``kappa``, a renormalised kernel's scale, a rate exponent...) — and
returns a :class:`Test`: the statistic (a z-score, a largest deviation in standard errors, a
chi-square), the threshold it must stay below, and whether it does. The claim is evaluated once
with the correct theory (it must hold), once per :attr:`Claim.perturbations` — named wrong
theories a careful referee would propose (the GLM of the wrong depth, gamma0 off by 10 %...) —
which it must reject, and its resolution is measured: the smallest relative change of each
parameter in :attr:`Claim.resolves` that its test rejects, in both directions (bisection).

Tolerances come from standard errors (z-tests) plus, where the simulation is at finite size, an
allowance derived from the data (a fitted finite-size correction), never a fixed percentage; the
threshold and its reason are part of the claim's statement.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import chi2, norm

from deepgep.support.validation import check_count

__all__ = ["CLAIM_Z", "CLAIM_LEVEL", "KINDS", "RESOLUTION_GRID", "bonferroni_z", "joint_max_z", "chi2_test", "Test", "Claim", "scaled", "resolution", "evaluate", "z_test", "max_abs_z",
           "report_rows", "resolution_text"]

#: The book's two-sided z threshold for a claim of equality (p = 5e-4 per test: the book has a
#: few dozen claims, so a true theory fails one of them with probability about 2%).
CLAIM_Z = 3.5


@dataclass(frozen=True)
class Test:
    """The outcome of a test: ``statistic`` compared with ``threshold`` (``holds`` iff
    ``statistic <= threshold``), and the numbers behind it in ``detail``."""

    statistic: float
    threshold: float
    detail: str = ""

    @property
    def holds(self) -> bool:
        return bool(math.isfinite(self.statistic) and self.statistic <= self.threshold)


@dataclass(frozen=True)
class Claim:
    """A chapter's quantitative claim: ``statement`` (one sentence), ``test(theory) -> Test``,
    the correct ``theory`` (a frozen dataclass of the numbers the claim compares the data with,
    e.g. :class:`deepgep.theory.layers.GLMTheory`), the named wrong theories it must reject
    (``perturbations``: name -> a theory of the same type, made with :func:`scaled` or
    :func:`dataclasses.replace`), and ``resolves``: the theory's fields whose resolution
    (:func:`resolution`) the claim reports, a relative change of each except those also in
    ``absolute`` (fields whose value is zero, a bias or a limit: an absolute change, in the
    field's own units).

    ``kind`` is ``"claim"`` (evidence: it must name wrong theories it rejects) or
    ``"identity"`` (a check that holds by construction — an algebraic identity, a sum rule, the
    stationarity of a potential: still tested, never counted as evidence for the theory)."""

    chapter: int
    name: str
    statement: str
    test: Callable[[Any], Test]
    theory: Any
    perturbations: Mapping[str, Any] = field(default_factory=dict)
    resolves: tuple[str, ...] = ()
    kind: str = "claim"
    absolute: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not set(self.absolute) <= set(self.resolves):
            raise ValueError(f"absolute {self.absolute} must name fields of resolves {self.resolves}")


def scaled(theory: Any, **factors: float) -> Any:
    """A copy of the theory dataclass with each named field multiplied by its factor:
    ``scaled(glm, gamma0=1.1)`` is the GLM with gamma0 10 % larger."""
    return dataclasses.replace(theory, **{name: getattr(theory, name) * f for name, f in factors.items()})


#: What a :class:`Claim` can be: evidence, or a check that holds by construction.
KINDS = ("claim", "identity")

#: Relative changes tried, then bisected, when a claim's resolution is measured.
RESOLUTION_GRID = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
#: Bisection steps between the last change that passes and the first that is rejected.
RESOLUTION_STEPS = 12


def _changed(claim: Claim, parameter: str, change: float) -> Any:
    """The claim's theory with ``parameter`` changed by ``change``: added if the parameter is
    one of ``claim.absolute``, else as a relative change."""
    if parameter in claim.absolute:
        return dataclasses.replace(claim.theory, **{parameter: getattr(claim.theory, parameter) + change})
    return scaled(claim.theory, **{parameter: 1.0 + change})


def _rejected(claim: Claim, parameter: str, change: float) -> bool:
    return not claim.test(_changed(claim, parameter, change)).holds


def _smallest_rejected(claim: Claim, parameter: str, sign: float) -> float | None:
    """The smallest change ``sign * r`` of ``parameter`` that the claim's test rejects (the first
    rejected point of :data:`RESOLUTION_GRID`, refined by bisection), or ``None`` when even a
    change of 1 passes (100 %, a relative decrease capped at 99.9 %; or 1 in the parameter's
    units for an absolute change)."""
    relative = parameter not in claim.absolute
    grid = [min(r, 0.999) if sign < 0 and relative else r for r in RESOLUTION_GRID]
    low = 0.0
    for r in grid:
        if _rejected(claim, parameter, sign * r):
            high = r
            for _ in range(RESOLUTION_STEPS):
                mid = 0.5 * (low + high)
                low, high = (low, mid) if _rejected(claim, parameter, sign * mid) else (mid, high)
            return high
        low = r
    return None


def resolution(claim: Claim) -> list[dict[str, Any]]:
    """For each field in ``claim.resolves``: ``{parameter, lower, upper, change}``, the smallest
    decrease (negative) and increase of it that the claim's own test rejects on its data
    (``None``: not rejected within 100 %, or within 1 unit), ``change`` ``"relative"`` or
    ``"absolute"`` (``claim.absolute``: in the parameter's units). A claim resolves a parameter
    to ``lower``/``+upper``: any theory closer than that passes too."""
    out = []
    for parameter in claim.resolves:
        down, up = _smallest_rejected(claim, parameter, -1.0), _smallest_rejected(claim, parameter, 1.0)
        out.append({"parameter": parameter, "lower": None if down is None else -down, "upper": up,
                    "change": "absolute" if parameter in claim.absolute else "relative"})
    return out


def evaluate(claim: Claim) -> dict[str, Any]:
    """The claim's verdict as JSON values: ``chapter``, ``name``, ``statement``, ``statistic``,
    ``threshold``, ``holds``, ``detail``, ``perturbations`` (a list of ``{name, statistic,
    holds}``, where every ``holds`` must be false), ``resolution`` (:func:`resolution`) and
    ``kind``."""
    main = claim.test(claim.theory)
    perturbed = []
    for name, theory in claim.perturbations.items():
        outcome = claim.test(theory)
        perturbed.append({"name": name, "statistic": _number(outcome.statistic), "holds": outcome.holds})
    return {"chapter": claim.chapter, "kind": claim.kind, "name": claim.name, "statement": claim.statement,
            "statistic": _number(main.statistic), "threshold": _number(main.threshold),
            "holds": main.holds, "detail": main.detail, "perturbations": perturbed,
            "resolution": resolution(claim)}


def _number(x: float) -> float | None:
    """A finite float, or ``None`` (JSON has no NaN)."""
    return float(x) if math.isfinite(x) else None


def z_test(estimate: float, se: float, reference: float, threshold: float, what: str = "") -> Test:
    """Two-sided: ``|estimate - reference| / se <= threshold``."""
    z = abs(estimate - reference) / se if se > 0 else math.inf
    return Test(z, threshold, f"{what}{estimate:.5g} +- {se:.2g} vs {reference:.5g}: |z| = {z:.2f}")


def max_abs_z(estimates: Sequence[float], ses: Sequence[float], references: Sequence[float],
              threshold: float, what: str = "") -> Test:
    """The largest ``|estimate - reference| / se`` over several points (each two-sided)."""
    zs = [abs(e - r) / s if s > 0 else math.inf for e, s, r in zip(estimates, ses, references)]
    if not zs:
        return Test(math.nan, threshold, f"{what}no point to test (a claim on no data does not hold)")
    k = max(range(len(zs)), key=zs.__getitem__)
    return Test(max(zs), threshold, f"{what}worst point {k}: |z| = {zs[k]:.2f} over {len(zs)} points")


#: The book's level for one claim: the two-sided tail probability of ``CLAIM_Z``.
CLAIM_LEVEL = math.erfc(CLAIM_Z / math.sqrt(2.0))


def bonferroni_z(points: int, level: float = CLAIM_LEVEL) -> float:
    """The threshold of the largest of ``points`` two-sided z-scores at family level ``level``
    (Bonferroni: each point at ``level / points``), so that a claim over many points is as
    likely to fail under the true theory as a claim on one."""
    return float(norm.isf(level / (2 * check_count("points", points))))


def joint_max_z(estimates: Sequence[float], ses: Sequence[float], references: Sequence[float],
                what: str = "", level: float = CLAIM_LEVEL) -> Test:
    """:func:`max_abs_z` with the Bonferroni threshold :func:`bonferroni_z` of its number of
    points: a joint test of equality at every point (valid whatever their correlation)."""
    n = len(list(estimates))
    return max_abs_z(estimates, ses, references, bonferroni_z(max(n, 1), level), what)


def chi2_test(residuals: Sequence[float], covariance: Any, what: str = "", level: float = CLAIM_LEVEL) -> Test:
    """The joint test of ``residuals = 0`` with their covariance: ``chi2 = r^T C^{-1} r`` on
    ``len(r)`` degrees of freedom, reported as the equivalent two-sided z-score (the normal
    quantile of its tail probability), against :data:`CLAIM_Z` (so at ``level``)."""
    r = np.asarray(residuals, dtype=float)
    C = np.atleast_2d(np.asarray(covariance, dtype=float))
    if r.size == 0 or C.shape != (r.size, r.size):
        return Test(math.nan, CLAIM_Z, f"{what}no point to test, or a covariance of the wrong shape")
    value = float(r @ np.linalg.solve(C, r))
    tail = float(chi2.sf(value, r.size))
    z = float(norm.isf(tail / 2)) if tail > 0 else math.inf
    threshold = float(norm.isf(level / 2))
    return Test(z, threshold, f"{what}chi2 = {value:.2f} on {r.size} dof (p = {tail:.2g}, as |z| = {z:.2f})")


def report_rows(verdicts: Sequence[Mapping[str, Any]]) -> dict[str, list]:
    """Columns of the book's table of claims: chapter, claim, statistic, threshold, margin
    (threshold - statistic), holds, and the perturbations with the statistic each reached."""
    cols: dict[str, list] = {k: [] for k in ("chapter", "claim", "statistic", "threshold", "holds", "rejects",
                                             "resolves")}
    for v in verdicts:
        cols["resolves"].append("; ".join(resolution_text(r) for r in v.get("resolution", [])))
        cols["chapter"].append(v["chapter"])
        cols["claim"].append(v["name"])
        cols["statistic"].append(_text(v["statistic"]))
        cols["threshold"].append(_text(v["threshold"]))
        cols["holds"].append("yes" if v["holds"] else "NO")
        cols["rejects"].append("; ".join(f"{p['name']} ({_text(p['statistic'])})" for p in v["perturbations"]))
    return cols


def resolution_text(entry: Mapping[str, Any]) -> str:
    """``"gamma0 -4%/+5%"``: the smallest rejected decrease and increase of a parameter;
    ``"lag -0.12/+0.13"`` for an absolute change (in the parameter's units)."""
    if entry.get("change") == "absolute":
        def step(x: float | None, sign: str) -> str:
            return f">{sign}1" if x is None else f"{x:+.2g}"
    else:
        def step(x: float | None, sign: str) -> str:
            return f">{sign}100%" if x is None else f"{100 * x:+.2g}%"
    return f"{entry['parameter']} {step(entry['lower'], '-')}/{step(entry['upper'], '+')}"


def _text(x: float | None) -> str:
    """Three significant digits (``inf`` for a statistic that is not finite)."""
    return "inf" if x is None else f"{x:.3g}"

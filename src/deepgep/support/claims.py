"""Quantitative claims as objects that can fail: a statement, a test with its threshold, and the
wrong theories the test must reject.

A :class:`Claim` binds data (recorded tables, or a computation) to a statistical test of a
theory. Its ``test`` takes the THEORY — a dict of the parameters the claim compares the data with
(``gamma0``, ``kappa``, ``lambda*``, a rate exponent...) — and returns a :class:`Test`: the
statistic (a z-score, a largest deviation in standard errors, a relative error), the threshold it
must stay below, and whether it does. The claim is evaluated once with the correct theory (it must
hold) and once per :attr:`Claim.perturbations` — named wrong theories, such as ``gamma0 -> gamma0/2``
— which it must reject: a claim that a wrong theory also passes is not evidence.

Tolerances come from standard errors (z-tests) plus, where the simulation is at finite size, an
allowance derived from the data (a fitted finite-size correction), never a fixed percentage; the
threshold and its reason are part of the claim's statement.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CLAIM_Z", "Test", "Claim", "evaluate", "z_test", "max_abs_z", "report_rows"]

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
    the correct ``theory`` and the named wrong ones it must reject (``perturbations``: name ->
    the theory's parameters that change)."""

    chapter: int
    name: str
    statement: str
    test: Callable[[Mapping[str, Any]], Test]
    theory: Mapping[str, Any]
    perturbations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def evaluate(claim: Claim) -> dict[str, Any]:
    """The claim's verdict as JSON values: ``chapter``, ``name``, ``statement``, ``statistic``,
    ``threshold``, ``holds``, ``detail`` and ``perturbations`` (a list of ``{name, statistic,
    holds}``, where every ``holds`` must be false)."""
    main = claim.test(claim.theory)
    perturbed = []
    for name, change in claim.perturbations.items():
        outcome = claim.test({**claim.theory, **change})
        perturbed.append({"name": name, "statistic": _number(outcome.statistic), "holds": outcome.holds})
    return {"chapter": claim.chapter, "name": claim.name, "statement": claim.statement,
            "statistic": _number(main.statistic), "threshold": _number(main.threshold),
            "holds": main.holds, "detail": main.detail, "perturbations": perturbed}


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
    k = max(range(len(zs)), key=zs.__getitem__)
    return Test(max(zs), threshold, f"{what}worst point {k}: |z| = {zs[k]:.2f} over {len(zs)} points")


def report_rows(verdicts: Sequence[Mapping[str, Any]]) -> dict[str, list]:
    """Columns of the book's table of claims: chapter, claim, statistic, threshold, margin
    (threshold - statistic), holds, and the perturbations with the statistic each reached."""
    cols: dict[str, list] = {k: [] for k in ("chapter", "claim", "statistic", "threshold", "holds", "rejects")}
    for v in verdicts:
        cols["chapter"].append(v["chapter"])
        cols["claim"].append(v["name"])
        cols["statistic"].append(_text(v["statistic"]))
        cols["threshold"].append(_text(v["threshold"]))
        cols["holds"].append("yes" if v["holds"] else "NO")
        cols["rejects"].append("; ".join(f"{p['name']} ({_text(p['statistic'])})" for p in v["perturbations"]))
    return cols


def _text(x: float | None) -> str:
    """Three significant digits (``inf`` for a statistic that is not finite)."""
    return "inf" if x is None else f"{x:.3g}"

"""Finite-size fits, in one place: a constant, ``limit + slope / size^p``, and power laws.

Every fit is weighted least squares with the points' standard errors, and returns a :class:`Fit`
whose parameter standard errors are *chi-square inflated*: multiplied by
``sqrt(chi2 / dof)`` when that exceeds 1 (the points scatter more than their errors say, so
the raw errors would be too small), never shrunk below the raw ones. ``chi2``, ``dof`` and the
p-value of the goodness of fit are kept, so a claim can state whether the form fits at all.
Where a finite-size extrapolation depends on the form, a chapter fits both (e.g.
:func:`fit_constant` and :func:`fit_inverse`) and says which one is derived.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["Fit", "fit_linear", "fit_constant", "fit_inverse", "fit_power"]


@dataclass(frozen=True)
class Fit:
    """A weighted least-squares fit: ``form``, the parameters ``values`` and their (inflated)
    standard errors ``errors`` by name, ``chi2`` on ``dof`` degrees of freedom, and
    ``inflation`` = ``max(1, sqrt(chi2 / dof))`` (1 when ``dof`` is 0)."""

    form: str
    values: dict[str, float]
    errors: dict[str, float]
    chi2: float
    dof: int
    inflation: float

    @property
    def chi2_per_dof(self) -> float:
        return self.chi2 / self.dof if self.dof else math.nan

    @property
    def p_value(self) -> float:
        """The probability of a chi-square at least this large if the form is right."""
        return float(stats.chi2.sf(self.chi2, self.dof)) if self.dof else math.nan

    def z(self, name: str, reference: float = 0.0) -> float:
        """``(value - reference) / error`` of one parameter."""
        return (self.values[name] - reference) / self.errors[name]


def _arrays(x: Sequence[float], y: Sequence[float], se: Sequence[float] | None, minimum: int):
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    e = np.ones_like(y) if se is None else np.asarray(se, dtype=float).ravel()
    if not (x.shape == y.shape == e.shape):
        raise ValueError(f"x, y and se must have the same length, got {x.size}, {y.size}, {e.size}")
    if x.size < minimum:
        raise ValueError(f"the fit needs at least {minimum} points, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.isfinite(e))) or np.any(e <= 0):
        raise ValueError("points must be finite and standard errors positive")
    return x, y, e


def fit_linear(columns: dict[str, np.ndarray], y: Sequence[float], se: Sequence[float] | None,
               form: str = "linear") -> Fit:
    """``y = sum_k b_k columns[k]``, weighted by ``1 / se^2`` (``se=None``: unweighted, the
    errors then come from the scatter alone, i.e. always inflated by ``sqrt(chi2 / dof)``)."""
    names = list(columns)
    A = np.column_stack([np.asarray(columns[k], dtype=float).ravel() for k in names])
    y = np.asarray(y, dtype=float).ravel()
    e = np.ones_like(y) if se is None else np.asarray(se, dtype=float).ravel()
    Aw, yw = A / e[:, None], y / e
    coef, *_ = np.linalg.lstsq(Aw, yw, rcond=None)
    cov = np.linalg.inv(Aw.T @ Aw)
    resid = yw - Aw @ coef
    dof = y.size - len(names)
    chi2 = float(resid @ resid)
    if se is None:
        inflation = math.sqrt(chi2 / dof) if dof > 0 else math.nan
    else:
        inflation = max(1.0, math.sqrt(chi2 / dof)) if dof > 0 else 1.0
    errors = {k: float(math.sqrt(cov[i, i]) * inflation) for i, k in enumerate(names)}
    return Fit(form, {k: float(c) for k, c in zip(names, coef)}, errors, chi2, dof, inflation)


def fit_constant(y: Sequence[float], se: Sequence[float]) -> Fit:
    """The weighted mean ``y = limit`` (parameter ``limit``): the form of a difference that does
    not vanish with size."""
    _, y, e = _arrays(np.zeros(len(y)), y, se, 1)
    return fit_linear({"limit": np.ones_like(y)}, y, e, form="constant")


def fit_inverse(sizes: Sequence[float], y: Sequence[float], se: Sequence[float], power: float = 1.0) -> Fit:
    """``y = limit + slope / size^power`` (parameters ``limit``, ``slope``): the leading
    finite-size correction of order ``1 / size^power``."""
    d, y, e = _arrays(sizes, y, se, 3)
    if np.any(d <= 0):
        raise ValueError("sizes must be positive")
    return fit_linear({"limit": np.ones_like(d), "slope": d ** -float(power)}, y, e, form=f"limit + c/size^{power:g}")


def fit_power(x: Sequence[float], y: Sequence[float], se: Sequence[float] | None = None) -> Fit:
    """``y = prefactor * x^exponent`` fitted on the logarithms (parameters ``exponent`` and
    ``log_prefactor``); with ``se``, ``log y`` has standard errors ``se / y`` (delta method)."""
    x, y, e = _arrays(x, y, se, 3)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("a power law needs positive x and y")
    log_se = None if se is None else e / y
    return fit_linear({"exponent": np.log(x), "log_prefactor": np.ones_like(x)}, np.log(y), log_se, form="power")

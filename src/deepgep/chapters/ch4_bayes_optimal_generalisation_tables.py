"""Chapter 4's tables read as numbers: the summaries of the sweeps of
:mod:`deepgep.chapters.ch4_bayes_optimal_generalisation` (pandas DataFrames, one row per teacher,
and per alpha for the learners) that its notebook prints and draws and its claims test: means
over teachers with standard errors, per-width deviations for the finite-size fits
(:mod:`deepgep.support.fits`), and the escape beyond the proportional regime (its points and
where the trained network's error crosses a level, per width).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from deepgep.support.fits import Fit, fit_power
from deepgep.support.stats import standard_error

__all__ = ["teacher_means", "teacher_matrix", "width_deviations", "escape_arrays", "escape_points", "escape_crossings",
           "escape_scaling"]


def _where(table: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
    chosen = table.loc[np.logical_and.reduce([table[k] == v for k, v in where.items()])] if where else table
    if chosen.empty:
        raise ValueError(f"no rows with {where}")
    return chosen


def teacher_means(table: pd.DataFrame, column: str, by: Sequence[str], **where: Any) -> pd.DataFrame:
    """``mean``, ``se`` (standard error) and ``teachers`` of ``column`` over the teachers of each
    group of ``by`` (e.g. ``("alpha",)``) among the rows whose columns equal ``where``."""
    groups = _where(table, where).groupby(list(by), sort=False)[column]
    return pd.DataFrame({"mean": groups.mean(), "se": groups.agg(standard_error), "teachers": groups.size()})


def teacher_matrix(table: pd.DataFrame, column: str, by: str, values: Sequence[Any], **where: Any) -> np.ndarray:
    """``(values, teachers)``: ``column`` per value of ``by`` (rows) and seed (columns, in order)."""
    wide = _where(table, where).pivot(index=by, columns="seed", values=column)
    return wide.loc[list(values)].sort_index(axis=1).to_numpy(dtype=float)


def width_deviations(table: pd.DataFrame, column: str, reference: float, **where: Any) -> pd.DataFrame:
    """Per input width ``d0``: the mean over teachers of ``column - reference`` (``deviation``)
    and its standard error ``se``, for the finite-size fit ``limit + slope / d0``
    (:func:`deepgep.support.fits.fit_inverse`)."""
    m = teacher_means(_where(table, where).assign(_dev=lambda t: t[column] - reference), "_dev", ("d0",))
    return pd.DataFrame({"d0": m.index.to_numpy(dtype=float), "deviation": m["mean"].to_numpy(),
                         "se": m["se"].to_numpy()}).sort_values("d0", ignore_index=True)


def escape_arrays(table: pd.DataFrame, d0s: Sequence[int], ratios: Sequence[float], plateau: float) -> dict[str, Any]:
    """The escape sweep (one table, every width of ``d0s`` at every ratio of ``ratios``) as the
    arrays :func:`deepgep.support.plotting.escape_figure` draws: ``ridge`` and ``network`` of shape
    ``(d0s, ratios, teachers)``, ``n`` ``(d0s, ratios)``, the widths ``d0``, ``ratio`` (= n / d0^2)
    and ``plateau`` (the escape GLM's ``gamma0 + Delta``)."""
    out: dict[str, Any] = {"d0": np.array(d0s), "ratio": np.array(ratios), "plateau": float(plateau),
                           "n": np.array([[round(r * d * d) for r in ratios] for d in d0s])}
    for key in ("ridge", "network"):
        out[key] = np.stack([teacher_matrix(table, key, "quadratic_alpha", ratios, d0=d) for d in d0s])
    return out


def escape_points(table: pd.DataFrame) -> pd.DataFrame:
    """The escape's tables (``escape`` and ``scaling`` concatenated) per ``(d0, quadratic_alpha)``:
    ``n``, the means over teachers of ``network`` and ``ridge`` with standard errors
    (``network_se``, ``ridge_se``), ``teachers`` and the fraction ``converged``."""
    groups = table.groupby(["d0", "quadratic_alpha"])
    out = pd.DataFrame({"network": groups["network"].mean(), "network_se": groups["network"].agg(standard_error),
                        "ridge": groups["ridge"].mean(), "ridge_se": groups["ridge"].agg(standard_error),
                        "teachers": groups.size(), "converged": groups["converged"].mean()}).reset_index()
    out.insert(2, "n", [round(r * d * d) for d, r in zip(out["d0"], out["quadratic_alpha"])])
    return out


def escape_crossings(points: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per input width: where the trained network's mean error falls below ``level`` for good, the
    last crossing from above on the grid of ``n`` (``n_cross``, linear interpolation of the error
    in ``log n`` between the two grid points that bracket it; ``se`` of ``log n_cross`` by the
    delta method over the two points' independent teachers). A width whose error never ends
    below ``level`` has ``n_cross = nan`` (no escape within its grid)."""
    rows = []
    for d0, group in points.groupby("d0"):
        g = group.sort_values("n")
        E, se, logn = g["network"].to_numpy(), g["network_se"].to_numpy(), np.log(g["n"].to_numpy(dtype=float))
        above = np.flatnonzero(E >= level)
        i = above[-1] if above.size else -1
        if i < 0 or i + 1 >= E.size:
            rows.append({"d0": d0, "n_cross": math.nan, "log_se": math.nan})
            continue
        gap = E[i] - E[i + 1]
        frac = (E[i] - level) / gap
        step = logn[i + 1] - logn[i]
        log_se = step * math.hypot((level - E[i + 1]) / gap**2 * se[i], (E[i] - level) / gap**2 * se[i + 1])
        rows.append({"d0": d0, "n_cross": float(np.exp(logn[i] + frac * step)), "log_se": float(log_se)})
    return pd.DataFrame(rows)


def escape_scaling(points: pd.DataFrame, level: float) -> tuple[pd.DataFrame, Fit | None]:
    """How the escape scales with the width: the crossings of ``level`` per width
    (:func:`escape_crossings`, with ``n_cross / d0^2``) and the power-law fit ``n_cross ~ d0^p``
    (:func:`deepgep.support.fits.fit_power`, errors inflated by ``sqrt(chi2/dof)``), or ``None``
    when a width never crosses or fewer than 3 widths do (the fit has 2 parameters)."""
    crossings = escape_crossings(points, level)
    crossings["n_cross / d0^2"] = crossings["n_cross"] / crossings["d0"] ** 2
    ok = crossings.dropna()
    if len(ok) < 3 or len(ok) != len(crossings):
        return crossings, None
    return crossings, fit_power(ok["d0"], ok["n_cross"], ok["n_cross"] * ok["log_se"])

"""Chapter 2's tables read as numbers: the summaries of the four sweeps of
:mod:`deepgep.chapters.ch2_reduction_to_glm` (pandas DataFrames in long format, one row per
measured point of a teacher) that its notebook prints and draws and its claims test.

Every summary returns arrays with the teachers along the last axis in seed order, or their means
over teachers with standard errors (:func:`deepgep.support.stats.mean_and_error`). The GLM's
predictions they are compared with are in :mod:`deepgep.chapters.ch2_reduction_to_glm_tasks`
(book eq-equivalent-glm, eq-ridge-asymptotics, eq-state-evolution).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from deepgep.chapters.ch2_reduction_to_glm_tasks import QUANTILES, MomentTheory
from deepgep.support.fits import fit_inverse, fit_power
from deepgep.support.stats import mean_and_error
from deepgep.theory.layers import GLMTheory
from deepgep.theory.ridge import ridge_regression_error

__all__ = ["VERTEX_FACTORS", "ridge_errors", "ridge_means", "size_extrapolation", "penalty_vertex", "vertex_reference",
           "gamp_errors", "label_moments", "label_statistics", "narrow_matrix", "narrow_predictions",
           "kurtosis_exponent"]

#: The penalty factors the vertex of the penalty parabola is located with.
VERTEX_FACTORS = (0.5, 1.0, 2.0)


def _select(table: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """The rows whose columns equal the values of ``where``."""
    return table[np.logical_and.reduce([table[column] == value for column, value in where.items()])]


def _wide(rows: pd.DataFrame, index: str, column: str, values: Sequence[Any]) -> np.ndarray:
    """``column`` as an array ``(values of index, teachers)``, teachers in seed order."""
    if rows.empty:
        raise ValueError(f"no rows for {column!r}")
    wide = rows.pivot(index=index, columns="seed", values=column).sort_index(axis=1)
    return np.ascontiguousarray(wide.loc[list(values)].to_numpy(dtype=float))


def ridge_errors(table: pd.DataFrame, d0: int, width_ratio: float, depth: int, alphas: Sequence[float],
                 penalty_factor: float = 1.0, teacher: str = "deep") -> np.ndarray:
    """Ridge's test errors ``(alphas, teachers)`` of the ridge table at ``(d0, width_ratio,
    depth)``: ``teacher`` ``"deep"`` at ``lambda* x penalty_factor``, ``"glm"`` at ``lambda*``, or
    ``"paired"``: deep minus GLM on the same inputs (both at ``lambda*``)."""
    if teacher == "paired":
        return (ridge_errors(table, d0, width_ratio, depth, alphas, 1.0, "deep")
                - ridge_errors(table, d0, width_ratio, depth, alphas, 1.0, "glm"))
    rows = _select(table, d0=d0, width_ratio=width_ratio, teacher=teacher, depth=depth,
                   penalty_factor=1.0 if teacher == "glm" else penalty_factor)
    return _wide(rows, "alpha", "test_error", alphas)


def ridge_means(table: pd.DataFrame, d0: int, width_ratio: float, depth: int, alphas: Sequence[float],
                penalty_factor: float = 1.0, teacher: str = "deep") -> tuple[np.ndarray, np.ndarray]:
    """Mean over teachers of :func:`ridge_errors` at every alpha, and its standard error."""
    return mean_and_error(ridge_errors(table, d0, width_ratio, depth, alphas, penalty_factor, teacher))


def size_extrapolation(table: pd.DataFrame, d0s: Sequence[int], depth: int, alpha: float, reference: float,
                       teacher: str = "deep") -> dict[str, Any]:
    """The deviation of ridge's error at ``lambda*`` (``teacher`` as in :func:`ridge_errors`)
    from ``reference`` at every input width of ``d0s`` (hidden widths ``d0``), and the weighted
    fit ``limit + slope/d0`` with chi-square-inflated errors (:func:`deepgep.support.fits.fit_inverse`):
    the record :func:`deepgep.support.plotting.finite_size_figure` draws."""
    means, ses = np.array([[v[0] for v in ridge_means(table, d0, 1.0, depth, [alpha], teacher=teacher)]
                           for d0 in d0s]).T
    dev = means - reference
    fit = fit_inverse(np.asarray(d0s, float), dev, ses)
    return {"d0": np.asarray(d0s, float), "deviation": dev, "se": ses, "limit": fit.values["limit"],
            "limit_se": fit.errors["limit"], "slope": fit.values["slope"], "chi2_per_dof": fit.chi2_per_dof}


def _vertex(d_half: Any, d_two: Any) -> Any:
    """Vertex ``u`` (in ``log2`` of the penalty factor) of the parabola through the excesses
    ``E(lambda/2) - E(lambda)`` and ``E(2 lambda) - E(lambda)``."""
    return -(d_two - d_half) / (2.0 * (d_two + d_half))


def penalty_vertex(table: pd.DataFrame, d0: int, depth: int, alphas: Sequence[float]) -> dict[str, float]:
    """Where is ridge's error smallest in ``lambda``? The paired excesses of ``lambda*/2`` and
    ``2 lambda*`` over ``lambda*`` (same teachers, same data), averaged over ``alphas``, locate
    the minimum by a parabola in ``u = log2(lambda/lambda*)``: ``vertex`` and its jackknife
    standard error ``se`` over teachers."""
    E = {f: ridge_errors(table, d0, 1.0, depth, alphas, f).mean(0) for f in VERTEX_FACTORS}
    half, two = E[0.5] - E[1.0], E[2.0] - E[1.0]
    k = half.size
    jack = np.array([_vertex(np.delete(half, i).mean(), np.delete(two, i).mean()) for i in range(k)])
    return {"vertex": float(_vertex(half.mean(), two.mean())),
            "se": math.sqrt((k - 1) / k * np.sum((jack - jack.mean()) ** 2))}


def vertex_reference(glm: GLMTheory, penalty: float, alphas: Sequence[float], shift: float = 0.0) -> float:
    """The vertex of the same parabola through the asymptotic ridge errors of ``glm`` (book
    eq-ridge-asymptotics) at the penalties ``penalty x (1/2, 1, 2)`` the simulation used, plus
    ``shift`` (a wrong theory that puts the optimum at ``2^shift lambda*``)."""
    th = {f: np.mean([ridge_regression_error(glm.kappa, glm.total_noise, a, penalty * f) for a in alphas])
          for f in VERTEX_FACTORS}
    return float(_vertex(th[0.5] - th[1.0], th[2.0] - th[1.0])) + shift


def gamp_errors(table: pd.DataFrame, problem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GAMP's iterations ``t`` and the mean over teachers of its test error, with its standard error."""
    rows = _select(table, problem=problem)
    iterations = np.sort(rows["iteration"].unique())
    return (iterations, *mean_and_error(_wide(rows, "iteration", "test_error", iterations)))


def label_moments(table: pd.DataFrame, teacher: str = "deep") -> dict[str, np.ndarray]:
    """Per teacher of kind ``teacher`` (seed order): ``variance``, ``linear`` (the variance of the
    labels' linear part, :func:`~deepgep.chapters.ch2_reduction_to_glm_tasks.linear_variance`)
    and ``rest`` = ``variance - linear`` (in the limit ``eta0^2`` and ``gamma0 + Delta``)."""
    rows = _select(table, teacher=teacher)
    if rows.empty:
        raise ValueError(f"no rows of teacher {teacher!r}")
    per = rows.groupby("seed")[["variance", "linear"]].first().sort_index()
    variance, linear = per["variance"].to_numpy(dtype=float), per["linear"].to_numpy(dtype=float)
    return {"variance": variance, "linear": linear, "rest": variance - linear}


def label_statistics(table: pd.DataFrame) -> dict[str, Any]:
    """Per statistic of the labels (the quantiles ``q=p``, ``variance``, ``kurtosis``, and the
    split of the variance into ``linear`` and ``rest``, :func:`label_moments`): the means over
    teachers of the deep and the GLM teachers, their standard errors and the z of the difference."""
    out: dict[str, Any] = {}
    for teacher in ("deep", "glm"):
        rows = _select(table, teacher=teacher)
        quantiles = _wide(rows, "probability", "quantile", QUANTILES)
        kurtosis = rows.groupby("seed")["kurtosis"].first().sort_index().to_numpy(dtype=float)
        split = label_moments(table, teacher)
        out[teacher], out[f"{teacher}_se"] = mean_and_error(
            np.vstack([quantiles, split["variance"], kurtosis, split["linear"], split["rest"]]))
    out["statistic"] = [f"q={p:g}" for p in QUANTILES] + ["variance", "kurtosis", "linear", "rest"]
    out["z"] = (out["deep"] - out["glm"]) / np.sqrt(out["deep_se"] ** 2 + out["glm_se"] ** 2)
    return out


def narrow_matrix(table: pd.DataFrame, column: str, widths: Sequence[int]) -> np.ndarray:
    """``column`` of the narrow table as an array ``(widths, teachers)``."""
    return _wide(table, "width", column, widths)


def narrow_predictions(table: pd.DataFrame, widths: Sequence[int], theory: MomentTheory, glm: GLMTheory,
                       alpha: float, penalty: float | None = None) -> np.ndarray:
    """Ridge's asymptotic test error (book eq-ridge-asymptotics) at the penalty the simulation
    used (``penalty``, by default ``glm``'s ``lambda*``) and sample ratio ``alpha``, on a GLM with
    the second moments ``theory`` names, for every teacher of the narrow table: ``(widths,
    teachers)``. ``theory.moments == "teacher"``: each teacher's own (``kappa = linear``,
    ``gamma0 = variance - linear - Delta``); ``"glm"``: the infinite-width coefficients of ``glm``
    at every width; both scaled by ``theory``'s factors."""
    linear, variance = narrow_matrix(table, "linear", widths), narrow_matrix(table, "variance", widths)
    if theory.moments == "teacher":
        kappa, gamma0 = linear, variance - linear - glm.noise
    else:
        kappa, gamma0 = np.full(linear.shape, glm.kappa), np.full(linear.shape, glm.gamma0)
    kappa, gamma0 = kappa * theory.kappa_scale, gamma0 * theory.gamma0_scale
    lam = glm.ridge_penalty if penalty is None else float(penalty)
    return np.array([[ridge_regression_error(k, g + glm.noise, alpha, lam) for k, g in zip(ks, gs)]
                     for ks, gs in zip(kappa, gamma0)])


def kurtosis_exponent(table: pd.DataFrame, widths: Sequence[int]) -> dict[str, float]:
    """The exponent ``b`` of ``|excess kurtosis| ~ d_m^b`` of the deep teacher's labels over the
    hidden widths ``widths`` (unweighted least squares on log-log of the means over teachers,
    the error from the scatter: :func:`deepgep.support.fits.fit_power`)."""
    fit = fit_power(np.asarray(widths, float), -narrow_matrix(table, "kurtosis", widths).mean(1))
    return {"exponent": fit.values["exponent"], "se": fit.errors["exponent"]}

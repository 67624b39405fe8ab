"""Chapter 5's estimators: the deep posterior against the equivalent GLM's exact Bayes error ON THE
SAME INPUTS, paired per instance, with ridge as a control variate whose mean is measured on many
cheap teachers; and the joint test of a finite-size law over the widths.

For an observable ``y`` of a ``posterior`` instance (``posterior_error``, or ``overlap_teacher``),
ridge's counterpart ``r`` on the same instance (``ridge_error``, ``ridge_overlap``: the
``spectra`` table regenerates the instance's data) and the GLM's exact value ``G(X; T)`` on its
inputs for a theory ``T = (kappa, gamma0, Delta)`` (:func:`deepgep.theory.glm.linear_bayes_test_error`,
or the overlap ``kappa (1 - mse(X))``), the deviation of the deep posterior from the GLM at one
point ``(depth, d0, alpha)`` is estimated by

    D(T) = mean_i [ y_i - r_i + G(X_i; T0) - G(X_i; T) ]  +  mu_R,
    mu_R = E[ r - G(X; T0) ]   (the ``ridge`` sweep: 1000 fresh teachers per point),

with ``T0`` the book's GLM of the depth. It is unbiased for ``E y - E G(X; T)`` (the bracket's
last two terms have the mean of ``E G(X; T0) - E G(X; T)`` over the instances' own inputs, and
``mean_i r_i`` is replaced by its mean): the control variate ``r`` with coefficient 1 removes the
teacher-to-teacher fluctuation that the deep posterior and ridge share (its scale ``|a|^2/d_L``
and hidden weights), which dominates the spread of ``y`` (10-20x the variance of ``y - r``).
``mu_R`` itself is a control-variate estimate with the readout power ``|a|^2/d_L`` (mean 1).

The finite-size law: at each ``alpha`` the points over the widths are fitted as ``c / d0^p``
(one ``c`` per alpha; ``p = 0`` is a constant offset that does not vanish) and the residual
chi-square summed over the alphas is referred to a scaled chi-square that accounts for the
standard errors being estimated from few teachers (Satterthwaite; :func:`law_test`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from deepgep.support.claims import CLAIM_LEVEL, CLAIM_Z, Test
from deepgep.support.stats import inverse_variance_mean
from deepgep.theory.glm import spectral_posterior_mse
from deepgep.theory.layers import GLMTheory

__all__ = ["GROUP", "OBSERVABLES", "MIN_DOF", "ridge_means", "InstanceSpectra", "instance_spectra", "glm_value",
           "paired_deviations", "gap_points", "ridge_points", "law_test", "pooled_over_widths"]

#: The columns naming one point of the sweeps (a group of teachers).
GROUP = ["depth", "d0", "alpha"]
#: observable -> (the posterior's column, ridge's column in the ``spectra`` table, the ``ridge``
#: table's excess column).
OBSERVABLES = {"error": ("posterior_error", "ridge_error", "error_excess"),
               "overlap": ("overlap_teacher", "ridge_overlap", "overlap_excess")}
#: Smallest degrees of freedom used for a standard error in :func:`law_test` (the variance of a
#: squared t-variable is infinite below 5; fewer teachers make the test approximate).
MIN_DOF = 5.0


def ridge_means(ridge: pd.DataFrame) -> pd.DataFrame:
    """One row per point of the ``ridge`` table: ``teachers``, and for each observable the
    control-variate estimate ``<obs>_excess`` of ``E[ridge - GLM on the same inputs]`` with its
    standard error ``<obs>_excess_se`` (the regression estimator on the readout power, whose mean
    is 1: the intercept at readout power 1 and its error under the residual variance, ``N - 2``
    degrees of freedom in ``<obs>_excess_dof``), and the plain mean and error
    ``<obs>_excess_plain``, ``<obs>_excess_plain_se``. The batches' moments combine exactly
    (the within-batch comoments plus the spread of the batch means)."""
    rows = []
    for key, batch in ridge.groupby(GROUP, sort=True):
        n_b = batch["teachers"].to_numpy(dtype=float)
        total = float(n_b.sum())
        row: dict[str, Any] = dict(zip(GROUP, key))
        row["teachers"] = int(total)
        power = batch["readout_power"].to_numpy(dtype=float)
        power_mean = float(n_b @ power / total)
        s_pp = float(n_b @ batch["var_readout_power"] + n_b @ (power - power_mean) ** 2)
        for obs in OBSERVABLES:
            name = OBSERVABLES[obs][2]
            values = batch[name].to_numpy(dtype=float)
            mean = float(n_b @ values / total)
            s_vv = float(n_b @ batch[f"var_{name}"] + n_b @ (values - mean) ** 2)
            s_vp = float(n_b @ batch[f"cov_{name}_readout"] + n_b @ ((values - mean) * (power - power_mean)))
            beta = s_vp / s_pp
            residual = max(s_vv - beta * s_vp, 0.0) / (total - 2.0)
            row[f"{name}"] = mean - beta * (power_mean - 1.0)
            row[f"{name}_se"] = math.sqrt(residual * (1.0 / total + (power_mean - 1.0) ** 2 / s_pp))
            row[f"{name}_dof"] = total - 2.0
            row[f"{name}_plain"] = mean
            row[f"{name}_plain_se"] = math.sqrt(s_vv / (total - 1.0) / total)
        rows.append(row)
    return pd.DataFrame(rows)


class InstanceSpectra:
    """The ``spectra`` table arranged per point: for each ``(depth, d0, alpha)`` the seeds (in
    the ``posterior`` table's order), the ``instances x m`` eigenvalues and ridge's error and
    overlap per instance. Raises ``ValueError`` if an instance's regenerated ``ridge_error``
    differs from the ``posterior`` table's (then the inputs are not the sampled instances')."""

    def __init__(self, spectra: pd.DataFrame, posterior: pd.DataFrame) -> None:
        self.points: dict[tuple[int, int, float], dict[str, np.ndarray]] = {}
        merged = posterior.set_index([*GROUP, "seed"])
        for key, rows in spectra.sort_values([*GROUP, "seed", "k"]).groupby(GROUP, sort=True):
            seeds = rows["seed"].unique()
            m = len(rows) // len(seeds)
            ridge_error = rows.groupby("seed", sort=True)["ridge_error"].first().to_numpy()
            recorded = merged.loc[[(*key, s) for s in seeds], "ridge_error"].to_numpy()
            if not np.array_equal(ridge_error, recorded):
                raise ValueError(f"the spectra table does not regenerate the posterior instances at {key} "
                                 f"(ridge errors differ): record both from the same parameters")
            self.points[(int(key[0]), int(key[1]), float(key[2]))] = {
                "seed": seeds, "eigenvalue": rows["eigenvalue"].to_numpy().reshape(len(seeds), m),
                "ridge_error": ridge_error,
                "ridge_overlap": rows.groupby("seed", sort=True)["ridge_overlap"].first().to_numpy()}


def instance_spectra(tables: Mapping[str, pd.DataFrame]) -> InstanceSpectra:
    """:class:`InstanceSpectra` of a chapter's tables (``spectra`` checked against ``posterior``)."""
    return InstanceSpectra(tables["spectra"], tables["posterior"])


def glm_value(observable: str, eigenvalues: np.ndarray, d0: int, glm: GLMTheory) -> np.ndarray:
    """The GLM's exact Bayes ``error`` (``kappa mse + gamma0 + Delta``) or function-space
    ``overlap`` (``kappa (1 - mse)``) on inputs of spectrum ``eigenvalues`` (one row per
    instance), ``mse`` = :func:`deepgep.theory.glm.spectral_posterior_mse`."""
    mse = spectral_posterior_mse(eigenvalues, d0, glm.kappa, glm.total_noise)
    return glm.kappa * mse + glm.total_noise if observable == "error" else glm.kappa * (1.0 - mse)


def paired_deviations(observable: str, depth: int, theory: GLMTheory, book: GLMTheory, posterior: pd.DataFrame,
                      spectra: InstanceSpectra, ridge: pd.DataFrame) -> pd.DataFrame:
    """Per ``(d0, alpha)`` at ``depth``: the deviation ``D(theory)`` of the module docstring
    (``deviation``), its standard error ``se`` (the instances' spread and ``mu_R``'s, added in
    quadrature), its Welch-Satterthwaite degrees of freedom ``dof``, the plain paired value
    ``mean_i [y_i - G(X_i; theory)]`` with its error (``plain``, ``plain_se``), and the number
    of ``teachers``. ``book`` is the GLM with which the ``ridge`` table's excess was recorded;
    ``ridge`` is :func:`ridge_means`."""
    y_name, r_name, excess = OBSERVABLES[observable]
    rows = []
    table = posterior.set_index([*GROUP, "seed"])
    control = ridge.set_index(GROUP)
    for (L, d0, alpha), point in spectra.points.items():
        if L != depth:
            continue
        y = table.loc[[(L, d0, alpha, s) for s in point["seed"]], y_name].to_numpy()
        g_theory = glm_value(observable, point["eigenvalue"], d0, theory)
        u = y - point[r_name] + glm_value(observable, point["eigenvalue"], d0, book) - g_theory
        mu, mu_se, mu_dof = (float(control.loc[(L, d0, alpha), c]) for c in (excess, f"{excess}_se", f"{excess}_dof"))
        n = u.size
        var_u = float(np.var(u, ddof=1)) / n
        se2 = var_u + mu_se ** 2
        dof = se2 ** 2 / (var_u ** 2 / (n - 1) + mu_se ** 4 / mu_dof)
        plain = y - g_theory
        rows.append({"depth": L, "d0": d0, "alpha": alpha, "teachers": n, "deviation": float(u.mean()) + mu,
                     "se": math.sqrt(se2), "dof": dof, "plain": float(plain.mean()),
                     "plain_se": float(np.std(plain, ddof=1)) / math.sqrt(n)})
    return pd.DataFrame(rows).sort_values(["alpha", "d0"]).reset_index(drop=True)


def gap_points(posterior: pd.DataFrame) -> pd.DataFrame:
    """Per ``(depth, d0, alpha)``: the paired gap ridge - posterior (``deviation``), its standard
    error ``se`` over the teachers and ``dof`` = teachers - 1."""
    gap = posterior.assign(gap=posterior["ridge_error"] - posterior["posterior_error"])
    out = gap.groupby(GROUP, sort=True)["gap"].agg(["mean", "std", "count"]).reset_index()
    return pd.DataFrame({"depth": out["depth"], "d0": out["d0"], "alpha": out["alpha"], "deviation": out["mean"],
                         "se": out["std"] / np.sqrt(out["count"]), "dof": out["count"] - 1.0})


def ridge_points(ridge: pd.DataFrame, observable: str = "error") -> pd.DataFrame:
    """Per ``(depth, d0, alpha)`` of :func:`ridge_means` (``ridge``): ridge's excess over the
    book's GLM on the same inputs for ``observable`` (``deviation``: the control-variate
    estimate), its ``se`` and ``dof``, the columns :func:`law_test` reads."""
    name = OBSERVABLES[observable][2]
    return pd.DataFrame({"depth": ridge["depth"], "d0": ridge["d0"], "alpha": ridge["alpha"],
                         "deviation": ridge[name], "se": ridge[f"{name}_se"], "dof": ridge[f"{name}_dof"]})


def _t_square_moments(dof: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the square of a Student-t variable with ``dof`` degrees of freedom."""
    nu = np.maximum(np.asarray(dof, dtype=float), MIN_DOF)
    return nu / (nu - 2.0), 2.0 * nu ** 2 * (nu - 1.0) / ((nu - 2.0) ** 2 * (nu - 4.0))


def law_test(points: pd.DataFrame, exponent: float, what: str = "", level: float = CLAIM_LEVEL) -> Test:
    """The joint test that ``deviation = c / d0^exponent`` in every series of ``points`` (columns
    ``alpha``, ``d0``, ``deviation``, ``se``, ``dof``, and ``depth`` if several: a series is one
    ``(depth, alpha)``; one free ``c`` per series, fitted by weighted least squares; ``exponent =
    0``: a constant offset). The residual chi-square over all ``N`` points on ``N - K`` degrees
    of freedom (``K`` series) is referred to the scaled
    chi-square ``a chi2_b`` whose mean and variance are those of a sum of ``N - K`` squared
    t-variables with the points' degrees of freedom (Satterthwaite: with 10 teachers a squared
    t has mean 1.29 and variance 5.3 against 1 and 2 for a normal, which a plain chi-square
    would count as a deviation). Reported as the two-sided z-score of its tail probability,
    against :data:`CLAIM_Z`."""
    residual_chi2, parts = 0.0, []
    series = [c for c in ("depth", "alpha") if c in points]
    for key, group in points.groupby(series, sort=True):
        x = group["d0"].to_numpy(dtype=float) ** -float(exponent)
        y, w = group["deviation"].to_numpy(), group["se"].to_numpy() ** -2.0
        c = float(np.sum(w * x * y) / np.sum(w * x * x))
        term = float(np.sum(w * (y - c * x) ** 2))
        residual_chi2 += term
        parts.append(", ".join(f"{'L' if name == 'depth' else 'a'}={v:g}" for name, v in zip(series, key))
                     + f": c = {c:+.3g}, chi2 {term:.1f}")
    n, k = len(points), len(points.groupby(series))
    if n <= k:
        return Test(math.nan, CLAIM_Z, f"{what}fewer points than fitted coefficients")
    m, v = _t_square_moments(points["dof"].to_numpy())
    mean, var = float(m.mean()) * (n - k), float(v.mean()) * (n - k)
    scale, dof = var / (2.0 * mean), 2.0 * mean ** 2 / var
    tail = float(chi2.sf(residual_chi2 / scale, dof))
    z = float(norm.isf(tail / 2.0)) if tail > 0 else math.inf
    threshold = float(norm.isf(level / 2.0))
    return Test(z, threshold, f"{what}c/d0^{exponent:g}: chi2 = {residual_chi2:.1f} on {n - k} dof "
                              f"(t-corrected p = {tail:.2g}, as |z| = {z:.2f}); " + "; ".join(parts))


def pooled_over_widths(points: pd.DataFrame, by: str = "alpha") -> pd.DataFrame:
    """Inverse-variance weighted means of ``deviation`` over the widths (or over whatever is
    not ``by``): one row per value of ``by``, with ``se`` and ``z``."""
    rows = []
    for value, group in points.groupby(by, sort=True):
        mean, se = inverse_variance_mean(group["deviation"], group["se"])
        rows.append({by: value, "deviation": mean, "se": se, "z": mean / se})
    return pd.DataFrame(rows)

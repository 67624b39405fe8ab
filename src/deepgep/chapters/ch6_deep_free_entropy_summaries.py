"""Chapter 6's summaries of its tables (pandas DataFrames), for the notebook and the claims.

The summaries turn the recorded instances into the chapter's numbers: the estimator's two
validations (depth 0 against the exact evidence, book eq-linear-evidence; the SMC against
thermodynamic integration, eq-thermodynamic-integration) and its bias against the number of
particles (eq-tempered-smc); per depth, input width and sample ratio the mutual informations
per sample of the deep network and of its GLM (eq-deep-mutual-information), the paired
log-likelihood ratio (eq-log-likelihood-ratio) and the variance of ``ln Z / n`` across teachers
(book thm-concentration, eq-concentration). The wrong GLMs are evaluated on each instance's data,
regenerated from its stream (:func:`deepgep.simulate.evidence_instances.instance_data`), by
:func:`~deepgep.simulate.evidence_instances.glm_free_entropy`.

Standard errors are over teachers (the SMC's own error is part of the scatter). A per-instance
error from ``R`` runs is a Student variable with ``R - 1`` degrees of freedom: a per-instance
comparison is turned into the normal score of its two-sided tail (:func:`t_scores`) before a
joint test. The variance of ``ln Z / n`` across teachers is the sample variance minus the mean
squared SMC error, its error the larger of the Gaussian and the kurtosis-based one; its fit by the
two terms of Theorem 2, ``a/n + b/d_m`` (:func:`variance_fit`), is reweighted by the fitted values.
:func:`glm_separation` compares the GLMs of two depths on the same deep labels, exactly, and
:func:`nearest_summary` locates the Gaussian model of the GLM family nearest to them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from deepgep.simulate.evidence_instances import glm_free_entropy, instance_data, instance_rng
from deepgep.support.fits import Fit, fit_constant, fit_inverse, fit_linear, fit_power
from deepgep.support.stats import inverse_variance_mean
from deepgep.theory.state_evolution import gaussian_closed_form

__all__ = ["t_scores", "variance_estimate", "regenerate", "depth0_summary",
           "ti_summary", "particles_summary", "bias_bound", "instance_table", "point_summary", "llr_fits", "pooled_fit", "information_fits",
           "variance_frame", "variance_fit", "glm_separation", "nearest_summary", "nearest_pooled",
           "cpu_hours"]

_KEYS = ["depth", "d0", "alpha"]


def t_scores(t: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """The normal score with the same two-sided tail as Student's ``t`` on ``dof`` degrees of
    freedom (the sign kept)."""
    t, dof = np.asarray(t, dtype=float), np.broadcast_to(np.asarray(dof, dtype=float), np.shape(t))
    return np.sign(t) * stats.norm.isf(stats.t.sf(np.abs(t), dof))


def variance_estimate(values: np.ndarray, noise: np.ndarray | None = None) -> tuple[float, float]:
    """The variance of ``values`` across teachers minus the mean of ``noise`` (squared SMC
    errors), and its standard error: the larger of ``v sqrt(2/(N-1))`` and the kurtosis-based
    ``sqrt((m4 - v^2 (N-3)/(N-1)) / N)``."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ValueError(f"a variance across teachers needs at least 2 of them, got {x.size}")
    N, v = x.size, float(np.var(x, ddof=1))
    m4 = float(np.mean((x - x.mean()) ** 4))
    se = max(v * math.sqrt(2.0 / (N - 1)), math.sqrt(max(m4 - v * v * (N - 3) / (N - 1), 0.0) / N))
    return v - (0.0 if noise is None else float(np.mean(noise))), se


def regenerate(experiment: Any, frame: pd.DataFrame, depth: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(X, y)`` of every row's instance, regenerated from its stream (the depth of the row, or
    ``depth`` for the depth-0 sweep; the hidden width ``width`` if the table has it, else d0)."""
    out = []
    for row in frame.itertuples(index=False):
        L = int(depth if depth is not None else row.depth)
        width = int(getattr(row, "width", row.d0))
        params = {"base_seed": experiment.base_seed, "depth": L, "d0": int(row.d0), "alpha": float(row.alpha),
                  "width": width}
        _, data = instance_data(experiment.activation, experiment.gain, L, int(row.d0), width, float(row.alpha),
                                experiment.noise, instance_rng(params, int(row.seed)))
        out.append((data.X, data.y))
    return out


_COUNTS = ("instances", "repeats", "teachers")


def _counted(out: pd.DataFrame) -> pd.DataFrame:
    return out.astype({c: int for c in _COUNTS if c in out})


def _group(frame: pd.DataFrame, keys: list[str], columns: Mapping[str, Any]) -> pd.DataFrame:
    return _counted(frame.groupby(keys).apply(lambda g: pd.Series({k: f(g) for k, f in columns.items()}),
                                              include_groups=False).reset_index())


def _mean_se(x: pd.Series) -> float:
    return float(x.std(ddof=1) / math.sqrt(len(x)))


def depth0_summary(table: pd.DataFrame, runs: int) -> pd.DataFrame:
    """Per input width, in nats: instances, ``difference`` (the estimate, ``ln`` of the mean
    ``Z-hat`` of ``runs`` runs, minus the exact evidence) and its error over instances, the mean
    per-instance ``z``, and the ``bias`` of one run (mean of logs - exact) next to its Jensen
    estimate ``jensen`` = ``-Var(ln Z-hat) / 2``."""
    n = table["n"]
    t = table.assign(difference=n * (table["estimate"] - table["exact"]), bias=n * (table["mean_of_logs"] - table["exact"]),
                     jensen=-0.5 * runs * (n * table["standard_error"]) ** 2)
    return _group(t, ["d0"], {"instances": len, "difference": lambda g: g["difference"].mean(),
                              "difference_se": lambda g: _mean_se(g["difference"]), "z": lambda g: g["z"].mean(),
                              "bias": lambda g: g["bias"].mean(), "bias_se": lambda g: _mean_se(g["bias"]),
                              "jensen": lambda g: g["jensen"].mean()})


def ti_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per depth and input width, in nats: instances, SMC - TI and its error over instances, the
    mean combined error of one instance, the largest ``|z|`` and the work of TI over the SMC's
    (gradient evaluations)."""
    n = table["n"]
    t = table.assign(difference=n * (table["smc"] - table["ti"]),
                     combined=n * np.sqrt(table["smc_se"] ** 2 + table["ti_se"] ** 2 + table["ti_discretisation"] ** 2))
    return _group(t, ["depth", "d0"], {"instances": len, "difference": lambda g: g["difference"].mean(),
                                       "difference_se": lambda g: _mean_se(g["difference"]),
                                       "combined": lambda g: g["combined"].mean(), "max_z": lambda g: g["z"].abs().max(),
                                       "work_ratio": lambda g: (g["ti_evaluations"] / g["smc_evaluations"]).mean()})


def particles_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per depth and particle count, in nats: the mean of ``ln Z-hat`` of one run, its spread
    ``sd``, the ``bias`` against the reference (``ln`` of the mean ``Z-hat`` at the largest count)
    with its error, and the Jensen prediction of that difference, ``-sd^2/2`` plus the
    reference's own ``sd_ref^2 / (2 repeats)``; temperatures and evaluations per run."""
    t = table.assign(nats=table["log_z"] * table["n"])
    out = _group(t, ["depth", "particles"], {"repeats": len, "mean": lambda g: g["nats"].mean(),
                                             "sd": lambda g: g["nats"].std(ddof=1),
                                             "temperatures": lambda g: g["temperatures"].mean(),
                                             "evaluations": lambda g: g["evaluations"].mean()})
    for depth, g in t.groupby("depth"):
        top = g[g["particles"] == g["particles"].max()]["nats"].to_numpy()
        ref = float(np.log(np.mean(np.exp(top - top.max()))) + top.max())
        rows = out["depth"] == depth
        ref_sd, m = float(np.std(top, ddof=1)), top.size
        out.loc[rows, "bias"] = out.loc[rows, "mean"] - ref
        out.loc[rows, "bias_se"] = np.sqrt(out.loc[rows, "sd"] ** 2 / out.loc[rows, "repeats"] + ref_sd**2 / m)
        out.loc[rows, "jensen"] = -0.5 * out.loc[rows, "sd"] ** 2 + ref_sd**2 / (2 * m)
    return out


def bias_bound(summary: pd.DataFrame, particles: int, runs: int, z: float) -> pd.DataFrame:
    """Per depth, at ``particles``: the spread ``sd`` of one run, the standard error
    ``sd / sqrt(runs)`` of the chapter's estimate, the Jensen bias ``-sd^2 / (2 runs)`` of that
    estimate (``ln`` of the mean of ``runs`` runs), their ratio ``sd / (2 sqrt(runs))`` and its
    upper limit ``z`` standard errors of the variance above (``Var (1 + z sqrt(2/(m - 1)))``,
    ``m`` repeats)."""
    s = summary[summary["particles"] == particles].set_index("depth")
    sd, m = s["sd"], s["repeats"]
    ratio = sd / (2.0 * math.sqrt(runs))
    return pd.DataFrame({"sd": sd, "standard_error": sd / math.sqrt(runs), "jensen": -sd**2 / (2 * runs),
                         "ratio": ratio, "ratio_upper": ratio * (1.0 + z * np.sqrt(2.0 / (m - 1)))}).reset_index()


def instance_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The instances of the ``evidence`` and ``evidence_large`` sweeps in one frame."""
    return pd.concat([tables["evidence"], tables["evidence_large"]], ignore_index=True)


def point_summary(instances: pd.DataFrame, experiment: Any, keys: list[str] = _KEYS) -> pd.DataFrame:
    """Per point (depth, d0, alpha; or ``keys``): teachers, ``n``; the mean and error of the deep
    network's information ``mi_deep``, of the GLM's on the same labels ``mi_glm`` and of the
    log-likelihood ratio; the GLM's exact information ``mi_glm_exact`` (its own labels), the
    replica formula per sample and the offset ``(1/2) ln(1 + gamma0/Delta)``; the variance of
    ``ln Z / n`` across teachers of the deep network (``var_deep``), of the GLM on the deep
    labels (``var_glm``), and the GLM's own on the same inputs ``1/(2n) + Var(mi_glm_exact)``."""
    def columns(g: pd.DataFrame) -> pd.Series:
        key = dict(zip(keys, g.name))
        depth, alpha, n = int(key["depth"]), float(key["alpha"]), float(g["n"].iloc[0])
        glm = experiment.glm(depth)
        v_deep = variance_estimate(g["free_entropy_deep"], g["free_entropy_deep_se"] ** 2)
        v_glm = variance_estimate(g["free_entropy_glm"])
        return pd.Series({
            "teachers": len(g), "n": n, "mi_deep": g["mi_deep"].mean(), "mi_deep_se": _mean_se(g["mi_deep"]),
            "mi_glm": g["mi_glm"].mean(), "mi_glm_se": _mean_se(g["mi_glm"]), "mi_glm_exact": g["mi_glm_exact"].mean(),
            "replica": gaussian_closed_form(glm.kappa, glm.total_noise, alpha)["mutual_information"] / alpha,
            "offset": 0.5 * math.log1p(glm.gamma0 / glm.noise), "log_ratio": g["log_ratio"].mean(),
            "log_ratio_se": _mean_se(g["log_ratio"]), "var_deep": v_deep[0], "var_deep_se": v_deep[1],
            "var_glm": v_glm[0], "var_glm_se": v_glm[1],
            "var_glm_own": 1.0 / (2.0 * n) + float(g["mi_glm_exact"].var(ddof=1))})
    return _counted(instances.groupby(keys).apply(columns, include_groups=False).reset_index())


def llr_fits(points: pd.DataFrame, depth: int, alpha: float, column: str = "log_ratio") -> dict[str, Fit]:
    """The finite-size forms of ``column`` (default the log-likelihood ratio) against d0 at one
    depth and sample ratio: ``constant`` (a difference that does not vanish), ``1/d0`` (the
    derived form, limit + c/d0), ``1/sqrt(d0)`` (the rate of the theorem's bound) and ``power``
    (``c d0^-p``, only if every mean is positive)."""
    p = points[(points["depth"] == depth) & (points["alpha"] == alpha)].sort_values("d0")
    d0, y, se = p["d0"].to_numpy(float), p[column].to_numpy(float), p[f"{column}_se"].to_numpy(float)
    out = {"constant": fit_constant(y, se), "1/d0": fit_inverse(d0, y, se), "1/sqrt(d0)": fit_inverse(d0, y, se, 0.5)}
    if np.all(y > 0):
        out["power"] = fit_power(d0, y, se)
    return out


def pooled_fit(means: pd.DataFrame, column: str, power: float = 1.0) -> Fit:
    """``column = limit + c_alpha / d0^power`` over every (alpha, d0) of ``means``: one limit
    shared by the sample ratios (the theorem's limit is the same at every alpha), one slope per
    ratio; weighted by ``column_se``, errors chi-square inflated."""
    d0, alpha = means["d0"].to_numpy(float), means["alpha"].to_numpy(float)
    columns = {"limit": np.ones(d0.size)} | {f"slope (alpha = {a:g})": (alpha == a) / d0**power
                                             for a in sorted(set(alpha))}
    return fit_linear(columns, means[column].to_numpy(float), means[f"{column}_se"].to_numpy(float),
                      form=f"limit + c_alpha/d0^{power:g}")


def information_fits(points: pd.DataFrame, depth: int, alpha: float) -> Fit:
    """``mi_deep = limit + c/d0`` at one depth and sample ratio (the unpaired information)."""
    p = points[(points["depth"] == depth) & (points["alpha"] == alpha)].sort_values("d0")
    return fit_inverse(p["d0"], p["mi_deep"], p["mi_deep_se"])


def variance_frame(points: pd.DataFrame, narrow: pd.DataFrame, depth: int) -> pd.DataFrame:
    """The variances of ``ln Z / n`` of one depth: every (d0, alpha) point of the evidence sweeps
    (hidden width ``d_m = d0``) and, at the narrow sweep's depth, its points (``d_m`` = its
    hidden width); columns ``n``, ``d_m``, ``var_deep``, ``var_deep_se``, ``var_glm_own``."""
    columns = ["n", "d_m", "var_deep", "var_deep_se", "var_glm_own"]
    frames = [points[points["depth"] == depth].assign(d_m=lambda f: f["d0"])[columns]]
    if len(narrow) and int(narrow["depth"].iloc[0]) == depth:
        frames.append(narrow.assign(d_m=lambda f: f["width"])[columns])
    return pd.concat(frames, ignore_index=True)


def variance_fit(frame: pd.DataFrame, n_exponent: float = -1.0, width_exponent: float = -1.0, *,
                 n_term: bool = True, width_term: bool = True, iterations: int = 10) -> Fit:
    """``Var(ln Z / n) = a n^n_exponent + b d_m^width_exponent`` (book thm-concentration: the two
    terms of Theorem 2's bound at ``-1, -1``), errors chi-square inflated; ``n_term`` /
    ``width_term`` false drop a term (two zero exponents are one constant).

    The error of a sample variance is proportional to the variance itself, so weighting by the
    measured errors favours the points that fluctuated low (a fit biased downwards). The fit is
    iteratively reweighted instead: each point's error is its measured RELATIVE error
    ``var_deep_se / var_deep`` times the fitted value there, ``iterations`` times."""
    n, d = frame["n"].to_numpy(float), frame["d_m"].to_numpy(float)
    columns = {}
    if n_term:
        columns["a"] = n**n_exponent
    if width_term and not (n_term and n_exponent == 0.0 and width_exponent == 0.0):
        columns["b"] = d**width_exponent
    if not columns:
        raise ValueError("a variance fit needs at least one term")
    y, se = frame["var_deep"].to_numpy(float), frame["var_deep_se"].to_numpy(float)
    relative = se / np.maximum(np.abs(y), 1e-300)
    form = " + ".join(f"{k} {v}" for k, v in (("a", f"n^{n_exponent:g}"), ("b", f"d_m^{width_exponent:g}"))
                      if k in columns)
    fit = fit_linear(columns, y, se, form=form)
    for _ in range(iterations):
        model = sum(fit.values[k] * columns[k] for k in columns)
        fit = fit_linear(columns, y, relative * np.maximum(model, 1e-3 * np.max(np.abs(y))), form=form)
    return fit


def glm_separation(experiment: Any, instances: pd.DataFrame, depth: int, other: int) -> pd.DataFrame:
    """Per (d0, alpha) of the depth-``depth`` instances: the mean and error over teachers of
    ``(1/n) [ln p_GLM(L = depth) - ln p_GLM(L = other)]`` on the deep teacher's labels, both exact
    (book eq-linear-evidence) on the regenerated data: how far apart the free entropies of the
    GLMs of two depths are on the data (the log-likelihood ratio between them, so the difference of
    the ratios ``r`` the two GLMs give)."""
    rows = instances[instances["depth"] == depth].reset_index(drop=True)
    right, wrong = experiment.glm(depth), experiment.glm(other)
    values = np.array([glm_free_entropy(X, y, right.kappa, right.gamma0, right.noise)
                       - glm_free_entropy(X, y, wrong.kappa, wrong.gamma0, wrong.noise)
                       for X, y in regenerate(experiment, rows)])
    frame = rows[["d0", "alpha"]].assign(separation=values)
    return _group(frame, ["d0", "alpha"], {"teachers": len, "separation": lambda g: g["separation"].mean(),
                                           "separation_se": lambda g: _mean_se(g["separation"])})


def nearest_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per depth, input width and sample ratio of the ``nearest`` table: the GLM ``(kappa, s)``
    that maximises the mean evidence per sample over teachers on the deep labels, i.e. the
    Gaussian model of the family nearest to their law in Kullback-Leibler divergence, located by
    one Newton step from the equivalent GLM, ``delta = -H^-1 g`` (``g``, ``H``: the mean gradient
    and Hessian over teachers; exact for a quadratic, second order in ``delta`` otherwise), with
    the sandwich covariance ``H^-1 Cov(g) H^-1 / teachers``. Columns: ``kappa_shift`` = delta
    kappa / kappa and ``gamma0_shift`` = delta s / gamma0 (relative to the equivalent GLM's
    kappa and gamma0), their errors ``*_se``, their ``correlation`` and ``teachers``."""
    rows = []
    for (depth, d0, alpha), g in table.groupby(_KEYS):
        grads = g[["g_kappa", "g_s"]].to_numpy()
        hessian = np.array([[g["h_kk"].mean(), g["h_ks"].mean()], [g["h_ks"].mean(), g["h_ss"].mean()]])
        if not np.all(np.linalg.eigvalsh(hessian) < 0):
            raise ValueError(f"nearest_summary: at (L, d0, alpha) = ({depth}, {d0}, {alpha}) the mean Hessian of the "
                             f"evidence over {len(g)} teachers is not negative definite, so no nearby maximum "
                             "is located by a Newton step (more teachers, or a GLM nearer the labels)")
        inverse = np.linalg.inv(hessian)
        delta = -inverse @ grads.mean(axis=0)
        cov = inverse @ np.cov(grads, rowvar=False) @ inverse / len(g)
        scale = np.array([g["kappa"].iloc[0], g["gamma0"].iloc[0]])
        shift, err = delta / scale, np.sqrt(np.diag(cov)) / scale
        rows.append({"depth": depth, "d0": d0, "alpha": alpha, "kappa_shift": shift[0], "kappa_shift_se": err[0],
                     "gamma0_shift": shift[1], "gamma0_shift_se": err[1],
                     "correlation": cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]), "teachers": len(g)})
    return pd.DataFrame(rows)


def nearest_pooled(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`nearest_summary` per depth and input width, its shifts pooled over the sample
    ratios by inverse variance (for reading; the claim tests every ratio): ``depth``, ``d0``,
    ``kappa_shift``, ``kappa_shift_se``, ``gamma0_shift``, ``gamma0_shift_se``."""
    rows = []
    for (depth, d0), g in summary.groupby(["depth", "d0"]):
        k, k_se = inverse_variance_mean(g["kappa_shift"], g["kappa_shift_se"])
        s, s_se = inverse_variance_mean(g["gamma0_shift"], g["gamma0_shift_se"])
        rows.append({"depth": depth, "d0": d0, "kappa_shift": k, "kappa_shift_se": k_se, "gamma0_shift": s,
                     "gamma0_shift_se": s_se})
    return pd.DataFrame(rows)


def cpu_hours(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """The recorded CPU time of every table's tasks (its ``cpu_time`` column), in hours."""
    return {name: float(t["cpu_time"].sum()) / 3600 for name, t in tables.items()}


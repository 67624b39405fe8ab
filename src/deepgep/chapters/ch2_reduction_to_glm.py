"""Chapter 2: finite-size experiments on the reduction of a deep network to a GLM.

Camilli et al. (2025), Corollary 3 and Theorem 4 (book thm-reduction): data labelled by a deep
random network (book eq-model) carry the same information, and admit the same Bayes-optimal
error, as data labelled by the GLM ``y ~ P_out(. | eta0 a.x/sqrt(d0) + sqrt(gamma0) xi)``
(book eq-equivalent-glm). :class:`ReductionToGLM` is the chapter's experiment; its four sweeps
of independent teachers run the tasks of :mod:`deepgep.chapters.ch2_reduction_to_glm_tasks`.
That module also holds the GLM's predictions of the measurements (ridge asymptotics, state
evolution); this one summarises the tables (pandas DataFrames, long format) for the notebook, and
:func:`claims` tests the theory on them with the wrong theories each test must reject.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from deepgep.chapters.ch2_reduction_to_glm_tasks import PROBLEMS, QUANTILES, TASKS_MODULE, ReductionTheory, gamp_theory
from deepgep.support.claims import CLAIM_Z, Claim, Test, max_abs_z, z_test
from deepgep.support.experiment import Experiment, ExperimentError
from deepgep.support.fits import fit_inverse, fit_power
from deepgep.support.stats import mean_and_error, standard_error
from deepgep.support.sweeps import Sweep, grid_product
from deepgep.support.validation import check_count, check_real
from deepgep.theory.activations import get_activation
from deepgep.theory.layers import GLMTheory
from deepgep.theory.ridge import ridge_regression_error
from deepgep.theory.state_evolution import gaussian_closed_form

__all__ = ["THEORY_PENALTY_FACTORS", "FINITE_SIZE_ALPHAS", "ReductionToGLM", "EXPERIMENT", "ridge_errors",
           "ridge_means", "size_extrapolation", "penalty_vertex", "vertex_reference", "gamp_errors", "label_statistics",
           "narrow_matrix", "kurtosis_exponent", "claims"]

#: The penalties ``lambda* x factor`` of the figure's theory curves: a decade either side of
#: ``lambda*`` shows how flat the optimum is (the simulated factors are the experiment's).
THEORY_PENALTY_FACTORS = (0.1, 1.0, 10.0)
#: The sample ratios of the finite-size figure (``n = d0`` and ``n = 4 d0``); the experiment
#: draws its own alphas nearest to them.
FINITE_SIZE_ALPHAS = (1.0, 4.0)
#: The penalty factors the vertex of the penalty parabola is located with.
_VERTEX_FACTORS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class ReductionToGLM(Experiment):
    """Chapter 2's parameters: the teacher (``activation``, ``gain``, label noise ``noise``);
    ridge on deep and GLM teachers (``depths``, input widths ``d0s`` with hidden widths ``d0``,
    and ``width_ratios`` of hidden to input width at the largest ``d0``, sample ratios
    ``alphas``, ``penalty_factors`` of lambda*, ``teachers``); GAMP on deep data (``gamp_*``);
    the law of the labels (``labels_*``); narrow hidden widths (``narrow_*``,
    ``hidden_widths``, ``kurtosis_n`` labels for the kurtosis); the table of equivalent GLMs
    (``table_*``). The equivalent GLM of each depth (kappa, gamma0, lambda*) is derived."""

    CHAPTER: ClassVar[int] = 2

    base_seed: int
    activation: str
    gain: float
    noise: float
    depths: tuple[int, ...]
    d0s: tuple[int, ...]
    width_ratios: tuple[float, ...]
    alphas: tuple[float, ...]
    penalty_factors: tuple[float, ...]
    teachers: int
    n_test: int
    gamp_d0: int
    gamp_alpha: float
    gamp_depth: int
    gamp_iterations: int
    gamp_teachers: int
    labels_d0: int
    labels_n: int
    labels_depth: int
    labels_teachers: int
    narrow_d0: int
    narrow_alpha: float
    narrow_depth: int
    hidden_widths: tuple[int, ...]
    narrow_teachers: int
    kurtosis_n: int
    table_activations: tuple[str, ...]
    table_gains: tuple[float, ...]
    table_depths: tuple[int, ...]

    @classmethod
    def paper(cls) -> ReductionToGLM:
        return cls(base_seed=2025, activation="tanh", gain=2.0, noise=0.05, depths=(1, 2, 3), d0s=(125, 250, 500, 1000),
                   width_ratios=(1.0, 1.5), alphas=(0.25, 0.5, 1.0, 2.0, 4.0, 6.0), penalty_factors=(0.5, 1.0, 2.0),
                   teachers=40, n_test=2000, gamp_d0=2000, gamp_alpha=2.0, gamp_depth=2, gamp_iterations=10,
                   gamp_teachers=20, labels_d0=1000, labels_n=10000, labels_depth=2, labels_teachers=20,
                   narrow_d0=400, narrow_alpha=4.0, narrow_depth=2, hidden_widths=(10, 20, 40, 80, 160, 320, 640, 1280),
                   narrow_teachers=20, kurtosis_n=50000, table_activations=("tanh", "erf", "sin"),
                   table_gains=(0.5, 1.0, 2.0), table_depths=(1, 2, 3))

    @classmethod
    def fast(cls) -> ReductionToGLM:
        return replace(cls.paper(), d0s=(50, 100, 200), teachers=20, gamp_d0=1000, gamp_teachers=10, labels_d0=400,
                       labels_n=4000, labels_teachers=10, narrow_d0=200, hidden_widths=(10, 20, 40, 80, 160, 320),
                       narrow_teachers=10, kurtosis_n=20000)

    def validate(self) -> None:
        get_activation(self.activation, check_real("gain", self.gain))
        check_real("noise", self.noise)
        for name in ("n_test", "gamp_d0", "gamp_depth", "labels_d0", "labels_n", "labels_depth", "narrow_d0",
                     "narrow_depth", "kurtosis_n"):
            check_count(name, getattr(self, name))
        check_count("gamp_iterations", self.gamp_iterations, 1)
        for name in ("teachers", "gamp_teachers", "labels_teachers", "narrow_teachers"):
            if check_count(name, getattr(self, name)) < 2:
                raise ExperimentError(f"{name} must be at least 2 (standard errors are over teachers)")
        for name, minimum in (("d0s", 3), ("hidden_widths", 3), ("depths", 1), ("table_depths", 1)):
            values = getattr(self, name)
            if len(values) < minimum or len(set(values)) != len(values) or any(check_count(name, v) < 1
                                                                               for v in values):
                raise ExperimentError(f"{name} must be at least {minimum} distinct positive integers, got {values} "
                                      + ("(the fits have 2 parameters)" if minimum == 3 else ""))
        for name in ("width_ratios", "alphas", "penalty_factors", "table_gains"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise ExperimentError(f"{name} must be distinct positive numbers, got {values}")
            for value in values:
                check_real(name, value, positive=True)
        for name in ("gamp_alpha", "narrow_alpha"):
            check_real(name, getattr(self, name), positive=True)
        if 1.0 not in self.width_ratios:
            raise ExperimentError(f"width_ratios must contain 1.0 (hidden widths = d0 at every d0), got "
                                  f"{self.width_ratios}")
        if not set(_VERTEX_FACTORS) <= set(self.penalty_factors):
            raise ExperimentError(f"penalty_factors must contain {_VERTEX_FACTORS} (the vertex of ridge's error in "
                                  f"log2(lambda/lambda*) is located with them), got {self.penalty_factors}")
        for activation in self.table_activations:
            get_activation(activation)
        for depth in {*self.depths, self.gamp_depth, self.labels_depth, self.narrow_depth}:
            if self.glm(depth).kappa <= 0:
                raise ExperimentError(f"{self.activation}({self.gain:g} x) at depth {depth} has kappa = 0: the "
                                      "teacher has no linear part to learn")

    def glm(self, depth: int) -> GLMTheory:
        """The equivalent GLM of the depth-``depth`` teacher (book eq-equivalent-glm), noise ``noise``."""
        return ReductionTheory(self.activation, self.gain, self.noise).glm(depth)

    @property
    def finite_size_alphas(self) -> tuple[float, ...]:
        """The alphas of :attr:`alphas` nearest to :data:`FINITE_SIZE_ALPHAS` (the figure's)."""
        return tuple(sorted({min(self.alphas, key=lambda a: abs(a - t)) for t in FINITE_SIZE_ALPHAS}))

    def derived(self) -> dict[str, Any]:
        glms = [self.glm(L) for L in self.depths]
        return {"kappa = eta0^2 at depths": [g.kappa for g in glms], "gamma0 at depths": [g.gamma0 for g in glms],
                "lambda* = (gamma0 + Delta)/kappa": [g.ridge_penalty for g in glms],
                "ridge hidden widths at max(d0s)": [round(r * max(self.d0s)) for r in self.width_ratios]}

    def sweeps(self) -> dict[str, Sweep]:
        """``ridge`` (per input width and width ratio, and teacher), ``gamp`` (per problem),
        ``labels`` and ``narrow`` (per hidden width)."""
        common = {"base_seed": self.base_seed, "activation": self.activation, "gain": self.gain, "noise": self.noise}
        top = max(self.d0s)
        grid = [{"d0": d0, "width_ratio": 1.0} for d0 in self.d0s]
        grid += [{"d0": top, "width_ratio": r} for r in self.width_ratios if r != 1.0]
        return {
            "ridge": Sweep(2, "ridge", f"{TASKS_MODULE}:ridge_task", grid=grid, seeds=range(self.teachers),
                           index=("teacher", "depth", "alpha", "penalty_factor"),
                           constants={**common, "depths": list(self.depths), "alphas": list(self.alphas),
                                      "penalty_factors": list(self.penalty_factors), "n_test": self.n_test}),
            "gamp": Sweep(2, "gamp", f"{TASKS_MODULE}:gamp_task", grid=grid_product(problem=list(PROBLEMS)),
                          seeds=range(self.gamp_teachers), index=("iteration",),
                          constants={**common, "d0": self.gamp_d0, "alpha": self.gamp_alpha, "depth": self.gamp_depth,
                                     "iterations": self.gamp_iterations, "n_test": self.n_test}),
            "labels": Sweep(2, "labels", f"{TASKS_MODULE}:labels_task", grid=[{"d0": self.labels_d0}],
                            seeds=range(self.labels_teachers), index=("teacher", "probability"),
                            constants={**common, "n": self.labels_n, "depth": self.labels_depth,
                                       "quantiles": list(QUANTILES)}),
            "narrow": Sweep(2, "narrow", f"{TASKS_MODULE}:narrow_task",
                            grid=grid_product(width=list(self.hidden_widths)), seeds=range(self.narrow_teachers),
                            constants={**common, "d0": self.narrow_d0, "alpha": self.narrow_alpha,
                                       "depth": self.narrow_depth, "n_test": self.n_test,
                                       "kurtosis_n": self.kurtosis_n}),
        }


EXPERIMENT = ReductionToGLM


# --- summaries of the tables (DataFrames, long format) --------------------------------------------

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
    E = {f: ridge_errors(table, d0, 1.0, depth, alphas, f).mean(0) for f in _VERTEX_FACTORS}
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
          for f in _VERTEX_FACTORS}
    return float(_vertex(th[0.5] - th[1.0], th[2.0] - th[1.0])) + shift


def gamp_errors(table: pd.DataFrame, problem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GAMP's iterations ``t`` and the mean over teachers of its test error, with its standard error."""
    rows = _select(table, problem=problem)
    iterations = np.sort(rows["iteration"].unique())
    return (iterations, *mean_and_error(_wide(rows, "iteration", "test_error", iterations)))


def label_statistics(table: pd.DataFrame) -> dict[str, Any]:
    """Per statistic of the labels (the quantiles ``q=p``, ``variance``, ``kurtosis``): the means
    over teachers of the deep and the GLM teachers, their standard errors and the z of the difference."""
    out: dict[str, Any] = {}
    for teacher in ("deep", "glm"):
        rows = _select(table, teacher=teacher)
        quantiles = _wide(rows, "probability", "quantile", QUANTILES)
        moments = rows.groupby("seed")[["variance", "kurtosis"]].first().sort_index().to_numpy(dtype=float).T
        out[teacher], out[f"{teacher}_se"] = mean_and_error(np.vstack([quantiles, moments]))
    out["statistic"] = [f"q={p:g}" for p in QUANTILES] + ["variance", "kurtosis"]
    out["z"] = (out["deep"] - out["glm"]) / np.sqrt(out["deep_se"] ** 2 + out["glm_se"] ** 2)
    return out


def narrow_matrix(table: pd.DataFrame, column: str, widths: Sequence[int]) -> np.ndarray:
    """``column`` of the narrow table as an array ``(widths, teachers)``."""
    return _wide(table, "width", column, widths)


def kurtosis_exponent(table: pd.DataFrame, widths: Sequence[int]) -> dict[str, float]:
    """The exponent ``b`` of ``|excess kurtosis| ~ d_m^b`` of the deep teacher's labels over the
    hidden widths ``widths`` (unweighted least squares on log-log of the means over teachers,
    the error from the scatter: :func:`deepgep.support.fits.fit_power`)."""
    fit = fit_power(np.asarray(widths, float), -narrow_matrix(table, "kurtosis", widths).mean(1))
    return {"exponent": fit.values["exponent"], "se": fit.errors["exponent"]}


# --- the chapter's claims -------------------------------------------------------------------------

def claims(experiment: ReductionToGLM, tables: Mapping[str, pd.DataFrame]) -> list[Claim]:
    """Chapter 2's quantitative claims on the tables of ``experiment``'s sweeps, each with the
    wrong theories it must reject (:mod:`deepgep.support.claims`)."""
    e, ridge = experiment, tables["ridge"]
    d0s, alphas, top = list(e.d0s), list(e.alphas), max(e.d0s)
    theory = ReductionTheory(e.activation, e.gain, e.noise)
    deep = {(L, a): np.array([[v[0] for v in ridge_means(ridge, d0, 1.0, L, [a])] for d0 in d0s]).T
            for L in e.depths for a in alphas}

    def bayes_limit(t: ReductionTheory) -> Test:
        zs = []
        for (L, a), (means, ses) in deep.items():
            glm = t.glm(L)
            bayes = gaussian_closed_form(glm.kappa, glm.total_noise, a)["test_error"]
            zs.append(abs(fit_inverse(np.asarray(d0s, float), means - bayes, ses).z("limit")))
        return Test(max(zs), CLAIM_Z, f"largest |limit|/se over {len(zs)} (depth, alpha): {max(zs):.2f}")

    vertices = [penalty_vertex(ridge, top, L, alphas) for L in e.depths]

    def vertex_test(t: ReductionTheory) -> Test:
        refs = [vertex_reference(t.glm(L), e.glm(L).ridge_penalty, alphas, t.optimum_shift) for L in e.depths]
        return max_abs_z([v["vertex"] for v in vertices], [v["se"] for v in vertices], refs, CLAIM_Z,
                         f"d0 = {top}, vertex in log2(lambda/lambda*) per depth: "
                         + ", ".join(f"{v['vertex']:+.3f} +- {v['se']:.3f} (theory {r:+.3f})"
                                     for v, r in zip(vertices, refs))
                         + "; ")

    runs = {problem: gamp_errors(tables["gamp"], problem) for problem in PROBLEMS}

    def gamp_test(t: ReductionTheory) -> Test:
        ests, ses, refs = [], [], []
        for problem, (_, m, se) in runs.items():
            ref = gamp_theory(t.glm(e.gamp_depth), e.gamp_alpha, problem, e.gamp_iterations)
            ests, ses, refs = [*ests, *m[1:]], [*ses, *se[1:]], [*refs, *ref[1:]]
        return max_abs_z(ests, ses, refs, CLAIM_Z,
                         f"d0 = {e.gamp_d0}, iterations 1..{e.gamp_iterations}, both problems: ")

    variances = tables["labels"].query("teacher == 'deep'").groupby("seed")["variance"].first().to_numpy(dtype=float)

    def variance_test(t: ReductionTheory) -> Test:
        glm = t.glm(e.labels_depth)
        return z_test(variances.mean(), standard_error(variances), glm.kappa + glm.total_noise, CLAIM_Z,
                      "deep labels' variance ")

    excess, excess_se = mean_and_error(narrow_matrix(tables["narrow"], "excess", e.hidden_widths))

    def narrow_test(t: ReductionTheory) -> Test:
        glm, true = t.glm(e.narrow_depth), e.glm(e.narrow_depth)
        shift = (gaussian_closed_form(true.kappa, true.total_noise, e.narrow_alpha)["test_error"]
                 - gaussian_closed_form(glm.kappa, glm.total_noise, e.narrow_alpha)["test_error"])
        return max_abs_z(excess + shift, excess_se, np.zeros(excess.size), CLAIM_Z,
                         f"d0 = {e.narrow_d0}, over the hidden widths: ")

    half = {"gamma0 -> gamma0/2": replace(theory, gamma0_scale=0.5)}
    both = ("kappa_scale", "gamma0_scale")
    return [
        Claim(2, "ridge on deep data -> GLM Bayes error",
              f"Ridge at lambda* trained on deep-teacher data has, extrapolated to d0 -> infinity (fit g + c/d0 over "
              f"d0 = {d0s}, chi-square-inflated errors), the test error of the equivalent GLM's Bayes error at every "
              f"depth and alpha (|limit|/se <= {CLAIM_Z}).",
              bayes_limit, theory, {**half, "depth-1 GLM at every depth": replace(theory, glm_depth=1)}, resolves=both),
        Claim(2, "lambda* is ridge's optimal penalty",
              f"On deep-teacher data at d0 = {top}, the penalty minimising ridge's error, located by the paired "
              "errors at lambda*/2, lambda*, 2 lambda*, is where the GLM theory puts it "
              f"(|z| <= {CLAIM_Z} at every depth).",
              vertex_test, theory, {"lambda* -> 2 lambda*": replace(theory, optimum_shift=1.0),
                                    "lambda* -> lambda*/2": replace(theory, optimum_shift=-1.0)}),
        Claim(2, "GAMP on deep data = GLM state evolution",
              f"GAMP built for the equivalent GLM, run on deep-teacher data (d0 = {e.gamp_d0}), has at every "
              f"iteration the test error the GLM's state evolution predicts, in both problems (|z| <= {CLAIM_Z}).",
              gamp_test, theory, half, resolves=both),
        Claim(2, "label variance = eta0^2 + gamma0 + Delta",
              f"The variance of a deep teacher's regression labels (d0 = {e.labels_d0}) is the equivalent "
              f"GLM's eta0^2 + gamma0 + Delta (|z| <= {CLAIM_Z}).",
              variance_test, theory, {"gamma0 dropped": replace(theory, gamma0_scale=0.0), **half}, resolves=both),
        Claim(2, "ridge sees only second moments, at any width",
              f"Ridge at lambda* on deep-teacher data with narrow hidden layers (d_m = {list(e.hidden_widths)}, "
              f"d0 = {e.narrow_d0}) still has the GLM's error at every width (|z| <= {CLAIM_Z}): the "
              "coefficients eta0, gamma0 fix the data's second moments whatever the width, so ridge's "
              "agreement tests them and not the reduction itself.",
              narrow_test, theory, half, resolves=both),
    ]

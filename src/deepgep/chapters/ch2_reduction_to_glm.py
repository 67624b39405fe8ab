"""Chapter 2: finite-size experiments on the reduction of a deep network to a GLM.

Camilli et al. (2025), Corollary 3 and Theorem 4 (book thm-reduction): data labelled by a deep
random network (book eq-model) carry the same information, and admit the same Bayes-optimal
error, as data labelled by the GLM ``y ~ P_out(. | eta0 a.x/sqrt(d0) + sqrt(gamma0) xi)``
(book eq-equivalent-glm). :class:`ReductionToGLM` is the chapter's experiment; its four sweeps
of independent teachers run the tasks of :mod:`deepgep.chapters.ch2_reduction_to_glm_tasks`.
That module also holds the GLM's predictions of the measurements (ridge asymptotics, state
evolution); :mod:`deepgep.chapters.ch2_reduction_to_glm_tables` summarises the tables (pandas
DataFrames, long format), and :func:`claims` here tests the theory on them with the wrong
theories each test must reject.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from deepgep.chapters.ch2_reduction_to_glm_tables import (VERTEX_FACTORS, gamp_errors, label_moments, narrow_matrix,
                                                          narrow_predictions, penalty_vertex, ridge_means,
                                                          vertex_reference)
from deepgep.chapters.ch2_reduction_to_glm_tasks import (PROBLEMS, QUANTILES, TASKS_MODULE, MomentTheory,
                                                         ReductionTheory, gamp_theory)
from deepgep.support.claims import Claim, Test, chi2_test, joint_max_z, scaled
from deepgep.support.experiment import Experiment, ExperimentError
from deepgep.support.fits import fit_constant, fit_inverse
from deepgep.support.stats import mean_and_error
from deepgep.support.sweeps import Sweep, grid_product
from deepgep.support.validation import check_count, check_real
from deepgep.theory.activations import get_activation
from deepgep.theory.layers import GLMTheory
from deepgep.theory.ridge import ridge_regression_error

__all__ = ["THEORY_PENALTY_FACTORS", "FINITE_SIZE_ALPHAS", "ReductionToGLM", "EXPERIMENT", "ridge_limits", "claims"]

#: The penalties ``lambda* x factor`` of the figure's theory curves: a decade either side of
#: ``lambda*`` shows how flat the optimum is (the simulated factors are the experiment's).
THEORY_PENALTY_FACTORS = (0.1, 1.0, 10.0)
#: The sample ratios of the finite-size figure (``n = d0`` and ``n = 4 d0``); the experiment
#: draws its own alphas nearest to them.
FINITE_SIZE_ALPHAS = (1.0, 4.0)


@dataclass(frozen=True)
class ReductionToGLM(Experiment):
    """Chapter 2's parameters: the teacher (``activation``, ``gain``, label noise ``noise``);
    ridge on deep and GLM teachers (``depths``, input widths ``d0s`` with hidden widths ``d0``,
    and ``width_ratios`` of hidden to input width at the largest ``d0``, sample ratios
    ``alphas``, ``penalty_factors`` of lambda*, ``teachers``); GAMP on deep data (``gamp_*``);
    the law of the labels (``labels_*``); narrow hidden widths (``narrow_*``,
    ``hidden_widths``, ``narrow_n_test`` test labels per teacher for its error, second moments and
    kurtosis); the table of equivalent GLMs
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
    narrow_n_test: int
    table_activations: tuple[str, ...]
    table_gains: tuple[float, ...]
    table_depths: tuple[int, ...]

    @classmethod
    def paper(cls) -> ReductionToGLM:
        return cls(base_seed=2025, activation="tanh", gain=2.0, noise=0.05, depths=(1, 2, 3), d0s=(125, 250, 500, 1000),
                   width_ratios=(1.0, 1.5), alphas=(0.25, 0.5, 1.0, 2.0, 4.0, 6.0), penalty_factors=(0.5, 1.0, 2.0),
                   teachers=40, n_test=2000, gamp_d0=2000, gamp_alpha=2.0, gamp_depth=2, gamp_iterations=10,
                   gamp_teachers=20, labels_d0=1000, labels_n=20000, labels_depth=2, labels_teachers=40,
                   narrow_d0=400, narrow_alpha=4.0, narrow_depth=2, hidden_widths=(10, 20, 40, 80, 160, 320, 640, 1280),
                   narrow_teachers=20, narrow_n_test=50000, table_activations=("tanh", "erf", "sin"),
                   table_gains=(0.5, 1.0, 2.0), table_depths=(1, 2, 3))

    @classmethod
    def fast(cls) -> ReductionToGLM:
        return replace(cls.paper(), d0s=(50, 100, 200), teachers=20, gamp_d0=1000, gamp_teachers=10, labels_d0=400,
                       labels_n=4000, labels_teachers=10, narrow_d0=200, hidden_widths=(10, 20, 40, 80, 160, 320),
                       narrow_teachers=10, narrow_n_test=20000)

    def validate(self) -> None:
        get_activation(self.activation, check_real("gain", self.gain))
        check_real("noise", self.noise)
        for name in ("n_test", "gamp_d0", "gamp_depth", "labels_d0", "labels_n", "labels_depth", "narrow_d0",
                     "narrow_depth", "narrow_n_test"):
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
        if not set(VERTEX_FACTORS) <= set(self.penalty_factors):
            raise ExperimentError(f"penalty_factors must contain {VERTEX_FACTORS} (the vertex of ridge's error in "
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
                                       "depth": self.narrow_depth, "n_test": self.narrow_n_test}),
        }


EXPERIMENT = ReductionToGLM


# --- the chapter's claims -------------------------------------------------------------------------

def ridge_limits(table: pd.DataFrame, experiment: ReductionToGLM, theory: ReductionTheory,
                 form: str = "inverse") -> list[dict[str, Any]]:
    """Per ``(depth, alpha)``: ridge's error at ``lambda*`` on deep-teacher data (hidden widths
    ``d0``) minus its asymptotic error on the GLM of ``theory`` at the penalty the simulation used
    (book eq-ridge-asymptotics; for the true theory the GLM's Bayes error), over the input widths
    ``d0s``, extrapolated to ``d0 -> infinity`` by ``limit + c/d0`` (``form="inverse"``: the
    leading finite-size correction of a smooth function of averages over ``d0`` terms, derived)
    or by a constant (``form="constant"``: no finite-size correction), with chi-square-inflated
    errors: ``depth``, ``alpha``, ``limit``, ``se``, ``chi2_per_dof``, ``p_value``."""
    e, d0s = experiment, np.asarray(experiment.d0s, float)
    out = []
    for L in e.depths:
        glm, lam = theory.glm(L), e.glm(L).ridge_penalty
        for a in e.alphas:
            means, ses = np.array([[v[0] for v in ridge_means(table, d0, 1.0, L, [a])] for d0 in e.d0s]).T
            dev = means - ridge_regression_error(glm.kappa, glm.total_noise, a, lam)
            fit = fit_inverse(d0s, dev, ses) if form == "inverse" else fit_constant(dev, ses)
            out.append({"depth": L, "alpha": a, "limit": fit.values["limit"], "se": fit.errors["limit"],
                        "chi2_per_dof": fit.chi2_per_dof, "p_value": fit.p_value})
    return out


def _ridge_claims(e: ReductionToGLM, tables: Mapping[str, pd.DataFrame], theory: ReductionTheory,
                  wrong: dict[str, ReductionTheory]) -> list[Claim]:
    ridge, top, alphas = tables["ridge"], max(e.d0s), list(e.alphas)
    constant = ridge_limits(ridge, e, theory, "constant")
    worst_constant = max(abs(r["limit"]) / r["se"] for r in constant)

    def limit_test(t: ReductionTheory) -> Test:
        rows = ridge_limits(ridge, e, t)
        out = joint_max_z([r["limit"] for r in rows], [r["se"] for r in rows], [0.0] * len(rows),
                          "limit + c/d0 per (depth, alpha): ")
        return Test(out.statistic, out.threshold, f"{out.detail}; the constant form gives at most "
                                                  f"|limit|/se = {worst_constant:.2f} with the true theory")

    vertices = [penalty_vertex(ridge, top, L, alphas) for L in e.depths]

    def vertex_test(t: ReductionTheory) -> Test:
        refs = [vertex_reference(t.glm(L), e.glm(L).ridge_penalty, alphas, t.optimum_shift) for L in e.depths]
        return joint_max_z([v["vertex"] for v in vertices], [v["se"] for v in vertices], refs,
                           f"d0 = {top}, vertex in log2(lambda/lambda*) per depth: "
                           + ", ".join(f"{v['vertex']:+.3f} +- {v['se']:.3f} (theory {r:+.3f})"
                                       for v, r in zip(vertices, refs)) + "; ")

    both = ("kappa_scale", "gamma0_scale")
    return [
        Claim(2, "ridge on deep data -> GLM Bayes error",
              f"Ridge at lambda* trained on deep-teacher data (hidden widths d0) has, extrapolated to d0 -> "
              f"infinity by g + c/d0 over d0 = {list(e.d0s)} (chi-square-inflated errors), the error the "
              f"equivalent GLM's asymptotics predict (its Bayes error) at every depth {list(e.depths)} and alpha "
              f"{alphas} jointly (Bonferroni over the {len(e.depths) * len(alphas)} points); the constant "
              "form (no finite-size correction) is reported with it. Ridge is linear in the labels: this tests "
              "the coefficients eta0^2 and gamma0 of the composition, not the Bayes-optimal error of the deep "
              "model. It resolves gamma0 within +-10 %, kappa about +-10 % (at lambda* ridge's error depends on "
              "kappa only through kappa (1 - q*), small at large alpha; its resolution).",
              limit_test, theory, wrong, resolves=both),
        Claim(2, "lambda* is ridge's optimal penalty",
              f"On deep-teacher data at d0 = {top}, the penalty minimising ridge's error, located by the paired "
              "errors at lambda*/2, lambda*, 2 lambda*, is where the GLM theory puts it, at every depth jointly "
              "(Bonferroni). It tests the ratio lambda* = (gamma0 + Delta)/eta0^2 only.",
              vertex_test, theory, {**{k: wrong[k] for k in ("GLM of depth L + 1",)},
                                    "lambda* -> 1.4 lambda*": replace(theory, optimum_shift=math.log2(1.4)),
                                    "lambda* -> 2 lambda* (sanity)": replace(theory, optimum_shift=1.0)},
              resolves=both),
    ]


def _gamp_and_label_claims(e: ReductionToGLM, tables: Mapping[str, pd.DataFrame], theory: ReductionTheory,
                           wrong: dict[str, ReductionTheory]) -> list[Claim]:
    finals = {problem: gamp_errors(tables["gamp"], problem) for problem in PROBLEMS}

    def gamp_test(t: ReductionTheory) -> Test:
        refs = [gamp_theory(t.glm(e.gamp_depth), e.gamp_alpha, p, e.gamp_iterations)[-1] for p in PROBLEMS]
        return joint_max_z([finals[p][1][-1] for p in PROBLEMS], [finals[p][2][-1] for p in PROBLEMS], refs,
                           f"d0 = {e.gamp_d0}, iteration {e.gamp_iterations}, " + ", ".join(
                               f"{p} {finals[p][1][-1]:.4f} +- {finals[p][2][-1]:.4f} (theory {r:.4f})"
                               for p, r in zip(PROBLEMS, refs)) + "; ")

    split = label_moments(tables["labels"], "deep")
    stats = {k: mean_and_error(split[k][None, :]) for k in ("linear", "rest")}

    def split_test(t: ReductionTheory) -> Test:
        glm = t.glm(e.labels_depth)
        refs = {"linear": glm.kappa, "rest": glm.total_noise}
        return joint_max_z([stats[k][0][0] for k in refs], [stats[k][1][0] for k in refs], list(refs.values()),
                           f"d0 = {e.labels_d0}, {split['linear'].size} teachers: " + ", ".join(
                               f"{k} {stats[k][0][0]:.4f} +- {stats[k][1][0]:.4f} (theory {r:.4f})"
                               for k, r in refs.items()) + "; ")

    both = ("kappa_scale", "gamma0_scale")
    return [
        Claim(2, "GAMP on deep data = GLM state evolution",
              f"GAMP built for the equivalent GLM, run on deep-teacher data (d0 = {e.gamp_d0}, alpha = "
              f"{e.gamp_alpha:g}, {e.gamp_teachers} independent teachers per problem), ends (iteration "
              f"{e.gamp_iterations}) at the test error the GLM's state evolution predicts, in regression and "
              "classification jointly (Bonferroni). In regression GAMP is a linear estimator (ridge's "
              "second-moment limitation); in classification its probit channel uses the law of the labels' "
              "non-linear part, outside the proof (the sign readout is not C^2). At alpha = 2 the final error "
              "depends weakly on kappa: the claim resolves gamma0, and kappa only coarsely (its resolution).",
              gamp_test, theory, {k: wrong[k] for k in ("GLM of depth L + 1", "gamma0 x 1.1")}, resolves=both),
        Claim(2, "the label variance splits as eta0^2 + (gamma0 + Delta)",
              f"The variance of a deep teacher's regression labels (d0 = {e.labels_d0}, depth {e.labels_depth}, "
              f"{e.labels_n} labels, {e.labels_teachers} teachers) splits into a linear part (the unbiased "
              "U-statistic of |E[y x]|^2) equal to eta0^2 and a rest equal to gamma0 + Delta, jointly "
              "(Bonferroni over the two). The total variance alone (eta0^2 + gamma0 = sigma_L) holds for "
              "any split and is not a test of the reduction.",
              split_test, theory, wrong, resolves=both),
    ]


def _narrow_claim(e: ReductionToGLM, tables: Mapping[str, pd.DataFrame]) -> Claim:
    narrow, widths, lam = tables["narrow"], list(e.hidden_widths), e.glm(e.narrow_depth).ridge_penalty
    error = narrow_matrix(narrow, "test_error", widths)
    what = f"d0 = {e.narrow_d0}, widths {widths} (independent teachers): "

    def moments_test(t: MomentTheory) -> Test:
        glm = GLMTheory.of(e.activation, e.gain, e.narrow_depth + t.depth_shift, e.noise)
        m, se = mean_and_error(error - narrow_predictions(narrow, widths, t, glm, e.narrow_alpha, lam))
        return chi2_test(m, np.diag(se**2), what)

    infinite = moments_test(MomentTheory("glm"))
    return Claim(2, "ridge sees only the teacher's second moments, at every width",
                 f"Ridge at lambda* on deep-teacher data with hidden widths d_m = {widths} (d0 = {e.narrow_d0}, "
                 f"n = {e.narrow_alpha:g} d0, {e.narrow_teachers} teachers per width) has, at every width jointly "
                 "(chi-square over the independent widths), the asymptotic error of ridge on a GLM with each "
                 "teacher's own second moments (the variance of its labels' linear part and of the rest, measured "
                 f"on {e.narrow_n_test} test labels). Finding: with the infinite-width eta0^2, gamma0 at every "
                 f"width the same test gives |z| = {infinite.statistic:.2f} ({infinite.detail.removeprefix(what)}), "
                 "a deviation at narrow widths below the claim's threshold, which the teachers' own moments "
                 "account for. The claim resolves the rest of the variance (gamma0) finely and kappa coarsely "
                 "(at n = 4 d0 ridge's error depends on kappa only through kappa (1 - q*)).",
                 moments_test, MomentTheory(),
                 {"the GLM of depth L + 1's moments at every width": MomentTheory("glm", depth_shift=1),
                  "own moments, gamma0 x 1.05": MomentTheory(gamma0_scale=1.05)},
                 resolves=("kappa_scale", "gamma0_scale"))


def claims(experiment: ReductionToGLM, tables: Mapping[str, pd.DataFrame]) -> list[Claim]:
    """Chapter 2's quantitative claims on the tables of ``experiment``'s sweeps, each with the
    nearest wrong theories it must reject and the resolution of ``kappa`` and ``gamma0``
    (:mod:`deepgep.support.claims`)."""
    e = experiment
    theory = ReductionTheory(e.activation, e.gain, e.noise)
    wrong = {"GLM of depth L + 1": replace(theory, depth_shift=1),
             "kappa x 0.9": scaled(theory, kappa_scale=0.9), "gamma0 x 1.1": scaled(theory, gamma0_scale=1.1)}
    return [*_ridge_claims(e, tables, theory, wrong), *_gamp_and_label_claims(e, tables, theory, wrong),
            _narrow_claim(e, tables)]

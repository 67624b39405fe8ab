"""Chapter 4: Bayes-optimal generalisation of deep random networks, and what learners achieve.

The figure of Cui, Krzakala & Zdeborova (2023, Fig. 1 and section 4) compares, on data from a
deep random teacher, the Bayes-optimal test error of the equivalent GLM (Camilli et al. 2025,
Theorem 4; book eq-equivalent-glm) with ridge regression, logistic regression and a trained
network of the teacher's architecture. :class:`BayesOptimalGeneralisation` is the chapter's
experiment; its three sweeps of independent teachers run the tasks of
:mod:`deepgep.chapters.ch4_bayes_optimal_generalisation_tasks`, and the theory curves (closed
forms and state evolution of the equivalent GLM, random-matrix formulas for ridge) are in
:mod:`deepgep.chapters.ch4_bayes_optimal_generalisation_theory`. This module summarises the
tables (pandas DataFrames, long format) for the notebook, and :func:`claims` tests the theory on
them with the wrong theories each test must reject.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from deepgep.chapters.ch4_bayes_optimal_generalisation_tasks import PROBLEMS, TASKS_MODULE, optimal_penalties
from deepgep.chapters.ch4_bayes_optimal_generalisation_theory import bayes_errors, regression_theory
from deepgep.support.claims import CLAIM_Z, Claim, Test, max_abs_z, scaled
from deepgep.support.experiment import Experiment, ExperimentError
from deepgep.support.fits import fit_inverse
from deepgep.support.stats import standard_error
from deepgep.support.sweeps import Sweep, grid_product
from deepgep.support.validation import check_count, check_real
from deepgep.theory.activations import get_activation
from deepgep.theory.layers import GLMTheory
from deepgep.theory.ridge import ridge_classification_error, ridge_regression_error

__all__ = ["THEORY_POINTS", "PLATEAU_ALPHAS", "NOISE_LIKE", "NETWORK_TOL", "BayesOptimalGeneralisation",
           "EXPERIMENT", "teacher_means", "teacher_matrix", "width_deviations", "escape_arrays", "PenaltyTheory",
           "claims"]

#: Points of the dense alpha grid of the theory curves (smooth at the figure's size).
THEORY_POINTS = 200
#: Sample ratios of the plateau table: three decades show the 1/alpha approach to the plateaus.
PLATEAU_ALPHAS = (1e2, 1e3, 1e4)
#: The signal fraction below which the depth table calls a network noise-like (a convention).
NOISE_LIKE = 0.05
#: The L-BFGS tolerance of the trained student of the network sweep.
NETWORK_TOL = 1e-9


@dataclass(frozen=True)
class BayesOptimalGeneralisation(Experiment):
    """Chapter 4's parameters: the teacher (``activation``, ``gain``, ``depth``, label noise
    ``noise``), the learners' sweep (input widths ``d0s``, sample ratios ``alphas``,
    ``learners_teachers``), the trained network's sweep (``network_*``), the escape beyond the
    proportional regime (``escape_*``: ``n = quadratic_alpha d0^2``) and the depth-activation
    table (``table_*``). The equivalent GLM (kappa, gamma0, lambda*) is derived."""

    CHAPTER: ClassVar[int] = 4

    base_seed: int
    activation: str
    gain: float
    depth: int
    noise: float
    d0s: tuple[int, ...]
    alphas: tuple[float, ...]
    learners_teachers: int
    n_test: int
    logistic_penalty: float
    penalty_factors: tuple[float, ...]
    network_d0s: tuple[int, ...]
    network_alphas: tuple[float, ...]
    network_teachers: int
    network_weight_decay: float
    network_max_iter: int
    escape_depth: int
    escape_noise: float
    escape_d0s: tuple[int, ...]
    escape_quadratic_alphas: tuple[float, ...]
    escape_teachers: int
    escape_max_iter: int
    table_activations: tuple[str, ...]
    table_gains: tuple[float, ...]
    table_max_depth: int

    @classmethod
    def paper(cls) -> BayesOptimalGeneralisation:
        return cls(base_seed=2025, activation="tanh", gain=2.0, depth=2, noise=0.05, d0s=(100, 200, 400, 800),
                   alphas=(0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0), learners_teachers=60, n_test=10000,
                   logistic_penalty=1.0, penalty_factors=(1.0, 0.1, 10.0), network_d0s=(100, 200, 400),
                   network_alphas=(1.0, 4.0), network_teachers=10, network_weight_decay=0.5,
                   network_max_iter=3000, escape_depth=1, escape_noise=0.01, escape_d0s=(20, 30, 40),
                   escape_quadratic_alphas=(0.25, 0.5, 1.0, 2.0, 4.0), escape_teachers=10, escape_max_iter=3000,
                   table_activations=("tanh", "erf", "sin"), table_gains=(0.5, 1.0, 2.0, 4.0), table_max_depth=12)

    @classmethod
    def fast(cls) -> BayesOptimalGeneralisation:
        return replace(cls.paper(), d0s=(50, 100, 200), alphas=(0.5, 1.0, 2.0, 4.0, 7.0), learners_teachers=24,
                       n_test=2000, network_d0s=(40, 80, 120), network_teachers=4, network_max_iter=1000,
                       escape_d0s=(15, 20), escape_quadratic_alphas=(0.5, 4.0), escape_teachers=6)

    def validate(self) -> None:
        get_activation(self.activation, check_real("gain", self.gain))
        for name in ("depth", "n_test", "network_max_iter", "escape_depth", "escape_max_iter", "table_max_depth"):
            check_count(name, getattr(self, name))
        for name in ("learners_teachers", "network_teachers", "escape_teachers"):
            if check_count(name, getattr(self, name)) < 2:
                raise ExperimentError(f"{name} must be at least 2 (standard errors are over teachers)")
        for name in ("d0s", "network_d0s", "escape_d0s"):
            widths = getattr(self, name)
            if not widths or len(set(widths)) != len(widths) or any(check_count(name, d) < 1 for d in widths):
                raise ExperimentError(f"{name} must be distinct input widths, got {widths}")
        for name in ("d0s", "network_d0s"):
            if len(getattr(self, name)) < 3:
                raise ExperimentError(f"{name} needs at least 3 widths (the fit limit + c/d0 has 2 parameters)")
        for name in ("alphas", "penalty_factors", "network_alphas", "escape_quadratic_alphas", "table_gains"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise ExperimentError(f"{name} must be a non-empty list of distinct positive numbers, got {values}")
            for value in values:
                check_real(name, value, positive=True)
        for name in ("noise", "escape_noise", "network_weight_decay"):
            check_real(name, getattr(self, name))
        check_real("logistic_penalty", self.logistic_penalty, positive=True)
        for activation in self.table_activations:
            get_activation(activation)
        if self.glm.kappa <= 0:
            raise ExperimentError(f"{self.activation}({self.gain:g} x) at depth {self.depth} has kappa = 0: "
                                  "the teacher has no linear part to learn")

    @property
    def glm(self) -> GLMTheory:
        """The equivalent GLM of the teacher (book eq-equivalent-glm), label noise ``noise``."""
        return GLMTheory.of(self.activation, self.gain, self.depth, self.noise)

    @property
    def escape_glm(self) -> GLMTheory:
        """The equivalent GLM of the escape's teacher (depth ``escape_depth``, noise ``escape_noise``)."""
        return GLMTheory.of(self.activation, self.gain, self.escape_depth, self.escape_noise)

    @property
    def theory_alphas(self) -> np.ndarray:
        """The dense grid of the theory curves, up to the largest simulated alpha."""
        top = max(self.alphas)
        return np.linspace(top / THEORY_POINTS, top, THEORY_POINTS)

    def derived(self) -> dict[str, Any]:
        glm = self.glm
        return {"kappa = eta0^2": glm.kappa, "gamma0": glm.gamma0,
                "lambda* = (gamma0 + Delta)/kappa": glm.ridge_penalty,
                "escape plateau gamma0 + Delta": self.escape_glm.total_noise}

    def sweeps(self) -> dict[str, Sweep]:
        """``learners`` (one task per input width and teacher, one row per alpha), ``network``
        (per width, alpha, problem and teacher) and ``escape`` (per width, ``n / d0^2`` and teacher)."""
        common = {"base_seed": self.base_seed, "activation": self.activation, "gain": self.gain,
                  "depth": self.depth, "noise": self.noise, "n_test": self.n_test}
        return {
            "learners": Sweep(4, "learners", f"{TASKS_MODULE}:learners_task", grid=[{"d0": d} for d in self.d0s],
                              seeds=range(self.learners_teachers), index=("alpha",),
                              constants={**common, "alphas": list(self.alphas),
                                         "logistic_penalty": self.logistic_penalty}),
            "network": Sweep(4, "network", f"{TASKS_MODULE}:network_task",
                             grid=grid_product(d0=list(self.network_d0s), alpha=list(self.network_alphas),
                                               problem=list(PROBLEMS)),
                             seeds=range(self.network_teachers),
                             constants={**common, "weight_decay": self.network_weight_decay,
                                        "max_iter": self.network_max_iter, "tol": NETWORK_TOL}),
            "escape": Sweep(4, "escape", f"{TASKS_MODULE}:escape_task",
                            grid=grid_product(d0=list(self.escape_d0s),
                                              quadratic_alpha=list(self.escape_quadratic_alphas)),
                            seeds=range(self.escape_teachers),
                            constants={**common, "depth": self.escape_depth, "noise": self.escape_noise,
                                       "max_iter": self.escape_max_iter}),
        }


EXPERIMENT = BayesOptimalGeneralisation


# --- summaries of the tables (DataFrames: one row per teacher, and per alpha for the learners) ----

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


def escape_arrays(experiment: BayesOptimalGeneralisation, table: pd.DataFrame) -> dict[str, Any]:
    """The escape sweep as arrays: ``ridge`` and ``network`` of shape ``(d0s, quadratic alphas,
    teachers)``, ``n`` ``(d0s, quadratic alphas)``, the widths ``d0``, ``ratio`` (= n / d0^2) and
    ``plateau`` (the escape GLM's ``gamma0 + Delta``)."""
    d0s, ratios = experiment.escape_d0s, experiment.escape_quadratic_alphas
    out: dict[str, Any] = {"d0": np.array(d0s), "ratio": np.array(ratios),
                           "plateau": experiment.escape_glm.total_noise,
                           "n": np.array([[round(r * d * d) for r in ratios] for d in d0s])}
    for key in ("ridge", "network"):
        out[key] = np.stack([teacher_matrix(table, key, "quadratic_alpha", ratios, d0=d) for d in d0s])
    return out


# --- the chapter's claims -------------------------------------------------------------------------

@dataclass(frozen=True)
class PenaltyTheory:
    """The penalty of the ridge-equals-Bayes identity: ``penalty_factor x lambda*``."""

    penalty_factor: float = 1.0


def _learner_claims(e: BayesOptimalGeneralisation, learners: pd.DataFrame) -> list[Claim]:
    d_head, alphas, glm = max(e.d0s), list(e.alphas), e.glm
    teacher = {"activation": e.activation, "gain": e.gain, "depth": e.depth, "noise": e.noise}
    lam_cls = {a: optimal_penalties(teacher, a)["classification"] for a in alphas}  # what the tasks used

    def ridge_test(problem: str):
        m = teacher_means(learners, f"ridge_{problem}", ("alpha",), d0=d_head).loc[alphas]

        def test(t: GLMTheory) -> Test:  # the penalties are the ones the simulation used
            ref = [ridge_regression_error(t.kappa, t.total_noise, a, glm.ridge_penalty) if problem == "regression"
                   else ridge_classification_error(t.kappa, t.gamma0, a, lam_cls[a]) for a in alphas]
            return max_abs_z(m["mean"], m["se"], ref, CLAIM_Z, f"d0 = {d_head}: ")
        return test

    def identity_test(t: PenaltyTheory) -> Test:
        th = regression_theory(glm, alphas, [t.penalty_factor])
        # below 1e-15 the difference is rounding (it differs between machines): report the bound
        gap = max(float(np.max(np.abs(th["ridge"][:, 0] - th["bayes"]))), 1e-15)
        text = f"{gap:.2e}" if gap > 1e-15 else "< 1e-15 (float64 rounding)"
        return Test(gap, 1e-10, f"max over alpha of |ridge(lambda) - Bayes| = {text}")

    def logistic_limit_test(t: GLMTheory) -> Test:
        worst = -math.inf
        for a, ref in zip(alphas, bayes_errors(t, "classification", alphas)):
            dev = width_deviations(learners, "logistic", ref, alpha=a)
            fit = fit_inverse(dev["d0"], dev["deviation"], dev["se"])
            worst = max(worst, -fit.z("limit"))
        return Test(worst, CLAIM_Z, f"largest -limit/se over alpha: {worst:.2f}")

    wrong = {"gamma0 -> gamma0/2": scaled(glm, gamma0=0.5), "kappa -> 0.8 kappa": scaled(glm, kappa=0.8),
             "Delta dropped": replace(glm, noise=0.0)}
    return [
        Claim(4, "ridge regression = its asymptotic theory",
              f"At d0 = {d_head}, ridge at lambda* (regression) matches its asymptotic test error on the "
              f"equivalent GLM at every alpha within {CLAIM_Z} standard errors of the teacher average.",
              ridge_test("regression"), glm, wrong, resolves=("kappa", "gamma0")),
        Claim(4, "ridge classification = its asymptotic theory",
              f"At d0 = {d_head}, ridge at its optimal penalty classifies sign labels with the error of "
              f"its asymptotic theory on the probit GLM at every alpha (|z| <= {CLAIM_Z}).",
              ridge_test("classification"), glm, {k: wrong[k] for k in list(wrong)[:2]}, resolves=("kappa", "gamma0")),
        Claim(4, "optimal ridge is Bayes-optimal (regression)",
              "Ridge's asymptotic error at lambda* = (gamma0 + Delta)/kappa equals the Bayes error at "
              "every alpha to 1e-10 (a penalty off by a factor 2 is not).",
              identity_test, PenaltyTheory(), {"lambda* -> 2 lambda*": PenaltyTheory(2.0),
                                               "lambda* -> lambda*/2": PenaltyTheory(0.5)}),
        Claim(4, "logistic regression is not below Bayes as d0 -> infinity",
              f"The extrapolation limit + c/d0 (chi-square-inflated errors) of logistic regression's classification "
              f"error minus the Bayes error is not below zero by more than {CLAIM_Z} standard errors at any alpha "
              "(below the Bayes curve at d0 = 100 is a finite-size effect).",
              logistic_limit_test, glm, {"gamma0 -> 1.5 gamma0": scaled(glm, gamma0=1.5)}),
    ]


def _network_claims(e: BayesOptimalGeneralisation, network: pd.DataFrame, escape: pd.DataFrame) -> list[Claim]:
    net_head, net_alphas, glm = max(e.network_d0s), list(e.network_alphas), e.glm

    def network_test(t: GLMTheory) -> Test:
        ests, ses, refs = [], [], []
        for problem in PROBLEMS:
            m = teacher_means(network, "network", ("alpha",), d0=net_head, problem=problem).loc[net_alphas]
            ests, ses = [*ests, *m["mean"]], [*ses, *m["se"]]
            refs = [*refs, *bayes_errors(t, problem, net_alphas)]
        return max_abs_z(ests, ses, refs, CLAIM_Z, f"d0 = {net_head}, both problems: ")

    top = max(e.escape_quadratic_alphas)
    esc = teacher_means(escape, "network", ("d0",), quadratic_alpha=top).loc[list(e.escape_d0s)]

    def escape_test(t: GLMTheory) -> Test:
        worst = float(np.max((esc["mean"] - t.total_noise) / esc["se"]))
        return Test(worst, -CLAIM_Z, f"largest (network - floor)/se over d0: {worst:.2f}")

    return [
        Claim(4, "trained network = Bayes error",
              f"At d0 = {net_head}, the student of the teacher's architecture trained to a minimum reaches "
              f"the GLM's Bayes error in both problems (|z| <= {CLAIM_Z}).",
              network_test, glm, {"gamma0 -> gamma0/2": scaled(glm, gamma0=0.5)}, resolves=("gamma0",)),
        Claim(4, "escape below the plateau at n ~ d0^2",
              f"At n = {top:g} d0^2 the trained network's test error is below the proportional regime's floor "
              f"gamma0 + Delta by more than {CLAIM_Z} standard errors at every d0.",
              escape_test, e.escape_glm, {"perfect learning (floor = Delta)": replace(e.escape_glm, gamma0=0.0)}),
    ]


def claims(experiment: BayesOptimalGeneralisation, tables: Mapping[str, pd.DataFrame]) -> list[Claim]:
    """Chapter 4's quantitative claims on the tables of ``experiment``'s sweeps (``learners``,
    ``network``, ``escape``), each with the wrong theories it must reject (:mod:`deepgep.support.claims`)."""
    return [*_learner_claims(experiment, tables["learners"]),
            *_network_claims(experiment, tables["network"], tables["escape"])]

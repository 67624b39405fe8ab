"""Chapter 6: the deep network's free entropy and mutual information, measured.

Camilli et al. (2025)'s main result is information-theoretic: the mutual information per sample
between the deep network's weights and its data equals, up to a vanishing error, that of the
equivalent GLM (book thm-deep-free-entropy, their Corollary 3), and the deep model's free entropy
concentrates (their Theorem 2, book thm-concentration: ``Var(ln Z / n) <= C (1/n + 1/d_m)``). This chapter measures
both on the deep network itself: ``ln Z = ln p(y | X)`` by tempered sequential Monte Carlo
over the inner weights with the readout integrated out (:mod:`deepgep.simulate.evidence`, book
eq-deep-evidence), next to the equivalent GLM's exact ``ln p(y | X)`` on the same inputs and
labels (book eq-linear-evidence).

:class:`DeepFreeEntropy` is the chapter's experiment. Its sweeps: ``evidence`` (every depth,
input width and sample ratio, many teachers at the small widths) and ``evidence_large`` (the
large widths, fewer teachers), ``narrow`` (narrow hidden layers at fixed ``n``: the ``1/d_m``
term of Theorem 2), and three validations of the estimator before it is used — ``depth0``
(against the exact evidence), ``ti`` (against thermodynamic integration with the NUTS sampler of
Chapter 5, on the same instances) and ``particles`` (its bias against the number of particles).
The summaries of the tables are in :mod:`deepgep.chapters.ch6_deep_free_entropy_summaries`, the claims in
:mod:`deepgep.chapters.ch6_deep_free_entropy_claims`; the validation tasks in
:mod:`deepgep.chapters.ch6_deep_free_entropy_tasks`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from deepgep.chapters.ch6_deep_free_entropy_claims import chapter_claims
from deepgep.chapters.ch6_deep_free_entropy_tasks import EVIDENCE_TASK, TASKS_MODULE
from deepgep.support.experiment import CONFIRMATION_FIRST_SEED, Experiment, ExperimentError
from deepgep.support.sweeps import Sweep, grid_product
from deepgep.support.validation import check_count, check_real
from deepgep.theory.activations import get_activation
from deepgep.theory.layers import GLMTheory

__all__ = ["NEAREST_FIRST_SEED", "DeepFreeEntropy", "EXPERIMENT", "claims"]

#: The first teacher of the sweep ``nearest``: its instances are fresh (the evidence sweeps
#: number theirs from 0, the confirmation from ``CONFIRMATION_FIRST_SEED``), since its claim was
#: designed after a look at the GLMs' evidences on the evidence sweeps' instances.
NEAREST_FIRST_SEED = 2000


@dataclass(frozen=True)
class DeepFreeEntropy(Experiment):
    """Chapter 6's parameters: the teacher (``activation``, ``gain``, label noise ``noise``);
    the evidence sweeps (``depths``, input widths ``d0s`` with ``teachers`` each and
    ``large_d0s`` with ``large_teachers`` each, hidden widths equal to ``d0``, sample ratios
    ``alphas``); the confirmation at the largest of ``large_d0s`` on ``confirmation_teachers``
    fresh teachers (sweep ``evidence_confirmation``, recorded after the claim it tests was
    committed: the claim on the largest width); narrow hidden layers (``narrow_d0``, ``narrow_alpha``, ``narrow_depth``,
    ``hidden_widths``, ``narrow_teachers``); the Gaussian model nearest to the deep labels
    (sweep ``nearest``: exact GLM evidences and their derivatives, no SMC, at the input widths
    ``nearest_d0s`` with ``nearest_teachers`` fresh teachers each); the SMC (``particles``, ``runs`` independent runs
    per instance); the validations (``depth0_d0s``, ``ti_d0s`` with ``ti_teachers`` at the
    first sample ratio of ``alphas`` that is 2 or the largest below it; ``bias_particles`` with
    ``bias_repeats``). The equivalent GLM of each depth is derived."""

    CHAPTER: ClassVar[int] = 6

    base_seed: int
    activation: str
    gain: float
    noise: float
    depths: tuple[int, ...]
    d0s: tuple[int, ...]
    teachers: int
    large_d0s: tuple[int, ...]
    large_teachers: int
    confirmation_teachers: int
    alphas: tuple[float, ...]
    narrow_d0: int
    narrow_alpha: float
    narrow_depth: int
    hidden_widths: tuple[int, ...]
    narrow_teachers: int
    nearest_d0s: tuple[int, ...]
    nearest_teachers: int
    particles: int
    runs: int
    depth0_d0s: tuple[int, ...]
    ti_d0s: tuple[int, ...]
    ti_teachers: int
    bias_particles: tuple[int, ...]
    bias_repeats: int

    @classmethod
    def paper(cls) -> DeepFreeEntropy:
        return cls(base_seed=2025, activation="tanh", gain=2.0, noise=0.1, depths=(1, 2), d0s=(8, 16, 24),
                   teachers=20, large_d0s=(32, 48), large_teachers=4, confirmation_teachers=4,
                   alphas=(0.5, 1.0, 2.0, 4.0), narrow_d0=16,
                   narrow_alpha=2.0, narrow_depth=1, hidden_widths=(4, 8, 16, 32, 64), narrow_teachers=20,
                   nearest_d0s=(16, 32, 64, 128, 256, 512), nearest_teachers=40,
                   particles=128, runs=2, depth0_d0s=(8, 16, 32), ti_d0s=(8, 16), ti_teachers=4,
                   bias_particles=(32, 64, 128, 256, 512), bias_repeats=12)

    @classmethod
    def fast(cls) -> DeepFreeEntropy:
        return replace(cls.paper(), d0s=(8, 12), teachers=8, large_d0s=(16,), large_teachers=3,
                       confirmation_teachers=2, alphas=(1.0, 2.0), hidden_widths=(4, 8, 16), narrow_teachers=8,
                       nearest_d0s=(8, 16, 32), nearest_teachers=6,
                       depth0_d0s=(8,), ti_d0s=(8,), ti_teachers=2, bias_particles=(32, 64, 128), bias_repeats=6)

    def validate(self) -> None:
        get_activation(self.activation, check_real("gain", self.gain, positive=True))
        check_real("noise", self.noise, positive=True)
        for name in ("narrow_d0", "narrow_depth", "particles"):
            check_count(name, getattr(self, name))
        for name in ("teachers", "large_teachers", "confirmation_teachers", "narrow_teachers", "nearest_teachers",
                     "runs", "ti_teachers", "bias_repeats"):
            if check_count(name, getattr(self, name)) < 2:
                raise ExperimentError(f"{name} must be at least 2 (standard errors are over them)")
        for name in ("depths", "d0s", "large_d0s", "hidden_widths", "nearest_d0s", "depth0_d0s", "ti_d0s",
                     "bias_particles"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values) or any(check_count(name, v) < 1 for v in values):
                raise ExperimentError(f"{name} must be distinct positive integers, got {values}")
        if len(self.nearest_d0s) < 2:
            raise ExperimentError(f"nearest_d0s needs at least 2 widths (the chapter shows how the nearest model approaches the GLM), "
                                  f"got {self.nearest_d0s}")
        if set(self.d0s) & set(self.large_d0s):
            raise ExperimentError(f"d0s and large_d0s must not overlap, got {self.d0s} and {self.large_d0s}")
        if not self.alphas or len(set(self.alphas)) != len(self.alphas):
            raise ExperimentError(f"alphas must be distinct positive numbers, got {self.alphas}")
        for alpha in (*self.alphas, self.narrow_alpha):
            check_real("alpha", alpha, positive=True)

    def glm(self, depth: int) -> GLMTheory:
        """The equivalent GLM of the depth-``depth`` network (book eq-equivalent-glm)."""
        return GLMTheory.of(self.activation, self.gain, depth, self.noise)

    @property
    def validation_alpha(self) -> float:
        """The sample ratio of the validations: 2 if it is among :attr:`alphas`, else the largest
        ratio below 2 (or the smallest one)."""
        below = [a for a in self.alphas if a <= 2.0]
        return max(below) if below else min(self.alphas)

    def derived(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for depth in self.depths:
            glm = self.glm(depth)
            out[f"kappa (L = {depth})"], out[f"gamma0 (L = {depth})"] = glm.kappa, glm.gamma0
        return out

    def _constants(self) -> dict[str, Any]:
        return {"base_seed": self.base_seed, "activation": self.activation, "gain": self.gain, "noise": self.noise,
                "particles": self.particles, "runs": self.runs}

    def sweeps(self) -> dict[str, Sweep]:
        c = self._constants()
        evidence = {
            "evidence": Sweep(6, "evidence", EVIDENCE_TASK,
                              grid_product(depth=list(self.depths), d0=list(self.d0s), alpha=list(self.alphas)),
                              range(self.teachers), c),
            "evidence_large": Sweep(6, "evidence_large", EVIDENCE_TASK,
                                    grid_product(depth=list(self.depths), d0=list(self.large_d0s),
                                                 alpha=list(self.alphas)), range(self.large_teachers), c),
            "evidence_confirmation": Sweep(6, "evidence_confirmation", EVIDENCE_TASK,
                                           grid_product(depth=list(self.depths), d0=[max(self.large_d0s)],
                                                        alpha=list(self.alphas)),
                                           range(CONFIRMATION_FIRST_SEED,
                                                 CONFIRMATION_FIRST_SEED + self.confirmation_teachers), c),
            "narrow": Sweep(6, "narrow", EVIDENCE_TASK,
                            grid_product(depth=[self.narrow_depth], d0=[self.narrow_d0], alpha=[self.narrow_alpha],
                                         width=list(self.hidden_widths)), range(self.narrow_teachers), c),
        }
        a = self.validation_alpha
        validations = {
            "depth0": Sweep(6, "depth0", f"{TASKS_MODULE}:depth0_task", grid_product(d0=list(self.depth0_d0s), alpha=[a]),
                            range(self.ti_teachers), {**c, "runs": 2 * self.runs}),
            # JAX's compiled NUTS may sum in another order on another CPU: 1e-9 relative (the
            # integral's own error is 1e-3 of a nat), bit for bit on the machine that recorded it
            "ti": Sweep(6, "ti", f"{TASKS_MODULE}:ti_task", grid_product(depth=list(self.depths), d0=list(self.ti_d0s),
                                                                       alpha=[a]), range(self.ti_teachers), c,
                        tolerance=1e-9),
            "particles": Sweep(6, "particles", f"{TASKS_MODULE}:particles_task",
                               grid_product(depth=list(self.depths), particles=list(self.bias_particles)),
                               range(self.bias_repeats),
                               {key: v for key, v in c.items() if key not in ("particles", "runs")}
                               | {"d0": self.ti_d0s[-1], "alpha": a, "instance": 0}),
        }
        nearest = Sweep(6, "nearest", f"{TASKS_MODULE}:nearest_task",
                        grid_product(depth=list(self.depths), d0=list(self.nearest_d0s), alpha=list(self.alphas)),
                        range(NEAREST_FIRST_SEED, NEAREST_FIRST_SEED + self.nearest_teachers),
                        {key: v for key, v in c.items() if key not in ("particles", "runs")})
        return {**validations, "nearest": nearest, "narrow": evidence.pop("narrow"), **evidence}  # cheap ones first


EXPERIMENT = DeepFreeEntropy


def claims(experiment: DeepFreeEntropy, tables: dict) -> list:
    """Chapter 6's claims (:func:`deepgep.chapters.ch6_deep_free_entropy_claims.chapter_claims`)."""
    return chapter_claims(experiment, tables)

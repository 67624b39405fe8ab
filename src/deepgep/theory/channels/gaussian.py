"""The linear (regression) channel ``y = z + sqrt(total_noise) xi``, all in closed form (book
eq-linear-closed-form)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deepgep.support.validation import check_kappa, check_overlap, check_real
from deepgep.theory.channels.base import LOG_2PI

__all__ = ["GaussianChannel"]


@dataclass(frozen=True)
class GaussianChannel:
    """``y = z + sqrt(total_noise) xi``: the linear (regression) channel, all in closed form."""

    total_noise: float
    name: str = "linear"
    satisfies_theorem: bool = True
    caveat: str = ""

    def __post_init__(self) -> None:
        check_real("total_noise", self.total_noise, positive=True)

    def sample(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return z + math.sqrt(self.total_noise) * rng.standard_normal(z.shape)

    def log_z_out(self, y, omega, V):
        W = V + self.total_noise
        return -0.5 * (LOG_2PI + np.log(W)) - 0.5 * (y - omega) ** 2 / W

    def g_out(self, y, omega, V):
        """``(g_out, d g_out / d omega)``."""
        W = V + self.total_noise
        return (y - omega) / W, -1.0 / W + 0.0 * omega

    def mean_g_out_squared(self, kappa: float, q: float) -> float:
        return 1.0 / (check_kappa(kappa) * (1.0 - check_overlap(q)) + self.total_noise)

    def psi_out(self, kappa: float, q: float) -> float:
        W = check_kappa(kappa) * (1.0 - check_overlap(q)) + self.total_noise
        return -0.5 * (LOG_2PI + math.log(W)) - 0.5

    def bayes_test_error(self, kappa: float, q: float) -> float:
        """Mean squared error of the posterior-mean prediction of a new label."""
        return check_kappa(kappa) * (1.0 - check_overlap(q)) + self.total_noise

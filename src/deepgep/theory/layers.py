"""The Gaussian-equivalence coefficients of each layer (Camilli et al. 2025, Theorem 1; book
thm-layer-equivalence, eq-layer-coefficients) and their composition into the equivalent GLM
(Corollary 3; book eq-composition, eq-equivalent-glm).

With ``Z ~ N(0, 1)`` and ``sigma_0`` the input variance (1 for standard Gaussian inputs):

    sigma_l = E phi(sqrt(sigma_{l-1}) Z)^2,
    rho_l   = E phi'(sqrt(sigma_{l-1}) Z) = E[Z phi(sqrt(sigma_{l-1}) Z)] / sqrt(sigma_{l-1}),
    eps_l   = sigma_l - sigma_{l-1} rho_l^2,

the second form of ``rho_l`` being Stein's lemma, which needs no derivative of ``phi``. Theorem 1
replaces layer ``l`` by ``rho_l W^l X^{l-1} / sqrt(d_{l-1}) + sqrt(eps_l) xi``. The mean
``mu_l = E phi(sqrt(sigma_{l-1}) Z)`` vanishes for odd ``phi``; it is reported because for a
non-odd activation (relu) it adds the rank-one term ``mu_l^2 1 1^T`` to the feature Gram matrix,
which the linearisation does not have.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from deepgep.support.stats import standard_error
from deepgep.support.validation import check_count, check_nonzero, check_real
from deepgep.theory.activations import Activation, activation_issue, get_activation
from deepgep.theory.hypotheses import warn_outside_theorem
from deepgep.theory.quadrature import gaussian_moments, layer_recursion

__all__ = [
    "LayerCoefficients", "layer_coefficients", "erf_coefficients", "MonteCarloCoefficients",
    "monte_carlo_coefficients", "EquivalentGLM", "equivalent_glm", "equivalent_parameters", "GLMTheory",
    "depth_profile", "depth_table", "indistinguishable_depth", "theorem1_bound_shape", "check_readout",
]


def _readonly(values: list[float]) -> np.ndarray:
    a = np.array(values, dtype=np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class LayerCoefficients:
    """Coefficients of Theorem 1 for every layer of a depth-``L`` network.

    ``sigma`` has ``L + 1`` entries, ``sigma[0]`` being the input variance, so that
    ``sigma[l]`` is ``sigma_l``. ``rho``, ``eps`` and ``mean`` have ``L`` entries; entry ``l - 1``
    belongs to layer ``l`` (use :meth:`layer` to avoid off-by-one slips).
    """

    activation: Activation
    sigma: np.ndarray
    rho: np.ndarray
    eps: np.ndarray
    mean: np.ndarray

    @property
    def depth(self) -> int:
        return int(self.rho.size)

    def truncated(self, depth: int) -> LayerCoefficients:
        """The coefficients of the first ``depth`` layers (those of the depth-``depth`` network:
        the recursion runs from the input up)."""
        if not 1 <= depth <= self.depth:
            raise ValueError(f"depth must be in 1..{self.depth}, got {depth!r}")
        return LayerCoefficients(self.activation, self.sigma[: depth + 1], self.rho[:depth],
                                 self.eps[:depth], self.mean[:depth])

    def layer(self, ell: int) -> dict[str, float]:
        """``sigma_{l-1}, sigma_l, rho_l, eps_l, mu_l`` of layer ``ell`` (1-based)."""
        if not 1 <= ell <= self.depth:
            raise ValueError(f"layer index must be in 1..{self.depth}, got {ell}")
        return {
            "sigma_prev": float(self.sigma[ell - 1]),
            "sigma": float(self.sigma[ell]),
            "rho": float(self.rho[ell - 1]),
            "eps": float(self.eps[ell - 1]),
            "mean": float(self.mean[ell - 1]),
        }


def layer_coefficients(
    activation: str | Callable[[np.ndarray], np.ndarray] | Activation,
    depth: int,
    gain: float = 1.0,
    sigma0: float = 1.0,
    n_nodes: int | None = None,
) -> LayerCoefficients:
    """Run the recursion of Theorem 1 (book eq-layer-coefficients) for ``depth`` layers.

    Parameters
    ----------
    activation, gain:
        ``phi(x) = act(gain x)``, see :func:`deepgep.theory.activations.get_activation`.
    depth:
        Number of hidden layers ``L >= 1``.
    sigma0:
        Variance of the input coordinates (positive).
    n_nodes:
        ``None`` for the default quadrature rule, or a number of Gauss-Hermite nodes
        (see :mod:`deepgep.theory.quadrature`).

    Warns
    -----
    deepgep.theory.hypotheses.TheoremWarning
        When the activation is outside the hypotheses of Theorem 1 (not odd, or not C^2 with
        bounded derivatives: relu, a user callable failing the numerical check of
        :attr:`deepgep.theory.activations.Activation.hypotheses`); the coefficients are still
        computed, but the theorem does not say that the layer is equivalent to them.

    Raises
    ------
    ValueError
        On ``depth < 1``, ``sigma0 <= 0``, bad activation or gain, or a collapse of the variance
        to zero (``phi`` vanishing on the support), which would make ``rho`` undefined.
    """
    act = get_activation(activation, gain)
    depth = check_count("depth", depth, 1)
    s0 = check_real("sigma0", sigma0, positive=True)
    issue = activation_issue(act)
    if issue:
        warn_outside_theorem(issue)
    if act.is_builtin:
        rows = layer_recursion(act, s0, int(depth), n_nodes)
    else:
        rows = _python_recursion(act, s0, int(depth), n_nodes)
    sigma = np.empty(rows.shape[0] + 1)
    sigma[0] = s0
    sigma[1:] = rows[:, 0]
    if not (sigma.min() > 0.0 and math.isfinite(rows.sum())):
        ell = int(np.argmin((sigma[1:] > 0.0) & np.isfinite(sigma[1:]))) + 1
        what = "collapses" if sigma[ell] == 0.0 else "is not finite (the activation grows too fast)"
        raise ValueError(f"the variance {what} at layer {ell}: sigma_{ell} = {sigma[ell]!r}")
    columns = [sigma] + [rows[:, k].copy() for k in (1, 2, 3)]
    for c in columns:
        c.setflags(write=False)
    return LayerCoefficients(act, *columns)


def _python_recursion(act: Activation, sigma0: float, depth: int, n_nodes: int | None) -> np.ndarray:
    """The recursion for a user activation, one quadrature per layer (eps summed directly as
    the variance of the nonlinear part, without the cancellation of sigma - sigma rho^2)."""
    rows = np.empty((depth, 4))
    s = sigma0
    for ell in range(depth):
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                m = gaussian_moments(act, s, n_nodes)
        except ValueError:  # non-finite values on the nodes
            raise ValueError(f"the activation {act.name!r} is not finite on the quadrature nodes of layer "
                             f"{ell + 1} (input variance sigma_{ell} = {s:.4g}): it grows too fast at this "
                             "gain and depth") from None
        rows[ell] = (m.second, m.stein / math.sqrt(s), m.residual, m.mean)
        if not (math.isfinite(m.second) and m.second > 0.0):
            rows[ell + 1 :] = np.nan
            break
        s = m.second
    return rows


def erf_coefficients(depth: int, gain: float = 1.0, sigma0: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Closed forms for ``phi(x) = erf(g x)`` (book eq-erf-coefficients):
    ``(sigma_0..sigma_L, rho_1..rho_L)``.

    With ``s = g^2 sigma_{l-1}``: ``sigma_l = (2/pi) arcsin(2 s / (1 + 2 s))`` and
    ``rho_l = g (2/sqrt(pi)) / sqrt(1 + 2 s)`` (Williams 1997 for the first; the second is
    ``E g erf'(g sqrt(sigma) Z)`` done by completing the square).
    """
    sigma, rho = [float(sigma0)], []
    for _ in range(int(depth)):
        s = gain * gain * sigma[-1]
        sigma.append(2.0 / math.pi * math.asin(2.0 * s / (1.0 + 2.0 * s)))
        rho.append(gain * 2.0 / math.sqrt(math.pi) / math.sqrt(1.0 + 2.0 * s))
    return np.array(sigma), np.array(rho)


@dataclass(frozen=True)
class MonteCarloCoefficients:
    """Monte Carlo estimates of ``sigma_l`` and ``rho_l`` with their standard errors."""

    sigma: np.ndarray
    sigma_se: np.ndarray
    rho: np.ndarray
    rho_se: np.ndarray


def monte_carlo_coefficients(
    coefficients: LayerCoefficients, n_samples: int, rng: np.random.Generator
) -> MonteCarloCoefficients:
    """Independent check of the quadrature: for each layer, sample ``Z`` and average
    ``phi(sqrt(sigma_{l-1}) Z)^2`` and ``Z phi(sqrt(sigma_{l-1}) Z) / sqrt(sigma_{l-1})``, using the
    quadrature's ``sigma_{l-1}`` as input so that layers are tested one at a time."""
    act = coefficients.activation
    out = {k: [] for k in ("sigma", "sigma_se", "rho", "rho_se")}
    for ell in range(1, coefficients.depth + 1):
        s_prev = coefficients.layer(ell)["sigma_prev"]
        z = rng.standard_normal(int(n_samples))
        f = act(math.sqrt(s_prev) * z)
        sq, st = f * f, z * f / math.sqrt(s_prev)
        out["sigma"].append(sq.mean())
        out["sigma_se"].append(standard_error(sq))
        out["rho"].append(st.mean())
        out["rho_se"].append(standard_error(st))
    return MonteCarloCoefficients(**{k: np.array(v) for k, v in out.items()})


@dataclass(frozen=True)
class EquivalentGLM:
    """The composition of Theorem 1 over all layers (Corollary 3; book eq-composition).

    ``eta[k]`` and ``gamma[k]`` (``k = 0..L``) are the gain and the extra noise of the model in
    which layers ``k+1..L`` are replaced by their Gaussian equivalents:
    ``eta_k = rho prod_{i>k} rho_i`` and ``gamma_k = eps + rho^2 sum_{j>k} eps_j prod_{i>j} rho_i^2``.
    The deep network is equivalent to the GLM ``Y ~ P_out(. | eta0 a.X^0/sqrt(d0) + sqrt(gamma0) xi)``.
    """

    coefficients: LayerCoefficients
    readout_gain: float
    readout_noise: float
    eta: np.ndarray
    gamma: np.ndarray

    @property
    def eta0(self) -> float:
        return float(self.eta[0])

    @property
    def gamma0(self) -> float:
        return float(self.gamma[0])

    @property
    def kappa(self) -> float:
        """``eta0^2``, the variance of the GLM's pre-activation."""
        return self.eta0**2


def equivalent_glm(coefficients: LayerCoefficients, rho: float = 1.0, eps: float = 0.0) -> EquivalentGLM:
    """Compose the layers' coefficients into ``eta_k``, ``gamma_k`` for a readout of gain ``rho``
    and noise variance ``eps`` (book eq-composition)."""
    rho, eps = check_readout(rho, eps)
    L = coefficients.depth
    eta = np.empty(L + 1)
    gamma = np.empty(L + 1)
    eta[L], gamma[L] = rho, eps
    for k in range(L - 1, -1, -1):  # replace layer k+1 on top of layers k+2..L
        c = coefficients.layer(k + 1)
        eta[k] = eta[k + 1] * c["rho"]
        gamma[k] = gamma[k + 1] + eta[k + 1] ** 2 * c["eps"]
    eta.setflags(write=False)
    gamma.setflags(write=False)
    return EquivalentGLM(coefficients, rho, eps, eta, gamma)


def theorem1_bound_shape(n: float, d_min: float) -> float:
    """Shape of the bound of Theorem 1 on the change of the mutual information per sample,
    ``(1 + sqrt(n/d_m) + n/d_m) / sqrt(d_m)`` (book eq-theorem1-bound; no constant): small only
    while ``n = o(d_m^{3/2})``."""
    return (1.0 + math.sqrt(n / d_min) + n / d_min) / math.sqrt(d_min)


def check_readout(rho: float, eps: float) -> tuple[float, float]:
    """The readout gain ``rho`` (finite, non-zero) and readout noise ``eps`` (a variance)."""
    return check_nonzero("readout gain rho", rho), check_real("readout noise eps", eps)


def equivalent_parameters(activation: str | Activation, gain: float, depth: int, rho: float = 1.0,
                          eps: float = 0.0) -> tuple[float, float]:
    """``(eta0, gamma0)`` of the depth-``depth`` network with readout ``(rho, eps)`` (book
    eq-composition); ``depth = 0`` is the plain GLM, ``(rho, eps)``."""
    if check_count("depth", depth, 0) == 0:
        return check_readout(rho, eps)
    glm = equivalent_glm(layer_coefficients(activation, depth, gain=gain), rho, eps)
    return glm.eta0, glm.gamma0


@dataclass(frozen=True)
class GLMTheory:
    """The equivalent GLM as a theory a claim compares data with (book eq-equivalent-glm):
    ``kappa = eta0^2``, ``gamma0`` and the label noise ``noise`` (Delta). A wrong theory is a
    copy with a field changed (``deepgep.support.claims.scaled(theory, gamma0=1.1)``) or the
    GLM of another depth (:meth:`of`)."""

    kappa: float
    gamma0: float
    noise: float = 0.0

    @classmethod
    def of(cls, activation: str | Activation, gain: float, depth: int, noise: float = 0.0, rho: float = 1.0,
           eps: float = 0.0) -> GLMTheory:
        """The equivalent GLM of the depth-``depth`` network (:func:`equivalent_parameters`)."""
        eta0, gamma0 = equivalent_parameters(activation, gain, depth, rho, eps)
        return cls(eta0**2, gamma0, check_real("noise", noise))

    @property
    def total_noise(self) -> float:
        """``gamma0 + Delta``: the GLM's effective label noise."""
        return self.gamma0 + self.noise

    @property
    def ridge_penalty(self) -> float:
        """``lambda* = (gamma0 + Delta) / kappa``, the Bayes-optimal ridge penalty (book
        eq-ridge-bayes)."""
        return self.total_noise / self.kappa


def depth_profile(
    activation: str | Callable[[np.ndarray], np.ndarray] | Activation,
    depths: int | Sequence[int],
    gain: float = 1.0,
) -> dict[str, np.ndarray]:
    """``eta0^2``, ``gamma0`` and the signal fraction ``eta0^2 / (eta0^2 + gamma0)`` of the
    equivalent GLM (book eq-signal-fraction) at each depth of ``depths`` (an int ``L`` means
    ``1..L``; depth 0 is the plain GLM, fraction 1), readout gain 1 and no readout noise, from
    one run of the recursion: the part of the label variance a linear model can ever explain.
    ``eta0^2 + gamma0 = sigma_L``."""
    grid = np.arange(1, check_count("max_depth", depths, 1) + 1) if np.isscalar(depths) else \
        np.array([check_count("depth", L, 0) for L in depths], dtype=int)
    top = int(grid.max())
    coef = layer_coefficients(activation, top, gain=gain) if top > 0 else None
    eta0_sq, gamma0 = np.empty(grid.size), np.empty(grid.size)
    for k, L in enumerate(grid):
        glm = equivalent_glm(coef.truncated(int(L))) if L > 0 else None
        eta0_sq[k], gamma0[k] = (glm.kappa, glm.gamma0) if glm else (1.0, 0.0)
    return {"depth": grid, "eta0^2": eta0_sq, "gamma0": gamma0,
            "signal_fraction": eta0_sq / (eta0_sq + gamma0)}


def depth_table(activations: Sequence[str], gains: Sequence[float],
                depths: int | Sequence[int]) -> dict[str, np.ndarray]:
    """:func:`depth_profile` for every activation and gain, as one table (columns
    ``activation``, ``gain``, ``depth``, ``eta0^2``, ``gamma0``, ``signal_fraction``)."""
    rows: dict[str, list] = {k: [] for k in ("activation", "gain", "depth", "eta0^2", "gamma0",
                                              "signal_fraction")}
    for act in activations:
        for g in gains:
            prof = depth_profile(act, depths, gain=g)
            rows["activation"] += [act] * prof["depth"].size
            rows["gain"] += [float(g)] * prof["depth"].size
            for key in ("depth", "eta0^2", "gamma0", "signal_fraction"):
                rows[key] += list(prof[key])
    return {k: np.asarray(v) for k, v in rows.items()}


def indistinguishable_depth(profile: dict[str, np.ndarray], threshold: float) -> int | None:
    """The smallest depth whose signal fraction is below ``threshold`` (``None`` if no depth of
    the profile reaches it): beyond it a linear model explains less than ``threshold`` of the
    label variance, i.e. the network looks like noise to any learner in the proportional regime."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    below = np.flatnonzero(profile["signal_fraction"] < threshold)
    return int(profile["depth"][below[0]]) if below.size else None

"""Chapter 6's validation tasks: the SMC evidence against the exact one at depth 0, against
thermodynamic integration on the same instance, and its bias against the number of particles.

The measurement tasks of the chapter are :func:`deepgep.simulate.evidence_instances.evidence_instance`
itself (one teacher of the deep network and its evidence next to the equivalent GLM's). Each
task here regenerates its instance's data from the instance's own stream
(:func:`~deepgep.simulate.evidence_instances.instance_rng`, then
:func:`~deepgep.simulate.evidence_instances.instance_data`) and continues on that stream, so a
recorded row is recomputed bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepgep.simulate.evidence import deep_likelihood, tempered_smc
from deepgep.simulate.evidence_instances import instance_data, instance_rng
from deepgep.simulate.evidence_ti import exact_depth0_check, ti_check
from deepgep.support.sweeps import task_rng
from deepgep.theory.glm import linear_evidence_derivatives
from deepgep.theory.layers import GLMTheory

__all__ = ["TASKS_MODULE", "EVIDENCE_TASK", "depth0_task", "ti_task", "particles_task", "nearest_task"]

#: The import path of this module (the sweeps name their tasks by it).
TASKS_MODULE = "deepgep.chapters.ch6_deep_free_entropy_tasks"
#: The measurement task of the chapter's evidence sweeps.
EVIDENCE_TASK = "deepgep.simulate.evidence_instances:evidence_instance"
#: Tag of the particle-count experiment in its random streams.
_PARTICLES = 7


def _data(params: Mapping[str, Any], seed: int, depth: int):
    rng = instance_rng({**params, "depth": depth}, seed)
    widths, data = instance_data(str(params["activation"]), float(params["gain"]), depth, int(params["d0"]),
                                 int(params.get("width") or params["d0"]), float(params["alpha"]),
                                 float(params["noise"]), rng)
    return rng, widths, data


def depth0_task(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """Depth 0 (the GLM ``y = X a / sqrt(d0) + noise``): the same SMC, over the readout itself,
    ``runs`` times, against the exact evidence (book eq-linear-evidence). Record (per sample
    ``n``): ``exact``, ``estimate`` (``ln`` of the mean ``Z-hat``), ``mean_of_logs``,
    ``standard_error``, ``z``."""
    rng, _, data = _data(params, seed, 0)
    n = data.X.shape[0]
    check = exact_depth0_check(data.X, data.y, float(params["noise"]), rng, n_particles=int(params["particles"]),
                               n_runs=int(params["runs"]))
    return {"n": float(n), **{k: (v if k == "z" else v / n) for k, v in check.items()}}


def ti_task(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """Thermodynamic integration (NUTS of Chapter 5, all weights explicit) and the SMC
    (readout integrated out, ``runs`` repeats) on the same instance of depth ``depth``: per
    sample ``smc``, ``smc_se``, ``ti``, ``ti_se``, ``ti_discretisation``, and
    ``z = (smc - ti) / (combined error)``; ``smc_evaluations``, ``ti_evaluations``. The two
    share nothing but the data."""
    depth = int(params["depth"])
    rng, widths, data = _data(params, seed, depth)
    n = data.X.shape[0]
    check = ti_check(data.X, data.y, widths, str(params["activation"]), float(params["noise"]), rng,
                     gain=float(params["gain"]), n_particles=int(params["particles"]), n_runs=int(params["runs"]))
    scaled = {"smc", "smc_se", "ti", "ti_se", "ti_discretisation"}
    return {"n": float(n), **{k: (v / n if k in scaled else v) for k, v in check.items()}}


def particles_task(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """One SMC run of ``particles`` particles on instance ``instance`` of depth ``depth`` (one
    fixed instance, ``seed`` the repeat): ``log_z`` per sample, ``temperatures``,
    ``evaluations``. Over repeats the mean of ``log_z`` against ``particles`` is the bias of
    ``ln Z-hat`` (Jensen: ``O(1/particles)``, negative)."""
    depth = int(params["depth"])
    _, widths, data = _data(params, int(params["instance"]), depth)
    likelihood = deep_likelihood(data.X, data.y, widths, str(params["activation"]), float(params["noise"]),
                                 float(params["gain"]))
    rng = task_rng(params, seed, _PARTICLES, depth, int(params["particles"]))
    run = tempered_smc(likelihood, int(params["particles"]), rng)
    n = data.X.shape[0]
    return {"n": float(n), "log_z": run.log_evidence / n, "temperatures": float(run.n_temperatures),
            "evaluations": float(run.n_likelihood_evaluations)}


def nearest_task(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """The GLM family ``N(0, kappa X X^T / d0 + s I)`` on one deep teacher's labels (depth
    ``depth``; no SMC): at the equivalent GLM of that depth (``kappa``, ``s = gamma0 + Delta``,
    book eq-equivalent-glm) the exact evidence per sample ``value``, its gradient ``g_kappa``,
    ``g_s`` and Hessian ``h_kk``, ``h_ks``, ``h_ss`` per sample
    (:func:`deepgep.theory.glm.linear_evidence_derivatives`), with ``n``, ``kappa``, ``gamma0``.
    Averaged over teachers they locate the Gaussian model nearest to the deep network's labels."""
    depth = int(params["depth"])
    _, _, data = _data(params, seed, depth)
    glm = GLMTheory.of(str(params["activation"]), float(params["gain"]), depth, float(params["noise"]))
    out = linear_evidence_derivatives(data.X, data.y, glm.kappa, glm.total_noise)
    (g_k, g_s), ((h_kk, h_ks), (_, h_ss)) = out.gradient, out.hessian
    return {"n": float(data.X.shape[0]), "kappa": glm.kappa, "gamma0": glm.gamma0, "value": out.value,
            "g_kappa": float(g_k), "g_s": float(g_s), "h_kk": float(h_kk), "h_ks": float(h_ks), "h_ss": float(h_ss)}

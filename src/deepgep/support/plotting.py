"""Figures of the book. They only draw arrays computed elsewhere in the library."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from deepgep.support.stats import mean_and_error

__all__ = [
    "loglog_with_errors", "reference_slope", "layer_width_figure", "spectra_figure",
    "sample_size_figure", "generalisation_figure", "escape_figure", "depth_figure", "STYLE",
    "finite_size_figure",
]


def loglog_with_errors(
    ax: Axes, x: np.ndarray, values: np.ndarray, label: str, marker: str = "o"
) -> None:
    """Mean +- standard error over seeds (``values`` of shape ``(len(x), seeds)``), log-log."""
    m, se = mean_and_error(values)
    ax.errorbar(x, m, yerr=se, marker=marker, ms=4, capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")


def reference_slope(ax: Axes, x: np.ndarray, y0: float, slope: float, label: str) -> None:
    """Dashed power law ``y0 (x / x[0])^slope``."""
    x = np.asarray(x, dtype=float)
    ax.plot(x, y0 * (x / x[0]) ** slope, "k--", lw=1, label=label)


def layer_width_figure(rec: dict[str, np.ndarray], fields: Sequence[tuple[str, str]]) -> Figure:
    """One panel per field of a :func:`deepgep.chapters.ch1_gaussian_equivalence.layer_width_scan` record, one curve per layer."""
    fig, axes = plt.subplots(1, len(fields), figsize=(4.2 * len(fields), 3.4), squeeze=False)
    for ax, (field, title) in zip(axes[0], fields):
        data = rec[field]
        for ell in range(data.shape[2]):
            loglog_with_errors(ax, rec["d"], data[:, :, ell], f"layer {ell + 1}")
        ax.set_xlabel("width $d$ ($n = \\alpha d$)")
        ax.set_title(title, fontsize=10)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def spectra_figure(spectra: dict[str, list[np.ndarray]], labels: dict[str, str], bins: int = 60) -> Figure:
    """Overlaid eigenvalue histograms, one panel per layer."""
    depth = len(next(iter(spectra.values())))
    fig, axes = plt.subplots(1, depth, figsize=(4.2 * depth, 3.2), squeeze=False)
    for ell, ax in enumerate(axes[0]):
        top = max(float(np.quantile(ev[ell], 0.995)) for ev in spectra.values())
        edges = np.linspace(0.0, top, bins + 1)
        for key, evs in spectra.items():
            ax.hist(evs[ell], bins=edges, density=True, histtype="step", lw=1.4, label=labels[key])
        ax.set_title(f"layer {ell + 1}", fontsize=10)
        ax.set_xlabel("eigenvalue")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def sample_size_figure(records: dict[int, dict[str, np.ndarray]]) -> Figure:
    """Records of :func:`deepgep.chapters.ch1_gaussian_equivalence.sample_size_scan` keyed by width ``d``.

    Left: the three distances and the theorem's rate against ``n / d^{3/2}``. Right: the
    off-diagonal nonlinear kernel (in units of ``eps``) against ``n / d^2``.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    markers = "osd^v"
    for i, (d, rec) in enumerate(sorted(records.items())):
        x = rec["n"] / d**1.5
        mk = markers[i % len(markers)]
        loglog_with_errors(left, x, rec["kernel_vs_linear"], f"$\\|K-\\mathrm{{Lin}}\\|/\\|\\mathrm{{Lin}}\\|$, d={d}", mk)
        loglog_with_errors(left, x, rec["gram_vs_kernel"], f"$\\|G-K\\|/\\|K\\|$, d={d}", mk)
        left.plot(x, rec["theorem_rate"], "k:" if i == 0 else "k-.", lw=1, label=f"bound shape, d={d}")
        loglog_with_errors(right, rec["n"] / d**2, rec["nonlinear_offdiag"], f"d={d}", mk)
    left.axvline(1.0, color="grey", lw=0.8)
    left.set_xlabel("$n / d^{3/2}$")
    left.legend(fontsize=7)
    right.set_xlabel("$n / d^{2}$")
    right.set_title("off-diagonal nonlinear kernel / $\\varepsilon_1$", fontsize=10)
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


#: One look per method across the whole book: colour, marker and line of each (issue of the
#: book's figures: a method is recognised by its colour in every chapter).
STYLE = {
    "bayes": dict(color="black", ls="-", lw=2.0),
    "theory": dict(color="black", ls="--", lw=1.2),
    "ridge": dict(color="C0", marker="o", ls="none"),
    "logistic": dict(color="C1", marker="s", ls="none"),
    "network": dict(color="C2", marker="^", ls="none"),
    "posterior": dict(color="C3", marker="D", ls="none"),
    "simulation": dict(color="C4", marker="v", ls="none"),
    "plateau": dict(color="grey", ls=":", lw=1.0),
}


def _marks(ax: Axes, x: np.ndarray, mean: np.ndarray, se: np.ndarray, method: str, label: str) -> None:
    """Means with standard-error bars in the style of ``method``."""
    ax.errorbar(x, mean, yerr=se, ms=5, capsize=3, label=label, **STYLE[method])


def generalisation_figure(theory: dict[str, dict], simulation: dict[str, dict],
                          plateaus: dict[str, float], lambda_labels: Sequence[str]) -> Figure:
    """Chapter 4's version of Cui et al.'s figure (the current notebook's figure, replaced with the notebook)."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
    for ax, task in zip(axes, ("regression", "classification")):
        th, sim = theory[task], simulation[task]
        ax.plot(th["alpha"], th["bayes"], "k-", lw=2, label="Bayes-optimal (GLM)")
        for k, lab in enumerate(lambda_labels):
            ax.plot(th["alpha"], th["ridge"][:, k], lw=1, ls=("--", ":", "-.")[k % 3], label=f"ridge {lab}")
        ax.axhline(plateaus[task], color="grey", lw=0.8, ls=":", label="plateau")
        for x, v, lab, mk in ((sim["alpha"], sim["ridge"][:, 0, :], "ridge, simulated", "o"),
                              (sim["alpha"] * 1.03, sim.get("logistic"), "logistic, simulated", "s"),
                              (sim["network_alpha"] * 0.97, sim["network"], "trained network", "^")):
            if v is not None and v.size:
                m, se = mean_and_error(v)
                ax.errorbar(x, m, yerr=se, fmt=mk, ms=5, capsize=3, label=lab)
        ax.set_xlabel(r"$\alpha = n/d_0$")
        ax.set_ylabel("test MSE" if task == "regression" else "test classification error")
        ax.set_title(task)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def finite_size_figure(panels: Sequence[dict]) -> Figure:
    """Deviations of simulations from asymptotic theory against the input width ``d0`` (log
    axis; the deviation itself on a linear axis, since it may change sign), one panel per
    entry of ``panels``: ``title`` and ``series``, each series a record of
    :func:`deepgep.chapters.ch4_bayes_optimal_generalisation.finite_size_deviations` with a
    ``label`` and a ``method`` (its style), drawn with its fit ``limit + slope / d0``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        ax.axhline(0.0, **STYLE["plateau"])
        for k, s in enumerate(panel["series"]):
            x = s["d0"] * (1.0 + 0.04 * (k - (len(panel["series"]) - 1) / 2))
            _marks(ax, x, s["deviation"], s["se"], s["method"], s["label"])
            dense = np.geomspace(s["d0"].min(), s["d0"].max(), 50)
            ax.plot(dense, s["limit"] + s["slope"] / dense, color=STYLE[s["method"]]["color"], lw=0.8,
                    ls=s.get("ls", "--"))
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(panel["series"][0]["d0"])
        ax.set_xlabel("input width $d_0$ (all widths equal)")
        ax.set_ylabel(panel.get("ylabel", "simulation $-$ theory"))
        ax.set_title(panel["title"], fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def escape_figure(scan: dict[str, np.ndarray]) -> Figure:
    """Test errors of ridge and the trained network of :func:`deepgep.chapters.ch4_bayes_optimal_generalisation.escape_scan`
    against ``n / d0`` (left) and ``n / d0^2`` (right), one colour per ``d0``; the GLM plateau."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6), sharey=True)
    for i, d0 in enumerate(scan["d0"]):
        for ax, x in zip(axes, (scan["n"][i] / d0, scan["ratio"])):
            m, se = mean_and_error(scan["network"][i])
            ax.errorbar(x, m, yerr=se, marker="^", color=f"C{i}", capsize=3, label=f"network, $d_0$ = {d0}")
            m, se = mean_and_error(scan["ridge"][i])
            ax.errorbar(x, m, yerr=se, marker="o", ls="--", color=f"C{i}", capsize=3, label=f"ridge, $d_0$ = {d0}")
    for ax, lab in zip(axes, (r"$n/d_0$", r"$n/d_0^2$")):
        ax.axhline(scan["plateau"], color="k", lw=1, ls=":", label=r"GLM plateau $\gamma_0+\Delta$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(lab)
    axes[1].set_xticks(scan["ratio"])
    axes[0].set_ylabel("test MSE")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def depth_figure(rows: dict[str, np.ndarray], threshold: float) -> Figure:
    """Signal fraction ``eta0^2 / (eta0^2 + gamma0)`` against depth, one panel per activation,
    one curve per gain (rows of :func:`deepgep.chapters.ch4_bayes_optimal_generalisation.depth_activation_table`)."""
    acts = list(dict.fromkeys(rows["activation"].tolist()))
    fig, axes = plt.subplots(1, len(acts), figsize=(3.6 * len(acts), 3.2), sharey=True, squeeze=False)
    for ax, act in zip(axes[0], acts):
        for g in dict.fromkeys(rows["gain"][rows["activation"] == act].tolist()):
            sel = (rows["activation"] == act) & (rows["gain"] == g)
            ax.plot(rows["depth"][sel], rows["signal_fraction"][sel], marker="o", ms=3, label=f"gain {g:g}")
        ax.axhline(threshold, color="k", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_ylim(threshold / 100, 1.5)  # smaller fractions are in the printed table
        ax.set_title(act)
        ax.set_xlabel("depth $L$")
    axes[0][0].set_ylabel(r"$\eta_0^2/(\eta_0^2+\gamma_0)$")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig

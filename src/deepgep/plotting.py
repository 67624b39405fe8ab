"""Figures of the book. They only draw arrays computed elsewhere in the library."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def mean_and_error(values: np.ndarray, axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ``axis`` and its standard error (zero when there is a single seed)."""
    v = np.asarray(values, dtype=float)
    m = v.mean(axis=axis)
    k = v.shape[axis]
    se = v.std(axis=axis, ddof=1) / np.sqrt(k) if k > 1 else np.zeros_like(m)
    return m, se


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


def width_scan_figure(rec: dict[str, np.ndarray], fields: Sequence[tuple[str, str]]) -> Figure:
    """One panel per field of a :func:`deepgep.equivalence.width_scan` record, one curve per layer."""
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
    """Records of :func:`deepgep.equivalence.sample_size_scan` keyed by width ``d``.

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

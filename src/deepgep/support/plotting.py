"""Figures of the book. They only draw arrays computed elsewhere in the library."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.offsetbox import AnchoredText
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, NullFormatter, ScalarFormatter

from deepgep.support.stats import mean_and_error

__all__ = [
    "loglog_with_errors", "reference_slope", "layer_width_figure", "spectra_figure",
    "sample_size_figure", "generalisation_figure", "escape_figure", "depth_figure", "STYLE",
    "finite_size_figure", "panels_figure", "series", "series_colours", "posterior_figure",
    "nishimori_figure", "legible", "COLUMN_PX", "MIN_TEXT_PX",
]

#: The width of the book's text column, in CSS pixels, in a 1400 px browser window (the window
#: the browser test measures every page in): a wider figure is shown shrunk to it.
COLUMN_PX = 784
#: The smallest size of a figure's text as shown on the page, in CSS pixels, after that shrinking
#: (the body text is 16 px; 11 px is the size of the page's own small print).
MIN_TEXT_PX = 11.0


def legible(fig: Figure) -> Figure:
    """Enlarge every text of ``fig`` (titles, labels, tick labels, legends, notes) smaller than
    :data:`MIN_TEXT_PX` as the page shows it: a figure wider than :data:`COLUMN_PX` at its
    ``dpi`` is shrunk to the column, so its text must be drawn larger by the same factor."""
    shrink = min(1.0, COLUMN_PX / (fig.get_figwidth() * fig.dpi))
    smallest = MIN_TEXT_PX / shrink * 72.0 / fig.dpi  # in points
    for text in fig.findobj(Text):
        if text.get_fontsize() < smallest:
            text.set_fontsize(smallest)
    for axis in ("x", "y"):
        drawn = FontProperties(size=plt.rcParams[f"{axis}tick.labelsize"]).get_size_in_points()
        if drawn < smallest:
            for ax in fig.axes:
                ax.tick_params(axis=axis, which="both", labelsize=smallest)
    return fig


def _finish(fig: Figure) -> Figure:
    """The last step of a figure laid out by ``tight_layout``: legible text, then the layout."""
    legible(fig)
    fig.tight_layout()
    return fig


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
    "gamp": dict(color="C5", marker="o", ls="none"),
    "equivalent": dict(color="C9", marker="s", mfc="none", ls="none"),  # data of the equivalent GLM
    "exact": dict(color="C8", ls="-", lw=1.8),  # theory exact at the simulation's finite size
    "nngp": dict(color="C6", ls="-.", lw=1.3),  # infinite width: NNGP kernel, Sigma*
    "guide": dict(color="k", ls=":", lw=1.0),  # power law drawn as a guide to the eye
}


def _marks(ax: Axes, x: np.ndarray, mean: np.ndarray, se: np.ndarray, method: str, label: str,
           style: dict | None = None) -> None:
    """Means with standard-error bars in the style of ``method`` (``style`` overrides, e.g. an
    open marker for a second condition of the same method)."""
    ax.errorbar(x, mean, yerr=se, ms=5, capsize=3, label=label, **{**STYLE[method], **(style or {})})


def generalisation_figure(theory: dict[str, dict], simulation: dict[str, dict],
                          plateaus: dict[str, float], lambda_labels: Sequence[str]) -> Figure:
    """Chapter 4's version of Cui et al.'s figure: one panel per task (``"regression"``,
    ``"classification"``), each with its own legend. ``theory[task]``: ``alpha`` (a dense grid),
    ``bayes``, ``ridge`` with one column per ``lambda_labels``; ``simulation[task]``:
    ``ridge`` ``(alphas, 1, teachers)``, optionally ``logistic`` ``(alphas, teachers)``,
    ``network`` ``(network_alphas, teachers)``; ``plateaus[task]`` the large-alpha limit of the
    Bayes error."""
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.2))
    for ax, task in zip(axes, ("regression", "classification")):
        th, sim = theory[task], simulation[task]
        ax.plot(th["alpha"], th["bayes"], label="Bayes-optimal (GLM)", **STYLE["bayes"])
        for k, lab in enumerate(lambda_labels):
            ax.plot(th["alpha"], th["ridge"][:, k], color="C0", lw=1, ls=("--", ":", "-.")[k % 3],
                    label=f"ridge theory, {lab}")
        ax.axhline(plateaus[task], label="plateau", **STYLE["plateau"])
        _marks(ax, sim["alpha"], *mean_and_error(sim["ridge"][:, 0, :]), "ridge", "ridge, simulated")
        if "logistic" in sim:
            _marks(ax, sim["alpha"] * 1.03, *mean_and_error(sim["logistic"]), "logistic", "logistic, simulated")
        if sim["network"].size:
            _marks(ax, sim["network_alpha"] * 0.97, *mean_and_error(sim["network"]), "network", "trained network")
        ax.set_xlabel(r"$\alpha = n/d_0$")
        ax.set_ylabel("test MSE" if task == "regression" else "test classification error")
        ax.set_title(task)
        ax.legend(fontsize=7)
    return _finish(fig)


def finite_size_figure(panels: Sequence[dict], ncols: int = 2) -> Figure:
    """Deviations of simulations from asymptotic theory against the input width ``d0`` (log
    axis; the deviation itself on a linear axis, since it may change sign), one panel per
    entry of ``panels`` (``ncols`` per row): ``title`` and ``series``, each series a record of
    per-width deviations (``d0``, ``mean``, ``se``) with their fit ``limit + slope / d0``
    (:func:`deepgep.support.fits.fit_inverse`), a ``label``, a ``method`` (its style) and
    optionally a ``style`` override. The labels every panel shares make one legend below the
    panels, each label once."""
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 3.6 * nrows + 0.5), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax, panel in zip(axes.ravel(), panels):
        ax.axhline(0.0, **STYLE["plateau"])
        for k, s in enumerate(panel["series"]):
            x = s["d0"] * (1.0 + 0.04 * (k - (len(panel["series"]) - 1) / 2))
            _marks(ax, x, s["deviation"], s["se"], s["method"], s["label"], s.get("style"))
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
    _shared_legend(fig, axes, columns=3)
    return legible(fig)


def escape_figure(scan: dict[str, np.ndarray]) -> Figure:
    """Test errors of ridge and the trained network of Chapter 4's escape sweep
    (:func:`deepgep.chapters.ch4_bayes_optimal_generalisation_tables.escape_arrays`) against ``n / d0`` (left) and ``n / d0^2`` (right), one colour per ``d0``; the GLM plateau."""
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
    return _finish(fig)


def depth_figure(rows: dict[str, np.ndarray], threshold: float) -> Figure:
    """Signal fraction ``eta0^2 / (eta0^2 + gamma0)`` against depth, one panel per activation,
    one curve per gain (rows of :func:`deepgep.chapters.ch4_bayes_optimal_generalisation_theory.depth_activation_table`)."""
    acts = list(dict.fromkeys(rows["activation"].tolist()))
    fig, axes = plt.subplots(1, len(acts), figsize=(3.6 * len(acts), 3.2), sharey=True, squeeze=False)
    for ax, act in zip(axes[0], acts):
        for g in dict.fromkeys(rows["gain"][rows["activation"] == act].tolist()):
            sel = (rows["activation"] == act) & (rows["gain"] == g)
            ax.plot(rows["depth"][sel], rows["signal_fraction"][sel], marker="o", ms=3, label=f"gain {g:g}")
        ax.axhline(threshold, color="k", lw=0.8, ls=":", label=f"threshold {threshold:g}")
        ax.set_yscale("log")
        ax.set_title(act)
        ax.set_xlabel("depth $L$")
    # one range for the shared axis, from every panel's smallest value: no curve is clipped
    fractions = np.asarray(rows["signal_fraction"], dtype=float)
    axes[0][0].set_ylim(0.5 * min(fractions[fractions > 0].min(initial=threshold), threshold), 1.5)
    axes[0][0].set_ylabel(r"$\eta_0^2/(\eta_0^2+\gamma_0)$")
    axes[0][-1].legend(fontsize=7)
    return _finish(fig)


# ---- panels described as data (Chapters 1-3 and 6-8) ---------------------------------------------
# A figure is a list of panels; a panel a dict of axis settings (xlabel, ylabel, title, xscale,
# yscale, xticks, xlim, ylim, note, legend) with its "series"; a series a dict made by
# :func:`series`, drawn in the look of its ``method`` (a key of :data:`STYLE`), ``style`` overriding.

def series(kind: str, x=None, y=None, se=None, method: str | None = None, label: str | None = None,
           **extra) -> dict:
    """One series of a panel. ``kind``: ``"marks"`` (``y`` +- ``se``), ``"line"``, ``"points"``
    (a cloud), ``"hline"`` (at ``y``), ``"vline"`` (at ``x``), ``"guide"`` (``y (x/x[0])^slope``)
    or ``"hist"`` (density of the values ``x`` over ``bins``, normalised by all of them; filled
    unless ``step=True``; ``weights=`` the weight of each value instead, e.g. a density already
    binned, given at the bin centres)."""
    return dict(kind=kind, x=x, y=y, se=se, method=method, label=label, **extra)


def series_colours(n: int) -> list:
    """Colours of an ordered family of curves (layers, depths, widths): a sequential colour map,
    so that a parameter never takes the colour of a method of :data:`STYLE`."""
    return [plt.cm.viridis(v) for v in np.linspace(0.0, 0.8, n)]


def _draw(ax: Axes, s: dict) -> None:
    base, own = STYLE.get(s["method"], {}), s.get("style", {})
    kind, x, y, label = s["kind"], s["x"], s["y"], s["label"]
    if kind == "marks":
        ax.errorbar(x, y, yerr=s["se"], label=label, **{"ms": 5, "capsize": 3, **base, "ls": "none", **own})
    elif kind in ("line", "hline", "vline"):
        style = {**{k: v for k, v in base.items() if k not in ("marker", "mfc")}, **own}
        if kind == "line":
            ax.plot(x, y, label=label, **{**style, "ls": "-"} if style.get("ls") == "none" else style)
        else:
            (ax.axhline(y, label=label, **style) if kind == "hline" else ax.axvline(x, label=label, **style))
    elif kind == "points":
        ax.plot(x, y, label=label, **{**base, "marker": ".", "ms": 2, "alpha": 0.5, **own, "ls": "none"})
    elif kind == "guide":
        x = np.asarray(x, dtype=float)
        ax.plot(x, y * (x / x[0]) ** s["slope"], label=label, **{**STYLE["guide"], **own})
    elif kind == "hist":
        values, edges = np.asarray(x), np.asarray(s["bins"])
        weights = (np.full(values.size, 1.0 / (values.size * np.diff(edges).mean())) if s.get("weights") is None
                   else np.asarray(s["weights"], dtype=float))
        style = {**{k: v for k, v in base.items() if k in ("color", "ls", "lw")}, **own}
        if s.get("step"):
            ax.hist(values, bins=edges, weights=weights, histtype="step", label=label, **{"lw": 1.5, **style})
        else:
            ax.hist(values, bins=edges, weights=weights, label=label, **{"alpha": 0.35, **style})
    else:
        raise ValueError(f"unknown series kind {kind!r}")


def _plain_log_labels(axis, lo: float, hi: float) -> None:
    """Plain numbers (0.05, 0.1, 0.2) on a log axis spanning at most three decades; minor ticks
    labelled at every mantissa below a factor 2.5, at 2, 3 and 5 below one decade, else at 2 and 5."""
    if hi / lo <= 1e3:
        shown = range(1, 10) if hi / lo < 2.5 else (2, 3, 5) if hi / lo < 10 else (2, 5)
        few = lambda v, _: f"{v:g}" if round(v / 10 ** np.floor(np.log10(v) + 1e-9)) in shown else ""
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(FuncFormatter(few))


def panels_figure(panels: Sequence[dict], ncols: int | None = None, size: tuple[float, float] = (4.3, 3.6),
                  legend: str = "each", sharey: bool = False, legend_columns: int = 4) -> Figure:
    """Draw ``panels`` (see :func:`series`), ``ncols`` per row. ``legend``: ``"each"`` panel with
    labelled series has its own, ``"shared"``: one below the figure, each label once (curves
    that every panel shares). A panel's ``xticks`` on a log axis are written as plain numbers."""
    ncols = ncols or len(panels)
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows + 0.4 * (legend == "shared")),
                             squeeze=False, layout="constrained", sharey=sharey)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax, p in zip(axes.ravel(), panels):
        for s in p["series"]:
            _draw(ax, s)
        ax.set_xscale(p.get("xscale", "linear"))
        ax.set_yscale(p.get("yscale", "linear"))
        for key in ("xlabel", "ylabel", "xlim", "ylim"):
            if key in p:
                getattr(ax, "set_" + key)(p[key])
        if "title" in p:
            ax.set_title(p["title"], fontsize=10)
        if "xticks" in p:
            ax.set_xticks(np.asarray(p["xticks"]), [f"{v:g}" for v in p["xticks"]])
            ax.xaxis.set_minor_formatter(NullFormatter())
        elif p.get("xscale") == "log":
            _plain_log_labels(ax.xaxis, *ax.get_xlim())
        if p.get("yscale") == "log":
            _plain_log_labels(ax.yaxis, *ax.get_ylim())
        if "note" in p:
            ax.add_artist(AnchoredText(p["note"], loc=p.get("note_loc", "lower right"), frameon=False,
                                       prop=dict(fontsize=7)))
        if p.get("aspect"):
            ax.set_aspect(p["aspect"])
        if legend == "each" and p.get("legend", True) and ax.get_legend_handles_labels()[1]:
            ax.legend(fontsize=7, loc=p.get("legend_loc", "best"))
    if legend == "shared":
        _shared_legend(fig, axes, legend_columns)
    return legible(fig)


def _shared_legend(fig: Figure, axes: np.ndarray, columns: int) -> None:
    """One legend below the panels of a constrained-layout figure, each label once."""
    seen: dict = {}
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen), loc="outside lower center", fontsize=8,
               ncol=min(len(seen), columns), frameon=False)


# ---- Chapter 1 --------------------------------------------------------------------------------

def layer_width_figure(rec: dict[str, np.ndarray], fields: Sequence[tuple[str, str, str]],
                       guides: dict[str, tuple[float, str]] | None = None) -> Figure:
    """One panel per ``(field, ylabel, title)`` of Chapter 1's width arrays
    (:func:`deepgep.chapters.ch1_gaussian_equivalence.width_arrays`), one curve per layer (mean +- standard error over seeds, log-log); ``guides[field]``
    = ``(slope, label)``: a power law ``d^slope`` through the layers' first points."""
    guides, depth, panels = guides or {}, rec[fields[0][0]].shape[2], []
    colours = series_colours(depth)
    for field, ylabel, title in fields:
        stats = [mean_and_error(rec[field][:, :, ell]) for ell in range(depth)]
        curves = [series("marks", rec["d"], m, se, label=f"layer $\\ell = {ell + 1}$",
                         style=dict(color=colours[ell], marker="osd^v"[ell % 5], ms=4, ls="-", lw=1))
                  for ell, (m, se) in enumerate(stats)]
        if field in guides:
            y0 = float(np.exp(np.mean([np.log(m[0]) for m, _ in stats])))
            curves.append(series("guide", rec["d"], y0, label=guides[field][1], slope=guides[field][0]))
        panels.append(dict(series=curves, xscale="log", yscale="log", xticks=rec["d"], ylabel=ylabel,
                           title=title, xlabel="width $d$ of every layer ($n = \\alpha d$)"))
    return panels_figure(panels, legend="shared")


def spectra_figure(spectra: dict[str, list[np.ndarray]], labels: dict[str, str], methods: dict[str, str],
                   bins: int = 60, quantile: float = 0.995) -> Figure:
    """Eigenvalue densities, one panel per layer: the first entry of ``spectra`` filled, the others
    as outlines, each in the look of ``methods[key]``. The axis stops at the ``quantile`` of the
    widest spectrum; each panel counts the eigenvalues beyond it (the densities count them too)."""
    keys, panels = list(spectra), []
    for ell in range(len(spectra[keys[0]])):
        top = max(float(np.quantile(ev[ell], quantile)) for ev in spectra.values())
        low = min(0.0, min(float(ev[ell].min()) for ev in spectra.values()))
        edges = np.linspace(low, top, bins + 1)
        beyond = ", ".join(str(int(np.sum(spectra[k][ell] > top))) for k in keys)
        panels.append(dict(series=[series("hist", spectra[k][ell], method=methods[k], label=labels[k], bins=edges,
                                          step=i > 0) for i, k in enumerate(keys)],
                           xlim=(low, top), xlabel="eigenvalue", ylabel="density", title=f"layer $\\ell = {ell + 1}$",
                           note_loc="upper right",
                           note=f"beyond the axis (legend order):\n{beyond} of {spectra[keys[0]][ell].size}"))
    return panels_figure(panels, legend="shared")


def sample_size_figure(records: dict[int, dict[str, np.ndarray]], bounds: dict[int, dict[str, np.ndarray]]) -> Figure:
    """Chapter 1's sample-size arrays (:func:`deepgep.chapters.ch1_gaussian_equivalence.sample_size_arrays`) keyed by width ``d``
    (one colour each). Left: the two relative distances and the shape of the theorem's bound
    (``bounds[d]``, dense: :func:`deepgep.chapters.ch1_gaussian_equivalence.bound_shape_curve`)
    against ``n / d^{3/2}``. Right: the off-diagonal nonlinear kernel over ``eps_1`` against ``n / d^2``."""
    left, right = [], []
    for i, (d, rec) in enumerate(sorted(records.items())):
        c = series_colours(len(records))[i]
        for key, lab, mk in (("kernel_vs_linear", r"$\|K_1-\mathrm{Lin}_1\|/\|\mathrm{Lin}_1\|$", "o"),
                             ("gram_vs_kernel", r"$\|G_1-K_1\|/\|K_1\|$", "s")):
            left.append(series("marks", rec["n"] / d**1.5, *mean_and_error(rec[key]), label=f"{lab}, $d = {d}$",
                               style=dict(color=c, marker=mk, ls="-", lw=0.8)))
        left.append(series("line", bounds[d]["n"] / d**1.5, bounds[d]["rate"], label=f"bound shape, $d = {d}$",
                           style=dict(color=c, ls="--", lw=1.2)))
        right.append(series("marks", rec["n"] / d**2, *mean_and_error(rec["nonlinear_offdiag"]),
                            label=f"off-diagonal / $\\varepsilon_1$, $d = {d}$",
                            style=dict(color=c, marker="o", ls="-", lw=0.8)))
    left.append(series("vline", 1.0, label="$n = d^{3/2}$", style=dict(color="grey", lw=0.8)))
    return panels_figure([
        dict(series=left, xscale="log", yscale="log", xlabel="$n / d^{3/2}$",
             ylabel="relative distance (operator norm)", title="first layer, $n$ growing at fixed $d$"),
        dict(series=right, xscale="log", yscale="log", xlabel="$n / d^{2}$",
             ylabel=r"$\|\mathrm{offdiag}(K_1-\mathrm{Lin}_1)\| / \varepsilon_1$",
             title="off-diagonal nonlinear kernel")], size=(5.2, 3.8), legend="shared", legend_columns=3)


def posterior_figure(summary: pd.DataFrame | Mapping[str, np.ndarray], fits: dict, depths: Sequence[int],
                     alphas: Sequence[float]) -> Figure:
    """Chapter 5: per depth ``L`` (marker) and ``alpha`` (colour), against the input width ``d0``:
    the posterior-mean error minus the GLM's Bayes error (left, with standard errors) and the
    paired gap ridge - posterior with its fit ``limit + slope / d0`` (right). ``summary`` has one
    row per ``(depth, d0, alpha)`` (a DataFrame or a dict of arrays: columns ``depth``, ``d0``,
    ``alpha``, ``posterior_error``, ``posterior_error_se``, ``glm_error``, ``gap``, ``gap_se``);
    ``fits[depth, alpha]`` is a :class:`deepgep.support.fits.Fit` of the form ``limit + slope/d0``."""
    col = {k: np.asarray(summary[k]) for k in ("depth", "d0", "alpha", "posterior_error", "posterior_error_se",
                                               "glm_error", "gap", "gap_se")}
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.2))
    for j, alpha in enumerate(alphas):
        for k, depth in enumerate(depths):
            sel = (col["depth"] == depth) & np.isclose(col["alpha"], alpha)
            d0 = col["d0"][sel] * (1.0 + 0.015 * (2 * k - 1))
            style = dict(color=f"C{j}", marker="os^v"[k % 4], ms=5, capsize=3,
                         mfc="none" if k else None, label=rf"$L = {depth}$, $\alpha = {alpha:g}$")
            axes[0].errorbar(d0, col["posterior_error"][sel] - col["glm_error"][sel],
                             col["posterior_error_se"][sel], ls="-", lw=0.8, **style)
            axes[1].errorbar(d0, col["gap"][sel], col["gap_se"][sel], ls="none", **style)
            fit = fits[depth, alpha].values
            grid = np.linspace(col["d0"][sel].min(), col["d0"][sel].max(), 50)
            axes[1].plot(grid, fit["limit"] + fit["slope"] / grid, color=f"C{j}", lw=0.8, ls="-" if k == 0 else "--")
    for ax in axes:
        ax.axhline(0.0, **STYLE["plateau"])
        ax.set_xlabel("input width $d_0$ (all widths equal)")
    axes[0].set_ylabel(r"$E_{\mathrm{posterior}} - E_{\mathrm{GLM}}$")
    axes[0].set_title("posterior-mean error minus the GLM's exact error, same inputs", fontsize=10)
    axes[1].set_ylabel(r"$E_{\mathrm{ridge}} - E_{\mathrm{posterior}}$ (same instances)")
    axes[1].set_title("paired gap, with its fit $g + c/d_0$", fontsize=10)
    axes[1].legend(fontsize=7, ncol=2)
    return _finish(fig)


def nishimori_figure(overlap_samples: np.ndarray, overlap_teacher: np.ndarray, depth: np.ndarray,
                     depths: Sequence[int]) -> Figure:
    """Chapter 5: the teacher-sample against the sample-sample overlap, one point per instance,
    one marker per depth, with the diagonal of the Nishimori identity."""
    fig, ax = plt.subplots(figsize=(4.6, 4.6))
    for k, d in enumerate(depths):
        sel = depth == d
        ax.plot(overlap_samples[sel], overlap_teacher[sel], "os"[k % 2], ms=4, mfc="none", color=f"C{k}",
                label=f"L = {d}")
    lim = [0.0, 1.05 * max(np.max(overlap_teacher), np.max(overlap_samples))]
    ax.plot(lim, lim, color="gray", lw=0.8, label="identity")
    ax.set(xlabel=r"sample-sample overlap $\bar f_1 \bar f_2$", ylabel=r"teacher-sample overlap $\langle f\rangle f^\star$",
           title="Nishimori identity, one point per instance")
    ax.legend(fontsize=8)
    return _finish(fig)

"""Tests of deepgep.support.plotting: the figures' text is legible at the page's column width, and
no curve of the shared-axis figures is clipped."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from deepgep.support.plotting import (COLUMN_PX, MIN_TEXT_PX, depth_figure, finite_size_figure,  # noqa: E402
                                      legible, panels_figure, series)


def _shown_px(fig, size_pt: float) -> float:
    """The size on the page, in CSS pixels, of text of ``size_pt`` points in ``fig``."""
    shrink = min(1.0, COLUMN_PX / (fig.get_figwidth() * fig.dpi))
    return size_pt * fig.dpi / 72.0 * shrink


def _texts(fig) -> list[Text]:
    fig.canvas.draw()  # creates the tick labels
    return [t for t in fig.findobj(Text) if t.get_text()]


@pytest.mark.parametrize("width", [4.0, 8.0, 16.0])
def test_every_text_is_at_least_the_smallest_size_on_the_page(width):
    fig, axes = plt.subplots(1, 3, figsize=(width, 3.0))
    for ax in axes:
        ax.plot([1, 2, 3], [1, 4, 9], label="a curve")
        ax.set_title("title", fontsize=6)
        ax.legend(fontsize=5)
        ax.set_xlabel("x")
    legible(fig)
    sizes = [_shown_px(fig, t.get_fontsize()) for t in _texts(fig)]
    assert min(sizes) >= MIN_TEXT_PX - 1e-9
    plt.close(fig)


def test_text_larger_than_the_smallest_size_is_left_alone():
    fig, ax = plt.subplots(figsize=(5.0, 3.0))  # narrower than the column: shown unshrunk
    ax.set_title("big", fontsize=20)
    legible(fig)
    assert ax.title.get_fontsize() == 20
    plt.close(fig)


def test_shared_legend_figures_pass_through_legible():
    panels = [dict(series=[series("line", np.arange(3.0), np.arange(3.0), method="theory", label="theory")],
                   title=f"panel {k}") for k in range(4)]
    fig = panels_figure(panels, legend="shared")
    assert len(fig.legends) == 1
    assert min(_shown_px(fig, t.get_fontsize()) for t in _texts(fig)) >= MIN_TEXT_PX - 1e-9
    plt.close(fig)


def test_finite_size_figure_has_one_legend_below_its_panels():
    d0 = np.array([8.0, 16.0, 32.0])
    s = dict(d0=d0, deviation=np.array([0.1, 0.05, 0.02]), se=np.full(3, 0.01), limit=0.0, slope=0.8,
             method="ridge", label="ridge")
    fig = finite_size_figure([dict(title="a", series=[s]), dict(title="b", series=[s])])
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["ridge"]
    plt.close(fig)


def test_depth_figure_clips_no_curve_on_its_shared_axis():
    depth = np.tile(np.arange(1, 5), 2)
    rows = {"activation": np.array(["tanh"] * 4 + ["sin"] * 4), "gain": np.ones(8), "depth": depth,
            "signal_fraction": np.array([0.9, 0.8, 0.7, 0.6, 0.5, 1e-3, 1e-6, 1e-9])}
    fig = depth_figure(rows, threshold=0.05)
    for ax in fig.axes:
        lo, hi = ax.get_ylim()
        assert lo <= 1e-9 and hi >= 0.9
    plt.close(fig)

"""Figure helpers: data in, matplotlib Figure out; what is drawn is checked, not just that it runs."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from stprompt.reports.viz import motion_windows_figure, window_average_map, zero_shot_figure


def test_window_average_map_averages_overlapping_windows():
    boxes = np.array([[0, 0, 2, 2], [1, 0, 3, 2]])
    m = window_average_map([1.0, 3.0], boxes, 3, 4)
    # column 0: window 0 only; column 1: both (mean 2); column 2: window 1; column 3 and row 2: none
    np.testing.assert_array_equal(m[:2, :3], [[1, 2, 3], [1, 2, 3]])
    assert np.isnan(m[:, 3]).all() and np.isnan(m[2]).all()


def test_motion_windows_figure_highlights_top_k_and_gt():
    frame = np.zeros((12, 16, 3), np.uint8)
    boxes = np.array([[0, 0, 8, 6], [8, 0, 16, 6], [0, 6, 8, 12], [8, 6, 16, 12]])
    sample = {"frame": frame, "boxes": boxes, "motion": np.array([0.1, 0.5, 0.9, 0.2]),
              "gt_box": np.array([1, 7, 6, 11]), "title": "t"}
    fig = motion_windows_figure([sample, sample], k=2)
    assert isinstance(fig, Figure)
    left = fig.axes[0]
    orange = [p for p in left.patches if p.get_edgecolor()[:3] == (1.0, 0.6470588235294118, 0.0)]
    assert sorted((p.get_x() + 0.5, p.get_y() + 0.5) for p in orange) == [(0, 6), (8, 0)]  # windows 2, 1
    assert any(p.get_linestyle() == "--" for p in left.patches)  # the ground-truth box


def test_zero_shot_figure_colours_titles_by_correctness():
    imgs = [np.zeros((8, 8, 3), np.uint8)] * 2
    fig = zero_shot_figure(imgs, ["fire", "grass"], [[("fire", 0.9)], [("road", 0.6), ("grass", 0.3)]], ncols=2)
    titles = [ax.title for ax in fig.axes[:2]]
    assert [t.get_text() for t in titles] == ["true: fire", "true: grass"]
    assert [t.get_color() for t in titles] == ["green", "red"]

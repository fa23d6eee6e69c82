"""Feature geometry, the motion prior, and feature files (recipes, resumption, corruption)."""

from __future__ import annotations

import numpy as np
import pytest

from stprompt.features import (FeatureConfig, motion_prior, sample_indices, snippet_bounds,
                               ten_crops, window_boxes, window_sums)


def test_window_grid_spreads_evenly_and_covers_the_frame():
    boxes = window_boxes(120, 160, (3, 4), (48, 48))
    assert boxes.shape == (12, 4)
    # rows start at 0, 36, 72 (= 120 - 48); columns at 0, 37, 75, 112 (= 160 - 48), rounded linspace
    assert sorted(set(boxes[:, 1])) == [0, 36, 72]
    assert sorted(set(boxes[:, 0])) == [0, 37, 75, 112]
    assert (boxes[:, 2] - boxes[:, 0] == 48).all() and (boxes[:, 3] - boxes[:, 1] == 48).all()
    assert boxes[:, 2].max() == 160 and boxes[:, 3].max() == 120
    # row-major: window 4 is the first of the second row
    assert tuple(boxes[4]) == (0, 36, 48, 84)


def test_window_grid_with_stride_and_errors():
    boxes = window_boxes(120, 160, (2, 3), (60, 60), stride=(60, 50))
    assert sorted(set(boxes[:, 0])) == [0, 50, 100] and sorted(set(boxes[:, 1])) == [0, 60]
    with pytest.raises(ValueError, match="fits 3 windows of 60 px along the width.*grid asks for 4"):
        window_boxes(120, 160, (2, 4), (60, 60), stride=(60, 50))
    with pytest.raises(ValueError, match="larger than the 120x160 frame"):
        window_boxes(120, 160, (1, 1), (130, 60))


def test_snippets_and_frame_choice():
    assert snippet_bounds(40, 16).tolist() == [[0, 16], [16, 32], [32, 40]]
    assert sample_indices(0, 16, "mid", 4) == [7]
    assert sample_indices(32, 40, "mid", 4) == [35]  # middle of the partial snippet
    assert sample_indices(0, 16, "mean", 4) == [0, 5, 10, 15]
    assert sample_indices(32, 34, "mean", 4) == [32, 33]


def test_window_sums_match_direct_sums():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 20, 30))
    boxes = np.array([[0, 0, 30, 20], [5, 2, 9, 11], [29, 19, 30, 20]])
    direct = np.stack([[m[y1:y2, x1:x2].sum() for x1, y1, x2, y2 in boxes] for m in maps])
    np.testing.assert_allclose(window_sums(maps, boxes), direct, rtol=1e-10)


def test_motion_prior_zero_when_static_and_peaks_on_a_moving_square():
    static = np.full((32, 60, 80, 3), 90, np.uint8)
    boxes = window_boxes(60, 80, (2, 2), (30, 40))
    assert np.abs(motion_prior(static, boxes)).max() == 0.0

    frames = static.copy()
    for t in range(32):  # a white 6x6 square moving right by 1 px per frame inside window 3
        x = 45 + t // 2
        frames[t, 38:44, x:x + 6] = 255
    prior = motion_prior(frames, boxes)
    assert prior.shape == (2, 4)
    assert (prior.argmax(1) == 3).all() and (prior[:, :3] == 0).all()
    # Hand check of one value: the square moves 1 px every other frame, so for "next" differences
    # half the frames change 2 columns x 6 rows = 12 pixels by (255-90)/255 in all 3 channels:
    # L2 = sqrt(12 * 3 * (165/255)^2) for those frames and 0 for the others.
    moving = np.sqrt(12 * 3 * (165 / 255) ** 2)
    assert prior[0, 3] == pytest.approx(moving / 2, rel=1e-5)


def test_ten_crops_geometry():
    frames = np.arange(2 * 8 * 10 * 3, dtype=np.uint8).reshape(2, 8, 10, 3)
    crops = ten_crops(frames, 0.5)  # side = 4
    assert crops.shape == (10, 2, 4, 4, 3)
    np.testing.assert_array_equal(crops[0], frames[:, 0:4, 0:4])
    np.testing.assert_array_equal(crops[3], frames[:, 4:8, 6:10])
    np.testing.assert_array_equal(crops[5], frames[:, 0:4, 0:4][:, :, ::-1])


def test_feature_config_rejects_bad_values():
    with pytest.raises(ValueError, match="test_crop"):
        FeatureConfig(test_crop="centre")
    with pytest.raises(ValueError, match="grid"):
        FeatureConfig(grid=(0, 3))

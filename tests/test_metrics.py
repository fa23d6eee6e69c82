"""Tests of stprompt.metrics: against scikit-learn on random data, and small cases whose answers
are derived by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from stprompt.metrics import (
    UndefinedMetricError,
    anomaly_only_auc,
    average_precision,
    box_iou,
    detection_report,
    expand_snippet_scores,
    false_alarm_rate,
    frame_auc,
    frame_auc_macro,
    frame_auc_per_video,
    per_class_auc,
    pixel_auc,
    rbdc_tbdc,
    tiou,
    tiou_per_video,
)


def random_videos(seed: int = 0, n_videos: int = 7):
    """Per-video scores/labels of random lengths; videos 0 and 1 are normal (all-0 labels)."""
    rng = np.random.default_rng(seed)
    scores, labels = {}, {}
    for i in range(n_videos):
        n = int(rng.integers(20, 80))
        y = np.zeros(n, dtype=int)
        if i >= 2:
            start = int(rng.integers(0, n - 5))
            y[start:start + int(rng.integers(3, n - start))] = 1
        scores[f"v{i}"] = np.clip(0.4 * y + rng.random(n) * 0.8, 0, 1)
        labels[f"v{i}"] = y
    return scores, labels


# ---------------------------------------------------------------------------------------------
# expand_snippet_scores
# ---------------------------------------------------------------------------------------------

def test_expand_snippet_scores_last_partial_snippet_is_cut():
    # 40 frames -> ceil(40/16) = 3 snippets: frames 0-15, 16-31 and the partial 32-39 (8 frames).
    out = expand_snippet_scores([0.1, 0.5, 0.9], n_frames=40)
    assert out.shape == (40,)
    np.testing.assert_array_equal(out[:16], 0.1)
    np.testing.assert_array_equal(out[16:32], 0.5)
    np.testing.assert_array_equal(out[32:], 0.9)


def test_expand_snippet_scores_exact_and_one_frame_tail():
    np.testing.assert_array_equal(expand_snippet_scores([1.0, 2.0, 3.0], 48),
                                  np.repeat([1.0, 2.0, 3.0], 16))
    # 33 frames -> 3 snippets, the last one covers a single frame.
    out = expand_snippet_scores([1.0, 2.0, 3.0], 33)
    assert len(out) == 33 and out[-1] == 3.0 and out[-2] == 2.0
    # snippet_len is a parameter: 5 frames with L=2 -> 3 snippets [a a b b c].
    np.testing.assert_array_equal(expand_snippet_scores([7, 8, 9], 5, snippet_len=2),
                                  [7, 7, 8, 8, 9])


@pytest.mark.parametrize("n_frames", [32, 49, 16])
def test_expand_snippet_scores_rejects_wrong_snippet_count(n_frames):
    # 32 and 16 frames need 2 and 1 snippets, 49 frames need 4; 3 were given.
    with pytest.raises(ValueError, match=r"need ceil\(.*got 3"):
        expand_snippet_scores([0.1, 0.5, 0.9], n_frames)


def test_expand_snippet_scores_rejects_bad_input():
    with pytest.raises(ValueError, match="finite"):
        expand_snippet_scores([0.1, np.nan], 20)
    with pytest.raises(ValueError, match="1-D"):
        expand_snippet_scores([[0.1, 0.2]], 20)
    with pytest.raises(ValueError, match="n_frames"):
        expand_snippet_scores([0.1], 0)
    with pytest.raises(ValueError, match="snippet_len"):
        expand_snippet_scores([0.1], 10, snippet_len=0)


# ---------------------------------------------------------------------------------------------
# Frame AUC, AP against scikit-learn
# ---------------------------------------------------------------------------------------------

def test_frame_auc_equals_sklearn_on_concatenation():
    scores, labels = random_videos()
    expected = roc_auc_score(np.concatenate(list(labels.values())),
                             np.concatenate(list(scores.values())))
    assert frame_auc(scores, labels) == pytest.approx(expected, abs=1e-12)
    # Lists are per-video too (positions are the ids) and give the same number.
    assert frame_auc(list(scores.values()), list(labels.values())) == pytest.approx(expected)
    assert 0.5 < expected < 1.0  # the random fixture is informative but not perfect


def test_frame_auc_pairs_videos_by_id_not_by_order():
    scores, labels = random_videos()
    reversed_labels = dict(reversed(list(labels.items())))
    assert frame_auc(scores, reversed_labels) == pytest.approx(frame_auc(scores, labels))


def test_average_precision_sklearn_estimator_equals_sklearn():
    scores, labels = random_videos(seed=3)
    y = np.concatenate(list(labels.values()))
    s = np.concatenate(list(scores.values()))
    assert average_precision(scores, labels) == pytest.approx(average_precision_score(y, s))


def test_average_precision_estimators_hand_case():
    # Frames sorted by score: 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg); 2 positives.
    # Operating points (recall, precision): t=0.9 (0.5, 1), t=0.8 (0.5, 1/2), t=0.7 (1, 2/3);
    # sklearn's curve stops at full recall and adds (0, 1).
    # Step sum (sklearn): 0.5*1 + 0.5*(2/3) = 5/6.
    # Trapezoid over (0,1) (0.5,1) (0.5,0.5) (1,2/3): 0.5*(1+1)/2 + 0 + 0.5*(0.5+2/3)/2
    #   = 0.5 + 7/24 = 19/24.
    scores = {"a": [0.9, 0.8], "b": [0.7, 0.1]}
    labels = {"a": [1, 0], "b": [1, 0]}
    assert average_precision(scores, labels, estimator="sklearn") == pytest.approx(5 / 6)
    assert average_precision(scores, labels, estimator="trapezoid") == pytest.approx(19 / 24)
    with pytest.raises(ValueError, match="estimator"):
        average_precision(scores, labels, estimator="11-point")


# ---------------------------------------------------------------------------------------------
# Macro AUC (UBnormal padding), FAR, per-class, anomalous-only
# ---------------------------------------------------------------------------------------------

MACRO_SCORES = {"A": [0.1, 0.4, 0.35, 0.8], "B": [0.2, 0.6, 0.9]}
MACRO_LABELS = {"A": [0, 0, 1, 1], "B": [0, 0, 0]}


def test_macro_auc_pads_every_video_by_default():
    # pad="all": A becomes labels [0,0,0,1,1,1], scores [0,.1,.4,.35,.8,1].
    #   negatives {0,.1,.4}, positives {.35,.8,1}: .35 beats 2, .8 beats 3, 1 beats 3 -> 8/9.
    # B becomes labels [0,0,0,0,1], scores [0,.2,.6,.9,1]: the added 1 beats all 4 -> 1.
    # macro = (8/9 + 1) / 2 = 17/18.
    per_video = frame_auc_per_video(MACRO_SCORES, MACRO_LABELS)
    assert per_video["A"] == pytest.approx(8 / 9)
    assert per_video["B"] == pytest.approx(1.0)
    assert frame_auc_macro(MACRO_SCORES, MACRO_LABELS) == pytest.approx(17 / 18)


def test_macro_auc_pads_only_single_class_videos_on_request():
    # pad="single_class": A is left alone: positives {.35,.8}, negatives {.1,.4}:
    #   .35 beats .1 (1), .8 beats both (2) -> 3/4. B is padded -> 1. macro = 7/8.
    assert frame_auc_macro(MACRO_SCORES, MACRO_LABELS, pad="single_class") == pytest.approx(7 / 8)


def test_macro_auc_padding_ties_with_a_normal_frame_scored_one():
    # Normal video with scores [0, 1]: padded labels [0,0,0,1], scores [0,0,1,1]. The added
    # positive (1) beats the two 0s and ties the 1 (counts 1/2) -> (1 + 1 + 0.5) / 3 = 5/6.
    assert frame_auc_per_video({"n": [0.0, 1.0]}, {"n": [0, 0]})["n"] == pytest.approx(5 / 6)


def test_macro_auc_padding_needs_scores_in_unit_interval():
    with pytest.raises(UndefinedMetricError, match=r"\[0, 1\]"):
        frame_auc_macro({"v": [0.2, 1.5]}, {"v": [0, 1]})


def test_false_alarm_rate_counts_frames_of_normal_videos_only():
    # Normal videos n1, n2 have 6 frames; scores >= 0.5: 0.5 (equality counts), 0.7, 0.9 -> 3/6.
    # The anomalous video's normal frame (0.9, label 0) is not a normal-video frame.
    scores = {"n1": [0.2, 0.5, 0.7, 0.4], "n2": [0.1, 0.9], "a": [0.9, 0.9]}
    labels = {"n1": [0, 0, 0, 0], "n2": [0, 0], "a": [0, 1]}
    assert false_alarm_rate(scores, labels) == pytest.approx(3 / 6)
    assert false_alarm_rate(scores, labels, threshold=0.6) == pytest.approx(2 / 6)
    with pytest.raises(UndefinedMetricError, match="no normal video"):
        false_alarm_rate({"a": [0.9, 0.9]}, {"a": [0, 1]})


CLASS_SCORES = {"a1": [0.3, 0.6], "r1": [0.7, 0.2], "n1": [0.4, 0.5]}
CLASS_LABELS = {"a1": [0, 1], "r1": [0, 1], "n1": [0, 0]}
CLASSES = {"a1": "Abuse", "r1": "Arson", "n1": "normal"}


def test_per_class_auc_uses_class_videos_plus_all_normal_videos():
    # Abuse pool = a1 + n1: positive {.6}, negatives {.3,.4,.5} -> 1.
    # Arson pool = r1 + n1: positive {.2}, negatives {.7,.4,.5} -> 0.
    out = per_class_auc(CLASS_SCORES, CLASS_LABELS, CLASSES)
    assert list(out) == ["Abuse", "Arson"]
    assert out["Abuse"] == pytest.approx(1.0)
    assert out["Arson"] == pytest.approx(0.0)


def test_micro_and_anomalous_only_auc_hand_case():
    # Micro: positives {.6,.2}, negatives {.3,.7,.4,.5}: .6 beats .3,.4,.5 (3), .2 beats none
    #   -> 3/8.
    # Anomalous videos only (a1, r1): positives {.6,.2}, negatives {.3,.7}: .6 beats .3 -> 1/4.
    assert frame_auc(CLASS_SCORES, CLASS_LABELS) == pytest.approx(3 / 8)
    assert anomaly_only_auc(CLASS_SCORES, CLASS_LABELS) == pytest.approx(1 / 4)


def test_per_class_auc_rejects_normal_video_with_anomalous_frames_and_warns_on_empty_class():
    with pytest.raises(ValueError, match="'n1' has class 'normal' but 1 anomalous"):
        per_class_auc(CLASS_SCORES, {**CLASS_LABELS, "n1": [0, 1]}, CLASSES)
    # A class whose videos have no anomalous frame and no normal video to pool with: NaN.
    with pytest.warns(RuntimeWarning, match="Ghost"):
        out = per_class_auc({"g": [0.1, 0.2], "a1": [0.3, 0.6]}, {"g": [0, 0], "a1": [0, 1]},
                            {"g": "Ghost", "a1": "Abuse"})
    assert math.isnan(out["Ghost"]) and out["Abuse"] == pytest.approx(1.0)


def test_detection_report_bundles_the_hand_numbers():
    report = detection_report(CLASS_SCORES, CLASS_LABELS, CLASSES, far_threshold=0.45)
    assert report["auc_micro"] == pytest.approx(3 / 8)
    assert report["auc_anomalous_videos"] == pytest.approx(1 / 4)
    assert report["auc_per_class"] == {"Abuse": pytest.approx(1.0), "Arson": pytest.approx(0.0)}
    # n1 scores {.4, .5}: one of two >= 0.45.
    assert report["false_alarm_rate"] == pytest.approx(0.5)
    assert report["ap_sklearn"] == pytest.approx(average_precision(CLASS_SCORES, CLASS_LABELS))
    assert (report["n_videos"], report["n_frames"], report["n_anomalous_frames"]) == (3, 6, 2)


def test_detection_report_nan_with_warning_when_a_metric_is_undefined():
    # Every video anomalous: the false-alarm rate has no normal video to count on.
    with pytest.warns(RuntimeWarning, match="no normal video"):
        report = detection_report({"a": [0.1, 0.9]}, {"a": [0, 1]})
    assert math.isnan(report["false_alarm_rate"])
    assert report["auc_micro"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------------

def test_length_mismatch_names_video_and_both_lengths():
    with pytest.raises(ValueError, match=r"video 'v2': scores has 5 frames but labels has 4"):
        frame_auc({"v1": [0.1, 0.9], "v2": [0.1] * 5}, {"v1": [0, 1], "v2": [0] * 4})


def test_nan_score_is_rejected_with_the_video():
    with pytest.raises(ValueError, match=r"scores_by_video\['v1'\].*finite.*index 1"):
        frame_auc({"v1": [0.1, np.nan]}, {"v1": [0, 1]})


def test_mismatched_video_ids_and_bad_labels_are_rejected():
    with pytest.raises(ValueError, match=r"missing from labels_by_video: \['v2'\]"):
        frame_auc({"v1": [0.1, 0.9], "v2": [0.3]}, {"v1": [0, 1]})
    with pytest.raises(ValueError, match="0/1"):
        frame_auc({"v1": [0.1, 0.9]}, {"v1": [0, 2]})


def test_one_concatenated_array_is_refused():
    with pytest.raises(ValueError, match="per-video"):
        frame_auc(np.array([0.1, 0.9]), np.array([0, 1]))


def test_single_class_auc_is_an_undefined_metric_error():
    with pytest.raises(UndefinedMetricError, match="all 3 frames are normal"):
        frame_auc({"v": [0.1, 0.2, 0.3]}, {"v": [0, 0, 0]})
    assert issubclass(UndefinedMetricError, ValueError)


# ---------------------------------------------------------------------------------------------
# Boxes and TIoU
# ---------------------------------------------------------------------------------------------

def test_box_iou_elementwise_and_pairwise():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30]], dtype=float)
    # Overlap 5x10 = 50, union 100 + 100 - 50 = 150 -> 1/3; identical -> 1; disjoint -> 0.
    np.testing.assert_allclose(box_iou(a, b), [1 / 3, 1.0, 0.0])
    pair = box_iou(a[:1, None], b[None])
    assert pair.shape == (1, 3)
    np.testing.assert_allclose(pair[0], [1 / 3, 1.0, 0.0])
    # Inclusive pixels: [0,0,9,9] and [5,0,14,9] are 10x10 boxes overlapping 5x10 -> 1/3.
    assert box_iou([0, 0, 9, 9], [5, 0, 14, 9], pixel_inclusive=True) == pytest.approx(1 / 3)
    assert box_iou([0, 0, 9, 9], [5, 0, 14, 9]) == pytest.approx(36 / 126)  # 4x9 / (81+81-36)
    assert np.isnan(box_iou([np.nan] * 4, [0, 0, 1, 1]))
    with pytest.raises(ValueError, match="x2 >= x1"):
        box_iou([10, 0, 0, 10], [0, 0, 1, 1])


TIOU_GT = {"v1": [[0, 0, 10, 10]] * 4, "v2": [[0, 0, 4, 4]] * 2}
TIOU_PRED = {
    "v1": [[0, 0, 10, 10],        # IoU 1
           [5, 0, 15, 10],        # IoU 50/150 = 1/3
           [0, 0, 10, 5],         # IoU 50/100 = 1/2, but its score 0.3 < 0.5 zeroes it
           [np.nan] * 4],         # no prediction -> 0 (even with score 0.95)
    "v2": [[2, 2, 6, 6],          # overlap 2x2 = 4, union 16 + 16 - 4 = 28 -> 1/7
           [0, 0, 4, 4]],         # IoU 1, score exactly at the threshold counts
}
TIOU_SCORES = {"v1": [0.9, 0.8, 0.3, 0.95], "v2": [0.6, 0.5]}


def test_tiou_hand_case_pooled_over_annotated_frames():
    # Terms: v1 -> 1, 1/3, 0, 0 ; v2 -> 1/7, 1. Pooled over the 6 frames:
    # (2 + 1/3 + 1/7) / 6 = (52/21) / 6 = 26/63.
    assert tiou(TIOU_PRED, TIOU_GT, TIOU_SCORES, threshold=0.5) == pytest.approx(26 / 63)


def test_tiou_per_video_hand_case():
    # v1: (1 + 1/3) / 4 = 1/3 ; v2: (1/7 + 1) / 2 = 4/7. Their mean 19/42 differs from 26/63.
    out = tiou_per_video(TIOU_PRED, TIOU_GT, TIOU_SCORES, threshold=0.5)
    assert out["v1"] == pytest.approx(1 / 3)
    assert out["v2"] == pytest.approx(4 / 7)


def test_tiou_threshold_zero_keeps_every_frame():
    # With threshold 0 frame 3 of v1 counts its IoU 1/2: (2 + 1/3 + 1/2 + 1/7) / 6.
    expected = (2 + 1 / 3 + 1 / 2 + 1 / 7) / 6
    assert tiou(TIOU_PRED, TIOU_GT, TIOU_SCORES, threshold=0.0) == pytest.approx(expected)


def test_tiou_validates_lengths_and_nan_ground_truth():
    with pytest.raises(ValueError, match=r"video 'v2': gt_boxes has 2 frames but frame_scores "
                                         r"has 1"):
        tiou(TIOU_PRED, TIOU_GT, {**TIOU_SCORES, "v2": [0.6]}, threshold=0.5)
    with pytest.raises(ValueError, match="finite"):
        tiou(TIOU_PRED, {**TIOU_GT, "v2": [[0, 0, 4, 4], [np.nan] * 4]}, TIOU_SCORES, 0.5)


# ---------------------------------------------------------------------------------------------
# RBDC / TBDC
# ---------------------------------------------------------------------------------------------
# Video "v" (6 frames) holds two gt tracks; video "n" (4 frames) is normal: 10 frames in all.
#   track 0: frames 0, 1, box [0,0,10,10]          (2 regions)
#   track 1: frames 2, 3, 4, 5, box [20,20,30,30]  (4 regions)
# Predictions (box, score):
#   v f0 ([0,0,10,10], .9)   IoU 1 with region (0,f0)            -> detects it at .9
#   v f0 ([1,1,10,10], .3)   IoU 81/100 with the same region      -> duplicate: no TP, no FP
#   v f1 ([50,50,60,60], .8) no overlap                          -> FP
#   v f2 ([20,20,30,30], .7) IoU 1                               -> detects (1,f2) at .7
#   v f3 ([21,21,31,31], .45) overlap 9x9 = 81, union 119 -> .68 -> detects (1,f3) at .45
#   v f4 ([25,25,40,40], .4) overlap 5x5 = 25, union 100+225-25 = 300 -> 1/12 < 0.1 -> FP
#   n f0 ([0,0,5,5], .5)     no gt in a normal video             -> FP
# Sweep (threshold: FP/frame, RBDR, TBDR with fraction .1, TBDR with fraction .5):
#   +inf: 0   0    0    0
#   .9  : 0   1/6  1/2  1/2   (track 0 has 1/2 of its regions)
#   .8  : .1  1/6  1/2  1/2
#   .7  : .1  2/6  1    1/2   (track 1 has 1/4: >= .1 but < .5)
#   .5  : .2  2/6  1    1/2
#   .45 : .2  3/6  1    1     (track 1 has 2/4)
#   .4  : .3  3/6  1    1
#   .3  : .3  3/6  1    1
# then flat to FP/frame = 1.
# RBDC = .1*1/6 + .1*2/6 + .1*1/2 + .7*1/2 = 1/60 + 2/60 + .05 + .35 = .45
# TBDC (fraction .1) = .1*1/2 + .9*1 = .95
# TBDC (fraction .5) = .2*1/2 + .8*1 = .9

RB_GT_REGIONS = {"v": {0: [[0, 0, 10, 10]], 1: [[0, 0, 10, 10]], 2: [[20, 20, 30, 30]],
                       3: [[20, 20, 30, 30]], 4: [[20, 20, 30, 30]], 5: [[20, 20, 30, 30]]}}
RB_GT_TRACKS = {"v": {0: [0], 1: [0], 2: [1], 3: [1], 4: [1], 5: [1]}}
RB_PRED = {
    "v": {0: [([0, 0, 10, 10], 0.9), ([1, 1, 10, 10], 0.3)],
          1: [([50, 50, 60, 60], 0.8)],
          2: [([20, 20, 30, 30], 0.7)],
          3: [([21, 21, 31, 31], 0.45)],
          4: [([25, 25, 40, 40], 0.4)]},
    "n": {0: [([0, 0, 5, 5], 0.5)]},
}
RB_FRAMES = {"v": 6, "n": 4}


def test_rbdc_tbdc_curves_match_the_hand_sweep():
    out = rbdc_tbdc(RB_PRED, RB_GT_REGIONS, RB_GT_TRACKS, RB_FRAMES)
    np.testing.assert_allclose(out.thresholds, [np.inf, .9, .8, .7, .5, .45, .4, .3])
    np.testing.assert_allclose(out.false_positives_per_frame, [0, 0, .1, .1, .2, .2, .3, .3])
    np.testing.assert_allclose(out.region_detection_rate,
                               np.array([0, 1, 1, 2, 2, 3, 3, 3]) / 6)
    np.testing.assert_allclose(out.track_detection_rate, [0, .5, .5, 1, 1, 1, 1, 1])
    assert (out.n_regions, out.n_tracks, out.n_frames) == (6, 2, 10)


def test_rbdc_tbdc_areas_match_the_hand_sweep():
    out = rbdc_tbdc(RB_PRED, RB_GT_REGIONS, RB_GT_TRACKS, RB_FRAMES)
    assert out.rbdc == pytest.approx(0.45)
    assert out.tbdc == pytest.approx(0.95)
    half = rbdc_tbdc(RB_PRED, RB_GT_REGIONS, RB_GT_TRACKS, RB_FRAMES, track_fraction=0.5)
    np.testing.assert_allclose(half.track_detection_rate, [0, .5, .5, .5, .5, 1, 1, 1])
    assert half.tbdc == pytest.approx(0.9)
    assert half.rbdc == pytest.approx(0.45)  # the region criterion does not use the fraction


def test_rbdc_iou_threshold_is_a_parameter():
    # At IoU >= 0.05 the f4 prediction (IoU 1/12) detects region (1,f4) at .4 instead of being a
    # FP: FP/frame ends at .2 and RBDR at 4/6. RBDC = .1*1/6 + .1*2/6 + .8*4/6 = .05 + 3.2/6.
    out = rbdc_tbdc(RB_PRED, RB_GT_REGIONS, RB_GT_TRACKS, RB_FRAMES, iou_threshold=0.05)
    assert out.false_positives_per_frame[-1] == pytest.approx(0.2)
    assert out.region_detection_rate[-1] == pytest.approx(4 / 6)
    assert out.rbdc == pytest.approx(0.05 + 3.2 / 6)


def test_rbdc_max_fpr_drops_points_beyond_and_extends_flat():
    # max_fpr = .15 keeps the points up to threshold .7 ((.1, 2/6) last), extends flat to .15:
    # area = .1*1/6 + .05*2/6 = 2/60, normalised by .15 -> 2/9.
    out = rbdc_tbdc(RB_PRED, RB_GT_REGIONS, RB_GT_TRACKS, RB_FRAMES, max_fpr=0.15)
    assert out.rbdc == pytest.approx(2 / 9)


def test_rbdc_without_predictions_is_zero():
    out = rbdc_tbdc({}, RB_GT_REGIONS, RB_GT_TRACKS, RB_FRAMES)
    assert (out.rbdc, out.tbdc) == (0.0, 0.0)


def test_rbdc_tbdc_validates_inputs():
    with pytest.raises(ValueError, match=r"frame 7 is not an index in \[0, 4\)"):
        rbdc_tbdc({"n": {7: [([0, 0, 1, 1], 0.5)]}}, RB_GT_REGIONS, RB_GT_TRACKS, RB_FRAMES)
    with pytest.raises(ValueError, match="not in n_frames"):
        rbdc_tbdc({"x": {0: [([0, 0, 1, 1], 0.5)]}}, RB_GT_REGIONS, RB_GT_TRACKS, RB_FRAMES)
    with pytest.raises(ValueError, match="1 gt boxes but 2 track ids"):
        rbdc_tbdc(RB_PRED, RB_GT_REGIONS, {"v": {**RB_GT_TRACKS["v"], 0: [0, 1]}}, RB_FRAMES)
    with pytest.raises(UndefinedMetricError, match="no ground-truth region"):
        rbdc_tbdc(RB_PRED, {}, {}, RB_FRAMES)


# ---------------------------------------------------------------------------------------------
# Pixel AUC
# ---------------------------------------------------------------------------------------------

def test_pixel_auc_hand_case_and_frame_selection():
    # Frame 0: mask has one anomalous pixel (score .9); frame 1 is normal.
    heat = {"v": np.array([[[0.9, 0.2], [0.1, 0.3]],
                           [[0.95, 0.0], [0.0, 0.0]]])}
    mask = {"v": np.array([[[1, 0], [0, 0]],
                           [[0, 0], [0, 0]]])}
    # All frames: positive .9 vs 7 negatives {.2,.1,.3,.95,0,0,0}: beats 6 -> 6/7.
    assert pixel_auc(heat, mask) == pytest.approx(6 / 7)
    # Anomalous frames only (frame 0): .9 beats {.2,.1,.3} -> 1.
    assert pixel_auc(heat, mask, frames="anomalous") == pytest.approx(1.0)


def test_pixel_auc_equals_sklearn_on_random_frames():
    rng = np.random.default_rng(5)
    heat = {f"v{i}": rng.random((3, 8, 6)) for i in range(3)}
    mask = {k: (h + rng.normal(0, 0.3, h.shape)) > 0.8 for k, h in heat.items()}
    y = np.concatenate([m.ravel() for m in mask.values()])
    s = np.concatenate([h.ravel() for h in heat.values()])
    assert pixel_auc(heat, mask) == pytest.approx(roc_auc_score(y, s))
    with pytest.raises(ValueError, match=r"video 'v1': heatmaps has shape \(3, 8, 6\) but masks"):
        pixel_auc(heat, {**mask, "v1": mask["v1"][:2]})


def test_pixel_auc_equals_sklearn_with_many_ties_across_videos():
    # heat maps are window scores painted on the frame: few distinct values, shared across videos
    rng = np.random.default_rng(6)
    levels = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    heat = {f"v{i}": levels[rng.integers(0, 5, (4, 10, 12))] for i in range(4)}
    mask = {k: (h + rng.normal(0, 0.4, h.shape)) > 0.7 for k, h in heat.items()}
    y = np.concatenate([m.ravel() for m in mask.values()])
    s = np.concatenate([h.ravel() for h in heat.values()])
    assert pixel_auc(heat, mask) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_unique_inverse_equals_numpy_unique():
    from stprompt.metrics.localization import unique_inverse

    rng = np.random.default_rng(7)
    for x in (np.zeros(0), np.array([2.5]), rng.integers(-4, 5, 5000) / 3.0, rng.random(3000),
              np.array([0.0, -0.0, 1e-300, -1e-300, 0.5, 0.5])):
        vals, inv = unique_inverse(x)
        ref_vals, ref_inv = np.unique(x, return_inverse=True)
        np.testing.assert_array_equal(vals, ref_vals)
        np.testing.assert_array_equal(inv, ref_inv)
        np.testing.assert_array_equal(vals[inv], x)


def test_rbdc_sweep_equals_the_definition_at_every_threshold_on_random_data():
    # Brute force: at each threshold t keep the predictions with score >= t and count detected
    # regions, detected tracks and false positives straight from the definitions.
    rng = np.random.default_rng(11)
    n_frames = {"a": 30, "b": 20}
    gt_regions, gt_tracks = {"a": {}, "b": {}}, {"a": {}, "b": {}}
    for v, n in n_frames.items():
        for tid in range(3):
            start = int(rng.integers(0, n - 6))
            x, y = rng.uniform(0, 50, 2)
            for f in range(start, start + int(rng.integers(2, 6))):
                gt_regions[v].setdefault(f, []).append([x, y, x + 20, y + 20])
                gt_tracks[v].setdefault(f, []).append(tid)
    preds = {v: {} for v in n_frames}
    for v, n in n_frames.items():
        for f in range(n):
            # Jittered copies of the frame's gt boxes (some hit, some miss) plus random boxes;
            # scores rounded to one decimal so that thresholds have ties.
            near = [[x + dx, y + dy, x + dx + 20, y + dy + 20]
                    for x, y, *_ in gt_regions[v].get(f, [])
                    for dx, dy in [rng.uniform(-18, 18, 2)]]
            far = [[x, y, x + 20, y + 20]
                   for x, y in rng.uniform(0, 60, (int(rng.integers(0, 3)), 2))]
            for box in near + far:
                preds[v].setdefault(f, []).append((box, round(float(rng.random()), 1)))
    out = rbdc_tbdc(preds, gt_regions, gt_tracks, n_frames, iou_threshold=0.1)
    n_regions = sum(len(b) for fr in gt_regions.values() for b in fr.values())
    for k, t in enumerate(out.thresholds):
        fp, detected, per_track = 0, 0, {}
        for v in n_frames:
            for f, boxes in gt_regions[v].items():
                for box, tid in zip(boxes, gt_tracks[v][f]):
                    hit = any(s >= t and box_iou(pb, box) >= 0.1 for pb, s in preds[v].get(f, []))
                    detected += hit
                    got, total = per_track.get((v, tid), (0, 0))
                    per_track[(v, tid)] = (got + hit, total + 1)
            for f, plist in preds[v].items():
                for pb, s in plist:
                    if s >= t and not any(box_iou(pb, g) >= 0.1
                                          for g in gt_regions[v].get(f, [])):
                        fp += 1
        tracks_hit = sum(got / total >= 0.1 for got, total in per_track.values())
        assert out.false_positives_per_frame[k] == pytest.approx(fp / 50)
        assert out.region_detection_rate[k] == pytest.approx(detected / n_regions)
        assert out.track_detection_rate[k] == pytest.approx(tracks_hit / len(per_track))
    # The random scenario is not degenerate: some regions missed, some detected, some FPs.
    assert 0 < out.region_detection_rate[-1] < 1
    assert out.false_positives_per_frame[-1] > 0 and len(out.thresholds) > 5

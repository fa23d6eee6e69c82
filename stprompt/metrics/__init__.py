"""Evaluation metrics for weakly supervised video anomaly detection and localization.

Every metric takes its inputs **per video**: a dict keyed by video id (or a list, whose positions
are then the ids), never one concatenated vector, so that a score/label length mismatch is caught
and reported with the video it belongs to instead of silently shifting every later video.

Fields read (per video ``v``):

- ``scores_by_video[v]``: 1-D float array, one anomaly score per frame (finite; higher = more
  anomalous). Snippet scores are turned into frame scores by :func:`expand_snippet_scores`.
- ``labels_by_video[v]``: 1-D array of 0/1 (or bool), one ground-truth label per frame.
- ``classes_by_video[v]``: the video's class name (``normal_class`` for normal videos).
- boxes: ``(x1, y1, x2, y2)`` in pixels, ``x2 >= x1``, ``y2 >= y1``.

Temporal detection (paper section "Metrics"): frame AUC (micro, the standard protocol), per-video
macro AUC (UBnormal convention), average precision (two named estimators), false-alarm rate,
per-class AUC, AUC on anomalous videos only, and :func:`detection_report` bundling them.
Spatial localization: :func:`box_iou`, TIoU (Liu & Ma 2019), RBDC/TBDC (Ramachandra & Jones 2020)
and pixel-level AUC.

Errors (scikit-learn style, raised before anything is computed):

- malformed input (mismatched video ids, per-video length mismatch, NaN/inf scores, labels other
  than 0/1, bad boxes) -> :class:`ValueError` naming the video, what was expected and what arrived;
- a metric that is *undefined on valid input* (ROC-AUC with a single class, false-alarm rate with
  no normal video, ...) -> :class:`UndefinedMetricError` (a ``ValueError``) from the single-number
  metrics. The breakdowns (:func:`per_class_auc`, :func:`frame_auc_per_video`,
  :func:`tiou_per_video`) and :func:`detection_report` instead hold ``NaN`` for the undefined
  entries and emit one :class:`RuntimeWarning` each, so that one empty class does not hide the rest.

The parts live in submodules, every name importable from here as before: :mod:`.checks` (input
validation), :mod:`.detection` (temporal detection), :mod:`.localization` (spatial localization).
"""

from __future__ import annotations

from .checks import (  # noqa: F401
    UndefinedMetricError, _binary, _check_len, _finite_1d, _frames, _nan_with_warning,
    _per_video, _roc_auc, _same_videos, _trapezoid)
from .detection import (  # noqa: F401
    anomaly_only_auc, APEstimator, average_precision, detection_report, expand_snippet_scores,
    false_alarm_rate, frame_auc, frame_auc_macro, frame_auc_per_video, PadRule, per_class_auc)
from .localization import (  # noqa: F401
    box_iou, pixel_auc, PixelAUC, PixelFrames, rbdc_tbdc, region_track_detection,
    region_track_scores, RegionTrackDetection, RegionTrackScores, tiou, tiou_per_video,
    _area_to, _auc_from_counts, _boxes, _tiou_terms)

__all__ = [
    "UndefinedMetricError",
    "expand_snippet_scores",
    "frame_auc",
    "frame_auc_per_video",
    "frame_auc_macro",
    "average_precision",
    "false_alarm_rate",
    "per_class_auc",
    "anomaly_only_auc",
    "detection_report",
    "box_iou",
    "tiou",
    "tiou_per_video",
    "RegionTrackDetection",
    "rbdc_tbdc",
    "RegionTrackScores",
    "region_track_scores",
    "region_track_detection",
    "pixel_auc",
    "PixelAUC",
]

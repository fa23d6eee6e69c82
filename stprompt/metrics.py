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
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Hashable, Literal, Mapping, Sequence

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

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


class UndefinedMetricError(ValueError):
    """Well-formed input on which the metric is not defined (e.g. ROC-AUC with one class)."""


# --------------------------------------------------------------------------------------------
# Input validation (one home for every boundary check)
# --------------------------------------------------------------------------------------------

def _per_video(data: Any, name: str) -> dict[Hashable, Any]:
    """A dict keyed by video id from a dict or a list (list positions become the ids)."""
    if isinstance(data, Mapping):
        return dict(data)
    if isinstance(data, np.ndarray):
        raise ValueError(
            f"{name}: expected per-video data (a dict keyed by video id, or a list with one entry "
            f"per video); got one numpy array of shape {data.shape}. Keep ground truth and scores "
            "per video so that length mismatches are caught per video.")
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return dict(enumerate(data))
    raise ValueError(f"{name}: expected a dict keyed by video id or a list of per-video entries; "
                     f"got {type(data).__name__}")


def _same_videos(named: Sequence[tuple[str, Mapping]]) -> list[Hashable]:
    """The video ids shared by every mapping, in the first mapping's order; error if they differ."""
    (first_name, first), *rest = named
    ids = list(first)
    for other_name, other in rest:
        missing = [v for v in ids if v not in other]
        extra = [v for v in other if v not in first]
        if missing or extra:
            raise ValueError(
                f"{first_name} and {other_name} must hold the same videos; "
                f"missing from {other_name}: {missing[:5]}{' ...' if len(missing) > 5 else ''}; "
                f"only in {other_name}: {extra[:5]}{' ...' if len(extra) > 5 else ''}")
    if not ids:
        raise ValueError(f"{first_name}: no videos given")
    return ids


def _finite_1d(x: Any, where: str) -> np.ndarray:
    """``x`` as a 1-D float array of finite scores; ``where`` names it in errors."""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: expected numbers, got {type(x).__name__} ({err})") from None
    if a.ndim != 1:
        raise ValueError(f"{where}: expected a 1-D array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"{where}: scores must be finite; index {bad} is {a[bad]}")
    return a


def _binary(x: Any, where: str, ndim: int | None = 1) -> np.ndarray:
    """``x`` as a boolean array of 0/1 labels; ``where`` names it in errors."""
    a = np.asarray(x)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{where}: expected a {ndim}-D array, got shape {a.shape}")
    if a.dtype != bool:
        values = np.unique(a)
        if not np.all(np.isin(values, (0, 1))):
            raise ValueError(f"{where}: labels must be 0/1 or bool; got values "
                             f"{values[:6].tolist()}")
    return a.astype(bool)


def _check_len(video: Hashable, a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"video {video!r}: {a_name} has {len(a)} frames but {b_name} has "
                         f"{len(b)}")


def _frames(scores_by_video: Any, labels_by_video: Any
            ) -> tuple[list[Hashable], list[np.ndarray], list[np.ndarray]]:
    """Validated (video ids, per-video scores, per-video boolean labels)."""
    scores = _per_video(scores_by_video, "scores_by_video")
    labels = _per_video(labels_by_video, "labels_by_video")
    ids = _same_videos([("scores_by_video", scores), ("labels_by_video", labels)])
    s_list, y_list = [], []
    for v in ids:
        s = _finite_1d(scores[v], f"scores_by_video[{v!r}]")
        y = _binary(labels[v], f"labels_by_video[{v!r}]")
        _check_len(v, s, "scores", y, "labels")
        s_list.append(s)
        y_list.append(y)
    return ids, s_list, y_list


def _roc_auc(y: np.ndarray, s: np.ndarray, what: str) -> float:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        only = "anomalous" if n_pos else "normal"
        raise UndefinedMetricError(f"{what}: ROC-AUC is undefined, all {len(y)} frames are {only}")
    return float(roc_auc_score(y, s))


def _nan_with_warning(message: str) -> float:
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    return math.nan


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


# --------------------------------------------------------------------------------------------
# Temporal detection
# --------------------------------------------------------------------------------------------

def expand_snippet_scores(scores: Any, n_frames: int, snippet_len: int = 16) -> np.ndarray:
    """Frame scores from snippet scores: snippet ``j`` scores frames ``[j*L, (j+1)*L)``, L = 16.

    Rule for the last partial snippet: a video of ``n_frames`` frames must have exactly
    ``ceil(n_frames / snippet_len)`` snippet scores; the last snippet covers the remaining
    ``n_frames - (n_snippets - 1) * snippet_len`` frames (1..L of them) and the repeated vector is
    cut there. Any other snippet count is a ``ValueError``: repeating and silently cutting or
    padding would hide a feature/ground-truth misalignment. If a feature extractor *drops* the last
    partial snippet, evaluate on ``n_snippets * snippet_len`` frames and cut the labels the same
    way (VadCLIP's ground truth does this).
    """
    if isinstance(snippet_len, bool) or not isinstance(snippet_len, (int, np.integer)) \
            or snippet_len < 1:
        raise ValueError(f"snippet_len must be a positive integer, got {snippet_len!r}")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer, got {n_frames!r}")
    s = _finite_1d(scores, "snippet scores")
    expected = -(-int(n_frames) // int(snippet_len))
    if len(s) != expected:
        raise ValueError(
            f"{n_frames} frames with snippet_len={snippet_len} need ceil({n_frames}/{snippet_len})"
            f" = {expected} snippet scores; got {len(s)}")
    return np.repeat(s, snippet_len)[:n_frames]


def frame_auc(scores_by_video: Any, labels_by_video: Any) -> float:
    """Micro frame-level ROC-AUC: all frames of all videos concatenated (the standard protocol of
    UCF-Crime, ShanghaiTech and UBnormal's "micro AUC"). Reads per-video ``scores`` and ``labels``.
    Raises :class:`UndefinedMetricError` if all frames have one label."""
    _, s, y = _frames(scores_by_video, labels_by_video)
    return _roc_auc(np.concatenate(y), np.concatenate(s), "frame_auc")


PadRule = Literal["all", "single_class"]


def frame_auc_per_video(scores_by_video: Any, labels_by_video: Any, pad: PadRule = "all"
                        ) -> dict[Hashable, float]:
    """Per-video ROC-AUC with the UBnormal padding (Acsintoae et al., CVPR 2022; Georgescu et al.,
    TPAMI 2021): the video's labels become ``[0, *labels, 1]`` and its scores ``[0, *scores, 1]``,
    i.e. one normal frame scored 0 and one anomalous frame scored 1 are added, so the AUC is
    defined even for an all-normal video.

    ``pad="all"`` (default) pads every video, as the UBnormal authors' evaluation script does;
    ``pad="single_class"`` pads only videos whose labels have one class and leaves the others
    unpadded. Padding assumes scores in ``[0, 1]``; other scores raise
    :class:`UndefinedMetricError`. Note what the padding implies: a padded all-normal video scores
    AUC 1 unless some frame scores exactly 1 (a tie with the added anomalous frame counts 1/2).
    """
    if pad not in ("all", "single_class"):
        raise ValueError(f"pad must be 'all' or 'single_class', got {pad!r}")
    ids, s_list, y_list = _frames(scores_by_video, labels_by_video)
    out: dict[Hashable, float] = {}
    for v, s, y in zip(ids, s_list, y_list):
        single_class = y.all() or not y.any()
        if pad == "all" or single_class:
            if len(s) and (s.min() < 0.0 or s.max() > 1.0):
                raise UndefinedMetricError(
                    f"video {v!r}: the UBnormal padding (a 0-scored normal and a 1-scored "
                    f"anomalous frame) needs scores in [0, 1]; got [{s.min()}, {s.max()}]")
            y = np.concatenate(([False], y, [True]))
            s = np.concatenate(([0.0], s, [1.0]))
        out[v] = float(roc_auc_score(y, s))
    return out


def frame_auc_macro(scores_by_video: Any, labels_by_video: Any, pad: PadRule = "all") -> float:
    """Macro frame AUC (UBnormal "macro AUC"): the mean over videos of
    :func:`frame_auc_per_video` with the given padding rule."""
    return float(np.mean(list(frame_auc_per_video(scores_by_video, labels_by_video, pad).values())))


APEstimator = Literal["sklearn", "trapezoid"]


def average_precision(scores_by_video: Any, labels_by_video: Any,
                      estimator: APEstimator = "sklearn") -> float:
    """Frame-level average precision over all frames concatenated.

    - ``estimator="sklearn"``: ``sklearn.metrics.average_precision_score``, the step sum
      ``sum_n (R_n - R_{n-1}) P_n`` (VadCLIP's estimator, used for the paper's AP);
    - ``estimator="trapezoid"``: trapezoid area under the points of
      ``sklearn.metrics.precision_recall_curve`` in order of increasing recall, starting at
      (recall 0, precision 1) (``auc(recall, precision)``, used by several other WSVAD repos).
      It interpolates linearly between operating points and so differs from the step sum.

    Raises :class:`UndefinedMetricError` when no frame is anomalous.
    """
    if estimator not in ("sklearn", "trapezoid"):
        raise ValueError(f"estimator must be 'sklearn' or 'trapezoid', got {estimator!r}")
    _, s_list, y_list = _frames(scores_by_video, labels_by_video)
    y, s = np.concatenate(y_list), np.concatenate(s_list)
    if not y.any():
        raise UndefinedMetricError("average_precision: undefined, no anomalous frame")
    if estimator == "sklearn":
        return float(average_precision_score(y, s))
    precision, recall, _ = precision_recall_curve(y, s)
    return _trapezoid(precision[::-1], recall[::-1])


def false_alarm_rate(scores_by_video: Any, labels_by_video: Any, threshold: float = 0.5) -> float:
    """Fraction of the frames of **normal videos** (videos whose labels are all 0) with score
    ``>= threshold``. Normal frames of anomalous videos are not counted (the usual XD-Violence /
    UCF-Crime convention). Raises :class:`UndefinedMetricError` when no video is normal."""
    _, s_list, y_list = _frames(scores_by_video, labels_by_video)
    normal = [s for s, y in zip(s_list, y_list) if not y.any()]
    if not normal:
        raise UndefinedMetricError("false_alarm_rate: undefined, no normal video (all-0 labels)")
    s = np.concatenate(normal)
    if len(s) == 0:
        raise UndefinedMetricError("false_alarm_rate: undefined, the normal videos have no frame")
    return float(np.mean(s >= threshold))


def anomaly_only_auc(scores_by_video: Any, labels_by_video: Any) -> float:
    """ROC-AUC over the frames of anomalous videos only (videos with at least one anomalous
    frame): how well the anomaly is located inside the videos that contain one, without the easy
    normal videos. Raises :class:`UndefinedMetricError` if there is no anomalous video or if their
    frames are all anomalous."""
    _, s_list, y_list = _frames(scores_by_video, labels_by_video)
    keep = [i for i, y in enumerate(y_list) if y.any()]
    if not keep:
        raise UndefinedMetricError("anomaly_only_auc: undefined, no anomalous video")
    return _roc_auc(np.concatenate([y_list[i] for i in keep]),
                    np.concatenate([s_list[i] for i in keep]), "anomaly_only_auc")


def per_class_auc(scores_by_video: Any, labels_by_video: Any, classes_by_video: Any,
                  normal_class: str = "normal") -> dict[str, float]:
    """Per anomaly class ``c``: ROC-AUC over the frames of the videos of class ``c`` **plus the
    frames of all normal videos** (class ``normal_class``), the convention of per-class UCF-Crime
    tables (e.g. VadCLIP's). Reads ``scores``, ``labels`` and the video's class name.

    A video of class ``normal_class`` must have no anomalous frame (``ValueError`` otherwise).
    A class whose pool has one label gives ``NaN`` and a :class:`RuntimeWarning`.
    Returns ``{class name: AUC}`` sorted by class name.
    """
    ids, s_list, y_list = _frames(scores_by_video, labels_by_video)
    classes = _per_video(classes_by_video, "classes_by_video")
    _same_videos([("scores_by_video", dict.fromkeys(ids)), ("classes_by_video", classes)])
    cls = [str(classes[v]) for v in ids]
    for v, c, y in zip(ids, cls, y_list):
        if c == normal_class and y.any():
            raise ValueError(f"video {v!r} has class {normal_class!r} but {int(y.sum())} "
                             "anomalous frames")
    normal = [i for i, c in enumerate(cls) if c == normal_class]
    out: dict[str, float] = {}
    for c in sorted(set(cls) - {normal_class}):
        pool = [i for i, ci in enumerate(cls) if ci == c] + normal
        y = np.concatenate([y_list[i] for i in pool])
        s = np.concatenate([s_list[i] for i in pool])
        try:
            out[c] = _roc_auc(y, s, f"per_class_auc[{c!r}]")
        except UndefinedMetricError as err:
            out[c] = _nan_with_warning(str(err))
    return out


def detection_report(scores_by_video: Any, labels_by_video: Any, classes_by_video: Any = None,
                     far_threshold: float = 0.5, macro_pad: PadRule = "all",
                     normal_class: str = "normal") -> dict[str, Any]:
    """All temporal detection metrics in one dict. Keys:

    ``auc_micro`` (:func:`frame_auc`), ``auc_macro`` (:func:`frame_auc_macro` with ``macro_pad``),
    ``ap_sklearn`` / ``ap_trapezoid`` (:func:`average_precision`, named by estimator),
    ``false_alarm_rate`` at ``far_threshold`` (also returned), ``auc_anomalous_videos``
    (:func:`anomaly_only_auc`), ``auc_per_class`` (:func:`per_class_auc`, only when
    ``classes_by_video`` is given), ``n_videos``, ``n_frames``, ``n_anomalous_frames``.

    Malformed input raises ``ValueError``; a metric undefined on this input is ``NaN`` with a
    :class:`RuntimeWarning` (e.g. no normal video -> ``false_alarm_rate`` is NaN).
    """
    ids, s_list, y_list = _frames(scores_by_video, labels_by_video)
    scores = dict(zip(ids, s_list))
    labels = dict(zip(ids, y_list))

    def defined(fn, *args, **kwargs) -> float:
        try:
            return fn(*args, **kwargs)
        except UndefinedMetricError as err:
            return _nan_with_warning(f"detection_report: {err}")

    report: dict[str, Any] = {
        "auc_micro": defined(frame_auc, scores, labels),
        "auc_macro": defined(frame_auc_macro, scores, labels, pad=macro_pad),
        "ap_sklearn": defined(average_precision, scores, labels, estimator="sklearn"),
        "ap_trapezoid": defined(average_precision, scores, labels, estimator="trapezoid"),
        "false_alarm_rate": defined(false_alarm_rate, scores, labels, threshold=far_threshold),
        "far_threshold": float(far_threshold),
        "auc_anomalous_videos": defined(anomaly_only_auc, scores, labels),
    }
    if classes_by_video is not None:
        report["auc_per_class"] = per_class_auc(scores, labels, classes_by_video, normal_class)
    report["n_videos"] = len(ids)
    report["n_frames"] = int(sum(len(s) for s in s_list))
    report["n_anomalous_frames"] = int(sum(int(y.sum()) for y in y_list))
    return report


# --------------------------------------------------------------------------------------------
# Spatial localization
# --------------------------------------------------------------------------------------------

def _boxes(x: Any, name: str, allow_nan: bool) -> np.ndarray:
    b = np.asarray(x, dtype=float)
    if b.size == 0:
        return b.reshape(0, 4)
    if b.ndim == 0 or b.shape[-1] != 4:
        raise ValueError(f"{name}: boxes must have a last axis of 4 (x1, y1, x2, y2); got shape "
                         f"{b.shape}")
    nan_rows = np.isnan(b).any(axis=-1)
    if not allow_nan and nan_rows.any():
        raise ValueError(f"{name}: boxes must be finite; got NaN")
    if np.isinf(b).any():
        raise ValueError(f"{name}: boxes must not be infinite")
    with np.errstate(invalid="ignore"):
        bad = ~nan_rows & ((b[..., 2] < b[..., 0]) | (b[..., 3] < b[..., 1]))
    if bad.any():
        first = b.reshape(-1, 4)[bad.reshape(-1)][0].tolist()
        raise ValueError(f"{name}: boxes need x2 >= x1 and y2 >= y1; got {first}")
    return b


def box_iou(boxes_a: Any, boxes_b: Any, pixel_inclusive: bool = False) -> np.ndarray:
    """Intersection over union of boxes ``(x1, y1, x2, y2)``, broadcast over leading axes.

    ``box_iou(a, b)`` with shapes ``(N, 4)`` and ``(N, 4)`` gives the ``N`` element-wise IoUs;
    ``box_iou(a[:, None], b[None])`` the ``(N, M)`` pairwise matrix.
    ``pixel_inclusive=False``: continuous coordinates, area ``(x2 - x1) * (y2 - y1)``;
    ``True``: inclusive pixel indices, area ``(x2 - x1 + 1) * (y2 - y1 + 1)`` (the convention of
    the Street Scene / Avenue RBDC-TBDC tools). A box with NaN coordinates gives NaN; two boxes
    with an empty union give 0.
    """
    a = _boxes(boxes_a, "boxes_a", allow_nan=True)
    b = _boxes(boxes_b, "boxes_b", allow_nan=True)
    one = 1.0 if pixel_inclusive else 0.0
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + one
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + one
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = (a[..., 2] - a[..., 0] + one) * (a[..., 3] - a[..., 1] + one)
    area_b = (b[..., 2] - b[..., 0] + one) * (b[..., 3] - b[..., 1] + one)
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    nan = np.isnan(a).any(axis=-1) | np.isnan(b).any(axis=-1)
    return np.where(nan, np.nan, iou)


def _tiou_terms(pred_boxes: Any, gt_boxes: Any, frame_scores: Any, threshold: float,
                pixel_inclusive: bool) -> dict[Hashable, np.ndarray]:
    """Per video, the per-frame terms ``IoU(pred_i, gt_i) * 1[s_i >= threshold]``."""
    pred = _per_video(pred_boxes, "pred_boxes")
    gt = _per_video(gt_boxes, "gt_boxes")
    sc = _per_video(frame_scores, "frame_scores")
    ids = _same_videos([("gt_boxes", gt), ("pred_boxes", pred), ("frame_scores", sc)])
    out = {}
    for v in ids:
        g = _boxes(gt[v], f"gt_boxes[{v!r}]", allow_nan=False).reshape(-1, 4)
        p = _boxes(pred[v], f"pred_boxes[{v!r}]", allow_nan=True).reshape(-1, 4)
        s = _finite_1d(sc[v], f"frame_scores[{v!r}]")
        _check_len(v, g, "gt_boxes", p, "pred_boxes")
        _check_len(v, g, "gt_boxes", s, "frame_scores")
        iou = np.nan_to_num(box_iou(p, g, pixel_inclusive), nan=0.0)
        out[v] = iou * (s >= threshold)
    return out


def tiou(pred_boxes: Any, gt_boxes: Any, frame_scores: Any, threshold: float,
         pixel_inclusive: bool = False) -> float:
    """TIoU (Liu & Ma, 2019): ``mean_i IoU(pred_i, gt_i) * 1[s_i >= threshold]`` over the
    annotated anomalous frames ``i``, **pooled over all videos** (each annotated frame weighs the
    same; the standard UCF-Crime localization protocol). Per-video means: :func:`tiou_per_video`.

    Fields read, per video: ``gt_boxes[v]`` ``(n, 4)``, the annotated box of each annotated
    anomalous frame (one per frame: a frame annotated with several boxes is passed as the box
    enclosing them — the dataset reader's choice); ``pred_boxes[v]`` ``(n, 4)``, the predicted box
    for the same frames, NaN where the method gave none (the term is then 0);
    ``frame_scores[v]`` ``(n,)``, the frame anomaly score ``s_i`` of those frames.
    Raises :class:`UndefinedMetricError` when no frame is annotated.
    """
    terms = _tiou_terms(pred_boxes, gt_boxes, frame_scores, threshold, pixel_inclusive)
    pooled = np.concatenate(list(terms.values()))
    if len(pooled) == 0:
        raise UndefinedMetricError("tiou: undefined, no annotated frame")
    return float(pooled.mean())


def tiou_per_video(pred_boxes: Any, gt_boxes: Any, frame_scores: Any, threshold: float,
                   pixel_inclusive: bool = False) -> dict[Hashable, float]:
    """TIoU of each video alone (same fields as :func:`tiou`); a video without annotated frames
    gives NaN with a :class:`RuntimeWarning`. Their mean is a macro TIoU, not the reported one."""
    terms = _tiou_terms(pred_boxes, gt_boxes, frame_scores, threshold, pixel_inclusive)
    return {v: float(t.mean()) if len(t) else
            _nan_with_warning(f"tiou_per_video: video {v!r} has no annotated frame")
            for v, t in terms.items()}


@dataclass(frozen=True)
class RegionTrackDetection:
    """Result of :func:`rbdc_tbdc`. The curve arrays are the raw sweep, one point per threshold
    (descending, the first is ``+inf``: nothing detected, no false positive); the flat extension
    used for the areas is not included."""

    rbdc: float  # area under region detection rate vs FP per frame on [0, max_fpr], / max_fpr
    tbdc: float  # same for the track detection rate
    thresholds: np.ndarray  # score thresholds of the sweep, descending, first = +inf
    false_positives_per_frame: np.ndarray  # FP count at each threshold / total frames
    region_detection_rate: np.ndarray  # detected gt regions / all gt regions
    track_detection_rate: np.ndarray  # detected gt tracks / all gt tracks
    n_regions: int  # gt regions (boxes)
    n_tracks: int  # gt tracks
    n_frames: int  # frames of all evaluated videos (the FP-per-frame denominator)


def _area_to(x: np.ndarray, y: np.ndarray, max_fpr: float) -> float:
    """Trapezoid area of the curve on [0, max_fpr] / max_fpr: points beyond max_fpr are dropped
    and the last point at or below max_fpr is extended flat to max_fpr."""
    keep = x <= max_fpr
    xs, ys = x[keep], y[keep]
    if xs[-1] < max_fpr:
        xs, ys = np.append(xs, max_fpr), np.append(ys, ys[-1])
    return _trapezoid(ys, xs) / max_fpr


def rbdc_tbdc(pred_regions: Mapping, gt_regions: Mapping, gt_tracks: Mapping,
              n_frames: Mapping, iou_threshold: float = 0.1, track_fraction: float = 0.1,
              max_fpr: float = 1.0, pixel_inclusive: bool = False) -> RegionTrackDetection:
    """Region- and track-based detection criteria (Ramachandra & Jones, WACV 2020, Street Scene).

    Fields read:

    - ``pred_regions[video][frame]``: a list of ``(box, score)`` predicted anomalous regions;
    - ``gt_regions[video][frame]``: ``(K, 4)`` ground-truth anomalous boxes of that frame;
    - ``gt_tracks[video][frame]``: ``(K,)`` track ids of those boxes (a track = all regions of one
      anomalous event with the same id in one video; at most one region per track and frame);
    - ``n_frames[video]``: frame count of **every** evaluated video, normal ones included (their
      sum is the FP-per-frame denominator; frame indices must lie in ``[0, n_frames[video])``).

    At score threshold ``t`` only predictions with score ``>= t`` count. A gt region is detected
    when a prediction of its frame overlaps it with IoU ``>= iou_threshold`` (0.1); a prediction
    that overlaps no gt region of its frame at that IoU is a false positive (a second prediction
    on an already-detected region is neither). RBDR(t) = detected regions / all regions;
    TBDR(t) = tracks with a fraction ``>= track_fraction`` (0.1) of their regions detected / all
    tracks. The sweep visits every distinct prediction score (ties are one step), starting from
    ``+inf`` at the origin; the x axis is false positives per frame.

    RBDC / TBDC = trapezoid area under each curve for FP-per-frame in ``[0, max_fpr]`` divided by
    ``max_fpr`` (a no-op at the standard ``max_fpr = 1``, where the area is already in [0, 1] and
    is what Street Scene, Avenue, ShanghaiTech and UBnormal papers report, ×100). Points beyond
    ``max_fpr`` are dropped and the last point at or below it is extended flat to ``max_fpr`` (the
    convention of the public RBDC/TBDC tool used for those papers), so a curve that stops early
    keeps its last detection rate.
    """
    if not max_fpr > 0.0:
        raise ValueError(f"max_fpr must be > 0, got {max_fpr}")
    scores = region_track_scores(pred_regions, gt_regions, gt_tracks, n_frames, iou_threshold, track_fraction,
                                 pixel_inclusive)
    return region_track_detection(scores, max_fpr)


@dataclass(frozen=True)
class RegionTrackScores:
    """What the RBDC/TBDC sweep needs, per video (:func:`region_track_scores`): every count of the
    curves is a sum over videos of counts of these scores, which is what makes a video-level
    bootstrap of RBDC/TBDC exact (:mod:`stprompt.stats`)."""

    fp_scores: np.ndarray  # score of each false-positive prediction
    fp_video: np.ndarray  # the video index of each (into ``videos``)
    region_scores: np.ndarray  # each gt region: the highest score of a prediction detecting it (-inf: none)
    region_video: np.ndarray
    track_scores: np.ndarray  # each gt track: the threshold from which it counts as detected (-inf: never)
    track_video: np.ndarray
    all_scores: np.ndarray  # every prediction score (the thresholds of the sweep)
    videos: list  # the video ids of ``n_frames``, in its order
    n_frames: np.ndarray  # frames of each video


def region_track_scores(pred_regions: Mapping, gt_regions: Mapping, gt_tracks: Mapping,
                        n_frames: Mapping, iou_threshold: float = 0.1, track_fraction: float = 0.1,
                        pixel_inclusive: bool = False) -> RegionTrackScores:
    """The matching step of :func:`rbdc_tbdc` (same fields, checks and rules): which prediction is
    a false positive, from which score each region and each track counts as detected."""
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if not 0.0 < track_fraction <= 1.0:
        raise ValueError(f"track_fraction must be in (0, 1], got {track_fraction}")
    for name, m in (("pred_regions", pred_regions), ("gt_regions", gt_regions),
                    ("gt_tracks", gt_tracks), ("n_frames", n_frames)):
        if not isinstance(m, Mapping):
            raise ValueError(f"{name}: expected a dict keyed by video id, got {type(m).__name__}")
    for v, n in n_frames.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n_frames[{v!r}]: expected a non-negative integer, got {n!r}")
    total_frames = int(sum(n_frames.values()))
    if total_frames == 0:
        raise ValueError("n_frames: the videos have no frame")

    def check_frame(name: str, v: Hashable, f: Any) -> None:
        if v not in n_frames:
            raise ValueError(f"{name}: video {v!r} is not in n_frames")
        if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or not 0 <= f < n_frames[v]:
            raise ValueError(f"{name}[{v!r}]: frame {f!r} is not an index in [0, {n_frames[v]})")

    # Ground truth: flat arrays of regions with their frame key and track index.
    gt_by_frame: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # (v, f) -> (boxes, region ids)
    track_index: dict[tuple, int] = {}
    region_track: list[int] = []
    if set(gt_regions) != set(gt_tracks):
        raise ValueError("gt_regions and gt_tracks must hold the same videos; got "
                         f"{sorted(map(str, gt_regions))} vs {sorted(map(str, gt_tracks))}")
    for v, frames in gt_regions.items():
        if set(frames) != set(gt_tracks[v]):
            raise ValueError(f"video {v!r}: gt_regions and gt_tracks must hold the same frames")
        for f, boxes in frames.items():
            check_frame("gt_regions", v, f)
            b = _boxes(boxes, f"gt_regions[{v!r}][{f!r}]", allow_nan=False).reshape(-1, 4)
            t = np.asarray(gt_tracks[v][f]).reshape(-1)
            if len(t) != len(b):
                raise ValueError(f"video {v!r} frame {f!r}: {len(b)} gt boxes but {len(t)} track "
                                 "ids")
            if len(set(t.tolist())) != len(t):
                raise ValueError(f"video {v!r} frame {f!r}: a track has two regions in one frame")
            ids = np.arange(len(region_track), len(region_track) + len(b))
            for tid in t.tolist():
                region_track.append(track_index.setdefault((v, tid), len(track_index)))
            gt_by_frame[(v, f)] = (b, ids)
    n_regions, n_tracks = len(region_track), len(track_index)
    if n_regions == 0:
        raise UndefinedMetricError("rbdc_tbdc: undefined, no ground-truth region")

    # Each region's detection score: the highest score among predictions overlapping it.
    region_score = np.full(n_regions, -np.inf)
    fp_scores: list[float] = []
    fp_video: list[Hashable] = []
    all_scores: list[float] = []
    for v, frames in pred_regions.items():
        if not isinstance(frames, Mapping):
            raise ValueError(f"pred_regions[{v!r}]: expected a dict frame -> [(box, score), ...]")
        for f, preds in frames.items():
            check_frame("pred_regions", v, f)
            preds = list(preds)
            if not preds:
                continue
            if any(len(p) != 2 for p in preds):
                raise ValueError(f"pred_regions[{v!r}][{f!r}]: expected (box, score) pairs")
            p_boxes = _boxes([p[0] for p in preds], f"pred_regions[{v!r}][{f!r}]",
                             allow_nan=False).reshape(-1, 4)
            p_scores = _finite_1d([p[1] for p in preds],
                                  f"scores of pred_regions[{v!r}][{f!r}]")
            all_scores.extend(p_scores.tolist())
            if (v, f) not in gt_by_frame:
                fp_scores.extend(p_scores.tolist())
                fp_video.extend([v] * len(p_scores))
                continue
            g_boxes, g_ids = gt_by_frame[(v, f)]
            hits = box_iou(p_boxes[:, None], g_boxes[None], pixel_inclusive) >= iou_threshold
            missed = p_scores[~hits.any(axis=1)]
            fp_scores.extend(missed.tolist())
            fp_video.extend([v] * len(missed))
            best = np.where(hits, p_scores[:, None], -np.inf).max(axis=0)
            region_score[g_ids] = np.maximum(region_score[g_ids], best)

    # A track is detected from the threshold at which its k-th best region is detected, k being
    # the smallest count with k / len(track) >= track_fraction.
    region_track_arr = np.asarray(region_track)
    track_score = np.empty(n_tracks)
    for j in range(n_tracks):
        scores_j = np.sort(region_score[region_track_arr == j])[::-1]
        counts = np.arange(1, len(scores_j) + 1)
        k = int(counts[np.argmax(counts / len(scores_j) >= track_fraction)])
        track_score[j] = scores_j[k - 1]

    videos = list(n_frames)
    index = {v: i for i, v in enumerate(videos)}
    track_video = np.empty(n_tracks, dtype=np.int64)
    for (v, _), j in track_index.items():
        track_video[j] = index[v]
    region_video = track_video[region_track_arr] if n_regions else np.zeros(0, np.int64)
    return RegionTrackScores(
        fp_scores=np.asarray(fp_scores, dtype=float), fp_video=np.asarray([index[v] for v in fp_video], np.int64),
        region_scores=region_score, region_video=region_video, track_scores=track_score,
        track_video=track_video, all_scores=np.asarray(all_scores, dtype=float), videos=videos,
        n_frames=np.asarray([int(n_frames[v]) for v in videos], dtype=np.int64))


def region_track_detection(scores: RegionTrackScores, max_fpr: float = 1.0) -> RegionTrackDetection:
    """The sweep and areas of :func:`rbdc_tbdc` from its matching step."""
    fp_scores, region_score, track_score = scores.fp_scores, scores.region_scores, scores.track_scores
    n_regions, n_tracks, total_frames = len(region_score), len(track_score), int(scores.n_frames.sum())
    all_scores = scores.all_scores
    thresholds = np.concatenate(([np.inf], np.unique(all_scores)[::-1]))

    def count_at_least(values: Any) -> np.ndarray:
        ordered = np.sort(np.asarray(values, dtype=float))
        return len(ordered) - np.searchsorted(ordered, thresholds, side="left")

    fppf = count_at_least(fp_scores) / total_frames
    rbdr = count_at_least(region_score) / n_regions
    tbdr = count_at_least(track_score) / n_tracks
    return RegionTrackDetection(
        rbdc=_area_to(fppf, rbdr, max_fpr), tbdc=_area_to(fppf, tbdr, max_fpr),
        thresholds=thresholds, false_positives_per_frame=fppf, region_detection_rate=rbdr,
        track_detection_rate=tbdr, n_regions=n_regions, n_tracks=n_tracks,
        n_frames=total_frames)


PixelFrames = Literal["all", "anomalous"]


def pixel_auc(heatmaps: Any, masks: Any, frames: PixelFrames = "all") -> float:
    """Pixel-level ROC-AUC over all pixels of the selected frames, pooled over videos.

    Fields read, per video: ``heatmaps[v]`` ``(T, H, W)`` (or ``(H, W)`` for one frame) finite
    pixel anomaly scores, and ``masks[v]`` of the same shape, 0/1 ground-truth anomalous pixels.
    ``frames="all"`` uses every frame given (pass all test frames for the usual protocol, normal
    frames then add only negatives); ``frames="anomalous"`` keeps only frames whose mask has at
    least one anomalous pixel (localization quality inside anomalous frames only).
    Raises :class:`UndefinedMetricError` if the selected pixels have one class.
    """
    if frames not in ("all", "anomalous"):
        raise ValueError(f"frames must be 'all' or 'anomalous', got {frames!r}")
    hm = _per_video(heatmaps, "heatmaps")
    mk = _per_video(masks, "masks")
    ids = _same_videos([("heatmaps", hm), ("masks", mk)])
    acc = PixelAUC(frames)
    for v in ids:
        acc.add(v, hm[v], mk[v])
    return acc.value()


class PixelAUC:
    """Pixel-level ROC-AUC accumulated one video at a time (:func:`pixel_auc` without holding
    every heat map in memory: real ShanghaiTech frames are 856x480). ``add(video, heatmap,
    mask)`` takes the same per-video fields as :func:`pixel_auc`; ``value()`` is the exact pooled
    AUC (:class:`UndefinedMetricError` if the pixels seen have one class)."""

    def __init__(self, frames: PixelFrames = "all"):
        if frames not in ("all", "anomalous"):
            raise ValueError(f"frames must be 'all' or 'anomalous', got {frames!r}")
        self.frames = frames
        self._ids: list[Hashable] = []
        self._values: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []

    def add(self, v: Hashable, heatmap: Any, mask: Any) -> None:
        h = np.asarray(heatmap, dtype=float)
        m = _binary(mask, f"masks[{v!r}]", ndim=None)
        if h.ndim not in (2, 3):
            raise ValueError(f"heatmaps[{v!r}]: expected (T, H, W) or (H, W), got shape {h.shape}")
        if h.shape != m.shape:
            raise ValueError(f"video {v!r}: heatmaps has shape {h.shape} but masks has shape "
                             f"{m.shape}")
        if not np.all(np.isfinite(h)):
            raise ValueError(f"heatmaps[{v!r}]: pixel scores must be finite")
        h, m = h.reshape(-1, *h.shape[-2:]), m.reshape(-1, *m.shape[-2:])
        if self.frames == "anomalous":
            keep = m.any(axis=(1, 2))
            h, m = h[keep], m[keep]
        # millions of pixels but few distinct scores per video (window scores painted on the
        # frame): count positives and negatives per distinct score, then one exact rank AUC
        vals, inv = np.unique(h.ravel(), return_inverse=True)
        self._ids.append(v)
        self._values.append(vals)
        self._counts.append(np.stack([np.bincount(inv, weights=m.ravel(), minlength=len(vals)),
                                      np.bincount(inv, weights=1 - m.ravel(), minlength=len(vals))]))

    def per_video(self) -> list[tuple[Hashable, np.ndarray, np.ndarray, np.ndarray]]:
        """``(video, distinct scores, anomalous pixels, normal pixels)`` of every video added, in
        order: pixel AUC is a sum of these counts over videos (an exact video-level bootstrap,
        :mod:`stprompt.stats`)."""
        return [(v, vals, c[0], c[1]) for v, vals, c in zip(self._ids, self._values, self._counts)]

    def value(self) -> float:
        if not self._values:
            raise UndefinedMetricError("pixel_auc: undefined, no video")
        return _auc_from_counts(np.concatenate(self._values), np.concatenate(self._counts, axis=1),
                                "pixel_auc")


def _auc_from_counts(values: np.ndarray, counts: np.ndarray, what: str) -> float:
    """Exact ROC-AUC (ties count one half, as sklearn's ``roc_auc_score``) from distinct scores
    ``values (n,)`` and their positive/negative counts ``counts (2, n)``."""
    u, inv = np.unique(values, return_inverse=True)
    pos = np.bincount(inv, weights=counts[0], minlength=len(u))
    neg = np.bincount(inv, weights=counts[1], minlength=len(u))
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        only = "anomalous" if n_pos else "normal"
        raise UndefinedMetricError(f"{what}: ROC-AUC is undefined, all {int(n_pos + n_neg)} pixels are {only}")
    below = np.cumsum(neg) - neg  # negatives scoring strictly lower than each distinct value
    return float(np.sum(pos * (below + 0.5 * neg)) / (n_pos * n_neg))

"""Frame-level temporal detection metrics (paper section "Metrics"): frame AUC (micro, the standard
protocol), per-video macro AUC (UBnormal convention), average precision (two named estimators),
false-alarm rate, per-class AUC, AUC on anomalous videos only, and :func:`detection_report` bundling
them; :func:`expand_snippet_scores` turns snippet scores into frame scores.
"""

from __future__ import annotations

from typing import Any, Hashable, Literal

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from .checks import (UndefinedMetricError, _finite_1d, _frames, _nan_with_warning, _per_video,
                     _roc_auc, _same_videos, _trapezoid)


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

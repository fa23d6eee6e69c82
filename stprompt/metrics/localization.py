"""Spatial localization metrics: :func:`box_iou`, TIoU (Liu & Ma 2019, the paper's localization
metric: IoU of the predicted and annotated box on the anomalous frames the temporal stream detects),
RBDC/TBDC (region- and track-based detection criteria, Ramachandra & Jones 2020) and pixel-level
AUC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Literal, Mapping

import numpy as np

from .checks import (UndefinedMetricError, _binary, _check_len, _finite_1d, _nan_with_warning,
                     _per_video, _same_videos, _trapezoid)


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
        vals, inv = unique_inverse(h.ravel())
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


def unique_inverse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(x, return_inverse=True)`` of a 1-D float array by hashing (``pandas.factorize``,
    linear time) and sorting only the distinct values: equal arrays (0.0 and -0.0 are one value in
    both, either sign may be kept), about 7 times faster on a video's heat maps (hundreds of
    thousands of pixels, a few hundred distinct scores)."""
    import pandas as pd

    inv, vals = pd.factorize(np.ascontiguousarray(x), sort=True)
    return np.asarray(vals), inv.astype(np.intp, copy=False)


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

"""Evaluating the spatial stream on a split (notebook ``05_localization``): θ chosen on validation
(Youden's J against frame or video labels), every localizer run on the test videos, TIoU, RBDC, TBDC
and pixel AUC against the ground truth a record carries, TIoU against θ, the example frames.
"""

from __future__ import annotations

from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from ..metrics import UndefinedMetricError, tiou
from .stream import (LocalizeConfig, QueryEmbeddings, SNIPPET_LEN, baseline_localize, frame_boxes,
                     frame_heat_maps, localize_video)


LOCALIZERS = ("stprompt", "class_names", "motion", "whole_frame", "random")


def youden_theta(frame_scores: Mapping[Hashable, Any], frame_labels_: Mapping[Hashable, Any]) -> float:
    """The temporal threshold θ maximising Youden's J (TPR − FPR) of the frame scores on the
    **validation** split [choice]. TIoU alone cannot choose θ (it counts only anomalous frames, so
    it never rises with θ); J also weighs the boxes a low θ would draw on normal frames."""
    from sklearn.metrics import roc_curve

    ids = list(frame_scores)
    y = np.concatenate([np.asarray(frame_labels_[v]).reshape(-1) for v in ids])
    s = np.concatenate([np.asarray(frame_scores[v], dtype=float).reshape(-1) for v in ids])
    if len(np.unique(y)) < 2:
        raise UndefinedMetricError("youden_theta: validation frames need both labels")
    fpr, tpr, thr = roc_curve(y, s)
    k = int(np.argmax(tpr - fpr))
    return float(min(thr[k], 1.0)) if np.isfinite(thr[k]) else float(s.max())


def localize_split(method: str, features: Mapping[str, Any], snippet_scores: Mapping[str, Any],
                   records: Sequence[Any], theta: float, cfg: LocalizeConfig | None = None,
                   queries: QueryEmbeddings | None = None, seed: int = 0) -> dict[str, dict]:
    """Run one localizer (:data:`LOCALIZERS`) on every video of a split: ``{video_id: loc}``.
    ``stprompt`` and ``class_names`` need ``queries`` (descriptions, or bare class names)."""
    cfg = cfg or LocalizeConfig()
    out = {}
    for r in records:
        feats = features[r.id]
        h, w = r.height, r.width
        if method in ("stprompt", "class_names"):
            if queries is None:
                raise ValueError(f"localize_split: {method} needs text queries")
            out[r.id] = localize_video(feats, snippet_scores[r.id], queries, cfg, h, w, theta=theta,
                                       method=method)
        else:
            out[r.id] = baseline_localize(method, feats, snippet_scores[r.id], h, w, theta, seed=seed,
                                          video_id=r.id)
    return out


#: How θ is chosen on the validation split (:func:`choose_val_theta`).
THETA_RULES = ("auto", "frame_labels", "video_labels")


def video_label_theta(frame_scores: Mapping[Hashable, Any], video_labels: Mapping[Hashable, int]) -> float:
    """θ for a validation split that has **video labels only** [choice]: Youden's J
    (:func:`youden_theta`) of the frame scores against each video's label given to every one of
    its frames (a normal video's frames are negatives, an anomalous video's frames positives).

    UCF-Crime and ShanghaiTech have no validation split; ``02_train`` holds out training videos
    (:func:`stprompt.train.split_records`) whose frames are unlabelled, and the test split must not
    be looked at. The weak frame labels count an anomalous video's normal frames as positives, so
    this θ sits at or below the one frame labels would give (more snippets reach the spatial
    stream); it is the θ that best separates the frames of anomalous from normal held-out videos."""
    labels = {v: np.full(len(np.asarray(frame_scores[v]).reshape(-1)), int(video_labels[v]), np.uint8)
              for v in frame_scores}
    return youden_theta(frame_scores, labels)


def theta_rule_for(records_val: Sequence[Any], rule: str = "auto") -> str:
    """The θ rule used on ``records_val``: ``rule``, or for ``"auto"`` ``"frame_labels"`` when
    every validation video has frame ground truth and ``"video_labels"`` otherwise."""
    if rule not in THETA_RULES:
        raise ValueError(f"theta rule must be one of {THETA_RULES}, got {rule!r}")
    if rule == "auto":
        return "frame_labels" if all(r.has_frame_gt for r in records_val) else "video_labels"
    if rule == "frame_labels" and not all(r.has_frame_gt for r in records_val):
        missing = [r.id for r in records_val if not r.has_frame_gt]
        raise ValueError(f"theta rule frame_labels: {len(missing)} validation videos have video "
                         f"labels only ({', '.join(missing[:5])}...); use video_labels or auto")
    return rule


def choose_val_theta(records_val: Sequence[Any], val_scores: Mapping[str, Any], rule: str = "auto"
                     ) -> float:
    """θ from the **validation** split's temporal scores (never test): Youden's J against frame
    labels (:func:`youden_theta`) or against video labels (:func:`video_label_theta`), by
    :func:`theta_rule_for`. ``val_scores``: snippet scores per validation video."""
    from ..datasets import frame_labels
    from ..metrics import expand_snippet_scores

    missing = [r.id for r in records_val if r.id not in val_scores]
    if missing:
        raise ValueError(f"choose_val_theta: no validation scores for {len(missing)} videos "
                         f"({', '.join(missing[:5])}); were the scores made with other splits or "
                         f"another val_fraction?")
    fs = {r.id: expand_snippet_scores(val_scores[r.id], r.n_frames) for r in records_val}
    if theta_rule_for(records_val, rule) == "frame_labels":
        return youden_theta(fs, {r.id: frame_labels(r) for r in records_val})
    return video_label_theta(fs, {r.id: r.label for r in records_val})


def check_localization_ground_truth(records_test: Sequence[Any], dataset: str = "") -> None:
    """Raise a clear error when the test split has no anomaly box at all (localization cannot be
    scored), naming where the dataset's boxes come from."""
    from ..datasets.samples import BOX_SOURCES, has_boxes

    if not has_boxes(records_test):
        raise ValueError(f"{dataset or 'the dataset'}: no anomaly box on the test split, so "
                         f"localization cannot be scored; "
                         f"{BOX_SOURCES.get(dataset, 'the reader found no box annotation')}")


def localize_and_score(method: str, features: Mapping[str, Any], records: Mapping[str, Sequence[Any]],
                       scores: Mapping[str, Mapping[str, Any]], cfg: LocalizeConfig | None = None,
                       queries: QueryEmbeddings | None = None, seed: int = 0, theta_rule: str = "auto",
                       parts: bool = False) -> tuple:
    """θ from the **validation** scores (:func:`choose_val_theta` with ``theta_rule``), then
    ``method`` on the test split and its metrics (:func:`localization_metrics`, with ``theta``).
    ``records`` and ``scores`` hold the splits ``"val"`` and ``"test"`` (snippet scores per
    video); ``features`` the test videos'. Returns the metrics and the test localizations, and
    with ``parts`` also the metrics' per-video sums (:class:`stprompt.stats.LocalizationParts`)."""
    theta = choose_val_theta(records["val"], scores["val"], theta_rule)
    locs = localize_split(method, features, scores["test"], records["test"], theta, cfg, queries, seed=seed)
    if parts:
        metrics, sums = localization_metrics(locs, records["test"], scores["test"], parts=True)
        return {**metrics, "theta": theta}, locs, sums
    return {**localization_metrics(locs, records["test"], scores["test"]), "theta": theta}, locs


def _gt_regions(record: Any) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Per-frame ground-truth boxes and track ids (tracks when the record has them, else the
    frame box as one track)."""
    from ..datasets import frame_boxes as record_boxes, load_track_boxes
    from ..datasets.records import has_tracks

    regions: dict[int, np.ndarray] = {}
    ids: dict[int, np.ndarray] = {}
    tb = load_track_boxes(record) if has_tracks(record) else None
    if tb is not None and len(tb):
        for f in range(record.n_frames):
            present = ~np.isnan(tb[:, f]).any(1)
            if present.any():
                regions[f] = tb[present, f]
                ids[f] = np.flatnonzero(present)
    elif tb is None:
        fb = record_boxes(record)
        for f in np.flatnonzero(~np.isnan(fb).any(1)):
            regions[int(f)] = fb[f][None]
            ids[int(f)] = np.zeros(1, int)
    return regions, ids


def has_dense_regions(record: Any) -> bool:
    """Whether the record's ground truth gives the anomalous regions of **every** anomalous frame
    (dense boxes, tracks, or regions from its pixel mask), as RBDC/TBDC need; Liu & Ma's boxes on
    every 16th frame do not (a right box on the frames between would count as a false positive)."""
    from ..datasets.records import has_tracks

    return record.boxes is not None or has_tracks(record)


def localization_metrics(locs: Mapping[str, dict], records: Sequence[Any], snippet_scores: Mapping[str, Any],
                         pixel_frames: str = "snippet_mid", parts: bool = False) -> Any:
    """TIoU (pooled over annotated anomalous frames), RBDC and TBDC (predicted region = the box of
    each active frame, scored by its temporal frame score), and pixel AUC of the heat maps against
    the pixel masks on the middle frame of every snippet of the anomalous videos that have a mask
    (``pixel_frames="snippet_mid"``: one frame per snippet keeps memory small; the heat map is
    constant within a snippet; accumulated one video at a time, :class:`stprompt.metrics.PixelAUC`).

    Each metric is computed on its own, and one the ground truth cannot define is left out while
    the others are kept: TIoU needs boxes on annotated frames; RBDC/TBDC need the regions of every
    anomalous frame of every anomalous video (:func:`has_dense_regions`; not UCF-Crime's sparse
    boxes); pixel AUC needs pixel masks (ShanghaiTech, UBnormal, SynthVAD).

    ``parts=True`` returns ``(metrics, parts)``: the same metrics as per-video sums
    (:class:`stprompt.stats.LocalizationParts`, what a video-level bootstrap of them needs; θ stays
    the one given)."""
    from ..datasets import frame_boxes as record_boxes, frame_labels, load_pixel_mask
    from ..metrics import PixelAUC, _tiou_terms, expand_snippet_scores, region_track_detection, region_track_scores

    pred, gt, fs = {}, {}, {}
    pred_regions, gt_regions, gt_tracks, n_frames = {}, {}, {}, {}
    pixels = PixelAUC()
    dense = all(has_dense_regions(r) for r in records if r.label)
    for r in records:
        loc = locs[r.id]
        scores = expand_snippet_scores(np.asarray(snippet_scores[r.id], float), r.n_frames)
        boxes = frame_boxes(loc, r.n_frames)
        n_frames[r.id] = r.n_frames
        pred_regions[r.id] = {int(f): [(boxes[f], float(scores[f]))]
                              for f in np.flatnonzero(~np.isnan(boxes).any(1))}
        if not r.label:
            continue
        labels = frame_labels(r).astype(bool)
        gtb = record_boxes(r)
        keep = labels & ~np.isnan(gtb).any(1)
        pred[r.id], gt[r.id], fs[r.id] = boxes[keep], gtb[keep], scores[keep]
        if dense:
            gt_regions[r.id], gt_tracks[r.id] = _gt_regions(r)
        if pixel_frames == "snippet_mid" and r.pixel_mask_path is not None:
            mids = [min((t * SNIPPET_LEN + (t + 1) * SNIPPET_LEN - 1) // 2, r.n_frames - 1)
                    for t in range(len(loc["window_scores"]))]
            pixels.add(r.id, frame_heat_maps(loc, r.n_frames, mids), load_pixel_mask(r, mids))
    theta = float(next(iter(locs.values()))["theta"])
    out = {"theta": theta}
    try:
        out["tiou"] = float(tiou(pred, gt, fs, theta))
    except UndefinedMetricError:
        pass
    matched = None
    if dense and gt_regions:
        try:
            matched = region_track_scores(pred_regions, gt_regions, gt_tracks, n_frames)
            det = region_track_detection(matched)  # = metrics.rbdc_tbdc(pred_regions, gt_regions, ...)
            out["rbdc"], out["tbdc"] = float(det.rbdc), float(det.tbdc)
        except UndefinedMetricError:
            matched = None
    try:
        out["pixel_auc"] = float(pixels.value())
    except UndefinedMetricError:
        pass
    if not parts:
        return out
    from ..stats import localization_parts

    return out, localization_parts([r.id for r in records], n_frames, _tiou_terms(pred, gt, fs, theta, False),
                                   matched, pixels if "pixel_auc" in out else None)


def tiou_vs_theta(features: Mapping[str, Any], snippet_scores: Mapping[str, Any], records: Sequence[Any],
                  queries: QueryEmbeddings, thetas: Sequence[float], cfg: LocalizeConfig | None = None) -> np.ndarray:
    """TIoU of the spatial stream at each θ (boxes computed once, ungated, then gated by θ)."""
    from ..datasets import frame_boxes as record_boxes, frame_labels
    from ..metrics import expand_snippet_scores

    cfg = cfg or LocalizeConfig()
    pred, gt, fs = {}, {}, {}
    for r in records:
        if not r.label:
            continue
        loc = localize_video(features[r.id], snippet_scores[r.id], queries, cfg, r.height, r.width,
                             theta=-np.inf)
        boxes = frame_boxes(loc, r.n_frames)
        gtb = record_boxes(r)
        keep = frame_labels(r).astype(bool) & ~np.isnan(gtb).any(1)
        pred[r.id], gt[r.id] = boxes[keep], gtb[keep]
        fs[r.id] = expand_snippet_scores(np.asarray(snippet_scores[r.id], float), r.n_frames)[keep]
    return np.array([tiou(pred, gt, fs, float(t)) for t in thetas])


def example_frames(locs: Mapping[str, dict], records: Sequence[Any], per_class: int = 2) -> list[dict]:
    """For the first ``per_class`` anomalous videos of each class: the middle annotated frame with
    its heat map, predicted box (NaN when the snippet is below θ) and ground-truth box."""
    from ..datasets import frame_boxes as record_boxes, frame_labels, read_frames
    from ..metrics import box_iou

    seen: dict[str, int] = {}
    out = []
    for r in records:
        if not r.label or seen.get(r.class_name, 0) >= per_class:
            continue
        gtb = record_boxes(r)
        frames = np.flatnonzero(frame_labels(r).astype(bool) & ~np.isnan(gtb).any(1))
        if not len(frames):
            continue
        f = int(frames[len(frames) // 2])
        loc = locs[r.id]
        box = frame_boxes(loc, r.n_frames)[f]
        iou = 0.0 if np.isnan(box).any() else float(box_iou(box, gtb[f]))
        out.append({"frame": read_frames(r.path, f, f + 1)[0], "heat": frame_heat_maps(loc, r.n_frames, [f])[0],
                    "box": box, "gt_box": gtb[f], "title": f"{r.id.split('_')[-1]} {r.class_name} f{f}\nIoU {iou:.2f}"})
        seen[r.class_name] = seen.get(r.class_name, 0) + 1
    return out

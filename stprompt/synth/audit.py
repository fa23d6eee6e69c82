"""Audits of SynthVAD's ground truth: do the labels cover what is visible, and can a trivial cue that
is not the anomaly detect it?

**Footprint.** Every video is rendered twice from its plan: as generated, and with the anomaly's
objects left out on the frames where they are anomalous (:func:`~stprompt.synth.render.render_frames`
``hide_anomalies=True``; noise, illumination and every other agent are identical). The per-pixel
difference (max over RGB) is what the anomaly adds to the video, its *footprint*. A footprint pixel
is *visible* when it differs by at least :data:`VISIBLE` grey levels (the sensor noise has
σ = 3 levels, and both renders share it exactly, so smaller differences are the anomaly's faint
edges). :func:`footprint_audit` counts the visible footprint that lies on frames labelled normal,
outside the frame's ground-truth box, and outside the pixel mask. Labels equal what is visible when
those shares are small; ``tests/test_synth_audit.py`` states the bounds per class.

**Motion shortcut.** :func:`motion_shortcut_auc` scores each frame by the mean absolute difference to
the next frame over the whole frame (global motion magnitude, nothing about the anomaly's place or
look) and reports, per anomaly class, the frame AUC of that score over the class's videos and the
normal videos, in both directions (more motion = anomalous, and less motion = anomalous). Only the
motion-only class (``running``) should be found this way; for every other class both directions
should stay near chance, or the benchmark rewards a cue that is not the anomaly (the old
``road_accident`` stopped all traffic after the crash: less motion alone found it at AUC 0.89).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .config import NORMAL, SynthConfig, VideoSpec, video_specs
from .render import ground_truth, render_frames, simulate

VISIBLE = 8  # grey levels (max over RGB) for a footprint pixel to count as visible


def footprint(plan) -> np.ndarray:
    """``(T, H, W)`` uint8: max over channels of |render − render without the anomaly|."""
    full, _ = render_frames(plan, with_masks=False)
    hidden, _ = render_frames(plan, with_masks=False, hide_anomalies=True)
    return np.abs(full.astype(np.int16) - hidden.astype(np.int16)).max(axis=-1).astype(np.uint8)


def footprint_audit(cfg: SynthConfig, specs: Iterable[VideoSpec], visible: int = VISIBLE) -> list[dict]:
    """One row per anomalous video: its visible footprint pixels and how many lie on frames labelled
    normal (``off_frames``), outside the frame's box on labelled frames (``off_box``) and outside the
    pixel mask on labelled frames (``off_mask``)."""
    rows = []
    for spec in specs:
        if spec.cls == NORMAL:
            continue
        plan = simulate(cfg, spec)
        fp = footprint(plan) >= visible
        _, masks = render_frames(plan, with_masks=True)
        gt = ground_truth(plan, masks)
        labelled = gt.labels.astype(bool)
        T, H, W = fp.shape
        inside_box = np.zeros_like(fp)
        for t in np.flatnonzero(labelled):
            x1, y1, x2, y2 = (int(v) for v in gt.boxes[t])
            inside_box[t, y1:y2, x1:x2] = True
        rows.append({"video": spec.id, "class": spec.cls, "visible": int(fp.sum()),
                     "off_frames": int(fp[~labelled].sum()),
                     "off_box": int((fp[labelled] & ~inside_box[labelled]).sum()),
                     "off_mask": int((fp[labelled] & ~masks[labelled].astype(bool)).sum()),
                     "frames_visible_unlabelled": int((fp[~labelled].reshape((~labelled).sum(), -1)
                                                       .sum(1) >= 4).sum()) if (~labelled).any() else 0})
    return rows


def footprint_table(rows: Sequence[dict]) -> list[dict]:
    """Per class: videos, visible footprint pixels, and the shares of them outside the labelled
    frames, outside the boxes and outside the masks."""
    out = []
    for cls in sorted({r["class"] for r in rows}):
        rs = [r for r in rows if r["class"] == cls]
        vis = sum(r["visible"] for r in rs) or 1
        out.append({"class": cls, "videos": len(rs), "visible pixels": sum(r["visible"] for r in rs),
                    "off labelled frames": sum(r["off_frames"] for r in rs) / vis,
                    "off the box": sum(r["off_box"] for r in rs) / vis,
                    "off the mask": sum(r["off_mask"] for r in rs) / vis,
                    "unlabelled frames with footprint": sum(r["frames_visible_unlabelled"] for r in rs)})
    return out


def global_motion(frames: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """``(T,)`` mean |frame t+1 − frame t| over pixels and channels (the last frame repeats the
    previous difference). ``exclude`` (``(T, 4)`` boxes, NaN rows for none): pixels inside the box of
    frame t or t+1 are left out of the mean (the motion of everything but the anomaly)."""
    f = frames.astype(np.int16)
    d = np.abs(f[1:] - f[:-1]).mean(axis=-1)  # (T-1, H, W)
    if exclude is None:
        m = d.mean(axis=(1, 2))
    else:
        keep = np.ones(d.shape, bool)
        for t in range(len(d)):
            for b in (exclude[t], exclude[t + 1]):
                if not np.isnan(b).any():
                    x1, y1, x2, y2 = (int(v) for v in b)
                    keep[t, y1:y2, x1:x2] = False
        m = np.array([d[t][keep[t]].mean() if keep[t].any() else 0.0 for t in range(len(d))])
    return np.concatenate([m, m[-1:]]) if len(m) else np.zeros(len(frames))


def _dilate(boxes: np.ndarray, width: int, height: int, factor: float = 0.25) -> np.ndarray:
    """Boxes grown by ``factor`` of their size on every side, clipped to the frame."""
    b = boxes.copy()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    b[:, 0] = np.clip(b[:, 0] - factor * w, 0, width)
    b[:, 2] = np.clip(b[:, 2] + factor * w, 0, width)
    b[:, 1] = np.clip(b[:, 1] - factor * h, 0, height)
    b[:, 3] = np.clip(b[:, 3] + factor * h, 0, height)
    return b


def motion_shortcut_auc(cfg: SynthConfig, specs: Iterable[VideoSpec] | None = None,
                        split: str = "test") -> list[dict]:
    """Per anomaly class: frame AUC of global motion magnitude over the class's videos plus the
    normal videos of ``split``, as ``more motion`` and ``less motion`` (= 1 − AUC), and the larger of
    the two (how well the cue alone finds the class)."""
    from sklearn.metrics import roc_auc_score

    specs = [s for s in (specs if specs is not None else video_specs(cfg)) if s.split == split]
    motion, context, labels, cls = {}, {}, {}, {}
    for spec in specs:
        plan = simulate(cfg, spec)
        frames, _ = render_frames(plan, with_masks=False)
        gt = ground_truth(plan)
        motion[spec.id] = global_motion(frames)
        context[spec.id] = global_motion(frames, _dilate(gt.boxes, cfg.width, cfg.height))
        labels[spec.id] = gt.labels
        cls[spec.id] = spec.cls
    normal = [v for v in motion if cls[v] == NORMAL]
    rows = []
    for c in sorted({c for c in cls.values() if c != NORMAL}):
        pool = [v for v in motion if cls[v] == c] + normal
        y = np.concatenate([labels[v] for v in pool])
        auc = float(roc_auc_score(y, np.concatenate([motion[v] for v in pool])))
        ctx = float(roc_auc_score(y, np.concatenate([context[v] for v in pool])))
        rows.append({"class": c, "videos": len(pool) - len(normal), "more motion": auc,
                     "less motion": 1 - auc, "cue strength": max(auc, 1 - auc),
                     "context cue strength": max(ctx, 1 - ctx)})
    return rows

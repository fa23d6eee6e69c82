"""Linear probes: how well the features separate anomalous from normal snippets when the labels are
exact — the ceiling the features set before any weakly supervised model sees them.

Run on a split with frame labels and boxes (SynthVAD's test split). A snippet is anomalous when any
of its frames is labelled. Each probe is a logistic regression on standardised features whose
held-out predictions come from 5-fold cross-validation **grouped by video** (no video is in its own
training fold); the number reported is the ROC-AUC of those predictions over snippets. Rows:

- ``frame feature``: ``X_f[t]``, the CLIP feature of the snippet's frame;
- ``frame + top-K motion windows``: ``X_f[t] + Σ_k w_k X_p[t, k]`` over the K windows of highest
  motion prior, ``w`` proportional to the motion prior (SA2's input, :mod:`stprompt.model.sa2`);
- ``anomaly window vs normal windows``: for each anomalous snippet the window that holds most of the
  ground-truth box (its feature ``X_p[t, g]``) against every window of the normal videos' snippets —
  what the spatial stream and SA2 need a window feature to tell apart;
- ``motion prior (max over windows)``: the snippet's largest window motion prior as a score, no
  training: how much motion alone says.

Each row is given over every test snippet and per class (the snippets of that class's videos and of
the normal videos, as the per-class AUC of the main table; for the window row, that class's anomaly
windows against the normal videos' windows). Probes are diagnostics of the features, not methods: they see exact
labels.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

ROWS = ("frame feature", "frame + top-K motion windows", "anomaly window vs normal windows",
        "motion prior (max over windows)")


def _cv_auc(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y)) < 2 or len(np.unique(groups)) < folds:
        return float("nan")
    pred = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        if len(np.unique(y[train])) < 2:
            pred[test] = 0.5
            continue
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
        clf.fit(x[train], y[train])
        pred[test] = clf.predict_proba(x[test])[:, 1]
    return float(roc_auc_score(y, pred))


def _box_share(window: np.ndarray, box: np.ndarray) -> float:
    ix = max(0.0, min(window[2], box[2]) - max(window[0], box[0]))
    iy = max(0.0, min(window[3], box[3]) - max(window[1], box[1]))
    area = (box[2] - box[0]) * (box[3] - box[1])
    return ix * iy / area if area > 0 else 0.0


def snippet_table(records: Sequence[Any], feature_dir: Any, k: int = 3, snippet_len: int = 16) -> dict:
    """Per snippet of every record: label, class, video index, frame feature, SA2 input, motion prior
    maximum, and for anomalous snippets the feature of the window holding most of the box."""
    from .datasets import frame_boxes, frame_labels
    from .features import feature_path, load_features

    rows = {"y": [], "cls": [], "video": [], "frame": [], "sa2": [], "motion": [], "window": [],
            "window_y": [], "window_cls": [], "window_video": []}
    for v, rec in enumerate(records):
        f = load_features(feature_path(feature_dir, rec.id))
        labels = frame_labels(rec, f.n_snippets * snippet_len)
        boxes = frame_boxes(rec) if rec.label else None
        wb = np.asarray(f.recipe["window_boxes"], dtype=float)
        for t in range(f.n_snippets):
            lab = labels[t * snippet_len:(t + 1) * snippet_len]
            y = int(lab.any())
            m = f.motion[t]
            top = np.argsort(-m)[:k]
            w = m[top] / m[top].sum() if m[top].sum() > 0 else np.full(len(top), 1 / len(top))
            rows["y"].append(y)
            rows["cls"].append(rec.class_name if rec.label else "normal")
            rows["video"].append(v)
            rows["frame"].append(f.frame[t])
            rows["sa2"].append(f.frame[t] + (w[:, None] * f.patch[t, top]).sum(0) if f.patch is not None else f.frame[t])
            rows["motion"].append(float(m.max()))
            if f.patch is None:
                continue
            if y and boxes is not None:
                frames = np.flatnonzero(lab) + t * snippet_len
                mid = frames[len(frames) // 2]
                if mid < len(boxes) and not np.isnan(boxes[mid]).any():
                    shares = [_box_share(b, boxes[mid]) for b in wb]
                    g = int(np.argmax(shares))
                    rows["window"].append(f.patch[t, g])
                    rows["window_y"].append(1)
                    rows["window_cls"].append(rec.class_name)
                    rows["window_video"].append(v)
            elif not rec.label:
                for g in range(f.patch.shape[1]):
                    rows["window"].append(f.patch[t, g])
                    rows["window_y"].append(0)
                    rows["window_cls"].append("normal")
                    rows["window_video"].append(v)
    return {k_: np.asarray(v_) for k_, v_ in rows.items()}


def probe_table(records: Sequence[Any], feature_dir: Any, k: int = 3, classes: Sequence[str] | None = None,
                seed: int = 0) -> list[dict]:
    """One row per probe (:data:`ROWS`): its AUC over all classes and per class (module docstring)."""
    from sklearn.metrics import roc_auc_score

    d = snippet_table(records, feature_dir, k)
    classes = list(classes or sorted({c for c in d["cls"] if c != "normal"}))
    out = []
    for name in ROWS:
        row = {"probe": name}
        for c in ["all", *classes]:
            if name == "anomaly window vs normal windows":
                if not len(d["window"]):
                    row[c] = float("nan")
                    continue
                keep = (d["window_cls"] == "normal") | ((d["window_cls"] == c) if c != "all" else True)
                x, y, g = d["window"][keep], d["window_y"][keep], d["window_video"][keep]
            else:  # the class's videos (all their snippets) and the normal videos, as per-class AUC
                keep = np.ones(len(d["y"]), bool) if c == "all" else (d["cls"] == "normal") | (d["cls"] == c)
                y, g = d["y"][keep], d["video"][keep]
                if name == "motion prior (max over windows)":  # a score as it is, no training
                    row[c] = float(roc_auc_score(y, d["motion"][keep])) if len(np.unique(y)) == 2 else float("nan")
                    continue
                x = (d["frame"] if name == "frame feature" else d["sa2"])[keep]
            row[c] = _cv_auc(x, y, g, seed=seed)
        out.append(row)
    return out

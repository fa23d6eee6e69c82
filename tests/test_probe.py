"""Linear probes (stprompt.probe): cross-validation grouped by video, and the table's rows and
per-class subsets checked against scikit-learn on hand-made snippet tables."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from stprompt import probe


def test_cv_auc_separable_random_and_grouped():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(40) % 2, 10)  # 40 videos of 10 snippets, one label per video
    groups = np.repeat(np.arange(40), 10)
    x = rng.normal(size=(400, 4))
    x_sep = x + 3.0 * y[:, None]
    assert probe._cv_auc(x_sep, y, groups) > 0.97
    assert abs(probe._cv_auc(x, y, groups) - 0.5) < 0.12
    # a feature that only identifies the video: memorised if a video could be in its own training
    # fold, useless when folds are grouped by video
    video_code = np.eye(40)[groups] * 5.0 + rng.normal(scale=0.01, size=(400, 40))
    y_random = np.repeat(rng.integers(0, 2, 40), 10)
    assert probe._cv_auc(video_code, y_random, groups) < 0.7
    assert np.isnan(probe._cv_auc(x, np.zeros(400, int), groups))


def test_probe_table_rows_and_class_subsets(monkeypatch):
    rng = np.random.default_rng(1)
    n = 300
    cls = np.array(["normal"] * 150 + ["fire"] * 75 + ["fighting"] * 75)
    video = np.repeat(np.arange(30), 10)
    y = ((cls != "normal") & (np.arange(n) % 10 >= 5)).astype(int)
    motion = rng.random(n) + 0.5 * y * (cls == "fire")
    frame = rng.normal(size=(n, 3)) + 2.0 * y[:, None]
    table = {"y": y, "cls": cls, "video": video, "frame": frame, "sa2": frame, "motion": motion,
             "window": frame[y == 1], "window_y": np.ones(int(y.sum()), int), "window_cls": cls[y == 1],
             "window_video": video[y == 1]}
    # normal windows
    table["window"] = np.concatenate([table["window"], frame[cls == "normal"]])
    table["window_y"] = np.concatenate([table["window_y"], np.zeros(150, int)])
    table["window_cls"] = np.concatenate([table["window_cls"], cls[cls == "normal"]])
    table["window_video"] = np.concatenate([table["window_video"], video[cls == "normal"]])
    monkeypatch.setattr(probe, "snippet_table", lambda *a, **k: table)
    rows = {r["probe"]: r for r in probe.probe_table([], None)}
    assert list(rows) == list(probe.ROWS)
    m = rows["motion prior (max over windows)"]
    assert m["all"] == roc_auc_score(y, motion)
    keep = (cls == "normal") | (cls == "fire")
    assert m["fire"] == roc_auc_score(y[keep], motion[keep])
    assert m["fire"] > m["fighting"]
    assert rows["frame feature"]["all"] > 0.9 and rows["anomaly window vs normal windows"]["fighting"] > 0.9

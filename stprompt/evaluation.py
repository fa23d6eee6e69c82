"""Evaluating trained runs on the test split: per-seed reports, the main table (mean ± std over
seeds), per-class AUC, ROC curves and score curves (notebook ``03_evaluate``).

Scores come from ``<run_dir>/scores/<method>_seed<k>.npz`` (written by
:func:`stprompt.train.fit_and_score`); ground truth from the test records. The frame-supervised
oracle sees frame labels in training and is reported as an upper bound, never as a competitor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .io import resolve
from .report import mean_std

ORACLE_NOTE = "oracle (frame labels; upper bound)"
MAIN_COLUMNS = (("auc_micro", "frame AUC"), ("ap_sklearn", "AP (sklearn)"),
                ("false_alarm_rate", "FAR@0.5"), ("auc_anomalous_videos", "AUC (anomalous videos)"))


def run_name(method: str, seed: int) -> str:
    return f"{method}_seed{seed}"


def load_scores(run_dir: str | Path, method: str, seed: int, split: str = "test") -> dict[str, np.ndarray]:
    """Snippet scores of one run on the test split (or ``split="val"``)."""
    suffix = "" if split == "test" else f"_{split}"
    path = resolve(run_dir) / "scores" / f"{run_name(method, seed)}{suffix}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no test scores for {method}, seed {seed} (run 02_train with "
                                f"these methods and seeds first)")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def evaluate_runs(run_dir: str | Path, records: Sequence[Any], methods: Sequence[str],
                  seeds: Sequence[int]) -> dict[str, list[dict]]:
    """``{method: [detection report per seed]}`` on the test records."""
    from .train import evaluate

    return {m: [evaluate(load_scores(run_dir, m, s), records) for s in seeds] for m in methods}


def display_name(method: str) -> str:
    return ORACLE_NOTE if method == "oracle" else method


def main_table(reports: dict[str, list[dict]], digits: int = 3) -> list[dict]:
    """One row per method: each main metric as mean ± std over seeds (and the seed count)."""
    rows = []
    for method, reps in reports.items():
        row = {"method": display_name(method), "seeds": len(reps)}
        for key, label in MAIN_COLUMNS:
            row[label] = mean_std([r[key] for r in reps], digits)
        rows.append(row)
    return rows


def per_class_table(reports: dict[str, list[dict]], digits: int = 3) -> list[dict]:
    """One row per method, one column per anomaly class: AUC on that class's videos plus all
    normal videos, mean over seeds."""
    rows = []
    for method, reps in reports.items():
        classes = sorted(reps[0].get("auc_per_class", {}))
        row = {"method": display_name(method)}
        for c in classes:
            vals = [r["auc_per_class"][c] for r in reps]
            row[c] = round(float(np.mean(vals)), digits)
        rows.append(row)
    return rows


def roc_curves(run_dir: str | Path, records: Sequence[Any], methods: Sequence[str],
               seed: int) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Frame-level ROC of each method for one seed."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from .datasets import frame_labels
    from .train import frame_scores

    y = np.concatenate([frame_labels(r) for r in records])
    out = {}
    for m in methods:
        fs = frame_scores(load_scores(run_dir, m, seed), records)
        s = np.concatenate([fs[r.id] for r in records])
        fpr, tpr, _ = roc_curve(y, s)
        out[display_name(m)] = (fpr, tpr, float(roc_auc_score(y, s)))
    return out


def score_curve_videos(run_dir: str | Path, records: Sequence[Any], methods: Sequence[str], seed: int,
                       n: int = 4) -> list[dict]:
    """Inputs of :func:`stprompt.viz.score_curves_figure`: the first anomalous test video of each of
    ``n - 1`` classes and one normal video."""
    from .datasets import frame_labels
    from .train import frame_scores

    scores = {display_name(m): frame_scores(load_scores(run_dir, m, seed), records) for m in methods}
    picked, seen = [], set()
    for r in records:
        if r.label and r.class_name not in seen and len(picked) < n - 1:
            picked.append(r)
            seen.add(r.class_name)
    picked += [r for r in records if not r.label][:1]
    return [{"id": r.id, "class_name": r.class_name, "labels": frame_labels(r),
             "scores": {name: s[r.id] for name, s in scores.items()}} for r in picked]

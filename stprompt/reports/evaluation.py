"""Evaluating trained runs on the test split: per-seed reports, the main table (mean ± std over
seeds with 95 % intervals, the within-video AUC and each method's difference to the reference
method), the split of pooled AUC into within- and cross-video pairs, per-class AUC, ROC curves and
score curves (notebook ``03_evaluate``).

Scores come from ``<run_dir>/scores/<method>_seed<k>.npz`` (written by
:func:`stprompt.train.fit_and_score`); ground truth from the test records. The frame-supervised
oracle sees frame labels in training and is reported as an upper bound, never as a competitor.

Intervals: the paired video-level bootstrap of :mod:`stprompt.stats` — the test videos are
resampled (:data:`stprompt.stats.N_BOOT` = 1000 resamples drawn from seed
:data:`stprompt.stats.BOOT_SEED` = 0, the same for every method), on each resample every seed's
metric is computed and averaged over seeds, and the interval is the 2.5–97.5 percentile range of
those means. A difference to the reference is *resolved* when its interval excludes 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..io import resolve
from .tables import mean_std
from ..stats import BOOT_SEED, METRIC_NAMES, N_BOOT, format_difference, format_estimate, format_interval

ORACLE_NOTE = "oracle (frame labels; upper bound)"
MAIN_COLUMNS = (("auc_micro", "frame AUC"), ("ap_sklearn", "AP (sklearn)"),
                ("false_alarm_rate", "FAR@0.5"), ("auc_anomalous_videos", "AUC (anomalous videos)"))
#: Columns of the main table with intervals, in order; a difference column follows those in
#: :data:`COMPARED_IN_MAIN`.
INTERVAL_COLUMNS = ("auc_micro", "auc_within_video", "ap_sklearn", "false_alarm_rate", "auc_anomalous_videos")
COMPARED_IN_MAIN = ("auc_micro", "auc_within_video")
#: Metrics an ablation grid's summary compares with its reference configuration
#: (:func:`stprompt.run.ablate.grid_summary`) and the results page marks resolved or not.
COMPARED_IN_ABLATIONS = ("auc_micro", "auc_within_video", "tiou")
DEFAULT_REFERENCE = "stprompt"


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
    from ..train import evaluate

    return {m: [evaluate(load_scores(run_dir, m, s), records) for s in seeds] for m in methods}


def display_name(method: str) -> str:
    return ORACLE_NOTE if method == "oracle" else method


def detection_bootstrap(run_dir: str | Path, records: Sequence[Any], methods: Sequence[str], seeds: Sequence[int],
                        reference: str | None = DEFAULT_REFERENCE, n_boot: int = N_BOOT,
                        seed: int = BOOT_SEED) -> dict[str, Any]:
    """The paired video-level bootstrap (module docstring) of every method's test scores:
    ``{"detection": ..., "per_class": ...}``, each what :func:`stprompt.stats.bootstrap` returns
    (detection: the metrics of :data:`stprompt.stats.METRICS` and differences to ``reference``,
    when it is among ``methods``; per class: the AUC of each class's videos with the normal
    videos), plus ``"within_pair_share"``, the share of (anomalous, normal) frame pairs that lie
    in one video (it depends on the labels only). One run's frame scores are held at a time."""
    from ..datasets import frame_labels
    from ..stats import bootstrap, detection_evaluation, per_class_evaluation, score_groups, within_pair_share
    from ..train import frame_scores

    labels = {r.id: frame_labels(r) for r in records}
    classes = [r.class_name if r.label else "normal" for r in records]
    det: dict[str, list] = {}
    per_class: dict[str, list] = {}
    for m in methods:
        for s in seeds:
            g = score_groups(frame_scores(load_scores(run_dir, m, s), records), labels)
            det.setdefault(m, []).append(detection_evaluation(g))
            per_class.setdefault(m, []).append(per_class_evaluation(g, classes))
    ref = reference if reference in det else None
    return {"detection": bootstrap(det, ref, n_boot, seed), "per_class": bootstrap(per_class, None, n_boot, seed),
            "within_pair_share": within_pair_share(labels)}


def main_table(reports: dict[str, list[dict]], digits: int = 3, boot: dict[str, Any] | None = None) -> list[dict]:
    """One row per method: each main metric as mean ± std over seeds (and the seed count).

    With ``boot`` (the ``"detection"`` part of :func:`detection_bootstrap`): every metric of
    :data:`INTERVAL_COLUMNS` as ``mean ± std [95 % interval]``, the within-video AUC among them,
    and for the metrics of :data:`COMPARED_IN_MAIN` the difference to the reference method with
    its interval and *resolved*/*unresolved* (the reference row says ``reference``)."""
    rows = []
    ref = (boot or {}).get("reference")
    for method, reps in reports.items():
        row = {"method": display_name(method), "seeds": len(reps)}
        if boot is None:
            for key, label in MAIN_COLUMNS:
                row[label] = mean_std([r[key] for r in reps], digits)
        else:
            for key in INTERVAL_COLUMNS:
                row[METRIC_NAMES[key]] = format_estimate(boot["methods"][method][key], digits)
                if key in COMPARED_IN_MAIN and ref is not None:
                    row[f"Δ {METRIC_NAMES[key]} vs {ref}"] = (
                        "reference" if method == ref else format_difference(boot["differences"][method].get(key), digits))
        rows.append(row)
    return rows


def differences_table(boot: dict[str, Any], metrics: Sequence[str] = INTERVAL_COLUMNS, key: str = "method",
                      digits: int = 3) -> list[dict]:
    """One row per method other than the reference: its difference to the reference on every
    metric of ``metrics`` (``method − reference``), with interval and *resolved*/*unresolved*.
    ``boot``: what :func:`stprompt.stats.bootstrap` returns."""
    ref = boot.get("reference")
    rows = []
    for method, diffs in boot.get("differences", {}).items():
        row = {key: f"{display_name(method)} − {ref}"}
        for m in metrics:
            if m in boot["methods"][method]:
                row[f"Δ {METRIC_NAMES.get(m, m)}"] = format_difference(diffs.get(m), digits)
        rows.append(row)
    return rows


def auc_split_table(boot: dict[str, Any], within_pair_share: float, digits: int = 3) -> list[dict]:
    """Pooled frame AUC split into within- and cross-video pairs per method
    (:func:`stprompt.stats.auc_decomposition`): ``pooled = w · within-pairs + (1 − w) · cross-pairs``
    with ``w`` the share of anomalous-normal frame pairs inside one video; with the per-video mean
    (within-video AUC) beside them, all with their intervals."""
    rows = []
    for method, entries in boot["methods"].items():
        rows.append({"method": display_name(method), "frame AUC (all pairs)": format_estimate(entries["auc_micro"], digits),
                     "share of pairs within a video": f"{within_pair_share:.4f}",
                     "AUC on within-video pairs": format_estimate(entries["auc_within_pairs"], digits),
                     "AUC on cross-video pairs": format_estimate(entries["auc_cross_pairs"], digits),
                     "within-video AUC (mean per video)": format_estimate(entries["auc_within_video"], digits)})
    return rows


def per_class_table(reports: dict[str, list[dict]], digits: int = 3, boot: dict[str, Any] | None = None) -> list[dict]:
    """One row per method, one column per anomaly class: AUC on that class's videos plus all
    normal videos, mean over seeds; with ``boot`` (the ``"per_class"`` part of
    :func:`detection_bootstrap`) as ``mean [95 % interval]``."""
    rows = []
    for method, reps in reports.items():
        classes = sorted(reps[0].get("auc_per_class", {}))
        row = {"method": display_name(method)}
        for c in classes:
            if boot is not None:
                row[c] = format_interval(boot["methods"][method][c], digits)
            else:
                vals = [r["auc_per_class"][c] for r in reps]
                row[c] = round(float(np.mean(vals)), digits)
        rows.append(row)
    return rows


def roc_curves(run_dir: str | Path, records: Sequence[Any], methods: Sequence[str],
               seed: int) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Frame-level ROC of each method for one seed."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from ..datasets import frame_labels
    from ..train import frame_scores

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
    """Inputs of :func:`stprompt.reports.viz.score_curves_figure`: the first anomalous test video of each of
    ``n - 1`` classes and one normal video."""
    from ..datasets import frame_labels
    from ..train import frame_scores

    scores = {display_name(m): frame_scores(load_scores(run_dir, m, seed), records) for m in methods}
    picked, seen = [], set()
    for r in records:
        if r.label and r.class_name not in seen and len(picked) < n - 1:
            picked.append(r)
            seen.add(r.class_name)
    picked += [r for r in records if not r.label][:1]
    return [{"id": r.id, "class_name": r.class_name, "labels": frame_labels(r),
             "scores": {name: s[r.id] for name, s in scores.items()}} for r in picked]


LOCALIZATION_COLUMNS = ("tiou", "rbdc", "tbdc", "pixel_auc")  # keys of stprompt.localize.localization_metrics


def localization_bootstrap(parts: dict[str, list[Any]], reference: str | None = "stprompt", n_boot: int = N_BOOT,
                           seed: int = BOOT_SEED) -> dict[str, Any]:
    """The paired video-level bootstrap (module docstring) of localization: ``parts[localizer]``
    holds one :class:`stprompt.stats.LocalizationParts` per seed (from
    :func:`stprompt.localize.localize_and_score` with ``parts=True``; θ stays each seed's, chosen
    on validation). Returns what :func:`stprompt.stats.bootstrap` returns, with differences to
    ``reference`` when it is among the localizers."""
    from ..stats import bootstrap, localization_evaluation

    evaluations = {m: [localization_evaluation(p) for p in seeds] for m, seeds in parts.items()}
    return bootstrap(evaluations, reference if reference in evaluations else None, n_boot, seed)


def localization_table(boot: dict[str, Any], digits: int = 3) -> list[dict]:
    """One row per localizer: TIoU, RBDC, TBDC and pixel AUC (where the ground truth defines them)
    as ``mean ± std [95 % interval]``, and the difference of TIoU to the reference localizer with
    its interval and *resolved*/*unresolved*. Columns keep the metric keys (``tiou``…)."""
    ref = boot.get("reference")
    rows = []
    for name, entries in boot["methods"].items():
        row: dict[str, Any] = {"localizer": name}
        for key in LOCALIZATION_COLUMNS:
            if key in entries:
                row[key] = format_estimate(entries[key], digits)
                if key == "tiou" and ref is not None:
                    row[f"Δ tiou vs {ref}"] = ("reference" if name == ref else
                                               format_difference(boot["differences"][name].get(key), digits))
        rows.append(row)
    return rows


#: What an ablation point keeps for its grid's paired bootstrap (``04_ablations``; read by
#: :func:`stprompt.run.ablate.grid_summary`). It lives here, not in :mod:`stprompt.run.ablate`, so that
#: 04's fingerprint holds no more than the modules it runs (not the pipeline or the results page).
SCORES_FILE = "test_scores.npz"


def save_point_scores(result_dir: str | Path, test_scores: Mapping[str, Any], records: Sequence[Any],
                      parts: Any = None, snippet_len: int = 16) -> Path:
    """Write ``<result_dir>/test_scores.npz`` atomically: the test videos (``ids``, ``n_frames``),
    their snippet scores (``snippet_scores`` concatenated in video order, ``n_snippets`` each,
    ``snippet_len`` frames per snippet), their 0/1 frame labels (``labels``, concatenated) and,
    with ``parts`` (:class:`stprompt.stats.LocalizationParts` of the same videos), the
    localization's per-video sums (``loc_*``). Plain arrays only: loading runs no code."""
    from ..datasets import frame_labels
    from ..io import atomic_path

    ids = [r.id for r in records]
    snippets = [np.asarray(test_scores[r.id], dtype=np.float64).reshape(-1) for r in records]
    arrays = {"ids": np.array(ids, dtype=str), "n_frames": np.array([r.n_frames for r in records], dtype=np.int64),
              "snippet_len": np.asarray(snippet_len, dtype=np.int64),
              "n_snippets": np.array([len(s) for s in snippets], dtype=np.int64),
              "snippet_scores": np.concatenate(snippets) if snippets else np.zeros(0),
              "labels": np.concatenate([frame_labels(r).astype(np.uint8) for r in records]) if records
              else np.zeros(0, np.uint8)}
    if parts is not None:
        if list(parts.ids) != ids:
            raise ValueError("save_point_scores: the localization parts hold other videos than the test records")
        arrays.update(parts.to_arrays())
    path = resolve(result_dir) / SCORES_FILE
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return path


def load_point_scores(path: str | Path) -> dict[str, Any]:
    """What :func:`save_point_scores` wrote: ``{"ids", "frame_scores": {id: (n_frames,)},
    "labels": {id: (n_frames,) uint8}, "parts": LocalizationParts | None}`` (snippet scores
    repeated over their frames, :func:`stprompt.metrics.expand_snippet_scores`). A file that is
    not one raises ``ValueError`` naming it."""
    import zipfile

    from ..metrics import expand_snippet_scores
    from ..stats import LocalizationParts

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a point's test scores ({exc})") from None
    missing = [k for k in ("ids", "n_frames", "snippet_len", "n_snippets", "snippet_scores", "labels") if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing arrays {missing} (written by stprompt.reports.evaluation.save_point_scores)")
    ids = [str(v) for v in arrays["ids"].tolist()]
    n_frames, n_snippets = arrays["n_frames"].astype(int), arrays["n_snippets"].astype(int)
    if not (len(n_frames) == len(n_snippets) == len(ids)) or n_snippets.sum() != len(arrays["snippet_scores"]) \
            or n_frames.sum() != len(arrays["labels"]):
        raise ValueError(f"{path}: the array lengths disagree ({len(ids)} ids, {len(n_frames)} frame counts, "
                         f"{n_snippets.sum()} snippets announced and {len(arrays['snippet_scores'])} stored, "
                         f"{n_frames.sum()} frames announced and {len(arrays['labels'])} labels stored)")
    snip = np.split(arrays["snippet_scores"], np.cumsum(n_snippets)[:-1])
    labels = np.split(arrays["labels"], np.cumsum(n_frames)[:-1])
    try:
        frames = {v: expand_snippet_scores(s, int(n), int(arrays["snippet_len"])) for v, s, n in zip(ids, snip, n_frames)}
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return {"ids": ids, "frame_scores": frames, "labels": dict(zip(ids, labels)),
            "parts": LocalizationParts.from_arrays(arrays, ids)}

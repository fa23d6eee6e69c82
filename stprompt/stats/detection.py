"""Frame-level detection metrics on a resampled test set, computed exactly from per-video groups of
tied scores: :class:`ScoreGroups`, weighted Mann–Whitney AUC and AP, :func:`metrics_on_resamples`,
within-video AUC and the split of pooled AUC into within- and cross-video pairs (the formulas are in
:mod:`stprompt.stats`' module docstring).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Hashable, Mapping

import numpy as np

from ..metrics import _frames


METRICS = ("auc_micro", "ap_sklearn", "false_alarm_rate", "auc_anomalous_videos", "auc_within_video",
           "auc_within_pairs", "auc_cross_pairs")
LOCALIZATION_METRICS = ("tiou", "rbdc", "tbdc", "pixel_auc")
METRIC_NAMES = {"auc_micro": "frame AUC", "ap_sklearn": "AP (sklearn)", "false_alarm_rate": "FAR@0.5",
                "auc_anomalous_videos": "AUC (anomalous videos)", "auc_within_video": "within-video AUC",
                "auc_within_pairs": "AUC (within-video pairs)", "auc_cross_pairs": "AUC (cross-video pairs)",
                "tiou": "TIoU", "rbdc": "RBDC", "tbdc": "TBDC", "pixel_auc": "pixel AUC"}
@dataclasses.dataclass
class ScoreGroups:
    """One method's scores on a test set as groups of tied scores, sorted by score ascending:
    ``score (S,)``, ``pos``/``neg`` (S,) frame counts, ``video (S,)`` the video index of each group
    (groups never span videos), and the video ids in index order."""

    score: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    video: np.ndarray
    ids: list[Hashable]
    _per_video: tuple[np.ndarray, np.ndarray] | None = dataclasses.field(default=None, repr=False)

    @property
    def n_videos(self) -> int:
        return len(self.ids)


def score_groups(scores_by_video: Any, labels_by_video: Any) -> ScoreGroups:
    """Group each video's frames by score (validated as :mod:`stprompt.metrics` validates)."""
    ids, s_list, y_list = _frames(scores_by_video, labels_by_video)
    scores, pos, neg, video = [], [], [], []
    for i, (s, y) in enumerate(zip(s_list, y_list)):
        uniq, inv = np.unique(s, return_inverse=True)
        p = np.bincount(inv, weights=y.astype(np.float64), minlength=len(uniq))
        n = np.bincount(inv, minlength=len(uniq)).astype(np.float64) - p
        scores.append(uniq)
        pos.append(p)
        neg.append(n)
        video.append(np.full(len(uniq), i))
    s = np.concatenate(scores)
    order = np.argsort(s, kind="stable")
    return ScoreGroups(s[order], np.concatenate(pos)[order], np.concatenate(neg)[order],
                       np.concatenate(video)[order], list(ids))


def _tie_starts(score: np.ndarray) -> np.ndarray:
    """Start index of each run of equal scores in a sorted array."""
    return np.flatnonzero(np.concatenate(([True], score[1:] != score[:-1])))


def weighted_auc(score: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Mann–Whitney AUC of weighted positives and negatives, ties counted ½: ``score (S,)`` sorted
    ascending, ``pos``/``neg`` of shape ``(S,)`` or ``(B, S)`` (one row per resample). Returns one
    AUC per row (NaN where a row has no positive or no negative weight)."""
    pos2, neg2 = np.atleast_2d(pos), np.atleast_2d(neg)
    starts = _tie_starts(score)
    p = np.add.reduceat(pos2, starts, axis=1)
    n = np.add.reduceat(neg2, starts, axis=1)
    below = np.cumsum(n, axis=1) - n
    num = (p * (below + 0.5 * n)).sum(axis=1)
    den = p.sum(axis=1) * n.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return out if np.ndim(pos) == 2 else out[:1]


def weighted_ap(score: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Average precision as scikit-learn's ``average_precision_score`` computes it (the step sum
    ``Σ (R_k − R_{k−1}) P_k`` over distinct thresholds, descending), with weights; shapes as
    :func:`weighted_auc`."""
    pos2, neg2 = np.atleast_2d(pos), np.atleast_2d(neg)
    starts = _tie_starts(score)
    p = np.add.reduceat(pos2, starts, axis=1)[:, ::-1]  # thresholds from the highest score down
    n = np.add.reduceat(neg2, starts, axis=1)[:, ::-1]
    tp, fp = np.cumsum(p, axis=1), np.cumsum(n, axis=1)
    total = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
        recall = np.where(total > 0, tp / np.where(total > 0, total, 1), np.nan)
    step = np.diff(recall, axis=1, prepend=0.0)
    out = (step * precision).sum(axis=1)
    out = np.where(total[:, 0] > 0, out, np.nan)
    return out if np.ndim(pos) == 2 else out[:1]


# --------------------------------------------------------------------------------------------
# Metrics of one (possibly resampled) test set
# --------------------------------------------------------------------------------------------

def _video_aucs(g: ScoreGroups) -> tuple[np.ndarray, np.ndarray]:
    """Per video: its own AUC (NaN without both labels) and its number of (pos, neg) pairs
    (computed once per :class:`ScoreGroups`)."""
    if g._per_video is None:
        auc = np.full(g.n_videos, np.nan)
        pairs = np.zeros(g.n_videos)
        order = np.argsort(g.video, kind="stable")  # score order is kept inside each video
        bounds = np.searchsorted(g.video[order], np.arange(g.n_videos + 1))
        for v in range(g.n_videos):
            idx = order[bounds[v]:bounds[v + 1]]
            p, n = g.pos[idx], g.neg[idx]
            pairs[v] = p.sum() * n.sum()
            if pairs[v] > 0:
                auc[v] = weighted_auc(g.score[idx], p, n)[0]
        g._per_video = (auc, pairs)
    return g._per_video


def metrics_on_resamples(g: ScoreGroups, multiplicity: np.ndarray, threshold: float = 0.5
                         ) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` on each resample: ``multiplicity (B, V)`` says how many
    times each video is drawn (a row of ones is the test set itself). Returns ``{metric: (B,)}``.

    ``auc_micro``, ``ap_sklearn``: pooled over frames; ``false_alarm_rate``: share of the frames of
    normal videos (no anomalous frame) scoring ``>= threshold``; ``auc_anomalous_videos``: pooled
    AUC over the frames of anomalous videos only; ``auc_within_video``, ``auc_within_pairs``,
    ``auc_cross_pairs``: see the module docstring and :func:`auc_decomposition` (a video drawn
    twice is two videos: pairs between its copies are cross-video pairs).
    """
    m = np.atleast_2d(np.asarray(multiplicity, dtype=np.float64))
    w = m[:, g.video]  # (B, S)
    pos, neg = w * g.pos, w * g.neg
    out = {"auc_micro": weighted_auc(g.score, pos, neg), "ap_sklearn": weighted_ap(g.score, pos, neg)}
    anomalous_video = np.bincount(g.video, weights=g.pos, minlength=g.n_videos) > 0
    normal_group = ~anomalous_video[g.video]
    alarm = (g.score >= threshold) & normal_group
    normal_frames = (w * ((g.pos + g.neg) * normal_group)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["false_alarm_rate"] = np.where(normal_frames > 0, (w * ((g.pos + g.neg) * alarm)).sum(axis=1)
                                           / np.where(normal_frames > 0, normal_frames, 1), np.nan)
    keep = anomalous_video[g.video]
    out["auc_anomalous_videos"] = weighted_auc(g.score[keep], pos[:, keep], neg[:, keep])
    auc_v, pairs = _video_aucs(g)
    defined = ~np.isnan(auc_v)
    counts = m[:, defined]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["auc_within_video"] = np.where(counts.sum(1) > 0, (counts * auc_v[defined]).sum(1) /
                                           np.where(counts.sum(1) > 0, counts.sum(1), 1), np.nan)
        total = pos.sum(1) * neg.sum(1)
        within_pairs = counts @ pairs[defined]
        won = counts @ (auc_v[defined] * pairs[defined])  # within-video pairs won (ties ½)
        out["auc_within_pairs"] = np.where(within_pairs > 0, won / np.where(within_pairs > 0, within_pairs, 1),
                                           np.nan)
        cross = total - within_pairs
        out["auc_cross_pairs"] = np.where(cross > 0, (out["auc_micro"] * total - won) / np.where(cross > 0, cross, 1),
                                          np.nan)
    return out


def within_video_auc(scores_by_video: Any, labels_by_video: Any) -> float:
    """Mean AUC of the anomalous videos' own frames (module docstring); NaN when no video holds both
    anomalous and normal frames."""
    g = score_groups(scores_by_video, labels_by_video)
    auc_v, _ = _video_aucs(g)
    return float(np.nanmean(auc_v)) if np.isfinite(auc_v).any() else math.nan


def within_pair_share(labels_by_video: Any) -> float:
    """The share ``w`` of (anomalous, normal) frame pairs that lie in one video (labels only; NaN
    without both labels)."""
    values = labels_by_video.values() if isinstance(labels_by_video, Mapping) else labels_by_video
    y = [np.asarray(v).astype(bool) for v in values]
    pos = np.array([v.sum() for v in y], float)
    neg = np.array([len(v) for v in y], float) - pos
    total = pos.sum() * neg.sum()
    return float((pos * neg).sum() / total) if total else math.nan


def auc_decomposition(scores_by_video: Any, labels_by_video: Any) -> dict[str, float]:
    """Pooled frame AUC split into within-video and cross-video pairs (module docstring):
    ``auc_pooled``, ``auc_within_pairs``, ``auc_cross_pairs``, ``within_pair_share`` (``w``),
    ``auc_within_video`` (the per-video mean) and ``n_pairs``. The identity
    ``auc_pooled = w · within + (1 − w) · cross`` holds to rounding."""
    g = score_groups(scores_by_video, labels_by_video)
    pooled = float(weighted_auc(g.score, g.pos, g.neg)[0])
    auc_v, pairs = _video_aucs(g)
    total = g.pos.sum() * g.neg.sum()
    within_pairs = pairs.sum()
    defined = pairs > 0
    within = float((auc_v[defined] * pairs[defined]).sum() / within_pairs) if within_pairs else math.nan
    cross_pairs = total - within_pairs
    cross = (float((pooled * total - (auc_v[defined] * pairs[defined]).sum()) / cross_pairs)
             if cross_pairs else math.nan)
    return {"auc_pooled": pooled, "auc_within_pairs": within, "auc_cross_pairs": cross,
            "within_pair_share": float(within_pairs / total) if total else math.nan,
            "auc_within_video": float(np.nanmean(auc_v)) if defined.any() else math.nan,
            "n_pairs": float(total)}

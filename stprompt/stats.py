"""How sure a number is, and what pooled frame AUC measures: within-video AUC, the split of pooled
AUC into within- and cross-video pairs, and a paired video-level bootstrap.

Pooled (micro) frame AUC, the field's protocol, is the probability that an anomalous frame scores
above a normal frame, over *all* (anomalous, normal) frame pairs of the test set. Most pairs come
from two different videos (every frame of a normal video is paired with every anomalous frame of
every other video), so the number largely says whether anomalous videos score higher than normal
ones, not whether the anomaly is found inside its video. Hence two companions:

- **within-video AUC**: the mean, over anomalous test videos holding both anomalous and normal
  frames, of the AUC of the video's own frames (each video weighs the same);
- **the split of pooled AUC**: with ``w`` the share of (anomalous, normal) frame pairs that lie in
  one video, ``AUC_pooled = w · AUC_within-pairs + (1 − w) · AUC_cross-pairs`` exactly (Mann–Whitney
  counting with ties as ½ on both sides); ``AUC_within-pairs`` weighs each video by its pairs.

**Paired video-level bootstrap.** Test videos are resampled with replacement ``n_boot`` times
(seeded, so an interval is reproducible); every method of a table is evaluated on the *same*
resamples, so differences between methods are paired and their interval is much narrower than the
two intervals side by side. Seeds enter as a second level: on each resample the metric is computed
for every seed and averaged over seeds, which is the number the tables report (mean over seeds);
the interval therefore covers test-set sampling of that mean, while the ± std next to it is the
seed-to-seed spread. Intervals are the 2.5 and 97.5 percentiles. A difference is **resolved** when
its 95 % interval excludes 0, otherwise **unresolved** — not a win and not a loss.

Every computation is exact on per-frame inputs but runs on per-video groups of tied scores (frames
of one snippet share its score), so a bootstrap of 1000 resamples over a SynthVAD test set takes
well under a second per method and seed (0.4 s for 90 videos of 128–512 frames, measured while
the project's 2-core machine was busy). Frame counts are weights: a resample that draws a video
twice counts its frames twice, exactly as if the video were in the test set twice under another
name.

**What is reported where.** One level is reported everywhere (main table, per-class table,
localization table, ablation summaries, the results page): *test-set resampling with the seeds
folded in* — per resample, each seed's metric on the resampled test set, then their mean. The
number in a table is that mean on the test set itself, ``± std`` the sample std over seeds (the
seed-to-seed spread, not an interval), and ``[lo, hi]`` the 2.5 and 97.5 percentiles of the
:data:`N_BOOT` = 1000 resampled means (percentile interval). Resamples are drawn from
:data:`BOOT_SEED` = 0, so the same command gives the same intervals. Models, epochs and θ are held
fixed (chosen on validation); only the test videos are resampled.

**Localization metrics** are bootstrapped exactly from per-video sums (:class:`LocalizationParts`):
TIoU is a ratio of two sums over videos (IoU terms of the annotated anomalous frames, their
count); RBDC/TBDC's curves count false positives, frames, detected regions and tracks, each a sum
over videos of a count at every threshold; pixel AUC is a Mann–Whitney count over per-video groups
of tied pixel scores, like the frame AUC. Nothing is approximated.

**How many videos would resolve a difference** (:func:`videos_to_resolve`): the interval's
half-width on the side of 0 shrinks like ``1/sqrt(n)`` in the number ``n`` of test videos, so an
unresolved difference ``d`` with half-width ``h`` toward 0 would need about ``n · (h / |d|)²``
videos to exclude 0, if the effect and the per-video spread stay as measured.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np

from .metrics import _frames

METRICS = ("auc_micro", "ap_sklearn", "false_alarm_rate", "auc_anomalous_videos", "auc_within_video",
           "auc_within_pairs", "auc_cross_pairs")
LOCALIZATION_METRICS = ("tiou", "rbdc", "tbdc", "pixel_auc")
METRIC_NAMES = {"auc_micro": "frame AUC", "ap_sklearn": "AP (sklearn)", "false_alarm_rate": "FAR@0.5",
                "auc_anomalous_videos": "AUC (anomalous videos)", "auc_within_video": "within-video AUC",
                "auc_within_pairs": "AUC (within-video pairs)", "auc_cross_pairs": "AUC (cross-video pairs)",
                "tiou": "TIoU", "rbdc": "RBDC", "tbdc": "TBDC", "pixel_auc": "pixel AUC"}
N_BOOT = 1000  # resamples of every interval of the suite
BOOT_SEED = 0  # the seed that draws them (the same command gives the same intervals)
LEVEL = 0.95  # percentile interval: the 2.5 and 97.5 percentiles


# --------------------------------------------------------------------------------------------
# Frames grouped by tied score
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Localization: per-video sums
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class LocalizationParts:
    """One localizer's localization of one test set as per-video sums, from which TIoU, RBDC, TBDC
    and pixel AUC of any resample follow exactly (module docstring). Built by
    :func:`localization_parts`; saved and read by :meth:`to_arrays` / :meth:`from_arrays`.

    ``ids``: the test videos in order; ``tiou_sum``/``tiou_frames`` ``(V,)``: per video the sum of
    ``IoU(pred, gt) · 1[s ≥ θ]`` over its annotated anomalous frames and their number (TIoU =
    Σ sum / Σ frames, :func:`stprompt.metrics.tiou`); ``n_frames (V,)``: every frame of the video.
    RBDC/TBDC (``None`` where the ground truth cannot define them): the scores of the false
    positives, of each region's detection and of each track's detection, each with its video
    index (:class:`stprompt.metrics.RegionTrackScores`), and ``max_fpr``. Pixel AUC (``None``
    without pixel masks): per-video groups of tied pixel scores (:class:`ScoreGroups`)."""

    ids: list
    tiou_sum: np.ndarray
    tiou_frames: np.ndarray
    n_frames: np.ndarray
    fp_scores: np.ndarray | None = None
    fp_video: np.ndarray | None = None
    region_scores: np.ndarray | None = None
    region_video: np.ndarray | None = None
    track_scores: np.ndarray | None = None
    track_video: np.ndarray | None = None
    max_fpr: float = 1.0
    pixel: ScoreGroups | None = None
    _curves: tuple | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def n_videos(self) -> int:
        return len(self.ids)

    def _count_matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per video and threshold (``+inf``, then every score at which a count changes,
        descending) the false positives, detected regions and detected tracks scoring at least
        the threshold, and each video's regions and tracks. Thresholds where nothing changes in
        any video add repeated curve points, which add no area: the sweep is the same as
        :func:`stprompt.metrics.rbdc_tbdc`'s over every prediction score."""
        if self._curves is None:
            V = self.n_videos
            finite = [a[np.isfinite(a)] for a in (self.fp_scores, self.region_scores, self.track_scores)]
            thresholds = np.concatenate(([np.inf], np.unique(np.concatenate(finite))[::-1]))
            order = -thresholds  # ascending, for searchsorted

            def counts(values: np.ndarray, video: np.ndarray) -> np.ndarray:
                keep = np.isfinite(values)
                hist = np.zeros((V, len(thresholds)))
                np.add.at(hist, (video[keep], np.searchsorted(order, -values[keep])), 1.0)
                return np.cumsum(hist, axis=1)  # value >= threshold k  <=>  its index <= k

            self._curves = (counts(self.fp_scores, self.fp_video), counts(self.region_scores, self.region_video),
                            counts(self.track_scores, self.track_video),
                            np.bincount(self.region_video, minlength=V).astype(float),
                            np.bincount(self.track_video, minlength=V).astype(float))
        return self._curves

    def on_resamples(self, multiplicity: np.ndarray) -> dict[str, np.ndarray]:
        """``{metric: (B,)}`` for ``multiplicity (B, V)`` (as :func:`metrics_on_resamples`): the
        metrics of :data:`LOCALIZATION_METRICS` that this ground truth defines."""
        m = np.atleast_2d(np.asarray(multiplicity, dtype=np.float64))
        out = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.tiou_frames.sum() > 0:
                den = m @ self.tiou_frames
                out["tiou"] = np.where(den > 0, (m @ self.tiou_sum) / np.where(den > 0, den, 1), np.nan)
            if self.region_scores is not None and len(self.region_scores):
                fp, reg, trk, n_reg, n_trk = self._count_matrices()
                x = (m @ fp) / (m @ self.n_frames)[:, None]
                nr, nt = m @ n_reg, m @ n_trk
                out["rbdc"] = np.where(nr > 0, _areas_to(x, (m @ reg) / np.where(nr > 0, nr, 1)[:, None], self.max_fpr),
                                       np.nan)
                out["tbdc"] = np.where(nt > 0, _areas_to(x, (m @ trk) / np.where(nt > 0, nt, 1)[:, None], self.max_fpr),
                                       np.nan)
            if self.pixel is not None and self.pixel.pos.sum() > 0 and self.pixel.neg.sum() > 0:
                w = m[:, self.pixel.video]
                out["pixel_auc"] = weighted_auc(self.pixel.score, w * self.pixel.pos, w * self.pixel.neg)
        return out

    def to_arrays(self, prefix: str = "loc_") -> dict[str, np.ndarray]:
        """Flat arrays for ``np.savez`` (no object arrays: loading runs no code); the video ids are
        not included (the file that holds them stores them once)."""
        out = {f"{prefix}tiou_sum": self.tiou_sum, f"{prefix}tiou_frames": self.tiou_frames,
               f"{prefix}n_frames": self.n_frames, f"{prefix}max_fpr": np.asarray(self.max_fpr)}
        if self.region_scores is not None:
            for k in ("fp_scores", "fp_video", "region_scores", "region_video", "track_scores", "track_video"):
                out[prefix + k] = getattr(self, k)
        if self.pixel is not None:
            out.update({f"{prefix}pixel_score": self.pixel.score, f"{prefix}pixel_pos": self.pixel.pos,
                        f"{prefix}pixel_neg": self.pixel.neg, f"{prefix}pixel_video": self.pixel.video})
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], ids: Sequence[Hashable],
                    prefix: str = "loc_") -> "LocalizationParts | None":
        """The inverse of :meth:`to_arrays` (``None`` when ``arrays`` hold no localization)."""
        if f"{prefix}tiou_sum" not in arrays:
            return None
        get = lambda k: np.asarray(arrays[prefix + k]) if prefix + k in arrays else None  # noqa: E731
        ids = list(ids)
        n = len(ids)
        for k in ("tiou_sum", "tiou_frames", "n_frames"):
            if get(k).shape != (n,):
                raise ValueError(f"localization arrays: '{prefix}{k}' has shape {get(k).shape}, expected ({n},) "
                                 f"(one entry per video)")
        for k in ("fp_video", "region_video", "track_video", "pixel_video"):
            v = get(k)
            if v is not None and len(v) and (v.min() < 0 or v.max() >= n):
                raise ValueError(f"localization arrays: '{prefix}{k}' indexes videos outside 0..{n - 1}")
        pixel = None
        if get("pixel_score") is not None:
            pixel = ScoreGroups(get("pixel_score").astype(float), get("pixel_pos").astype(float),
                                get("pixel_neg").astype(float), get("pixel_video").astype(np.int64), ids)
        return cls(ids, get("tiou_sum").astype(float), get("tiou_frames").astype(float), get("n_frames").astype(float),
                   *(get(k) for k in ("fp_scores", "fp_video", "region_scores", "region_video", "track_scores",
                                      "track_video")),
                   max_fpr=float(get("max_fpr")), pixel=pixel)


def _areas_to(x: np.ndarray, y: np.ndarray, max_fpr: float) -> np.ndarray:
    """Row-wise :func:`stprompt.metrics._area_to`: trapezoid area of ``y`` against ``x`` (both
    ``(B, T)``, ``x`` non-decreasing from 0) on ``[0, max_fpr]``, the last point at or below
    ``max_fpr`` extended flat to it, divided by ``max_fpr``."""
    keep = x <= max_fpr
    seg = np.where(keep[:, 1:], (x[:, 1:] - x[:, :-1]) * (y[:, 1:] + y[:, :-1]) / 2.0, 0.0)
    last = keep.sum(axis=1) - 1  # x is monotone, so the kept points are a prefix
    rows = np.arange(len(x))
    return (seg.sum(axis=1) + (max_fpr - x[rows, last]) * y[rows, last]) / max_fpr


def localization_parts(ids: Sequence[Hashable], n_frames: Mapping[Hashable, int],
                       tiou_terms: Mapping[Hashable, np.ndarray], region_track: Any = None,
                       pixels: Any = None, max_fpr: float = 1.0) -> LocalizationParts:
    """:class:`LocalizationParts` from what :func:`stprompt.localize.localization_metrics`
    computes: ``tiou_terms[v]`` the per-frame TIoU terms of the annotated anomalous frames
    (``stprompt.metrics._tiou_terms``; videos without any are absent or empty), ``region_track``
    a :class:`stprompt.metrics.RegionTrackScores` (or ``None``), ``pixels`` a
    :class:`stprompt.metrics.PixelAUC` (or ``None``)."""
    ids = list(ids)
    index = {v: i for i, v in enumerate(ids)}
    V = len(ids)
    tiou_sum, tiou_frames = np.zeros(V), np.zeros(V)
    for v, t in tiou_terms.items():
        tiou_sum[index[v]], tiou_frames[index[v]] = float(np.sum(t)), len(t)
    parts = LocalizationParts(ids, tiou_sum, tiou_frames, np.array([float(n_frames[v]) for v in ids]),
                              max_fpr=max_fpr)
    if region_track is not None:
        remap = np.array([index[v] for v in region_track.videos], dtype=np.int64)
        parts.fp_scores, parts.fp_video = region_track.fp_scores, remap[region_track.fp_video]
        parts.region_scores, parts.region_video = region_track.region_scores, remap[region_track.region_video]
        parts.track_scores, parts.track_video = region_track.track_scores, remap[region_track.track_video]
    if pixels is not None and pixels.per_video():
        entries = pixels.per_video()
        score = np.concatenate([e[1] for e in entries])
        order = np.argsort(score, kind="stable")
        parts.pixel = ScoreGroups(score[order], np.concatenate([e[2] for e in entries])[order],
                                  np.concatenate([e[3] for e in entries])[order],
                                  np.concatenate([np.full(len(e[1]), index[e[0]]) for e in entries])[order], ids)
    return parts


# --------------------------------------------------------------------------------------------
# The paired bootstrap
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Evaluation:
    """One seed of one method as the bootstrap sees it: the test videos and a function from
    ``multiplicity (B, V)`` to ``{metric: (B,)}``."""

    ids: list
    on_resamples: Callable[[np.ndarray], dict[str, np.ndarray]]
    size: int = 0  # numbers held per resample (score groups): bounds how many resamples run at once


def detection_evaluation(groups: ScoreGroups, threshold: float = 0.5,
                         metrics: Sequence[str] = METRICS) -> Evaluation:
    """The frame-level detection metrics of :func:`metrics_on_resamples` (``metrics`` of them)."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {', '.join(METRICS)}")

    def run(m: np.ndarray) -> dict[str, np.ndarray]:
        out = metrics_on_resamples(groups, m, threshold)
        return {k: out[k] for k in metrics}

    return Evaluation(list(groups.ids), run, len(groups.score))


def per_class_evaluation(groups: ScoreGroups, classes: Sequence[str], normal_class: str = "normal") -> Evaluation:
    """Per anomaly class ``c``: the frame AUC over the videos of class ``c`` and every normal
    video (:func:`stprompt.metrics.per_class_auc`); ``classes`` holds each video's class, in
    ``groups.ids`` order. Metrics are named by class."""
    cls = np.asarray([str(c) for c in classes])
    if len(cls) != groups.n_videos:
        raise ValueError(f"per_class_evaluation: {len(cls)} classes for {groups.n_videos} videos")
    keep = {c: np.isin(cls[groups.video], [c, normal_class]) for c in sorted(set(cls) - {normal_class})}

    def run(m: np.ndarray) -> dict[str, np.ndarray]:
        w = np.atleast_2d(np.asarray(m, dtype=np.float64))[:, groups.video]
        return {c: weighted_auc(groups.score[k], (w * groups.pos)[:, k], (w * groups.neg)[:, k])
                for c, k in keep.items()}

    return Evaluation(list(groups.ids), run, len(groups.score))


def localization_evaluation(parts: LocalizationParts) -> Evaluation:
    """The localization metrics of :meth:`LocalizationParts.on_resamples`."""
    size = (len(parts.pixel.score) if parts.pixel is not None else 0) + \
        (len(parts.fp_scores) + len(parts.region_scores) if parts.region_scores is not None else 0)
    return Evaluation(list(parts.ids), parts.on_resamples, size)


def combine(*evaluations: Evaluation) -> Evaluation:
    """Several evaluations of one seed on the same videos as one (their metrics side by side)."""
    first = evaluations[0]
    for e in evaluations[1:]:
        if e.ids != first.ids:
            raise ValueError("combine: the evaluations hold other videos (the same videos, in the same order)")

    def run(m: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for e in evaluations:
            out.update(e.on_resamples(m))
        return out

    return Evaluation(first.ids, run, max(e.size for e in evaluations))


def resample_multiplicity(n_videos: int, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> np.ndarray:
    """``(n_boot, n_videos)`` draw counts of ``n_boot`` resamples of the videos with replacement."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_videos, size=(n_boot, n_videos))
    out = np.zeros((n_boot, n_videos), dtype=np.int32)
    np.add.at(out, (np.repeat(np.arange(n_boot), n_videos), draws.ravel()), 1)
    return out


def interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap values (NaN resamples, where a metric is undefined, are
    left out)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return math.nan, math.nan
    a = (1 - level) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))


def _is_resolved(lo: float, hi: float) -> bool:
    return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))


def bootstrap(evaluations: Mapping[str, Sequence[Evaluation]], reference: str | None = None,
              n_boot: int = N_BOOT, seed: int = BOOT_SEED, level: float = LEVEL,
              chunk: int | None = None) -> dict[str, Any]:
    """The paired video-level bootstrap of any metrics (module docstring): every method and seed
    is evaluated on the same ``n_boot`` resamples of the test videos; per resample a method's
    value is the mean over its seeds.

    Args:
        evaluations: ``{method: [one Evaluation per seed]}``, every one on the same videos in the
            same order.
        reference: the method differences are taken to (``None``: no differences).
        chunk: resamples evaluated at once (default: 100, fewer for large evaluations, so that
            about 4 million numbers are held per array at a time).

    Returns ``{"n_boot", "seed", "level", "n_videos", "reference", "methods": {method: {metric:
    {"value", "lo", "hi", "std", "per_seed"}}}, "differences": {method: {metric: {"value", "lo",
    "hi", "resolved"}}}}``: ``value`` is the mean over seeds on the test set itself, ``std`` the
    sample std over seeds (0 for one seed), ``per_seed`` each seed's value; a difference is
    ``method − reference`` on the metrics both report. A metric a seed leaves undefined is NaN.
    """
    if reference is not None and reference not in evaluations:
        raise ValueError(f"bootstrap: reference method {reference!r} is not among {list(evaluations)}")
    for name, seeds in evaluations.items():
        if not seeds:
            raise ValueError(f"bootstrap: method {name!r} has no seed")
    first_name = next(iter(evaluations))
    ids = evaluations[first_name][0].ids
    for name, seeds in evaluations.items():
        for e in seeds:
            if e.ids != ids:
                raise ValueError(f"bootstrap: method {name!r} scores other videos than {first_name!r} "
                                 f"(videos must be the same, in the same order)")
    n_videos = len(ids)
    multiplicity = resample_multiplicity(n_videos, n_boot, seed)
    ones = np.ones((1, n_videos))
    largest = max(e.size for seeds in evaluations.values() for e in seeds)
    chunk = chunk or max(1, min(100, 4_000_000 // max(1, largest)))
    boot: dict[str, dict[str, np.ndarray]] = {}
    own: dict[str, dict[str, list[float]]] = {}
    for name, seeds in evaluations.items():
        per_seed, own_seed = [], []
        for e in seeds:
            parts = [e.on_resamples(multiplicity[i:i + chunk]) for i in range(0, n_boot, chunk)]
            per_seed.append({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
            own_seed.append({k: float(v[0]) for k, v in e.on_resamples(ones).items()})
        keys = [k for k in per_seed[0] if all(k in s for s in per_seed)]
        boot[name] = {k: np.mean([s[k] for s in per_seed], axis=0) for k in keys}
        own[name] = {k: [s[k] for s in own_seed] for k in keys}
    out: dict[str, Any] = {"n_boot": n_boot, "seed": seed, "level": level, "n_videos": n_videos,
                           "reference": reference, "methods": {}, "differences": {}}
    for name in evaluations:
        out["methods"][name] = {}
        for k, vals in own[name].items():
            lo, hi = interval(boot[name][k], level)
            std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            out["methods"][name][k] = {"value": float(np.mean(vals)), "lo": lo, "hi": hi, "std": std,
                                       "per_seed": vals}
        if reference is not None and name != reference:
            diffs = {}
            for k in own[name]:
                if k not in own[reference]:
                    continue
                lo, hi = interval(boot[name][k] - boot[reference][k], level)
                diffs[k] = {"value": float(np.mean(own[name][k]) - np.mean(own[reference][k])), "lo": lo, "hi": hi,
                            "resolved": _is_resolved(lo, hi)}
            out["differences"][name] = diffs
    return out


def paired_bootstrap(runs: Mapping[str, Sequence[Any]], labels_by_video: Any,
                     reference: str | None = None, n_boot: int = N_BOOT, seed: int = BOOT_SEED,
                     metrics: Sequence[str] = METRICS, threshold: float = 0.5,
                     level: float = LEVEL, chunk: int | None = None) -> dict[str, Any]:
    """Frame-level detection intervals for every method and its difference to ``reference``
    (:func:`bootstrap` over :func:`detection_evaluation`).

    Args:
        runs: ``{method: [frame scores by video, one mapping per seed]}``; every mapping holds the
            same videos as ``labels_by_video`` (a :class:`ScoreGroups` made by
            :func:`score_groups` may stand for a mapping).
        labels_by_video: frame labels per video.
        reference: the method differences are taken to (``None``: no differences).
        n_boot, seed: resamples and the seed that draws them (the same resamples for every method).
        metrics: keys of :func:`metrics_on_resamples`.
        chunk: resamples evaluated at once (bounds memory on long test sets).

    Returns what :func:`bootstrap` returns.
    """
    if reference is not None and reference not in runs:
        raise ValueError(f"paired_bootstrap: reference method {reference!r} is not among {list(runs)}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"paired_bootstrap: unknown metrics {unknown}; known: {', '.join(METRICS)}")
    evaluations = {}
    for name, seeds in runs.items():
        groups = [s if isinstance(s, ScoreGroups) else score_groups(s, labels_by_video) for s in seeds]
        evaluations[name] = [detection_evaluation(g, threshold, metrics) for g in groups]
    return bootstrap(evaluations, reference, n_boot, seed, level, chunk)


# --------------------------------------------------------------------------------------------
# Reading a difference
# --------------------------------------------------------------------------------------------

def reverse(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The difference the other way round (``reference − method`` from ``method − reference``):
    the percentile interval of ``−X`` is the negated interval of ``X``."""
    return {**entry, "value": -entry["value"], "lo": -entry["hi"], "hi": -entry["lo"]}


def claim_status(entry: Mapping[str, Any]) -> str:
    """A claim ``A > B`` read from the difference ``A − B``: ``"holds"`` (interval above 0),
    ``"fails"`` (below 0: resolved the other way, a negative result) or ``"unresolved"``."""
    lo, hi = entry.get("lo", math.nan), entry.get("hi", math.nan)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "unresolved"
    return "holds" if lo > 0 else "fails" if hi < 0 else "unresolved"


def videos_to_resolve(entry: Mapping[str, Any], n_videos: int) -> int | None:
    """About how many test videos would resolve an unresolved difference (module docstring):
    ``n · (h / |d|)²`` with ``h`` the distance from the estimate ``d`` to the interval's bound on
    the side of 0, and more than ``n`` (an interval that ends exactly at 0 is unresolved with the
    ``n`` videos it has). ``None`` when ``d`` is 0 (no effect to resolve) or undefined; for a
    resolved difference, the count at which it would just stay resolved (≤ ``n``)."""
    d, lo, hi = entry.get("value", math.nan), entry.get("lo", math.nan), entry.get("hi", math.nan)
    if not all(np.isfinite(x) for x in (d, lo, hi)) or d == 0:
        return None
    h = d - lo if d > 0 else hi - d
    need = max(1, math.ceil(n_videos * (h / abs(d)) ** 2))
    return max(need, n_videos + 1) if _claim_unresolved(lo, hi) else need


def _claim_unresolved(lo: float, hi: float) -> bool:
    return not (lo > 0 or hi < 0)


def format_interval(entry: Mapping[str, float], digits: int = 3, signed: bool = False) -> str:
    """``"0.671 [0.612, 0.720]"`` (``signed``: ``"+0.072 [-0.023, +0.164]"``). A number that is
    not 0 but rounds to it keeps one significant digit (``"+3e-06"``), so that an interval that
    excludes 0 never reads as one that touches it, nor a tiny difference as none."""
    fmt = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"

    def number(x: float) -> str:
        if x != 0 and round(x, digits) == 0:
            return f"{x:+.0e}" if signed else f"{x:.0e}"
        return fmt.format(x)

    if not np.isfinite(entry.get("value", math.nan)):
        return "—"
    if not (np.isfinite(entry.get("lo", math.nan)) and np.isfinite(entry.get("hi", math.nan))):
        return number(entry["value"])
    return f"{number(entry['value'])} [{number(entry['lo'])}, {number(entry['hi'])}]"


def format_estimate(entry: Mapping[str, Any], digits: int = 3) -> str:
    """A table cell: ``"0.671 ± 0.046 [0.612, 0.720]"`` — mean over seeds ± their sample std
    (left out for one seed) and the 95 % interval of the mean (module docstring)."""
    if not np.isfinite(entry.get("value", math.nan)):
        return "—"
    text = f"{entry['value']:.{digits}f}"
    if len(entry.get("per_seed", ())) > 1:
        text += f" ± {entry.get('std', 0.0):.{digits}f}"
    if np.isfinite(entry.get("lo", math.nan)) and np.isfinite(entry.get("hi", math.nan)):
        text += f" [{entry['lo']:.{digits}f}, {entry['hi']:.{digits}f}]"
    return text


def format_difference(entry: Mapping[str, Any] | None, digits: int = 3) -> str:
    """A table cell: ``"+0.072 [-0.023, +0.164] unresolved"``; ``"—"`` when not measured."""
    if not entry or not np.isfinite(entry.get("value", math.nan)):
        return "—"
    return f"{format_interval(entry, digits, signed=True)} {verdict(entry)}"


def verdict(entry: Mapping[str, Any]) -> str:
    """``"resolved"`` when the difference's interval excludes 0, else ``"unresolved"``."""
    return "resolved" if entry.get("resolved") else "unresolved"

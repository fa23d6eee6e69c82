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
well under a second per method and seed. Frame counts are weights: a resample that draws a video
twice counts its frames twice.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from .metrics import _frames

METRICS = ("auc_micro", "ap_sklearn", "false_alarm_rate", "auc_anomalous_videos", "auc_within_video")
METRIC_NAMES = {"auc_micro": "frame AUC", "ap_sklearn": "AP (sklearn)", "false_alarm_rate": "FAR@0.5",
                "auc_anomalous_videos": "AUC (anomalous videos)", "auc_within_video": "within-video AUC"}


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
    AUC over the frames of anomalous videos only; ``auc_within_video``: see the module docstring.
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
    return out


def within_video_auc(scores_by_video: Any, labels_by_video: Any) -> float:
    """Mean AUC of the anomalous videos' own frames (module docstring); NaN when no video holds both
    anomalous and normal frames."""
    g = score_groups(scores_by_video, labels_by_video)
    auc_v, _ = _video_aucs(g)
    return float(np.nanmean(auc_v)) if np.isfinite(auc_v).any() else math.nan


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
# The paired bootstrap
# --------------------------------------------------------------------------------------------

def resample_multiplicity(n_videos: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """``(n_boot, n_videos)`` draw counts of ``n_boot`` resamples of the videos with replacement."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_videos, size=(n_boot, n_videos))
    out = np.zeros((n_boot, n_videos), dtype=np.int32)
    np.add.at(out, (np.repeat(np.arange(n_boot), n_videos), draws.ravel()), 1)
    return out


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap values (NaN resamples, where a metric is undefined, are
    left out)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return math.nan, math.nan
    a = (1 - level) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))


def paired_bootstrap(runs: Mapping[str, Sequence[Mapping[Hashable, Any]]], labels_by_video: Any,
                     reference: str | None = None, n_boot: int = 1000, seed: int = 0,
                     metrics: Sequence[str] = METRICS, threshold: float = 0.5,
                     level: float = 0.95, chunk: int = 100) -> dict[str, Any]:
    """Intervals for every method and its difference to ``reference`` (module docstring).

    Args:
        runs: ``{method: [frame scores by video, one mapping per seed]}``; every mapping holds the
            same videos as ``labels_by_video``.
        labels_by_video: frame labels per video.
        reference: the method differences are taken to (``None``: no differences).
        n_boot, seed: resamples and the seed that draws them (the same resamples for every method).
        metrics: keys of :func:`metrics_on_resamples`.
        chunk: resamples evaluated at once (bounds memory on long test sets).

    Returns ``{"n_boot", "seed", "level", "n_videos", "reference", "methods": {method: {metric:
    {"value", "lo", "hi"}}}, "differences": {method: {metric: {"value", "lo", "hi", "resolved"}}}}``
    where ``value`` is the mean over seeds on the test set itself and a difference is
    ``method − reference``.
    """
    if reference is not None and reference not in runs:
        raise ValueError(f"paired_bootstrap: reference method {reference!r} is not among {list(runs)}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"paired_bootstrap: unknown metrics {unknown}; known: {', '.join(METRICS)}")
    groups = {name: [score_groups(s, labels_by_video) for s in seeds] for name, seeds in runs.items()}
    for name, seeds in groups.items():
        if not seeds:
            raise ValueError(f"paired_bootstrap: method {name!r} has no seed")
    first = next(iter(groups.values()))[0]
    for name, seeds in groups.items():
        for g in seeds:
            if g.ids != first.ids:
                raise ValueError(f"paired_bootstrap: method {name!r} scores other videos than "
                                 f"{next(iter(groups))!r} (videos must be the same, in the same order)")
    multiplicity = resample_multiplicity(first.n_videos, n_boot, seed)
    ones = np.ones((1, first.n_videos))
    boot: dict[str, dict[str, np.ndarray]] = {}
    point: dict[str, dict[str, float]] = {}
    for name, seeds in groups.items():
        per_seed = []
        for g in seeds:
            parts = [metrics_on_resamples(g, multiplicity[i:i + chunk], threshold)
                     for i in range(0, n_boot, chunk)]
            per_seed.append({k: np.concatenate([p[k] for p in parts]) for k in metrics})
        boot[name] = {k: np.mean([s[k] for s in per_seed], axis=0) for k in metrics}
        own = [metrics_on_resamples(g, ones, threshold) for g in seeds]
        point[name] = {k: float(np.mean([o[k][0] for o in own])) for k in metrics}
    out: dict[str, Any] = {"n_boot": n_boot, "seed": seed, "level": level, "n_videos": first.n_videos,
                           "reference": reference, "methods": {}, "differences": {}}
    for name in groups:
        out["methods"][name] = {k: dict(zip(("value", "lo", "hi"), (point[name][k], *interval(boot[name][k], level))))
                                for k in metrics}
        if reference is not None and name != reference:
            diffs = {}
            for k in metrics:
                lo, hi = interval(boot[name][k] - boot[reference][k], level)
                diffs[k] = {"value": point[name][k] - point[reference][k], "lo": lo, "hi": hi,
                            "resolved": bool(np.isfinite(lo) and (lo > 0 or hi < 0))}
            out["differences"][name] = diffs
    return out


def format_interval(entry: Mapping[str, float], digits: int = 3, signed: bool = False) -> str:
    """``"0.671 [0.612, 0.720]"`` (``signed``: ``"+0.072 [−0.023, +0.164]"``)."""
    fmt = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    if not np.isfinite(entry.get("value", math.nan)):
        return "—"
    return f"{fmt.format(entry['value'])} [{fmt.format(entry['lo'])}, {fmt.format(entry['hi'])}]"


def verdict(entry: Mapping[str, Any]) -> str:
    """``"resolved"`` when the difference's interval excludes 0, else ``"unresolved"``."""
    return "resolved" if entry.get("resolved") else "unresolved"

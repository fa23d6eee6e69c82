"""The paired video-level bootstrap: the test videos resampled ``N_BOOT`` times from ``BOOT_SEED``,
the same resamples for every method, seeds averaged per resample, percentile intervals and the
differences to a reference (:mod:`stprompt.stats`' module docstring says what is reported where).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .detection import METRICS, ScoreGroups, metrics_on_resamples, score_groups, weighted_auc
from .localization import LocalizationParts


N_BOOT = 1000  # resamples of every interval of the suite
BOOT_SEED = 0  # the seed that draws them (the same command gives the same intervals)
LEVEL = 0.95  # percentile interval: the 2.5 and 97.5 percentiles
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

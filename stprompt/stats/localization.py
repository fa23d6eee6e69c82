"""Localization metrics of a resampled test set from per-video sums (:class:`LocalizationParts`):
TIoU as a ratio of two sums, RBDC/TBDC curves from per-threshold counts, pixel AUC from per-video
groups of tied pixel scores; nothing approximated (:mod:`stprompt.stats`' module docstring).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from .detection import ScoreGroups, weighted_auc


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

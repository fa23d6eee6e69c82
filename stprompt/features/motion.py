"""The motion prior (PAPER, SA2's motion prior): per window, the L2 norm of the raw-pixel frame
difference averaged over the snippet, streamed (:class:`MotionPrior`) or on a whole clip
(:func:`motion_prior`); and the diagnostic of whether it points at the anomaly
(:func:`motion_topk_overlap`, :func:`motion_figure_samples`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .files import feature_path, load_features
from .recipe import snippet_bounds


# --------------------------------------------------------------------------------------------
# Motion prior
# --------------------------------------------------------------------------------------------

def window_sums(maps: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Sum of ``maps (N, H, W)`` inside each box: ``(N, G)`` (exact int64 for integer maps,
    float64 otherwise)."""
    acc = np.int64 if np.issubdtype(maps.dtype, np.integer) else np.float64
    return np.stack([maps[:, y1:y2, x1:x2].sum((1, 2), dtype=acc)
                     for x1, y1, x2, y2 in np.asarray(boxes)], axis=1)


def _intervals(mask: np.ndarray) -> list[tuple[int, int]]:
    """The ``[start, stop)`` runs of True in a 1-D bool mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


class MotionPrior:
    """The motion prior of one video, streamed: :meth:`push` its frames in order, :meth:`pop` the
    ``(k, G)`` float32 priors of the snippets completed so far, :meth:`finish` after the last frame.

    Per window ``g`` and frame ``f`` (PAPER temporal stream 2), with ``D_j[g]`` the sum over the
    window's pixels and RGB channels of ``(I_{j+1} − I_j)²`` (pixels as integers 0–255)::

        next:  m_f = sqrt(D_f) / 255          (the last frame of the video uses D_{f-1})
        prev:  m_f = sqrt(D_{f-1}) / 255      (the first frame uses D_0)
        both:  m_f = sqrt((D_f + D_{f-1}) / 2) / 255   (with the same two edge rules)

    and a snippet's prior is the mean of ``m_f`` over its frames (a one-frame video has prior 0).
    ``D_j`` is exact and cheap: only the rows and columns some window covers are read; the squared
    differences (integers ≤ 255², one per pixel and channel) are summed in float32 over runs of at
    most 256 rows that no window edge splits (partial sums < 2^24: exact), then in float64 over
    each window's columns and runs (< 2^53: exact), so ``D_j`` equals the integer sums bit for bit
    whatever the summation order (checked against the full-frame integer computation by a test). Memory: two frames' worth of the covered rows and columns, and at
    most one snippet of per-frame values.

    ``before``: a frame preceding the first pushed one (a run that starts mid-video); the first
    frame's "prev" difference is then taken against it.
    """

    ROWS_PER_RUN = 256  # 256 * 255**2 < 2**24: float32 sums of a run are exact

    def __init__(self, boxes: np.ndarray, height: int, width: int, snippet_len: int = 16,
                 neighbour: str = "next"):
        if neighbour not in ("next", "prev", "both"):
            raise ValueError(f"motion_neighbour must be next, prev or both, got {neighbour!r}")
        boxes = np.asarray(boxes, np.int64)
        self.neighbour, self.snippet_len, self.shape = neighbour, int(snippet_len), (int(height), int(width))
        rows, cols = np.zeros(height, bool), np.zeros(width, bool)
        for x1, y1, x2, y2 in boxes:
            rows[y1:y2] = True
            cols[x1:x2] = True
        self._row_runs = None if rows.all() else _intervals(rows)
        self._col_runs = None if cols.all() else _intervals(cols)
        row_pos, col_pos = np.cumsum(rows) - 1, np.cumsum(cols) - 1  # position in the covered band
        n_rows = int(rows.sum())
        # runs of band rows: cut at every window edge and every ROWS_PER_RUN rows
        cuts = {0, n_rows}
        for x1, y1, x2, y2 in boxes:
            cuts |= {int(row_pos[y1]), int(row_pos[y2 - 1]) + 1}
        edges = sorted(cuts)
        starts = []
        for a, b in zip(edges[:-1], edges[1:]):
            starts += list(range(a, b, self.ROWS_PER_RUN))
        self._run_starts = np.asarray(starts, np.intp)
        run_stops = np.append(self._run_starts[1:], n_rows)
        self._runs = list(zip(self._run_starts.tolist(), run_stops.tolist()))
        self._run_in_box = np.zeros((len(starts), len(boxes)), np.float64)  # run r lies inside box g's rows
        col_in_box = np.zeros((len(boxes), int(cols.sum())), np.float64)
        for g, (x1, y1, x2, y2) in enumerate(boxes):
            top, bottom = row_pos[y1], row_pos[y2 - 1] + 1
            self._run_in_box[:, g] = (self._run_starts >= top) & (run_stops <= bottom)
            col_in_box[g, col_pos[x1]:col_pos[x2 - 1] + 1] = 1
        self._col_in_box = np.repeat(col_in_box, 3, axis=1).T.copy()  # (3 * columns, G): channels folded in
        self._G = len(boxes)
        self._prev: np.ndarray | None = None  # the covered band of the last frame pushed
        self._pairs: list[np.ndarray] = []  # D_j for j >= self._first_pair (at most two kept)
        self._first_pair = 0  # index j of self._pairs[0]
        self._n = 0  # frames pushed (not counting ``before``)
        self._done = 0  # frames whose m_f is known
        self._has_before = False
        self._frame_values: list[np.ndarray] = []  # m_f of the current snippet's settled frames
        self._snippets: list[np.ndarray] = []  # finished snippet priors not yet popped
        self._finished = False

    def _band(self, frame: np.ndarray) -> np.ndarray:
        """The covered rows and columns of a frame as float32 ``(rows, 3 * columns)``."""
        if frame.shape[:2] != self.shape:
            raise ValueError(f"frame {self._n} is {frame.shape[1]}x{frame.shape[0]}, but the video's "
                             f"first frame was {self.shape[1]}x{self.shape[0]}")
        band = frame if self._row_runs is None else np.concatenate([frame[a:b] for a, b in self._row_runs])
        if self._col_runs is not None:
            band = np.concatenate([band[:, a:b] for a, b in self._col_runs], axis=1)
        return band.reshape(band.shape[0], -1).astype(np.float32)

    def _difference(self, band: np.ndarray) -> np.ndarray:
        square = band - self._prev  # integers in [-255, 255]: exact
        square *= square
        runs = np.stack([square[a:b].sum(0) for a, b in self._runs])  # (runs, 3 * columns), exact
        per_run = runs.astype(np.float64) @ self._col_in_box  # (runs, G), exact
        return (per_run * self._run_in_box).sum(0)

    def push(self, frame: np.ndarray, before: bool = False) -> None:
        """Add the next frame (``before=True``: the frame preceding the run; first call only)."""
        if self._finished:
            raise RuntimeError("MotionPrior: push after finish")
        if before and (self._n or self._has_before):
            raise ValueError("MotionPrior: 'before' must be the first frame pushed")
        self._add(frame)
        if before:
            self._has_before, self._first_pair = True, -1
            return
        self._n += 1
        self._settle(final=False)

    def finish(self, after: np.ndarray | None = None) -> None:
        """No more frames (``after``: the frame following the run, for the last frame's "next")."""
        if after is not None and self._n:
            self._add(after)
        self._finished = True
        self._settle(final=True)

    def _add(self, frame: np.ndarray) -> None:
        band = self._band(frame)
        if self._prev is not None:
            self._pairs.append(self._difference(band))
        self._prev = band

    def _settle(self, final: bool) -> None:
        """Compute ``m_f`` for every frame whose differences are known (all of them when final)."""
        G = self._G
        while self._done < self._n:
            f = self._done
            last = self._first_pair + len(self._pairs) - 1  # largest j with D_j known
            if f > last and not final:
                break  # D_f needs frame f + 1
            if not self._pairs:  # a one-frame video: no difference at all
                value = np.zeros(G, np.float64)
            else:
                nxt = self._pairs[f - self._first_pair] if f <= last else self._pairs[f - 1 - self._first_pair]
                prv = self._pairs[0 - self._first_pair] if f == 0 and not self._has_before \
                    else self._pairs[f - 1 - self._first_pair]
                value = nxt if self.neighbour == "next" else prv if self.neighbour == "prev" else 0.5 * (nxt + prv)
                value = np.sqrt(value) / 255.0
            self._frame_values.append(value)
            self._done += 1
            while self._first_pair < self._done - 1 and len(self._pairs) > 1:
                self._pairs.pop(0)  # frame f + 1 needs D_f and D_{f+1} only
                self._first_pair += 1
            if len(self._frame_values) == self.snippet_len:
                self._flush()
        if final and self._frame_values:
            self._flush()  # the last, partial snippet

    def _flush(self) -> None:
        self._snippets.append(np.stack(self._frame_values).mean(0))
        self._frame_values = []

    def pop(self) -> np.ndarray:
        """The float32 priors ``(k, G)`` of the snippets completed since the last call."""
        out = (np.stack(self._snippets).astype(np.float32) if self._snippets
               else np.zeros((0, self._G), np.float32))
        self._snippets = []
        return out


def motion_prior(frames: np.ndarray, boxes: np.ndarray, snippet_len: int = 16,
                 neighbour: str = "next", before: np.ndarray | None = None,
                 after: np.ndarray | None = None) -> np.ndarray:
    """Motion prior ``(T, G)`` of a run of uint8 frames ``(N, H, W, 3)`` that starts at a snippet
    boundary (:class:`MotionPrior`); ``before``/``after`` are the frames just outside the run
    (None at the video's ends)."""
    stream = MotionPrior(boxes, frames.shape[1], frames.shape[2], snippet_len, neighbour)
    if before is not None:
        stream.push(before, before=True)
    for frame in frames:
        stream.push(frame)
    stream.finish(after)
    return stream.pop()


# --------------------------------------------------------------------------------------------
# Does the motion prior point at the anomaly? (the SA2 diagnostic)
# --------------------------------------------------------------------------------------------

def motion_topk_overlap(records: Sequence[Any], out_dir: str | Path, k: int = 3) -> dict[str, float]:
    """On anomalous snippets (middle frame anomalous, a ground-truth box in the snippet) of
    ``records``, how often the ``k`` windows of highest motion prior touch the ground-truth box
    (positive intersection). The box is the middle frame's, or for sparse annotations (Liu & Ma:
    every 16th frame) the annotated frame nearest the middle
    (:func:`stprompt.datasets.records.snippet_box_frames`).

    Returns ``snippet_hit_rate`` (at least one of the top-k windows overlaps the box),
    ``window_precision`` (share of the top-k windows that overlap it) and, for comparison, the
    same two numbers expected from ``k`` windows drawn at random (``chance_*``), plus the count.
    """
    from ..datasets import frame_boxes, frame_labels
    from ..datasets.records import snippet_box_frames

    hits = precision = chance_hit = chance_precision = 0.0
    n = 0
    for rec in records:
        if not rec.label:
            continue
        feats = load_features(feature_path(out_dir, rec.id))
        boxes_w = np.asarray(feats.recipe["window_boxes"], float)
        G = len(boxes_w)
        kk = min(k, G)
        labels = frame_labels(rec)
        gt = frame_boxes(rec)
        for t, (a, b) in enumerate(snippet_bounds(rec.n_frames, feats.recipe["features"]["snippet_len"])):
            mid = (a + b - 1) // 2
            boxed = snippet_box_frames(rec, gt, a, b)
            if not labels[mid] or boxed is None:
                continue
            x1, y1, x2, y2 = gt[boxed]
            touch = ((np.minimum(boxes_w[:, 2], x2) > np.maximum(boxes_w[:, 0], x1)) &
                     (np.minimum(boxes_w[:, 3], y2) > np.maximum(boxes_w[:, 1], y1)))
            top = np.argsort(-feats.motion[t], kind="stable")[:kk]
            hits += float(touch[top].any())
            precision += float(touch[top].mean())
            m = int(touch.sum())
            # P(no overlapping window among kk drawn without replacement) = C(G-m, kk) / C(G, kk)
            chance_hit += 1.0 - (math.comb(G - m, kk) / math.comb(G, kk))
            chance_precision += m / G
            n += 1
    if n == 0:
        raise ValueError("motion_topk_overlap: no anomalous snippet with a ground-truth box")
    return {"snippets": n, "k": k, "snippet_hit_rate": hits / n, "window_precision": precision / n,
            "chance_hit_rate": chance_hit / n, "chance_window_precision": chance_precision / n}


def motion_figure_samples(records: Sequence[Any], out_dir: str | Path, per_class: int = 1) -> list[dict]:
    """Samples for :func:`stprompt.reports.viz.motion_windows_figure`: for the first ``per_class`` anomalous
    videos of each class, the middle anomalous snippet's middle frame, window boxes, motion prior
    and ground-truth box."""
    from ..datasets import frame_boxes, frame_labels, read_frames
    from ..datasets.records import snippet_box_frames

    seen: dict[str, int] = {}
    samples = []
    for rec in records:
        if not rec.label or seen.get(rec.class_name, 0) >= per_class:
            continue
        feats = load_features(feature_path(out_dir, rec.id))
        bounds = snippet_bounds(rec.n_frames, feats.recipe["features"]["snippet_len"])
        labels = frame_labels(rec)
        anomalous = [t for t, (a, b) in enumerate(bounds) if labels[(a + b - 1) // 2]]
        if not anomalous:
            continue
        t = anomalous[len(anomalous) // 2]
        mid = int((bounds[t][0] + bounds[t][1] - 1) // 2)
        gt = frame_boxes(rec)
        boxed = snippet_box_frames(rec, gt, int(bounds[t][0]), int(bounds[t][1]))
        samples.append({"frame": read_frames(rec.path, mid, mid + 1)[0],
                        "boxes": np.asarray(feats.recipe["window_boxes"]), "motion": feats.motion[t],
                        "gt_box": gt[mid if boxed is None else boxed],
                        "title": f"{rec.class_name}: {rec.id}, snippet {t}"})
        seen[rec.class_name] = seen.get(rec.class_name, 0) + 1
    return samples

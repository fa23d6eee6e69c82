"""Snippet features: frame features, window (patch) features and the motion prior.

For each video and each 16-frame snippet ``t`` (PAPER, temporal stream 1–2):

- ``frame (T, D)``: the CLIP image feature of the snippet's middle frame (``frame_choice="mid"``,
  VadCLIP's convention) or the mean of the features of ``mean_frames`` evenly spaced frames
  (``"mean"``). With ``crop="tencrop"`` the file also holds ``frame_crops (10, T, D)`` (the four
  corners and the centre, and their mirror images — the ancestors' 10-crop) and ``frame`` is the crop
  named by ``test_crop`` (``"mean"`` = the re-normalised mean of the ten).
- ``patch (T, G, D)``: the paper encodes **each window of a grid as an image** with CLIP
  (``patch_mode="crops"``); ``"tokens"`` instead pools the projected dense ViT patch tokens of the
  whole frame over each window (cheaper; an ablation). Windows come from the middle frame.
- ``motion (T, G)``: the motion prior, per window the L2 norm of the raw-pixel difference (RGB in
  [0, 1]) between a frame and its neighbour (``motion_neighbour``: next, previous, or the mean of
  both), averaged over the frames of the snippet.

Snippets: ``T = ceil(n_frames / snippet_len)``; the last snippet holds the remaining 1–16 frames
(its "middle" is the middle of what it holds), so snippet scores repeated ×16 and cut to
``n_frames`` cover every frame (:func:`stprompt.metrics.expand_snippet_scores`).

Window grid: ``grid = (rows, cols)`` windows of ``window = (h, w)`` pixels. With ``stride=None``
the windows are spread evenly so the first touches the top/left edge and the last the
bottom/right edge; with a stride ``(sy, sx)`` they start at the top-left corner every stride
pixels and ``grid`` must equal the number that fit. The boxes, in pixels ``(x1, y1, x2, y2)``
with exclusive ``x2, y2``, are stored with the features.

Files: one ``<out_dir>/<video_id>.npz`` per video (uncompressed), features in fp16, plus
``recipe`` (JSON: the backbone, its weights id, every parameter above, the window boxes, the
library version and a hash of it all). Files are written atomically; :func:`extract_dataset`
skips files whose recipe hash matches and that load cleanly, and redoes stale or corrupt ones, so
an interrupted extraction resumes. :func:`load_features` reads a file into float32 arrays;
:func:`map_features` memory-maps it instead (:class:`MappedArray`: fp16 on disk, float32 only for
the rows read, pages shared by every process reading the file), which is how training reads them.

Pipeline. Extraction is split into a decode side, :func:`iter_chunks` (decode, keep the frames
the encoder needs, the streamed motion prior :class:`MotionPrior`), and an encoder side,
:func:`encode_chunk`, one chunk of ``chunk_snippets`` snippets at a time. :func:`extract_dataset`
runs the decode side in worker processes (:class:`DecodePool`, ``workers``) that feed this
process's encoder, or everything in one process (``workers=0``); the encoder sees the same
batches either way, so the files are the same bytes. Memory per rank does not grow with a
video's length: a worker holds one chunk's sampled frames (one frame per snippet for "mid") and
two frames' worth of the windows' rows and columns for the motion prior.

Ranks. Under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) each rank takes a :func:`shard` of each
split balanced by frames; after all ranks finish, rank 0 writes ``manifest_<split>.json``
(:func:`write_manifest`), which names any video left without a valid feature file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import zipfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Sequence

import numpy as np

from . import __version__
from .config import config_hash, to_dict
from .io import atomic_path, resolve

@dataclasses.dataclass
class FeatureConfig:
    """How snippet features are computed (every field is recorded in each feature file)."""

    snippet_len: int = 16  # frames per snippet (VadCLIP convention)
    frame_choice: Literal["mid", "mean"] = "mid"  # frame feature: middle frame, or mean over mean_frames frames
    mean_frames: int = 4  # frames averaged when frame_choice == "mean" (evenly spaced in the snippet)
    crop: Literal["none", "center", "tencrop"] = "none"  # frame-level crop policy
    crop_fraction: float = 0.875  # crop side / short side for center and tencrop (224/256 as the ancestors)
    test_crop: str = "mean"  # tencrop: which crop 'frame' holds ("mean" or 0..9)
    patch_mode: Literal["crops", "tokens", "none"] = "crops"  # windows encoded as images (paper), pooled ViT tokens, or off
    grid: tuple[int, int] = (3, 4)  # window rows, cols (G = rows * cols)
    window: tuple[int, int] = (48, 48)  # window height, width in pixels of the decoded frame
    stride: tuple[int, int] | None = None  # None: spread windows evenly over the frame; else step (y, x) in pixels
    motion_neighbour: Literal["next", "prev", "both"] = "next"  # frame difference taken against
    batch_size: int = 256  # images per CLIP forward pass
    chunk_snippets: int = 32  # snippets whose images are encoded together (bounds memory; fixes the batches)

    def __post_init__(self) -> None:
        if self.snippet_len < 1:
            raise ValueError(f"snippet_len must be >= 1, got {self.snippet_len}")
        if self.grid[0] < 1 or self.grid[1] < 1:
            raise ValueError(f"grid must be at least (1, 1), got {self.grid}")
        if self.window[0] < 1 or self.window[1] < 1:
            raise ValueError(f"window must be positive, got {self.window}")
        if self.test_crop != "mean" and not (self.test_crop.isdigit() and int(self.test_crop) < 10):
            raise ValueError(f"test_crop must be 'mean' or a crop index 0..9, got {self.test_crop!r}")


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------

def window_boxes(height: int, width: int, grid: Sequence[int], window: Sequence[int],
                 stride: Sequence[int] | None = None) -> np.ndarray:
    """Window boxes ``(G, 4)`` int ``(x1, y1, x2, y2)``, row-major (see module docstring)."""
    rows, cols = int(grid[0]), int(grid[1])
    wh, ww = int(window[0]), int(window[1])
    if wh > height or ww > width:
        raise ValueError(f"window {wh}x{ww} is larger than the {height}x{width} frame")

    def starts(n: int, size: int, extent: int, step: int | None, axis: str) -> np.ndarray:
        if step is None:
            return np.round(np.linspace(0, extent - size, n)).astype(int) if n > 1 else \
                np.array([(extent - size) // 2])
        fit = (extent - size) // step + 1
        if fit != n:
            raise ValueError(f"stride {step} px fits {fit} windows of {size} px along {axis} "
                             f"({extent} px), but grid asks for {n}")
        return np.arange(n) * step

    ys = starts(rows, wh, height, None if stride is None else int(stride[0]), "the height")
    xs = starts(cols, ww, width, None if stride is None else int(stride[1]), "the width")
    boxes = [(x, y, x + ww, y + wh) for y in ys for x in xs]
    return np.asarray(boxes, dtype=np.int64)


def snippet_bounds(n_frames: int, snippet_len: int = 16) -> np.ndarray:
    """``(T, 2)`` frame ranges ``[start, stop)`` of the snippets (last one may be partial)."""
    if n_frames < 1:
        raise ValueError(f"a video needs at least one frame, got n_frames={n_frames}")
    starts = np.arange(0, n_frames, snippet_len)
    return np.stack([starts, np.minimum(starts + snippet_len, n_frames)], axis=1)


def sample_indices(start: int, stop: int, choice: str, mean_frames: int) -> list[int]:
    """Frames of the snippet ``[start, stop)`` whose features make its frame feature."""
    if choice == "mid":
        return [(start + stop - 1) // 2]
    n = min(mean_frames, stop - start)
    return sorted({int(round(v)) for v in np.linspace(start, stop - 1, n)})


def center_crop_box(height: int, width: int, fraction: float) -> tuple[int, int, int, int]:
    side = int(round(min(height, width) * fraction))
    y, x = (height - side) // 2, (width - side) // 2
    return x, y, x + side, y + side


def ten_crops(frames: np.ndarray, fraction: float) -> np.ndarray:
    """``(N, H, W, 3)`` → ``(10, N, s, s, 3)``: corners and centre, then their mirror images."""
    _, h, w, _ = frames.shape
    side = int(round(min(h, w) * fraction))
    cx, cy, _, _ = center_crop_box(h, w, fraction)
    origins = [(0, 0), (w - side, 0), (0, h - side), (w - side, h - side), (cx, cy)]
    crops = [frames[:, y:y + side, x:x + side] for x, y in origins]
    crops += [c[:, :, ::-1] for c in crops]
    return np.stack(crops)


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
# Encoding: the decode side (streamed chunks) and the encoder side
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Timer:
    """Seconds spent per stage (decode, motion, crop, encode, and wait: the encoder idle, waiting
    for decoded chunks); used by the benchmark."""

    seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now

    def merge(self, seconds: dict[str, float]) -> None:
        for k, v in seconds.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + v


def _pool_tokens(tokens: np.ndarray, boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Average projected patch tokens ``(N, gh, gw, D)`` whose centres fall inside each window
    (token grid laid over the resized frame, mapped back to pixels). → ``(N, G, D)``."""
    _, gh, gw, _ = tokens.shape
    cy = (np.arange(gh) + 0.5) * height / gh
    cx = (np.arange(gw) + 0.5) * width / gw
    out = []
    for x1, y1, x2, y2 in boxes:
        ys = np.flatnonzero((cy >= y1) & (cy < y2))
        xs = np.flatnonzero((cx >= x1) & (cx < x2))
        if len(ys) == 0:  # a window smaller than a token: take the token under its centre
            ys = [min(int((y1 + y2) / 2 * gh / height), gh - 1)]
        if len(xs) == 0:
            xs = [min(int((x1 + x2) / 2 * gw / width), gw - 1)]
        out.append(tokens[:, ys][:, :, xs].mean((1, 2)))
    pooled = np.stack(out, 1)
    return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True).clip(1e-8)


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-8)


@dataclasses.dataclass
class SnippetChunk:
    """What the encoder needs of ``cfg.chunk_snippets`` consecutive snippets of a video (the last
    chunk may hold fewer), made by :func:`iter_chunks` on the decode side."""

    start: int  # index of the chunk's first snippet in the video
    frames: np.ndarray  # (K, H, W, 3) uint8: only the frames the encoder reads, in frame order
    samples: list[list[int]]  # per snippet, positions in ``frames`` of its frame-level images
    mids: list[int]  # per snippet, position in ``frames`` of its middle frame (windows, tokens)
    motion: np.ndarray  # (n, G) float32 motion prior of the chunk's snippets
    boxes: np.ndarray  # (G, 4) window boxes of the video (pixels, x1 y1 x2 y2, exclusive x2 y2)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # decode and motion time

    @property
    def n_snippets(self) -> int:
        return len(self.mids)


def iter_chunks(frames: Iterable[np.ndarray], n_frames: int, cfg: FeatureConfig) -> Iterator[SnippetChunk]:
    """Stream a video's frames into :class:`SnippetChunk` s of ``cfg.chunk_snippets`` snippets: the
    decode side of extraction (no model involved; :func:`encode_chunk` is the encoder side).

    Memory does not grow with the video's length: at any time it holds the current chunk's
    sampled frames (one per snippet with ``frame_choice="mid"``, at most ``mean_frames`` + 1 with
    "mean"), the frame being decoded, and the motion prior's state (two frames' worth of the rows
    and columns the windows cover). A video that ends before ``n_frames`` frames raises
    ``ValueError`` naming the frame reached."""
    bounds = snippet_bounds(n_frames, cfg.snippet_len)
    per_chunk = int(cfg.chunk_snippets)
    if per_chunk < 1:
        raise ValueError(f"chunk_snippets must be >= 1, got {per_chunk}")
    plans = []  # per chunk: first snippet, end frame, needed frames (video indices), positions in them
    for c0 in range(0, len(bounds), per_chunk):
        local = bounds[c0:c0 + per_chunk]
        samples = [sample_indices(int(a), int(b), cfg.frame_choice, cfg.mean_frames) for a, b in local]
        mids = [int((a + b - 1) // 2) for a, b in local]
        needed = sorted({f for g in samples for f in g} | set(mids))
        pos = {f: i for i, f in enumerate(needed)}
        plans.append((c0, int(local[-1, 1]), needed, [[pos[f] for f in g] for g in samples],
                      [pos[f] for f in mids]))
    it = iter(frames)
    motion: MotionPrior | None = None
    boxes = None
    rows: list[np.ndarray] = []  # motion priors of finished snippets not yet handed out
    timer = Timer({"decode": 0.0, "motion": 0.0})  # since the last chunk handed out
    emit = 0  # next chunk to hand out
    buffer, slot = None, {}  # the frames of the chunk being collected, frame index -> row
    collecting = -1

    def ready(final: bool):
        nonlocal emit, rows, timer
        while emit < len(plans) and sum(len(r) for r in rows) >= len(plans[emit][3]) and \
                (final or emit < collecting):
            c0, _, _, samples, mids = plans[emit]
            got = np.concatenate(rows) if rows else np.zeros((0, len(boxes)), np.float32)
            n = len(mids)
            rows = [got[n:]] if len(got) > n else []
            chunk = SnippetChunk(c0, done_frames.pop(emit), samples, mids, got[:n], boxes, timer.seconds)
            timer = Timer({"decode": 0.0, "motion": 0.0})
            emit += 1
            yield chunk

    done_frames: dict[int, np.ndarray] = {}
    t = time.perf_counter()
    for f in range(n_frames):
        try:
            frame = next(it)
        except StopIteration:
            raise ValueError(f"the video ended after {f} frames, expected {n_frames}") from None
        t = timer.add("decode", t)
        ci = f // cfg.snippet_len // per_chunk
        if ci != collecting:  # a new chunk starts at this frame
            if buffer is not None:
                done_frames[collecting] = buffer
            collecting, needed = ci, plans[ci][2]
            buffer = np.empty((len(needed), *frame.shape), np.uint8)
            slot = {fr: i for i, fr in enumerate(needed)}
        if motion is None:
            h, w = frame.shape[:2]
            boxes = window_boxes(h, w, cfg.grid, cfg.window, cfg.stride)
            motion = MotionPrior(boxes, h, w, cfg.snippet_len, cfg.motion_neighbour)
        motion.push(frame)
        if f in slot:
            if frame.shape != buffer.shape[1:]:
                raise ValueError(f"frame {f} is {frame.shape[1]}x{frame.shape[0]}, but the video's first "
                                 f"frame was {buffer.shape[2]}x{buffer.shape[1]}")
            buffer[slot[f]] = frame
        got = motion.pop()
        if len(got):
            rows.append(got)
        t = timer.add("motion", t)
        yield from ready(final=False)
    done_frames[collecting] = buffer
    next(it, None)  # let a decoder see its end (a file longer than n_frames warns) and close
    t = timer.add("decode", t)
    motion.finish()
    rows.append(motion.pop())
    timer.add("motion", t)
    yield from ready(final=True)


def encode_chunk(model: Any, chunk: SnippetChunk, cfg: FeatureConfig, device: str = "cpu",
                 timer: Timer | None = None) -> dict[str, np.ndarray]:
    """The encoder side of extraction: one chunk's ``frame (n, D)``, ``patch (n, G, D)``,
    ``motion (n, G)`` and, with tencrop, ``frame_crops (10, n, D)`` (float32). The images of a
    chunk go to the CLIP in the same batches whatever process decoded them, so the features do not
    depend on how extraction was parallelised."""
    from . import vlm

    timer = timer or Timer()
    t = time.perf_counter()
    frames, boxes = chunk.frames, chunk.boxes
    h, w = frames.shape[1:3]
    idx = chunk.samples
    flat = [i for group in idx for i in group]
    every = list(range(len(frames)))  # the "mid" recipe: the chunk's frames are its images, in order
    images = frames if flat == every else frames[flat]
    if cfg.crop == "center":
        x1, y1, x2, y2 = center_crop_box(h, w, cfg.crop_fraction)
        images = images[:, y1:y2, x1:x2]
    mids = frames if chunk.mids == every else frames[chunk.mids]
    windows = None
    if cfg.patch_mode == "crops":
        windows = np.stack([mids[:, y1:y2, x1:x2] for x1, y1, x2, y2 in boxes], 1)
        windows = windows.reshape(-1, *windows.shape[2:])
    crops = ten_crops(images, cfg.crop_fraction) if cfg.crop == "tencrop" else None
    t = timer.add("crop", t)
    out: dict[str, np.ndarray] = {"motion": chunk.motion}
    if crops is not None:
        enc = vlm.encode_images(model, crops.reshape(-1, *crops.shape[2:]),
                                batch_size=cfg.batch_size, device=device)
        enc = enc.reshape(10, len(flat), -1)
        per_snippet = np.stack([_normalise(enc[:, _positions(idx, s)].mean(1))
                                for s in range(len(idx))], 1)
        out["frame_crops"] = per_snippet  # (10, n, D)
        out["frame"] = (_normalise(per_snippet.mean(0)) if cfg.test_crop == "mean"
                        else per_snippet[int(cfg.test_crop)])
    else:
        enc = vlm.encode_images(model, images, batch_size=cfg.batch_size, device=device)
        out["frame"] = np.stack([_normalise(enc[_positions(idx, s)].mean(0)) for s in range(len(idx))])
    if cfg.patch_mode == "crops":
        pf = vlm.encode_images(model, windows, batch_size=cfg.batch_size, device=device)
        out["patch"] = pf.reshape(chunk.n_snippets, len(boxes), -1)
    elif cfg.patch_mode == "tokens":
        tokens = vlm.encode_patch_tokens(model, mids, batch_size=cfg.batch_size, device=device)
        out["patch"] = _pool_tokens(np.asarray(tokens), boxes, h, w)
    timer.add("encode", t)
    return out


def join_chunks(parts: Sequence[dict[str, np.ndarray]], boxes: np.ndarray, dtype: Any = np.float32
                ) -> dict[str, np.ndarray]:
    """One video's arrays from its chunks' (:func:`encode_chunk`) in order; features in ``dtype``,
    motion float32, plus ``boxes``."""
    out = {"frame": np.concatenate([p["frame"] for p in parts]).astype(dtype, copy=False),
           "motion": np.concatenate([p["motion"] for p in parts]).astype(np.float32, copy=False)}
    if "patch" in parts[0]:
        out["patch"] = np.concatenate([p["patch"] for p in parts]).astype(dtype, copy=False)
    if "frame_crops" in parts[0]:
        out["frame_crops"] = np.concatenate([p["frame_crops"] for p in parts], 1).astype(dtype, copy=False)
    out["boxes"] = boxes
    return out


def extract_frames(frames_iter: Iterable[np.ndarray], n_frames: int, model: Any, cfg: FeatureConfig,
                   device: str = "cpu", timer: Timer | None = None) -> dict[str, np.ndarray]:
    """Features of one video from an iterator of RGB frames (``n_frames`` of them), in this process:
    :func:`iter_chunks` then :func:`encode_chunk` per chunk. Returns float32 arrays
    ``frame (T, D)``, ``patch (T, G, D)``, ``motion (T, G)``, ``frame_crops`` with tencrop, and the
    window ``boxes``."""
    timer = timer or Timer()
    parts, boxes = [], None
    for chunk in iter_chunks(frames_iter, n_frames, cfg):
        timer.merge(chunk.seconds)
        parts.append(encode_chunk(model, chunk, cfg, device, timer))
        boxes = chunk.boxes
    out = join_chunks(parts, boxes)
    assert len(out["frame"]) == len(snippet_bounds(n_frames, cfg.snippet_len))
    return out


def _positions(idx: list[list[int]], s: int) -> list[int]:
    start = sum(len(g) for g in idx[:s])
    return list(range(start, start + len(idx[s])))


# --------------------------------------------------------------------------------------------
# The pipeline: decode workers feeding the encoder
# --------------------------------------------------------------------------------------------

def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Decode workers per rank: the rank's share of the cores (``LOCAL_WORLD_SIZE`` ranks per
    machine under torchrun) less one core for the encoding process, and at least one."""
    per_rank = available_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    return max(1, per_rank - 1)


#: Below this many frames to decode, ``workers=None`` extracts in one process (starting workers
#: costs about a second, as much as decoding ~3,000 SynthVAD frames).
PIPELINE_MIN_FRAMES = 5000

#: Priority offset of decode workers (``os.nice``): the encoder process keeps the cores it uses.
WORKER_NICE = 10

_WORKER_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _decode_worker(cfg: FeatureConfig, jobs: Any, conn: Any, threads: int | None, nice: int = 0) -> None:
    """Worker process: take ``(key, path, n_frames)`` jobs until ``None``; stream each video's
    chunks (:func:`iter_chunks`) to the encoder through ``conn``. Messages: ``("start", key)``,
    ``("chunk", key, meta)`` followed by the frames' bytes, ``("warning", key, text)``,
    ``("done", key)``, ``("error", key, text)``."""
    import warnings

    from .datasets.video import iter_frames

    if nice:
        os.nice(nice)
    while True:
        job = jobs.get()
        if job is None:
            break
        key, path, n_frames = job
        conn.send(("start", key, None))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frames = iter_frames(path, 0, n_frames, expect_end=True, threads=threads)
                for chunk in iter_chunks(frames, n_frames, cfg):
                    meta = {"start": chunk.start, "shape": chunk.frames.shape, "samples": chunk.samples,
                            "mids": chunk.mids, "motion": chunk.motion, "boxes": chunk.boxes,
                            "seconds": chunk.seconds}
                    conn.send(("chunk", key, meta))
                    conn.send_bytes(np.ascontiguousarray(chunk.frames).reshape(-1))  # a 1-D buffer: its length is its size
                    del chunk
            for w in caught:
                conn.send(("warning", key, str(w.message)))
            conn.send(("done", key, None))
        except Exception as exc:  # the encoder reports it, naming the video; next video
            conn.send(("error", key, f"{type(exc).__name__}: {exc}"))
    conn.close()


class DecodePool:
    """Worker processes that decode videos and compute their motion prior (the decode side,
    :func:`iter_chunks`) while this process encodes (:func:`encode_chunk`).

    Workers take whole videos from one queue, longest first when the caller orders them so, and
    send each chunk as soon as it is complete through their own pipe. A pipe holds less than a
    chunk, so a worker blocks until the encoder has read its previous chunk: each worker is at
    most one chunk ahead, and the frames in flight are bounded by two chunks per worker, whatever
    the videos' lengths. Workers are started with ``spawn`` (no state shared with this process, no
    torch imported), use one FFmpeg thread per core of their share (``threads``), and run at a
    lower priority (``nice``, default :data:`WORKER_NICE`): where the encoder computes on the
    same cores (a CPU encoder), the workers take the time it leaves idle instead of slowing it.

    Use as a context manager; :meth:`run` yields ``(kind, key, payload)`` events:
    ``("chunk", key, SnippetChunk)``, ``("warning", key, text)``, ``("done", key, None)``,
    ``("error", key, text)``. ``seconds["wait"]`` is the time the caller spent waiting for them.
    """

    def __init__(self, cfg: FeatureConfig, workers: int, threads: int | None = None, nice: int | None = None):
        if workers < 1:
            raise ValueError(f"DecodePool needs at least one worker, got {workers}")
        self.cfg, self.n = cfg, int(workers)
        self.threads = threads or max(1, available_cores() // self.n)
        self.nice = WORKER_NICE if nice is None else int(nice)
        self.seconds = {"wait": 0.0}
        self._procs: list[Any] = []
        self._conns: list[Any] = []

    def __enter__(self) -> "DecodePool":
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._jobs = ctx.Queue()
        saved = {k: os.environ.get(k) for k in _WORKER_ENV}
        os.environ.update({k: "1" for k in _WORKER_ENV})  # numpy in a worker: one thread
        try:
            for _ in range(self.n):
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_decode_worker, args=(self.cfg, self._jobs, send, self.threads,
                                                                self.nice), daemon=True)
                proc.start()
                send.close()
                self._procs.append(proc)
                self._conns.append(recv)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return self

    def __exit__(self, *exc: Any) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=10)
        for conn in self._conns:
            conn.close()
        self._jobs.close()

    def run(self, jobs: Sequence[tuple[Any, str, int]]) -> Iterator[tuple[str, Any, Any]]:
        """Decode ``jobs`` (``(key, path, n_frames)``) and yield their events (class docstring)."""
        from multiprocessing.connection import wait

        for key, path, n_frames in jobs:
            self._jobs.put((key, str(path), int(n_frames)))
        for _ in self._procs:
            self._jobs.put(None)
        current: dict[Any, Any] = {}  # connection -> the video its worker is on
        open_conns = list(self._conns)
        remaining = len(jobs)
        while remaining:
            if not open_conns:
                raise RuntimeError(f"every decode worker exited with {remaining} video(s) left "
                                   f"(exit codes {[p.exitcode for p in self._procs]})")
            t = time.perf_counter()
            ready = wait(open_conns, timeout=5.0)
            if not ready:
                dead = [i for i, p in enumerate(self._procs) if not p.is_alive() and self._conns[i] in open_conns]
                if dead:
                    lost = [current.get(self._conns[i]) for i in dead]
                    raise RuntimeError(f"decode worker(s) {dead} died (exit codes "
                                       f"{[self._procs[i].exitcode for i in dead]}) while on {lost}")
            for conn in ready:
                try:
                    kind, key, payload = conn.recv()
                except EOFError:
                    open_conns.remove(conn)
                    if current.get(conn) is not None:
                        raise RuntimeError(f"a decode worker died while on video {current[conn]!r}") from None
                    continue
                if kind == "chunk":
                    frames = np.empty(payload["shape"], np.uint8)
                    conn.recv_bytes_into(frames.reshape(-1))  # straight into a writable array
                    payload = SnippetChunk(payload["start"], frames, payload["samples"], payload["mids"],
                                           payload["motion"], payload["boxes"], payload["seconds"])
                self.seconds["wait"] += time.perf_counter() - t
                if kind == "start":
                    current[conn] = key
                    t = time.perf_counter()
                    continue
                if kind in ("done", "error"):
                    current[conn] = None
                    remaining -= 1
                yield kind, key, payload
                t = time.perf_counter()


# --------------------------------------------------------------------------------------------
# Feature files
# --------------------------------------------------------------------------------------------

def make_recipe(cfg: FeatureConfig, backbone: dict[str, Any]) -> dict[str, Any]:
    """What produced a feature file: the backbone (name, weights id) and every feature parameter.
    ``recipe_hash`` identifies it; files with another hash are stale."""
    recipe = {"backbone": backbone, "features": to_dict(cfg)}
    recipe["recipe_hash"] = config_hash(recipe)
    return recipe


def feature_path(out_dir: str | Path, video_id: str) -> Path:
    return resolve(out_dir) / f"{video_id}.npz"


def save_features(path: str | Path, arrays: dict[str, np.ndarray], recipe: dict[str, Any],
                  video_id: str, n_frames: int) -> Path:
    """Write one video's features atomically: features fp16, motion fp32, recipe as JSON."""
    meta = dict(recipe, video_id=video_id, n_frames=int(n_frames), library_version=__version__,
                window_boxes=np.asarray(arrays["boxes"]).tolist())
    payload = {k: np.asarray(v, dtype=np.float16) for k, v in arrays.items()
               if k in ("frame", "patch", "frame_crops")}
    payload["motion"] = np.asarray(arrays["motion"], dtype=np.float32)
    payload["recipe"] = np.array(json.dumps(meta, sort_keys=True))
    with atomic_path(path) as tmp:
        np.savez(tmp, **payload)
    return Path(path)


class FeatureFileError(ValueError):
    """A feature file is missing, corrupt, inconsistent or was made with another recipe."""


@dataclasses.dataclass
class VideoFeatures:
    video_id: str
    frame: np.ndarray  # (T, D) float32
    patch: np.ndarray | None  # (T, G, D) float32
    motion: np.ndarray  # (T, G) float32
    recipe: dict[str, Any]
    frame_crops: np.ndarray | None = None  # (10, T, D) with tencrop

    @property
    def n_snippets(self) -> int:
        return len(self.frame)


def load_features(path: str | Path, recipe_hash: str | None = None) -> VideoFeatures:
    """Load and check a feature file; raise :class:`FeatureFileError` naming it when it is corrupt,
    its arrays disagree in length, or (given ``recipe_hash``) it was made with another recipe."""
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(f"{path}: feature file not found (run `stprompt extract`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FeatureFileError(f"{path}: corrupt feature file ({exc})") from exc
    missing = [k for k in ("frame", "motion", "recipe") if k not in data]
    if missing:
        raise FeatureFileError(f"{path}: missing arrays {missing}")
    recipe = json.loads(str(data["recipe"]))
    if recipe_hash is not None and recipe.get("recipe_hash") != recipe_hash:
        raise FeatureFileError(f"{path}: made with recipe {recipe.get('recipe_hash')}, expected "
                               f"{recipe_hash} (re-extract with the current parameters)")
    frame = data["frame"].astype(np.float32)
    motion = data["motion"].astype(np.float32)
    patch = data["patch"].astype(np.float32) if "patch" in data else None
    T = len(frame)
    expected_T = math.ceil(recipe["n_frames"] / recipe["features"]["snippet_len"])
    if T != expected_T or len(motion) != T or (patch is not None and len(patch) != T):
        raise FeatureFileError(f"{path}: inconsistent lengths frame={T}, motion={len(motion)}, "
                               f"patch={None if patch is None else len(patch)}, expected {expected_T} "
                               f"snippets for {recipe['n_frames']} frames")
    crops = data["frame_crops"].astype(np.float32) if "frame_crops" in data else None
    return VideoFeatures(recipe["video_id"], frame, patch, motion, recipe, crops)


def is_valid(path: str | Path, recipe_hash: str) -> bool:
    try:
        load_features(path, recipe_hash)
        return True
    except FeatureFileError:
        return False


class MappedArray:
    """One array of a feature file read through a memory map when it is used: nothing of it is
    held in memory in between, no file stays open, and processes that read the same file share
    its pages (the OS page cache). Rows come out as float32 (the file stores fp16 features).

    ``len``, ``shape`` and ``dtype`` (on disk) describe it; ``a[i]``/``a[i:j]`` and
    ``np.asarray(a)`` read float32 copies; :meth:`map` gives the read-only map itself (on-disk
    dtype, valid while referenced); :meth:`rows` and :meth:`index` give lazy sub-arrays.
    """

    __slots__ = ("path", "offset", "shape", "dtype")

    def __init__(self, path: str | Path, offset: int, shape: Sequence[int], dtype: Any):
        self.path, self.offset = Path(path), int(offset)
        self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"MappedArray({self.path.name}, shape={self.shape}, dtype={self.dtype})"

    def map(self) -> np.ndarray:
        if not self.shape[0] or 0 in self.shape:
            return np.zeros(self.shape, self.dtype)
        return np.memmap(self.path, self.dtype, mode="r", offset=self.offset, shape=self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.map()[key], dtype=np.float32)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(self.map(), dtype=dtype or np.float32)

    def rows(self, start: int, stop: int) -> "MappedArray":
        """Rows ``[start, stop)``, still on disk."""
        start, stop = max(0, int(start)), min(self.shape[0], int(stop))
        row = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        return MappedArray(self.path, self.offset + start * row, (max(0, stop - start), *self.shape[1:]),
                           self.dtype)

    def index(self, i: int) -> "MappedArray":
        """``a[i]`` (e.g. one crop of ``frame_crops``), still on disk."""
        return self.rows(i, i + 1).reshape(self.shape[1:])

    def reshape(self, shape: Sequence[int]) -> "MappedArray":
        if int(np.prod(shape)) != int(np.prod(self.shape)):
            raise ValueError(f"cannot reshape {self.shape} to {tuple(shape)}")
        return MappedArray(self.path, self.offset, shape, self.dtype)


def rows_of(a: Any, start: int, stop: int) -> Any:
    """Rows ``[start, stop)`` of an array or :class:`MappedArray` (lazy for the latter)."""
    return a.rows(start, stop) if isinstance(a, MappedArray) else a[start:stop]


def _npz_members(path: Path) -> dict[str, tuple[int, tuple[int, ...], np.dtype]]:
    """``{name: (data offset, shape, dtype)}`` of the uncompressed ``.npy`` members of an ``.npz``
    (``np.savez`` stores them uncompressed; each is a local zip header, then the ``.npy`` header,
    then the raw C-order array)."""
    import struct

    out = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            if info.compress_type != zipfile.ZIP_STORED:
                raise FeatureFileError(f"{path}: member {info.filename} is compressed; feature files are "
                                       f"written uncompressed (re-extract it)")
            fh.seek(info.header_offset)
            local = fh.read(30)
            if local[:4] != b"PK\x03\x04":
                raise FeatureFileError(f"{path}: corrupt zip header of {info.filename}")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            fh.seek(info.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(fh)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise FeatureFileError(f"{path}: {info.filename} has .npy format {version}, expected 1.0 or 2.0")
            shape, fortran, dtype = read_header(fh)
            if fortran or dtype.hasobject:
                raise FeatureFileError(f"{path}: {info.filename} is not a plain C-order array")
            out[info.filename[:-4]] = (fh.tell(), tuple(shape), dtype)
    return out


def map_features(path: str | Path, recipe_hash: str | None = None) -> VideoFeatures:
    """A feature file's arrays as :class:`MappedArray` s (memory-mapped on use, fp16 on disk,
    float32 when read) with the same checks as :func:`load_features` on the headers: the file
    exists and is a readable ``.npz``, has ``frame``/``motion``/``recipe``, the recipe hash matches
    (given ``recipe_hash``) and the lengths agree. Only the headers and the recipe are read, so
    checking a split of 1,900 videos takes seconds; data corruption inside an array (which the zip
    checksum catches) is :func:`load_features`' and the extractor's resume check's business."""
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(f"{path}: feature file not found (run `stprompt extract`)")
    try:
        members = _npz_members(path)
        with zipfile.ZipFile(path) as zf, zf.open("recipe.npy") as fh:
            recipe = json.loads(str(np.lib.format.read_array(fh, allow_pickle=False)))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise FeatureFileError(f"{path}: corrupt feature file ({exc})") from exc
    missing = [k for k in ("frame", "motion") if k not in members]
    if missing:
        raise FeatureFileError(f"{path}: missing arrays {missing}")
    if recipe_hash is not None and recipe.get("recipe_hash") != recipe_hash:
        raise FeatureFileError(f"{path}: made with recipe {recipe.get('recipe_hash')}, expected "
                               f"{recipe_hash} (re-extract with the current parameters)")
    arrays = {k: MappedArray(path, *v) for k, v in members.items() if k != "recipe"}
    size = path.stat().st_size
    for k, a in arrays.items():
        if a.offset + a.dtype.itemsize * int(np.prod(a.shape)) > size:
            raise FeatureFileError(f"{path}: corrupt feature file (array {k} runs past the end)")
    frame, motion, patch = arrays["frame"], arrays["motion"], arrays.get("patch")
    T = len(frame)
    expected_T = math.ceil(recipe["n_frames"] / recipe["features"]["snippet_len"])
    if T != expected_T or len(motion) != T or (patch is not None and len(patch) != T):
        raise FeatureFileError(f"{path}: inconsistent lengths frame={T}, motion={len(motion)}, "
                               f"patch={None if patch is None else len(patch)}, expected {expected_T} "
                               f"snippets for {recipe['n_frames']} frames")
    return VideoFeatures(recipe["video_id"], frame, patch, motion, recipe, arrays.get("frame_crops"))


def shard(items: Sequence[Any], rank: int | None = None, world: int | None = None) -> list[Any]:
    """This rank's share of ``items`` (``RANK``/``WORLD_SIZE`` by default), balanced by frames:
    items (weighted by their ``n_frames``, 1 without one) go longest first to the rank with the
    fewest frames so far, ties to the lowest rank (LPT scheduling: the largest share is at most
    4/3 of the best possible); each share keeps the order of ``items``. Every rank computes the
    same assignment from the same list; with equal weights it is ``items[rank::world]``."""
    import heapq

    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world = int(os.environ.get("WORLD_SIZE", 1)) if world is None else world
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is outside world size {world}")
    items = list(items)
    weights = [int(getattr(it, "n_frames", 1)) for it in items]
    loads = [(0, r) for r in range(world)]
    owner = [0] * len(items)
    for i in sorted(range(len(items)), key=lambda i: (-weights[i], i)):
        load, r = heapq.heappop(loads)
        owner[i] = r
        heapq.heappush(loads, (load + weights[i], r))
    return [it for it, r in zip(items, owner) if r == rank]


_FEATURE_ARRAYS = ("frame", "patch", "frame_crops")


def extract_dataset(records: Sequence[Any], out_dir: str | Path, model: Any, cfg: FeatureConfig,
                    backbone: dict[str, Any], device: str = "cpu", progress: bool = True,
                    rank: int | None = None, world: int | None = None, workers: int | None = None,
                    raise_failures: bool = True) -> dict[str, Any]:
    """Extract features for ``records`` (objects with ``id``, ``path``, ``n_frames``) into
    ``out_dir``, skipping valid files of the same recipe and redoing stale or corrupt ones; under
    torchrun only this rank's :func:`shard`.

    ``workers``: decode processes feeding this process's encoder (:class:`DecodePool`); 0:
    decoding, motion prior and encoding in this process, one video after the other; None:
    :func:`default_workers` when the videos to extract hold at least :data:`PIPELINE_MIN_FRAMES`
    frames, else 0. The files are byte-identical either way (the encoder sees the same batches).

    A video that cannot be decoded (missing, corrupt, shorter than its record says) is skipped and
    the others are written; then :class:`~stprompt.datasets.video.VideoReadError` names every
    failed video and why (``raise_failures=False``: they are returned under ``"failed"``). A video
    longer than its record gives a warning naming it. Returns counts and the time per stage."""
    import warnings

    from tqdm.auto import tqdm

    from .datasets.video import VideoLengthWarning, VideoReadError, iter_frames
    from .progress import report as report_progress

    recipe = make_recipe(cfg, backbone)
    timer = Timer()
    todo, skipped = [], 0
    for rec in shard(records, rank, world):
        if is_valid(feature_path(out_dir, rec.id), recipe["recipe_hash"]):
            skipped += 1
        else:
            todo.append(rec)
    if workers is None:  # starting workers (~1 s) pays off only for more than a few thousand frames
        workers = default_workers() if sum(r.n_frames for r in todo) >= PIPELINE_MIN_FRAMES else 0
    workers = min(int(workers), len(todo))
    done = snippets = 0
    failed: dict[str, str] = {}
    warned: list[str] = []
    bar = tqdm(total=len(todo), desc="features", unit="video", disable=not progress)

    def save(rec: Any, arrays: dict[str, np.ndarray]) -> None:
        nonlocal done, snippets
        save_features(feature_path(out_dir, rec.id), arrays, recipe, rec.id, rec.n_frames)
        done += 1
        snippets += len(arrays["frame"])
        bar.update(1)
        report_progress(f"features of {Path(out_dir).name}, videos", done + len(failed), len(todo))

    start = time.perf_counter()
    if workers <= 0:
        for rec in todo:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", VideoLengthWarning)
                    arrays = extract_frames(iter_frames(rec.path, 0, rec.n_frames, expect_end=True),
                                            rec.n_frames, model, cfg, device=device, timer=timer)
                for w in caught:
                    warned.append(str(w.message))
                    warnings.warn(w.message, w.category, stacklevel=2)
            except (VideoReadError, ValueError) as exc:
                failed[rec.id] = str(exc)
                bar.update(1)
                continue
            save(rec, arrays)
    else:
        parts: dict[int, list[dict[str, np.ndarray]]] = {}
        boxes: dict[int, np.ndarray] = {}
        order = sorted(range(len(todo)), key=lambda i: -todo[i].n_frames)  # long videos first
        with DecodePool(cfg, workers) as pool:
            for kind, key, payload in pool.run([(i, todo[i].path, todo[i].n_frames) for i in order]):
                rec = todo[key]
                if kind == "chunk":
                    timer.merge(payload.seconds)
                    part = encode_chunk(model, payload, cfg, device, timer)
                    # kept as stored (fp16: the same bytes save_features writes) until the video is done
                    parts.setdefault(key, []).append({k: (v.astype(np.float16) if k in _FEATURE_ARRAYS else v)
                                                      for k, v in part.items()})
                    boxes[key] = payload.boxes
                elif kind == "done":
                    save(rec, join_chunks(parts.pop(key), boxes.pop(key), np.float16))
                elif kind == "error":
                    parts.pop(key, None)
                    failed[rec.id] = payload
                    bar.update(1)
                elif kind == "warning":
                    warned.append(payload)
                    warnings.warn(payload, VideoLengthWarning, stacklevel=2)
            timer.merge(pool.seconds)
    bar.close()
    summary = {"extracted": done, "skipped": skipped, "snippets": snippets, "workers": max(workers, 0),
               "frames": int(sum(r.n_frames for r in todo)),
               "wall_seconds": round(time.perf_counter() - start, 3),
               "seconds": {k: round(v, 3) for k, v in timer.seconds.items()},
               "recipe_hash": recipe["recipe_hash"], "failed": failed, "warnings": warned}
    if failed and raise_failures:
        raise VideoReadError(extraction_failures_message(failed, records, done))
    return summary


def extraction_failures_message(failed: dict[str, str], records: Sequence[Any], written: int) -> str:
    """One message naming every video that could not be extracted, and why."""
    paths = {r.id: str(r.path) for r in records}
    lines = [f"  {msg}" if paths.get(vid, vid) in msg else f"  {paths.get(vid, vid)}: {msg}"
             for vid, msg in failed.items()]
    return (f"{len(failed)} video(s) could not be extracted ({written} others were written; rerun to "
            f"retry after fixing them):\n" + "\n".join(lines))


def manifest_path(out_dir: str | Path, split: str) -> Path:
    return resolve(out_dir) / f"manifest_{split}.json"


def check_split(records: Sequence[Any], out_dir: str | Path, recipe_hash: str | None = None
                ) -> dict[str, Any]:
    """Which videos of a split have a valid feature file in ``out_dir`` (:func:`map_features`:
    exists, readable, recipe, lengths; and the number of snippets matches the record's frames).
    Returns ``{"snippets": {id: T}, "problems": {id: reason}}``."""
    from .datasets.records import DatasetError, check_feature_length

    good, problems = {}, {}
    for rec in records:
        try:
            feats = map_features(feature_path(out_dir, rec.id), recipe_hash)
            check_feature_length(rec, feats.n_snippets)
            good[rec.id] = feats.n_snippets
        except (FeatureFileError, DatasetError) as exc:
            problems[rec.id] = str(exc)
    return {"snippets": good, "problems": problems}


def missing_features_message(problems: dict[str, str], n_videos: int, what: str, limit: int = 20) -> str:
    lines = [f"  {vid}: {why}" for vid, why in list(problems.items())[:limit]]
    more = [f"  ... and {len(problems) - limit} more"] if len(problems) > limit else []
    return (f"{len(problems)} of {n_videos} videos of {what} have no valid feature file (run "
            f"`stprompt extract` for them):\n" + "\n".join(lines + more))


def write_manifest(records: Sequence[Any], out_dir: str | Path, split: str, recipe_hash: str) -> Path:
    """After every rank has finished a split: check that each of its videos has a valid feature
    file (:func:`check_split`) and write ``<out_dir>/manifest_<split>.json`` (the recipe hash, the
    snippets of each video, the problems). Raises :class:`FeatureFileError` naming every video
    without a valid file (the manifest is written first, listing them)."""
    from .io import write_json

    result = check_split(records, out_dir, recipe_hash)
    path = manifest_path(out_dir, split)
    write_json(path, {"split": split, "recipe_hash": recipe_hash, "videos": len(records),
                      "complete": not result["problems"], "snippets": result["snippets"],
                      "problems": result["problems"]})
    if result["problems"]:
        raise FeatureFileError(missing_features_message(result["problems"], len(records),
                                                        f"split '{split}' ({path})"))
    return path


# --------------------------------------------------------------------------------------------
# From notebook / profile parameters (one home for 01_data_prep and `stprompt extract`)
# --------------------------------------------------------------------------------------------

def config_from_params(params: dict[str, Any]) -> FeatureConfig:
    """A :class:`FeatureConfig` from a parameters mapping: the keys named like its fields."""
    from .config import from_dict

    names = {f.name for f in dataclasses.fields(FeatureConfig)}
    values = {k: v for k, v in params.items() if k in names}
    if values.get("stride") in ([], ()):  # notebooks write "no stride" as an empty list
        values["stride"] = None
    return from_dict(FeatureConfig, values, source="feature parameters")


def clip_spec_from_params(params: dict[str, Any]) -> Any:
    """The CLIP of a profile: ``clip_model``, ``clip_pretrained`` and ``clip_checkpoint`` (empty
    strings mean none); the tiny CLIP without a checkpoint means the one ``00_pretrain_vlm`` wrote
    to ``<run_dir>/vlm/tiny_clip.pt``. ``device`` ("cpu", "cuda", "auto"); under torchrun each rank
    uses ``cuda:<LOCAL_RANK mod the GPU count>``, so several ranks may share a GPU (each rank's
    decode workers take its share of the cores, :func:`default_workers`)."""
    from .vlm import ClipSpec

    model = params.get("clip_model", "tiny_clip")
    checkpoint = params.get("clip_checkpoint") or None
    pretrained = params.get("clip_pretrained") or None
    if model == "tiny_clip" and checkpoint is None and pretrained is None:
        checkpoint = str(resolve(params["run_dir"]) / "vlm" / "tiny_clip.pt")
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"{checkpoint}: no tiny CLIP yet; run 00_pretrain_vlm of this profile "
                                    f"first (stprompt reproduce --only 00_pretrain_vlm)")
    device = params.get("device", "cpu")
    if device in ("cuda", "auto") and "LOCAL_RANK" in os.environ:
        import torch

        if torch.cuda.is_available():
            device = f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return ClipSpec(model=model, pretrained=pretrained, checkpoint=checkpoint, device=device)


def feature_dir(run_dir: str | Path, dataset: str) -> Path:
    return resolve(run_dir) / "features" / dataset


def extract_from_params(params: dict[str, Any], splits: Sequence[str] | None = None,
                        progress: bool = True, log: Any = print, workers: int | None = None,
                        out_dir: str | Path | None = None, clip: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Extract the features of every split of a profile's dataset (``01_data_prep`` parameters:
    ``run_dir``, ``dataset``, ``data_root``, ``splits``, ``reader``, the CLIP and the feature
    fields) with ``workers`` decode processes per rank (:func:`extract_dataset`). ``out_dir``
    (default ``<run_dir>/features/<dataset>``) and ``clip`` (an already built ``(model, info)``)
    serve the ablation variants, which extract through this same path.

    Under torchrun each rank extracts its :func:`shard` of each split; then the ranks wait for
    each other and rank 0 writes a manifest per split (:func:`write_manifest`), which names any
    video left without a valid feature file. Videos that could not be decoded are named in one
    error after that. Returns a summary per split."""
    from . import vlm
    from .datasets import load_dataset
    from .datasets.video import VideoReadError

    cfg = config_from_params(params)
    model, info = clip if clip is not None else vlm.build_clip(clip_spec_from_params(params))
    root = resolve(params.get("data_root") or f"{params['run_dir']}/data/{params['dataset']}")
    out = resolve(out_dir) if out_dir is not None else feature_dir(params["run_dir"], params["dataset"])
    summary, split_records, failed = {}, {}, {}
    world = int(os.environ.get("WORLD_SIZE", 1))
    who = f"rank {os.environ.get('RANK', 0)}/{world} " if world > 1 else ""
    for split in splits or params.get("splits", ["train", "val", "test"]):
        split_records[split] = records = load_dataset(params["dataset"], root, split, params.get("reader"))
        start = time.perf_counter()
        summary[split] = extract_dataset(records, out, model, cfg, info.recipe(), device=info.device,
                                         progress=progress, workers=workers, raise_failures=False)
        summary[split]["wall_seconds"] = round(time.perf_counter() - start, 2)
        summary[split]["backbone"] = info.recipe()  # what the results page names (model, weights hash)
        failed.update({r.id: (r, summary[split]["failed"][r.id]) for r in records if r.id in summary[split]["failed"]})
        if log:
            log(f"{who}{split}: {summary[split]['extracted']} extracted ({summary[split]['frames']} frames), "
                f"{summary[split]['skipped']} up to date, {len(summary[split]['failed'])} failed "
                f"({summary[split]['wall_seconds']} s, {summary[split]['workers']} decode workers) -> {out}")
    wait_for_all_ranks()
    if int(os.environ.get("RANK", 0)) == 0:
        recipe_hash = make_recipe(cfg, info.recipe())["recipe_hash"]
        problems = []
        for split, records in split_records.items():
            try:
                summary[split]["manifest"] = str(write_manifest(records, out, split, recipe_hash))
            except FeatureFileError as exc:
                problems.append(str(exc))
        if failed:
            problems.insert(0, extraction_failures_message({k: v[1] for k, v in failed.items()},
                                                           [v[0] for v in failed.values()], 0))
        if problems:
            raise (VideoReadError if failed else FeatureFileError)("\n".join(problems))
        if log:
            log(f"manifests: every video of {', '.join(split_records)} has its features ({out})")
    elif failed:
        raise VideoReadError(extraction_failures_message({k: v[1] for k, v in failed.items()},
                                                         [v[0] for v in failed.values()], 0))
    return summary


def wait_for_all_ranks() -> None:
    """Under torchrun (``WORLD_SIZE`` > 1 and ``MASTER_ADDR`` set), a barrier of all ranks over
    gloo (no GPU needed); the timeout is long because ranks finish their shares at different times."""
    import datetime

    if int(os.environ.get("WORLD_SIZE", 1)) <= 1 or "MASTER_ADDR" not in os.environ:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=datetime.timedelta(hours=48))
    dist.barrier()


def check_from_params(params: dict[str, Any], splits: Sequence[str] | None = None,
                      log: Any = print) -> dict[str, Any]:
    """Check, without extracting, that every video of each split has a valid feature file
    (:func:`check_split`; of the manifest's recipe when the split has a manifest); raise
    :class:`FeatureFileError` naming every video that has not."""
    from .datasets import load_dataset

    root = resolve(params.get("data_root") or f"{params['run_dir']}/data/{params['dataset']}")
    out = feature_dir(params["run_dir"], params["dataset"])
    result, problems = {}, []
    for split in splits or params.get("splits", ["train", "val", "test"]):
        records = load_dataset(params["dataset"], root, split, params.get("reader"))
        manifest = manifest_path(out, split)
        recipe_hash = None
        if manifest.is_file():
            from .io import read_json

            recipe_hash = read_json(manifest).get("recipe_hash")
        result[split] = check_split(records, out, recipe_hash)
        if result[split]["problems"]:
            problems.append(missing_features_message(result[split]["problems"], len(records), f"split '{split}'"))
        elif log:
            log(f"{split}: all {len(records)} videos have features ({sum(result[split]['snippets'].values())} "
                f"snippets) in {out}")
    if problems:
        raise FeatureFileError("\n".join(problems))
    return result


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
    from .datasets import frame_boxes, frame_labels
    from .datasets.records import snippet_box_frames

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
    """Samples for :func:`stprompt.viz.motion_windows_figure`: for the first ``per_class`` anomalous
    videos of each class, the middle anomalous snippet's middle frame, window boxes, motion prior
    and ground-truth box."""
    from .datasets import frame_boxes, frame_labels, read_frames
    from .datasets.records import snippet_box_frames

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

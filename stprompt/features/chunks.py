"""The two sides of one video's extraction: the decode side, :func:`iter_chunks` (decode, keep the
frames the encoder needs, stream the motion prior), and the encoder side, :func:`encode_chunk` (the
frozen CLIP on one chunk of snippets: frame features, window crops or pooled patch tokens);
:func:`extract_frames` runs both in one process.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .motion import MotionPrior
from .recipe import FeatureConfig, sample_indices, snippet_bounds, ten_crops, center_crop_box, window_boxes


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
    from .. import vlm

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

"""Frozen copy of the feature extractor as it was at commit 0333450 (before the pipelined, streaming
extractor of issue 12): the oracle of the byte-identity test in ``test_extract_pipeline.py``.

Copied verbatim (geometry, motion prior and ``extract_frames``); only the imports differ. Do not
edit: the point is that this is the old code path, so that "same bytes out as before" is checked
against it rather than against the new code.
"""
# ruff: noqa
from __future__ import annotations

import dataclasses
import time
from typing import Any, Iterable, Sequence

import numpy as np

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
    float64 otherwise). Direct slice sums: for the few windows of a grid they beat an integral
    image, whose cumulative sums touch every pixel twice in 64-bit."""
    acc = np.int64 if np.issubdtype(maps.dtype, np.integer) else np.float64
    return np.stack([maps[:, y1:y2, x1:x2].sum((1, 2), dtype=acc)
                     for x1, y1, x2, y2 in np.asarray(boxes)], axis=1)


def motion_prior(frames: np.ndarray, boxes: np.ndarray, snippet_len: int = 16,
                 neighbour: str = "next", before: np.ndarray | None = None,
                 after: np.ndarray | None = None) -> np.ndarray:
    """Motion prior ``(T, G)`` of a run of uint8 frames ``(N, H, W, 3)``: per window, the L2 norm
    of the raw-pixel difference ``||I_f − I_{f±1}||_2`` (RGB scaled to [0, 1]) over the window's
    pixels and channels, averaged over each snippet's frames (PAPER temporal stream 2).

    ``frames`` must start at a snippet boundary; ``before``/``after`` are the frames just outside
    the run (None at the video's ends). ``neighbour``: "next" (the last frame of a video uses its
    previous frame), "prev" (the first frame uses its next), or "both" (mean of the two squared
    norms). Differences are computed once in integers and summed per window exactly.
    """
    if neighbour not in ("next", "prev", "both"):
        raise ValueError(f"motion_neighbour must be next, prev or both, got {neighbour!r}")
    n = len(frames)
    b = 1 if before is not None else 0
    parts = ([before[None]] if b else []) + [frames] + ([after[None]] if after is not None else [])
    seq = np.concatenate(parts) if len(parts) > 1 else frames
    if len(seq) < 2:  # a one-frame video has no motion
        return np.zeros((1, len(boxes)), np.float32)
    diff = np.subtract(seq[1:], seq[:-1], dtype=np.int16)  # frame j+1 vs j, exact
    # squared norm over channels, one channel at a time (a reduction over a size-3 axis is slow)
    sq = np.square(diff[..., 0], dtype=np.int32)
    for c in range(1, diff.shape[-1]):
        sq += np.square(diff[..., c], dtype=np.int32)
    sums = window_sums(sq, boxes).astype(np.float64)  # (L-1, G)
    idx = np.arange(n) + b
    nxt = np.minimum(idx, len(sums) - 1)  # seq[i+b+1] - seq[i+b] is sums[i+b]; none after the end
    prv = np.maximum(idx - 1, 0)  # sums[i+b-1]; none before the start
    s_next, s_prev = sums[nxt], sums[prv]
    if after is None:
        s_next[-1] = sums[idx[-1] - 1] if idx[-1] >= 1 else sums[0]
    if neighbour == "next":
        per_frame = s_next
    elif neighbour == "prev":
        per_frame = s_prev
    else:
        per_frame = 0.5 * (s_next + s_prev)
    per_frame = np.sqrt(per_frame) / 255.0
    bounds = snippet_bounds(n, snippet_len)
    return np.stack([per_frame[a:z].mean(0) for a, z in bounds]).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Encoding one video
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Timer:
    """Seconds spent per stage (decode, crop, encode, motion); used by the benchmark."""

    seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now


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


def extract_frames(frames_iter: Iterable[np.ndarray], n_frames: int, model: Any, cfg: FeatureConfig,
                   device: str = "cpu", timer: Timer | None = None) -> dict[str, np.ndarray]:
    """Features of one video from an iterator of RGB frames (``n_frames`` of them); returns float32
    arrays ``frame (T, D)``, ``patch (T, G, D)``, ``motion (T, G)``, and ``frame_crops`` with tencrop."""
    from stprompt import vlm

    timer = timer or Timer()
    bounds = snippet_bounds(n_frames, cfg.snippet_len)
    it = iter(frames_iter)
    chunk = cfg.chunk_snippets * cfg.snippet_len
    outputs: dict[str, list[np.ndarray]] = {"frame": [], "patch": [], "motion": [], "frame_crops": []}
    before = None
    buffered: list[np.ndarray] = []
    boxes = None
    pos = 0
    t = time.perf_counter()
    while pos < n_frames:
        stop = min(pos + chunk, n_frames)
        while len(buffered) < stop - pos + (1 if stop < n_frames else 0):
            try:
                buffered.append(next(it))
            except StopIteration:
                raise ValueError(f"the video ended after {pos + len(buffered)} frames, expected "
                                 f"{n_frames}") from None
        frames = np.stack(buffered[:stop - pos])
        after = buffered[stop - pos] if stop < n_frames else None
        buffered = buffered[stop - pos:]
        t = timer.add("decode", t)
        h, w = frames.shape[1:3]
        if boxes is None:
            boxes = window_boxes(h, w, cfg.grid, cfg.window, cfg.stride)
        local = snippet_bounds(stop - pos, cfg.snippet_len)
        # frame-level images
        idx = [sample_indices(a, b, cfg.frame_choice, cfg.mean_frames) for a, b in local]
        flat = [i for group in idx for i in group]
        images = frames[flat]
        if cfg.crop == "center":
            x1, y1, x2, y2 = center_crop_box(h, w, cfg.crop_fraction)
            images = images[:, y1:y2, x1:x2]
        mids = frames[[(a + b - 1) // 2 for a, b in local]]
        windows = None
        if cfg.patch_mode == "crops":
            windows = np.stack([mids[:, y1:y2, x1:x2] for x1, y1, x2, y2 in boxes], 1)
            windows = windows.reshape(-1, *windows.shape[2:])
        crops = ten_crops(images, cfg.crop_fraction) if cfg.crop == "tencrop" else None
        t = timer.add("crop", t)
        if crops is not None:
            enc = vlm.encode_images(model, crops.reshape(-1, *crops.shape[2:]),
                                    batch_size=cfg.batch_size, device=device)
            enc = enc.reshape(10, len(flat), -1)
            per_snippet = np.stack([_normalise(enc[:, _positions(idx, s)].mean(1))
                                    for s in range(len(idx))], 1)
            outputs["frame_crops"].append(per_snippet)  # (10, t, D)
            frame_feat = (_normalise(per_snippet.mean(0)) if cfg.test_crop == "mean"
                          else per_snippet[int(cfg.test_crop)])
        else:
            enc = vlm.encode_images(model, images, batch_size=cfg.batch_size, device=device)
            frame_feat = np.stack([_normalise(enc[_positions(idx, s)].mean(0)) for s in range(len(idx))])
        outputs["frame"].append(frame_feat)
        if cfg.patch_mode == "crops":
            pf = vlm.encode_images(model, windows, batch_size=cfg.batch_size, device=device)
            outputs["patch"].append(pf.reshape(len(local), len(boxes), -1))
        elif cfg.patch_mode == "tokens":
            tokens = vlm.encode_patch_tokens(model, mids, batch_size=cfg.batch_size, device=device)
            outputs["patch"].append(_pool_tokens(np.asarray(tokens), boxes, h, w))
        t = timer.add("encode", t)
        outputs["motion"].append(motion_prior(frames, boxes, cfg.snippet_len, cfg.motion_neighbour,
                                              before, after))
        before = frames[-1]
        t = timer.add("motion", t)
        pos = stop
    out = {"frame": np.concatenate(outputs["frame"]).astype(np.float32),
           "motion": np.concatenate(outputs["motion"])}
    if outputs["patch"]:
        out["patch"] = np.concatenate(outputs["patch"]).astype(np.float32)
    if outputs["frame_crops"]:
        out["frame_crops"] = np.concatenate(outputs["frame_crops"], 1).astype(np.float32)
    assert len(out["frame"]) == len(bounds)
    out["boxes"] = boxes
    return out


def _positions(idx: list[list[int]], s: int) -> list[int]:
    start = sum(len(g) for g in idx[:s])
    return list(range(start, start + len(idx[s])))


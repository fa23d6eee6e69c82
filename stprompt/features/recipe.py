"""What a feature file is computed with: :class:`FeatureConfig` (every field recorded in each file),
the snippet and window geometry (PAPER, temporal stream 1–2: 16-frame snippets, the grid of windows),
frame sampling and crops, and :func:`make_recipe`, the recipe whose hash names stale files.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Sequence

import numpy as np

from ..config import config_hash, to_dict

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
# The recipe
# --------------------------------------------------------------------------------------------

def make_recipe(cfg: FeatureConfig, backbone: dict[str, Any]) -> dict[str, Any]:
    """What produced a feature file: the backbone (name, weights id) and every feature parameter.
    ``recipe_hash`` identifies it; files with another hash are stale."""
    recipe = {"backbone": backbone, "features": to_dict(cfg)}
    recipe["recipe_hash"] = config_hash(recipe)
    return recipe

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

Files: one ``<out_dir>/<video_id>.npz`` per video, features in fp16, plus ``recipe`` (JSON: the
backbone, its weights id, every parameter above, the window boxes, the library version and a hash
of it all). Files are written atomically; :func:`extract_dataset` skips files whose recipe hash
matches and that load cleanly, and redoes stale or corrupt ones, so an interrupted extraction
resumes. Under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) each rank takes every WORLD_SIZE-th video.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import zipfile
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

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
    chunk_snippets: int = 32  # snippets decoded at once (bounds memory on long videos)

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
    from . import vlm

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


def shard(items: Sequence[Any], rank: int | None = None, world: int | None = None) -> list[Any]:
    """This rank's share of ``items`` (every world-th, from ``RANK``/``WORLD_SIZE`` by default)."""
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world = int(os.environ.get("WORLD_SIZE", 1)) if world is None else world
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is outside world size {world}")
    return list(items)[rank::world]


def extract_dataset(records: Sequence[Any], out_dir: str | Path, model: Any, cfg: FeatureConfig,
                    backbone: dict[str, Any], device: str = "cpu", progress: bool = True,
                    rank: int | None = None, world: int | None = None) -> dict[str, Any]:
    """Extract features for ``records`` (objects with ``id``, ``path``, ``n_frames``) into
    ``out_dir``, skipping valid files of the same recipe and redoing stale or corrupt ones.
    Returns counts and the time per stage."""
    from tqdm.auto import tqdm

    from .datasets.video import iter_frames

    recipe = make_recipe(cfg, backbone)
    mine = shard(records, rank, world)
    timer = Timer()
    done = skipped = snippets = 0
    for rec in tqdm(mine, desc="features", unit="video", disable=not progress):
        path = feature_path(out_dir, rec.id)
        if is_valid(path, recipe["recipe_hash"]):
            skipped += 1
            continue
        arrays = extract_frames(iter_frames(rec.path, 0, rec.n_frames), rec.n_frames, model, cfg,
                                device=device, timer=timer)
        save_features(path, arrays, recipe, rec.id, rec.n_frames)
        done += 1
        snippets += len(arrays["frame"])
    return {"extracted": done, "skipped": skipped, "snippets": snippets,
            "seconds": {k: round(v, 3) for k, v in timer.seconds.items()},
            "recipe_hash": recipe["recipe_hash"]}


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
    uses ``cuda:<LOCAL_RANK mod the GPU count>``, so several ranks may share a GPU (decoding and
    the motion prior run on the CPU: more ranks than GPUs keep a GPU busier)."""
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
                        progress: bool = True, log: Any = print, out_dir: str | Path | None = None,
                        clip: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Extract the features of every split of a profile's dataset (``01_data_prep`` parameters:
    ``run_dir``, ``dataset``, ``data_root``, ``splits``, ``reader``, the CLIP and the feature
    fields). ``out_dir`` (default ``<run_dir>/features/<dataset>``) and ``clip`` (an already built
    ``(model, info)``) serve the ablation variants, which extract through this same path.
    Returns a summary per split."""
    from . import vlm
    from .datasets import load_dataset

    cfg = config_from_params(params)
    model, info = clip if clip is not None else vlm.build_clip(clip_spec_from_params(params))
    root = resolve(params.get("data_root") or f"{params['run_dir']}/data/{params['dataset']}")
    out = resolve(out_dir) if out_dir is not None else feature_dir(params["run_dir"], params["dataset"])
    summary = {}
    for split in splits or params.get("splits", ["train", "val", "test"]):
        records = load_dataset(params["dataset"], root, split, params.get("reader"))
        start = time.perf_counter()
        summary[split] = extract_dataset(records, out, model, cfg, info.recipe(), device=info.device,
                                         progress=progress)
        summary[split]["wall_seconds"] = round(time.perf_counter() - start, 2)
        summary[split]["backbone"] = info.recipe()  # what the results page names (model, weights hash)
        if log:
            log(f"{split}: {summary[split]['extracted']} extracted, {summary[split]['skipped']} "
                f"up to date ({summary[split]['wall_seconds']} s) -> {out}")
    return summary


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

"""``stprompt infer VIDEO``: score a video and localize its anomalies with a trained model.

The video is decoded (any container FFmpeg reads: MP4, AVI, …, or a folder of frames), its features
are extracted with **the checkpoint's feature recipe** (frame choice, crops, window grid, motion
prior) by the CLIP of the profile (checked against the backbone and weights recorded in the
checkpoint), the temporal model scores every snippet, and the spatial stream scores the windows of
snippets whose score passes θ. Outputs in ``--out``:

- ``scores.json``: per-snippet score, box (pixels, null below θ), frame ranges, θ and where it came
  from, the window boxes, the CLIP and the temporal model used;
- ``score_curve.png``: frame score over time with θ;
- ``heatmap.mp4`` (and ``heatmap.gif`` with ``--gif``, at most :data:`GIF_WIDTH` pixels wide): the
  frames with the heat map overlaid and the predicted box drawn.

Windows fit the video (``windows="relative"``, the default): the checkpoint's window grid is kept and
each window keeps its share of the frame it was trained on — a 48×48 window of 160×120 training
frames (30 % of the width, 40 % of the height) becomes 384×288 on a 1280×720 video — so the windows
cover the same part of any frame. The training frame size is the one recorded with the features
(older feature files: the extent of their window grid, which spans the frame). ``windows="pixels"``
uses the recipe's pixel sizes as they are (an error when the frame is smaller than a window).

θ: ``--theta``; else the θ that ``05_localization`` chose on validation for the checkpoint's seed
(``metrics.json`` of the profile's run); else 0.5, with a warning. The source is printed and saved.

Memory: frames are decoded in chunks of whole snippets sized to :data:`DECODE_BUDGET` bytes of raw
frames (at least one snippet), so the peak grows with the frame size, not with the video's length
(measured in ``benchmarks/bench_infer.py``; README). Everything that can fail on the inputs (the
file, the checkpoint, θ) is checked before torch and the CLIP are loaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..io import read_json, resolve, write_text

OVERLAY_ALPHA = 0.45
DECODE_BUDGET = 256 * 2 ** 20  # bytes of decoded RGB frames held at once (the motion prior needs ~4x more)
GIF_WIDTH = 480  # GIF frames wider than this are downscaled (a GIF holds every frame in memory)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
WINDOW_MODES = ("relative", "pixels")


class InferInputError(ValueError):
    """An input of ``stprompt infer`` (video, checkpoint, θ, window mode) cannot be used."""


def _colormap(values: np.ndarray) -> np.ndarray:
    """Jet-like RGB uint8 for values in [0, 1] (matplotlib's jet, sampled once)."""
    from matplotlib import colormaps

    lut = (colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    return lut[np.clip((values * 255).round().astype(int), 0, 255)]


def overlay(frame: np.ndarray, heat: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    """The frame blended with the heat map (where it is > 0) and the box outlined in orange."""
    out = frame.astype(np.float32)
    mask = heat > 0
    out[mask] = (1 - OVERLAY_ALPHA) * out[mask] + OVERLAY_ALPHA * _colormap(heat[mask])
    out = out.round().astype(np.uint8)
    if box is not None and not np.isnan(box).any():
        h, w = frame.shape[:2]
        x1, y1 = int(max(box[0], 0)), int(max(box[1], 0))
        x2, y2 = int(min(box[2], w)) - 1, int(min(box[3], h)) - 1
        color = np.array([255, 140, 0], np.uint8)
        out[y1, x1:x2 + 1] = out[y2, x1:x2 + 1] = color
        out[y1:y2 + 1, x1] = out[y1:y2 + 1, x2] = color
    return out


# --------------------------------------------------------------------------------------------
# Inputs, checked before anything heavy is imported
# --------------------------------------------------------------------------------------------

def check_video(video: str | Path, min_frames: int = 16) -> tuple[Path, Any]:
    """The video as a path and its :class:`~stprompt.datasets.video.VideoInfo`, or an
    :class:`InferInputError` that says what the path is and what to pass instead: a missing path,
    a still image, a folder without frames (a folder of videos, say), a file FFmpeg cannot open, or a
    video shorter than one snippet."""
    from ..datasets.video import IMAGE_SUFFIXES as FRAME_SUFFIXES
    from ..datasets.video import VIDEO_SUFFIXES, VideoReadError, probe_video

    path = Path(video)
    if not path.exists():
        raise InferInputError(f"{path}: video file not found")
    if path.is_dir():
        frames = [p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
        if not frames:
            videos = sorted(p.name for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
            hint = (f"it holds {len(videos)} video file(s) ({', '.join(videos[:3])}"
                    f"{', ...' if len(videos) > 3 else ''}): pass one of them" if videos else
                    f"pass a video file ({', '.join(VIDEO_SUFFIXES)}) or a folder of frames")
            raise InferInputError(f"{path}: is a folder without frame images; {hint}")
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        raise InferInputError(f"{path}: is a still image; infer needs a video (a file FFmpeg reads, "
                              f"or a folder of frames named in order)")
    try:
        info = probe_video(path, exact=False)
    except VideoReadError as exc:
        raise InferInputError(str(exc)) from None
    if info.n_frames < min_frames:
        raise InferInputError(f"{path}: {info.n_frames} frames, shorter than one snippet "
                              f"({min_frames} frames)")
    return path, info


def default_checkpoint(profile: str) -> tuple[Path, Path]:
    """``(run_dir, <run_dir>/models/stprompt_seed0.pt)`` of a profile (its YAML only)."""
    from ..config import load_profile

    run_dir = resolve(load_profile(profile).run_dir)
    return run_dir, run_dir / "models" / "stprompt_seed0.pt"


def choose_theta(theta: float | None, run_dir: Path, checkpoint: Path) -> tuple[float, str]:
    """θ and a sentence saying where it came from (module docstring)."""
    if theta is not None:
        if not np.isfinite(theta):
            raise InferInputError(f"--theta {theta}: expected a finite number (scores are in [0, 1])")
        return float(theta), "given with --theta"
    m = re.search(r"_seed(\d+)\.pt$", checkpoint.name)
    path = run_dir / "metrics.json"
    if m and path.is_file():
        value = read_json(path).get("localization", {}).get("theta", {}).get(m.group(1))
        if value is not None:
            return float(value), (f"chosen on validation by 05_localization for seed {m.group(1)} "
                                  f"({path})")
    why = (f"no θ for this checkpoint in {path}" if m else
           f"{checkpoint.name} is not a <method>_seed<k>.pt checkpoint of a run")
    return 0.5, f"the default 0.5 ({why}; run 05_localization or pass --theta)"


def scaled_windows(recipe: dict[str, Any], height: int, width: int, mode: str = "relative"
                   ) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """``(window, stride)`` in pixels of a ``height × width`` frame for the checkpoint's feature
    recipe (module docstring). The grid is the recipe's; a stride, if the recipe has one, scales
    with the window."""
    if mode not in WINDOW_MODES:
        raise InferInputError(f"windows={mode!r}: expected one of {', '.join(WINDOW_MODES)}")
    feats = recipe["features"]
    wh, ww = (int(v) for v in feats["window"])
    stride = feats.get("stride")
    if mode == "pixels":
        if wh > height or ww > width:
            raise InferInputError(
                f"the checkpoint's windows are {ww}x{wh} pixels but the video's frames are "
                f"{width}x{height}: use windows relative to the frame (the default, --windows "
                f"relative)")
        return (wh, ww), (tuple(stride) if stride else None)
    train_w, train_h = training_frame_size(recipe)
    sy, sx = height / train_h, width / train_w
    window = (max(1, min(height, round(wh * sy))), max(1, min(width, round(ww * sx))))
    if stride:
        stride = (max(1, round(stride[0] * sy)), max(1, round(stride[1] * sx)))
    return window, (tuple(stride) if stride else None)


def training_frame_size(recipe: dict[str, Any]) -> tuple[int, int]:
    """``(width, height)`` of the frames the checkpoint's features were extracted from: the
    recorded ``frame_size``, else the extent of the window grid (evenly spread windows touch the
    right and bottom edges)."""
    if recipe.get("frame_size"):
        w, h = recipe["frame_size"]
        return int(w), int(h)
    boxes = np.asarray(recipe.get("window_boxes") or [], dtype=float)
    if boxes.size == 0 or recipe["features"].get("stride"):
        raise InferInputError("the checkpoint's feature recipe records neither the frame size nor an "
                              "evenly spread window grid; pass --windows pixels")
    return int(boxes[:, 2].max()), int(boxes[:, 3].max())


def describe_clip(info: Any, spec: Any) -> str:
    """Which CLIP encoded the video and what it was trained on, in one sentence."""
    weights = info.weights
    if info.model == "tiny_clip":
        return (f"CLIP: the in-project tiny CLIP ({weights}), pretrained only on captioned SynthVAD "
                f"training scenes at {info.image_size[1]}x{info.image_size[0]} px: it has never seen "
                f"real footage, so on real videos its scores are not meaningful (they tend to "
                f"saturate near 1); use a profile with ViT-B/16 weights for real videos")
    source = spec.pretrained or spec.checkpoint or "random initialisation"
    return f"CLIP: {info.model}, weights {weights} ({source})"


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------

def infer(video: str | Path, profile: str = "synthvad", checkpoint: str | None = None,
          out: str | Path | None = None, theta: float | None = None, gif: bool = False,
          progress: bool = True, log: Callable[[str], None] | None = print,
          windows: str = "relative") -> dict[str, Any]:
    """Run the trained model of ``profile`` on ``video`` (see the module docstring)."""
    if windows not in WINDOW_MODES:
        raise InferInputError(f"--windows {windows!r}: expected one of {', '.join(WINDOW_MODES)}")
    run_dir, default_ckpt = default_checkpoint(profile)
    ckpt_path = resolve(checkpoint) if checkpoint else default_ckpt
    if not ckpt_path.is_file():
        raise InferInputError(f"{ckpt_path}: no model checkpoint (train one with 02_train of profile "
                              f"'{profile}', e.g. `make reproduce`, or pass --checkpoint)")
    video, info = check_video(video)
    th, theta_source = choose_theta(theta, run_dir, ckpt_path)

    import torch
    from tqdm.auto import tqdm

    from .. import vlm
    from ..config import from_dict
    from ..datasets.video import iter_frames, write_video
    from ..features import FeatureConfig, clip_spec_from_params, extract_frames
    from ..localize import LocalizeConfig, encode_queries, frame_boxes, localize_video, snippet_heat_map
    from ..metrics import expand_snippet_scores
    from ..model import ModelConfig, build_model
    from .pipeline import resolved_params
    from ..prompts import load_queries
    from ..train import VideoItem, collate, load_checkpoint

    payload = load_checkpoint(ckpt_path)
    recipe = payload["feature_recipe"]
    cfg = from_dict(FeatureConfig, recipe["features"], source=f"{ckpt_path} feature recipe")
    window, stride = scaled_windows(recipe, info.height, info.width, windows)
    frame_bytes = info.height * info.width * 3
    chunk = max(1, min(cfg.chunk_snippets, DECODE_BUDGET // (cfg.snippet_len * frame_bytes)))
    cfg = from_dict(FeatureConfig, {**recipe["features"], "window": list(window),
                                    "stride": list(stride) if stride else None, "chunk_snippets": chunk},
                    source=f"{ckpt_path} feature recipe, windows fitted to the video")
    params = resolved_params(profile, "01_data_prep")
    spec = clip_spec_from_params(params)
    clip, clip_info = vlm.build_clip(spec)
    if clip_info.recipe() != recipe["backbone"]:
        raise InferInputError(f"{ckpt_path} was trained on features of {recipe['backbone'].get('backbone')} "
                              f"({recipe['backbone'].get('weights')}), but profile '{profile}' builds "
                              f"{clip_info.model} ({clip_info.weights})")
    out_dir = resolve(out) if out else run_dir / "infer" / video.stem
    clip_sentence = describe_clip(clip_info, spec)
    model_sentence = (f"temporal model: {ckpt_path.name} ({payload['model_config'].get('method', '?')}, "
                      f"classes {', '.join(payload['class_names'])}; selected epoch {payload.get('best_epoch')})")
    if log:
        kind = "frame folder" if video.is_dir() else "video"
        log(f"{video}: {kind} of {info.n_frames} frames, {info.width}x{info.height} at {info.fps:.1f} fps")
        log(clip_sentence)
        log(model_sentence)
        log(f"windows: {cfg.grid[0]}x{cfg.grid[1]} of {window[1]}x{window[0]} px "
            f"({'fitted to the frame' if windows == 'relative' else 'the recipe pixels'}); "
            f"decoding {chunk * cfg.snippet_len} frames at a time")
        log(f"θ = {th:.3f}: {theta_source}")
    bar = tqdm(total=info.n_frames, desc="features", unit="frame", disable=not progress)

    def counted():
        for f in iter_frames(video, 0, info.n_frames):
            bar.update(1)
            yield f

    arrays = extract_frames(counted(), info.n_frames, clip, cfg, device=clip_info.device)
    bar.close()
    model = build_model(from_dict(ModelConfig, payload["model_config"], source=str(ckpt_path)), clip,
                        payload["class_names"], arrays["frame"].shape[1])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    item = VideoItem(video.stem, arrays["frame"], arrays.get("patch"), arrays["motion"], 0, 0, None,
                     info.n_frames)
    with torch.inference_mode():
        snippet_scores = model(collate([item], clip_info.device)).scores[0].float().cpu().numpy()
    normal, abnormal = load_queries(params["dataset"])
    queries = encode_queries(clip, normal, abnormal)
    loc = localize_video(arrays["patch"], snippet_scores, queries, LocalizeConfig(), info.height, info.width,
                         theta=th, window_boxes=arrays["boxes"])
    boxes = frame_boxes(loc, info.n_frames)
    frame_scores = expand_snippet_scores(snippet_scores.astype(float), info.n_frames, cfg.snippet_len)

    result = {"video": str(video), "n_frames": info.n_frames, "fps": info.fps,
              "frame_size": [info.width, info.height], "theta": th, "theta_source": theta_source,
              "checkpoint": str(ckpt_path), "clip": {"model": clip_info.model, "weights": clip_info.weights,
                                                     "about": clip_sentence},
              "windows": {"mode": windows, "grid": list(cfg.grid), "size": [window[1], window[0]],
                          "boxes": np.asarray(arrays["boxes"]).tolist()},
              "snippet_len": cfg.snippet_len,
              "snippets": [{"index": t, "frames": [t * cfg.snippet_len,
                                                   min((t + 1) * cfg.snippet_len, info.n_frames) - 1],
                            "score": float(s),
                            "box": None if np.isnan(loc["boxes"][t]).any() else [float(v) for v in loc["boxes"][t]]}
                           for t, s in enumerate(snippet_scores)]}
    write_text(out_dir / "scores.json", json.dumps(result, indent=2) + "\n")
    _score_curve(frame_scores, th, video.name, out_dir / "score_curve.png")

    heat_cache: dict[int, np.ndarray] = {}

    def overlays():
        for f, frame in enumerate(iter_frames(video, 0, info.n_frames)):
            t = min(f // cfg.snippet_len, len(snippet_scores) - 1)
            if t not in heat_cache:
                heat_cache.clear()
                heat_cache[t] = snippet_heat_map(loc, t)
            yield overlay(frame, heat_cache[t], boxes[f])

    even = (info.width % 2 == 0) and (info.height % 2 == 0)
    stream = overlays() if even else (fr[: fr.shape[0] // 2 * 2, : fr.shape[1] // 2 * 2] for fr in overlays())
    write_video(stream, out_dir / "heatmap.mp4", info.fps or 25.0)
    written = ["scores.json", "score_curve.png", "heatmap.mp4"]
    if gif:
        _gif(overlays(), out_dir / "heatmap.gif", info.fps or 25.0)
        written.append("heatmap.gif")
    if log:
        top = int(np.argmax(snippet_scores))
        log(f"max snippet score {snippet_scores.max():.3f} at snippet {top}; "
            f"{int((snippet_scores >= th).sum())} of {len(snippet_scores)} snippets at or above θ localized")
        log(f"wrote {', '.join(written)} to {out_dir}")
    result["out_dir"] = str(out_dir)
    return result


def _score_curve(frame_scores: np.ndarray, theta: float, name: str, path: Path) -> None:
    from matplotlib.figure import Figure

    from ..io import atomic_path

    fig = Figure(figsize=(8, 2.8), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(np.arange(len(frame_scores)), frame_scores, label="anomaly score")
    ax.axhline(theta, color="k", linestyle="--", linewidth=1, label=f"θ = {theta:.2f} (localization)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("frame")
    ax.set_ylabel("anomaly score")
    ax.set_title(f"{name}: frame anomaly score")
    ax.legend(fontsize=8, frameon=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)


def _gif(frames, path: Path, fps: float, max_frames: int = 400) -> None:
    """Every ``fps/10``-th frame (10 per second), at most ``max_frames``, at most
    :data:`GIF_WIDTH` pixels wide."""
    from PIL import Image

    from ..io import atomic_path

    step = max(1, int(round(fps / 10)))  # 10 frames per second keeps GIFs small
    images = []
    for i, f in enumerate(frames):
        if i % step:
            continue
        im = Image.fromarray(f)
        if im.width > GIF_WIDTH:
            im = im.resize((GIF_WIDTH, round(im.height * GIF_WIDTH / im.width)), Image.BILINEAR)
        images.append(im)
        if len(images) == max_frames:
            break
    with atomic_path(path) as tmp:
        images[0].save(tmp, save_all=True, append_images=images[1:], duration=int(1000 * step / fps), loop=0)

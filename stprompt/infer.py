"""``stprompt infer VIDEO``: score a video and localize its anomalies with a trained model.

The video is decoded (any container FFmpeg reads: MP4, AVI, …), its features are extracted with
**the checkpoint's feature recipe** (frame choice, crops, window grid, motion prior) by the CLIP of
the profile (checked against the backbone and weights recorded in the checkpoint), the temporal
model scores every snippet, and the spatial stream scores the windows of snippets whose score
passes θ. Outputs in ``--out``:

- ``scores.json``: per-snippet score, box (pixels, null below θ), frame ranges, θ, the model;
- ``score_curve.png``: frame score over time with θ;
- ``heatmap.mp4`` (and ``heatmap.gif`` with ``--gif``): the frames with the heat map overlaid and
  the predicted box drawn.

θ: ``--theta``, else the θ chosen on validation by ``05_localization`` for the checkpoint's seed
(``metrics.json`` of the profile's run), else 0.5.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .io import read_json, resolve, write_text

OVERLAY_ALPHA = 0.45


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


def default_theta(run_dir: Path, checkpoint: Path) -> float:
    m = re.search(r"_seed(\d+)\.pt$", checkpoint.name)
    path = run_dir / "metrics.json"
    if m and path.is_file():
        theta = read_json(path).get("localization", {}).get("theta", {}).get(m.group(1))
        if theta is not None:
            return float(theta)
    return 0.5


def infer(video: str | Path, profile: str = "synthvad", checkpoint: str | None = None,
          out: str | Path | None = None, theta: float | None = None, gif: bool = False,
          progress: bool = True, log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Run the trained model of ``profile`` on ``video`` (see the module docstring)."""
    import torch
    from tqdm.auto import tqdm

    from . import vlm
    from .config import from_dict
    from .datasets.video import VideoReadError, iter_frames, probe_video, write_video
    from .features import FeatureConfig, clip_spec_from_params, extract_frames
    from .localize import LocalizeConfig, encode_queries, frame_boxes, localize_video, snippet_heat_map
    from .metrics import expand_snippet_scores
    from .model import ModelConfig, build_model
    from .pipeline import resolved_params
    from .prompts import load_queries
    from .train import VideoItem, collate, load_checkpoint

    video = Path(video)
    if not video.exists():
        raise VideoReadError(f"{video}: video file not found")
    params = resolved_params(profile, "01_data_prep")
    run_dir = resolve(params["run_dir"])
    ckpt_path = resolve(checkpoint) if checkpoint else run_dir / "models" / "stprompt_seed0.pt"
    payload = load_checkpoint(ckpt_path)
    recipe = payload["feature_recipe"]
    cfg = from_dict(FeatureConfig, recipe["features"], source=f"{ckpt_path} feature recipe")
    info = probe_video(video, exact=False)
    if info.n_frames < cfg.snippet_len:
        raise ValueError(f"{video}: {info.n_frames} frames, shorter than one snippet "
                         f"({cfg.snippet_len} frames)")
    clip, clip_info = vlm.build_clip(clip_spec_from_params(params))
    if clip_info.recipe() != recipe["backbone"]:
        raise ValueError(f"{ckpt_path} was trained on features of {recipe['backbone'].get('backbone')} "
                         f"({recipe['backbone'].get('weights')}), but profile '{profile}' builds "
                         f"{clip_info.model} ({clip_info.weights})")
    out_dir = resolve(out) if out else run_dir / "infer" / video.stem
    if log:
        log(f"{video}: {info.n_frames} frames, {info.width}x{info.height} at {info.fps:.1f} fps")
    frames_iter = iter_frames(video, 0, info.n_frames)
    bar = tqdm(total=info.n_frames, desc="features", unit="frame", disable=not progress)

    def counted():
        for f in frames_iter:
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
    th = theta if theta is not None else default_theta(run_dir, ckpt_path)
    normal, abnormal = load_queries(params["dataset"])
    queries = encode_queries(clip, normal, abnormal)

    class Feats:  # the fields localize_video reads
        patch = arrays["patch"]
        recipe = {"window_boxes": arrays["boxes"].tolist()}

    loc = localize_video(Feats, snippet_scores, queries, LocalizeConfig(), info.height, info.width, theta=th)
    boxes = frame_boxes(loc, info.n_frames)
    frame_scores = expand_snippet_scores(snippet_scores.astype(float), info.n_frames, cfg.snippet_len)

    result = {"video": str(video), "n_frames": info.n_frames, "fps": info.fps, "theta": th,
              "checkpoint": str(ckpt_path), "snippet_len": cfg.snippet_len,
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
        log(f"max snippet score {snippet_scores.max():.3f} at snippet {top}; θ = {th:.3f}; "
            f"{int((snippet_scores >= th).sum())} of {len(snippet_scores)} snippets localized")
        log(f"wrote {', '.join(written)} to {out_dir}")
    result["out_dir"] = str(out_dir)
    return result


def _score_curve(frame_scores: np.ndarray, theta: float, name: str, path: Path) -> None:
    from matplotlib.figure import Figure

    from .io import atomic_path

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
    from PIL import Image

    from .io import atomic_path

    step = max(1, int(round(fps / 10)))  # 10 frames per second keeps GIFs small
    images = [Image.fromarray(f) for i, f in enumerate(frames) if i % step == 0][:max_frames]
    with atomic_path(path) as tmp:
        images[0].save(tmp, save_all=True, append_images=images[1:], duration=int(1000 * step / fps), loop=0)

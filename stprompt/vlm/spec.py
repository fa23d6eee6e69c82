"""What CLIP to build and what a built one expects, as data: :class:`ClipSpec` (an open_clip
model name, a config of ``stprompt/configs/`` or a config path; a tag or a checkpoint), :class:`ClipInfo`
(preprocessing and weights id), :class:`ClipError`, and the in-project model configs registered with
open_clip (open_clip's ``model_configs/*.json``: architectures are data).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Literal


from ..config import from_dict
from ..io import read_json, resolve

MODEL_CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"  # stprompt/configs/


class ClipError(RuntimeError):
    """CLIP weights or architecture cannot be used as asked; the message says how to fix it."""


@dataclasses.dataclass
class ClipSpec:
    """Which CLIP to build. Relative paths are resolved against the repository root.

    Examples: ``ClipSpec("tiny_clip")`` (random init), ``ClipSpec("tiny_clip",
    checkpoint="runs/synthvad/vlm/tiny_clip.pt")``, ``ClipSpec("ViT-B-16", pretrained="openai",
    device="cuda")``, ``ClipSpec("ViT-B-16", checkpoint="/data/weights/ViT-B-16.pt")``.
    """

    # open_clip model name, a config stem of stprompt/configs/, or a path to a config .json;
    # None = the model recorded in a save_checkpoint file
    model: str | None = "tiny_clip"
    pretrained: str | None = None  # open_clip pretrained tag ("openai"); needs cached weights or internet
    # local weights file: state_dict, open_clip checkpoint, OpenAI .pt archive, .safetensors, or
    # the output of save_checkpoint
    checkpoint: str | None = None
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", ... or "auto" (CUDA when available)
    # weight precision; fp32 weights on a GPU still encode under fp16 autocast
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    quick_gelu: bool | None = None  # force QuickGELU (OpenAI weights); None = tag, archive or config
    seed: int = 0  # seeds the random initialisation (only matters for weights no file supplies)
    cache_dir: str | None = None  # cache of pretrained tags; None = open_clip's (HF hub, ~/.cache/clip)


@dataclasses.dataclass(frozen=True)
class ClipInfo:
    """What a built CLIP expects and which weights it carries (the ``preprocess_info`` of
    :func:`build_clip`). :meth:`recipe` is what a feature file records about its backbone."""

    model: str  # open_clip model name
    weights: str  # "random(seed=0)", "openai" (a tag), or "file:<name>#<sha256[:16]>"
    image_size: tuple[int, int]  # (height, width) the image tower takes
    patch_grid: tuple[int, int] | None  # (rows, cols) of patch tokens; None for non-ViT towers
    mean: tuple[float, float, float]  # per-channel mean subtracted after scaling pixels to [0, 1]
    std: tuple[float, float, float]  # per-channel std divided by
    interpolation: str  # resize filter ("bicubic" for CLIP), always with antialiasing
    context_length: int  # text tokens including start and end
    embed_dim: int  # joint embedding size D
    device: str
    precision: str
    quick_gelu: bool

    def recipe(self) -> dict:
        return {"backbone": self.model, "weights": self.weights, "image_size": list(self.image_size),
                "embed_dim": self.embed_dim, "mean": list(self.mean), "std": list(self.std),
                "interpolation": self.interpolation}


_registered = False


def register_model_configs(path: str | os.PathLike | None = None) -> list[str]:
    """Register the model configs of ``stprompt/configs/`` (or a config file / folder) with
    open_clip, so that ``open_clip.create_model(name)`` knows them; returns the names added."""
    global _registered
    import open_clip

    if path is None:
        if _registered:
            return []
        path, _registered = MODEL_CONFIG_DIR, True
    p = Path(path)
    files = sorted(p.glob("*.json")) if p.is_dir() else [p]
    before = set(open_clip.list_models())
    open_clip.add_model_config(p)
    return [f.stem for f in files if f.stem not in before]


def register_stored_config(name: str, cfg: dict) -> None:
    """Make a config stored in a checkpoint known to open_clip under ``name`` when it is not (a
    checkpoint of a variant architecture carries its own config, so it rebuilds without the
    ``.json`` it was made from). open_clip registers configs from files: the config goes through
    a private temporary file."""
    import tempfile

    import open_clip

    if open_clip.get_model_config(name) is not None:
        return
    with tempfile.TemporaryDirectory(prefix="stprompt-config-") as tmp:
        path = Path(tmp) / f"{name}.json"
        path.write_text(json.dumps({k: v for k, v in cfg.items() if k != "quick_gelu"}))
        open_clip.add_model_config(path)


def model_config(name: str) -> dict:
    """The open_clip config of a model name or of a config ``.json`` path (as :class:`ClipSpec`
    takes them; after registering ours), or a ClipError listing the in-project configs."""
    import open_clip

    register_model_configs()
    name = _resolve_model_name(name)
    cfg = open_clip.get_model_config(name)
    if cfg is None:
        ours = sorted(f.stem for f in MODEL_CONFIG_DIR.glob("*.json"))
        raise ClipError(f"unknown CLIP model '{name}': not an open_clip model name, not a config in "
                        f"{MODEL_CONFIG_DIR} ({', '.join(ours)}), not a path to a config .json")
    return cfg


def _as_spec(spec: ClipSpec | dict | str | None, overrides: dict) -> ClipSpec:
    if spec is None:
        spec = ClipSpec()
    elif isinstance(spec, str):
        spec = ClipSpec(model=spec)
    elif isinstance(spec, dict):
        spec = from_dict(ClipSpec, spec, source="clip spec")
    elif not isinstance(spec, ClipSpec):
        raise TypeError(f"expected a ClipSpec, a mapping or a model name, got {type(spec).__name__}")
    return dataclasses.replace(spec, **overrides) if overrides else spec


def _resolve_model_name(model: str) -> str:
    # A path to a config .json is registered under its stem; names pass through.
    if model.endswith(".json"):
        path = resolve(model)
        if not path.is_file():
            raise ClipError(f"model config file not found: {path}")
        cfg = read_json(path)
        if not all(k in cfg for k in ("embed_dim", "vision_cfg", "text_cfg")):
            raise ClipError(f"{path}: not an open_clip model config (needs embed_dim, vision_cfg, text_cfg)")
        register_model_configs(path)
        return path.stem
    return model

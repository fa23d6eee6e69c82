"""The frozen CLIP of STPrompt: build it, encode images, crops, patch tokens and texts, learn text
prompts through it, and pretrain the tiny in-project CLIP.

Building (:func:`build_clip`). One builder takes a :class:`ClipSpec` and returns the frozen model
(``eval()``, ``requires_grad=False``) and a :class:`ClipInfo` (preprocessing and the weights' id,
for feature recipes). Architectures are data: an open_clip model name (``ViT-B-16``), a config of
``stprompt/configs/`` (``tiny_clip``), or a path to a config JSON in open_clip's format. Weights
come from

- nothing (random initialisation from ``ClipSpec.seed``; the tiny CLIP before pretraining),
- ``pretrained``: an open_clip tag (``openai``). The file must be in the local cache or the
  network must be allowed; with ``HF_HUB_OFFLINE=1`` and no cached file, building fails at once
  (open_clip would otherwise spend ~47 s retrying) and says how to supply the weights,
- ``checkpoint``: a local file: a plain state_dict, an open_clip training checkpoint
  (``{"state_dict": ...}``), an OpenAI TorchScript archive (``ViT-B-16.pt``), a ``.safetensors``
  file, or the output of :func:`save_checkpoint`.

Both weight routes end in the same loader, which checks every key and shape and names the first
mismatches. OpenAI weights were trained with QuickGELU: the ``openai`` tag and TorchScript archives
switch it on by themselves; for an OpenAI state_dict saved by other tools set ``quick_gelu: true``
(or use the model ``ViT-B-16-quickgelu``).

Encoding (:func:`encode_images`, :func:`encode_patch_tokens`, :func:`encode_texts`) works on
batches in torch (uint8 ``(N, H, W, 3)`` numpy or torch in, L2-normalised float32 numpy ``(N, D)``
out, ready for feature files), autocasts to fp16 on CUDA and never loops over images in PIL.
:class:`PromptTextEncoder` is the A-branch's learnable text prompt (VadCLIP: 10 prefix + 10 postfix
context vectors around each class name) fed through the frozen text transformer. :func:`pretrain`
trains a CLIP contrastively on captioned images (DESIGN §2: the tiny CLIP learns the SynthVAD
world), :func:`save_checkpoint` writes it atomically, and :func:`zero_shot_classify` checks what it learnt.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import os
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import __version__, progress
from .config import from_dict
from .io import atomic_path, file_hash, read_json, resolve

MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "configs"
CHECKPOINT_FORMAT = "stprompt-clip/1"

# OpenAI TorchScript archives and some exporters carry these next to the weights.
_NON_WEIGHT_KEYS = ("input_resolution", "context_length", "vocab_size", "attn_mask")

__all__ = [
    "ClipError", "ClipSpec", "ClipInfo", "build_clip", "register_model_configs", "model_config",
    "clip_info", "tokenize", "preprocess_images", "encode_images", "encode_patch_tokens",
    "pool_patch_tokens", "encode_texts", "encode_text_embeddings", "PromptTextEncoder",
    "pretrain", "save_checkpoint", "zero_shot_classify",
]


class ClipError(RuntimeError):
    """CLIP weights or architecture cannot be used as asked; the message says how to fix it."""


def _how_to_supply(tag_cfg: dict) -> str:
    sources = []
    if tag_cfg.get("url"):
        sources.append(tag_cfg["url"])
    if tag_cfg.get("hf_hub"):
        repo_id, filename = os.path.split(tag_cfg["hf_hub"])
        sources.append(f"https://huggingface.co/{repo_id}/resolve/main/"
                       f"{filename or 'open_clip_model.safetensors'}")
    gelu = (" and `quick_gelu: true` (these weights were trained with QuickGELU; a .pt archive "
            "switches it on by itself)") if tag_cfg.get("quick_gelu") else ""
    return ("To use these weights without internet: on a machine with internet download the weights "
            "file (" + " or ".join(sources) + "), copy it here and pass `checkpoint: /path/to/file` "
            f"(with `pretrained: null`){gelu} in the model spec. Alternatively copy a filled "
            "open_clip / Hugging Face cache folder here and point `cache_dir` at it.")


# --------------------------------------------------------------------------------------------
# Specification and build
# --------------------------------------------------------------------------------------------

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


def model_config(name: str) -> dict:
    """The open_clip config of a model name (after registering ours), or a ClipError listing the
    in-project configs."""
    import open_clip

    register_model_configs()
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


def _offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _cached_pretrained_file(tag_cfg: dict, cache_dir: str | None) -> str | None:
    """The local file holding a pretrained tag's weights, if open_clip already cached it (the same
    places :func:`open_clip.download_pretrained` looks: the HF hub cache, then ``~/.cache/clip``)."""
    if tag_cfg.get("file"):
        return tag_cfg["file"] if os.path.isfile(tag_cfg["file"]) else None
    hf = tag_cfg.get("hf_hub", "")
    if hf:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # open_clip then falls back to the URL
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

            repo_id, filename = os.path.split(hf)  # "org/repo/" names the default file
            filename = filename or HF_WEIGHTS_NAME
            candidates = [filename]
            if filename == HF_WEIGHTS_NAME:
                candidates.insert(0, HF_SAFE_WEIGHTS_NAME)
            elif filename.endswith((".bin", ".pth")):
                candidates.insert(0, filename[:-4] + ".safetensors")
            for name in candidates:
                found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
                if isinstance(found, str) and os.path.isfile(found):
                    return found
    url = tag_cfg.get("url", "")
    if url:
        target = os.path.join(cache_dir or os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        if os.path.isfile(target):
            return target
    return None


def _pretrained_file(model: str, tag: str, cache_dir: str | None) -> tuple[str, dict]:
    """Find (or, when online, download) the weights file of an open_clip pretrained tag."""
    import open_clip

    tag_cfg = open_clip.get_pretrained_cfg(model, tag)
    if not tag_cfg:
        tags = open_clip.list_pretrained_tags_by_model(model)
        raise ClipError(f"'{tag}' is not a pretrained tag of open_clip model '{model}' (known tags: "
                        f"{', '.join(tags) or 'none'}). For weights of your own pass `checkpoint: "
                        f"/path/to/file` instead of `pretrained`.")
    found = _cached_pretrained_file(tag_cfg, cache_dir)
    if found:
        return found, tag_cfg
    if _offline():
        raise ClipError(f"pretrained weights '{tag}' for CLIP '{model}' are not in the local cache and "
                        f"HF_HUB_OFFLINE=1 forbids downloading them.\n" + _how_to_supply(tag_cfg))
    try:
        path = open_clip.download_pretrained(tag_cfg, cache_dir=cache_dir)
    except Exception as exc:  # network errors come in many types
        raise ClipError(f"could not download pretrained weights '{tag}' for CLIP '{model}' ({exc}).\n"
                        + _how_to_supply(tag_cfg)) from exc
    if not path:
        raise ClipError(f"open_clip has no download source for '{model}' / '{tag}'")
    return path, tag_cfg


@dataclasses.dataclass
class _Checkpoint:
    path: Path
    state_dict: dict[str, torch.Tensor]
    kind: str  # "stprompt", "open_clip", "state_dict", "torchscript", "safetensors"
    model_name: str | None = None
    model_config: dict | None = None


def _is_torchscript_archive(path: Path) -> bool:
    # torch.save zips hold data.pkl; TorchScript zips also hold constants.pkl (torch's own test)
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(name.endswith("constants.pkl") for name in zf.namelist())


def _read_checkpoint(path: str | os.PathLike) -> _Checkpoint:
    p = resolve(path)
    if not p.is_file():
        raise ClipError(f"CLIP checkpoint file not found: {p}\nPass `checkpoint:` the path of a weights "
                        f"file that exists (a state_dict, an open_clip checkpoint, an OpenAI .pt archive "
                        f"or the output of stprompt.vlm.save_checkpoint); relative paths are resolved "
                        f"against the repository root.")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return _Checkpoint(p, load_file(str(p), device="cpu"), "safetensors")
    if _is_torchscript_archive(p):  # OpenAI's released ViT-B-16.pt and friends
        # The one file the suite loads as code (TorchScript cannot be read as plain data): load only
        # archives you trust, such as OpenAI's release. Every other checkpoint and data file is read
        # without running code (weights_only=True, stprompt.datasets.safe_pickle).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated, but these files are TorchScript
            jit = torch.jit.load(str(p), map_location="cpu")
        return _Checkpoint(p, dict(jit.state_dict()), "torchscript")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ClipError(f"{p}: not a readable CLIP checkpoint ({exc})") from exc
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        return _Checkpoint(p, obj["state_dict"], "stprompt", obj.get("model_name"), obj.get("model_config"))
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        return _Checkpoint(p, obj["state_dict"], "open_clip")
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _Checkpoint(p, obj, "state_dict")
    raise ClipError(f"{p}: expected a state_dict (a mapping of names to tensors) or a checkpoint with a "
                    f"'state_dict' entry, got {type(obj).__name__}")


def _load_weights(model: nn.Module, ckpt: _Checkpoint, model_name: str) -> None:
    """Load a checkpoint's state_dict after open_clip's compatibility fixes, checking every key and
    shape first so that a mismatch names the model and the first offending keys."""
    from open_clip.model import resize_pos_embed, resize_text_pos_embed

    own = model.state_dict()
    sd = {(k[7:] if k.startswith("module.") else k): v for k, v in ckpt.state_dict.items()}
    for key in _NON_WEIGHT_KEYS:
        if key in sd and key not in own:
            sd.pop(key)
    if "logit_scale" in sd and "logit_scale" in own and sd["logit_scale"].shape != own["logit_scale"].shape:
        sd["logit_scale"] = sd["logit_scale"].reshape(own["logit_scale"].shape)
    # open_clip interpolates positional embeddings to another image size / context length; when the
    # architectures differ otherwise it may fail, and the key/shape check below reports that instead
    for resize in (resize_pos_embed, resize_text_pos_embed):
        with contextlib.suppress(Exception):
            resize(sd, model)
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        def first(items: list[str]) -> str:
            return "; ".join(items[:5]) + (f"; ... ({len(items)} in all)" if len(items) > 5 else "")
        parts = [f"{label}: {first(items)}" for label, items in
                 (("shape mismatches", shapes), ("missing keys", missing), ("unexpected keys", unexpected))
                 if items]
        raise ClipError(f"checkpoint {ckpt.path} does not fit CLIP model '{model_name}' (architecture "
                        "mismatch): " + " | ".join(parts) + "\nSet `model:` to the architecture the "
                        "weights were trained with (e.g. ViT-B-16 for OpenAI ViT-B/16 weights, tiny_clip "
                        "for the in-project tiny CLIP).")
    model.load_state_dict(sd, strict=True)


@contextlib.contextmanager
def _quiet_random_init_warning() -> Iterator[None]:
    # open_clip warns "No pretrained weights loaded" on every pretrained=None build; the weights we
    # load afterwards (or the random init) are recorded in ClipInfo.weights instead.
    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not str(record.msg).startswith("No pretrained weights loaded")

    flt, root = _Drop(), logging.getLogger()
    root.addFilter(flt)
    try:
        yield
    finally:
        root.removeFilter(flt)


def _config_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += _config_differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            diffs.append(f"{prefix}{key}: {va!r} vs {vb!r}")
    return diffs


def build_clip(spec: ClipSpec | dict | str | None = None, **overrides: Any) -> tuple[nn.Module, ClipInfo]:
    """Build the frozen CLIP described by ``spec`` (fields of :class:`ClipSpec` may also be given
    as keyword overrides); return ``(model, info)``. See the module docstring for weight sources.

    The model is in eval mode with ``requires_grad=False`` everywhere; ``model.stprompt_info``
    holds ``info`` so that the encoders know its preprocessing.
    """
    import open_clip

    spec = _as_spec(spec, overrides)
    if spec.pretrained and spec.checkpoint:
        raise ClipError("give either `pretrained` (an open_clip tag) or `checkpoint` (a local file), "
                        "not both")
    register_model_configs()
    ckpt = _read_checkpoint(spec.checkpoint) if spec.checkpoint else None
    if spec.model is None:
        if ckpt is None or not ckpt.model_name:
            raise ClipError("`model` is required unless `checkpoint` is a file written by "
                            "stprompt.vlm.save_checkpoint (which records its model)")
        name = ckpt.model_name
    else:
        name = _resolve_model_name(spec.model)
    cfg = model_config(name)

    tag_cfg: dict = {}
    if spec.pretrained:
        path, tag_cfg = _pretrained_file(name, spec.pretrained, spec.cache_dir)
        ckpt = _read_checkpoint(path)
    saved_quick_gelu = False
    if ckpt is not None and ckpt.model_config is not None:
        saved = dict(ckpt.model_config)
        saved_quick_gelu = bool(saved.pop("quick_gelu", False))
        diffs = _config_differences(saved, {k: v for k, v in cfg.items() if k != "quick_gelu"})
        if diffs:
            raise ClipError(f"checkpoint {ckpt.path} was saved from model '{ckpt.model_name}' whose "
                            f"config differs from model '{name}' as registered now (architecture "
                            f"mismatch; checkpoint vs current): {'; '.join(diffs[:5])}. Use the config "
                            f"the weights were trained with (`model: {ckpt.model_name}` with its original "
                            f"JSON), or retrain.")

    quick_gelu = spec.quick_gelu
    if quick_gelu is None:
        quick_gelu = bool(tag_cfg.get("quick_gelu", False) or saved_quick_gelu or cfg.get("quick_gelu", False)
                          or (ckpt is not None and ckpt.kind == "torchscript"))
    device = ("cuda" if torch.cuda.is_available() else "cpu") if spec.device == "auto" else spec.device
    preprocess = {k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg}

    with _quiet_random_init_warning(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = open_clip.create_model(name, pretrained=None, precision=spec.precision, device=device,
                                       force_quick_gelu=quick_gelu, force_preprocess_cfg=preprocess or None)
    if ckpt is not None:
        _load_weights(model, ckpt, name)
        weights = spec.pretrained or f"file:{ckpt.path.name}#{file_hash(ckpt.path)}"
    else:
        weights = f"random(seed={spec.seed})"
    model.eval().requires_grad_(False)

    info = _describe(model, name, weights, str(device), spec.precision, quick_gelu)
    model.stprompt_info = info
    return model, info


def clip_info(model: nn.Module) -> ClipInfo:
    """The :class:`ClipInfo` of a model from :func:`build_clip`; for a model made directly with
    open_clip, the same fields read from the model (model and weights "unknown")."""
    info = getattr(model, "stprompt_info", None)
    if info is not None:
        return info
    param = next(model.parameters())
    return _describe(model, "unknown", "unknown", str(param.device),
                     {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(param.dtype, "fp32"), False)


def _describe(model: nn.Module, name: str, weights: str, device: str, precision: str,
              quick_gelu: bool) -> ClipInfo:
    import open_clip

    pp = open_clip.get_model_preprocess_cfg(model)
    visual = model.visual
    size = visual.image_size
    size = tuple(int(v) for v in size) if isinstance(size, (tuple, list)) else (int(size), int(size))
    grid = getattr(visual, "grid_size", None)
    return ClipInfo(
        model=name, weights=weights, image_size=size,
        patch_grid=tuple(int(g) for g in grid) if grid is not None else None,
        mean=tuple(float(m) for m in pp.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        std=tuple(float(v) for v in pp.get("std", open_clip.OPENAI_DATASET_STD)),
        interpolation=str(pp.get("interpolation", "bicubic")),
        context_length=int(getattr(model, "context_length", 0)),
        embed_dim=int(getattr(visual, "output_dim", 0) or model.text_projection.shape[-1]),
        device=device, precision=precision, quick_gelu=quick_gelu)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------

def _as_uint8_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images: expected a uint8 numpy array or torch tensor (N, H, W, 3), got "
                        f"{type(images).__name__}")
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images: expected uint8 RGB of shape (N, H, W, 3), got {images.dtype} of shape "
                         f"{tuple(images.shape)} (stack crops of one size; add a batch axis for one image)")
    return images


def preprocess_images(batch_uint8: torch.Tensor, info: ClipInfo, device: torch.device | str | None = None,
                      resize_mode: Literal["squash", "shortest"] = "squash") -> torch.Tensor:
    """CLIP preprocessing of a uint8 batch ``(B, H, W, 3)`` in torch: scale to [0, 1], resize to
    ``info.image_size`` with antialiasing, clamp, normalise by ``info.mean``/``info.std``; returns
    float32 ``(B, 3, h, w)`` on ``device``.

    ``resize_mode``: "squash" resizes the whole image to the model's size (a sliding-window crop
    keeps all its content; the default, since the spatial stream scores whole windows), "shortest"
    resizes the short side and centre-crops as CLIP's own preprocessing does for photographs.
    """
    x = batch_uint8.to(device, non_blocking=True) if device is not None else batch_uint8
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    th, tw = info.image_size
    h, w = x.shape[-2:]
    mode = info.interpolation if info.interpolation in ("bilinear", "bicubic") else "bilinear"
    if resize_mode == "shortest" and (h, w) != (th, tw):
        scale = max(th / h, tw / w)
        nh, nw = max(th, int(round(h * scale))), max(tw, int(round(w * scale)))
        x = F.interpolate(x, size=(nh, nw), mode=mode, antialias=True, align_corners=False)
        top, left = int(round((nh - th) / 2.0)), int(round((nw - tw) / 2.0))
        x = x[..., top:top + th, left:left + tw]
    elif resize_mode == "squash" and (h, w) != (th, tw):
        x = F.interpolate(x, size=(th, tw), mode=mode, antialias=True, align_corners=False)
    elif resize_mode not in ("squash", "shortest"):
        raise ValueError(f"resize_mode: expected 'squash' or 'shortest', got {resize_mode!r}")
    x = x.clamp_(0.0, 1.0)  # bicubic overshoots; CLIP's PIL path clips to uint8
    mean = torch.tensor(info.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(info.std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def _autocast(device: torch.device, fp16: bool | None) -> contextlib.AbstractContextManager:
    use = (device.type == "cuda") if fp16 is None else fp16
    if use and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


@torch.inference_mode()
def encode_images(model: nn.Module, images: np.ndarray | torch.Tensor, batch_size: int = 256,
                  device: torch.device | str | None = None, fp16: bool | None = None,
                  resize_mode: Literal["squash", "shortest"] = "squash") -> np.ndarray:
    """Global CLIP embeddings of uint8 RGB images ``(N, H, W, 3)`` (numpy or torch): L2-normalised
    float32 numpy ``(N, D)``. Images (frames or crops) are preprocessed on ``device`` (default: the
    model's) in batches; ``fp16`` (default: on CUDA) autocasts the forward pass to half precision."""
    images = _as_uint8_batch(images)
    dev = torch.device(device) if device is not None else _model_device(model)
    info = clip_info(model)
    dtype = next(model.parameters()).dtype
    out = []
    for sl in _batches(len(images), batch_size):
        x = preprocess_images(images[sl], info, dev, resize_mode).to(dtype)
        with _autocast(dev, fp16):
            feats = model.encode_image(x)
        out.append(F.normalize(feats.float(), dim=-1).cpu())
    return (torch.cat(out) if out else torch.zeros(0, info.embed_dim)).numpy()


@torch.inference_mode()
def encode_patch_tokens(model: nn.Module, images: np.ndarray | torch.Tensor, batch_size: int = 256,
                        device: torch.device | str | None = None, fp16: bool | None = None,
                        normalize: bool = True, with_global: bool = False,
                        resize_mode: Literal["squash", "shortest"] = "squash"
                        ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Dense patch tokens of a ViT image tower projected into the joint space: float32 numpy
    ``(N, gh, gw, D)``, token ``[i, j]`` covering pixel rows ``i*h/gh .. (i+1)*h/gh`` of the
    (resized) image (L2-normalised per token when ``normalize``).

    open_clip's ``visual.output_tokens`` returns the patch tokens after ``ln_post`` but NOT
    multiplied by ``visual.proj`` (DESIGN §7); here each token goes through ``ln_post`` and ``proj``
    exactly as the class token does, so tokens and texts share one space. This is the cheap "dense
    patch tokens" ablation of the crop encoder (one forward pass per frame instead of one per
    window); CLIP's patch tokens are known to align with text less well than crops (MaskCLIP,
    Zhou et al. 2022). ``with_global`` also returns the frame's global embedding from the same pass
    (normalised, as :func:`encode_images`).
    """
    from open_clip.transformer import VisionTransformer

    visual = model.visual
    if (not isinstance(visual, VisionTransformer) or visual.attn_pool is not None
            or visual.pool_type == "none"):
        raise ClipError(f"patch tokens need a ViT image tower with a class token, got "
                        f"{type(visual).__name__}; use crops (encode_images) with this model")
    images = _as_uint8_batch(images)
    dev = torch.device(device) if device is not None else _model_device(model)
    info = clip_info(model)
    gh, gw = visual.grid_size
    dtype = next(model.parameters()).dtype
    tokens_out, global_out = [], []
    for sl in _batches(len(images), batch_size):
        x = preprocess_images(images[sl], info, dev, resize_mode).to(dtype)
        with _autocast(dev, fp16):
            h = visual.transformer(visual._embeds(x))
            pooled, tokens = visual._pool(h)
            if visual.final_ln_after_pool:  # open_clip then leaves tokens without ln_post
                tokens = visual.ln_post(tokens)
            tokens = tokens @ visual.proj
            pooled = pooled @ visual.proj
        tokens = tokens.float().reshape(len(x), gh, gw, -1)
        tokens_out.append((F.normalize(tokens, dim=-1) if normalize else tokens).cpu())
        global_out.append(F.normalize(pooled.float(), dim=-1).cpu())
    d = visual.output_dim
    tokens = (torch.cat(tokens_out) if tokens_out else torch.zeros(0, gh, gw, d)).numpy()
    if with_global:
        return tokens, (torch.cat(global_out) if global_out else torch.zeros(0, d)).numpy()
    return tokens


def pool_patch_tokens(tokens: np.ndarray | torch.Tensor, grid: tuple[int, int],
                      normalize: bool = True) -> np.ndarray | torch.Tensor:
    """Average patch tokens ``(N, gh, gw, D)`` over a coarser ``grid = (rows, cols)`` of windows:
    ``(N, rows, cols, D)``. Window edges follow :func:`torch.nn.functional.adaptive_avg_pool2d`
    (window i spans tokens floor(i·gh/rows) to ceil((i+1)·gh/rows)), so a grid that does not divide
    the token grid gets overlapping windows rather than dropped tokens. ``normalize`` L2-normalises
    each window's mean. Returns the input's array type."""
    as_numpy = isinstance(tokens, np.ndarray)
    tokens = torch.from_numpy(tokens) if as_numpy else tokens
    if tokens.ndim != 4:
        raise ValueError(f"tokens: expected (N, gh, gw, D), got shape {tuple(tokens.shape)}")
    rows, cols = grid
    if not (1 <= rows <= tokens.shape[1] and 1 <= cols <= tokens.shape[2]):
        raise ValueError(f"grid: expected 1 <= rows <= {tokens.shape[1]} and 1 <= cols <= "
                         f"{tokens.shape[2]}, got {grid}")
    pooled = F.adaptive_avg_pool2d(tokens.permute(0, 3, 1, 2), (rows, cols)).permute(0, 2, 3, 1)
    pooled = F.normalize(pooled, dim=-1) if normalize else pooled
    return pooled.numpy() if as_numpy else pooled


# --------------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------------

_tokenizers: dict[tuple[str, int], Callable] = {}


def tokenize(model: nn.Module, texts: Sequence[str]) -> torch.Tensor:
    """Token ids ``(N, context_length)`` for ``texts`` with the model's tokenizer (CLIP's BPE for
    CLIP configs). Texts longer than the context are truncated, keeping the end-of-text token."""
    import open_clip

    if isinstance(texts, str):
        texts = [texts]
    info = clip_info(model)
    key = (info.model, info.context_length)
    if key not in _tokenizers:
        if info.model != "unknown" and open_clip.get_model_config(info.model) is not None:
            _tokenizers[key] = open_clip.get_tokenizer(info.model, context_length=info.context_length)
        else:
            _tokenizers[key] = open_clip.SimpleTokenizer(context_length=info.context_length)
    return _tokenizers[key](list(texts))


def _require_builtin_text_tower(model: nn.Module) -> None:
    if not all(hasattr(model, a) for a in ("token_embedding", "positional_embedding", "transformer",
                                           "ln_final", "text_projection")):
        raise ClipError(f"{type(model).__name__} has no built-in CLIP text transformer (token_embedding, "
                        f"transformer, ln_final, text_projection); prompt learning needs an open_clip CLIP")


def _pool_positions(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Index of the token whose output CLIP pools (the end-of-text token for CLIP)."""
    pool = getattr(model, "text_pool_type", "argmax")
    if pool == "argmax":
        return tokens.argmax(dim=-1)
    if pool == "eos":
        return (tokens == model.text_eos_id).int().argmax(dim=-1)
    if pool == "last":
        return torch.full((len(tokens),), tokens.shape[1] - 1, dtype=torch.long, device=tokens.device)
    if pool == "first":
        return torch.zeros(len(tokens), dtype=torch.long, device=tokens.device)
    raise ClipError(f"text pool type '{pool}' is not supported")


def encode_text_embeddings(model: nn.Module, embeddings: torch.Tensor, pool_index: torch.Tensor,
                           trim: bool = True) -> torch.Tensor:
    """CLIP's text tower from token embeddings on: add positional embeddings, run the transformer
    with the model's attention mask, ``ln_final``, take the output at ``pool_index`` (the
    end-of-text position) and project. Returns unnormalised ``(N, D)``.

    ``embeddings`` ``(N, L, W)`` hold positions ``0..L-1`` (``L <= context_length``). With a causal
    mask the output at position ``p`` depends on positions ``<= p`` only, so ``trim`` cuts the
    sequence after the last pooled position: identical results, and the padding of short captions
    costs nothing. Gradients flow to ``embeddings`` (the learnable prompt contexts)."""
    _require_builtin_text_tower(model)
    n, length, _ = embeddings.shape
    if length > model.positional_embedding.shape[0]:
        raise ValueError(f"{length} tokens do not fit the text context of "
                         f"{model.positional_embedding.shape[0]}")
    mask = model.attn_mask
    if trim and mask is not None and getattr(model, "text_pool_type", "argmax") in ("argmax", "eos"):
        length = int(pool_index.max()) + 1
        embeddings = embeddings[:, :length]
    cast = model.transformer.get_cast_dtype()
    x = embeddings.to(cast) + model.positional_embedding[:length].to(cast)
    x = model.transformer(x, attn_mask=mask[:length, :length] if mask is not None else None)
    x = model.ln_final(x)
    x = x[torch.arange(n, device=x.device), pool_index]
    proj = model.text_projection
    if proj is not None:
        x = proj(x) if isinstance(proj, nn.Linear) else x @ proj
    return x


def _encode_tokens(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    if hasattr(model, "token_embedding"):
        return encode_text_embeddings(model, model.token_embedding(tokens), _pool_positions(model, tokens))
    return model.encode_text(tokens)  # towers without a token embedding (HF text models)


@torch.inference_mode()
def encode_texts(model: nn.Module, texts: Sequence[str], batch_size: int = 256,
                 device: torch.device | str | None = None, fp16: bool | None = None) -> np.ndarray:
    """CLIP text embeddings of ``texts``: L2-normalised float32 numpy ``(N, D)``."""
    dev = torch.device(device) if device is not None else _model_device(model)
    tokens = tokenize(model, texts)
    out = []
    for sl in _batches(len(tokens), batch_size):
        with _autocast(dev, fp16):
            feats = _encode_tokens(model, tokens[sl].to(dev))
        out.append(F.normalize(feats.float(), dim=-1).cpu())
    return (torch.cat(out) if out else torch.zeros(0, clip_info(model).embed_dim)).numpy()


class PromptTextEncoder(nn.Module):
    """Learnable text prompts for the A-branch (VadCLIP's prompt learner; PAPER §A-branch).

    Each class name is wrapped in learnable context vectors and fed through the FROZEN CLIP text
    transformer::

        [SOT] p_1 .. p_P  <class name tokens>  q_1 .. q_Q  [EOT] [pad ...]

    with ``P = n_prefix`` and ``Q = n_postfix`` (VadCLIP: 10 and 10). The output is taken at the
    shifted end-of-text position, as CLIP pools, and projected to the joint space; the class
    embeddings ``T_c`` are ``forward()`` ``(C, D)``. Only the context vectors are parameters: the
    CLIP model is held by reference, not registered as a submodule, so ``state_dict()`` and
    ``parameters()`` contain the contexts alone and gradients never reach CLIP. Build the CLIP on
    its device first; the contexts are created on the same device.

    ``shared_context`` (VadCLIP) uses one set of contexts for all classes; ``False`` gives every
    class its own. With ``n_prefix = n_postfix = 0`` the output equals ``model.encode_text`` of the
    class name.
    """

    def __init__(self, model: nn.Module, class_names: Sequence[str], n_prefix: int = 10,
                 n_postfix: int = 10, shared_context: bool = True, init_std: float = 0.02,
                 seed: int | None = 0):
        super().__init__()
        _require_builtin_text_tower(model)
        if n_prefix < 0 or n_postfix < 0:
            raise ValueError(f"n_prefix and n_postfix must be >= 0, got {n_prefix}, {n_postfix}")
        object.__setattr__(self, "clip", model)  # by reference: not a submodule (see class docstring)
        self.class_names = list(class_names)
        self.n_prefix, self.n_postfix = n_prefix, n_postfix
        device = _model_device(model)
        tokens = tokenize(model, self.class_names).to(device)
        eot = _pool_positions(model, tokens)
        context = tokens.shape[1]
        for name, e in zip(self.class_names, eot.tolist()):
            if e + n_prefix + n_postfix >= context:
                raise ValueError(f"class name '{name}' ({e - 1} tokens) with {n_prefix}+{n_postfix} "
                                 f"context tokens does not fit the text context of {context}")
        with torch.no_grad():
            embeddings = model.token_embedding(tokens).float()
        self.register_buffer("name_embeddings", embeddings, persistent=False)  # (C, L, W), frozen
        self.register_buffer("eot", eot, persistent=False)
        width = embeddings.shape[-1]
        n_ctx_sets = 1 if shared_context else len(self.class_names)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        self.prefix = nn.Parameter(
            (torch.randn(n_ctx_sets, n_prefix, width, generator=gen) * init_std).to(device))
        self.postfix = nn.Parameter(
            (torch.randn(n_ctx_sets, n_postfix, width, generator=gen) * init_std).to(device))

    def prompt_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Token embeddings ``(C, L, W)`` of the prompts and the end-of-text positions ``(C,)``."""
        rows = []
        length = self.name_embeddings.shape[1]
        for c in range(len(self.class_names)):
            name, e = self.name_embeddings[c], int(self.eot[c])
            k = 0 if self.prefix.shape[0] == 1 else c
            rows.append(torch.cat([name[:1], self.prefix[k], name[1:e], self.postfix[k],
                                   name[e:length - self.n_prefix - self.n_postfix]]))
        return torch.stack(rows), self.eot + self.n_prefix + self.n_postfix

    def forward(self, normalize: bool = True) -> torch.Tensor:
        """Class embeddings ``T_c``, ``(C, D)``; L2-normalised when ``normalize``."""
        embeddings, eot = self.prompt_embeddings()
        feats = encode_text_embeddings(self.clip, embeddings, eot).float()
        return F.normalize(feats, dim=-1) if normalize else feats

    def extra_repr(self) -> str:
        return (f"classes={len(self.class_names)}, n_prefix={self.n_prefix}, n_postfix={self.n_postfix}, "
                f"shared_context={self.prefix.shape[0] == 1}")


# --------------------------------------------------------------------------------------------
# Pretraining, checkpoints, zero-shot
# --------------------------------------------------------------------------------------------

def _augment(x: torch.Tensor, gen: torch.Generator, min_scale: float, hflip: bool,
             jitter: float) -> torch.Tensor:
    """Random zoom-in crop (area fraction in [min_scale, 1]), horizontal flip and brightness /
    contrast jitter on a float batch ``(B, 3, h, w)`` in [0, 1], in one grid_sample."""
    b = x.shape[0]
    side = torch.empty(b).uniform_(math.sqrt(min_scale), 1.0, generator=gen)
    tx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - side)
    ty = (torch.rand(b, generator=gen) * 2 - 1) * (1 - side)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0) if hflip else torch.ones(b)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = side * flip, tx
    theta[:, 1, 1], theta[:, 1, 2] = side, ty
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if jitter > 0:
        bright = 1 + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * jitter
        contrast = 1 + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * jitter
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * contrast.to(x.device) + mean) * bright.to(x.device)
    return x.clamp_(0, 1)


def _resize_uint8(images: torch.Tensor, info: ClipInfo, batch_size: int = 1024) -> torch.Tensor:
    """Resize a uint8 batch to the model's input size once (kept as uint8 to save memory)."""
    if tuple(images.shape[1:3]) == tuple(info.image_size):
        return images.permute(0, 3, 1, 2).contiguous()
    mode = info.interpolation if info.interpolation in ("bilinear", "bicubic") else "bilinear"
    out = []
    for sl in _batches(len(images), batch_size):
        x = images[sl].permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=info.image_size, mode=mode, antialias=True, align_corners=False)
        out.append(x.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


def pretrain(model: nn.Module, images: np.ndarray | torch.Tensor, captions: Sequence[str],
             epochs: int = 10, batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 0.1,
             warmup_frac: float = 0.05, seed: int = 0, augment: bool = True, hflip: bool = True,
             min_scale: float = 0.7, jitter: float = 0.1, device: torch.device | str | None = None,
             max_seconds: float | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Contrastive pretraining of a CLIP on captioned uint8 images ``(N, H, W, 3)`` (DESIGN §2: the
    tiny CLIP learns the SynthVAD world from captioned frames and crops of training scenes).

    Loss: ``open_clip.ClipLoss`` (symmetric InfoNCE with the learnable temperature). Captions that
    repeat inside a batch (templated captions do) need no special care: identical captions get
    identical embeddings, and the loss is then exactly the multi-positive loss that counts all of
    them as positives (the duplicated logits split the target evenly). AdamW (no weight decay on
    1-D parameters: gains, biases, the class embedding, the temperature), linear warm-up for
    ``warmup_frac`` of the steps, then cosine decay to 0; the temperature is clamped at 100 as in
    CLIP. The last incomplete batch of an epoch is dropped. Shuffling and augmentation (random
    zoom-in crop, flip, brightness/contrast jitter) draw from ``seed`` only, so a CPU run is
    reproducible for a given thread count.

    The model is trained in place and handed back frozen (eval, ``requires_grad=False``), its
    ``ClipInfo.weights`` marked ``+pretrain(seed=.., steps=..)`` until :func:`save_checkpoint` and
    ``build_clip(checkpoint=...)`` give it a file hash. Returns
    the history: ``loss`` (per step), ``epoch_loss`` (mean per epoch), ``lr`` (per step),
    ``seconds``, ``samples_per_s``, ``steps``, ``stopped_early`` (``max_seconds`` reached).
    """
    import open_clip

    images = _as_uint8_batch(images)
    if len(captions) != len(images):
        raise ValueError(f"captions: expected one per image ({len(images)}), got {len(captions)}")
    if len(images) < 2:
        raise ValueError("pretrain needs at least 2 captioned images")
    batch_size = min(batch_size, len(images))
    dev = torch.device(device) if device is not None else _model_device(model)
    info = clip_info(model)
    pixels = _resize_uint8(images, info)  # (N, 3, h, w) uint8
    tokens = tokenize(model, captions)
    mean = torch.tensor(info.mean, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(info.std, device=dev).view(1, 3, 1, 1)

    steps_per_epoch = len(images) // batch_size
    total = steps_per_epoch * epochs
    warmup = int(round(warmup_frac * total))
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "logit_scale" in name else decay).append(p)
    fused = {"fused": True} if dev.type in ("cpu", "cuda") else {}
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr, **fused)
    clip_loss = open_clip.ClipLoss()
    gen = torch.Generator().manual_seed(seed)
    history: dict[str, Any] = {"loss": [], "epoch_loss": [], "lr": [], "steps": 0, "stopped_early": False}

    model.requires_grad_(True)
    model.train()
    start = time.perf_counter()
    step = 0
    progress.report(f"CLIP pretraining ({epochs} epochs), steps", 0, total)
    try:
        for epoch in range(epochs):
            order = torch.randperm(len(images), generator=gen)
            epoch_losses = []
            for b in range(steps_per_epoch):
                idx = order[b * batch_size:(b + 1) * batch_size]
                lr_now = lr * (step + 1) / warmup if step < warmup else \
                    0.5 * lr * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
                for group in optimizer.param_groups:
                    group["lr"] = lr_now
                x = pixels[idx].to(dev).float().div_(255.0)
                if augment:
                    x = _augment(x, gen, min_scale, hflip, jitter)
                x = (x - mean) / std
                img = F.normalize(model.encode_image(x), dim=-1)
                txt = F.normalize(_encode_tokens(model, tokens[idx].to(dev)), dim=-1)
                value = clip_loss(img, txt, model.logit_scale.exp())
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                optimizer.step()
                with torch.no_grad():
                    model.logit_scale.clamp_(0, math.log(100))
                history["loss"].append(value.item())
                history["lr"].append(lr_now)
                epoch_losses.append(history["loss"][-1])
                step += 1
                progress.report(f"CLIP pretraining ({epochs} epochs), steps", step, total)
                if max_seconds is not None and time.perf_counter() - start > max_seconds:
                    history["stopped_early"] = True
                    break
            history["epoch_loss"].append(float(np.mean(epoch_losses)) if epoch_losses else float("nan"))
            if log is not None:
                log(f"epoch {epoch + 1}/{epochs}: loss {history['epoch_loss'][-1]:.4f} "
                    f"({time.perf_counter() - start:.1f} s)")
            if history["stopped_early"]:
                break
    finally:
        model.eval().requires_grad_(False)
    history["seconds"] = time.perf_counter() - start
    history["steps"] = step
    if step and getattr(model, "stprompt_info", None) is not None:
        model.stprompt_info = dataclasses.replace(
            info, weights=f"{info.weights}+pretrain(seed={seed}, steps={step})")
    history["samples_per_s"] = step * batch_size / max(history["seconds"], 1e-9)
    return history


def _plain(obj: Any) -> Any:
    return obj.tolist() if hasattr(obj, "tolist") else str(obj)


def save_checkpoint(model: nn.Module, path: str | os.PathLike, model_name: str | None = None,
                    meta: dict | None = None) -> Path:
    """Write a CLIP's weights atomically to ``path`` (relative to the repository root), with its
    model name and open_clip config so that ``build_clip(checkpoint=path)`` (``model`` may then be
    omitted) rebuilds it and refuses a changed config. ``meta`` (plain data: numbers, strings, lists,
    dicts; e.g. the pretraining history and the caption data hash) is stored alongside."""
    info = getattr(model, "stprompt_info", None)
    name = model_name or (info.model if info is not None else None)
    if not name:
        raise ValueError("model_name is required for a model not built by stprompt.vlm.build_clip")
    cfg = copy.deepcopy(model_config(name))
    if info is not None and info.quick_gelu:
        cfg["quick_gelu"] = True
    payload = {
        "format": CHECKPOINT_FORMAT, "model_name": name, "model_config": cfg,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "stprompt_version": __version__,
        # plain JSON data only, so that the file loads with torch.load(weights_only=True)
        "meta": json.loads(json.dumps(meta or {}, default=_plain)),
    }
    target = resolve(path)
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    return target


@torch.inference_mode()
def zero_shot_classify(model: nn.Module, images: np.ndarray | torch.Tensor,
                       class_texts: Sequence[str | Sequence[str]], batch_size: int = 256,
                       temperature: float | None = None,
                       device: torch.device | str | None = None) -> np.ndarray:
    """Zero-shot class probabilities (float32 numpy ``(N, C)``) of images against class
    descriptions: softmax over ``cos(image, text_c) / temperature`` (default: the model's learnt
    ``1 / logit_scale``). A class given as several texts uses the normalised mean of their
    embeddings (CLIP's prompt ensembling)."""
    groups = [[t] if isinstance(t, str) else list(t) for t in class_texts]
    flat = [t for g in groups for t in g]
    text = torch.from_numpy(encode_texts(model, flat, device=device))
    classes, start = [], 0
    for g in groups:
        classes.append(F.normalize(text[start:start + len(g)].mean(0), dim=-1))
        start += len(g)
    image = torch.from_numpy(encode_images(model, images, batch_size=batch_size, device=device))
    scale = 1.0 / temperature if temperature is not None else float(model.logit_scale.exp())
    return torch.softmax(scale * image @ torch.stack(classes).T, dim=-1).numpy()

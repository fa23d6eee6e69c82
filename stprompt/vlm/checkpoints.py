"""Recognising, reading and writing CLIP weight files (open_clip's ``pretrained.py`` and
``factory.load_checkpoint``): an OpenAI TorchScript archive, a ``torch.save`` zip holding a plain
state_dict or an open_clip training checkpoint, ``.safetensors``, the file of a pretrained tag in the
local cache (found without network under ``HF_HUB_OFFLINE=1``), and this project's own format
(:func:`save_checkpoint`, ``CHECKPOINT_FORMAT``). Every route ends in :func:`_load_weights`, which
checks every key and shape and names the first mismatches.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..io import atomic_write, resolve
from .spec import ClipError, _resolve_model_name, model_config
CHECKPOINT_FORMAT = "stprompt-clip/1"

# OpenAI TorchScript archives and some exporters carry these next to the weights.
_NON_WEIGHT_KEYS = ("input_resolution", "context_length", "vocab_size", "attn_mask")


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


def _config_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += _config_differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            diffs.append(f"{prefix}{key}: {va!r} vs {vb!r}")
    return diffs


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
    name = _resolve_model_name(name)  # a config .json path is stored as the name it registers under
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
    # through an open file: the zip's inner folder is then always "archive/", not the random
    # temporary file's name, so the same weights give the same bytes (and the same file hash)
    with atomic_write(target) as fh:
        torch.save(payload, fh)
    return target

"""Building the frozen CLIP from a name / tag, a config or a checkpoint: :func:`build_clip`, the one
factory (open_clip's ``factory.create_model`` with the weights loaded by :mod:`.checkpoints`), and
:func:`clip_info`, what a built model expects. See :mod:`stprompt.vlm` for the weight sources.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator

import torch
from torch import nn

from ..io import file_hash
from .checkpoints import _config_differences, _load_weights, _pretrained_file, _read_checkpoint
from .spec import (ClipError, ClipInfo, ClipSpec, _as_spec, _resolve_model_name, model_config,
                   register_model_configs, register_stored_config)


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
        if ckpt.model_config is not None:
            register_stored_config(name, ckpt.model_config)
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

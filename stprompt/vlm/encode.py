"""Encoding with the frozen CLIP (PAPER: the image encoder of both streams, the text encoder of the
queries): images and crops (:func:`encode_images`), dense patch tokens (:func:`encode_patch_tokens`,
:func:`pool_patch_tokens`), texts (:func:`tokenize`, :func:`encode_texts`, and
:func:`encode_text_embeddings` for token embeddings a prompt learner made). Batches in torch: uint8
``(N, H, W, 3)`` in, L2-normalised float32 numpy ``(N, D)`` out, fp16 autocast on CUDA, never a loop
over images in PIL.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .build import _model_device, clip_info
from .spec import ClipError, ClipInfo


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

"""Contrastive pretraining of the tiny in-project CLIP on captioned images (CLIP's symmetric
InfoNCE, ``open_clip.ClipLoss``; DESIGN §2: it learns the SynthVAD world from captioned frames and
crops of training scenes), and :func:`zero_shot_classify`, the check of what it learnt.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import progress
from .build import _model_device, clip_info
from .encode import _as_uint8_batch, _batches, _encode_tokens, encode_images, encode_texts, tokenize
from .spec import ClipInfo


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

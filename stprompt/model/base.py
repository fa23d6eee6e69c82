"""What every method shares: the padded :class:`Batch` it reads, the :class:`ModelOutput` it
returns, and the :class:`VADModel` interface that ``stprompt.train`` drives.

Videos of different lengths share a batch by padding at the end; ``Batch.mask`` marks the real
snippets. Every module respects the mask (softmaxes, top-k, means, graphs), so a video's outputs on
its valid part do not depend on the other videos of its batch; padded positions of
``ModelOutput.scores`` are 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor, nn


@dataclasses.dataclass
class Batch:
    """A padded batch of B videos of at most T snippets (built by ``stprompt.train``'s collate).
    All tensors sit on one device."""

    frame: Tensor  # (B, T, D) float32 frame features X_f, zeros where padded
    patch: Tensor | None  # (B, T, G, D) float32 window features X_p, or None without windows
    motion: Tensor | None  # (B, T, G) float32 motion prior M, or None
    mask: Tensor  # (B, T) bool, True on real snippets (a prefix of each row)
    label: Tensor  # (B,) float32 video label, 1 = anomalous
    class_idx: Tensor  # (B,) long, 0 = normal, 1..C = index into class_names
    frame_labels: Tensor | None = None  # (B, T) float32 snippet labels; only the oracle reads them

    def to(self, device: torch.device | str) -> "Batch":
        moved = {f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                 if isinstance(getattr(self, f.name), Tensor)}
        return dataclasses.replace(self, **moved)


@dataclasses.dataclass
class ModelOutput:
    """What a forward pass returns."""

    scores: Tensor  # (B, T) anomaly score in [0, 1] of the scoring branch; 0 where padded
    logits: Tensor | None  # (B, T) C-branch logits before the sigmoid, or None
    sim: Tensor | None  # (B, T, 1+C) A-branch logits cos(X_t, T_c) / tau, or None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)  # diagnostics (see each model)


def check_batch(batch: Batch, feature_dim: int | None = None) -> None:
    """Validate a batch at the model's boundary; the message says what was expected and what came."""
    if batch.frame.dim() != 3:
        raise ValueError(f"Batch.frame must be (B, T, D), got shape {tuple(batch.frame.shape)}")
    b, t, d = batch.frame.shape
    if feature_dim is not None and d != feature_dim:
        raise ValueError(f"Batch.frame has feature dim {d}, the model was built for {feature_dim}")
    if tuple(batch.mask.shape) != (b, t) or batch.mask.dtype != torch.bool:
        raise ValueError(f"Batch.mask must be bool (B, T) = ({b}, {t}), got {batch.mask.dtype} "
                         f"{tuple(batch.mask.shape)}")
    if not bool(batch.mask.any(1).all()):
        empty = (~batch.mask.any(1)).nonzero().flatten().tolist()
        raise ValueError(f"videos {empty} of the batch have no valid snippet")
    if batch.patch is not None and (batch.patch.dim() != 4 or tuple(batch.patch.shape[:2]) != (b, t)
                                    or batch.patch.shape[3] != d):
        raise ValueError(f"Batch.patch must be (B, T, G, D) = ({b}, {t}, G, {d}), got "
                         f"{tuple(batch.patch.shape)}")
    if batch.motion is not None:
        g = batch.patch.shape[2] if batch.patch is not None else batch.motion.shape[-1]
        if tuple(batch.motion.shape) != (b, t, g):
            raise ValueError(f"Batch.motion must be (B, T, G) = ({b}, {t}, {g}), got "
                             f"{tuple(batch.motion.shape)}")
    for name in ("label", "class_idx"):
        if tuple(getattr(batch, name).shape) != (b,):
            raise ValueError(f"Batch.{name} must be (B,) = ({b},), got {tuple(getattr(batch, name).shape)}")


class VADModel(nn.Module):
    """Base class of every method: ``forward(batch) -> ModelOutput`` and
    ``loss(batch, out) -> (total, {name: value})``.

    ``requires_training`` is False for methods with nothing to learn (zero-shot);
    ``uses_frame_labels`` is True only for the frame-supervised oracle (train.py gives
    ``Batch.frame_labels`` to it alone).
    """

    requires_training: bool = True
    uses_frame_labels: bool = False

    def context_snippets(self) -> int | None:
        """How many snippets on each side of a snippet its evaluation-time score depends on, or
        None when it may depend on the whole video. Scoring a long video in chunks, each padded
        with this much of the video on both sides, then gives the scores of one pass
        (:func:`stprompt.train.predict`). The default, None, is always safe (one pass)."""
        return None

    def forward(self, batch: Batch) -> ModelOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[Tensor, dict[str, float]]:  # pragma: no cover
        raise NotImplementedError


def masked_scores(scores: Tensor, mask: Tensor) -> Tensor:
    """Scores with padded positions set to 0 (what ``ModelOutput.scores`` promises)."""
    return scores.masked_fill(~mask, 0.0)


def class_text(name: str, overrides: dict[str, str] | None = None) -> str:
    """The text a prompt uses for a class: an explicit override, else the name with underscores
    read as spaces ("road_accident" -> "road accident")."""
    if overrides and name in overrides:
        return overrides[name]
    return name.replace("_", " ")

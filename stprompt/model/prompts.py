"""Class text embeddings ``T_c`` (c = 0..C, 0 = normal) for the A-branch and the zero-shot baseline.

- :class:`LearnablePrompts` (``prompt: learnable``; PAPER temporal stream 5): VadCLIP's prompt
  learner, ``[SOT] p_1..p_P <class text> q_1..q_Q [EOT]`` with learnable context vectors, through the
  frozen CLIP text transformer (:class:`stprompt.vlm.PromptTextEncoder`). Only the contexts learn.
- :class:`FixedTextPrompts` (``prompt: handwritten`` and the zero-shot baseline): fixed texts
  encoded once by the frozen text tower, held as a buffer; nothing to learn.

Both return L2-normalised ``(1+C, D_clip)`` embeddings from ``forward()``. The class text of a
name is :func:`stprompt.model.base.class_text` (``ModelConfig.class_texts`` overrides, else the name
with underscores as spaces).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .. import vlm
from .base import class_text
from .config import ModelConfig


class LearnablePrompts(nn.Module):
    """Learnable context prompts around each class text (VadCLIP: 10 prefix + 10 postfix tokens).
    CLIP is held by reference inside :class:`stprompt.vlm.PromptTextEncoder`, so gradients and
    ``state_dict()`` reach the context vectors only."""

    def __init__(self, clip_model: nn.Module, texts: Sequence[str], n_prefix: int = 10,
                 n_postfix: int = 10, shared_context: bool = True):
        super().__init__()
        self.encoder = vlm.PromptTextEncoder(clip_model, list(texts), n_prefix=n_prefix,
                                             n_postfix=n_postfix, shared_context=shared_context)

    def forward(self) -> Tensor:
        return self.encoder(normalize=True)


class FixedTextPrompts(nn.Module):
    """Fixed texts through the frozen CLIP text encoder, computed once (a buffer, no parameters)."""

    def __init__(self, clip_model: nn.Module, texts: Sequence[str]):
        super().__init__()
        self.texts = list(texts)
        self.register_buffer("embeddings", torch.from_numpy(vlm.encode_texts(clip_model, self.texts)))

    def forward(self) -> Tensor:
        return self.embeddings


def prompt_texts(cfg: ModelConfig, class_names: Sequence[str]) -> list[str]:
    """The class texts of the A-branch: the class text itself (learnable prompts wrap it in
    contexts) or ``handwritten_template`` around it ("a video of fire")."""
    texts = [class_text(n, cfg.class_texts) for n in class_names]
    if cfg.prompt == "handwritten":
        return [cfg.handwritten_template.format(t) for t in texts]
    return texts


def zeroshot_texts(cfg: ModelConfig, class_names: Sequence[str]) -> list[str]:
    """Texts of the zero-shot baseline: ``zeroshot_normal_text`` for class 0, then
    ``zeroshot_template`` around each anomaly class text ("a scene with road accident")."""
    return [cfg.zeroshot_normal_text] + [cfg.zeroshot_template.format(class_text(n, cfg.class_texts))
                                         for n in class_names[1:]]


def build_text_prompts(cfg: ModelConfig, clip_model: nn.Module | None, class_names: Sequence[str]) -> nn.Module:
    """The A-branch's text side for ``cfg.prompt``."""
    if clip_model is None:
        raise ValueError(f"method '{cfg.method}' with an A-branch needs the frozen CLIP (clip_model) for "
                         f"its text prompts; pass the model from stprompt.vlm.build_clip, or use branches: c")
    texts = prompt_texts(cfg, class_names)
    if cfg.prompt == "learnable":
        return LearnablePrompts(clip_model, texts, cfg.n_prefix, cfg.n_postfix, cfg.shared_context)
    return FixedTextPrompts(clip_model, texts)

"""STPrompt's temporal stream (PAPER temporal stream 1-6), composed from its blocks::

    X      = SA2(X_f, X_p, M)                  X_f + weighted top-K windows      (sa2.py)
    X      = TemporalAdapter(X)                attention from |i - j| only       (temporal.py)
    C:  logit_t = CBranch(X_t),  s_t = sigmoid(logit_t)
    A:  sim[t, c] = cos(W_a X_t, T_c) / tau    T_c from the text prompts         (prompts.py)
    L      = L_bce(logit) + lambda_align L_align(sim) [+ lambda_sep L_sep(T)]    (stprompt.losses)

The two branches share X but are NOT coupled: the text embeddings do not see the video (unlike
VadCLIP's visual prompt, :mod:`stprompt.model.baselines`). Test-time score: ``s_t`` (``scoring:
c``) or ``1 - softmax_c(sim[t])[normal]`` (``scoring: a``).

:class:`FrameSupervisedOracle` is the same network with the C-branch only, trained on frame labels:
an upper bound, not a weakly supervised method.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import losses, vlm
from .base import Batch, ModelOutput, VADModel, check_batch, masked_scores
from .config import ModelConfig
from .prompts import build_text_prompts
from .sa2 import SA2
from .temporal import FeedForward, build_temporal_adapter


class CBranch(nn.Module):
    """Classification branch (VadCLIP's head): ``logit_t = w^T (X_t + MLP(X_t)) + b``; the frame
    score is ``sigmoid(logit_t)``. Returns logits ``(B, T)``."""

    def __init__(self, dim: int, hidden: int | None = None, dropout: float = 0.1):
        super().__init__()
        self.mlp = FeedForward(dim, hidden or 4 * dim, dropout)
        self.head = nn.Linear(dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(x + self.mlp(x)).squeeze(-1)


def alignment_logits(x: Tensor, text: Tensor, tau: float) -> Tensor:
    """``sim[b, t, c] = cos(x[b, t], text_c) / tau``; ``text`` ``(C, D)`` (shared) or ``(B, C, D)``
    (per video). Returns ``(B, T, C)``."""
    xn = F.normalize(x, dim=-1)
    tn = F.normalize(text, dim=-1)
    if tn.dim() == 2:
        return xn @ tn.t() / tau
    return xn @ tn.transpose(1, 2) / tau


class ABranch(nn.Module):
    """Alignment branch: ``sim[t, c] = cos(W_a X_t, T_c) / tau`` with ``T_c`` from the text prompts
    (1+C classes, 0 = normal). ``W_a`` is the identity when the feature width equals CLIP's joint
    width (CLIP features), else a learnt linear projection. Returns ``(sim, T)``."""

    def __init__(self, text: nn.Module, dim: int, embed_dim: int, tau: float = 0.07):
        super().__init__()
        self.text = text
        self.project = nn.Identity() if dim == embed_dim else nn.Linear(dim, embed_dim)
        self.tau = tau

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        text = self.text()
        return alignment_logits(self.project(x), text, self.tau), text


def anomaly_score_from_alignment(sim: Tensor) -> Tensor:
    """A-branch frame score ``1 - softmax_c(sim[t])[0]``: the probability mass off "normal"."""
    return 1.0 - torch.softmax(sim, dim=-1)[..., 0]


def branch_scores(cfg: ModelConfig, logits: Tensor | None, sim: Tensor | None, mask: Tensor) -> Tensor:
    """``ModelOutput.scores`` of the configured scoring branch, 0 on padded snippets."""
    scores = torch.sigmoid(logits) if cfg.scoring == "c" else anomaly_score_from_alignment(sim)
    return masked_scores(scores, mask)


def weak_loss(cfg: ModelConfig, batch: Batch, out: ModelOutput) -> tuple[Tensor, dict[str, float]]:
    """The weakly supervised objective of STPrompt and VadCLIP over the branches present::

        L = L_bce(logits) + lambda_align * L_align(sim) + lambda_sep * L_sep(T)

    (:func:`stprompt.losses.topk_mil_bce`, :func:`~stprompt.losses.mil_align`,
    :func:`~stprompt.losses.text_separation` on ``out.extras["text_emb"]``)."""
    total = batch.frame.new_zeros(())
    parts: dict[str, float] = {}
    if out.logits is not None:
        bce = losses.topk_mil_bce(out.logits, batch.mask, batch.label)
        total = total + bce
        parts["bce"] = float(bce.detach())
    if out.sim is not None:
        align = losses.mil_align(out.sim, batch.mask, batch.class_idx)
        total = total + cfg.lambda_align * align
        parts["align"] = float(align.detach())
        if cfg.lambda_sep > 0:
            sep = losses.text_separation(out.extras["text_emb"])
            total = total + cfg.lambda_sep * sep
            parts["sep"] = float(sep.detach())
    parts["total"] = float(total.detach())
    return total, parts


def clip_embed_dim(clip_model: nn.Module) -> int:
    return vlm.clip_info(clip_model).embed_dim


class STPrompt(VADModel):
    """STPrompt's temporal stream (module docstring).

    ``extras``: ``features`` (B, T, D) after the adapter; ``sa2_index`` and ``sa2_weights`` (with
    SA2); ``temporal_attention`` (B, T, T) of the last relative-distance block; ``text_emb``
    (1+C, D_clip) with the A-branch.
    """

    def __init__(self, cfg: ModelConfig, clip_model: nn.Module | None, class_names: Sequence[str],
                 feature_dim: int):
        super().__init__()
        self.cfg, self.class_names, self.feature_dim = cfg, list(class_names), feature_dim
        self.sa2 = (SA2(cfg.sa2_k, cfg.sa2_selection, cfg.sa2_weighting, cfg.sa2_temperature,
                        cfg.sa2_rescale, cfg.sa2_seed) if cfg.sa2 else None)
        self.adapter = build_temporal_adapter(cfg, feature_dim)
        self.c_branch = CBranch(feature_dim, cfg.c_hidden, cfg.dropout) if cfg.branches in ("both", "c") else None
        self.a_branch = None
        if cfg.branches in ("both", "a"):
            text = build_text_prompts(cfg, clip_model, self.class_names)
            self.a_branch = ABranch(text, feature_dim, clip_embed_dim(clip_model), cfg.tau)

    def encode(self, batch: Batch) -> tuple[Tensor, dict]:
        """``X`` ``(B, T, D)``: SA2 (if on) then the temporal adapter."""
        extras: dict = {}
        if self.sa2 is not None:
            x, extras = self.sa2(batch.frame, batch.patch, batch.motion, batch.mask)
        else:
            x = batch.frame * batch.mask.unsqueeze(-1).to(batch.frame.dtype)
        x, adapter_extras = self.adapter(x, batch.mask)
        extras.update(adapter_extras, features=x)
        return x, extras

    def context_snippets(self) -> int | None:
        """SA2's reach plus the temporal adapter's (None if either has none: SA2 with random
        selection keys windows by the snippet's index, the VadCLIP adapter spans the video)."""
        parts = [0 if self.sa2 is None else self.sa2.context_snippets(), self.adapter.context_snippets()]
        return None if None in parts else sum(parts)

    def forward(self, batch: Batch) -> ModelOutput:
        check_batch(batch, self.feature_dim)
        x, extras = self.encode(batch)
        logits = self.c_branch(x) if self.c_branch is not None else None
        sim = None
        if self.a_branch is not None:
            sim, extras["text_emb"] = self.a_branch(x)
        return ModelOutput(branch_scores(self.cfg, logits, sim, batch.mask), logits, sim, extras)

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[Tensor, dict[str, float]]:
        return weak_loss(self.cfg, batch, out)


class FrameSupervisedOracle(STPrompt):
    """UPPER BOUND, NOT WEAKLY SUPERVISED: STPrompt's C-branch path (SA2 + temporal adapter +
    C-branch; the A-branch is dropped whatever ``branches`` says) trained with per-snippet BCE on
    the ground-truth snippet labels ``Batch.frame_labels``::

        L = (1 / sum_b T_b) * sum_{b, t valid} BCE(sigmoid(logit_{b,t}), y_{b,t})

    It shows how much of the gap to perfect detection is due to weak supervision.
    """

    uses_frame_labels = True

    def __init__(self, cfg: ModelConfig, clip_model: nn.Module | None, class_names: Sequence[str],
                 feature_dim: int):
        super().__init__(dataclasses.replace(cfg, branches="c", scoring="c"), clip_model, class_names,
                         feature_dim)

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[Tensor, dict[str, float]]:
        if batch.frame_labels is None:
            raise ValueError("the oracle trains on snippet labels: Batch.frame_labels is None "
                             "(train.py passes them when model.uses_frame_labels)")
        loss = losses.snippet_bce(out.logits, batch.mask, batch.frame_labels)
        value = float(loss.detach())
        return loss, {"snippet_bce": value, "total": value}

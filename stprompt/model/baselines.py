"""Baselines on the same features and the same :class:`~stprompt.model.base.VADModel` interface.

- :class:`SultaniMIL` (``method: mil``): Sultani et al., CVPR 2018. An MLP scores each frame
  feature; trained with the MIL ranking loss + smoothness + sparsity.
- :class:`VadCLIP` (``method: vadclip``): Wu et al., AAAI 2024. Frame features only (no SA2, no
  windows); local transformer + GCN adapter; C-branch; A-branch COUPLED to the C-branch through the
  visual prompt.
- :class:`ZeroShotCLIP` (``method: zeroshot``): no training; frame features against hand-written
  texts through the frozen CLIP text encoder.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import losses
from .base import Batch, ModelOutput, VADModel, check_batch, masked_scores
from .config import ModelConfig
from .prompts import FixedTextPrompts, build_text_prompts, zeroshot_texts
from .stprompt import (CBranch, alignment_logits, anomaly_score_from_alignment, branch_scores,
                       clip_embed_dim, weak_loss)
from .temporal import FeedForward, VadCLIPAdapter


class SultaniMIL(VADModel):
    """Sultani et al.'s MLP on frame features, ``D -> 512 -> 32 -> 1`` (ReLU after the first layer,
    dropout 0.6 after each hidden layer, sigmoid output), trained with
    :func:`stprompt.losses.mil_ranking` over every (anomalous, normal) pair of the batch::

        L = mean_{a,n} max(0, 1 - max_t s^a_t + max_t s^n_t)
            + lambda_1 * sum_t (s^a_t - s^a_{t+1})^2 + lambda_2 * sum_t s^a_t

    Sultani et al. pool each video into 32 segments; here the snippets are the instances. Weight
    decay (Sultani et al.: 1e-3) is the optimiser's business.
    """

    def __init__(self, cfg: ModelConfig, clip_model: nn.Module | None, class_names: Sequence[str],
                 feature_dim: int):
        super().__init__()
        self.cfg, self.feature_dim = cfg, feature_dim
        h1, h2 = cfg.mil_hidden
        self.mlp = nn.Sequential(nn.Linear(feature_dim, h1), nn.ReLU(), nn.Dropout(cfg.mil_dropout),
                                 nn.Linear(h1, h2), nn.Dropout(cfg.mil_dropout), nn.Linear(h2, 1))

    def context_snippets(self) -> int:
        return 0  # each snippet is scored alone

    def forward(self, batch: Batch) -> ModelOutput:
        check_batch(batch, self.feature_dim)
        logits = self.mlp(batch.frame).squeeze(-1)
        return ModelOutput(masked_scores(torch.sigmoid(logits), batch.mask), logits, None, {})

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[Tensor, dict[str, float]]:
        abn, norm = batch.label > 0.5, batch.label <= 0.5
        s, m = out.scores, batch.mask
        cfg = self.cfg
        total = losses.mil_ranking(s[abn], m[abn], s[norm], m[norm], cfg.mil_margin,
                                   cfg.mil_lambda_smooth, cfg.mil_lambda_sparse)
        parts = {"total": float(total.detach())}
        with torch.no_grad():
            if abn.any():
                parts["smooth"] = float(losses.smoothness(s[abn], m[abn]))
                parts["sparse"] = float(losses.sparsity(s[abn], m[abn]))
                if norm.any():
                    parts["rank"] = float(losses.ranking_hinge(s[abn], m[abn], s[norm], m[norm], cfg.mil_margin))
        return total, parts


class VisualPrompt(nn.Module):
    """VadCLIP's visual prompt, which couples the A-branch to the C-branch::

        v_b   = normalize( sum_{t valid} s_{b,t} X_{b,t} )          s = C-branch scores
        T'_bc = T_c + v_b
        T''_bc = T'_bc + FFN(T'_bc)                                  FFN = Linear(E, 4E) -> GELU -> Linear

    Our version weights by the sigmoid scores ``s`` over the valid snippets; VadCLIP multiplies by
    the raw logits (which may be negative and flip ``v``) over the padded length. Gradients flow
    through ``s`` into the C-branch, as in VadCLIP. Returns per-video text ``(B, 1+C, E)``.
    """

    def __init__(self, embed_dim: int):
        super().__init__()
        self.ffn = FeedForward(embed_dim, 4 * embed_dim)

    def forward(self, text: Tensor, x: Tensor, scores: Tensor) -> Tensor:
        v = F.normalize((scores.unsqueeze(-1) * x).sum(1), dim=-1)  # (B, E)
        t = text.unsqueeze(0) + v.unsqueeze(1)
        return t + self.ffn(t)


class VadCLIP(VADModel):
    """VadCLIP (Wu et al., AAAI 2024) on frame features::

        X     = VadCLIPAdapter(X_f)              local transformer + similarity/distance GCN
        logit = CBranch(X),  s = sigmoid(logit)
        T''   = VisualPrompt(T, X, s)            T from the text prompts (learnable by default)
        sim   = cos(X_t, T''_c) / tau
        L     = L_bce + lambda_align L_align + lambda_sep L_sep     (VadCLIP: 1, 1, 0.1)

    The SA2 and temporal fields of the config are ignored (``adapter_layers`` and the
    ``vadclip_*`` fields shape the adapter). Its similarity graph and visual prompt span the whole
    video, so it is always evaluated in one pass (``context_snippets`` is None). ``extras``: ``features``, ``text_emb`` (the prompts
    before the visual prompt, as VadCLIP's separation term uses), ``video_text_emb`` (B, 1+C, E).
    """

    def __init__(self, cfg: ModelConfig, clip_model: nn.Module | None, class_names: Sequence[str],
                 feature_dim: int):
        super().__init__()
        if cfg.branches != "both":
            raise ValueError("the VadCLIP baseline couples its two branches: branches must be 'both'")
        self.cfg, self.feature_dim = cfg, feature_dim
        self.adapter = VadCLIPAdapter(feature_dim, cfg.adapter_layers, cfg.vadclip_heads, cfg.vadclip_window,
                                      cfg.vadclip_max_len, cfg.vadclip_sim_threshold)
        self.c_branch = CBranch(feature_dim, cfg.c_hidden, cfg.dropout)
        self.text = build_text_prompts(cfg, clip_model, class_names)
        embed_dim = clip_embed_dim(clip_model)
        self.project = nn.Identity() if feature_dim == embed_dim else nn.Linear(feature_dim, embed_dim)
        self.visual_prompt = VisualPrompt(embed_dim)

    def forward(self, batch: Batch) -> ModelOutput:
        check_batch(batch, self.feature_dim)
        x = batch.frame * batch.mask.unsqueeze(-1).to(batch.frame.dtype)
        x, _ = self.adapter(x, batch.mask)
        logits = self.c_branch(x)
        xa = self.project(x)
        text = self.text()
        video_text = self.visual_prompt(text, xa, masked_scores(torch.sigmoid(logits), batch.mask))
        sim = alignment_logits(xa, video_text, self.cfg.tau)
        extras = {"features": x, "text_emb": text, "video_text_emb": video_text}
        return ModelOutput(branch_scores(self.cfg, logits, sim, batch.mask), logits, sim, extras)

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[Tensor, dict[str, float]]:
        return weak_loss(self.cfg, batch, out)


class ZeroShotCLIP(VADModel):
    """Zero-shot CLIP, no training::

        sim[t, c] = cos(X_f[t], E(text_c)) / tau,   score_t = 1 - softmax_c(sim[t])[normal]

    texts: ``zeroshot_normal_text`` ("a normal scene") for class 0 and ``zeroshot_template`` around
    each anomaly class text, encoded once by the frozen CLIP text encoder. No parameters.
    """

    requires_training = False

    def __init__(self, cfg: ModelConfig, clip_model: nn.Module | None, class_names: Sequence[str],
                 feature_dim: int):
        super().__init__()
        if clip_model is None:
            raise ValueError("the zero-shot baseline needs the frozen CLIP (clip_model) for its texts")
        embed_dim = clip_embed_dim(clip_model)
        if feature_dim != embed_dim:
            raise ValueError(f"zero-shot needs CLIP image features of the text tower's width {embed_dim}, "
                             f"got feature_dim {feature_dim}")
        self.cfg, self.feature_dim = cfg, feature_dim
        self.text = FixedTextPrompts(clip_model, zeroshot_texts(cfg, class_names))

    def context_snippets(self) -> int:
        return 0  # each snippet is scored alone

    def forward(self, batch: Batch) -> ModelOutput:
        check_batch(batch, self.feature_dim)
        sim = alignment_logits(batch.frame, self.text(), self.cfg.tau)
        scores = masked_scores(anomaly_score_from_alignment(sim), batch.mask)
        return ModelOutput(scores, None, sim, {"texts": self.text.texts})

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[Tensor, dict[str, float]]:
        """Nothing to train: a constant 0 (``requires_training`` is False)."""
        return batch.frame.new_zeros(()), {"total": 0.0}

"""The training losses of STPrompt and its baselines, one function per equation.

All take padded batches with a bool ``mask`` ``(B, T)`` (True on real snippets) and never look at
padded positions. The top-k rule of VadCLIP, used by both STPrompt branches: a video of ``T_b``
valid snippets pools its ``k_b = floor(T_b / 16) + 1`` highest snippets (:func:`topk_count`).

- :func:`topk_mil_bce` — C-branch: BCE between the mean of the top-k sigmoid scores and the label.
- :func:`mil_align` — A-branch (VadCLIP's MIL-Align): per class the mean of the top-k similarity
  logits, cross-entropy over classes.
- :func:`text_separation` — VadCLIP's optional term pushing the normal text away from the others.
- :func:`mil_ranking` — Sultani et al.'s ranking hinge + smoothness + sparsity (MIL baseline).
- :func:`snippet_bce` — per-snippet BCE on frame labels (the frame-supervised oracle only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["topk_count", "masked_topk_mean", "topk_mil_bce", "video_class_logits", "mil_align",
           "text_separation", "ranking_hinge", "smoothness", "sparsity", "mil_ranking", "snippet_bce"]


def topk_count(mask: Tensor) -> Tensor:
    """``k_b = floor(T_b / 16) + 1`` per video, ``T_b`` its number of valid snippets (VadCLIP's
    ``int(length / 16 + 1)``); ``(B,)`` long. E.g. T_b = 15 -> 1, 16 -> 2, 40 -> 3."""
    return torch.div(mask.sum(1), 16, rounding_mode="floor") + 1


def masked_topk_mean(x: Tensor, mask: Tensor, k: Tensor | None = None) -> Tensor:
    """Mean over time of the ``k_b`` largest valid values of each video.

    ``x`` ``(B, T)`` or ``(B, T, C)`` (then per channel), ``mask`` ``(B, T)``, ``k`` ``(B,)``
    (default :func:`topk_count`). Returns ``(B,)`` or ``(B, C)``. Gradients reach the selected
    entries only, each with weight 1/k_b.
    """
    k = topk_count(mask) if k is None else k
    squeeze = x.dim() == 2
    if squeeze:
        x = x.unsqueeze(-1)
    filled = x.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    top = filled.sort(dim=1, descending=True).values  # (B, T, C)
    rank = torch.arange(x.shape[1], device=x.device).view(1, -1, 1)
    chosen = rank < k.view(-1, 1, 1)
    mean = torch.where(chosen, top, torch.zeros_like(top)).sum(1) / k.view(-1, 1).to(x.dtype)
    return mean.squeeze(-1) if squeeze else mean


def topk_mil_bce(logits: Tensor, mask: Tensor, label: Tensor) -> Tensor:
    """C-branch loss (VadCLIP's ``CLAS2``; PAPER temporal stream 5)::

        p_b  = (1 / k_b) * sum_{t in topk_b} sigmoid(logit_{b,t}),   k_b = floor(T_b / 16) + 1
        L_bce = -(1 / B) * sum_b [ y_b log p_b + (1 - y_b) log(1 - p_b) ]

    ``logits`` ``(B, T)`` pre-sigmoid, ``label`` ``(B,)`` 0/1 video labels.
    """
    video_score = masked_topk_mean(torch.sigmoid(logits), mask)
    return F.binary_cross_entropy(video_score, label.to(video_score.dtype))


def video_class_logits(sim: Tensor, mask: Tensor) -> Tensor:
    """Video-level class logits of MIL-Align: ``S_{b,c} = (1 / k_b) * sum_{t in topk_{b,c}} sim[b,t,c]``,
    the top-k taken over time separately for each class. ``(B, T, 1+C)`` -> ``(B, 1+C)``."""
    return masked_topk_mean(sim, mask)


def mil_align(sim: Tensor, mask: Tensor, class_idx: Tensor) -> Tensor:
    """A-branch loss, VadCLIP's MIL-Align (``CLASM``; PAPER temporal stream 5)::

        S_b = video_class_logits(sim_b)          # (1+C,), sim = cos(X_t, T_c) / tau
        L_align = -(1 / B) * sum_b log softmax(S_b)[c_b]

    ``c_b`` = ``class_idx`` (0 = normal). VadCLIP normalises a multi-hot label to sum 1; with one
    class per video that is this cross-entropy.
    """
    return F.cross_entropy(video_class_logits(sim, mask), class_idx.long())


def text_separation(text_emb: Tensor) -> Tensor:
    """VadCLIP's text term (``loss3`` of its ``ucf_train.py``), pushing the normal class embedding
    away from every anomaly class embedding::

        L_sep = (1 / C) * sum_{c=1..C} | cos(T_0, T_c) |

    ``text_emb`` ``(1+C, D)``, row 0 = normal. VadCLIP adds it with weight 0.1 (its ``/ 13 * 1e-1``
    for 13 UCF-Crime classes); here the weight is ``ModelConfig.lambda_sep``.
    """
    t = F.normalize(text_emb, dim=-1)
    return (t[1:] @ t[0]).abs().mean()


def ranking_hinge(scores_abn: Tensor, mask_abn: Tensor, scores_norm: Tensor, mask_norm: Tensor,
                  margin: float = 1.0) -> Tensor:
    """Sultani et al.'s MIL ranking hinge, averaged over ALL (anomalous, normal) pairs of the batch::

        L_rank = (1 / (A N)) * sum_{a, n} max(0, margin - max_t s^a_t + max_t s^n_t)

    (Sultani et al. pair one anomalous with one normal bag per term; every pair of the batch is
    used here, which is the same loss in expectation.)
    """
    max_a = scores_abn.masked_fill(~mask_abn, float("-inf")).amax(1)  # (A,)
    max_n = scores_norm.masked_fill(~mask_norm, float("-inf")).amax(1)  # (N,)
    return F.relu(margin - max_a[:, None] + max_n[None, :]).mean()


def smoothness(scores: Tensor, mask: Tensor) -> Tensor:
    """Temporal smoothness of Sultani et al., per video then averaged:
    ``(1 / B) * sum_b sum_{t: t, t+1 valid} (s_t - s_{t+1})^2``."""
    pair = mask[:, 1:] & mask[:, :-1]
    diff = (scores[:, 1:] - scores[:, :-1]).pow(2)
    return torch.where(pair, diff, torch.zeros_like(diff)).sum(1).mean()


def sparsity(scores: Tensor, mask: Tensor) -> Tensor:
    """Sparsity of Sultani et al., per video then averaged: ``(1 / B) * sum_b sum_{t valid} s_t``."""
    return torch.where(mask, scores, torch.zeros_like(scores)).sum(1).mean()


def mil_ranking(scores_abn: Tensor, mask_abn: Tensor, scores_norm: Tensor, mask_norm: Tensor,
                margin: float = 1.0, lambda_smooth: float = 8e-5, lambda_sparse: float = 8e-5) -> Tensor:
    """Sultani et al. (CVPR 2018) MIL loss of a batch holding A anomalous and N normal videos::

        L = L_rank + lambda_1 * smoothness(s^abn) + lambda_2 * sparsity(s^abn)

    with :func:`ranking_hinge` over all A x N pairs; smoothness and sparsity apply to the anomalous
    videos only, as in the paper. ``scores_*`` are sigmoid scores ``(A, T)`` and ``(N, T')``.
    Batches should hold both kinds (Sultani et al. and VadCLIP draw half of each); a term without
    videos to act on is 0 (no pair: no hinge; no anomalous video: no smoothness or sparsity).
    """
    zero = scores_abn.sum() * 0 + scores_norm.sum() * 0  # keeps the graph when a term is empty
    if len(scores_abn) == 0:
        return zero
    loss = (lambda_smooth * smoothness(scores_abn, mask_abn)
            + lambda_sparse * sparsity(scores_abn, mask_abn) + zero)
    if len(scores_norm) > 0:
        loss = loss + ranking_hinge(scores_abn, mask_abn, scores_norm, mask_norm, margin)
    return loss


def snippet_bce(logits: Tensor, mask: Tensor, frame_labels: Tensor) -> Tensor:
    """Fully supervised per-snippet BCE (the oracle's loss; NOT weakly supervised)::

        L = (1 / sum_b T_b) * sum_{b, t valid} BCE(sigmoid(logit_{b,t}), y_{b,t})
    """
    per = F.binary_cross_entropy_with_logits(logits, frame_labels.to(logits.dtype), reduction="none")
    return torch.where(mask, per, torch.zeros_like(per)).sum() / mask.sum()

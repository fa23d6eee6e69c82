"""SA2, spatial attention aggregation (PAPER temporal stream 3).

Per snippet t, rank the G windows by a prior (the motion prior M_t by default), keep the top K,
weight them and add their features to the frame feature::

    I_t   = topK_g P_{t,g}                                   (indices of the K largest priors)
    w_t   = softmax_{k in I_t}(P^_{t,k} / temperature)        ("softmax")
          | P^_{t,k} / sum_{k' in I_t} P^_{t,k'}              ("normalized"; uniform if all are 0)
    X_as_t = sum_{k in I_t} w_{t,k} X_p[t, k]
    X_t    = X_f[t] + X_as_t

with ``P^ = P / max_g P_{t,g}`` when ``rescale`` (scale-free weights) and ``P^ = P`` otherwise.
The prior ``P`` is, by ``selection``:

- ``"motion"``: the motion prior ``M`` of the feature file (paper);
- ``"feature_diff"``: ``||X_p[t+1, g] - X_p[t, g]||_2``, the change of the window's CLIP feature to
  the next snippet (the last valid snippet compares with its previous one; a one-snippet video
  gets 0), a motion prior computed in feature space;
- ``"random"``: K windows drawn at random, weighted 1/K. Training draws from torch's RNG (fresh
  every step); evaluation uses a fixed hash of (t, g, seed), so scores are reproducible and do not
  depend on the batch;
- ``"uniform"``: no selection, ``X_as_t`` = the mean of all G windows.

Padded snippets get ``X = 0`` and never feed a valid one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

SELECTIONS = ("motion", "uniform", "random", "feature_diff")
WEIGHTINGS = ("softmax", "normalized")


def feature_difference_prior(patch: Tensor, mask: Tensor) -> Tensor:
    """``(B, T, G)``: ``||X_p[t+1, g] - X_p[t, g]||_2`` for snippets with a valid successor, the
    difference to the previous snippet for the last valid one, 0 for a video of one snippet and for
    padded snippets."""
    diff = (patch[:, 1:] - patch[:, :-1]).norm(dim=-1)  # (B, T-1, G): between t and t+1
    pair = (mask[:, 1:] & mask[:, :-1]).unsqueeze(-1)
    diff = torch.where(pair, diff, torch.zeros_like(diff))
    zeros = diff.new_zeros(diff.shape[0], 1, diff.shape[2])
    to_next = torch.cat([diff, zeros], 1)  # snippet t vs t+1
    to_prev = torch.cat([zeros, diff], 1)  # snippet t vs t-1
    has_next = torch.cat([pair, pair.new_zeros(pair.shape[0], 1, 1)], 1)
    prior = torch.where(has_next, to_next, to_prev)
    return torch.where(mask.unsqueeze(-1), prior, torch.zeros_like(prior))


def hashed_keys(t: int, g: int, seed: int, device: torch.device | str = "cpu") -> Tensor:
    """Pseudo-random keys ``(t, g)`` in [0, 1) from a fixed integer hash of (row, column, seed): the
    same for a snippet whatever the length of the video or batch (evaluation-time random selection)."""
    rows = torch.arange(t, device=device, dtype=torch.int64).view(-1, 1)
    cols = torch.arange(g, device=device, dtype=torch.int64).view(1, -1)
    h = ((rows * 73856093) ^ (cols * 19349663) ^ (seed * 83492791 + 0x9E3779B9)) & 0xFFFFFFFF
    for _ in range(2):  # two rounds of an xorshift-multiply mix, kept in 32 bits
        h = ((h ^ (h >> 16)) * 0x45D9F3B) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return h.to(torch.float64).div(2 ** 32).float()


def select_windows(prior: Tensor, k: int) -> Tensor:
    """Indices ``(B, T, K)`` of the K largest priors per snippet, largest first."""
    if k > prior.shape[-1]:
        raise ValueError(f"SA2 keeps K={k} windows but the features have only G={prior.shape[-1]}; "
                         f"lower sa2_k")
    return prior.topk(k, dim=-1).indices


def window_weights(prior_kept: Tensor, weighting: str, temperature: float) -> Tensor:
    """Weights ``(B, T, K)`` of the kept windows from their (rescaled) priors (module docstring)."""
    if weighting == "softmax":
        return torch.softmax(prior_kept / temperature, dim=-1)
    if weighting == "normalized":
        total = prior_kept.sum(-1, keepdim=True)
        uniform = torch.full_like(prior_kept, 1.0 / prior_kept.shape[-1])
        return torch.where(total > 0, prior_kept / total.clamp_min(1e-12), uniform)
    raise ValueError(f"sa2_weighting must be one of {WEIGHTINGS}, got {weighting!r}")


def aggregate_windows(patch: Tensor, index: Tensor, weights: Tensor) -> Tensor:
    """``X_as[b, t] = sum_k weights[b, t, k] * patch[b, t, index[b, t, k]]`` -> ``(B, T, D)``."""
    chosen = patch.gather(2, index.unsqueeze(-1).expand(-1, -1, -1, patch.shape[-1]))  # (B, T, K, D)
    return (weights.unsqueeze(-1) * chosen).sum(2)


class SA2(nn.Module):
    """Spatial attention aggregation: ``X = X_f + sum_k w_k X_p[top-K windows]`` (module docstring).

    ``forward(frame, patch, motion, mask)`` returns ``X`` ``(B, T, D)`` and diagnostics:
    ``sa2_index`` ``(B, T, K)`` (``(B, T, G)`` for "uniform") and ``sa2_weights`` ``(B, T, G)``,
    the weight each window received (0 for windows not kept and for padded snippets).
    No parameters.
    """

    def __init__(self, k: int = 3, selection: str = "motion", weighting: str = "softmax",
                 temperature: float = 0.5, rescale: bool = True, seed: int = 0):
        super().__init__()
        if selection not in SELECTIONS:
            raise ValueError(f"sa2_selection must be one of {SELECTIONS}, got {selection!r}")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"sa2_weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        self.k, self.selection, self.weighting = k, selection, weighting
        self.temperature, self.rescale, self.seed = temperature, rescale, seed

    def prior(self, patch: Tensor, motion: Tensor | None, mask: Tensor) -> Tensor:
        """The ranking prior ``(B, T, G)`` of the configured selection (not used by "uniform")."""
        if self.selection == "motion":
            if motion is None:
                raise ValueError("SA2 with sa2_selection='motion' needs Batch.motion (the motion prior)")
            return motion
        if self.selection == "feature_diff":
            return feature_difference_prior(patch, mask)
        b, t, g = patch.shape[:3]
        if self.training:
            return torch.rand(b, t, g, device=patch.device)
        return hashed_keys(t, g, self.seed, patch.device).expand(b, t, g)

    def forward(self, frame: Tensor, patch: Tensor | None, motion: Tensor | None,
                mask: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if patch is None:
            raise ValueError("SA2 needs window features (Batch.patch); extract features with "
                             "patch_mode 'crops' or 'tokens', or set sa2: false")
        b, t, g, _ = patch.shape
        if self.selection == "uniform":
            index = torch.arange(g, device=patch.device).expand(b, t, g)
            weights = torch.full((b, t, g), 1.0 / g, device=patch.device, dtype=patch.dtype)
        else:
            prior = self.prior(patch, motion, mask).to(patch.dtype)
            index = select_windows(prior, self.k)
            if self.selection == "random":
                weights = torch.full(index.shape, 1.0 / self.k, device=patch.device, dtype=patch.dtype)
            else:
                if self.rescale:
                    prior = prior / prior.amax(-1, keepdim=True).clamp_min(1e-12)
                weights = window_weights(prior.gather(2, index), self.weighting, self.temperature)
        valid = mask.unsqueeze(-1).to(patch.dtype)
        weights = weights * valid
        x_as = aggregate_windows(patch, index, weights)
        x = (frame + x_as) * valid
        dense = torch.zeros(b, t, g, device=patch.device, dtype=patch.dtype).scatter(2, index, weights)
        return x, {"sa2_index": index, "sa2_weights": dense}

    def context_snippets(self) -> int | None:
        """Snippets on each side that a snippet's output reads: 0 (motion, uniform), 1
        (feature_diff compares with the next or previous snippet), None for random selection (its
        evaluation keys hash the snippet's index in the input, so a chunk would draw other windows)."""
        return {"motion": 0, "uniform": 0, "feature_diff": 1}.get(self.selection)

    def extra_repr(self) -> str:
        return (f"k={self.k}, selection={self.selection}, weighting={self.weighting}, "
                f"temperature={self.temperature}, rescale={self.rescale}")

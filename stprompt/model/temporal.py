"""Temporal adapters: model the relations between the snippets of a video (PAPER temporal stream 4).

- :class:`RelativeDistanceAdapter` (STPrompt): transformer-style blocks whose attention between
  snippets i and j is computed from their relative distance ``|i - j|`` alone, never from their
  features. One block, post-LayerNorm::

      A_ij = softmax_{j valid}( -kappa(|i - j|) )   kappa(d) = d^2 / (2 sigma^2)  ("gaussian")
                                                     kappa(d) = d / sigma           ("laplace")
      H    = LayerNorm(X + Dropout(A (X W_v + b_v)))
      Y    = LayerNorm(H + Dropout(FFN(H)))           FFN = Linear -> GELU -> Dropout -> Linear

  so ``A_ij = k(|i-j|) / sum_{j' valid} k(|i-j'|)`` with ``k = exp(-kappa)``: a normalised Gaussian
  (or Laplace) kernel over the valid snippets. Each block has its own sigma (learnt as log sigma
  when ``learn_sigma``). No position embedding is needed: position enters through |i - j| only.
- :class:`VadCLIPAdapter` (the VadCLIP baseline, and STPrompt's ``temporal: vadclip`` ablation):
  learnt frame position embeddings, a transformer whose self-attention is restricted to local
  windows of ``window`` snippets, then VadCLIP's two-stream GCN: a feature-similarity graph and a
  distance graph (two graph convolutions each), concatenated and projected back to D.
- :class:`IdentityAdapter` (``temporal: none``).

Every adapter maps ``(x (B, T, D), mask (B, T))`` to ``(y (B, T, D), extras)``; padded snippets
get ``y = 0`` and receive zero attention / adjacency weight, so they never feed a valid snippet.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig


#: ``exp(-x)`` is exactly 0 in float32 for ``x`` beyond this (the smallest float32, 1.4e-45, is
#: exp(-103.3)); a margin above it.
EXP_UNDERFLOW = 110.0


class FeedForward(nn.Module):
    """``Linear(D, H) -> GELU -> Dropout -> Linear(H, D)``, the MLP of every block and branch."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0, out_dim: int | None = None):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, out_dim or dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def relative_distance(t: int, device: torch.device | str | None = None) -> Tensor:
    """``|i - j|`` as a float ``(T, T)`` matrix."""
    pos = torch.arange(t, device=device, dtype=torch.float32)
    return (pos[:, None] - pos[None, :]).abs()


class RelativeDistanceAttention(nn.Module):
    """``out = A (X W_v + b_v)`` with ``A_ij = softmax_{j valid}(-kappa(|i - j|))`` (module docstring).

    ``forward(x, mask)`` returns ``(out, A)``, ``A`` ``(B, T, T)``; rows sum to 1 over the valid
    snippets and padded columns are exactly 0. ``A`` depends on T, the mask and sigma only.
    """

    def __init__(self, dim: int, kernel: str = "gaussian", sigma: float = 1.0, learn_sigma: bool = True):
        super().__init__()
        if kernel not in ("gaussian", "laplace"):
            raise ValueError(f"kernel must be 'gaussian' or 'laplace', got {kernel!r}")
        self.kernel = kernel
        log_sigma = torch.tensor(math.log(sigma))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)
        self.value = nn.Linear(dim, dim)

    @property
    def sigma(self) -> Tensor:
        return self.log_sigma.exp()

    def logits(self, t: int, device: torch.device | str | None = None) -> Tensor:
        """Attention logits ``-kappa(|i - j|)`` ``(T, T)``: symmetric and Toeplitz by construction."""
        d = relative_distance(t, device)
        if self.kernel == "gaussian":
            return -d.pow(2) / (2 * self.sigma.pow(2))
        return -d / self.sigma

    def weights(self, mask: Tensor) -> Tensor:
        """``A`` ``(B, T, T)``, softmax over the valid snippets j of each row."""
        logits = self.logits(mask.shape[1], mask.device).unsqueeze(0)
        logits = logits.masked_fill(~mask.unsqueeze(1), float("-inf"))
        return torch.softmax(logits, dim=-1)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        attn = self.weights(mask).to(x.dtype)
        return attn @ self.value(x), attn

    def reach(self) -> int:
        """The largest distance ``|i - j|`` with a nonzero weight in float32: beyond it
        ``kappa(d) > EXP_UNDERFLOW`` and ``exp(-kappa(d))`` rounds to exactly 0 (a row's largest
        logit is 0, at ``d = 0``), so the output of snippet i reads snippets within ``reach`` only."""
        sigma = float(self.sigma.detach())
        limit = sigma * math.sqrt(2 * EXP_UNDERFLOW) if self.kernel == "gaussian" else sigma * EXP_UNDERFLOW
        return int(math.floor(limit)) + 1

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, sigma={float(self.sigma):.3g}"


class RelativeDistanceBlock(nn.Module):
    """``H = LN(X + Drop(A X W_v)); Y = LN(H + Drop(FFN(H)))`` (module docstring)."""

    def __init__(self, dim: int, hidden: int, kernel: str = "gaussian", sigma: float = 1.0,
                 learn_sigma: bool = True, dropout: float = 0.1):
        super().__init__()
        self.attn = RelativeDistanceAttention(dim, kernel, sigma, learn_sigma)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, hidden, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        out, attn = self.attn(x, mask)
        h = self.norm1(x + self.drop(out))
        y = self.norm2(h + self.drop(self.ffn(h)))
        return y * mask.unsqueeze(-1).to(y.dtype), attn


class RelativeDistanceAdapter(nn.Module):
    """STPrompt's temporal adapter: ``layers`` :class:`RelativeDistanceBlock` s. Extras:
    ``temporal_attention`` ``(B, T, T)`` of the last block."""

    def __init__(self, dim: int, layers: int = 2, hidden: int | None = None, kernel: str = "gaussian",
                 sigma: float = 1.0, learn_sigma: bool = True, dropout: float = 0.1):
        super().__init__()
        self.blocks = nn.ModuleList(RelativeDistanceBlock(dim, hidden or 4 * dim, kernel, sigma,
                                                          learn_sigma, dropout) for _ in range(layers))

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        extras: dict[str, Tensor] = {}
        for block in self.blocks:
            x, extras["temporal_attention"] = block(x, mask)
        return x, extras

    def context_snippets(self) -> int:
        """Each block reads ``reach`` snippets on each side of its input, and the blocks are
        stacked: the sum of their reaches (everything else in a block is per snippet)."""
        return sum(block.attn.reach() for block in self.blocks)


class IdentityAdapter(nn.Module):
    """No temporal modelling (``temporal: none``): ``Y = X`` (padded snippets zeroed)."""

    def context_snippets(self) -> int:
        return 0

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return x * mask.unsqueeze(-1).to(x.dtype), {}


# --------------------------------------------------------------------------------------------
# VadCLIP's local transformer + GCN (Wu et al., AAAI 2024; nwpu-zxr/VadCLIP src/model.py)
# --------------------------------------------------------------------------------------------

def local_window_mask(t: int, window: int, device: torch.device | str | None = None) -> Tensor:
    """Bool ``(T, T)``: True where i and j fall in the same window ``[n W, (n+1) W)`` (VadCLIP's
    block-diagonal ``build_attention_mask``; windows start at snippet 0)."""
    block = torch.arange(t, device=device) // window
    return block[:, None] == block[None, :]


class LocalAttentionBlock(nn.Module):
    """VadCLIP's pre-LN residual attention block, attention limited to the snippet's local window
    and to valid snippets::

        X = X + MHA(LN(X))    MHA over j in window(i), j valid
        X = X + MLP(LN(X))    MLP = Linear(D, 4D) -> GELU -> Linear(4D, D)
    """

    def __init__(self, dim: int, heads: int = 1, window: int = 8):
        super().__init__()
        if dim % heads:
            raise ValueError(f"feature dim {dim} is not divisible by vadclip_heads={heads}")
        self.heads, self.window = heads, window
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, 4 * dim)

    def attention_mask(self, mask: Tensor) -> Tensor:
        """Bool ``(B, 1, T, T)``: same window and valid key; every snippet may see itself, so padded
        rows stay finite (their outputs are discarded)."""
        t = mask.shape[1]
        allowed = local_window_mask(t, self.window, mask.device).unsqueeze(0) & mask.unsqueeze(1)
        allowed = allowed | torch.eye(t, dtype=torch.bool, device=mask.device)
        return allowed.unsqueeze(1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.attention_mask(mask))
        x = x + self.proj(out.transpose(1, 2).reshape(b, t, d))
        x = x + self.mlp(self.norm2(x))
        return x * mask.unsqueeze(-1).to(x.dtype)


class GraphConvolution(nn.Module):
    """VadCLIP's GCN layer (Kipf & Welling form with a residual): ``Y = Adj (X W) + R(X)``, with
    ``R`` the identity when the widths agree and a temporal Conv1d (kernel 5) otherwise. Padded
    rows of X must be 0 (the convolution then sees the same zeros as at the video's end)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        nn.init.xavier_uniform_(self.weight)
        self.residual = (nn.Identity() if in_dim == out_dim
                         else nn.Conv1d(in_dim, out_dim, kernel_size=5, padding=2))

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        res = x if isinstance(self.residual, nn.Identity) else self.residual(x.transpose(1, 2)).transpose(1, 2)
        return adj @ (x @ self.weight) + res


def similarity_adjacency(x: Tensor, mask: Tensor, threshold: float = 0.7) -> Tensor:
    """VadCLIP's feature-similarity graph (``adj4``)::

        Adj_ij = softmax_{j valid}( thr(cos(x_i, x_j)) ),   thr(c) = c if c > threshold else 0

    computed over the valid snippets only; padded rows and columns are 0."""
    xn = F.normalize(x, dim=-1, eps=1e-20)
    cos = xn @ xn.transpose(1, 2)
    cos = F.threshold(cos, threshold, 0.0)
    cos = cos.masked_fill(~mask.unsqueeze(1), float("-inf"))
    adj = torch.softmax(cos, dim=-1)
    return adj * mask.unsqueeze(-1).to(adj.dtype)


def distance_adjacency(mask: Tensor) -> Tensor:
    """VadCLIP's distance graph (``DistanceAdj``): ``Adj_ij = exp(-|i - j| / e)`` between valid
    snippets (not normalised, as in VadCLIP), 0 for padded rows and columns."""
    t = mask.shape[1]
    adj = torch.exp(-relative_distance(t, mask.device) / math.e).unsqueeze(0)
    pair = mask.unsqueeze(1) & mask.unsqueeze(2)
    return adj * pair.to(adj.dtype)


class VadCLIPAdapter(nn.Module):
    """VadCLIP's ``encode_video``: position embeddings, local transformer, two-stream GCN::

        X  = X + E_pos[t mod max_len];  X = LocalTransformer(X)
        S1 = gelu(GC2(gelu(GC1(X, Adj_sim)), Adj_sim));  S2 = gelu(GC4(gelu(GC3(X, Adj_dis)), Adj_dis))
        Y  = Linear([S1, S2])              (GC widths D -> D/2 -> D/2; Linear D/2*2 -> D)

    Differences to VadCLIP: the graphs and attention are masked to the valid snippets (VadCLIP
    builds the distance graph over the padded length), the graphs span the whole video (VadCLIP
    evaluates long videos in chunks of 256 snippets; positions here restart every ``max_len``
    snippets like its chunks do). Extras: none.
    """

    def context_snippets(self) -> None:
        return None  # the graphs span the video; positions and windows count from its first snippet

    def __init__(self, dim: int, layers: int = 2, heads: int = 1, window: int = 8, max_len: int = 256,
                 sim_threshold: float = 0.7):
        super().__init__()
        self.max_len, self.sim_threshold = max_len, sim_threshold
        self.position = nn.Embedding(max_len, dim)
        nn.init.normal_(self.position.weight, std=0.01)
        self.blocks = nn.ModuleList(LocalAttentionBlock(dim, heads, window) for _ in range(layers))
        half = dim // 2
        self.gc1, self.gc2 = GraphConvolution(dim, half), GraphConvolution(half, half)
        self.gc3, self.gc4 = GraphConvolution(dim, half), GraphConvolution(half, half)
        self.out = nn.Linear(2 * half, dim)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        valid = mask.unsqueeze(-1).to(x.dtype)
        pos = torch.arange(x.shape[1], device=x.device) % self.max_len
        x = (x + self.position(pos)) * valid
        for block in self.blocks:
            x = block(x, mask)
        adj_sim = similarity_adjacency(x, mask, self.sim_threshold)
        adj_dis = distance_adjacency(mask).to(x.dtype)
        s1 = F.gelu(self.gc1(x, adj_sim)) * valid
        s1 = F.gelu(self.gc2(s1, adj_sim)) * valid
        s2 = F.gelu(self.gc3(x, adj_dis)) * valid
        s2 = F.gelu(self.gc4(s2, adj_dis)) * valid
        return self.out(torch.cat([s1, s2], -1)) * valid, {}


def build_temporal_adapter(cfg: ModelConfig, dim: int) -> nn.Module:
    """The adapter named by ``cfg.temporal`` for features of width ``dim``."""
    if cfg.temporal == "relative":
        return RelativeDistanceAdapter(dim, cfg.adapter_layers, cfg.adapter_hidden, cfg.kernel, cfg.sigma,
                                       cfg.learn_sigma, cfg.dropout)
    if cfg.temporal == "vadclip":
        return VadCLIPAdapter(dim, cfg.adapter_layers, cfg.vadclip_heads, cfg.vadclip_window,
                              cfg.vadclip_max_len, cfg.vadclip_sim_threshold)
    if cfg.temporal == "none":
        return IdentityAdapter()
    raise ValueError(f"temporal must be 'relative', 'vadclip' or 'none', got {cfg.temporal!r}")

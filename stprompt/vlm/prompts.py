"""The A-branch's learnable text prompt (VadCLIP's prompt learner; PAPER §A-branch):
:class:`PromptTextEncoder`, context vectors around each class name fed through the frozen CLIP text
transformer.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .build import _model_device
from .encode import _pool_positions, _require_builtin_text_tower, encode_text_embeddings, tokenize


class PromptTextEncoder(nn.Module):
    """Learnable text prompts for the A-branch (VadCLIP's prompt learner; PAPER §A-branch).

    Each class name is wrapped in learnable context vectors and fed through the FROZEN CLIP text
    transformer::

        [SOT] p_1 .. p_P  <class name tokens>  q_1 .. q_Q  [EOT] [pad ...]

    with ``P = n_prefix`` and ``Q = n_postfix`` (VadCLIP: 10 and 10). The output is taken at the
    shifted end-of-text position, as CLIP pools, and projected to the joint space; the class
    embeddings ``T_c`` are ``forward()`` ``(C, D)``. Only the context vectors are parameters: the
    CLIP model is held by reference, not registered as a submodule, so ``state_dict()`` and
    ``parameters()`` contain the contexts alone and gradients never reach CLIP. Build the CLIP on
    its device first; the contexts are created on the same device.

    ``shared_context`` (VadCLIP) uses one set of contexts for all classes; ``False`` gives every
    class its own. With ``n_prefix = n_postfix = 0`` the output equals ``model.encode_text`` of the
    class name.
    """

    def __init__(self, model: nn.Module, class_names: Sequence[str], n_prefix: int = 10,
                 n_postfix: int = 10, shared_context: bool = True, init_std: float = 0.02,
                 seed: int | None = 0):
        super().__init__()
        _require_builtin_text_tower(model)
        if n_prefix < 0 or n_postfix < 0:
            raise ValueError(f"n_prefix and n_postfix must be >= 0, got {n_prefix}, {n_postfix}")
        object.__setattr__(self, "clip", model)  # by reference: not a submodule (see class docstring)
        self.class_names = list(class_names)
        self.n_prefix, self.n_postfix = n_prefix, n_postfix
        device = _model_device(model)
        tokens = tokenize(model, self.class_names).to(device)
        eot = _pool_positions(model, tokens)
        context = tokens.shape[1]
        for name, e in zip(self.class_names, eot.tolist()):
            if e + n_prefix + n_postfix >= context:
                raise ValueError(f"class name '{name}' ({e - 1} tokens) with {n_prefix}+{n_postfix} "
                                 f"context tokens does not fit the text context of {context}")
        with torch.no_grad():
            embeddings = model.token_embedding(tokens).float()
        self.register_buffer("name_embeddings", embeddings, persistent=False)  # (C, L, W), frozen
        self.register_buffer("eot", eot, persistent=False)
        width = embeddings.shape[-1]
        n_ctx_sets = 1 if shared_context else len(self.class_names)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        self.prefix = nn.Parameter(
            (torch.randn(n_ctx_sets, n_prefix, width, generator=gen) * init_std).to(device))
        self.postfix = nn.Parameter(
            (torch.randn(n_ctx_sets, n_postfix, width, generator=gen) * init_std).to(device))

    def prompt_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Token embeddings ``(C, L, W)`` of the prompts and the end-of-text positions ``(C,)``."""
        rows = []
        length = self.name_embeddings.shape[1]
        for c in range(len(self.class_names)):
            name, e = self.name_embeddings[c], int(self.eot[c])
            k = 0 if self.prefix.shape[0] == 1 else c
            rows.append(torch.cat([name[:1], self.prefix[k], name[1:e], self.postfix[k],
                                   name[e:length - self.n_prefix - self.n_postfix]]))
        return torch.stack(rows), self.eot + self.n_prefix + self.n_postfix

    def forward(self, normalize: bool = True) -> torch.Tensor:
        """Class embeddings ``T_c``, ``(C, D)``; L2-normalised when ``normalize``."""
        embeddings, eot = self.prompt_embeddings()
        feats = encode_text_embeddings(self.clip, embeddings, eot).float()
        return F.normalize(feats, dim=-1) if normalize else feats

    def extra_repr(self) -> str:
        return (f"classes={len(self.class_names)}, n_prefix={self.n_prefix}, n_postfix={self.n_postfix}, "
                f"shared_context={self.prefix.shape[0] == 1}")

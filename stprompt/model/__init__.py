"""STPrompt's temporal stream and its baselines, behind one interface and one builder.

Blocks, one per paper component: :mod:`.sa2` (spatial attention aggregation), :mod:`.temporal`
(the relative-distance temporal adapter; VadCLIP's local transformer + GCN), :mod:`.prompts`
(class text embeddings), :mod:`.stprompt` (the C- and A-branches and the model),
:mod:`.baselines` (Sultani MIL, VadCLIP, zero-shot CLIP). Losses live in :mod:`stprompt.losses`.

Every method is a :class:`VADModel`: ``forward(Batch) -> ModelOutput`` and
``loss(Batch, ModelOutput) -> (total, parts)``; :func:`build_model` makes the one that
``ModelConfig.method`` names.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from .base import Batch, ModelOutput, VADModel, check_batch, class_text
from .baselines import SultaniMIL, VadCLIP, ZeroShotCLIP
from .config import METHODS, ModelConfig
from .stprompt import FrameSupervisedOracle, STPrompt

__all__ = ["Batch", "ModelOutput", "VADModel", "ModelConfig", "build_model", "MODELS", "check_batch",
           "class_text", "STPrompt", "FrameSupervisedOracle", "SultaniMIL", "VadCLIP", "ZeroShotCLIP"]

MODELS: dict[str, type[VADModel]] = {
    "stprompt": STPrompt,
    "vadclip": VadCLIP,
    "mil": SultaniMIL,
    "zeroshot": ZeroShotCLIP,
    "oracle": FrameSupervisedOracle,
}
assert set(MODELS) == set(METHODS)


def build_model(cfg: ModelConfig, clip_model: nn.Module | None, class_names: Sequence[str],
                feature_dim: int) -> VADModel:
    """The model ``cfg.method`` names, for features of width ``feature_dim`` and the classes
    ``class_names`` (``class_names[0] == "normal"``, then the C anomaly classes in ``class_idx``
    order). ``clip_model`` is the frozen CLIP of :func:`stprompt.vlm.build_clip`; methods with text
    (an A-branch, zero-shot) need it, MIL and C-only models accept None. CLIP is never registered
    as a submodule: ``parameters()`` and ``state_dict()`` hold the trainable part only."""
    names = list(class_names)
    if len(names) < 2 or names[0] != "normal":
        raise ValueError(f"class_names must start with 'normal' and name at least one anomaly class, "
                         f"got {names}")
    if feature_dim < 1:
        raise ValueError(f"feature_dim must be positive, got {feature_dim}")
    return MODELS[cfg.method](cfg, clip_model, names, feature_dim)

"""The model's hyper-parameters: one flat, commented block (nanoGPT style) for every method.

Fields that the paper fixes carry its value; every other field is a [choice] of this reproduction
(PAPER.md), exposed so that the ablations can change it. Build one from YAML with
``stprompt.config.from_dict(ModelConfig, mapping)``; :func:`stprompt.model.build_model` reads it.
Fields a method does not use are ignored by it (the MIL baseline ignores the prompt fields, the
zero-shot baseline everything but ``tau`` and its texts).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

METHODS = ("stprompt", "vadclip", "mil", "zeroshot", "oracle")


@dataclasses.dataclass
class ModelConfig:
    """Hyper-parameters of STPrompt and its baselines (see the module docstring)."""

    # which model: STPrompt, the VadCLIP / Sultani-MIL / zero-shot baselines, or the
    # frame-supervised upper bound (oracle = STPrompt's C-branch path trained on frame labels)
    method: Literal["stprompt", "vadclip", "mil", "zeroshot", "oracle"] = "stprompt"

    # --- SA2: spatial attention aggregation (PAPER temporal stream 3) -----------------------------
    sa2: bool = True  # add X_as to the frame features (X = X_f + X_as); False: X = X_f
    sa2_k: int = 3  # K windows kept per snippet [choice]
    # where the window ranking comes from: the motion prior (paper), none (uniform mean of all G
    # windows), K random windows, or feature differences of a window between adjacent snippets
    sa2_selection: Literal["motion", "uniform", "random", "feature_diff"] = "motion"
    # weights of the K kept windows: softmax(prior / temperature), or prior / sum(prior) [choice]
    sa2_weighting: Literal["softmax", "normalized"] = "softmax"
    sa2_temperature: float = 0.5  # softmax temperature, applied to the rescaled prior [choice]
    # divide each snippet's prior by its largest value over the G windows before weighting, so that
    # the softmax does not depend on the window size or the pixel scale of the motion prior
    sa2_rescale: bool = True
    sa2_seed: int = 0  # seed of "random" selection at evaluation (training draws from torch's RNG)

    # --- temporal adapter (PAPER temporal stream 4) -------------------------------------------------
    # "relative": attention from |i-j| only (STPrompt); "vadclip": VadCLIP's local transformer +
    # GCN; "none": identity
    temporal: Literal["relative", "none", "vadclip"] = "relative"
    adapter_layers: int = 2  # relative-distance blocks, or VadCLIP's local-transformer layers [choice]
    # attention logit of distance d = |i-j|: "gaussian" -d^2/(2 sigma^2), "laplace" -d/sigma [choice]
    kernel: Literal["gaussian", "laplace"] = "gaussian"
    sigma: float = 1.0  # kernel width in snippets (initial value when learnt) [choice]
    learn_sigma: bool = True  # learn sigma (one per block, as log sigma) [choice]
    adapter_hidden: int | None = None  # FFN width of the adapter blocks; None = 4 * feature dim
    dropout: float = 0.1  # dropout in the adapter and branch MLPs [choice]
    vadclip_window: int = 8  # VadCLIP local attention window in snippets (VadCLIP UCF: 8)
    vadclip_heads: int = 1  # VadCLIP local-transformer heads (VadCLIP: 1)
    # learnt position embeddings of VadCLIP's transformer; longer videos reuse them modulo this
    # length, as VadCLIP's chunking of test videos into 256-snippet pieces does (VadCLIP: 256)
    vadclip_max_len: int = 256
    vadclip_sim_threshold: float = 0.7  # VadCLIP's feature-similarity graph drops cosines <= this

    # --- branches (PAPER temporal stream 5-6) -------------------------------------------------------
    branches: Literal["both", "c", "a"] = "both"  # which branches are built and trained
    scoring: Literal["c", "a"] = "c"  # branch giving ModelOutput.scores (C sigmoid, or A 1 - p(normal))
    c_hidden: int | None = None  # C-branch MLP width; None = 4 * feature dim (VadCLIP's head)
    # A-branch class texts: learnable context around each class name (VadCLIP), or fixed
    # hand-written texts (handwritten_template) encoded once by the frozen text tower
    prompt: Literal["learnable", "handwritten"] = "learnable"
    n_prefix: int = 10  # learnable context tokens before the class name (VadCLIP: 10)
    n_postfix: int = 10  # learnable context tokens after the class name (VadCLIP: 10)
    shared_context: bool = True  # one context for all classes (VadCLIP); False: one per class
    handwritten_template: str = "a video of {}"  # "{}" = the class text
    # class name -> text used for it in prompts ("fire" -> "a fire on the road"); other names are
    # used as they are, underscores read as spaces
    class_texts: dict[str, str] = dataclasses.field(default_factory=dict)
    tau: float = 0.07  # temperature of sim = cos(X_t, T_c) / tau (VadCLIP: 0.07)

    # --- losses -----------------------------------------------------------------------------------
    lambda_align: float = 1.0  # weight of MIL-Align: L = L_bce + lambda_align * L_align [choice]
    lambda_sep: float = 0.0  # text separation weight (VadCLIP uses 0.1); 0 = off [choice]

    # --- Sultani et al. MIL baseline ----------------------------------------------------------------
    mil_hidden: tuple[int, int] = (512, 32)  # MLP widths D -> 512 -> 32 -> 1 (Sultani et al.)
    mil_dropout: float = 0.6  # dropout after each hidden layer (Sultani et al.)
    mil_margin: float = 1.0  # ranking hinge max(0, margin - max s_abn + max s_norm)
    mil_lambda_smooth: float = 8e-5  # lambda_1 of the temporal smoothness term (Sultani et al.)
    mil_lambda_sparse: float = 8e-5  # lambda_2 of the sparsity term (Sultani et al.)

    # --- zero-shot baseline ---------------------------------------------------------------------
    zeroshot_normal_text: str = "a normal scene"  # the text of class 0
    zeroshot_template: str = "a scene with {}"  # anomaly class c: template.format(class text)

    def __post_init__(self) -> None:
        positive = {"sa2_k": self.sa2_k, "sa2_temperature": self.sa2_temperature, "sigma": self.sigma,
                    "tau": self.tau, "vadclip_window": self.vadclip_window,
                    "vadclip_heads": self.vadclip_heads, "vadclip_max_len": self.vadclip_max_len}
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        for name in ("adapter_hidden", "c_hidden"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 or null (4 * feature dim), got {getattr(self, name)}")
        for name in ("adapter_layers", "n_prefix", "n_postfix"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.mil_dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout} and mil_dropout {self.mil_dropout}")
        if self.branches != "both" and self.scoring != self.branches:
            raise ValueError(f"scoring='{self.scoring}' needs that branch, but branches='{self.branches}'")
        for name in ("handwritten_template", "zeroshot_template"):
            if "{}" not in getattr(self, name):
                raise ValueError(f"{name} must contain '{{}}' for the class text, got {getattr(self, name)!r}")

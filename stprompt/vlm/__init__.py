"""The frozen CLIP of STPrompt (an open_clip wrapper): build it, encode images, crops, patch tokens
and texts, learn text prompts through it, and pretrain the tiny in-project CLIP.

One file per job (every name below is importable from ``stprompt.vlm``):

- :mod:`.spec`: what to build and what a built model expects (:class:`ClipSpec`, :class:`ClipInfo`,
  :class:`ClipError`, the model configs of ``stprompt/configs/``);
- :mod:`.checkpoints`: weight files recognised and read (TorchScript archive, ``torch.save`` zip,
  state_dict, ``.safetensors``, the pretrained cache) and written (:func:`save_checkpoint`);
- :mod:`.build`: :func:`build_clip`, the one factory, and :func:`clip_info`;
- :mod:`.encode`: images, crops, patch tokens and texts;
- :mod:`.prompts`: :class:`PromptTextEncoder`, the A-branch's learnable text prompt;
- :mod:`.pretraining`: contrastive pretraining (:func:`pretrain`) and :func:`zero_shot_classify`.

Building (:func:`build_clip`). One builder takes a :class:`ClipSpec` and returns the frozen model
(``eval()``, ``requires_grad=False``) and a :class:`ClipInfo` (preprocessing and the weights' id,
for feature recipes). Architectures are data: an open_clip model name (``ViT-B-16``), a config of
``stprompt/configs/`` (``tiny_clip``), or a path to a config JSON in open_clip's format. Weights
come from

- nothing (random initialisation from ``ClipSpec.seed``; the tiny CLIP before pretraining),
- ``pretrained``: an open_clip tag (``openai``). The file must be in the local cache or the
  network must be allowed; with ``HF_HUB_OFFLINE=1`` and no cached file, building fails at once
  (open_clip would otherwise spend ~47 s retrying) and says how to supply the weights,
- ``checkpoint``: a local file: a plain state_dict, an open_clip training checkpoint
  (``{"state_dict": ...}``), an OpenAI TorchScript archive (``ViT-B-16.pt``), a ``.safetensors``
  file, or the output of :func:`save_checkpoint`.

Both weight routes end in the same loader, which checks every key and shape and names the first
mismatches. OpenAI weights were trained with QuickGELU: the ``openai`` tag and TorchScript archives
switch it on by themselves; for an OpenAI state_dict saved by other tools set ``quick_gelu: true``
(or use the model ``ViT-B-16-quickgelu``).

Encoding (:func:`encode_images`, :func:`encode_patch_tokens`, :func:`encode_texts`) works on
batches in torch (uint8 ``(N, H, W, 3)`` numpy or torch in, L2-normalised float32 numpy ``(N, D)``
out, ready for feature files), autocasts to fp16 on CUDA and never loops over images in PIL.
:class:`PromptTextEncoder` is the A-branch's learnable text prompt (VadCLIP: 10 prefix + 10 postfix
context vectors around each class name) fed through the frozen text transformer. :func:`pretrain`
trains a CLIP contrastively on captioned images (DESIGN §2: the tiny CLIP learns the SynthVAD
world), :func:`save_checkpoint` writes it atomically, and :func:`zero_shot_classify` checks what it learnt.
"""

from __future__ import annotations

from .build import build_clip, clip_info
from .checkpoints import CHECKPOINT_FORMAT, save_checkpoint
from .encode import (encode_images, encode_patch_tokens, encode_text_embeddings, encode_texts, pool_patch_tokens,
                     preprocess_images, tokenize)
from .pretraining import pretrain, zero_shot_classify
from .prompts import PromptTextEncoder
from .spec import MODEL_CONFIG_DIR, ClipError, ClipInfo, ClipSpec, model_config, register_model_configs

__all__ = [
    "ClipError", "ClipSpec", "ClipInfo", "build_clip", "register_model_configs", "model_config",
    "clip_info", "tokenize", "preprocess_images", "encode_images", "encode_patch_tokens",
    "pool_patch_tokens", "encode_texts", "encode_text_embeddings", "PromptTextEncoder",
    "pretrain", "save_checkpoint", "zero_shot_classify", "MODEL_CONFIG_DIR", "CHECKPOINT_FORMAT",
]

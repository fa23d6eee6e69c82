"""The in-project tiny CLIP: pretraining on captioned SynthVAD training scenes, caching, and its
zero-shot evaluation on held-out scenes (DESIGN §2, notebook ``00_pretrain_vlm``).

No pretrained CLIP can be downloaded where this project is built and tested, yet the spatial stream
needs real text–image matching. So a small CLIP (``stprompt/configs/tiny_clip.json``) is trained
with the CLIP loss on crops and frames rendered from SynthVAD **training** scenes
(:func:`stprompt.synth.caption_dataset`); ``running`` gets no caption of its own. Its checkpoint is
cached by the hash of everything that determines it (:func:`pretrain_cached`).

Zero-shot evaluation on held-out scenes (:func:`zero_shot_report`):

- *category accuracy*: a crop of an anomaly, a normal agent or a background surface against one
  text group per category (prompt ensembling), argmax;
- *anomalous-crop accuracy*: the spatial stream's own decision — softmax over all category texts,
  the crop is anomalous when the probability mass on anomaly categories exceeds 0.5;
- both again per kind (``by_kind``): object-centred crops, and windows of the feature grid (the
  images the spatial stream and SA2 actually ask about, off-centre and partly cut).

Since the audit of issue 14 the captioned images include such grid windows (``window_share`` of
them, captioned by content: :func:`stprompt.synth.caption_dataset`): a CLIP pretrained on
object-centred crops only separated anomalous crops well but grid windows poorly.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import config_hash, to_dict
from .io import resolve


@dataclasses.dataclass
class PretrainConfig:
    """How the tiny CLIP is pretrained (all of it enters the checkpoint's cache key)."""

    model: str = "tiny_clip"  # model config stem in stprompt/configs/
    n_images: int = 6000  # captioned training images (crops and frames of training scenes)
    image_size: int = 64  # side of the captioned images in pixels
    epochs: int = 10  # passes over the captioned images
    batch_size: int = 128  # images per contrastive batch
    lr: float = 1e-3  # peak AdamW learning rate (warm-up, then cosine decay)
    weight_decay: float = 0.1  # AdamW weight decay (not on gains, biases, temperature)
    seed: int = 0  # caption scenes, initialisation, shuffling and augmentation
    max_seconds: float | None = None  # stop early after this many seconds (None: run all epochs)
    window_share: float = 0.3  # share of the images that are windows of the feature grid, captioned by content
    window_grid: tuple[int, int] = (3, 4)  # that grid's rows, cols (01_data_prep's default recipe)
    window_size: tuple[int, int] = (48, 48)  # its window height, width in pixels

    def caption_mix(self) -> dict[str, float]:
        """The share of each caption kind: :data:`stprompt.synth.captions.DEFAULT_MIX` for the crops
        and frames, scaled to leave ``window_share`` to grid windows."""
        from .synth.captions import DEFAULT_MIX

        rest = {k: v * (1 - self.window_share) for k, v in DEFAULT_MIX.items() if k != "window"}
        return {**rest, "window": self.window_share}


# Text groups per category: the zero-shot classes of the evaluation, and the vocabulary the
# spatial stream uses for SynthVAD. Anomaly categories first.
ANOMALY_TEXTS: dict[str, list[str]] = {
    "fire": ["a fire", "a fire on the road", "flames"],
    "fighting": ["two people fighting", "a fight"],
    "explosion": ["an explosion", "smoke from an explosion"],
    "road_accident": ["a car crash on the road", "a traffic accident"],
    "car_on_sidewalk": ["a car driving on the sidewalk", "a car on the sidewalk"],
}
NORMAL_TEXTS: dict[str, list[str]] = {
    "pedestrian": ["a person walking", "a pedestrian on the sidewalk"],
    "car": ["a car on the road", "a car driving on the road"],
    "tree": ["a picture of tree", "a tree"],
    "road": ["a picture of road"],
    "sidewalk": ["a picture of sidewalk"],
    "grass": ["a picture of grass"],
    "sky": ["a picture of sky"],
    "building": ["a picture of building"],
}


def category_of(info: dict) -> str | None:
    """The evaluation category of a caption sample (None for whole frames; a grid window has the
    category of what it is captioned as)."""
    if info["kind"] == "frame":
        return None
    cat = str(info["category"])
    for name in ANOMALY_TEXTS:
        if cat.startswith(name):
            return name
    return cat if cat in NORMAL_TEXTS else None


def checkpoint_key(synth_cfg: Any, cfg: PretrainConfig) -> str:
    """The cache key of a tiny CLIP: the SynthVAD world it saw (its config and the generator's code,
    :func:`stprompt.synth.config.generator_hash`) and its pretraining config."""
    from .synth.config import generator_hash

    return config_hash({"synth": to_dict(synth_cfg), "pretrain": to_dict(cfg), "generator": generator_hash()})


def pretrain_cached(synth_cfg: Any, cfg: PretrainConfig, path: str | Path,
                    log: Callable[[str], None] | None = print) -> tuple[Any, Any, dict]:
    """Pretrain the tiny CLIP, or load it from ``path`` when the checkpoint there was made with
    the same key. Returns ``(model, info, meta)``; ``meta`` holds the key, the loss history and
    the timings (``cached`` says whether training was skipped; a cached model's timings are
    ``None``). The checkpoint itself holds no timings, so that the same pretraining writes the same
    bytes and the weights hash (``info.weights``) is the same on every run."""
    import torch

    from . import vlm
    from .synth import caption_dataset

    path = resolve(path)
    key = checkpoint_key(synth_cfg, cfg)
    if path.is_file():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True).get("meta", {})
        except Exception:  # a corrupt or foreign file is rebuilt below
            stored = {}
        if stored.get("key") == key:
            model, info = vlm.build_clip(vlm.ClipSpec(model=None, checkpoint=str(path)))
            return model, info, dict(stored, data_seconds=None, train_seconds=None, cached=True)
    t0 = time.perf_counter()
    images, captions, _ = caption_dataset(synth_cfg, cfg.n_images, seed=cfg.seed, split="train",
                                          size=cfg.image_size, mix=cfg.caption_mix(),
                                          windows=(cfg.window_grid, cfg.window_size))
    data_seconds = time.perf_counter() - t0
    torch.manual_seed(cfg.seed)
    model, _ = vlm.build_clip(vlm.ClipSpec(model=cfg.model, seed=cfg.seed))
    history = vlm.pretrain(model, images, captions, epochs=cfg.epochs, batch_size=cfg.batch_size,
                           lr=cfg.lr, weight_decay=cfg.weight_decay, seed=cfg.seed,
                           max_seconds=cfg.max_seconds, log=log)
    meta = {"key": key, "pretrain": to_dict(cfg),
            "epoch_loss": [float(x) for x in history["epoch_loss"]],
            "stopped_early": bool(history.get("stopped_early", False))}
    vlm.save_checkpoint(model, path, model_name=cfg.model, meta=meta)
    model, info = vlm.build_clip(vlm.ClipSpec(model=None, checkpoint=str(path)))
    return model, info, dict(meta, data_seconds=round(data_seconds, 2),
                             train_seconds=round(float(history["seconds"]), 2), cached=False)


def zero_shot_report(model: Any, images: np.ndarray, infos: list[dict]) -> dict[str, Any]:
    """Zero-shot results on captioned held-out samples (see the module docstring).

    Returns accuracies (overall and per category), the number of samples, the predictions and the
    anomaly probabilities (for figures)."""
    from . import vlm

    keep = [i for i, d in enumerate(infos) if category_of(d) is not None]
    if not keep:
        raise ValueError("zero_shot_report: no crops of a known category among the samples")
    names = [*ANOMALY_TEXTS, *NORMAL_TEXTS]
    groups = [*ANOMALY_TEXTS.values(), *NORMAL_TEXTS.values()]
    probs = vlm.zero_shot_classify(model, images[keep], groups)
    truth = np.array([names.index(category_of(infos[i])) for i in keep])
    pred = probs.argmax(1)
    p_anomalous = probs[:, :len(ANOMALY_TEXTS)].sum(1)
    is_anomalous = truth < len(ANOMALY_TEXTS)
    per_category = {n: float((pred[truth == k] == k).mean()) for k, n in enumerate(names)
                    if (truth == k).any()}
    kinds = np.array(["window" if infos[i]["kind"] == "window" else "crop" for i in keep])
    by_kind = {k: {"n": int((kinds == k).sum()),
                   "category_accuracy": float((pred[kinds == k] == truth[kinds == k]).mean()),
                   "anomalous_accuracy": float(((p_anomalous > 0.5) == is_anomalous)[kinds == k].mean())}
               for k in sorted(set(kinds))}
    return {
        "n": len(keep),
        "category_accuracy": float((pred == truth).mean()),
        "anomalous_crop_accuracy": float(((p_anomalous > 0.5) == is_anomalous).mean()),
        "per_category_accuracy": per_category,
        "by_kind": by_kind,
        "indices": keep, "categories": names, "truth": truth, "pred": pred,
        "p_anomalous": p_anomalous, "probs": probs,
    }

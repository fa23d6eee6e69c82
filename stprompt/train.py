"""Training with video-level labels, model selection on the validation split, checkpoints.

The ancestors select their checkpoint on the test set; here the test split is never touched
during training. After every epoch the model scores the **validation** videos and the best epoch
by ``selection_metric`` is kept:

- ``frame_auc``: frame-level ROC-AUC on validation videos that carry frame ground truth
  (SynthVAD, UBnormal);
- ``video_auc``: ROC-AUC of the video score (max over snippets) against video labels, for a
  validation split that only has video labels (UCF-Crime and ShanghaiTech have no validation split:
  ``split_train_val`` holds out part of the training videos, stratified by class);
- ``auto``: ``frame_auc`` when every validation video has frame ground truth, else ``video_auc``.

Data (:mod:`stprompt.training_data`). :class:`FeatureSet` maps one split's feature files
(:func:`stprompt.features.map_features`: fp16 on disk, read as float32 only for the videos of a
batch, pages shared by every process that reads the same files, e.g. the kernels of an ablation
grid) and checks each against its record
(the number of snippets must match the video length); every video without a valid file is named
in one error before training starts. Batches pad videos to the longest one and carry a mask.
Training videos longer than ``max_len`` snippets are shortened the ancestors' way: cut into
``max_len`` equal segments whose features are averaged (VadCLIP ``process_feat``); evaluation always
uses every snippet, in bounded memory (:func:`predict`: chunks of long videos, with the scores of
one pass wherever the model's reach is finite).

Determinism: everything random draws from ``seed`` (batch order, initialisation, dropout); on CPU
the same seed gives the same metrics (checked by a test to 4 decimals).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch

from .config import config_hash, to_dict
from .io import atomic_write, resolve


# --------------------------------------------------------------------------------------------
# Prediction and evaluation
# --------------------------------------------------------------------------------------------

#: Default bounds of one forward pass of :func:`predict`: videos per batch, padded snippets per
#: batch, and the chunk length (snippets) above which a video is scored in chunks.
EVAL_BATCH, EVAL_SNIPPETS, EVAL_CHUNK = 16, 8192, 1024
# the data side has a module of its own; its names stay importable from here (see __all__)
from .training_data import (FeatureSet, VideoItem, collate, load_sets, segment_average, split_records,
                            split_train_val)


@dataclasses.dataclass
class TrainConfig:
    """How a model is trained and selected (every field is recorded in the checkpoint)."""

    seed: int = 0  # batch order, initialisation, dropout
    epochs: int = 30  # passes over the training videos
    batch_size: int = 32  # videos per batch (half normal, half anomalous when balanced)
    lr: float = 1e-3  # AdamW learning rate
    weight_decay: float = 1e-4  # AdamW weight decay
    max_len: int = 64  # longer training videos are averaged down to this many snippets
    balanced: bool = True  # batches hold as many normal as anomalous videos (MIL needs both)
    selection_metric: Literal["auto", "frame_auc", "video_auc"] = "auto"  # on the validation split
    grad_clip: float = 5.0  # max gradient norm (0 = off)


def model_context(model: torch.nn.Module) -> int | None:
    """The model's reach (``context_snippets``, :class:`stprompt.model.VADModel`), None if unknown."""
    fn = getattr(model, "context_snippets", None)
    return None if fn is None else fn()


def _rows(item: VideoItem, start: int, stop: int) -> VideoItem:
    from .features import rows_of

    if start == 0 and stop == len(item.frame):
        return item
    cut = lambda a: None if a is None else rows_of(a, start, stop)  # noqa: E731
    return dataclasses.replace(item, frame=cut(item.frame), patch=cut(item.patch), motion=cut(item.motion),
                               snippet_labels=cut(item.snippet_labels))


@torch.inference_mode()
def predict(model: torch.nn.Module, data: FeatureSet, batch_size: int = EVAL_BATCH,
            device: str = "cpu", max_snippets: int = EVAL_SNIPPETS,
            chunk: int = EVAL_CHUNK) -> dict[str, np.ndarray]:
    """Snippet scores per video (full length, no resampling): ``{video_id: (T,) float}``.

    Memory is bounded whatever the videos' lengths, where the model allows it. Videos go through
    the model in their order, at most ``batch_size`` per forward pass and at most ``max_snippets``
    padded snippets (``videos x longest``) per pass. A video longer than ``chunk`` snippets is
    cut into chunks of ``chunk`` snippets, each passed with ``c`` more snippets of the video on
    either side, ``c = model.context_snippets()``, the model's reach; only the chunk's own scores
    are kept. Rule: the scores equal those of one pass over the whole video (up to float rounding,
    tested) because nothing outside the reach touches a snippet's score:

    - per-snippet models (MIL, zero-shot): ``c = 0``;
    - STPrompt: SA2 reads no other snippet (motion, uniform) or one (feature_diff), and the
      relative-distance adapter attends over the whole video, but with weights
      ``exp(-kappa(|i - j|))`` that are exactly 0 in float32 beyond a distance set by the learnt
      sigma (:meth:`~stprompt.model.temporal.RelativeDistanceAttention.reach`): ``c`` is the sum of
      the blocks' reaches (about 15 sigma each, Gaussian kernel), so chunks change nothing;
    - no finite reach (``c`` None): the VadCLIP-style model (its similarity graph and visual
      prompt span the video) and SA2 with random selection (windows keyed by the snippet's index):
      each video is scored in one pass whatever its length, so memory grows with the longest video
      (linearly in the features, quadratically in the graphs: ~4 bytes x T^2 per graph).
    """
    model.eval()
    context = model_context(model)
    out = {it.id: np.zeros(len(it.frame), np.float64) for it in data.items}
    pieces = []  # (item, piece start, core start, core stop, piece stop)
    for it in data.items:
        T = len(it.frame)
        if context is None or T <= chunk:
            pieces.append((it, 0, 0, T, T))
            continue
        for a in range(0, T, chunk):
            b = min(T, a + chunk)
            pieces.append((it, max(0, a - context), a, b, min(T, b + context)))

    def run(batch: list) -> None:
        res = model(collate([_rows(it, s, e) for it, s, _, _, e in batch], device))
        scores = res.scores.float().cpu().numpy()
        for k, (it, s, a, b, _) in enumerate(batch):
            out[it.id][a:b] = scores[k, a - s:b - s]

    batch: list = []
    for piece in pieces:
        longest = max([piece[4] - piece[1]] + [p[4] - p[1] for p in batch])
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * longest > max_snippets):
            run(batch)
            batch = []
        batch.append(piece)
    if batch:
        run(batch)
    return out


def frame_scores(snippet_scores: dict[str, np.ndarray], records: Sequence[Any],
                 snippet_len: int = 16) -> dict[str, np.ndarray]:
    """Snippet scores repeated ×``snippet_len`` and cut to each video's frame count."""
    from .metrics import expand_snippet_scores

    return {r.id: expand_snippet_scores(snippet_scores[r.id], r.n_frames, snippet_len) for r in records}


def evaluate(snippet_scores: dict[str, np.ndarray], records: Sequence[Any],
             snippet_len: int = 16) -> dict[str, Any]:
    """The detection report (:func:`stprompt.metrics.detection_report`) on frame level."""
    from .datasets import frame_labels
    from .metrics import detection_report

    scores = frame_scores(snippet_scores, records, snippet_len)
    labels = {r.id: frame_labels(r) for r in records}
    classes = {r.id: (r.class_name if r.label else "normal") for r in records}
    return detection_report(scores, labels, classes_by_video=classes)


def video_auc(snippet_scores: dict[str, np.ndarray], data: FeatureSet) -> float:
    from sklearn.metrics import roc_auc_score

    y = [it.label for it in data.items]
    s = [float(snippet_scores[it.id].max()) for it in data.items]
    if len(set(y)) < 2:
        raise ValueError("video_auc: the validation videos need both labels")
    return float(roc_auc_score(y, s))


def selection_score(snippet_scores: dict[str, np.ndarray], data: FeatureSet, metric: str) -> tuple[str, float]:
    if metric == "auto":
        metric = "frame_auc" if data.has_frame_gt else "video_auc"
    if metric == "video_auc":
        return metric, video_auc(snippet_scores, data)
    if not data.has_frame_gt:
        raise ValueError("selection_metric frame_auc needs frame ground truth on every validation video")
    from .metrics import frame_auc

    return metric, float(frame_auc(frame_scores(snippet_scores, data.records),
                                   data.frame_labels))


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _batches(data: FeatureSet, cfg: TrainConfig, rng: np.random.Generator) -> list[list[int]]:
    """Index batches for one epoch; balanced batches interleave normal and anomalous videos."""
    if not cfg.balanced:
        order = rng.permutation(len(data))
        return [order[i:i + cfg.batch_size].tolist() for i in range(0, len(order), cfg.batch_size)]
    normal = rng.permutation([i for i, it in enumerate(data.items) if it.label == 0])
    abnormal = rng.permutation([i for i, it in enumerate(data.items) if it.label == 1])
    if len(normal) == 0 or len(abnormal) == 0:
        raise ValueError("balanced batches need normal and anomalous training videos")
    n = max(len(normal), len(abnormal))
    # the smaller group is cycled so that every video of the larger one is seen once per epoch
    normal = np.resize(normal, n)
    abnormal = np.resize(abnormal, n)
    half = max(1, cfg.batch_size // 2)
    return [np.concatenate([normal[i:i + half], abnormal[i:i + half]]).tolist() for i in range(0, n, half)]


@dataclasses.dataclass
class TrainResult:
    model: torch.nn.Module
    history: list[dict[str, float]]  # per epoch: loss parts, validation metric, seconds
    best_epoch: int  # 0 = the untrained model (zero-shot methods)
    selection_metric: str
    best_score: float
    seconds: float


def train(model: torch.nn.Module, train_set: FeatureSet, val_set: FeatureSet, cfg: TrainConfig,
          device: str = "cpu", progress: bool = True,
          log: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``model`` (a :class:`stprompt.model.VADModel`) on ``train_set`` with video-level labels
    and keep the epoch that scores best on ``val_set`` (see the module docstring)."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    for data in (train_set, val_set):  # every epoch reads both: from memory when they fit
        data.hold_in_memory()
    seed_everything(cfg.seed)
    model.to(device)
    history: list[dict[str, float]] = []
    metric, best = selection_score(predict(model, val_set, device=device), val_set, cfg.selection_metric)
    best_state, best_epoch = copy.deepcopy(model.state_dict()), 0
    history.append({"epoch": 0, "val": best, "seconds": 0.0})
    params = [p for p in model.parameters() if p.requires_grad]
    if not getattr(model, "requires_training", True) or not params:
        return TrainResult(model, history, 0, metric, best, time.perf_counter() - start)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    with_fl = bool(getattr(model, "uses_frame_labels", False))
    bar = tqdm(range(1, cfg.epochs + 1), desc="train", unit="epoch", disable=not progress)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        sums: dict[str, float] = {}
        batches = _batches(train_set, cfg, rng)
        for idx in batches:
            batch = collate([train_set.items[i] for i in idx], device, cfg.max_len, with_fl)
            out = model(batch)
            loss, parts = model.loss(batch, out)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        _, score = selection_score(predict(model, val_set, device=device), val_set, metric)
        row = {"epoch": epoch, **{k: v / len(batches) for k, v in sums.items()}, "val": score,
               "seconds": round(time.perf_counter() - t0, 3)}
        history.append(row)
        if score > best:
            best, best_epoch, best_state = score, epoch, copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{row['loss']:.3f}", val=f"{score:.3f}", best=f"{best:.3f}@{best_epoch}")
        if log:
            log(f"epoch {epoch}: loss {row['loss']:.4f}, val {metric} {score:.4f}")
    model.load_state_dict(best_state)
    return TrainResult(model, history, best_epoch, metric, best, time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------

def _plain(value: Any, where: str) -> Any:
    """``value`` as plain data (dict with str keys, list, str, int, float, bool, None); tuples
    become lists, numpy scalars their Python value. Anything else is an error naming ``where``:
    a checkpoint must load with ``torch.load(weights_only=True)``."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"save_checkpoint: {where} is a {type(value).__name__}; a checkpoint holds "
                    f"plain data only (dicts, lists, strings, numbers) and tensors")


def save_checkpoint(path: str | Path, result: TrainResult, model_cfg: Any, train_cfg: TrainConfig,
                    class_names: Sequence[str], feature_recipe: dict[str, Any]) -> Path:
    """Write the selected model's trainable state with everything needed to rebuild and use it:
    the model and training configs, class names, the feature recipe and the history.

    The file holds **plain data only**: a dict of tensors (``state_dict``) and dicts, lists,
    strings and numbers, so :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)``
    and a checkpoint cannot run code when loaded."""
    state = {str(k): v.detach().cpu() for k, v in result.model.state_dict().items()}
    meta = _plain({"model_config": to_dict(model_cfg), "train_config": to_dict(train_cfg),
                   "class_names": list(class_names), "feature_recipe": feature_recipe,
                   "history": result.history, "best_epoch": result.best_epoch,
                   "selection_metric": result.selection_metric, "best_score": result.best_score,
                   "key": config_hash({"model": to_dict(model_cfg), "train": to_dict(train_cfg),
                                       "recipe": feature_recipe.get("recipe_hash"),
                                       "classes": list(class_names)})}, "checkpoint")
    payload = {"format": "stprompt-model-1", "state_dict": state, **meta}
    target = resolve(path)
    # through an open file: the zip's inner folder is then always "archive/", not the random
    # temporary file's name, so the same weights give the same bytes (and the same file hash)
    with atomic_write(target) as fh:
        torch.save(payload, fh)
    return target


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (errors name the file).

    ``torch.load(weights_only=True)``: only tensors and plain containers are unpickled, so a
    crafted file that asks for any other object (a ``__reduce__`` that would run code) is refused
    before anything runs."""
    p = resolve(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no model checkpoint (train it with 02_train first)")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{p}: not a readable checkpoint; only tensors and plain data are loaded "
                         f"(weights_only=True), nothing in the file was run ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != "stprompt-model-1":
        raise ValueError(f"{p}: not an stprompt model checkpoint")
    return payload


# --------------------------------------------------------------------------------------------
# One method, one seed: train (or load), score the test split
# --------------------------------------------------------------------------------------------

def fit_and_score(method_cfg: Any, train_cfg: TrainConfig, sets: dict[str, FeatureSet],
                  clip_model: Any, recipe: dict[str, Any], out_dir: str | Path, name: str,
                  device: str = "cpu", progress: bool = False, force: bool = False) -> dict[str, Any]:
    """Train ``method_cfg`` on ``sets["train"]``, select on ``sets["val"]``, score ``sets["test"]``.

    The checkpoint ``<out_dir>/models/<name>.pt`` and the test and validation snippet scores
    ``<out_dir>/scores/<name>.npz`` / ``<name>_val.npz`` are reused when the checkpoint's key (model and training
    configs, feature recipe, classes) matches, unless ``force``. Returns the history, the selected
    epoch, the validation score and the test snippet scores.
    """
    from .io import atomic_path
    from .model import build_model

    out_dir = resolve(out_dir)
    ckpt = out_dir / "models" / f"{name}.pt"
    scores_path = out_dir / "scores" / f"{name}.npz"
    val_path = out_dir / "scores" / f"{name}_val.npz"
    class_names = sets["train"].class_names
    key = config_hash({"model": to_dict(method_cfg), "train": to_dict(train_cfg),
                       "recipe": recipe.get("recipe_hash"), "classes": list(class_names)})
    if not force and ckpt.is_file() and scores_path.is_file() and val_path.is_file():
        payload = load_checkpoint(ckpt)
        if payload.get("key") == key:
            with np.load(scores_path) as z, np.load(val_path) as zv:
                scores = {k: z[k] for k in z.files}
                val_scores = {k: zv[k] for k in zv.files}
            return {"history": payload["history"], "best_epoch": payload["best_epoch"],
                    "selection_metric": payload["selection_metric"], "val_score": payload["best_score"],
                    "test_scores": scores, "val_scores": val_scores, "cached": True, "checkpoint": ckpt}
    seed_everything(train_cfg.seed)
    model = build_model(method_cfg, clip_model, class_names, sets["train"].feature_dim)
    train_set = sets["train_oracle"] if getattr(model, "uses_frame_labels", False) else sets["train"]
    result = train(model, train_set, sets["val"], train_cfg, device=device, progress=progress)
    save_checkpoint(ckpt, result, method_cfg, train_cfg, class_names, recipe)
    scores = predict(result.model, sets["test"], device=device)
    val_scores = predict(result.model, sets["val"], device=device)  # for thresholds chosen on val
    with atomic_path(val_path) as tmp:
        np.savez(tmp, **val_scores)
    with atomic_path(scores_path) as tmp:
        np.savez(tmp, **scores)
    return {"history": result.history, "best_epoch": result.best_epoch,
            "selection_metric": result.selection_metric, "val_score": result.best_score,
            "test_scores": scores, "val_scores": val_scores, "cached": False, "checkpoint": ckpt,
            "seconds": result.seconds}


def shared_fit_and_score(method_cfg: Any, train_cfg: TrainConfig, sets: dict[str, FeatureSet],
                         clip_model: Any, recipe: dict[str, Any], shared_dir: str | Path,
                         data_id: str, device: str = "cpu") -> dict[str, Any]:
    """:func:`fit_and_score` in a folder shared by ablation points, under a name derived from all
    that decides the run: the model and training configs, the features' recipe and ``data_id``
    (which data the features are of, e.g. their folder). A point whose training equals another's
    (the default configuration appears in most grids) reuses that model and its scores instead of
    training it again; a lock makes parallel points train it once. The result has ``"name"``."""
    from .io import file_lock

    name = f"{method_cfg.method}_seed{train_cfg.seed}_" + config_hash(
        {"model": to_dict(method_cfg), "train": to_dict(train_cfg), "recipe": recipe.get("recipe_hash"),
         "data": data_id, "classes": list(sets["train"].class_names)})[:12]
    shared_dir = resolve(shared_dir)
    with file_lock(shared_dir / "models" / f".{name}.lock"):
        run = fit_and_score(method_cfg, train_cfg, sets, clip_model, recipe, shared_dir, name, device=device)
    return {**run, "name": name}


__all__ = [
    "EVAL_BATCH", "EVAL_SNIPPETS", "EVAL_CHUNK", "TrainConfig", "model_context", "predict",
    "frame_scores", "evaluate", "video_auc", "selection_score", "seed_everything", "TrainResult",
    "train", "save_checkpoint", "load_checkpoint", "fit_and_score", "shared_fit_and_score",
    "FeatureSet", "VideoItem", "collate", "load_sets", "segment_average", "split_records",
    "split_train_val",
]

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

Data. :class:`FeatureSet` maps one split's feature files (:func:`stprompt.features.map_features`:
fp16 on disk, read as float32 only for the videos of a batch, pages shared by every process that
reads the same files, e.g. the kernels of an ablation grid) and checks each against its record
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
from .io import atomic_path, resolve


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


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class VideoItem:
    """One video of a :class:`FeatureSet`; arrays are float32 numpy arrays or
    :class:`~stprompt.features.MappedArray` s (read when a batch is built)."""

    id: str
    frame: Any  # (T, D)
    patch: Any | None  # (T, G, D)
    motion: Any | None  # (T, G)
    label: int
    class_idx: int
    snippet_labels: np.ndarray | None  # (T,) 0/1 (max over the snippet's frames); val/test only
    n_frames: int


class FeatureSet:
    """One split's features, aligned with its records and class names (``class_names[0]`` is
    "normal"). Snippet labels are built for records with frame ground truth.

    ``all_crops``: with 10-crop features (``crop="tencrop"``), each crop becomes a training item
    (``<id>__<k>``), as the ancestors train; evaluation sets keep one item per video, whose frame
    feature is the test crop chosen at extraction (``test_crop``: the mean or a named crop).

    ``frame_label_override``: frame labels for videos whose records carry none (the oracle's
    training labels, :func:`stprompt.datasets.synthvad.oracle_train_labels`).

    ``allow_unknown_classes``: for evaluation sets of an open-set split, anomaly classes the model
    was not trained on get class index -1 (only the binary score is evaluated on them)."""

    def __init__(self, records: Sequence[Any], feature_dir: str | Path, class_names: Sequence[str],
                 recipe_hash: str | None = None, snippet_len: int = 16, all_crops: bool = False,
                 allow_unknown_classes: bool = False,
                 frame_label_override: dict[str, np.ndarray] | None = None):
        from .datasets import DatasetError, check_feature_length, frame_labels
        from .features import FeatureFileError, feature_path, map_features, missing_features_message

        self.class_names = list(class_names)
        self.records = list(records)
        self.items: list[VideoItem] = []
        self.frame_labels: dict[str, np.ndarray] = {}  # per video, for videos with frame ground truth
        if not self.records:
            raise ValueError(f"FeatureSet: no records for {feature_dir}")
        mapped, problems = {}, {}
        for rec in self.records:  # every video checked first: one error names all that are missing
            try:
                mapped[rec.id] = map_features(feature_path(feature_dir, rec.id), recipe_hash)
                check_feature_length(rec, mapped[rec.id].n_snippets)
            except (FeatureFileError, DatasetError) as exc:
                problems[rec.id] = str(exc)
        if problems:
            raise FeatureFileError(missing_features_message(problems, len(self.records), f"{feature_dir}"))
        for rec in self.records:
            feats = mapped[rec.id]
            name = rec.class_name if rec.label else "normal"
            if name not in self.class_names and allow_unknown_classes:
                name = "normal" if not rec.label else None
            if name is not None and name not in self.class_names:
                raise ValueError(f"video '{rec.id}': class '{name}' is not among the model's classes "
                                 f"{self.class_names} (open-set classes are test-only: evaluate them "
                                 f"with the binary score)")
            snip = None
            override = (frame_label_override or {}).get(rec.id)
            if override is not None or rec.label == 0 or getattr(rec, "has_frame_gt", False):
                lab = override if override is not None else frame_labels(rec)
                self.frame_labels[rec.id] = lab
                T = feats.n_snippets
                padded = np.zeros(T * snippet_len, np.uint8)
                padded[:len(lab)] = lab[:T * snippet_len]
                snip = padded.reshape(T, snippet_len).max(1).astype(np.float32)
            frames = [feats.frame]
            if all_crops and feats.frame_crops is not None:
                # the ancestors' 10-crop training: every crop is a training video of its own
                frames = [feats.frame_crops.index(k) for k in range(len(feats.frame_crops))]
            for k, frame in enumerate(frames):
                vid = rec.id if len(frames) == 1 else f"{rec.id}__{k}"
                self.items.append(VideoItem(vid, frame, feats.patch, feats.motion, int(rec.label),
                                            self.class_names.index(name) if name else -1, snip,
                                            rec.n_frames))

    def __len__(self) -> int:
        return len(self.items)

    @property
    def feature_dim(self) -> int:
        return int(self.items[0].frame.shape[1])

    @property
    def has_frame_gt(self) -> bool:
        return all(it.snippet_labels is not None for it in self.items)


def segment_average(x: Any, length: int) -> np.ndarray:
    """Average ``x`` (T, ...) over ``length`` equal segments (VadCLIP's ``process_feat``); a
    segment that would be empty takes the snippet at its start. fp16 (a memory-mapped feature
    file) is widened to float32 one segment at a time; other arrays keep their dtype."""
    T = len(x)
    if T <= length:
        return _widen(x)
    edges = np.linspace(0, T, length + 1).astype(int)
    return np.stack([_widen(x[a:b]).mean(0) if b > a else _widen(x[a]) for a, b in zip(edges[:-1], edges[1:])])


def _widen(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if a.dtype == np.float16 else a


def _read(a: Any) -> np.ndarray:
    """An item's array as stored: a :class:`~stprompt.features.MappedArray` maps its file (fp16,
    converted to float32 by the assignment that copies it into a batch), an array is itself."""
    from .features import MappedArray

    return a.map() if isinstance(a, MappedArray) else a


def collate(items: Sequence[VideoItem], device: str | torch.device = "cpu", max_len: int | None = None,
            with_frame_labels: bool = False):
    """Pad a list of videos into a :class:`stprompt.model.Batch` (mask marks real snippets)."""
    from .model import Batch

    def shorten(a):
        return _read(a) if (a is None or max_len is None) else segment_average(_read(a), max_len)

    frames = [shorten(it.frame) for it in items]
    T = max(len(f) for f in frames)
    B = len(items)
    D = frames[0].shape[1]
    frame = np.zeros((B, T, D), np.float32)
    mask = np.zeros((B, T), bool)
    has_patch = all(it.patch is not None for it in items)
    has_motion = all(it.motion is not None for it in items)
    patch = motion = None
    if has_patch:
        G = items[0].patch.shape[1]
        patch = np.zeros((B, T, G, D), np.float32)
    if has_motion:
        motion = np.zeros((B, T, items[0].motion.shape[1]), np.float32)
    labels = np.zeros((B, T), np.float32) if with_frame_labels else None
    for b, (it, f) in enumerate(zip(items, frames)):
        n = len(f)
        frame[b, :n] = f
        mask[b, :n] = True
        if has_patch:
            patch[b, :n] = shorten(it.patch)
        if has_motion:
            motion[b, :n] = shorten(it.motion)
        if with_frame_labels:
            if it.snippet_labels is None:
                raise ValueError(f"video '{it.id}' has no frame labels (the oracle needs them)")
            sl = it.snippet_labels if max_len is None else segment_average(it.snippet_labels, max_len)
            labels[b, :n] = (np.asarray(sl) > 0).astype(np.float32)
    t = lambda a, dt=torch.float32: None if a is None else torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    return Batch(frame=t(frame), patch=t(patch), motion=t(motion), mask=t(mask, torch.bool),
                 label=t(np.array([it.label for it in items]), torch.float32),
                 class_idx=t(np.array([it.class_idx for it in items]), torch.long),
                 frame_labels=t(labels))


def split_train_val(records: Sequence[Any], fraction: float = 0.1, seed: int = 0) -> tuple[list, list]:
    """Hold out ``fraction`` of the training videos of each class (at least one) for validation,
    for datasets without a validation split. Deterministic from ``seed``."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list] = {}
    for r in records:
        by_class.setdefault(r.class_name, []).append(r)
    train, val = [], []
    for name in sorted(by_class):
        group = by_class[name]
        order = rng.permutation(len(group))
        n_val = max(1, int(round(len(group) * fraction))) if len(group) > 1 else 0
        val += [group[i] for i in order[:n_val]]
        train += [group[i] for i in order[n_val:]]
    return train, val


# --------------------------------------------------------------------------------------------
# Prediction and evaluation
# --------------------------------------------------------------------------------------------

#: Default bounds of one forward pass of :func:`predict`: videos per batch, padded snippets per
#: batch, and the chunk length (snippets) above which a video is scored in chunks.
EVAL_BATCH, EVAL_SNIPPETS, EVAL_CHUNK = 16, 8192, 1024


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
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
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


def split_records(dataset: str, root: str | Path, splits: Sequence[str] = ("train", "val", "test"),
                  val_fraction: float = 0.1, seed: int = 0, reader: dict[str, Any] | None = None,
                  keep: Sequence[str] | None = None) -> dict[str, list]:
    """The records of every split training and evaluation use: ``{"train", "val", "test"}``
    (``splits`` are the ones on disk; ``keep``: return only these, and read the training split
    only when it is kept or ``val`` must be carved from it). Without a ``val`` split on disk
    (UCF-Crime, ShanghaiTech), ``val_fraction`` of the training videos (per class,
    :func:`split_train_val`) are held out as ``val``: they carry video labels only. The same
    arguments always give the same held-out videos (``05_localization`` chooses θ on them)."""
    from .datasets import load_dataset

    keep = list(keep) if keep is not None else ["train", "val", "test"]
    carve = "val" not in splits and ("val" in keep or "train" in keep)
    records = {s: load_dataset(dataset, root, s, reader) for s in splits
               if s in keep or (s == "train" and carve)}
    if carve:
        records["train"], records["val"] = split_train_val(records["train"], val_fraction, seed)
    return {s: records[s] for s in keep if s in records}


def load_sets(run_dir: str | Path, dataset: str, data_root: str = "", splits: Sequence[str] = ("train", "val", "test"),
              val_fraction: float = 0.1, seed: int = 0, all_crops: bool = False,
              oracle_labels: bool = False, features_dir: str | Path | None = None,
              reader: dict[str, Any] | None = None) -> dict[str, Any]:
    """Records and feature sets of a profile's dataset for training and evaluation.

    Classes: ``"normal"`` then the anomaly classes of the training videos, sorted. Without a
    ``val`` split, ``val_fraction`` of the training videos (per class) are held out for selection
    (:func:`split_records`). Returns ``{"records": {split: [...]}, "sets": {"train", "val", "test"},
    "class_names", "recipe"}``; every feature file must share one recipe (its hash is checked).

    ``oracle_labels``: also give the training set frame labels (SynthVAD only: re-derived from the
    generator), for the frame-supervised oracle; a second training set ``"train_oracle"``.
    ``features_dir``: read the features from there (a variant, :mod:`stprompt.variants`) instead of
    ``<run_dir>/features/<dataset>``. ``reader``: the profile's reader options."""
    from .features import feature_dir, feature_path, map_features

    root = resolve(data_root or f"{run_dir}/data/{dataset}")
    records = split_records(dataset, root, splits, val_fraction, seed, reader)
    fdir = resolve(features_dir) if features_dir else feature_dir(run_dir, dataset)
    recipe = map_features(feature_path(fdir, records["train"][0].id)).recipe
    class_names = ["normal", *sorted({r.class_name for r in records["train"] if r.label})]
    sets = {"train": FeatureSet(records["train"], fdir, class_names, recipe["recipe_hash"], all_crops=all_crops),
            "val": FeatureSet(records["val"], fdir, class_names, recipe["recipe_hash"],
                              allow_unknown_classes=True),
            "test": FeatureSet(records["test"], fdir, class_names, recipe["recipe_hash"],
                               allow_unknown_classes=True)}
    if oracle_labels:
        if dataset != "synthvad":
            raise ValueError(f"oracle_labels: training frame labels exist only for SynthVAD, not {dataset}")
        from .datasets.synthvad import oracle_train_labels

        sets["train_oracle"] = FeatureSet(records["train"], fdir, class_names, recipe["recipe_hash"],
                                          frame_label_override=oracle_train_labels(root, records["train"]))
    return {"records": records, "sets": sets, "class_names": class_names, "recipe": recipe}

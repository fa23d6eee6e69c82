"""The data a model trains and is evaluated on: one split's feature files mapped per video
(:class:`FeatureSet` of :class:`VideoItem`), padded batches (:func:`collate`), long training videos
averaged down (VadCLIP's ``process_feat``), the held-out validation videos and a profile's splits
and sets (:func:`split_records`, :func:`load_sets`). See :mod:`stprompt.train` for how they are used.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .io import resolve


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


#: Largest set (bytes of float32 features) that :meth:`FeatureSet.hold_in_memory` reads into memory.
IN_MEMORY_BYTES = 1 << 30


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

    def hold_in_memory(self, max_bytes: int | None = None) -> bool:
        """Read every memory-mapped array of the set into float32 memory when all of them fit in
        ``max_bytes`` (default :data:`IN_MEMORY_BYTES`), so that the epochs of training and
        validation read no file and widen no fp16 again (SynthVAD: about 30 MB for a split, 15 %
        of a training run's time saved; a real split with ViT-B/16 features stays mapped). The
        values are the ones a batch reads from the map (fp16 widened to float32: exact), so
        results do not change. Returns whether the set is now in memory."""
        from .features import MappedArray

        budget = IN_MEMORY_BYTES if max_bytes is None else int(max_bytes)
        mapped = {id(a): a for it in self.items for a in (it.frame, it.patch, it.motion)
                  if isinstance(a, MappedArray)}
        if sum(4 * int(np.prod(a.shape)) for a in mapped.values()) > budget:
            return False
        read = {k: np.asarray(a) for k, a in mapped.items()}  # float32 copies (MappedArray.__array__)
        for it in self.items:
            it.frame, it.patch, it.motion = (read.get(id(a), a) if a is not None else None
                                             for a in (it.frame, it.patch, it.motion))
        return True

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
    ``features_dir``: read the features from there (a variant, :mod:`stprompt.run.variants`) instead of
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

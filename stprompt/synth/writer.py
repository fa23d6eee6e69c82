"""Write a SynthVAD dataset to disk in the layout documented in :mod:`stprompt.datasets.synthvad`.

(``meta.json``, ``videos/<class>/<id>.mp4``, ``splits/<split>.txt`` and ``annotations/`` in the real
datasets' formats; the reader's docstring is the one description of the contract.)
Train videos get no annotation files. Frames are 0-based and intervals inclusive.

Resumable: ``meta.json`` is written last; when it exists with the same config hash and every file
is present, :func:`generate` does nothing. Each file is written atomically, and a hidden
``.synthvad_records.json`` (config hash + one small record per finished video) lets an interrupted
or partly deleted dataset be completed by rendering only the missing videos. Files left by a
different configuration are overwritten (and unexpected ones in the managed folders removed).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..config import to_dict
from ..io import _json_default, atomic_path, atomic_write, read_json, resolve, write_json, write_text
from .config import NORMAL, SPLITS, SynthConfig, VideoSpec, video_specs, world_hash
from .render import GroundTruth, ground_truth, render_video, simulate
from ..datasets.video import write_video

RECORDS = ".synthvad_records.json"
MANAGED_DIRS = ("videos", "annotations/boxes", "annotations/test_frame_mask",
                "annotations/test_pixel_mask", "annotations/tracks")
MANAGED_SUFFIXES = (".mp4", ".npy", ".npz", ".txt")


# ------------------------------------------------------------------------------------------------
# Paths
# ------------------------------------------------------------------------------------------------

def annotated(spec: VideoSpec) -> bool:
    """Val and test videos carry frame-level ground truth; train videos only their label."""
    return spec.split in ("val", "test")


def video_files(spec: VideoSpec) -> list[str]:
    """Files (relative to the root) written for one video."""
    files = [f"videos/{spec.rel_path}"]
    if annotated(spec):
        files += [f"annotations/boxes/{spec.id}.npy", f"annotations/test_frame_mask/{spec.id}.npy"]
        if spec.label:
            files += [f"annotations/test_pixel_mask/{spec.id}.npz",
                      f"annotations/tracks/{spec.id}_tracks.txt",
                      f"annotations/tracks/{spec.id}_track_boxes.npz"]
    return files


def dataset_files(cfg: SynthConfig) -> list[str]:
    """Every file of a complete dataset (relative to the root)."""
    files = ["meta.json", *(f"splits/{s}.txt" for s in SPLITS),
             "annotations/temporal_annotations.txt", "annotations/boxes_liu_ma.pkl"]
    for spec in video_specs(cfg):
        files += video_files(spec)
    return files


# ------------------------------------------------------------------------------------------------
# One video
# ------------------------------------------------------------------------------------------------

def encode_mp4(frames: np.ndarray, path: str | os.PathLike, fps: int, crf: int = 24,
               preset: str = "superfast") -> None:
    """Encode ``frames`` (T, H, W, 3) uint8 RGB as H.264 yuv420p MP4 at ``path`` (atomically);
    see :func:`stprompt.datasets.video.write_video` (one encoder thread, reproducible bytes)."""
    write_video(frames, path, fps, crf=crf, preset=preset)


def video_record(cfg: SynthConfig, spec: VideoSpec, gt: GroundTruth) -> dict:
    """What the dataset-level files need to know about one video."""
    segments = gt.segments
    liu_ma = []
    if spec.label:
        for t in range(0, len(gt.labels), 16):
            if gt.labels[t]:
                x1, y1, x2, y2 = (int(v) for v in gt.boxes[t])
                liu_ma.append([f"{spec.id}/{t:06d}.jpg", x1, y1, x2, y2])
    return {"id": spec.id, "split": spec.split, "label": spec.label, "class": spec.cls,
            "n_frames": int(len(gt.labels)), "path": f"videos/{spec.rel_path}",
            "anomaly_area_frac": gt.mean_area_frac(cfg.frame_area),
            "segments": [list(s) for s in segments], "liu_ma": liu_ma}


def write_annotations(root: Path, spec: VideoSpec, gt: GroundTruth) -> None:
    """Per-video annotation files (val/test only)."""
    if not annotated(spec):
        return
    ann = root / "annotations"
    with atomic_path(ann / "boxes" / f"{spec.id}.npy") as tmp:
        np.save(tmp, gt.boxes.astype(np.float32))
    with atomic_path(ann / "test_frame_mask" / f"{spec.id}.npy") as tmp:
        np.save(tmp, gt.labels.astype(np.uint8))
    if not spec.label:
        return
    with atomic_path(ann / "test_pixel_mask" / f"{spec.id}.npz") as tmp:
        np.savez_compressed(tmp, mask=gt.masks.astype(np.uint8))
    lines = []
    for oid, boxes in zip(gt.track_ids, gt.track_boxes):
        present = np.flatnonzero(~np.isnan(boxes[:, 0]))
        lines.append(f"{int(oid)},{int(present[0])},{int(present[-1])}")
    write_text(ann / "tracks" / f"{spec.id}_tracks.txt", "\n".join(lines) + "\n")
    with atomic_path(ann / "tracks" / f"{spec.id}_track_boxes.npz") as tmp:
        np.savez_compressed(tmp, ids=gt.track_ids.astype(np.int64),
                            boxes=gt.track_boxes.astype(np.float32))


def render_and_write(cfg: SynthConfig, spec: VideoSpec, root: str) -> dict:
    """Render one video, write its MP4 and annotation files; return its record (worker entry)."""
    root = Path(root)
    frames, gt = render_video(cfg, spec, with_masks=annotated(spec) and spec.label == 1)
    if spec.label and not gt.labels.any():
        raise RuntimeError(f"{spec.id}: the anomaly never shows in the video (a generator bug)")
    write_annotations(root, spec, gt)
    encode_mp4(frames, root / "videos" / spec.rel_path, cfg.fps, cfg.crf, cfg.preset)
    return video_record(cfg, spec, gt)


def record_without_pixels(cfg: SynthConfig, spec: VideoSpec) -> dict:
    """The record of a video already on disk, recomputed from its seed without rendering."""
    return video_record(cfg, spec, ground_truth(simulate(cfg, spec, textures=False)))


# ------------------------------------------------------------------------------------------------
# Dataset
# ------------------------------------------------------------------------------------------------

def _class_title(cls: str) -> str:
    return "Normal" if cls == NORMAL else cls


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return True


def _write_json_if_changed(path: Path, obj) -> bool:
    """Like :func:`stprompt.io.write_json`, but leaves an identical file untouched (resumed runs
    rewrite nothing that did not change)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    return _write_if_changed(path, text.encode())


def _meta(cfg: SynthConfig, chash: str, records: list[dict]) -> dict:
    keys = ("id", "split", "label", "class", "n_frames", "path", "anomaly_area_frac")
    return {"generator": "synthvad", "version": __version__, "config": to_dict(cfg),
            "config_hash": chash, "classes": [NORMAL, *cfg.classes], "fps": cfg.fps,
            "width": cfg.width, "height": cfg.height, "snippet_len": cfg.snippet_len,
            "videos": [{k: r[k] for k in keys} for r in records]}


def _write_dataset_files(root: Path, cfg: SynthConfig, chash: str, specs: list[VideoSpec],
                         records: dict[str, dict]) -> dict:
    ordered = [records[s.id] for s in specs]
    for split in SPLITS:
        lines = [s.rel_path for s in specs if s.split == split]
        _write_if_changed(root / "splits" / f"{split}.txt", "".join(f"{x}\n" for x in lines).encode())
    lines, boxes = [], {}
    for spec, rec in zip(specs, ordered):
        if not annotated(spec):
            continue
        segs = rec["segments"]
        if len(segs) > 2:  # the format holds two intervals; never happens with the built-in classes
            segs = [segs[0], [segs[1][0], segs[-1][1]]]
        flat = [v for s in segs for v in s] + [-1] * (4 - 2 * len(segs))
        lines.append("  ".join([f"{spec.id}.mp4", _class_title(spec.cls), *map(str, flat)]))
        if spec.label:
            boxes[spec.id] = rec["liu_ma"]
    _write_if_changed(root / "annotations" / "temporal_annotations.txt",
                      "".join(f"{x}\n" for x in lines).encode())
    _write_if_changed(root / "annotations" / "boxes_liu_ma.pkl", pickle.dumps(boxes, protocol=4))
    meta = _meta(cfg, chash, ordered)
    _write_json_if_changed(root / "meta.json", meta)
    return json.loads(json.dumps(meta, default=_json_default))


def _remove_unexpected(root: Path, expected: set[str]) -> int:
    removed = 0
    for sub in MANAGED_DIRS:
        folder = root / sub
        if not folder.is_dir():
            continue
        for p in folder.rglob("*"):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and p.suffix in MANAGED_SUFFIXES and rel not in expected:
                p.unlink()
                removed += 1
    return removed


def is_complete(cfg: SynthConfig, root: str | os.PathLike) -> bool:
    """True when ``root`` holds a finished dataset of exactly ``cfg``."""
    root = resolve(root)
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        return False
    try:
        meta = read_json(meta_path)
    except ValueError:
        return False
    if meta.get("config_hash") != world_hash(cfg):
        return False
    return all((root / f).is_file() for f in dataset_files(cfg))


def _mp_context():
    # spawn: safe under threaded parents (Jupyter kernels with torch loaded). It must re-import the
    # parent's main module, impossible for a script read from stdin: fork there.
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file is not None and not os.path.isfile(main_file):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def generate(cfg: SynthConfig, root: str | os.PathLike, progress: bool = True, workers: int = 1) -> dict:
    """Generate (or complete) the SynthVAD dataset of ``cfg`` under ``root``; return ``meta.json``'s
    content. Deterministic whatever ``workers`` (each video depends only on ``(cfg.seed, id)``).

    ``workers`` > 1 renders videos in that many processes (spawned, so safe from threaded
    parents such as Jupyter kernels with torch loaded)."""
    root = resolve(root)
    chash = world_hash(cfg)
    if is_complete(cfg, root):
        return read_json(root / "meta.json")
    root.mkdir(parents=True, exist_ok=True)
    specs = video_specs(cfg)
    meta_path, rec_path = root / "meta.json", root / RECORDS
    # Files on disk are trusted only if they provably come from this config: listed in the records
    # of this config hash, or covered by a finished meta.json of this hash.
    trusted_by_meta = False
    if meta_path.is_file():
        try:
            trusted_by_meta = read_json(meta_path).get("config_hash") == chash
        except ValueError:
            pass
        if not trusted_by_meta:
            meta_path.unlink()  # a dataset of another config is being replaced: not complete now
    records: dict[str, dict] = {}
    if rec_path.is_file():
        try:
            saved = read_json(rec_path)
        except ValueError:
            saved = {}
        if saved.get("config_hash") == chash:
            records = saved.get("records", {})
    _write_json_if_changed(rec_path, {"config_hash": chash, "records": records})
    todo = []
    for spec in specs:
        present = all((root / f).is_file() for f in video_files(spec))
        if present and spec.id not in records and trusted_by_meta:
            records[spec.id] = record_without_pixels(cfg, spec)
        if not (present and spec.id in records):
            records.pop(spec.id, None)
            todo.append(spec)

    bar = None
    if progress and todo:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc=f"SynthVAD {root.name}", unit="video")
    last_save = time.monotonic()

    def done(rec: dict) -> None:
        nonlocal last_save
        records[rec["id"]] = rec
        if bar is not None:
            bar.update(1)
        if time.monotonic() - last_save > 2.0:
            write_json(rec_path, {"config_hash": chash, "records": records})
            last_save = time.monotonic()

    try:
        if workers > 1 and len(todo) > 1:
            ctx = _mp_context()
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = [pool.submit(render_and_write, cfg, spec, str(root)) for spec in todo]
                for fut in cf.as_completed(futures):
                    done(fut.result())
        else:
            for spec in todo:
                done(render_and_write(cfg, spec, str(root)))
    finally:
        _write_json_if_changed(rec_path, {"config_hash": chash, "records": records})
        if bar is not None:
            bar.close()
    expected = set(dataset_files(cfg))
    _remove_unexpected(root, expected)
    return _write_dataset_files(root, cfg, chash, specs, records)

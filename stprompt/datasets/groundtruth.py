"""Ground truth read on demand from each dataset's own files: pixel masks, object tracks and their
boxes, and the dense per-frame box of a record.

A :class:`~stprompt.datasets.records.VideoRecord` names its ground-truth files; the readers of
those formats live with their datasets (UBnormal id-mask folders in :mod:`.ubnormal`, SynthVAD
track-box files in :mod:`.synthvad`). This module sits above the readers, so that the record type
(:mod:`.records`) needs none of them.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .records import (DatasetError, VideoRecord, has_tracks, iter_mask_frames, mask_file_shape, read_mask_file,
                      tracks_from_pixel_mask)
from .synthvad import read_track_boxes_file
from .ubnormal import read_pixel_mask_from_id_masks, read_track_boxes_from_id_masks


def load_pixel_mask(record: VideoRecord, frames: Sequence[int] | None = None) -> np.ndarray:
    """The ``(n_frames, H, W)`` uint8 0/1 pixel mask of ``record`` (zeros for a normal video
    without a mask file); with ``frames``, only those frames ``(len(frames), H, W)`` (a ``.npy``
    mask is memory-mapped, so only they are read)."""
    idx = np.arange(record.n_frames) if frames is None else np.asarray(frames, dtype=np.int64)
    if record.pixel_mask_path is None:
        if record.label == 0 and record.width and record.height:
            return np.zeros((len(idx), record.height, record.width), dtype=np.uint8)
        raise DatasetError(f"video '{record.id}' ({record.split} split): no pixel mask")
    if record.pixel_mask_path.is_dir():
        return read_pixel_mask_from_id_masks(record, idx)
    path = record.pixel_mask_path
    shape = mask_file_shape(path)
    if len(shape) != 3 or shape[0] != record.n_frames or (
            record.height and record.width and shape[1:] != (record.height, record.width)):
        raise DatasetError(f"video '{record.id}': pixel mask {path} has shape {shape}, expected "
                           f"({record.n_frames}, {record.height}, {record.width})")
    mask = np.load(path, mmap_mode="r", allow_pickle=False) if path.suffix == ".npy" \
        else read_mask_file(path)
    return (np.asarray(mask[idx]) > 0).astype(np.uint8)


def load_track_boxes(record: VideoRecord) -> np.ndarray:
    """The ``(K, n_frames, 4)`` boxes of the record's tracks, NaN where an object is absent;
    read on first use from ``track_boxes_path`` (or derived from the pixel mask, with the tracks,
    when ``regions_from_pixel_mask``) and kept on the record."""
    if record.track_boxes is not None:
        return record.track_boxes
    if record.regions_from_pixel_mask and record.tracks is None:
        if record.pixel_mask_path is None:
            raise DatasetError(f"video '{record.id}': regions from the pixel mask, but it has none")
        record.tracks, boxes = tracks_from_pixel_mask(iter_mask_frames(record), record.n_frames)
        record.track_boxes = boxes
        return boxes
    if not record.tracks:
        return np.full((0, record.n_frames, 4), np.nan, dtype=np.float32)
    if record.track_boxes_path is None:
        raise DatasetError(f"video '{record.id}': has tracks but no per-frame track boxes")
    if record.track_boxes_path.is_dir():
        boxes = read_track_boxes_from_id_masks(record)
    else:
        boxes = read_track_boxes_file(record.track_boxes_path, record)
    record.track_boxes = boxes
    return boxes


def frame_boxes(record: VideoRecord) -> np.ndarray:
    """A dense ``(n_frames, 4)`` box array: ``boxes`` if the record has them, else the sparse
    boxes at their frames, else the union box of the tracks per frame; NaN rows where none."""
    if record.boxes is not None:
        return record.boxes
    out = np.full((record.n_frames, 4), np.nan, dtype=np.float32)
    if record.sparse_boxes:
        for f, box in record.sparse_boxes.items():
            out[f] = box
        return out
    if has_tracks(record):
        tb = load_track_boxes(record)
        if not len(tb):
            return out
        present = ~np.isnan(tb).any(axis=2)  # (K, n)
        any_present = present.any(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames stay NaN
            out[:, 0] = np.nanmin(tb[:, :, 0], axis=0)
            out[:, 1] = np.nanmin(tb[:, :, 1], axis=0)
            out[:, 2] = np.nanmax(tb[:, :, 2], axis=0)
            out[:, 3] = np.nanmax(tb[:, :, 3], axis=0)
        out[~any_present] = np.nan
    return out

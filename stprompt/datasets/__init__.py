"""Dataset readers: SynthVAD, UCF-Crime, ShanghaiTech, UBnormal and VadCLIP feature lists, each
returning a list of :class:`VideoRecord` (one record type, ground truth per video).

``load_dataset(name, root, split)`` dispatches by name; each reader's module docstring documents
the folder layout it expects. Videos that are missing or unreadable are skipped with a
:class:`DatasetWarning` listing them (``strict=True`` raises instead); malformed annotations, boxes
outside the frame and length mismatches raise :class:`DatasetError` naming the file, line or video.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .records import (SNIPPET_LEN, DatasetError, DatasetWarning, VideoRecord, accepted_lengths,
                      check_feature_length, check_length, frame_boxes, frame_labels,
                      load_pixel_mask, load_track_boxes, snippet_count, summary_table)
from .shanghaitech import read_shanghaitech
from .synthvad import read_synthvad
from .ubnormal import read_ubnormal
from .ucf_crime import read_ucf_crime
from .vadclip_csv import read_vadclip_csv
from .video import VideoInfo, VideoReadError, iter_frames, probe_video, read_frames

READERS: dict[str, Callable[..., list[VideoRecord]]] = {
    "synthvad": read_synthvad,
    "ucf_crime": read_ucf_crime,
    "shanghaitech": read_shanghaitech,
    "ubnormal": read_ubnormal,
    "vadclip_csv": read_vadclip_csv,
}


def load_dataset(name: str, root: str | Path, split: str, **options) -> list[VideoRecord]:
    """Read one split of dataset ``name`` from ``root`` (relative paths are taken from the
    repository root). ``options`` go to the reader (``strict``, file names; see each reader).

    For ``vadclip_csv``, ``root`` is the CSV file, or a folder holding ``<split>.csv``.
    """
    if name not in READERS:
        raise DatasetError(f"unknown dataset '{name}'; known: {', '.join(READERS)}")
    if name == "vadclip_csv" and not str(root).endswith(".csv"):
        root = Path(root) / f"{split}.csv"
    return READERS[name](root, split, **options)


__all__ = [
    "READERS", "SNIPPET_LEN", "DatasetError", "DatasetWarning", "VideoInfo", "VideoReadError",
    "VideoRecord", "accepted_lengths", "check_feature_length", "check_length", "frame_boxes",
    "frame_labels", "iter_frames", "load_dataset", "load_pixel_mask", "load_track_boxes",
    "probe_video", "read_frames", "read_shanghaitech", "read_synthvad", "read_ubnormal",
    "read_ucf_crime", "read_vadclip_csv", "snippet_count", "summary_table",
]

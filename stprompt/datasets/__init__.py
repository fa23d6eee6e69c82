"""Dataset readers: SynthVAD, UCF-Crime, ShanghaiTech, UBnormal and VadCLIP feature lists, each
returning a list of :class:`VideoRecord` (one record type, ground truth per video).

``load_dataset(name, root, split, reader)`` dispatches by name and is the one way every notebook,
``stprompt extract`` and the ablation variants read a dataset; ``reader`` is the profile's
``reader:`` block, the reader's options (:data:`READER_OPTIONS`: one dataclass per dataset, so an
unknown or mistyped option is an error naming it). Each reader's module docstring documents the
folder layout it expects, as the official downloads are. Videos that are missing or unreadable are skipped with a
:class:`DatasetWarning` listing them (``strict=True`` raises instead); malformed annotations, boxes
outside the frame and length mismatches raise :class:`DatasetError` naming the file, line or video.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping

from .groundtruth import frame_boxes, load_pixel_mask, load_track_boxes
from .records import (SNIPPET_LEN, DatasetError, DatasetWarning, VideoRecord, accepted_lengths,
                      check_feature_length, check_length, frame_labels, snippet_count, summary_table)
from .shanghaitech import ShanghaiTechOptions, read_shanghaitech
from .synthvad import SynthVADOptions, read_synthvad
from .ubnormal import UBnormalOptions, read_ubnormal
from .ucf_crime import UCFCrimeOptions, read_ucf_crime
from .vadclip_csv import VadCLIPCSVOptions, read_vadclip_csv
from .video import VideoInfo, VideoReadError, iter_frames, probe_video, read_frames

READERS: dict[str, Callable[..., list[VideoRecord]]] = {
    "synthvad": read_synthvad,
    "ucf_crime": read_ucf_crime,
    "shanghaitech": read_shanghaitech,
    "ubnormal": read_ubnormal,
    "vadclip_csv": read_vadclip_csv,
}


#: The options each reader takes (the profile's ``reader:`` block), one dataclass per dataset.
READER_OPTIONS: dict[str, type] = {
    "synthvad": SynthVADOptions,
    "ucf_crime": UCFCrimeOptions,
    "shanghaitech": ShanghaiTechOptions,
    "ubnormal": UBnormalOptions,
    "vadclip_csv": VadCLIPCSVOptions,
}


def reader_options(name: str, reader: Mapping[str, Any] | None = None,
                   source: str = "reader options") -> Any:
    """The options dataclass of dataset ``name`` filled from ``reader`` (a profile's ``reader:``
    block), every key and type checked: an unknown key or a wrong type is a
    :class:`stprompt.schema.ConfigError` naming ``source`` and the key."""
    from ..schema import from_dict

    if name not in READER_OPTIONS:
        raise DatasetError(f"unknown dataset '{name}'; known: {', '.join(READERS)}")
    return from_dict(READER_OPTIONS[name], dict(reader or {}), source=source)


def load_dataset(name: str, root: str | Path, split: str, reader: Mapping[str, Any] | None = None,
                 **options) -> list[VideoRecord]:
    """Read one split of dataset ``name`` from ``root`` (relative paths are taken from the
    repository root) with the reader options ``reader`` (the profile's ``reader:`` block) and
    ``options`` (the same keys, for one call), checked by :func:`reader_options`.

    An option that is declared for some splits only (``metadata={"splits": ...}``, e.g. UCF-Crime's
    ``boxes_file``, test ground truth) is not passed when another split is read: one block serves
    every split. For ``vadclip_csv``, ``root`` is the CSV file or its folder.
    """
    if name not in READERS:
        raise DatasetError(f"unknown dataset '{name}'; known: {', '.join(READERS)}")
    merged = {**dict(reader or {}), **options}
    reader_options(name, merged)  # unknown keys and types, before anything is read
    scoped = {f.name: f.metadata["splits"] for f in dataclasses.fields(READER_OPTIONS[name])
              if "splits" in f.metadata}
    merged = {k: v for k, v in merged.items() if k not in scoped or split in scoped[k]}
    return READERS[name](root, split, **merged)


def describe_reader(name: str, reader: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every option of dataset ``name``'s reader with the value ``reader`` gives it (defaults
    filled in), as plain data: what a results page states (e.g. the frame convention)."""
    from ..schema import to_dict

    return to_dict(reader_options(name, reader))


__all__ = [
    "READERS", "READER_OPTIONS", "SNIPPET_LEN", "describe_reader", "reader_options", "DatasetError", "DatasetWarning", "VideoInfo", "VideoReadError",
    "VideoRecord", "accepted_lengths", "check_feature_length", "check_length", "frame_boxes",
    "frame_labels", "iter_frames", "load_dataset", "load_pixel_mask", "load_track_boxes",
    "probe_video", "read_frames", "read_shanghaitech", "read_synthvad", "read_ubnormal",
    "read_ucf_crime", "read_vadclip_csv", "snippet_count", "summary_table",
]

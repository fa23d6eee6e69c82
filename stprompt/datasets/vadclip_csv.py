"""VadCLIP-style feature lists (Wu et al., AAAI 2024; ``nwpu-zxr/VadCLIP`` ``list/*.csv``), so
that the released CLIP frame features can be used without the videos (patch stream off).

Expected format: a CSV with header ``path,label``; ``path`` is a ``.npy`` feature of one video,
either ``(T, 512)`` (one crop) or ``(C, T, 512)`` (C crops stacked); ``label`` is the class name,
``Normal`` for normal videos. Released lists give one row per crop, the crop index as a
``__<k>`` suffix of the file name (``Abuse001_x264__0.npy`` ... ``__9.npy``); rows of one video are
grouped into one record whose ``extra["feature_paths"]`` lists the crops in order. ``path`` is the
crop-0 file (or the stacked file).

Files under their release names (VadCLIP's ``list/`` folder): ``load_dataset("vadclip_csv",
<folder>, split)`` reads ``<split>.csv`` or, as released, ``ucf_CLIP_rgb.csv`` (train, 10 crop rows
per video, CRLF) / ``ucf_CLIP_rgbtest.csv`` (test, crop ``__5`` only) and the ``xd_`` analogues, in
the folder or its ``list/``. The test split's temporal annotation is ``annotation_file``, or
``Temporal_Anomaly_Annotation.txt`` next to the CSV (VadCLIP's copy: names without ``.mp4``).

Released lists hold absolute paths of the authors' machines; they are never opened as they are:
a path is looked up as ``<feature_root>/<class folder>/<file>`` and then ``<feature_root>/<file>``
(``feature_root`` defaults to the CSV's folder). A relative path is taken under the CSV's folder
or ``feature_root`` and must not climb out of it (``..``): an error names the line.

Records: ``n_frames = T · 16`` (each feature row is one 16-frame snippet; the videos' own lengths
are not known from features), ``fps`` as given, no frame size. Test records carry segments
converted with ``frame_convention`` (:func:`stprompt.datasets.records.convert_segment`; VadCLIP's
own protocol is ``"vadclip"``, the default is the dataset authors' ``"sultani"``), clipped to
``n_frames``.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path
from typing import Literal

import numpy as np

from ..io import resolve
from .records import (SNIPPET_LEN, DatasetError, VideoRecord, check_video_id, convert_segment,
                      finish_split)
from .ucf_crime import TEMPORAL_FILES, find_file, inside_root, parse_temporal_annotations, video_id_of

#: Release names of the feature lists, per split (VadCLIP ``list/``).
CSV_NAMES = {"train": ("train.csv", "ucf_CLIP_rgb.csv", "xd_CLIP_rgb.csv"),
             "test": ("test.csv", "ucf_CLIP_rgbtest.csv", "xd_CLIP_rgbtest.csv")}


@dataclasses.dataclass
class VadCLIPCSVOptions:
    """Reader options of VadCLIP feature lists (module docstring). Paths are relative to the
    folder given to the reader (the CSV's folder when a CSV file is given)."""

    feature_root: str = ""  # folder of the .npy features (default: the CSV's folder)
    annotation_file: str = ""  # temporal annotations for the test split (default: found next to the CSV)
    frame_convention: Literal["sultani", "vadclip"] = "sultani"  # how temporal segments count frames
    snippet_len: int = SNIPPET_LEN  # frames per feature row
    fps: float = 30.0  # frame rate of the videos (UCF-Crime: 30)
    strict: bool = False  # a missing feature file is an error instead of a warning


def find_csv(root: Path, split: str) -> Path:
    """The split's CSV in ``root`` (a folder) under one of :data:`CSV_NAMES`, or ``root`` itself
    when it is a ``.csv`` file."""
    if root.suffix == ".csv":
        return root
    found = find_file(root, (".", "list"), CSV_NAMES.get(split, (f"{split}.csv",)))
    if found is None:
        raise DatasetError(f"{root}: no feature list for the {split} split; expected one of "
                           f"{', '.join(CSV_NAMES.get(split, (f'{split}.csv',)))} in it or its list/")
    return found


_CROP_SUFFIX = re.compile(r"^(?P<video>.+)__(?P<crop>\d+)$")


def feature_shape(path: Path) -> tuple[int, ...]:
    try:
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable .npy feature ({exc})") from exc


def _locate(raw: str, csv_path: Path, feature_root: Path, where: str) -> Path | None:
    p = Path(raw.replace("\\", "/"))
    if p.is_absolute() or re.match(r"^[A-Za-z]:", raw):  # the authors' machine: remapped, never opened
        candidates = []
    else:
        rel = inside_root(raw, where)
        candidates = [csv_path.parent / rel, feature_root / rel]
    if p.name not in ("", ".", ".."):  # remapped as <class folder>/<file>, never climbing out
        folder = p.parent.name if p.parent.name not in ("", ".", "..") else None
        candidates += ([feature_root / folder / p.name] if folder else []) + [feature_root / p.name]
    return next((c for c in candidates if c.is_file()), None)


def read_vadclip_csv(csv_path: str | Path, split: str = "test", **options) -> list[VideoRecord]:
    """Read a VadCLIP feature CSV (or the split's CSV of a folder, :func:`find_csv`) into records
    whose ``path`` is the feature file; ``options`` are the fields of :class:`VadCLIPCSVOptions`."""
    from ..schema import from_dict

    opts = from_dict(VadCLIPCSVOptions, options, source="vadclip_csv reader options")
    given = resolve(csv_path)
    csv_path = find_csv(given, split)
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: feature list not found")
    base = given if given.is_dir() else csv_path.parent  # option paths are relative to it
    froot = base / opts.feature_root \
        if opts.feature_root else csv_path.parent
    snippet_len, fps, strict = opts.snippet_len, opts.fps, opts.strict
    groups: dict[str, dict] = {}
    with open(csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or [c.strip() for c in rows[0][:2]] != ["path", "label"]:
        raise DatasetError(f"{csv_path}:1: expected the header 'path,label', got "
                           f"{','.join(rows[0]) if rows else 'an empty file'!r}")
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != 2:
            raise DatasetError(f"{csv_path}:{lineno}: expected 2 fields 'path,label', got "
                               f"{len(row)}: {','.join(row)!r}")
        raw, cls = row[0].strip(), row[1].strip()
        stem = video_id_of(raw)
        m = _CROP_SUFFIX.match(stem)
        vid, crop = (m["video"], int(m["crop"])) if m else (stem, 0)
        check_video_id(vid, f"{csv_path}:{lineno}")
        g = groups.setdefault(vid, {"class": cls, "crops": {}, "line": lineno})
        if g["class"] != cls:
            raise DatasetError(f"{csv_path}:{lineno}: video '{vid}' has label '{cls}' but line "
                               f"{g['line']} gives '{g['class']}'")
        if crop in g["crops"]:
            raise DatasetError(f"{csv_path}:{lineno}: crop {crop} of video '{vid}' is listed twice")
        g["crops"][crop] = (raw, lineno)
    if not groups:
        raise DatasetError(f"{csv_path}: the list names no features (empty split)")

    annotations = None
    if opts.annotation_file:
        ann_path = base / opts.annotation_file
    else:
        ann_path = find_file(csv_path.parent, (".",), TEMPORAL_FILES) if split == "test" else None
    if ann_path is not None:
        annotations = parse_temporal_annotations(ann_path)

    records, skipped = [], []
    for vid, g in groups.items():
        paths, missing = [], None
        for crop in sorted(g["crops"]):
            raw, lineno = g["crops"][crop]
            found = _locate(raw, csv_path, froot, f"{csv_path}:{lineno}")
            if found is None:
                missing = raw
                break
            paths.append(found)
        if missing is not None:
            skipped.append((vid, f"feature file not found: {missing} (also looked under {froot})"))
            continue
        shapes = [feature_shape(p) for p in paths]
        lengths = {s[-2] if len(s) in (2, 3) else None for s in shapes}
        if None in lengths or len(lengths) != 1:
            raise DatasetError(f"video '{vid}' ({csv_path}:{g['line']}): expected crop features of "
                               f"shape (T, D) or (C, T, D) with one T, got "
                               f"{', '.join(f'{p.name} {s}' for p, s in zip(paths, shapes))}")
        n_frames = lengths.pop() * snippet_len
        normal = g["class"].lower() == "normal"
        segments = None
        if annotations is not None:
            ann = annotations.get(vid)
            if ann is None:
                raise DatasetError(f"video '{vid}' ({csv_path}:{g['line']}) has no line in the "
                                   f"temporal annotations {ann_path}")
            segments = [convert_segment(s, e, n_frames, opts.frame_convention, vid,
                                        f"{ann_path}:{ann.line}", tolerance=snippet_len)
                        for s, e in ann.segments]
        records.append(VideoRecord(
            id=vid, path=paths[0], n_frames=n_frames, fps=fps, label=0 if normal else 1,
            class_name="normal" if normal else g["class"], split=split, segments=segments,
            extra={"feature_paths": paths, "snippet_len": snippet_len,
                   **({"frame_convention": opts.frame_convention} if segments is not None else {})}))
    return finish_split(records, skipped, str(csv_path), strict)

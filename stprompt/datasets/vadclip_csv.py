"""VadCLIP-style feature lists (Wu et al., AAAI 2024; ``nwpu-zxr/VadCLIP`` ``list/*.csv``), so
that the released CLIP frame features can be used without the videos (patch stream off).

Expected format: a CSV with header ``path,label``; ``path`` is a ``.npy`` feature of one video,
either ``(T, 512)`` (one crop) or ``(C, T, 512)`` (C crops stacked); ``label`` is the class name,
``Normal`` for normal videos. Released lists give one row per crop, the crop index as a
``__<k>`` suffix of the file name (``Abuse001_x264__0.npy`` ... ``__9.npy``); rows of one video are
grouped into one record whose ``extra["feature_paths"]`` lists the crops in order. ``path`` is the
crop-0 file (or the stacked file).

Released lists hold absolute paths of the authors' machines: a path that does not exist is looked
up as ``<feature_root>/<class folder>/<file>`` and then ``<feature_root>/<file>``
(``feature_root`` defaults to the CSV's folder).

Records: ``n_frames = T · 16`` (each feature row is one 16-frame snippet; the videos' own lengths
are not known from features), ``fps`` as given, no frame size. With ``annotation_file`` (the
UCF-Crime temporal annotation format) test records carry segments, clipped to ``n_frames``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ..io import resolve
from .records import SNIPPET_LEN, DatasetError, VideoRecord, finish_split, fit_segments
from .ucf_crime import parse_temporal_annotations, video_id_of

_CROP_SUFFIX = re.compile(r"^(?P<video>.+)__(?P<crop>\d+)$")


def feature_shape(path: Path) -> tuple[int, ...]:
    try:
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable .npy feature ({exc})") from exc


def _locate(raw: str, csv_path: Path, feature_root: Path) -> Path | None:
    p = Path(raw.replace("\\", "/"))
    candidates = [p] if p.is_absolute() else [csv_path.parent / p, feature_root / p]
    candidates += [feature_root / p.parent.name / p.name, feature_root / p.name]
    return next((c for c in candidates if c.is_file()), None)


def read_vadclip_csv(csv_path: str | Path, split: str = "test", *,
                     feature_root: str | Path | None = None,
                     annotation_file: str | Path | None = None,
                     snippet_len: int = SNIPPET_LEN, fps: float = 30.0,
                     strict: bool = False) -> list[VideoRecord]:
    """Read a VadCLIP feature CSV into records whose ``path`` is the feature file."""
    csv_path = resolve(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: feature list not found")
    froot = resolve(feature_root) if feature_root is not None else csv_path.parent
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
        g = groups.setdefault(vid, {"class": cls, "crops": {}, "line": lineno})
        if g["class"] != cls:
            raise DatasetError(f"{csv_path}:{lineno}: video '{vid}' has label '{cls}' but line "
                               f"{g['line']} gives '{g['class']}'")
        if crop in g["crops"]:
            raise DatasetError(f"{csv_path}:{lineno}: crop {crop} of video '{vid}' is listed twice")
        g["crops"][crop] = raw
    if not groups:
        raise DatasetError(f"{csv_path}: the list names no features (empty split)")

    annotations = None
    ann_path = resolve(annotation_file) if annotation_file is not None else None
    if ann_path is not None:
        annotations = parse_temporal_annotations(ann_path)

    records, skipped = [], []
    for vid, g in groups.items():
        paths, missing = [], None
        for crop in sorted(g["crops"]):
            found = _locate(g["crops"][crop], csv_path, froot)
            if found is None:
                missing = g["crops"][crop]
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
            segments = fit_segments(ann.segments, n_frames, vid, f"{ann_path}:{ann.line}",
                                    tolerance=snippet_len)
        records.append(VideoRecord(
            id=vid, path=paths[0], n_frames=n_frames, fps=fps, label=0 if normal else 1,
            class_name="normal" if normal else g["class"], split=split, segments=segments,
            extra={"feature_paths": paths, "snippet_len": snippet_len}))
    return finish_split(records, skipped, str(csv_path), strict)

"""UBnormal (Acsintoae et al., CVPR 2022): open-set, virtual scenes, pixel-level annotations.

Expected layout (the official release; split files from its ``scripts/`` folder)::

    <root>/
      abnormal_training_video_names.txt    one video name per line; for each split (training |
      normal_training_video_names.txt      validation | test; "train"/"val" spellings accepted)
      abnormal_validation_video_names.txt  an abnormal and a normal list, in <root>/ or
      ...                                  <root>/scripts/
      Scene1/
        abnormal_scene_1_scenario_1.mp4
        abnormal_scene_1_scenario_1_annotations/
          abnormal_scene_1_scenario_1_tracks.txt       one anomalous object per line:
                                                       "object_id,start_frame,end_frame"
                                                       (0-based inclusive); a
                                                       *_new_tracks.txt beside it is preferred
          abnormal_scene_1_scenario_1_0000_gt.png      per-frame id mask: pixel value = object
          abnormal_scene_1_scenario_1_0001_gt.png      id (0 = background), for the frames of
          ...                                          the tracks
        normal_scene_1_scenario_1.mp4
      Scene2/ ...

The scene folder is ``Scene<k>`` with ``k`` the scene number of the name
(``abnormal_scene_8_scenario_1_fog`` → ``Scene8``). Anomalous videos get class ``"anomaly"``
(the anomaly types are not part of the split files). Validation and test records carry tracks,
their union as segments, and the annotation folder from which per-object boxes
(:func:`read_track_boxes_from_id_masks`) and pixel masks are read on demand: id masks are large
and many, and RBDC/TBDC need them only at evaluation. Training records carry only the label
(UBnormal annotates training anomalies too; weak supervision must not see them).

Boxes of an object are the bounding box of all its pixels (the official script takes the box of
its largest contour; the two differ only for objects split into pieces by occlusion).

Split lists (:file:`REAL_FORMATS.md` section 4): one name per line, no trailing newline, unsorted;
every name must match the release's pattern
``(abnormal|normal)_scene_<k>_scenario[_]<m>[_<n>][_fog|_smoke|_fire]`` (which also makes it a safe
file name) and the prefix of its list. Both lists of a split must exist and name at least one
video each: a missing or empty list is an error naming it. ``scripts/object_names_per_video.pkl``
(object class names, a pickle that needs numpy to load) is not read.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
from PIL import Image

from ..io import resolve
from .records import DatasetError, Track, VideoRecord, finish_split, integer_rows, merge_segments
from .video import VideoReadError, find_video, probe_video

SPLIT_NAMES = {"train": ("training", "train"), "val": ("validation", "val"), "test": ("test",)}
ANOMALY_CLASS = "anomaly"
VIDEO_NAME = re.compile(r"(abnormal|normal)_scene_(\d+)_scenario_?(\d+)(?:_(\d+))?(?:_(fog|smoke|fire))?")


@dataclasses.dataclass
class UBnormalOptions:
    """Reader options of UBnormal (the profile's ``reader:`` block)."""

    ground_truth: bool | None = None  # attach tracks and annotation folders; None: every split but train
    strict: bool = False  # a missing or unreadable video is an error instead of a warning
    exact_frames: bool = False  # count packets instead of trusting the container's frame count


def read_tracks(path: str | Path) -> list[Track]:
    """Parse a tracks file: one ``object_id,start,end`` line per object (0-based inclusive)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: tracks file not found")
    tracks = []
    # np.savetxt writes ids and frames as floats ("1.000000e+00"); they are integers
    for lineno, line, (obj, start, end) in integer_rows(path, "object_id,start_frame,end_frame"):
        if obj <= 0 or start < 0 or end < start:
            raise DatasetError(f"{path}:{lineno}: invalid track {line!r}: expected object_id > 0 "
                               f"(0 is the id masks' background) and 0 <= start <= end")
        tracks.append((obj, start, end))
    return tracks


def split_list_paths(root: Path, split: str) -> list[Path]:
    """The ``abnormal_<split>_video_names.txt`` and ``normal_<split>_video_names.txt`` files of a
    split (in ``root`` or ``root/scripts``); a missing one is an error naming where it was looked for."""
    if split not in SPLIT_NAMES:
        raise DatasetError(f"UBnormal has splits {', '.join(SPLIT_NAMES)}, not '{split}'")
    found = []
    for kind in ("abnormal", "normal"):
        candidates = [folder / f"{kind}_{name}_video_names.txt"
                      for name in SPLIT_NAMES[split] for folder in (root, root / "scripts")]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise DatasetError(f"{root}: no {kind}_{SPLIT_NAMES[split][0]}_video_names.txt for the "
                               f"'{split}' split (looked for {', '.join(str(c) for c in candidates)}); "
                               f"a split needs both its abnormal and its normal list")
        found.append(path)
    return found


def annotation_dir(video_path: Path, video: str) -> Path:
    return video_path.parent / f"{video}_annotations"


def tracks_path(ann_dir: Path, video: str) -> Path:
    corrected = ann_dir / f"{video}_new_tracks.txt"
    return corrected if corrected.is_file() else ann_dir / f"{video}_tracks.txt"


def id_mask_path(ann_dir: Path, video: str, frame: int) -> Path:
    return ann_dir / f"{video}_{frame:04d}_gt.png"


def read_id_mask(path: str | Path) -> np.ndarray:
    """An id mask as an ``(H, W)`` integer array (8-bit images are read as grey levels, like the
    official scripts' ``cv2.imread(path, 0)``)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: id mask not found")
    try:
        with Image.open(path) as im:
            if im.mode in ("I", "I;16", "I;16B", "L"):
                return np.asarray(im).astype(np.int32)
            return np.asarray(im.convert("L")).astype(np.int32)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read id mask ({exc})") from exc


def _frames_of_tracks(tracks: list[Track]) -> list[int]:
    return sorted({f for _, start, end in tracks for f in range(start, end + 1)})


def _iter_id_masks(record: VideoRecord, only: set[int] | None = None):
    ann_dir = record.track_boxes_path or record.pixel_mask_path
    for frame in _frames_of_tracks(record.tracks or []):
        if only is not None and frame not in only:
            continue
        path = id_mask_path(ann_dir, record.id, frame)
        mask = read_id_mask(path)
        if record.height and record.width and mask.shape != (record.height, record.width):
            raise DatasetError(f"{path}: id mask is {mask.shape[1]}x{mask.shape[0]} but video "
                               f"'{record.id}' is {record.width}x{record.height}")
        yield frame, mask


def read_track_boxes_from_id_masks(record: VideoRecord) -> np.ndarray:
    """``(K, n_frames, 4)`` boxes ``(x1, y1, x2, y2)`` (x2/y2 exclusive) of each track of
    ``record``, from its id masks; NaN outside a track's frames and where its id has no pixel
    (fully occluded)."""
    tracks = record.tracks or []
    boxes = np.full((len(tracks), record.n_frames, 4), np.nan, dtype=np.float32)
    for frame, mask in _iter_id_masks(record):
        for k, (obj, start, end) in enumerate(tracks):
            if start <= frame <= end:
                ys, xs = np.nonzero(mask == obj)
                if len(xs):
                    boxes[k, frame] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


def read_pixel_mask_from_id_masks(record: VideoRecord, frames=None) -> np.ndarray:
    """``(n_frames, H, W)`` uint8 0/1: the pixels of the record's tracked objects (with
    ``frames``, only those frames, in that order)."""
    if not (record.height and record.width):
        raise DatasetError(f"video '{record.id}': frame size unknown, cannot build a pixel mask")
    idx = np.arange(record.n_frames) if frames is None else np.asarray(frames, dtype=np.int64)
    out = np.zeros((len(idx), record.height, record.width), dtype=np.uint8)
    rows: dict[int, list[int]] = {}
    for i, f in enumerate(idx.tolist()):
        rows.setdefault(f, []).append(i)
    ids = [obj for obj, _, _ in record.tracks or []]
    for frame, mask in _iter_id_masks(record, set(rows)):
        out[rows[frame]] = np.isin(mask, ids)
    return out


def read_ubnormal(root: str | Path, split: str, **options) -> list[VideoRecord]:
    """Read the ``"train"``, ``"val"`` or ``"test"`` split (layout in the module docstring);
    ``options`` are the fields of :class:`UBnormalOptions`."""
    from ..schema import from_dict

    opts = from_dict(UBnormalOptions, options, source="ubnormal reader options")
    root = resolve(root)
    keep_gt = split != "train" if opts.ground_truth is None else opts.ground_truth
    records, skipped, sources = [], [], []
    for list_path in split_list_paths(root, split):
        label = 0 if list_path.name.startswith("normal_") else 1
        sources.append(str(list_path))
        names = 0
        for lineno, raw in enumerate(list_path.read_text().splitlines(), start=1):
            fields = raw.split()
            if not fields:
                continue
            if len(fields) != 1:
                raise DatasetError(f"{list_path}:{lineno}: expected one video name per line, "
                                   f"got {raw.strip()!r}")
            vid = fields[0]
            m = VIDEO_NAME.fullmatch(vid)
            if m is None:
                raise DatasetError(f"{list_path}:{lineno}: {vid!r} is not a UBnormal video name "
                                   f"('<abnormal|normal>_scene_<k>_scenario_<m>[_<n>][_fog|_smoke|_fire]')")
            if (m.group(1) == "abnormal") != bool(label):
                raise DatasetError(f"{list_path}:{lineno}: video '{vid}' does not belong in a "
                                   f"list of {'abnormal' if label else 'normal'} videos")
            names += 1
            scene = root / f"Scene{int(m.group(2))}"
            path = find_video(scene, vid)
            if path is None:
                skipped.append((vid, f"not found: {scene / (vid + '.mp4')}"))
                continue
            try:
                info = probe_video(path, exact=opts.exact_frames)
            except VideoReadError as exc:
                skipped.append((vid, str(exc)))
                continue
            tracks = segments = ann_dir = None
            if keep_gt and label == 1:
                ann_dir = annotation_dir(path, vid)
                tpath = tracks_path(ann_dir, vid)
                tracks = read_tracks(tpath)
                if not tracks:
                    raise DatasetError(f"{tpath}: anomalous video '{vid}' has no tracks")
                for obj, start, end in tracks:
                    if end >= info.n_frames:
                        raise DatasetError(f"{tpath}: track of object {obj} ends at frame {end} "
                                           f"but video '{vid}' has {info.n_frames} frames")
                segments = merge_segments((start, end) for _, start, end in tracks)
            elif keep_gt:
                segments = []
            records.append(VideoRecord(
                id=vid, path=path, n_frames=info.n_frames, fps=info.fps, label=label,
                class_name=ANOMALY_CLASS if label else "normal", split=split, segments=segments,
                tracks=tracks, track_boxes_path=ann_dir, pixel_mask_path=ann_dir,
                width=info.width, height=info.height))
        if not names:
            raise DatasetError(f"{list_path}: the list names no videos (empty list; the "
                               f"'{split}' split needs abnormal and normal videos)")
    return finish_split(records, skipped, " + ".join(sources), opts.strict)

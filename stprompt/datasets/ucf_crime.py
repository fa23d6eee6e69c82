"""UCF-Crime (Sultani et al., CVPR 2018) with Liu & Ma (2019) boxes.

Expected layout (the official download, lists next to the videos)::

    <root>/
      Anomaly_Train.txt       one video per line, relative to <root>:
                              "Abuse/Abuse028_x264.mp4",
                              "Training_Normal_Videos_Anomaly/Normal_Videos308_x264.mp4"
      Anomaly_Test.txt        "Arrest/Arrest001_x264.mp4",
                              "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4"
      Temporal_Anomaly_Annotation_for_Testing_Videos.txt
                              "Arrest001_x264.mp4  Arrest  1320  1700  -1  -1"
                              (whitespace-separated Name Class s1 e1 s2 e2; -1 = no second
                              segment; Class "Normal" and all -1 for normal videos)
      Abuse/Abuse028_x264.mp4 ...    the videos, at the listed paths; a video that is not at its
                                     listed path is looked up by file name anywhere under
                                     ``video_root`` (the download splits classes over
                                     "Anomaly-Videos-Part-1/..." folders)
      <boxes pickle>          optional, Liu & Ma boxes: {video: [[image_path, x1, y1, x2, y2], ...]}
                              for every 16th frame, in ``box_size`` = 320x240 coordinates; the frame
                              number is the last number in image_path's file name

Segment frames are read as 0-based inclusive (``one_based=True`` subtracts 1). Classes are the 13
folder names (:data:`CLASSES`); normal videos get class ``"normal"``. Train records carry only
their video-level label; test records carry segments (and sparse boxes, scaled to the decoded
frame size, when a boxes pickle is given).

The list and annotation parsers here are shared with SynthVAD, which writes the same formats.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path
from typing import Mapping

from ..io import resolve
from .records import (Box, DatasetError, VideoRecord, check_boxes, finish_split, fit_segments,
                      scale_boxes)
from .video import VideoReadError, probe_video

CLASSES = ("Abuse", "Arrest", "Arson", "Assault", "Burglary", "Explosion", "Fighting",
           "RoadAccidents", "Robbery", "Shooting", "Shoplifting", "Stealing", "Vandalism")
LIST_FILES = {"train": "Anomaly_Train.txt", "test": "Anomaly_Test.txt"}
TEMPORAL_FILE = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
LIU_MA_SIZE = (320, 240)  # (width, height) of the frames Liu & Ma annotated
NORMAL_FOLDERS = ("Training_Normal_Videos_Anomaly", "Testing_Normal_Videos_Anomaly",
                  "Normal_Videos_event", "normal", "Normal")


@dataclasses.dataclass(frozen=True)
class ListEntry:
    """One line of a video list: ``<folder>/<file>``; the folder names the class."""

    relpath: str
    video_id: str  # file name without extension
    class_name: str  # "normal" for normal videos
    label: int
    line: int


@dataclasses.dataclass(frozen=True)
class TemporalAnnotation:
    video_id: str
    class_name: str  # as written in the file ("Normal" for normal videos)
    segments: tuple[tuple[int, int], ...]
    line: int


def video_id_of(name: str) -> str:
    """``"Abuse/Abuse028_x264.mp4"`` → ``"Abuse028_x264"``."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def _class_key(name: str) -> str:
    # "RoadAccidents", "road_accidents" and "Road Accidents" name one class
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_video_list(path: str | Path) -> list[ListEntry]:
    """Parse a UCF-Crime style list (one ``<Class>/<video>`` path per line; blank lines ignored)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: video list not found")
    entries, seen = [], {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 1 or "/" not in fields[0].replace("\\", "/"):
            raise DatasetError(f"{path}:{lineno}: expected one path '<Class>/<video>.mp4' per "
                               f"line, got {line!r}")
        rel = fields[0].replace("\\", "/")
        folder = rel.split("/")[-2]
        vid = video_id_of(rel)
        normal = folder in NORMAL_FOLDERS or vid.startswith("Normal_Videos")
        if vid in seen:
            raise DatasetError(f"{path}:{lineno}: video '{vid}' is listed twice "
                               f"(first on line {seen[vid]})")
        seen[vid] = lineno
        entries.append(ListEntry(rel, vid, "normal" if normal else folder, 0 if normal else 1,
                                 lineno))
    if not entries:
        raise DatasetError(f"{path}: the list names no videos (empty split)")
    return entries


def parse_temporal_annotations(path: str | Path, one_based: bool = False
                               ) -> dict[str, TemporalAnnotation]:
    """Parse ``Name Class s1 e1 s2 e2`` lines (whitespace-separated, ``-1`` = no segment) into
    ``{video_id: TemporalAnnotation}`` with 0-based inclusive segments."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: temporal annotation file not found")
    out: dict[str, TemporalAnnotation] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 6:
            raise DatasetError(f"{path}:{lineno}: expected 6 whitespace-separated fields "
                               f"'Name Class s1 e1 s2 e2' (-1 = none), got {len(fields)}: {line!r}")
        name, cls, *nums = fields
        try:
            values = [int(v) for v in nums]
        except ValueError:
            raise DatasetError(f"{path}:{lineno}: expected integer frames in s1 e1 s2 e2 "
                               f"(-1 = none), got {' '.join(nums)!r}") from None
        segments = []
        for start, end in (values[0:2], values[2:4]):
            if start == -1 and end == -1:
                continue
            if start < 0 or end < 0 or end < start:
                raise DatasetError(f"{path}:{lineno}: invalid segment ({start}, {end}): expected "
                                   f"0 <= start <= end, or -1 -1 for none")
            shift = 1 if one_based else 0
            segments.append((start - shift, end - shift))
        vid = video_id_of(name)
        if vid in out:
            raise DatasetError(f"{path}:{lineno}: video '{vid}' is annotated twice "
                               f"(first on line {out[vid].line})")
        out[vid] = TemporalAnnotation(vid, cls, tuple(segments), lineno)
    return out


def read_liu_ma_boxes(path: str | Path, frame_base: int = 0) -> dict[str, dict[int, Box]]:
    """Read a Liu & Ma box pickle: ``{video: [[image_path, x1, y1, x2, y2], ...]}`` →
    ``{video_id: {frame: (x1, y1, x2, y2)}}`` in the pickle's own coordinates. The frame is the
    last number in ``image_path``'s file name, minus ``frame_base``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: box pickle not found")
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise DatasetError(f"{path}: not a readable pickle ({exc})") from exc
    if not isinstance(data, Mapping):
        raise DatasetError(f"{path}: expected a dict video -> list of "
                           f"[image_path, x1, y1, x2, y2], got {type(data).__name__}")
    out: dict[str, dict[int, Box]] = {}
    for video, rows in data.items():
        vid = video_id_of(str(video))
        boxes: dict[int, Box] = {}
        for i, row in enumerate(rows):
            if len(row) != 5:
                raise DatasetError(f"{path}: video '{vid}', entry {i}: expected "
                                   f"[image_path, x1, y1, x2, y2], got {list(row)!r}")
            numbers = re.findall(r"\d+", Path(str(row[0])).stem)
            if not numbers:
                raise DatasetError(f"{path}: video '{vid}', entry {i}: no frame number in image "
                                   f"path {row[0]!r}")
            boxes[int(numbers[-1]) - frame_base] = tuple(float(v) for v in row[1:5])
        out[vid] = boxes
    return out


class _VideoFinder:
    """Resolve list paths under a video root, falling back to a by-name index of the tree."""

    def __init__(self, video_root: Path):
        self.video_root = video_root
        self._index: dict[str, Path] | None = None

    def __call__(self, relpath: str) -> Path | None:
        direct = self.video_root / relpath
        if direct.exists():
            return direct
        if self._index is None:
            self._index = {}
            if self.video_root.is_dir():
                for p in sorted(self.video_root.rglob("*")):
                    if p.is_file():
                        self._index.setdefault(p.name, p)
        return self._index.get(Path(relpath).name)


def records_from_list(list_path: Path, split: str, video_root: Path, *,
                      annotations: Mapping[str, TemporalAnnotation] | None = None,
                      annotation_path: Path | None = None,
                      boxes: Mapping[str, Mapping[int, Box]] | None = None,
                      box_size: tuple[int, int] | None = None,
                      strict: bool = False, exact_frames: bool = False,
                      ) -> list[VideoRecord]:
    """Records for the videos of a UCF-Crime style list.

    With ``annotations`` every listed video needs a line there (its segments are attached, ends
    overshooting the video by < 16 frames clipped); ``boxes`` (sparse, in ``box_size``
    coordinates) are scaled to the decoded size and checked. Missing or unreadable videos are
    skipped with a warning (``strict=True``: an error).
    """
    entries = parse_video_list(list_path)
    find = _VideoFinder(video_root)
    records, skipped = [], []
    for entry in entries:
        where = f"{list_path}:{entry.line}"
        ann = None
        if annotations is not None:
            ann = annotations.get(entry.video_id)
            if ann is None:
                raise DatasetError(f"video '{entry.video_id}' ({where}) has no line in the "
                                   f"temporal annotations {annotation_path or ''}".rstrip())
            same_class = _class_key(ann.class_name) == _class_key(entry.class_name)
            if (ann.class_name.lower() == "normal") != (entry.label == 0) or (
                    entry.label == 1 and not same_class):
                raise DatasetError(f"{annotation_path}:{ann.line}: video '{entry.video_id}' has "
                                   f"class '{ann.class_name}' but {where} puts it in "
                                   f"'{entry.class_name}'")
            if entry.label == 0 and ann.segments:
                raise DatasetError(f"{annotation_path}:{ann.line}: normal video "
                                   f"'{entry.video_id}' has anomalous segments "
                                   f"{list(ann.segments)}")
        path = find(entry.relpath)
        if path is None:
            skipped.append((entry.video_id, f"not found: {video_root / entry.relpath}"))
            continue
        try:
            info = probe_video(path, exact=exact_frames)
        except VideoReadError as exc:
            skipped.append((entry.video_id, str(exc)))
            continue
        segments = None
        if ann is not None:
            segments = fit_segments(ann.segments, info.n_frames, entry.video_id,
                                    f"{annotation_path}:{ann.line}")
        sparse = None
        if boxes is not None and entry.video_id in boxes:
            sparse = dict(boxes[entry.video_id])
            if box_size is not None and box_size != (info.width, info.height):
                sparse = scale_boxes(sparse, box_size, (info.width, info.height))
            for frame in sparse:
                if not 0 <= frame < info.n_frames:
                    raise DatasetError(f"video '{entry.video_id}': box at frame {frame} is past "
                                       f"its {info.n_frames} frames")
            check_boxes(sparse, info.width, info.height, entry.video_id,
                        f"boxes scaled from {box_size[0]}x{box_size[1]}" if box_size else "")
        records.append(VideoRecord(
            id=entry.video_id, path=path, n_frames=info.n_frames, fps=info.fps, label=entry.label,
            class_name=entry.class_name, split=split, segments=segments, sparse_boxes=sparse,
            width=info.width, height=info.height))
    return finish_split(records, skipped, str(list_path), strict)


def read_ucf_crime(root: str | Path, split: str, *, video_root: str | Path | None = None,
                   annotation_file: str | Path | None = None, boxes_file: str | Path | None = None,
                   box_size: tuple[int, int] = LIU_MA_SIZE, one_based: bool = False,
                   strict: bool = False, exact_frames: bool = False) -> list[VideoRecord]:
    """Read the ``"train"`` or ``"test"`` split of UCF-Crime (layout in the module docstring).

    ``video_root`` defaults to ``root``; ``annotation_file`` to :data:`TEMPORAL_FILE` in ``root``;
    ``boxes_file`` (a Liu & Ma pickle, test split only) is optional. Relative paths are taken
    from ``root``.
    """
    root = resolve(root)
    if split not in LIST_FILES:
        raise DatasetError(f"UCF-Crime has splits {', '.join(LIST_FILES)}, not '{split}' "
                           f"(carve a validation split from train)")
    vroot = root / video_root if video_root is not None else root
    annotations = ann_path = boxes = None
    if split == "test":
        ann_path = root / (annotation_file or TEMPORAL_FILE)
        annotations = parse_temporal_annotations(ann_path, one_based=one_based)
        if boxes_file is not None:
            boxes = read_liu_ma_boxes(root / boxes_file, frame_base=1 if one_based else 0)
    return records_from_list(root / LIST_FILES[split], split, vroot, annotations=annotations,
                             annotation_path=ann_path, boxes=boxes, box_size=box_size,
                             strict=strict, exact_frames=exact_frames)

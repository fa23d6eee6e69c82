"""UCF-Crime (Sultani et al., CVPR 2018) with Liu & Ma (2019) boxes, read from the downloads as
they are (:file:`REAL_FORMATS.md` sections 1-2).

Layout: point ``root`` at the download's top folder (``UCF_Crimes/``); nothing has to be moved or
renamed. Each file is looked up, case-insensitively, in the places the downloads and the common
copies put it (the first found wins; an option names it instead)::

    <root>/
      Anomaly_Detection_splits/Anomaly_Train.txt    "Abuse/Abuse028_x264.mp4" (1,610 lines)
      Anomaly_Detection_splits/Anomaly_Test.txt     "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4"
                          (also found in UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits/,
                          list/ (VadCLIP's copies) and <root>/ itself; option ``list_dir``)
      Temporal_Anomaly_Annotation_for_Testing_Videos.txt
                          "Abuse028_x264.mp4  Abuse  165  240  -1  -1  " (290 lines); also found
                          as Temporal_Anomaly_Annotation.txt, in Anomaly_Detection_splits/,
                          Temporal_Anomaly_Annotation_For_Testing_Videos/Txt_formate/ and list/;
                          option ``annotation_file``
      Videos/<Folder>/<Name>.mp4                    the videos (option ``video_dir``; without a
                          Videos/ folder, <root> itself). A video that is not at its listed path is
                          looked up by file name anywhere under the video folder (the download
                          splits classes over "Anomaly-Videos-Part-1/..." folders)
      UCFCrimeBBox/Test_annotation.pkl              Liu & Ma boxes, a separate download (option
                          ``boxes_file``; read for the test split only)

Lists: one ``Folder/Name.mp4`` per line; the folder names the class (:data:`CLASSES`); normal
videos (``*Normal_Videos*``) get class ``"normal"``. A line that is absolute or climbs out of the
video folder (``..``) is an error naming the line.

Temporal annotation: 6 whitespace-separated fields ``Name Class s1 e1 s2 e2`` (``-1 -1`` = no
segment), with or without ``.mp4``, trailing spaces or not, LF or CRLF: every variant in
circulation parses the same. Lines are matched to videos by name, never by position. Frames are
converted with ``frame_convention`` (:func:`stprompt.datasets.records.convert_segment`):

- ``"sultani"`` (default): the dataset authors' MATLAB evaluation, 1-based inclusive, clipped:
  ``40 120`` labels 0-based frames 39..119;
- ``"vadclip"``: VadCLIP's ``gt[s:e]``, 0-based half-open: ``40 120`` labels frames 40..119.

Liu & Ma boxes (:func:`read_liu_ma_boxes`; a protocol-0 Python 2 pickle, read without running
code): ``{video: [[".../image_0861.jpg", x1, y1, x2, y2], ...]}``, one box every 16th frame in
320x240 pixels. Conversions, explicit:

- frame: ``image_N.jpg`` (4 digits, 5 above 9999) is ffmpeg's 1-based image numbering, so the box
  is on 0-based frame ``N - 1`` (``image_0055.jpg`` → frame 54);
- pixels: the corners are 1-based inclusive (x in 1..320, y in 1..240 in the files), so the box
  ``(x1, y1, x2, y2)`` covers 0-based columns ``x1-1 .. x2-1``: in this suite's convention
  (0-based, exclusive ends) it is ``(x1 - 1, y1 - 1, x2, y2)``, then scaled from 320x240 to the
  decoded frame size.

Keys that match no listed video, listed anomalous videos without boxes and boxes outside the
video's annotated segments are counted and named in one :class:`DatasetWarning`.

Train records carry only their video-level label; test records carry segments (and sparse boxes
with ``boxes_file``). The list and annotation parsers are shared with SynthVAD, which writes the
same formats (0-based, ``frame_convention="zero_inclusive"``).
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import warnings
from pathlib import Path
from typing import Literal, Mapping, Sequence

from ..io import resolve
from .records import (Box, DatasetError, DatasetWarning, VideoRecord, check_boxes, check_video_id,
                      convert_segment, finish_split, scale_boxes)
from .safe_pickle import load_data_pickle
from .video import VideoReadError, probe_video

CLASSES = ("Abuse", "Arrest", "Arson", "Assault", "Burglary", "Explosion", "Fighting",
           "RoadAccidents", "Robbery", "Shooting", "Shoplifting", "Stealing", "Vandalism")
LIST_FILES = {"train": "Anomaly_Train.txt", "test": "Anomaly_Test.txt"}
LIST_DIRS = ("Anomaly_Detection_splits", "UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits",
             "list", ".")
TEMPORAL_FILES = ("Temporal_Anomaly_Annotation_for_Testing_Videos.txt",
                  "Temporal_Anomaly_Annotation.txt")
TEMPORAL_DIRS = (".", "Anomaly_Detection_splits",
                 "Temporal_Anomaly_Annotation_For_Testing_Videos/Txt_formate",
                 "UCF_Crimes-Train-Test-Split/Anomaly_Detection_splits", "list")
VIDEO_DIRS = ("Videos", ".")
TEMPORAL_FILE = TEMPORAL_FILES[0]
LIU_MA_SIZE = (320, 240)  # (width, height) of the frames Liu & Ma annotated
NORMAL_FOLDERS = ("Training_Normal_Videos_Anomaly", "Testing_Normal_Videos_Anomaly",
                  "Normal_Videos_event", "normal", "Normal")
_IMAGE_NUMBER = re.compile(r"image_(\d+)\.jpe?g$", re.IGNORECASE)


@dataclasses.dataclass
class UCFCrimeOptions:
    """Reader options of UCF-Crime (the profile's ``reader:`` block; module docstring). Paths are
    relative to the dataset root (or absolute: the options are the user's, unlike list lines);
    empty means "look in the usual places"."""

    frame_convention: Literal["sultani", "vadclip"] = "sultani"  # how temporal segments count frames
    list_dir: str = ""  # folder of Anomaly_Train.txt / Anomaly_Test.txt
    annotation_file: str = ""  # the temporal annotation file
    video_dir: str = ""  # folder of the <Folder>/<Name>.mp4 videos (default Videos/, else the root)
    boxes_file: str = dataclasses.field(  # Liu & Ma Test_annotation.pkl (test split only)
        default="", metadata={"splits": ("test",)})
    box_size: tuple[int, int] = LIU_MA_SIZE  # (width, height) the boxes were annotated at
    strict: bool = False  # a missing or unreadable video is an error instead of a warning
    exact_frames: bool = False  # count packets instead of trusting the container's frame count


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
    segments: tuple[tuple[int, int], ...]  # as written in the file (its own frame numbering)
    line: int


def video_id_of(name: str) -> str:
    """``"Abuse/Abuse028_x264.mp4"`` → ``"Abuse028_x264"``."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def _class_key(name: str) -> str:
    # "RoadAccidents", "road_accidents" and "Road Accidents" name one class
    return re.sub(r"[^a-z0-9]", "", name.lower())


def find_file(root: Path, folders: Sequence[str], names: Sequence[str]) -> Path | None:
    """The first ``<root>/<folder>/<name>`` that exists, names compared case-insensitively
    (copies of the UCF-Crime files differ in case: ``..._For_Testing_Videos``)."""
    for folder in folders:
        d = root / folder
        if not d.is_dir():
            continue
        by_lower = {p.name.lower(): p for p in sorted(d.iterdir()) if p.is_file()}
        for name in names:
            if name.lower() in by_lower:
                return by_lower[name.lower()]
    return None


def inside_root(relpath: str, where: str) -> str:
    """``relpath`` normalised (``\\`` → ``/``), or :class:`DatasetError` naming ``where`` when it
    is absolute or climbs out of its folder: a list line must not reach outside the dataset."""
    rel = relpath.replace("\\", "/")
    norm = posixpath.normpath(rel)
    if rel.startswith("/") or re.match(r"^[A-Za-z]:", rel) or norm == ".." or norm.startswith("../"):
        raise DatasetError(f"{where}: path {relpath!r} is outside the dataset folder (absolute or "
                           f"with '..'); list entries are relative to the video folder")
    return norm


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
        rel = inside_root(fields[0], f"{path}:{lineno}")
        folder = rel.split("/")[-2]
        vid = check_video_id(video_id_of(rel), f"{path}:{lineno}")
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


def parse_temporal_annotations(path: str | Path) -> dict[str, TemporalAnnotation]:
    """Parse ``Name Class s1 e1 s2 e2`` lines (whitespace-separated, ``-1 -1`` = no segment) into
    ``{video_id: TemporalAnnotation}``; segments stay in the file's own numbering (convert them
    with :func:`stprompt.datasets.records.convert_segment`)."""
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
            segments.append((start, end))
        vid = video_id_of(name)
        if vid in out:
            raise DatasetError(f"{path}:{lineno}: video '{vid}' is annotated twice "
                               f"(first on line {out[vid].line})")
        out[vid] = TemporalAnnotation(vid, cls, tuple(segments), lineno)
    return out


def read_liu_ma_boxes(path: str | Path, convention: Literal["liu_ma", "zero_based"] = "liu_ma"
                      ) -> dict[str, dict[int, Box]]:
    """Read a Liu & Ma box pickle ``{video: [[image_path, x1, y1, x2, y2], ...]}`` without running
    code (:func:`stprompt.datasets.safe_pickle.load_data_pickle`) →
    ``{video_id: {frame: (x1, y1, x2, y2)}}``, 0-based frames and 0-based pixel boxes with
    exclusive ends, in the pickle's frame size.

    ``convention="liu_ma"`` (the released files; module docstring): the frame is ``N - 1`` for
    ``image_N.jpg`` and the box ``(x1 - 1, y1 - 1, x2, y2)``. ``"zero_based"`` (SynthVAD's copy):
    the frame is the last number of the file name and the box is taken as it is. The video is the
    key (not the image's folder, which differs for some training boxes).
    """
    path = Path(path)
    data = load_data_pickle(path)
    if not isinstance(data, Mapping):
        raise DatasetError(f"{path}: expected a dict video -> list of "
                           f"[image_path, x1, y1, x2, y2], got {type(data).__name__}")
    shift = 1 if convention == "liu_ma" else 0
    out: dict[str, dict[int, Box]] = {}
    for video, rows in data.items():
        vid = video_id_of(str(video))
        if not isinstance(rows, list):
            raise DatasetError(f"{path}: video '{vid}': expected a list of boxes, got "
                               f"{type(rows).__name__}")
        boxes: dict[int, Box] = {}
        for i, row in enumerate(rows):
            if not isinstance(row, (list, tuple)) or len(row) != 5 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in row[1:]):
                raise DatasetError(f"{path}: video '{vid}', entry {i}: expected "
                                   f"[image_path, x1, y1, x2, y2], got {row!r}")
            name = Path(str(row[0]).replace("\\", "/")).name
            if convention == "liu_ma":
                m = _IMAGE_NUMBER.search(name)
                if not m:
                    raise DatasetError(f"{path}: video '{vid}', entry {i}: expected an image named "
                                       f"image_<frame>.jpg, got {row[0]!r}")
                number = int(m.group(1))
            else:
                numbers = re.findall(r"\d+", Path(name).stem)
                if not numbers:
                    raise DatasetError(f"{path}: video '{vid}', entry {i}: no frame number in "
                                       f"image path {row[0]!r}")
                number = int(numbers[-1])
            frame = number - shift
            if frame < 0:
                raise DatasetError(f"{path}: video '{vid}', entry {i}: image {name} is before the "
                                   f"first frame (Liu & Ma images are numbered from 1)")
            if frame in boxes:
                raise DatasetError(f"{path}: video '{vid}': two boxes for frame {frame} ({name})")
            x1, y1, x2, y2 = (float(v) for v in row[1:])
            boxes[frame] = (x1 - shift, y1 - shift, x2, y2)
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
                      annotation_path: Path | None = None, frame_convention: str = "sultani",
                      boxes: Mapping[str, Mapping[int, Box]] | None = None,
                      boxes_path: Path | None = None,
                      box_size: tuple[int, int] | None = None,
                      strict: bool = False, exact_frames: bool = False,
                      warn_boxes: bool = True) -> list[VideoRecord]:
    """Records for the videos of a UCF-Crime style list.

    With ``annotations`` every listed video needs a line there; its segments are converted with
    ``frame_convention``. ``boxes`` (sparse, 0-based, in ``box_size`` coordinates) are scaled to
    the decoded size and checked; keys matching no listed video, anomalous videos without boxes
    and boxes outside the annotated segments are counted in one warning naming ``boxes_path``.
    Missing or unreadable videos are skipped with a warning (``strict=True``: an error).
    ``warn_boxes=False``: no warning about boxes (SynthVAD's pickle holds the boxes of every
    annotated split and is checked against ``meta.json`` instead).
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
            segments = [convert_segment(s, e, info.n_frames, frame_convention, entry.video_id,
                                        f"{annotation_path}:{ann.line}") for s, e in ann.segments]
        sparse = None
        if boxes is not None and entry.video_id in boxes:
            if entry.label == 0:
                raise DatasetError(f"{boxes_path}: normal video '{entry.video_id}' has anomaly "
                                   f"boxes")
            sparse = dict(boxes[entry.video_id])
            if box_size is not None and box_size != (info.width, info.height):
                sparse = scale_boxes(sparse, box_size, (info.width, info.height))
            for frame in sparse:
                if not 0 <= frame < info.n_frames:
                    raise DatasetError(f"{boxes_path}: video '{entry.video_id}': box at frame "
                                       f"{frame} is past its {info.n_frames} frames")
            check_boxes(sparse, info.width, info.height, entry.video_id,
                        f"{boxes_path}, boxes scaled from {box_size[0]}x{box_size[1]}"
                        if box_size else str(boxes_path))
        records.append(VideoRecord(
            id=entry.video_id, path=path, n_frames=info.n_frames, fps=info.fps, label=entry.label,
            class_name=entry.class_name, split=split, segments=segments, sparse_boxes=sparse,
            width=info.width, height=info.height,
            extra={"frame_convention": frame_convention} if ann is not None else {}))
    if boxes is not None and warn_boxes:
        _warn_about_boxes(boxes, entries, records, boxes_path, list_path)
    return finish_split(records, skipped, str(list_path), strict)


def _warn_about_boxes(boxes: Mapping[str, Mapping[int, Box]], entries: Sequence[ListEntry],
                      records: Sequence[VideoRecord], boxes_path: Path | None,
                      list_path: Path) -> None:
    listed = {e.video_id for e in entries}
    unmatched = sorted(set(boxes) - listed)
    no_boxes = sorted(r.id for r in records if r.label and not r.sparse_boxes)
    outside = {}
    for r in records:
        if r.sparse_boxes and r.segments is not None:
            n = sum(1 for f in r.sparse_boxes if not any(s <= f <= e for s, e in r.segments))
            if n:
                outside[r.id] = n
    parts = []
    if unmatched:
        parts.append(f"{len(unmatched)} of its {len(boxes)} videos match no video of {list_path} "
                     f"and are dropped ({', '.join(unmatched[:10])}{', ...' if len(unmatched) > 10 else ''})")
    if no_boxes:
        parts.append(f"{len(no_boxes)} anomalous videos of the list have no box "
                     f"({', '.join(no_boxes[:10])}{', ...' if len(no_boxes) > 10 else ''})")
    if outside:
        parts.append(f"{sum(outside.values())} boxes lie outside their video's annotated segments "
                     f"and are not scored (" + ", ".join(f"{v}: {n}" for v, n in outside.items()) + ")")
    if parts:
        from .records import _caller_stacklevel

        warnings.warn(f"{boxes_path}: " + "; ".join(parts), DatasetWarning,
                      stacklevel=_caller_stacklevel())


def locate(root: Path, split: str, opts: UCFCrimeOptions) -> dict[str, Path]:
    """The files of a split: ``list``, ``videos`` and for test ``annotations`` (and ``boxes``),
    found as the module docstring says; a missing one is an error listing where it was looked for."""
    if opts.list_dir:
        list_path = root / opts.list_dir / LIST_FILES[split]
        if not list_path.is_file():
            raise DatasetError(f"{list_path}: video list not found (reader option list_dir)")
    else:
        list_path = find_file(root, LIST_DIRS, [LIST_FILES[split]])
        if list_path is None:
            raise DatasetError(f"{root}: no {LIST_FILES[split]}; looked in "
                               f"{', '.join(str(root / d) for d in LIST_DIRS)} (reader option "
                               f"list_dir names the folder)")
    if opts.video_dir:
        videos = root / opts.video_dir
    else:
        videos = next((root / d for d in VIDEO_DIRS if (root / d).is_dir()), root)
    out = {"list": list_path, "videos": videos}
    if split == "test":
        if opts.annotation_file:
            ann = root / opts.annotation_file
        else:
            ann = find_file(root, TEMPORAL_DIRS, TEMPORAL_FILES)
            if ann is None:
                raise DatasetError(f"{root}: no temporal annotation file ({' or '.join(TEMPORAL_FILES)}); "
                                   f"looked in {', '.join(str(root / d) for d in TEMPORAL_DIRS)} "
                                   f"(reader option annotation_file names it)")
        out["annotations"] = ann
        if opts.boxes_file:
            out["boxes"] = root / opts.boxes_file
    return out


def read_ucf_crime(root: str | Path, split: str, **options) -> list[VideoRecord]:
    """Read the ``"train"`` or ``"test"`` split of UCF-Crime (layout in the module docstring);
    ``options`` are the fields of :class:`UCFCrimeOptions`."""
    from ..schema import from_dict

    opts = from_dict(UCFCrimeOptions, options, source="ucf_crime reader options")
    root = resolve(root)
    if split not in LIST_FILES:
        raise DatasetError(f"UCF-Crime has splits {', '.join(LIST_FILES)}, not '{split}' "
                           f"(carve a validation split from train)")
    if split != "test" and opts.boxes_file:
        raise DatasetError(f"{root / opts.boxes_file}: boxes_file is read for the test split only; "
                           f"the {split} split carries video-level labels only (weak supervision), "
                           f"so its boxes would be dropped")
    files = locate(root, split, opts)
    annotations = boxes = None
    if split == "test":
        annotations = parse_temporal_annotations(files["annotations"])
        if "boxes" in files:
            boxes = read_liu_ma_boxes(files["boxes"])
    return records_from_list(files["list"], split, files["videos"], annotations=annotations,
                             annotation_path=files.get("annotations"),
                             frame_convention=opts.frame_convention, boxes=boxes,
                             boxes_path=files.get("boxes"), box_size=tuple(opts.box_size),
                             strict=opts.strict, exact_frames=opts.exact_frames)

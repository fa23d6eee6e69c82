"""One record type for every dataset, and the ground truth built from it.

A :class:`VideoRecord` is one video with its video-level label and, where the split has them, its
ground truth: temporal segments or a frame-mask file, boxes, a pixel-mask file, object tracks.
Ground truth stays **per video** (never one concatenated vector), so that every comparison with
features or scores can check lengths and name the video when they disagree. What is read from a
dataset's own files on demand (pixel masks, track boxes) is in :mod:`.groundtruth`, above the
readers: this module imports none of them.

Frame-label length convention
-----------------------------
Videos are cut into snippets of ``snippet_len`` = 16 frames. A video of ``n`` frames has
``⌈n/16⌉`` snippets (:func:`snippet_count`): the last, partial snippet counts as a whole one, as
feature extractors pad it by repeating the last frame. Snippet scores repeated ×16 therefore cover
``16·⌈n/16⌉`` frames, up to 15 more than the video; an extractor that drops the tail instead covers
``16·⌊n/16⌋`` frames. :func:`frame_labels` accepts exactly these three lengths:

- ``n`` — the labels as annotated;
- ``16·⌈n/16⌉`` — padded by repeating the last frame's label (the padded frames are copies of the
  last frame, so they share its label);
- ``16·⌊n/16⌋`` (when ≥ 16) — the tail frames that no whole snippet covers are dropped.

Any other length is an error naming the video and both lengths: it means features and ground truth
come from different decodes of the video (or from different videos). Pass ``snippet_len=None`` to
allow only the exact length.

Coordinates: boxes are ``(x1, y1, x2, y2)`` in pixels of the decoded frame, ``x2``/``y2``
exclusive (a box covering pixel columns 3..5 is ``x1=3, x2=6``); frames are 0-based and segments
``(start, end)`` are inclusive. Readers convert every file's own numbering to these explicitly.

Temporal annotation conventions (:data:`FRAME_CONVENTIONS`, :func:`convert_segment`): the same
UCF-Crime line ``Abuse028_x264.mp4  Abuse  165  240  -1  -1`` labels different frames depending on
whose evaluation one reproduces:

- ``"sultani"`` (the dataset authors' ``Evaluate_Anomaly_Detector.m``: ``GT(max(s,1):min(e,n)) = 1``
  on 1-based frame numbers): 1-based inclusive, clipped to the video, so segment ``40 120`` labels
  0-based frames 39..119 (81 frames);
- ``"vadclip"`` (VadCLIP's ``make_gt_ucf.py``: ``gt[s:e] = 1`` on a 0-based vector): 0-based
  half-open, so ``40 120`` labels frames 40..119 (80 frames);
- ``"zero_inclusive"``: 0-based inclusive, what SynthVAD writes (its own files, not an option for
  the real datasets).

Video ids become file names (features, scores): :func:`check_video_id` allows letters, digits and
``_ - . = # + , @`` only, no leading dot, so no id can name a path outside its folder.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

SNIPPET_LEN = 16  # frames per snippet (VadCLIP/STPrompt convention)
SPLIT_ORDER = ("train", "val", "test")

Box = tuple[float, float, float, float]
Segment = tuple[int, int]
Track = tuple[int, int, int]  # (object_id, start, end), frames 0-based inclusive

#: How a temporal annotation file numbers frames (module docstring).
FRAME_CONVENTIONS = ("sultani", "vadclip", "zero_inclusive")
_SAFE_ID = re.compile(r"[A-Za-z0-9_=#+,@-][A-Za-z0-9_.=#+,@-]*")


class DatasetError(ValueError):
    """A dataset file or folder does not match its documented layout or contents."""


class DatasetWarning(UserWarning):
    """Videos of a split were skipped (missing or unreadable); the message lists them."""


@dataclasses.dataclass
class VideoRecord:
    """One video and its ground truth.

    Required: ``id`` (unique within a dataset), ``path`` (video file, frame folder, or feature file
    for feature-only datasets), ``n_frames``, ``fps``, ``label`` (0 normal / 1 anomalous),
    ``class_name`` (``"normal"`` for normal videos), ``split``.

    Ground truth (``None`` where the split or format has none; training records carry none):

    - ``segments``: anomalous frame ranges ``(start, end)``, 0-based inclusive;
    - ``frame_mask_path``: a ``(n_frames,)`` 0/1 array file (ShanghaiTech ``test_frame_mask``);
    - ``boxes``: ``(n_frames, 4)`` float array of the anomaly box per frame, NaN rows where none;
    - ``sparse_boxes``: ``{frame: (x1, y1, x2, y2)}`` for formats annotated on a subset of frames
      (Liu & Ma: every 16th frame), already scaled to the decoded frame size;
    - ``pixel_mask_path``: a ``(n_frames, H, W)`` 0/1 array file (``.npy`` or ``.npz`` key
      ``mask``), or a UBnormal annotation folder of id masks;
    - ``tracks``: ``[(object_id, start, end)]`` of the anomalous objects;
    - ``track_boxes``: ``(K, n_frames, 4)`` boxes of each track (order of ``tracks``), NaN where the
      object is absent; ``track_boxes_path`` is where :func:`.groundtruth.load_track_boxes` reads them when they
      were not loaded with the record (UBnormal id masks are read on demand);
    - ``regions_from_pixel_mask``: tracks and their boxes are derived from the pixel mask on first
      use (:func:`tracks_from_pixel_mask`; ShanghaiTech without track files).

    ``width``/``height`` are the decoded frame size (``None`` for feature-only records);
    ``extra`` holds format-specific details (e.g. the crop files of a VadCLIP feature).
    """

    id: str
    path: Path
    n_frames: int
    fps: float
    label: int
    class_name: str
    split: str
    segments: list[Segment] | None = None
    frame_mask_path: Path | None = None
    boxes: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    sparse_boxes: dict[int, Box] | None = dataclasses.field(default=None, repr=False,
                                                          compare=False)
    pixel_mask_path: Path | None = None
    tracks: list[Track] | None = None
    track_boxes: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    track_boxes_path: Path | None = None
    regions_from_pixel_mask: bool = False
    width: int | None = None
    height: int | None = None
    extra: dict = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_video_id(self.id)
        self.path = Path(self.path)
        for name in ("frame_mask_path", "pixel_mask_path", "track_boxes_path"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        if self.label not in (0, 1) or isinstance(self.label, bool):
            raise DatasetError(f"video '{self.id}': label must be 0 or 1, got {self.label!r}")
        if int(self.n_frames) <= 0:
            raise DatasetError(f"video '{self.id}': n_frames must be positive, got {self.n_frames}")
        self.n_frames, self.label = int(self.n_frames), int(self.label)
        if self.label == 0 and self.class_name != "normal":
            raise DatasetError(f"video '{self.id}': a normal video (label 0) must have class "
                               f"'normal', got '{self.class_name}'")
        if self.label == 1 and self.class_name == "normal":
            raise DatasetError(f"video '{self.id}': an anomalous video (label 1) cannot have "
                               f"class 'normal'")
        if self.segments is not None:
            self.segments = [(int(s), int(e)) for s, e in self.segments]
            check_segments(self.segments, self.n_frames, self.id)
        if self.boxes is not None:
            self.boxes = np.asarray(self.boxes, dtype=np.float32)
            if self.boxes.shape != (self.n_frames, 4):
                raise DatasetError(f"video '{self.id}': boxes must have shape "
                                   f"({self.n_frames}, 4), got {self.boxes.shape}")
        if self.track_boxes is not None:
            self.track_boxes = np.asarray(self.track_boxes, dtype=np.float32)
            k = len(self.tracks or [])
            if self.track_boxes.shape != (k, self.n_frames, 4):
                raise DatasetError(f"video '{self.id}': track_boxes must have shape "
                                   f"({k}, {self.n_frames}, 4) for {k} tracks, got "
                                   f"{self.track_boxes.shape}")

    @property
    def has_frame_gt(self) -> bool:
        """Whether frame labels can be built (segments, a frame mask, or a normal video)."""
        return self.segments is not None or self.frame_mask_path is not None or self.label == 0

    def n_snippets(self, snippet_len: int = SNIPPET_LEN) -> int:
        return snippet_count(self.n_frames, snippet_len)


def check_video_id(video_id: str, source: str = "") -> str:
    """Return ``video_id`` if it is safe as a file name (letters, digits, ``_ - . = # + , @``, no
    leading dot, no separator); else raise :class:`DatasetError` naming it (and ``source``)."""
    if not isinstance(video_id, str) or not _SAFE_ID.fullmatch(video_id):
        where = f"{source}: " if source else ""
        raise DatasetError(f"{where}video id {video_id!r} is not a safe file name (expected "
                           f"letters, digits and _ - . = # + , @ only, not starting with a dot); "
                           f"ids name the feature and score files")
    return video_id


def convert_segment(start: int, end: int, n_frames: int, convention: str, video: str,
                    source: str, tolerance: int = SNIPPET_LEN) -> Segment:
    """One annotated segment ``(start, end)`` as written in a file with ``convention``
    (:data:`FRAME_CONVENTIONS`, module docstring) → 0-based inclusive frames of a video of
    ``n_frames`` frames.

    Ends past the video are clipped, as both evaluations do (Sultani's ``min(e, n)``, VadCLIP's
    slice), when they overshoot by fewer than ``tolerance`` frames (decoders and the annotators'
    tools disagree by a few frames); further off, or a segment that starts after the video or
    holds no frame, is an error naming ``source`` and the video.
    """
    if convention == "sultani":  # GT(max(s,1):min(e,n)) = 1, 1-based inclusive
        first, last, last_allowed = max(start, 1) - 1, end - 1, n_frames - 1
    elif convention == "vadclip":  # gt[s:e] = 1 on a 0-based vector
        first, last, last_allowed = start, end - 1, n_frames - 1
    elif convention == "zero_inclusive":
        first, last, last_allowed = start, end, n_frames - 1
    else:
        raise DatasetError(f"{source}: unknown frame convention {convention!r}; expected one of "
                           f"{', '.join(FRAME_CONVENTIONS)}")
    if start < 0 or last < first or first > last_allowed or last > last_allowed + tolerance - 1:
        raise DatasetError(
            f"{source}: video '{video}': segment {start} {end} does not fit its {n_frames} frames "
            f"under the {convention!r} convention (0-based frames {first}..{last}; ends up to "
            f"{tolerance - 1} frames past the video are clipped)")
    return first, min(last, last_allowed)


def snippet_box_frames(record: "VideoRecord", boxes: np.ndarray, start: int, stop: int) -> int | None:
    """The frame of the snippet ``[start, stop)`` whose ground-truth box stands for the snippet:
    its middle frame when that frame has a box, else the boxed frame nearest the middle (sparse
    annotations such as Liu & Ma's box every 16th frame, rarely the middle one), else None."""
    mid = (start + stop - 1) // 2
    boxed = np.flatnonzero(~np.isnan(boxes[start:stop]).any(1)) + start
    if not len(boxed):
        return None
    return int(boxed[np.argmin(np.abs(boxed - mid))])  # the earlier one on a tie


# --------------------------------------------------------------------------------------------
# Lengths and frame labels
# --------------------------------------------------------------------------------------------

def snippet_count(n_frames: int, snippet_len: int = SNIPPET_LEN) -> int:
    """Snippets of a video of ``n_frames`` frames: ``⌈n_frames / snippet_len⌉`` (see module doc)."""
    return math.ceil(n_frames / snippet_len)


def accepted_lengths(n_frames: int, snippet_len: int | None = SNIPPET_LEN) -> tuple[int, ...]:
    """The frame counts :func:`frame_labels` accepts for a video of ``n_frames`` frames."""
    if snippet_len is None:
        return (n_frames,)
    floor = snippet_len * (n_frames // snippet_len)
    ceil = snippet_len * snippet_count(n_frames, snippet_len)
    return tuple(sorted({n_frames, ceil} | ({floor} if floor > 0 else set())))


def check_length(record: VideoRecord, n_frames: int, snippet_len: int | None = SNIPPET_LEN,
                 what: str = "features") -> None:
    """Raise :class:`DatasetError` naming the video unless ``n_frames`` (the length of ``what``)
    is one of :func:`accepted_lengths` of the record."""
    allowed = accepted_lengths(record.n_frames, snippet_len)
    if int(n_frames) not in allowed:
        snippets = [n for n in allowed if n != record.n_frames]
        rule = (f" or {' / '.join(map(str, snippets))} (whole {snippet_len}-frame snippets)"
                if snippets else "")
        raise DatasetError(
            f"video '{record.id}': {what} cover {n_frames} frames but its ground truth has "
            f"{record.n_frames} frames; expected {record.n_frames}{rule}. Features and "
            f"annotations come from different decodes or different videos ({record.path})")


def check_feature_length(record: VideoRecord, n_snippets: int,
                         snippet_len: int = SNIPPET_LEN) -> int:
    """Check a feature of ``n_snippets`` snippets against the record; return the frames it covers
    (``n_snippets · snippet_len``)."""
    covered = int(n_snippets) * snippet_len
    check_length(record, covered, snippet_len, what=f"features of {n_snippets} snippets")
    return covered


def check_segments(segments: Sequence[Segment], n_frames: int, video: str,
                   source: str = "") -> None:
    """Raise unless every segment satisfies ``0 ≤ start ≤ end < n_frames``."""
    where = f" ({source})" if source else ""
    for start, end in segments:
        if not 0 <= start <= end < n_frames:
            raise DatasetError(f"video '{video}'{where}: segment ({start}, {end}) is not inside "
                               f"frames 0..{n_frames - 1} with start <= end")


def frame_labels(record: VideoRecord, n_frames: int | None = None,
                 snippet_len: int | None = SNIPPET_LEN) -> np.ndarray:
    """The 0/1 ``uint8`` frame-label vector of ``record``.

    Built from ``record.segments`` if present, else from ``record.frame_mask_path``; a normal video
    without either is all zeros. ``n_frames`` (the length of the features or decoded frames it will
    be compared with) may differ from the record's only as the module docstring allows; anything
    else raises :class:`DatasetError` naming the video and both lengths.
    """
    labels = _annotated_labels(record)
    if n_frames is None or n_frames == record.n_frames:
        return labels
    check_length(record, n_frames, snippet_len)
    if n_frames < record.n_frames:
        return labels[:n_frames].copy()
    return np.concatenate([labels, np.full(n_frames - record.n_frames, labels[-1], np.uint8)])


def _annotated_labels(record: VideoRecord) -> np.ndarray:
    n = record.n_frames
    if record.segments is not None:
        labels = np.zeros(n, dtype=np.uint8)
        check_segments(record.segments, n, record.id)
        for start, end in record.segments:
            labels[start:end + 1] = 1
        return labels
    if record.frame_mask_path is not None:
        mask = read_mask_file(record.frame_mask_path)
        if mask.ndim != 1 or len(mask) != n:
            raise DatasetError(f"video '{record.id}': frame mask {record.frame_mask_path} has "
                               f"shape {mask.shape}, expected ({n},) for its {n} frames")
        return (mask > 0).astype(np.uint8)
    if record.label == 0:
        return np.zeros(n, dtype=np.uint8)
    raise DatasetError(f"video '{record.id}' ({record.split} split): no frame-level ground truth, "
                       f"only its video-level label (anomalous, class '{record.class_name}')")


# --------------------------------------------------------------------------------------------
# Mask and box files
# --------------------------------------------------------------------------------------------

def read_mask_file(path: str | Path) -> np.ndarray:
    """Read a ShanghaiTech-style mask: ``.npy`` array, or ``.npz`` with key ``mask`` (the single
    array of an ``.npz`` is accepted too). Used for frame masks ``(n,)`` and pixel masks
    ``(n, H, W)``."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: mask file not found")
    try:
        if p.suffix == ".npz":
            with np.load(p) as data:
                key = "mask" if "mask" in data.files else (data.files[0] if len(data.files) == 1
                                                             else None)
                if key is None:
                    raise DatasetError(f"{p}: expected key 'mask' in the .npz, found "
                                       f"{', '.join(data.files) or 'no arrays'}")
                return data[key]
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{p}: not a readable .npy/.npz mask ({exc})") from exc


def mask_file_shape(path: str | Path) -> tuple[int, ...]:
    """The array shape of a mask file, read from its header only (pixel masks are large)."""
    p = Path(path)
    try:
        if p.suffix == ".npz":
            with zipfile.ZipFile(p) as zf:
                names = [n for n in zf.namelist() if n.endswith(".npy")]
                name = ("mask.npy" if "mask.npy" in names
                        else names[0] if len(names) == 1 else None)
                if name is None:
                    raise DatasetError(f"{p}: expected key 'mask' in the .npz")
                with zf.open(name) as fh:
                    return _npy_header_shape(fh)
        with open(p, "rb") as fh:
            return _npy_header_shape(fh)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{p}: not a readable .npy/.npz mask ({exc})") from exc


def _npy_header_shape(fh) -> tuple[int, ...]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, _ = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, _ = np.lib.format.read_array_header_2_0(fh)
    else:  # format 3.0 (rare): read the array
        fh.seek(0)
        shape = np.load(fh, allow_pickle=False).shape
    return tuple(shape)


def integer_rows(path: Path, fields: str) -> Iterable[tuple[int, str, tuple[int, ...]]]:
    """The rows of a comma-separated file of integers, ``(line number, line, values)`` per non-blank
    line; ``fields`` names the columns (``"object_id,start_frame,end_frame"``). A value may be
    written as a float (``np.savetxt`` writes ``1.000000e+00``) but must be a whole number; a row with
    another count of values or a non-integer is an error naming the file, the line and the expected
    columns."""
    n = len(fields.split(","))
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            values = [float(f.strip()) for f in line.split(",")]
            if len(values) != n or any(v != int(v) for v in values):
                raise ValueError
        except (ValueError, OverflowError):
            raise DatasetError(f"{path}:{lineno}: expected {n} comma-separated integers "
                               f"'{fields}', got {line!r}") from None
        yield lineno, line, tuple(int(v) for v in values)


def check_boxes(boxes: Mapping[int, Box] | np.ndarray, width: int, height: int, video: str,
                source: str = "") -> None:
    """Raise unless every box lies inside the ``width × height`` frame with ``x1 < x2``,
    ``y1 < y2`` (NaN rows of a dense array are skipped). The error names the video, the frame and
    the box."""
    if isinstance(boxes, np.ndarray):
        items = ((f, boxes[f]) for f in np.flatnonzero(~np.isnan(boxes).any(axis=1)))
    else:
        items = iter(boxes.items())
    where = f" ({source})" if source else ""
    for frame, box in items:
        x1, y1, x2, y2 = (float(v) for v in box)
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise DatasetError(
                f"video '{video}'{where}, frame {int(frame)}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) "
                f"is not inside the {width}x{height} frame (expected 0 <= x1 < x2 <= {width}, "
                f"0 <= y1 < y2 <= {height})")


def scale_boxes(boxes: Mapping[int, Box], from_size: tuple[int, int],
                to_size: tuple[int, int]) -> dict[int, Box]:
    """Scale ``{frame: (x1, y1, x2, y2)}`` from a ``(width, height)`` frame to another."""
    sx = to_size[0] / from_size[0]
    sy = to_size[1] / from_size[1]
    return {f: (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for f, b in boxes.items()}


def has_tracks(record: VideoRecord) -> bool:
    """Whether the record has (or can derive) per-object tracks with boxes."""
    return bool(record.tracks) or record.regions_from_pixel_mask


def iter_mask_frames(record: VideoRecord):
    """The frames of the record's ``(n_frames, H, W)`` pixel-mask file, one ``(H, W)`` bool array
    at a time (a ``.npy`` is memory-mapped: real ShanghaiTech masks are ~0.4 GB per video)."""
    path = record.pixel_mask_path
    shape = mask_file_shape(path)
    if len(shape) != 3 or shape[0] != record.n_frames:
        raise DatasetError(f"video '{record.id}': pixel mask {path} has shape {shape}, expected "
                           f"({record.n_frames}, H, W)")
    if path.suffix == ".npy":
        mask = np.load(path, mmap_mode="r", allow_pickle=False)
    else:
        mask = read_mask_file(path)
    for f in range(shape[0]):
        yield np.asarray(mask[f]) > 0


def tracks_from_pixel_mask(frames, n_frames: int) -> tuple[list[Track], np.ndarray]:
    """Anomalous regions and tracks from a pixel mask [choice], for RBDC/TBDC on datasets whose
    masks carry no object ids (ShanghaiTech without the public track files).

    Regions: the 8-connected components of each frame's mask, each as its bounding box
    ``(x1, y1, x2, y2)`` (x2/y2 exclusive). Tracks: taking this frame's regions in label order
    (row-major order of their first pixel), each continues the track of the previous frame's region
    it shares the most pixels with among those no earlier region took (ties to the lower label);
    a region that overlaps none starts a track, so a track is a contiguous run of frames and never
    has two regions in one frame. Returns ``[(track_id, start, end)]`` (ids 1, 2, ... in order of appearance, frames
    0-based inclusive) and their ``(K, n_frames, 4)`` boxes, NaN where a track is absent."""
    from scipy import ndimage

    structure = np.ones((3, 3), bool)
    spans: list[list[int]] = []  # per track [start, end]
    boxes_by_track: list[dict[int, tuple]] = []
    prev_labels = None
    prev_track: dict[int, int] = {}
    for f, frame in enumerate(frames):
        if f >= n_frames:
            raise DatasetError(f"pixel mask has more than {n_frames} frames")
        labels, n = ndimage.label(frame, structure=structure)
        current: dict[int, int] = {}
        if n:
            taken: set[int] = set()
            objects = ndimage.find_objects(labels)
            for lab in range(1, n + 1):
                ys, xs = objects[lab - 1]
                track = None
                if prev_labels is not None and prev_track:
                    under = prev_labels[ys, xs][labels[ys, xs] == lab]
                    counts = np.bincount(under, minlength=1)
                    counts[0] = 0
                    for old in np.argsort(-counts, kind="stable"):
                        if counts[old] == 0:
                            break
                        if int(old) not in taken:
                            track = prev_track[int(old)]
                            taken.add(int(old))
                            break
                if track is None:
                    track = len(spans)
                    spans.append([f, f])
                    boxes_by_track.append({})
                spans[track][1] = f
                boxes_by_track[track][f] = (xs.start, ys.start, xs.stop, ys.stop)
                current[lab] = track
        prev_labels, prev_track = (labels, current) if n else (None, {})
    out = np.full((len(spans), n_frames, 4), np.nan, dtype=np.float32)
    for k, per_frame in enumerate(boxes_by_track):
        for f, box in per_frame.items():
            out[k, f] = box
    return [(k + 1, s, e) for k, (s, e) in enumerate(spans)], out


def merge_segments(segments: Iterable[Segment]) -> list[Segment]:
    """Sorted union of inclusive frame ranges (touching ranges merge)."""
    merged: list[list[int]] = []
    for start, end in sorted(segments):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------

def finish_split(records: list[VideoRecord], skipped: list[tuple[str, str]], source: str,
                 strict: bool) -> list[VideoRecord]:
    """Report videos skipped while reading a split: a :class:`DatasetWarning` listing them and
    their count, or an error when ``strict`` or when nothing is left."""
    ids = [r.id for r in records]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise DatasetError(f"{source}: video ids appear more than once: {', '.join(dupes)}")
    if skipped:
        total = len(records) + len(skipped)
        listing = "; ".join(f"{vid} ({why})" for vid, why in skipped)
        msg = f"{source}: skipped {len(skipped)} of {total} videos: {listing}"
        if strict:
            raise DatasetError(msg)
        if not records:
            raise DatasetError(msg + "; no video left")
        warnings.warn(msg, DatasetWarning, stacklevel=_caller_stacklevel())
    if not records:
        raise DatasetError(f"{source}: the split lists no videos")
    return records


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this package."""
    package_dir = str(Path(__file__).resolve().parent)
    frame, level = sys._getframe(1), 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(
            package_dir):
        frame, level = frame.f_back, level + 1
    return level


def summary_table(records: Iterable[VideoRecord], snippet_len: int = SNIPPET_LEN) -> list[dict]:
    """One row per (split, class) and a total row per split (class ``"all"``):
    ``split, class, videos, frames, snippets, anomalous_frames``.

    ``snippets`` sums :func:`snippet_count` (⌈n/16⌉ per video). ``anomalous_frames`` sums the frame
    labels; it is ``None`` where a group holds an anomalous video without frame ground truth
    (training splits).
    """
    groups: dict[tuple[str, str], list[VideoRecord]] = {}
    for r in records:
        groups.setdefault((r.split, r.class_name), []).append(r)

    def row(split: str, cls: str, rs: list[VideoRecord]) -> dict:
        known = all(r.has_frame_gt for r in rs)
        return {"split": split, "class": cls, "videos": len(rs),
                "frames": sum(r.n_frames for r in rs),
                "snippets": sum(r.n_snippets(snippet_len) for r in rs),
                "anomalous_frames": (int(sum(int(frame_labels(r).sum()) for r in rs))
                                     if known else None)}

    def split_key(s: str) -> tuple[int, str]:
        return (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s)

    rows = []
    for split in sorted({s for s, _ in groups}, key=split_key):
        classes = sorted((c for s, c in groups if s == split), key=lambda c: (c != "normal", c))
        for cls in classes:
            rows.append(row(split, cls, groups[(split, cls)]))
        rows.append(row(split, "all", [r for c in classes for r in groups[(split, c)]]))
    return rows

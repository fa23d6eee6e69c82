"""ShanghaiTech Campus (Liu et al., CVPR 2018) in the weakly supervised split of Zhong et al.
(CVPR 2019): 238 training and 199 test videos, anomalous training videos drawn from the official
test set (:file:`REAL_FORMATS.md` section 3).

Layout: point ``root`` at the dataset's top folder (``shanghaitech/``) with RTFM's ``list/``
folder beside its contents (or name the lists with ``train_list``/``test_list``)::

    <root>/
      training/videos/01_001.avi           the 330 original training videos (all normal); also
                                           found in training/converted_videos/, videos/, frames/
      testing/frames/01_0014/000.jpg ...   the 107 original test videos as frame folders (sorted
                                           by the number in the file name, any width)
      testing/test_frame_mask/01_0014.npy  (n_frames,) uint8 0/1 frame labels (also found in
                                           test_frame_mask/ and list/test_frame_mask/)
      testing/test_pixel_mask/01_0014.npy  (n_frames, H, W) 0/1 pixel labels (also test_pixel_mask/;
                                           .npz with key "mask" accepted)
      list/SH_Train.txt, list/SH_Test.txt  the weak split, plain ids, no trailing newline; or RTFM's
      list/shanghai-i3d-train-10crop.list  feature lists (absolute paths of the authors' machine:
      list/shanghai-i3d-test-10crop.list   only the video id is read from them, never the path);
                                           also found at <root>/ and under older names
                                           (SH_Train_new.txt, SH_Test_NEW.txt); an optional 0/1
                                           label column is read
      <tracks_dir>/01_0014.txt             optional, the public test tracks (Georgescu et al.):
                                           "track_id,frame_id,x_min,y_min,x_max,y_max" per line

Video ids are ``SS_VVVV`` (4-digit number: a video of the original test set, which all contain
anomalies) or ``SS_VVV`` (3 digits: an original training video, normal). The video-level label is
the list's label column when present, else whether the frame mask marks any frame, else the id's
form; an anomalous test video without a frame mask is an error (its frames could not be labelled).
Anomalous videos get class ``"anomaly"`` (ShanghaiTech has no classes).

Test records carry the frame- and pixel-mask paths (lengths checked against the decoded video)
and regions for RBDC/TBDC: with ``tracks_dir``, the track files (pixel corners inclusive, as the
public evaluator counts them: converted to ``(x_min, y_min, x_max + 1, y_max + 1)``; frames
0-based); otherwise regions are derived from the pixel mask on first use
(:func:`stprompt.datasets.records.tracks_from_pixel_mask`). Train records carry only the label,
although their masks exist on disk.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import numpy as np

from ..io import resolve
from .records import (DatasetError, DatasetWarning, VideoRecord, check_boxes, check_video_id,
                      finish_split, integer_rows, mask_file_shape, read_mask_file)
from .ucf_crime import find_file
from .video import FRAME_FOLDER_FPS, VideoReadError, find_video, probe_video

LIST_FILES = {"train": ("SH_Train.txt", "shanghai-i3d-train-10crop.list", "SH_Train_new.txt",
                        "train.txt"),
              "test": ("SH_Test.txt", "shanghai-i3d-test-10crop.list", "SH_Test_NEW.txt",
                       "SH_Test_new.txt", "test.txt")}
LIST_DIRS = ("list", ".")
VIDEO_DIRS = ("training/videos", "training/converted_videos", "testing/frames", "testing/videos",
              "videos", "training/frames", "frames")
FRAME_MASK_DIRS = ("testing/test_frame_mask", "test_frame_mask", "list/test_frame_mask")
PIXEL_MASK_DIRS = ("testing/test_pixel_mask", "test_pixel_mask")
ANOMALY_CLASS = "anomaly"
_ID = re.compile(r"\d{2}_\d{3,4}")

# The mask readers live with the records (frame labels read them); re-exported as this format's.
read_frame_mask = read_mask_file
read_pixel_mask = read_mask_file


@dataclasses.dataclass
class ShanghaiTechOptions:
    """Reader options of ShanghaiTech (the profile's ``reader:`` block; module docstring). Paths
    are relative to the dataset root (or absolute: the options are the user's, unlike list
    lines); empty means "look in the usual places"."""

    train_list: str = ""  # the training list (SH_Train.txt or shanghai-i3d-train-10crop.list)
    test_list: str = ""  # the test list (SH_Test.txt or shanghai-i3d-test-10crop.list)
    tracks_dir: str = ""  # folder of the public <vid>.txt test tracks; empty: regions from the pixel masks
    folder_fps: float = FRAME_FOLDER_FPS  # frame rate given to frame folders (they carry none)
    strict: bool = False  # a missing or unreadable video is an error instead of a warning
    exact_frames: bool = False  # count packets instead of trusting the container's frame count


def list_video_id(entry: str) -> str:
    """The video id of a list entry: ``01_0014``, ``testing/01_0014.avi`` or RTFM's
    ``/home/yu/.../01_0014_i3d.npy`` → ``01_0014``."""
    base = entry.replace("\\", "/").rsplit("/", 1)[-1]
    base = base[:-4] if base.endswith(".npy") else base.rsplit(".", 1)[0] if "." in base else base
    return base[:-4] if base.endswith("_i3d") else base


def parse_split_list(path: str | Path) -> list[tuple[str, int | None, int]]:
    """``[(video_id, label or None, line)]`` from a list of names (or RTFM feature paths) with an
    optional 0/1 label."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: split list not found")
    out, seen = [], {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        fields = raw.replace(",", " ").split()
        if not fields:
            continue
        if len(fields) > 2 or (len(fields) == 2 and fields[1] not in ("0", "1")):
            raise DatasetError(f"{path}:{lineno}: expected '<video> [0|1]', got {raw.strip()!r}")
        vid = list_video_id(fields[0])
        if not _ID.fullmatch(vid):
            raise DatasetError(f"{path}:{lineno}: {fields[0]!r} names no ShanghaiTech video (ids are "
                               f"SS_VVV or SS_VVVV, e.g. 01_001, 01_0014)")
        check_video_id(vid, f"{path}:{lineno}")
        if vid in seen:
            raise DatasetError(f"{path}:{lineno}: video '{vid}' is listed twice "
                               f"(first on line {seen[vid]})")
        seen[vid] = lineno
        out.append((vid, int(fields[1]) if len(fields) == 2 else None, lineno))
    if not out:
        raise DatasetError(f"{path}: the list names no videos (empty split)")
    return out


def find_mask(root: Path, folders: tuple[str, ...], vid: str) -> Path | None:
    """``<root>/<folder>/<vid>.npy`` (or ``.npz``) in the first folder that has it."""
    for folder in folders:
        for suffix in (".npy", ".npz"):
            candidate = root / folder / f"{vid}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _list_path(root: Path, split: str, list_file: str) -> Path:
    if list_file:
        path = root / list_file
        if not path.is_file():
            raise DatasetError(f"{path}: split list not found (reader option {split}_list)")
        return path
    found = find_file(root, LIST_DIRS, LIST_FILES[split])
    if found is None:
        raise DatasetError(f"{root}: no {split} list; expected one of {', '.join(LIST_FILES[split])} "
                           f"in {' or '.join(str(root / d) for d in LIST_DIRS)} (or the reader "
                           f"option {split}_list)")
    return found


def read_track_file(path: Path, n_frames: int, width: int, height: int, video: str
                    ) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """A public ShanghaiTech tracks file (``track_id,frame_id,x_min,y_min,x_max,y_max`` per line,
    integers, corners inclusive, frames 0-based) → ``[(track_id, start, end)]`` and their
    ``(K, n_frames, 4)`` boxes ``(x_min, y_min, x_max + 1, y_max + 1)``, NaN where a track has no
    region."""
    regions: dict[int, dict[int, tuple]] = {}
    columns = "track_id,frame_id,x_min,y_min,x_max,y_max"
    for lineno, _, (tid, frame, x1, y1, x2, y2) in integer_rows(path, columns):
        if not 0 <= frame < n_frames:
            raise DatasetError(f"{path}:{lineno}: frame {frame} is outside video '{video}' "
                               f"({n_frames} frames, 0-based)")
        if frame in regions.setdefault(tid, {}):
            raise DatasetError(f"{path}:{lineno}: track {tid} has a second region in frame {frame}")
        box = (x1, y1, x2 + 1, y2 + 1)
        check_boxes({frame: box}, width, height, video, f"{path}:{lineno}, corners inclusive")
        regions[tid][frame] = box
    if not regions:
        raise DatasetError(f"{path}: tracks file of anomalous video '{video}' holds no region")
    tracks = [(tid, min(fr), max(fr)) for tid, fr in sorted(regions.items())]
    boxes = np.full((len(tracks), n_frames, 4), np.nan, dtype=np.float32)
    for k, (tid, _, _) in enumerate(tracks):
        for frame, box in regions[tid].items():
            boxes[k, frame] = box
    return tracks, boxes


def read_shanghaitech(root: str | Path, split: str, **options) -> list[VideoRecord]:
    """Read the ``"train"`` or ``"test"`` split (layout in the module docstring); ``options`` are
    the fields of :class:`ShanghaiTechOptions`."""
    from ..schema import from_dict

    opts = from_dict(ShanghaiTechOptions, options, source="shanghaitech reader options")
    root = resolve(root)
    if split not in LIST_FILES:
        raise DatasetError(f"ShanghaiTech (weak split) has splits {', '.join(LIST_FILES)}, "
                           f"not '{split}'")
    list_path = _list_path(root, split, opts.train_list if split == "train" else opts.test_list)
    tracks_dir = root / opts.tracks_dir \
        if opts.tracks_dir else None
    keep_gt = split != "train"
    records, skipped, off_mask = [], [], {}
    for vid, listed_label, lineno in parse_split_list(list_path):
        frame_mask = find_mask(root, FRAME_MASK_DIRS, vid)
        pixel_mask = find_mask(root, PIXEL_MASK_DIRS, vid)
        mask = read_frame_mask(frame_mask) if frame_mask is not None else None
        label = (listed_label if listed_label is not None
                 else int(mask.any()) if mask is not None
                 else int(len(vid.split("_")[1]) == 4))
        if mask is not None and label != int(mask.any()):
            raise DatasetError(f"{list_path}:{lineno}: video '{vid}' is labelled {label} but its "
                               f"frame mask {frame_mask} marks {int(mask.sum())} anomalous frames")
        if keep_gt and label == 1 and frame_mask is None:
            raise DatasetError(f"{list_path}:{lineno}: anomalous test video '{vid}' has no frame "
                               f"mask in {' or '.join(str(root / d) for d in FRAME_MASK_DIRS)}; "
                               f"its frames cannot be labelled")
        path = next((p for p in (find_video(root / d, vid) for d in VIDEO_DIRS) if p), None)
        if path is None:
            skipped.append((vid, f"not found as a video file or frame folder in "
                                 f"{', '.join(VIDEO_DIRS)}"))
            continue
        try:
            info = probe_video(path, exact=opts.exact_frames, folder_fps=opts.folder_fps)
        except VideoReadError as exc:
            skipped.append((vid, str(exc)))
            continue
        if keep_gt and mask is not None and mask.shape != (info.n_frames,):
            raise DatasetError(f"video '{vid}': frame mask {frame_mask} has shape {mask.shape} but "
                               f"the video {path} has {info.n_frames} frames")
        if keep_gt and pixel_mask is not None:
            shape = mask_file_shape(pixel_mask)
            if shape != (info.n_frames, info.height, info.width):
                raise DatasetError(f"video '{vid}': pixel mask {pixel_mask} has shape {shape}, "
                                   f"expected ({info.n_frames}, {info.height}, {info.width}) "
                                   f"from {path}")
        tracks = track_boxes = None
        if keep_gt and label == 1 and tracks_dir is not None:
            tpath = tracks_dir / f"{vid}.txt"
            if not tpath.is_file():
                raise DatasetError(f"{tpath}: no tracks file for anomalous test video '{vid}' "
                                   f"(reader option tracks_dir); remove the option to derive "
                                   f"regions from the pixel masks")
            tracks, track_boxes = read_track_file(tpath, info.n_frames, info.width, info.height, vid)
            present = ~np.isnan(track_boxes).any(2).T  # (n, K)
            n_off = int((present & ~(mask > 0)[:, None]).sum())
            if n_off:
                off_mask[vid] = n_off
        records.append(VideoRecord(
            id=vid, path=path, n_frames=info.n_frames, fps=info.fps, label=label,
            class_name=ANOMALY_CLASS if label else "normal", split=split,
            frame_mask_path=frame_mask if keep_gt else None,
            pixel_mask_path=pixel_mask if keep_gt else None,
            tracks=tracks, track_boxes=track_boxes,
            regions_from_pixel_mask=bool(keep_gt and label == 1 and tracks is None
                                         and pixel_mask is not None),
            width=info.width, height=info.height))
    if off_mask:
        from .records import _caller_stacklevel

        warnings.warn(f"{tracks_dir}: {sum(off_mask.values())} track regions lie on frames their "
                      f"frame mask calls normal (" + ", ".join(f"{v}: {n}" for v, n in off_mask.items())
                      + "); they are scored as regions all the same", DatasetWarning,
                      stacklevel=_caller_stacklevel())
    return finish_split(records, skipped, str(list_path), strict=opts.strict)

"""ShanghaiTech Campus (Liu et al., CVPR 2018) in the weakly supervised split of Zhong et al.
(CVPR 2019): 238 training and 199 test videos, anomalous training videos drawn from the official
test set.

Expected layout::

    <root>/
      SH_Train_new.txt              split lists (names overridable with ``list_file``): one video
      SH_Test_NEW.txt               per line, "01_0014" (a folder and an extension are ignored:
                                    "testing/01_0014.avi"), optionally followed by its 0/1 label
      <video folders>               each video is looked up, first match wins, as
                                    <vid>.mp4/.avi/... or a frame folder <vid>/ (sorted
                                    .jpg/.png) in videos/, training/videos/, testing/videos/,
                                    testing/frames/, training/frames/, frames/
      test_frame_mask/<vid>.npy     (or testing/test_frame_mask/) (n_frames,) 0/1 per frame
      test_pixel_mask/<vid>.npy     (or testing/test_pixel_mask/) (n_frames, H, W) 0/1; ``.npz``
                                    with key "mask" is accepted too

Video-level label: the list's second column when present, else 1 when the video's frame mask marks
any frame anomalous, else 0 (the official training videos have no masks and are all normal).
Anomalous videos get class ``"anomaly"`` (ShanghaiTech has no classes). Test records carry the
frame- and pixel-mask paths; lengths are checked against the decoded video. Train records carry
only the label, although their masks exist on disk.
"""

from __future__ import annotations

from pathlib import Path

from ..io import resolve
from .records import (DatasetError, VideoRecord, finish_split, mask_file_shape, read_mask_file)
from .ucf_crime import video_id_of
from .video import FRAME_FOLDER_FPS, VideoReadError, find_video, probe_video

LIST_FILES = {"train": ("SH_Train_new.txt", "SH_Train.txt", "train.txt"),
              "test": ("SH_Test_NEW.txt", "SH_Test_new.txt", "SH_Test.txt", "test.txt")}
VIDEO_DIRS = ("videos", "training/videos", "testing/videos", "testing/frames", "training/frames",
              "frames")
FRAME_MASK_DIRS = ("test_frame_mask", "testing/test_frame_mask")
PIXEL_MASK_DIRS = ("test_pixel_mask", "testing/test_pixel_mask")
ANOMALY_CLASS = "anomaly"

# The mask readers live with the records (frame labels read them); re-exported as this format's.
read_frame_mask = read_mask_file
read_pixel_mask = read_mask_file


def parse_split_list(path: str | Path) -> list[tuple[str, int | None, int]]:
    """``[(video_id, label or None, line)]`` from a list of names with an optional 0/1 label."""
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
        vid = video_id_of(fields[0])
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


def _list_path(root: Path, split: str, list_file: str | Path | None) -> Path:
    if list_file is not None:
        return root / list_file
    for name in LIST_FILES[split]:
        if (root / name).is_file():
            return root / name
    raise DatasetError(f"{root}: no {split} list; expected one of {', '.join(LIST_FILES[split])} "
                       f"(or pass list_file)")


def read_shanghaitech(root: str | Path, split: str, *, list_file: str | Path | None = None,
                      video_dirs: tuple[str, ...] = VIDEO_DIRS,
                      folder_fps: float = FRAME_FOLDER_FPS, strict: bool = False,
                      exact_frames: bool = False) -> list[VideoRecord]:
    """Read the ``"train"`` or ``"test"`` split (layout in the module docstring)."""
    root = resolve(root)
    if split not in LIST_FILES:
        raise DatasetError(f"ShanghaiTech (weak split) has splits {', '.join(LIST_FILES)}, "
                           f"not '{split}'")
    list_path = _list_path(root, split, list_file)
    records, skipped = [], []
    for vid, listed_label, lineno in parse_split_list(list_path):
        frame_mask = find_mask(root, FRAME_MASK_DIRS, vid)
        pixel_mask = find_mask(root, PIXEL_MASK_DIRS, vid)
        mask = read_frame_mask(frame_mask) if frame_mask is not None else None
        label = listed_label if listed_label is not None else int(mask is not None and mask.any())
        if mask is not None and label != int(mask.any()):
            raise DatasetError(f"{list_path}:{lineno}: video '{vid}' is labelled {label} but its "
                               f"frame mask {frame_mask} marks {int(mask.sum())} anomalous frames")
        if split != "train" and label == 1 and frame_mask is None:
            raise DatasetError(f"{list_path}:{lineno}: anomalous test video '{vid}' has no frame "
                               f"mask in {' or '.join(str(root / d) for d in FRAME_MASK_DIRS)}")
        path = next((p for p in (find_video(root / d, vid) for d in video_dirs) if p), None)
        if path is None:
            skipped.append((vid, f"not found as a video file or frame folder in "
                                 f"{', '.join(video_dirs)}"))
            continue
        try:
            info = probe_video(path, exact=exact_frames, folder_fps=folder_fps)
        except VideoReadError as exc:
            skipped.append((vid, str(exc)))
            continue
        keep_gt = split != "train"
        if keep_gt and mask is not None and mask.shape != (info.n_frames,):
            raise DatasetError(f"video '{vid}': frame mask {frame_mask} has shape {mask.shape} but "
                               f"the video {path} has {info.n_frames} frames")
        if keep_gt and pixel_mask is not None:
            shape = mask_file_shape(pixel_mask)
            if shape != (info.n_frames, info.height, info.width):
                raise DatasetError(f"video '{vid}': pixel mask {pixel_mask} has shape {shape}, "
                                   f"expected ({info.n_frames}, {info.height}, {info.width}) "
                                   f"from {path}")
        records.append(VideoRecord(
            id=vid, path=path, n_frames=info.n_frames, fps=info.fps, label=label,
            class_name=ANOMALY_CLASS if label else "normal", split=split,
            frame_mask_path=frame_mask if keep_gt else None,
            pixel_mask_path=pixel_mask if keep_gt else None,
            width=info.width, height=info.height))
    return finish_split(records, skipped, str(list_path), strict)

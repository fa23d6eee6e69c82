"""Looking at a dataset through its records: sample frames with their boxes, anomaly areas.

These read the videos and ground truth exactly as the training and evaluation code does (through
the readers), so the figures of ``01_data_prep`` show what the model will see, for SynthVAD and the
real datasets alike.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .groundtruth import frame_boxes
from .records import VideoRecord, frame_labels
from .video import read_frames


def _middle_anomalous_frame(record: VideoRecord, labels: np.ndarray, boxes: np.ndarray) -> int:
    boxed = np.flatnonzero(labels.astype(bool) & ~np.isnan(boxes).any(1))
    if len(boxed):
        return int(boxed[len(boxed) // 2])
    anomalous = np.flatnonzero(labels)
    return int(anomalous[len(anomalous) // 2]) if len(anomalous) else record.n_frames // 2


def sample_frames(records: Sequence[VideoRecord], per_class: int = 3) -> dict[str, list[dict]]:
    """class → up to ``per_class`` samples ``{"frame", "box", "title"}`` (the input of
    :func:`stprompt.reports.viz.sample_frame_grid`): for each of the first videos of a class, the middle
    frame of its annotated anomaly (of the video for normal videos) and its ground-truth box.
    Records need frame ground truth (val/test splits) to show boxes."""
    by_class: dict[str, list[VideoRecord]] = {}
    for r in records:
        by_class.setdefault(r.class_name, []).append(r)
    order = sorted(by_class, key=lambda c: (c != "normal", c))
    out: dict[str, list[dict]] = {}
    for cls in order:
        items = []
        for r in by_class[cls][:per_class]:
            labels = frame_labels(r)
            boxes = frame_boxes(r)
            t = _middle_anomalous_frame(r, labels, boxes)
            frame = read_frames(r.path, t, t + 1)[0]
            box = boxes[t] if labels[t] and not np.isnan(boxes[t]).any() else None
            items.append({"frame": frame, "box": box, "title": f"{r.id} t={t}"})
        out[cls] = items
    return out


def anomaly_area_fractions(records: Sequence[VideoRecord], per: str = "frame") -> dict[str, list[float]]:
    """class → box area / frame area, one value per annotated anomalous frame (``per="frame"``) or
    the mean per video (``per="video"``). Frame size from the record (probed when missing)."""
    if per not in ("frame", "video"):
        raise ValueError(f"per must be 'frame' or 'video', got {per!r}")
    out: dict[str, list[float]] = {}
    for r in records:
        if not r.label:
            continue
        boxes = frame_boxes(r)
        boxes = boxes[~np.isnan(boxes).any(1)]
        if not len(boxes):
            continue
        if r.width and r.height:
            w, h = r.width, r.height
        else:
            from .video import probe_video

            info = probe_video(r.path)
            w, h = info.width, info.height
        fracs = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / float(w * h)
        values = fracs.tolist() if per == "frame" else [float(fracs.mean())]
        out.setdefault(r.class_name, []).extend(values)
    return out


def has_boxes(records: Sequence[VideoRecord]) -> bool:
    """Whether any anomalous record has a ground-truth box on some frame (boxes, sparse boxes,
    tracks or regions from its pixel mask)."""
    return any(r.label and not np.isnan(frame_boxes(r)).all() for r in records)


#: Where each dataset's boxes come from, for the sentence a figure without boxes shows instead.
BOX_SOURCES = {
    "ucf_crime": "UCF-Crime's boxes are Liu & Ma's, a separate download (reader option boxes_file: "
                 "UCFCrimeBBox/Test_annotation.pkl), and exist for the test split only",
    "shanghaitech": "ShanghaiTech's regions come from the test pixel masks (testing/test_pixel_mask/) "
                    "or the public track files (reader option tracks_dir)",
    "ubnormal": "UBnormal's boxes come from the per-frame id masks and tracks of the validation and "
                "test videos",
}


def missing_boxes_note(dataset: str, splits: Sequence[str]) -> str:
    """One sentence saying why a box figure is skipped: no anomaly box in ``splits``."""
    why = BOX_SOURCES.get(dataset, "the reader found no box annotation")
    return (f"No anomaly box in the {', '.join(splits) or 'evaluation'} split(s) of {dataset}, so this "
            f"figure is skipped: {why}.")

"""Tiny datasets in the real folder layouts, generated for the reader tests (nothing downloaded).

Videos are 32x24 px; frame ``i`` is a flat grey of level ``GREY_STEP * i`` so that decoding can be
checked by value. Each ``make_*`` function writes one dataset under ``root`` and returns the ground
truth the tests compare against.
"""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import av
import numpy as np
from PIL import Image

W, H = 32, 24
FPS = 25
GREY_STEP = 10


def grey_frames(n: int, width: int = W, height: int = H) -> np.ndarray:
    levels = (np.arange(n) * GREY_STEP) % 256
    return np.broadcast_to(levels[:, None, None, None], (n, height, width, 3)).astype(np.uint8)


def write_video(path: Path, n_frames: int, width: int = W, height: int = H,
                movflags: str | None = None) -> Path:
    """An H.264 ``.mp4`` (lossless luma) or MPEG-4 Part 2 ``.avi`` of grey frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": movflags} if movflags else {}
    with av.open(str(path), "w", options=options) as container:
        codec = "mpeg4" if path.suffix == ".avi" else "libx264"
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"qp": "0"}
        for img in grey_frames(n_frames, width, height):
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frame_folder(folder: Path, n_frames: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(grey_frames(n_frames)):
        Image.fromarray(img).save(folder / f"{i:03d}.jpg", quality=95)
    return folder


# ------------------------------------------------------------------------------------------------
# UCF-Crime
# ------------------------------------------------------------------------------------------------

UCF_TEMPORAL = (
    "Arrest001_x264.mp4  Arrest  5  9  20  30\n"
    "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n"
    "Burglary099_x264.mp4  Burglary  1  2  -1  -1\n"  # a video of another list: ignored
)


def make_ucf_crime(root: Path) -> Path:
    write_video(root / "Abuse" / "Abuse001_x264.mp4", 40)
    write_video(root / "Training_Normal_Videos_Anomaly" / "Normal_Videos001_x264.mp4", 24)
    # the download splits classes over part folders: found by name, not at its listed path
    write_video(root / "Anomaly-Videos-Part-1" / "Arrest" / "Arrest001_x264.mp4", 40)
    write_video(root / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4", 20)
    (root / "Anomaly_Train.txt").write_text(
        "Abuse/Abuse001_x264.mp4\nTraining_Normal_Videos_Anomaly/Normal_Videos001_x264.mp4\n")
    (root / "Anomaly_Test.txt").write_text(
        "Arrest/Arrest001_x264.mp4\n\nTesting_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4\n")
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(UCF_TEMPORAL)
    boxes = {"Arrest001_x264": [["Arrest/Arrest001_x264/000016.jpg", 30, 60, 120, 240],
                                ["Arrest/Arrest001_x264/000032.jpg", 0, 0, 320, 200]]}
    with open(root / "liu_ma_boxes.pkl", "wb") as fh:
        pickle.dump(boxes, fh)
    return root


# ------------------------------------------------------------------------------------------------
# ShanghaiTech (weak split)
# ------------------------------------------------------------------------------------------------

def make_shanghaitech(root: Path) -> Path:
    write_video(root / "training" / "videos" / "01_001.avi", 20)  # normal, train
    write_video(root / "training" / "videos" / "01_002.avi", 18)  # normal, test (no mask)
    write_frame_folder(root / "testing" / "frames" / "01_0014", 24)  # anomalous, train
    write_video(root / "videos" / "01_0015.mp4", 30)  # anomalous, test
    write_video(root / "videos" / "02_0161.mp4", 16)  # normal, test (all-zero mask)
    fm = root / "testing" / "test_frame_mask"
    fm.mkdir(parents=True)
    m14 = np.zeros(24, np.uint8)
    m14[10:16] = 1
    np.save(fm / "01_0014.npy", m14)
    m15 = np.zeros(30, np.uint8)
    m15[3:8] = 1
    m15[20:30] = 1
    np.save(fm / "01_0015.npy", m15)
    np.save(fm / "02_0161.npy", np.zeros(16, np.uint8))
    pm = root / "testing" / "test_pixel_mask"
    pm.mkdir(parents=True)
    pix = np.zeros((30, H, W), np.uint8)
    pix[m15.astype(bool), 2:6, 4:9] = 1
    np.savez_compressed(pm / "01_0015.npz", mask=pix)
    np.save(pm / "01_0014.npy", np.zeros((24, H, W), np.uint8))
    (root / "SH_Train_new.txt").write_text("01_001\n01_0014\n")
    (root / "SH_Test_NEW.txt").write_text("01_0015\n02_0161.mp4\ntraining/01_002\n")
    return root


# ------------------------------------------------------------------------------------------------
# UBnormal
# ------------------------------------------------------------------------------------------------

UB_ABNORMAL = "abnormal_scene_1_scenario_1"
UB_TRACKS = [(1, 5, 9), (3, 8, 12)]


def ub_object_box(obj: int, frame: int) -> tuple[int, int, int, int]:
    """Where object ``obj`` is drawn at ``frame`` (x1, y1, x2, y2; x2/y2 exclusive)."""
    if obj == 1:  # moves right by one pixel per frame
        return (2 + frame - 5, 3, 6 + frame - 5, 7)
    return (20, 10, 25, 16)


def make_ubnormal(root: Path) -> Path:
    scene = root / "Scene1"
    write_video(scene / f"{UB_ABNORMAL}.mp4", 30)
    write_video(scene / "normal_scene_1_scenario_1.mp4", 20)
    write_video(root / "Scene2" / "abnormal_scene_2_scenario_3_fog.mp4", 25)
    write_video(root / "Scene2" / "normal_scene_2_scenario_1.mp4", 17)
    ann = scene / f"{UB_ABNORMAL}_annotations"
    ann.mkdir(parents=True)
    (ann / f"{UB_ABNORMAL}_tracks.txt").write_text(
        "".join(f"{o},{s},{e}\n" for o, s, e in UB_TRACKS))
    for frame in range(5, 13):
        mask = np.zeros((H, W), np.uint8)
        for obj, start, end in UB_TRACKS:
            if start <= frame <= end:
                x1, y1, x2, y2 = ub_object_box(obj, frame)
                mask[y1:y2, x1:x2] = obj
        Image.fromarray(mask).save(ann / f"{UB_ABNORMAL}_{frame:04d}_gt.png")
    scripts = root / "scripts"
    scripts.mkdir()
    (scripts / "abnormal_test_video_names.txt").write_text(f"{UB_ABNORMAL}\n")
    (scripts / "normal_test_video_names.txt").write_text("normal_scene_1_scenario_1\n")
    (scripts / "abnormal_training_video_names.txt").write_text("abnormal_scene_2_scenario_3_fog\n")
    (scripts / "normal_training_video_names.txt").write_text("normal_scene_2_scenario_1\n")
    return root


# ------------------------------------------------------------------------------------------------
# VadCLIP feature CSV
# ------------------------------------------------------------------------------------------------

def make_vadclip(root: Path) -> Path:
    """Crop files of Abuse001 (T=5, 2 crops), a normal video (T=3, 1 crop) and a stacked
    ``(C, T, D)`` file (T=4); the CSV holds the authors' absolute paths, which do not exist here."""
    rng = np.random.default_rng(0)
    feats = root / "UCFClipFeatures"
    for crop in range(2):
        (feats / "Abuse").mkdir(parents=True, exist_ok=True)
        np.save(feats / "Abuse" / f"Abuse001_x264__{crop}.npy", rng.normal(size=(5, 8)))
    (feats / "Testing_Normal_Videos_Anomaly").mkdir(parents=True)
    np.save(feats / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264__0.npy",
            rng.normal(size=(3, 8)))
    (feats / "Arrest").mkdir()
    np.save(feats / "Arrest" / "Arrest001_x264.npy", rng.normal(size=(2, 4, 8)))
    rows = [["path", "label"],
            ["/home/author/UCFClipFeatures/Abuse/Abuse001_x264__1.npy", "Abuse"],
            ["/home/author/UCFClipFeatures/Abuse/Abuse001_x264__0.npy", "Abuse"],
            ["/home/author/UCFClipFeatures/Testing_Normal_Videos_Anomaly/"
             "Normal_Videos_003_x264__0.npy", "Normal"],
            ["UCFClipFeatures/Arrest/Arrest001_x264.npy", "Arrest"]]
    with open(root / "test.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    (root / "temporal.txt").write_text(
        "Abuse001_x264.mp4  Abuse  10  90  -1  -1\n"
        "Arrest001_x264.mp4  Arrest  0  3  60  70\n"
        "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n")
    return root


# ------------------------------------------------------------------------------------------------
# SynthVAD (hand-made, in the layout documented in stprompt.datasets.synthvad)
# ------------------------------------------------------------------------------------------------

SYNTH_VIDEOS = [  # id, split, class, n_frames
    ("train_normal_000", "train", "normal", 32),
    ("train_fire_000", "train", "fire", 33),
    ("test_normal_000", "test", "normal", 20),
    ("test_fire_000", "test", "fire", 40),
]
SYNTH_SEGMENT = (10, 25)  # test_fire_000, 0-based inclusive
SYNTH_BOX = (4.0, 6.0, 12.0, 14.0)  # constant fire box (x2/y2 exclusive)


def make_synthvad(root: Path) -> Path:
    videos = []
    for vid, split, cls, n in SYNTH_VIDEOS:
        write_video(root / "videos" / cls / f"{vid}.mp4", n)
        videos.append({"id": vid, "split": split, "label": int(cls != "normal"), "class": cls,
                       "n_frames": n, "path": f"videos/{cls}/{vid}.mp4",
                       "anomaly_area_frac": None if cls == "normal" else 64 / (W * H)})
    meta = {"generator": "synthvad", "version": "0.1.0", "config": {}, "config_hash": "x",
            "classes": ["normal", "fire"], "fps": FPS, "width": W, "height": H, "snippet_len": 16,
            "videos": videos}
    (root / "meta.json").write_text(json.dumps(meta))
    splits = root / "splits"
    splits.mkdir()
    for split in ("train", "test"):
        (splits / f"{split}.txt").write_text("".join(
            f"{cls}/{vid}.mp4\n" for vid, s, cls, _ in SYNTH_VIDEOS if s == split))
    ann = root / "annotations"
    for sub in ("boxes", "test_frame_mask", "test_pixel_mask", "tracks"):
        (ann / sub).mkdir(parents=True)
    s, e = SYNTH_SEGMENT
    (ann / "temporal_annotations.txt").write_text(
        f"test_normal_000.mp4  Normal  -1  -1  -1  -1\ntest_fire_000.mp4  Fire  {s}  {e}  -1  -1\n")
    with open(ann / "boxes_liu_ma.pkl", "wb") as fh:
        pickle.dump({"test_fire_000": [["test_fire_000/000016.jpg", *SYNTH_BOX]]}, fh)
    n = 40
    boxes = np.full((n, 4), np.nan, np.float32)
    boxes[s:e + 1] = SYNTH_BOX
    np.save(ann / "boxes" / "test_fire_000.npy", boxes)
    np.save(ann / "boxes" / "test_normal_000.npy", np.full((20, 4), np.nan, np.float32))
    fm = np.zeros(n, np.uint8)
    fm[s:e + 1] = 1
    np.save(ann / "test_frame_mask" / "test_fire_000.npy", fm)
    np.save(ann / "test_frame_mask" / "test_normal_000.npy", np.zeros(20, np.uint8))
    pix = np.zeros((n, H, W), np.uint8)
    pix[s:e + 1, 6:14, 4:12] = 1
    np.savez_compressed(ann / "test_pixel_mask" / "test_fire_000.npz", mask=pix)
    (ann / "tracks" / "test_fire_000_tracks.txt").write_text(f"1,{s},{e}\n")
    np.savez_compressed(ann / "tracks" / "test_fire_000_track_boxes.npz", ids=np.array([1]),
                        boxes=boxes[None])
    return root

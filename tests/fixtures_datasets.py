"""Tiny datasets in the official download layouts, generated for the tests (nothing downloaded).

Each ``make_*`` writes one dataset under ``root`` as its download lays it out, with the quirks of
``REAL_FORMATS.md`` that matter to its reader (two trailing spaces and path-sorted vs name-sorted
orders in UCF-Crime's files, Liu & Ma's Python 2 protocol-0 pickle with 1-based ``image_NNNN.jpg``
frames and 1-based corners, ShanghaiTech's lists without a trailing newline and RTFM's absolute
feature paths, UBnormal's unsorted lists, ``scenario1`` names and float tracks files), and the module
holds the hand-counted ground truth the tests compare against.

Videos are 32x24 px; frame ``i`` is a flat grey of level ``GREY_STEP * i`` (mod 256) so that
decoding can be checked by value.
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


def write_frame_folder(folder: Path, n_frames: int, name: str = "{:03d}.jpg") -> Path:
    """A frame folder as ShanghaiTech's ``testing/frames/<vid>/000.jpg`` (``name`` formats the
    0-based index)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(grey_frames(n_frames)):
        Image.fromarray(img).save(folder / name.format(i), quality=95)
    return folder


def py2_pickle(obj, unicode_strings: frozenset[str] = frozenset()) -> bytes:
    """``obj`` (dicts, lists, str, int) pickled as Python 2's ``pickle.dump`` writes protocol 0:
    ``(dp0``, ``S'...'`` strings (``V...`` UNICODE for the strings in ``unicode_strings``), ``I77``
    ints, one ``pN`` memo PUT per dict, list and string, ``a`` APPEND, ``s`` SETITEM, ``.`` STOP
    (the opcodes of Liu & Ma's files, REAL_FORMATS.md section 2)."""
    out, memo = [], [0]

    def put() -> str:
        memo[0] += 1
        return f"p{memo[0] - 1}\n"

    def emit(x) -> None:
        if isinstance(x, dict):
            out.append("(d" + put())
            for k, v in x.items():
                emit(k)
                emit(v)
                out.append("s")
        elif isinstance(x, list):
            out.append("(l" + put())
            for v in x:
                emit(v)
                out.append("a")
        elif isinstance(x, str):
            if x in unicode_strings:
                out.append("V" + x.encode("raw_unicode_escape").decode("latin-1") + "\n" + put())
            else:
                out.append("S" + repr(x).replace('"', "'") + "\n" + put())
        elif isinstance(x, int):
            out.append(f"I{x}\n")
        else:
            raise TypeError(type(x))

    emit(obj)
    return ("".join(out) + ".").encode("latin-1")


# ------------------------------------------------------------------------------------------------
# UCF-Crime (UCF_Crimes/ as downloaded, Liu & Ma's UCFCrimeBBox/ beside it)
# ------------------------------------------------------------------------------------------------

#: Test videos: relative path under Videos/, frames, temporal line fields (class s1 e1 s2 e2).
UCF_TEST = {
    # the download splits classes over part folders: found by name, not at its listed path
    "Arrest001_x264": ("Anomaly-Videos-Part-1/Arrest/Arrest001_x264.mp4", 40, "Arrest", 5, 9, 20, 40),
    "Normal_Videos_003_x264": ("Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4", 20, "Normal",
                               -1, -1, -1, -1),
}
UCF_TEST_FULL = {
    "Abuse028_x264": ("Abuse/Abuse028_x264.mp4", 128, "Abuse", 40, 120, -1, -1),  # the example
    "Burglary035_x264": ("Burglary/Burglary035_x264.mp4", 32, "Burglary", 1, 16, -1, -1),  # starts at frame 1
    "RoadAccidents009_x264": ("RoadAccidents/RoadAccidents009_x264.mp4", 48, "RoadAccidents", 10, 30, -1, -1),
}
UCF_TRAIN = {
    "Abuse001_x264": ("Abuse/Abuse001_x264.mp4", 40),
    "Normal_Videos001_x264": ("Training-Normal-Videos-Part-1/Normal_Videos001_x264.mp4", 24),
}
UCF_TRAIN_FULL = {
    "Abuse002_x264": ("Abuse/Abuse002_x264.mp4", 32),
    "Normal_Videos002_x264": ("Training-Normal-Videos-Part-1/Normal_Videos002_x264.mp4", 24),
}
#: Hand-counted 0-based inclusive anomalous frames of every test video under both conventions.
UCF_SEGMENTS = {
    "sultani": {"Arrest001_x264": [(4, 8), (19, 39)], "Abuse028_x264": [(39, 119)],
                "Burglary035_x264": [(0, 15)], "RoadAccidents009_x264": [(9, 29)]},
    "vadclip": {"Arrest001_x264": [(5, 8), (20, 39)], "Abuse028_x264": [(40, 119)],
                "Burglary035_x264": [(1, 15)], "RoadAccidents009_x264": [(10, 29)]},
}
#: Liu & Ma boxes as written (image number, 1-based corners in 320x240) ...
UCF_BOXES_RAW = {
    "Arrest001_x264": [(6, 31, 61, 160, 240), (22, 161, 1, 320, 120), (38, 1, 1, 320, 240)],
    "Abuse028_x264": [(71, 41, 41, 200, 160), (55, 41, 41, 200, 160)],  # not in frame order
    "Burglary035_x264": [(1, 11, 21, 110, 120), (9, 11, 21, 110, 120)],
    "RoadAccidents009_x264": [(16, 40, 49, 218, 143)],
}
#: ... and as the reader must give them: 0-based frame N-1, (x1-1, y1-1, x2, y2) scaled x0.1.
UCF_BOXES = {
    "Arrest001_x264": {5: (3.0, 6.0, 16.0, 24.0), 21: (16.0, 0.0, 32.0, 12.0), 37: (0.0, 0.0, 32.0, 24.0)},
    "Abuse028_x264": {54: (4.0, 4.0, 20.0, 16.0), 70: (4.0, 4.0, 20.0, 16.0)},
    "Burglary035_x264": {0: (1.0, 2.0, 11.0, 12.0), 8: (1.0, 2.0, 11.0, 12.0)},
    "RoadAccidents009_x264": {15: (3.9, 4.8, 21.8, 14.3)},
}
UCF_BOX_PREFIX = "/home3/lk/surveillance_images/Anomaly_Test"


def ucf_temporal_line(name: str, fields, mp4: bool = True, trailing: bool = True) -> str:
    """A temporal annotation line as released: every field followed by two spaces."""
    cls, *nums = fields
    parts = [name + (".mp4" if mp4 else ""), cls, *map(str, nums)]
    return "  ".join(parts) + ("  " if trailing else "")


def make_ucf_crime(root: Path, full: bool = False) -> Path:
    """``UCF_Crimes/`` as downloaded: ``Anomaly_Detection_splits/`` lists, ``Videos/<Folder>/``,
    the temporal file at the top and Liu & Ma's ``UCFCrimeBBox/`` beside them. ``full``: three
    more test videos (segment ``40 120``, one starting at frame 1, a class after "Normal") and two
    more training videos, so that a held-out validation split has both labels."""
    test = {**UCF_TEST, **(UCF_TEST_FULL if full else {})}
    train = {**UCF_TRAIN, **(UCF_TRAIN_FULL if full else {})}
    for rel, n, *_ in test.values():
        write_video(root / "Videos" / rel, n)
    for rel, n in train.values():
        write_video(root / "Videos" / rel, n)

    def listed(vid: str, rel: str) -> str:  # the list names the class folder, not the part folder
        folder = rel.split("/")[-2]
        if folder.startswith("Training-Normal"):
            folder = "Training_Normal_Videos_Anomaly"
        return f"{folder}/{vid}.mp4"

    splits = root / "Anomaly_Detection_splits"
    splits.mkdir(parents=True)
    # sorted by the full path string, LF, the last line ends with LF
    (splits / "Anomaly_Train.txt").write_text(
        "".join(f"{p}\n" for p in sorted(listed(v, r) for v, (r, _) in train.items())))
    (splits / "Anomaly_Test.txt").write_text(
        "".join(f"{p}\n" for p in sorted(listed(v, r[0]) for v, r in test.items())))
    # sorted by file name, so the normal videos sit among the classes, with a line for a video of
    # the full download that this tree does not hold
    lines = {v: ucf_temporal_line(v, fields[2:]) for v, fields in test.items()}
    lines["Explosion002_x264"] = ucf_temporal_line("Explosion002_x264", ("Explosion", 1, 100, -1, -1))
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        "".join(f"{lines[v]}\n" for v in sorted(lines)))
    boxes = {}
    for vid in reversed(list(test)):  # a plain dict, not sorted
        if vid in UCF_BOXES_RAW:
            cls = test[vid][2]
            boxes[vid] = [[f"{UCF_BOX_PREFIX}/{cls}/{vid}/image_{n:04d}.jpg", x1, y1, x2, y2]
                          for n, x1, y1, x2, y2 in UCF_BOXES_RAW[vid]]
    bbox = root / "UCFCrimeBBox"
    bbox.mkdir()
    (bbox / "Test_annotation.pkl").write_bytes(py2_pickle(boxes))
    # the training file: one video's key and paths were py2 unicode (UNICODE opcodes), and a
    # 5-digit image number in a folder that is not the key
    train_boxes = {"Abuse001_x264": [[f"/home3/lk/surveillance_images/Anomaly_Train/Abuse/Abuse001_x264/"
                                      f"image_0017.jpg", 1, 2, 30, 40]],
                   "RoadAccidents136_x264": [["/home3/lk/surveillance_images/Anomaly_Train/RoadAccidents/"
                                              "RoadAccidents136_x2640/image_12916.jpg", 5, 6, 320, 240]]}
    (bbox / "Train_annotation.pkl").write_bytes(py2_pickle(train_boxes, frozenset({
        "RoadAccidents136_x264", train_boxes["RoadAccidents136_x264"][0][0]})))
    return root


def ucf_anomalous_frames(convention: str, full: bool = True) -> int:
    """Hand-counted anomalous test frames of the tree under a frame convention."""
    ids = [*UCF_TEST, *(UCF_TEST_FULL if full else {})]
    return sum(e - s + 1 for v in ids for s, e in UCF_SEGMENTS[convention].get(v, []))


# ------------------------------------------------------------------------------------------------
# ShanghaiTech (weak split; RTFM's list/ beside the dataset's folders)
# ------------------------------------------------------------------------------------------------

SHT_TRAIN = {"01_001": ("training/videos/01_001.avi", 20), "01_003": ("training/videos/01_003.avi", 20),
             "01_0014": ("testing/frames/01_0014", 24), "01_0017": ("testing/frames/01_0017", 20)}
SHT_TEST = {"01_0015": ("testing/frames/01_0015", 30), "01_0016": ("testing/frames/01_0016", 32),
            "01_002": ("training/videos/01_002.avi", 18)}
#: anomalous frame runs (0-based, inclusive) of the frame masks
SHT_RUNS = {"01_0014": [(10, 15)], "01_0017": [(5, 8)],
            "01_0015": [(3, 7), (20, 29)],  # ends anomalous on the last frame
            "01_0016": [(0, 3), (10, 11), (28, 31)]}  # starts anomalous at frame 0, three runs
#: pixel blobs (frames, x1, y1, x2, y2 exclusive) of the pixel masks; each blob is one region
SHT_BLOBS = {"01_0015": [((3, 7), 4, 2, 9, 6), ((20, 29), 4, 2, 9, 6), ((20, 29), 20, 14, 28, 20)],
             "01_0016": [((0, 3), 10, 8, 16, 12), ((10, 11), 10, 8, 16, 12), ((28, 31), 2, 2, 6, 5)],
             "01_0014": [((10, 15), 1, 1, 5, 5)], "01_0017": [((5, 8), 1, 1, 5, 5)]}
#: the tracks the pixel masks give (track id, start, end; boxes as in SHT_BLOBS), hand-derived
SHT_MASK_TRACKS = {"01_0015": [(1, 3, 7), (2, 20, 29), (3, 20, 29)],
                   "01_0016": [(1, 0, 3), (2, 10, 11), (3, 28, 31)]}


def sht_frame_mask(vid: str, n: int) -> np.ndarray:
    m = np.zeros(n, np.uint8)
    for s, e in SHT_RUNS.get(vid, []):
        m[s:e + 1] = 1
    return m


def make_shanghaitech(root: Path) -> Path:
    """``shanghaitech/`` with ``training/videos/*.avi``, ``testing/frames/<vid>/000.jpg``,
    ``testing/test_frame_mask/`` (uint8, 1-D) and ``testing/test_pixel_mask/`` ((n, H, W) uint8),
    RTFM's ``list/SH_{Train,Test}.txt`` (sorted, no trailing newline) and
    ``list/shanghai-i3d-{train,test}-10crop.list`` (absolute paths, abnormal videos first), and
    the public track files in ``tracks/``."""
    for vid, (rel, n) in {**SHT_TRAIN, **SHT_TEST}.items():
        if rel.startswith("testing/frames"):
            write_frame_folder(root / rel, n)
        else:
            write_video(root / rel, n)
    fm, pm, tracks = root / "testing" / "test_frame_mask", root / "testing" / "test_pixel_mask", root / "tracks"
    for d in (fm, pm, tracks):
        d.mkdir(parents=True)
    for vid, (_, n) in {**SHT_TRAIN, **SHT_TEST}.items():
        if len(vid.split("_")[1]) != 4:
            continue  # original training videos: no masks
        np.save(fm / f"{vid}.npy", sht_frame_mask(vid, n))
        pix = np.zeros((n, H, W), np.uint8)
        lines = []
        for k, ((s, e), x1, y1, x2, y2) in enumerate(SHT_BLOBS[vid]):
            pix[s:e + 1, y1:y2, x1:x2] = 1
            lines += [f"{k},{f},{x1},{y1},{x2 - 1},{y2 - 1}" for f in range(s, e + 1)]
        np.save(pm / f"{vid}.npy", pix)
        if vid in SHT_TEST:
            (tracks / f"{vid}.txt").write_text("\n".join(lines) + "\n")
    lst = root / "list"
    lst.mkdir()
    for split, vids in (("Train", SHT_TRAIN), ("Test", SHT_TEST)):
        (lst / f"SH_{split}.txt").write_text("\n".join(sorted(vids)))  # no LF after the last name
        abnormal = sorted(v for v in vids if len(v.split("_")[1]) == 4)
        normal = sorted(v for v in vids if v not in abnormal)
        (lst / f"shanghai-i3d-{split.lower()}-10crop.list").write_text("".join(
            f"/home/yu/yu_ssd/SH_{split}_ten_crop_i3d/{v}_i3d.npy\n" for v in abnormal + normal))
    return root


# ------------------------------------------------------------------------------------------------
# UBnormal (as released: Scene*/ folders, scripts/ split lists)
# ------------------------------------------------------------------------------------------------

UB_ABNORMAL = "abnormal_scene_1_scenario_1"
UB_TRACKS = [(1, 5, 9), (3, 8, 12)]
UB_VAL_ABNORMAL = "abnormal_scene_3_scenario_1"
UB_VAL_TRACKS = [(2, 4, 10)]
UB_VIDEOS = {  # name -> (split, frames)
    UB_ABNORMAL: ("test", 30), "normal_scene_1_scenario1_10": ("test", 20),  # no '_' after scenario
    "abnormal_scene_2_scenario_3_fog": ("training", 25), "normal_scene_2_scenario_1": ("training", 17),
    "abnormal_scene_2_scenario_4": ("training", 20), "normal_scene_2_scenario_2": ("training", 16),
    UB_VAL_ABNORMAL: ("validation", 24), "normal_scene_3_scenario_2": ("validation", 16),
}


def ub_object_box(obj: int, frame: int) -> tuple[int, int, int, int]:
    """Where object ``obj`` is drawn at ``frame`` (x1, y1, x2, y2; x2/y2 exclusive)."""
    if obj == 1:  # moves right by one pixel per frame
        return (2 + frame - 5, 3, 6 + frame - 5, 7)
    if obj == 2:
        return (10, 10, 18, 20)
    return (20, 10, 25, 16)


def make_ubnormal(root: Path) -> Path:
    """UBnormal as released: ``Scene<k>/<video>.mp4``, ``<video>_annotations/`` with an id mask
    ``<video>_<frame:04d>_gt.png`` for every frame of every video and ``<video>_tracks.txt`` for
    the abnormal ones (np.savetxt's float format; a one-line file), and the split lists in
    ``scripts/`` (unsorted, no trailing newline)."""
    tracks_of = {UB_ABNORMAL: UB_TRACKS, UB_VAL_ABNORMAL: UB_VAL_TRACKS,
                 "abnormal_scene_2_scenario_3_fog": [(1, 2, 6)], "abnormal_scene_2_scenario_4": [(1, 3, 5)]}
    for name, (_, n) in UB_VIDEOS.items():
        scene = root / f"Scene{name.split('_')[2]}"
        write_video(scene / f"{name}.mp4", n)
        ann = scene / f"{name}_annotations"
        ann.mkdir(parents=True)
        tracks = tracks_of.get(name, [])
        for frame in range(n):
            mask = np.zeros((H, W), np.uint8)
            for obj, start, end in tracks:
                if start <= frame <= end:
                    x1, y1, x2, y2 = ub_object_box(obj, frame)
                    mask[y1:y2, x1:x2] = obj
            Image.fromarray(mask).save(ann / f"{name}_{frame:04d}_gt.png")
        if name.startswith("abnormal"):
            text = "".join(f"{o:.6e},{s:.6e},{e:.6e}\n" for o, s, e in tracks) if name == UB_ABNORMAL \
                else "".join(f"{o},{s},{e}\n" for o, s, e in tracks)
            (ann / f"{name}_tracks.txt").write_text(text)
    scripts = root / "scripts"
    scripts.mkdir()
    for split in ("training", "validation", "test"):
        for kind in ("abnormal", "normal"):
            names = [v for v, (s, _) in UB_VIDEOS.items() if s == split and v.startswith(kind + "_")]
            (scripts / f"{kind}_{split}_video_names.txt").write_text("\n".join(reversed(names)))
    return root


# ------------------------------------------------------------------------------------------------
# VadCLIP feature lists (list/ucf_CLIP_rgb*.csv under their release names)
# ------------------------------------------------------------------------------------------------

def make_vadclip(root: Path) -> Path:
    """VadCLIP's ``list/`` folder: ``ucf_CLIP_rgbtest.csv`` (one ``__5`` crop row per video,
    anomalous videos first, CRLF, the authors' absolute paths), ``ucf_CLIP_rgb.csv`` (train, two
    crops per video), ``Temporal_Anomaly_Annotation.txt`` (names without ``.mp4``) and the
    features under ``UCFClipFeatures/<Folder>/<Name>__<crop>.npy``; plus ``test.csv`` with a
    stacked ``(C, T, D)`` file at a relative path."""
    rng = np.random.default_rng(0)
    feats = root / "UCFClipFeatures"
    for folder, name, crops, T in (("Abuse", "Abuse028_x264", (5,), 5), ("Arrest", "Arrest001_x264", (5,), 4),
                                   ("Testing_Normal_Videos_Anomaly", "Normal_Videos_003_x264", (5,), 3),
                                   ("Abuse", "Abuse001_x264", (0, 1), 6),
                                   ("Training_Normal_Videos_Anomaly", "Normal_Videos001_x264", (0, 1), 2)):
        (feats / folder).mkdir(parents=True, exist_ok=True)
        for crop in crops:
            np.save(feats / folder / f"{name}__{crop}.npy", rng.normal(size=(T, 8)).astype(np.float32))
    lst = root / "list"
    lst.mkdir()
    home = "/home/xbgydx/Desktop/UCFClipFeatures"
    test_rows = [["path", "label"], [f"{home}/Abuse/Abuse028_x264__5.npy", "Abuse"],
                 [f"{home}/Arrest/Arrest001_x264__5.npy", "Arrest"],
                 [f"{home}/Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264__5.npy", "Normal"]]
    train_rows = [["path", "label"], *([f"{home}/Abuse/Abuse001_x264__{k}.npy", "Abuse"] for k in (0, 1)),
                  *([f"{home}/Training_Normal_Videos_Anomaly/Normal_Videos001_x264__{k}.npy", "Normal"]
                    for k in (0, 1))]
    for name, rows in (("ucf_CLIP_rgbtest.csv", test_rows), ("ucf_CLIP_rgb.csv", train_rows)):
        with open(lst / name, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)  # csv.writer ends lines with CRLF, as released
    (lst / "Temporal_Anomaly_Annotation.txt").write_text(
        ucf_temporal_line("Abuse028_x264", ("Abuse", 10, 90, -1, -1), mp4=False) + "\n"
        + ucf_temporal_line("Arrest001_x264", ("Arrest", 1, 3, 60, 70), mp4=False) + "\n"
        + ucf_temporal_line("Normal_Videos_003_x264", ("Normal", -1, -1, -1, -1), mp4=False) + "\n")
    (feats / "Stacked").mkdir()
    np.save(feats / "Stacked" / "Stealing001_x264.npy", rng.normal(size=(2, 4, 8)).astype(np.float32))
    with open(root / "stacked.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["path", "label"], ["UCFClipFeatures/Stacked/Stealing001_x264.npy", "Stealing"]])
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
        pickle.dump({"test_fire_000": [["test_fire_000/000016.jpg", *SYNTH_BOX]]}, fh, protocol=4)
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

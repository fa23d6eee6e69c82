"""Dataset readers: generated fixtures in each real layout, read back and compared with hand-checked
records, frame labels, boxes and masks; every kind of bad input gives an error (or a warning
listing what was skipped) that names the file, line or video."""

from __future__ import annotations

import pickle
import shutil
import warnings

import numpy as np
import pytest

import fixtures_datasets as fx
from stprompt.datasets import (DatasetError, DatasetWarning, VideoReadError, VideoRecord,
                               check_feature_length, frame_boxes, frame_labels, load_dataset,
                               load_pixel_mask, load_track_boxes, probe_video, read_frames,
                               summary_table)
from stprompt.config import ConfigError
from stprompt.datasets.records import convert_segment, tracks_from_pixel_mask
from stprompt.datasets.ubnormal import read_tracks
from stprompt.datasets.ucf_crime import parse_temporal_annotations, parse_video_list, read_liu_ma_boxes


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return fx.make_ucf_crime(tmp_path_factory.mktemp("ucf") / "UCF_Crimes")


@pytest.fixture(scope="module")
def ucf_full(tmp_path_factory):
    return fx.make_ucf_crime(tmp_path_factory.mktemp("ucf_full") / "UCF_Crimes", full=True)


@pytest.fixture(scope="module")
def sht(tmp_path_factory):
    return fx.make_shanghaitech(tmp_path_factory.mktemp("sht") / "shanghaitech")


@pytest.fixture(scope="module")
def ubn(tmp_path_factory):
    return fx.make_ubnormal(tmp_path_factory.mktemp("ubnormal"))


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return fx.make_synthvad(tmp_path_factory.mktemp("synthvad"))


def copy(src, tmp_path):
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def labels_from_ranges(n, *ranges):
    out = np.zeros(n, np.uint8)
    for s, e in ranges:
        out[s:e + 1] = 1
    return out


# ------------------------------------------------------------------------------------------------
# Video probing and decoding
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,tolerance", [("mp4", 3), ("avi", 6), ("frames", 3)])
def test_probe_and_read_frames(tmp_path, kind, tolerance):
    path = (fx.write_frame_folder(tmp_path / "v", 20) if kind == "frames"
            else fx.write_video(tmp_path / f"v.{kind}", 20))
    info = probe_video(path)
    assert (info.n_frames, info.fps, info.width, info.height) == (20, 25.0, fx.W, fx.H)
    frames = read_frames(path, 3, 7)
    assert frames.shape == (4, fx.H, fx.W, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), [30, 40, 50, 60], atol=tolerance)
    assert read_frames(path).shape[0] == 20
    with pytest.raises(VideoReadError, match=r"v.*\[15, 25\).*20"):
        read_frames(path, 15, 25)


def test_missing_corrupt_and_truncated_videos_name_the_file(tmp_path):
    with pytest.raises(VideoReadError, match=r"nothing\.mp4: video file not found"):
        probe_video(tmp_path / "nothing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(VideoReadError, match=r"garbage\.mp4: cannot open"):
        probe_video(garbage)
    # moov atom at the end (PyAV's default): a truncated file cannot be opened at all
    good = fx.write_video(tmp_path / "good.mp4", 60).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(good[: len(good) // 2])
    with pytest.raises(VideoReadError, match=r"cut\.mp4: cannot open.*truncated or corrupt"):
        read_frames(tmp_path / "cut.mp4")
    # moov atom first ("faststart"): the header promises frames the file no longer holds
    fast = fx.write_video(tmp_path / "fast.mp4", 200, movflags="faststart").read_bytes()
    (tmp_path / "fastcut.mp4").write_bytes(fast[: len(fast) // 2])
    assert probe_video(tmp_path / "fastcut.mp4").n_frames == 200  # header only: not detected
    with pytest.raises(VideoReadError, match=r"fastcut\.mp4: header announces 200 frames.*"
                                             r"truncated"):
        probe_video(tmp_path / "fastcut.mp4", exact=True)
    with pytest.raises(VideoReadError, match=r"fastcut\.mp4"):
        read_frames(tmp_path / "fastcut.mp4")


# ------------------------------------------------------------------------------------------------
# Frame labels and the length convention
# ------------------------------------------------------------------------------------------------

def test_frame_labels_length_convention():
    r = VideoRecord("vid_a", "a.mp4", n_frames=40, fps=25, label=1, class_name="Arrest",
                    split="test", segments=[(5, 9), (36, 39)])
    expected = labels_from_ranges(40, (5, 9), (36, 39))
    np.testing.assert_array_equal(frame_labels(r), expected)
    np.testing.assert_array_equal(frame_labels(r, 40), expected)
    # features of ceil(40/16) = 3 snippets cover 48 frames: padded with the last frame's label
    np.testing.assert_array_equal(frame_labels(r, 48), np.r_[expected, np.ones(8, np.uint8)])
    # an extractor that drops the tail covers 32 frames
    np.testing.assert_array_equal(frame_labels(r, 32), expected[:32])
    assert check_feature_length(r, 3) == 48
    for bad in (39, 41, 16, 64):
        with pytest.raises(DatasetError, match=rf"video 'vid_a'.*{bad} frames.*40 frames"):
            frame_labels(r, bad)
    with pytest.raises(DatasetError, match=r"'vid_a'.*cover 48 frames"):
        frame_labels(r, 48, snippet_len=None)
    with pytest.raises(DatasetError, match=r"'vid_a'.*features of 4 snippets"):
        check_feature_length(r, 4)
    # a video shorter than one snippet: only its length and one padded snippet
    short = VideoRecord("short", "s.mp4", 10, 25, 0, "normal", "test")
    np.testing.assert_array_equal(frame_labels(short, 16), np.zeros(16, np.uint8))
    with pytest.raises(DatasetError, match="'short'"):
        frame_labels(short, 0)


def test_record_without_frame_ground_truth_is_an_error():
    r = VideoRecord("train_fire", "t.mp4", 32, 25, 1, "fire", "train")
    with pytest.raises(DatasetError, match=r"'train_fire' \(train split\): no frame-level"):
        frame_labels(r)
    with pytest.raises(DatasetError, match=r"'bad'.*segment \(30, 40\)"):
        VideoRecord("bad", "b.mp4", 32, 25, 1, "fire", "test", segments=[(30, 40)])
    with pytest.raises(DatasetError, match=r"'odd'.*class 'normal'"):
        VideoRecord("odd", "b.mp4", 32, 25, 0, "fire", "test")



def test_video_ids_must_be_safe_file_names():
    for bad in ("../x", "a/b", ".hidden", "", "a\\b", "x\x00y"):
        with pytest.raises(DatasetError, match="not a safe file name"):
            VideoRecord(bad, "a.mp4", 16, 25, 0, "normal", "test")
    VideoRecord("v=S-7rRLrxnVQ__#1_label_B4-0-0", "a.mp4", 16, 25, 0, "normal", "test")


# ------------------------------------------------------------------------------------------------
# Frame conventions: hand-counted
# ------------------------------------------------------------------------------------------------

def test_frame_conventions_hand_counted():
    # the example: segment "40 120" of a 128-frame video
    assert convert_segment(40, 120, 128, "sultani", "v", "f") == (39, 119)  # GT(40:120), 81 frames
    assert convert_segment(40, 120, 128, "vadclip", "v", "f") == (40, 119)  # gt[40:120], 80 frames
    assert convert_segment(40, 120, 128, "zero_inclusive", "v", "f") == (40, 120)
    # a segment starting at frame 1 (Burglary035 of the real file: "1  1740")
    assert convert_segment(1, 16, 32, "sultani", "v", "f") == (0, 15)
    assert convert_segment(1, 16, 32, "vadclip", "v", "f") == (1, 15)
    # ending on the last frame: 1-based 40 is 0-based 39 in both
    assert convert_segment(20, 40, 40, "sultani", "v", "f") == (19, 39)
    assert convert_segment(20, 40, 40, "vadclip", "v", "f") == (20, 39)
    # ends past the video are clipped (both evaluations do), but not by 16 frames or more
    assert convert_segment(20, 50, 40, "sultani", "v", "f") == (19, 39)
    with pytest.raises(DatasetError, match=r"f: video 'v': segment 20 56 does not fit its 40 frames"):
        convert_segment(20, 56, 40, "sultani", "v", "f")
    with pytest.raises(DatasetError, match=r"segment 41 45 does not fit"):
        convert_segment(41, 45, 40, "sultani", "v", "f")
    with pytest.raises(DatasetError, match=r"segment 5 5 does not fit.*'vadclip'"):  # gt[5:5] is empty
        convert_segment(5, 5, 40, "vadclip", "v", "f")


def test_ucf_crime_official_layout_both_conventions_hand_counted(ucf_full):
    for convention in ("sultani", "vadclip"):
        test = load_dataset("ucf_crime", ucf_full, "test", {"frame_convention": convention})
        # Anomaly_Test.txt order (path-sorted: the normal folder sorts after RoadAccidents), not the
        # temporal file's (name-sorted: Normal_Videos before RoadAccidents)
        assert [r.id for r in test] == ["Abuse028_x264", "Arrest001_x264", "Burglary035_x264",
                                        "RoadAccidents009_x264", "Normal_Videos_003_x264"]
        for r in test:
            assert r.segments == fx.UCF_SEGMENTS[convention].get(r.id, [])
            assert r.extra["frame_convention"] == convention
        assert sum(int(frame_labels(r).sum()) for r in test) == fx.ucf_anomalous_frames(convention)
    assert fx.ucf_anomalous_frames("sultani") == 81 + 26 + 16 + 21 == 144
    assert fx.ucf_anomalous_frames("vadclip") == 80 + 24 + 15 + 20 == 139
    # the default is the dataset authors' convention
    (abuse, *_) = load_dataset("ucf_crime", ucf_full, "test")
    assert abuse.segments == [(39, 119)] and int(frame_labels(abuse).sum()) == 81
    with pytest.raises(ConfigError, match=r"key 'frame_convention': expected one of \['sultani', 'vadclip'\]"):
        load_dataset("ucf_crime", ucf_full, "test", {"frame_convention": "matlab"})
    with pytest.raises(ConfigError, match=r"unknown key 'frame_conventon'; did you mean 'frame_convention'"):
        load_dataset("ucf_crime", ucf_full, "test", {"frame_conventon": "vadclip"})


def test_ucf_crime_records(ucf):
    train = load_dataset("ucf_crime", ucf, "train")
    assert [(r.id, r.label, r.class_name, r.n_frames, r.segments) for r in train] == [
        ("Abuse001_x264", 1, "Abuse", 40, None),
        ("Normal_Videos001_x264", 0, "normal", 24, None)]
    assert train[1].path == ucf / "Videos" / "Training-Normal-Videos-Part-1" / "Normal_Videos001_x264.mp4"
    assert all(r.split == "train" and r.fps == 25.0 and (r.width, r.height) == (32, 24)
               for r in train)
    reader = {"boxes_file": "UCFCrimeBBox/Test_annotation.pkl"}
    test = load_dataset("ucf_crime", ucf, "test", reader)
    arrest, normal = test
    assert (arrest.id, arrest.label, arrest.class_name) == ("Arrest001_x264", 1, "Arrest")
    assert arrest.path == ucf / "Videos" / "Anomaly-Videos-Part-1" / "Arrest" / "Arrest001_x264.mp4"
    assert arrest.segments == [(4, 8), (19, 39)]  # "5  9  20  40", 1-based inclusive
    np.testing.assert_array_equal(frame_labels(arrest), labels_from_ranges(40, (4, 8), (19, 39)))
    # Liu & Ma: image_0006.jpg is frame 5; corners (31, 61, 160, 240) are 1-based: (30, 60, 160, 240)
    # in 0-based exclusive pixels of 320x240, scaled x0.1 to the 32x24 video
    assert arrest.sparse_boxes.keys() == fx.UCF_BOXES["Arrest001_x264"].keys() == {5, 21, 37}
    for f, box in fx.UCF_BOXES["Arrest001_x264"].items():
        np.testing.assert_allclose(arrest.sparse_boxes[f], box)
    dense = frame_boxes(arrest)
    assert dense.shape == (40, 4) and np.isnan(dense).any(axis=1).sum() == 37
    assert (normal.label, normal.class_name, normal.segments, normal.sparse_boxes) == (0, "normal", [], None)
    assert summary_table(test)[-1] == {"split": "test", "class": "all", "videos": 2, "frames": 60,
                                       "snippets": 5, "anomalous_frames": 26}
    assert summary_table(train)[1]["anomalous_frames"] is None  # train: video labels only
    # one reader block serves every split: boxes_file (test ground truth) is not given to train ...
    assert len(load_dataset("ucf_crime", ucf, "train", reader)) == 2
    # ... and a direct call that asks for training boxes is refused, naming the file
    from stprompt.datasets.ucf_crime import read_ucf_crime

    with pytest.raises(DatasetError, match=r"Test_annotation\.pkl: boxes_file is read for the test split only"):
        read_ucf_crime(ucf, "train", boxes_file="UCFCrimeBBox/Test_annotation.pkl")


def test_liu_ma_pickle_as_released_py2_protocol0_with_unicode(ucf):
    import pickletools

    raw = (ucf / "UCFCrimeBBox" / "Train_annotation.pkl").read_bytes()
    ops = {op.name for op, _, _ in pickletools.genops(raw)}
    assert ops == {"MARK", "DICT", "PUT", "STRING", "UNICODE", "LIST", "APPEND", "INT", "SETITEM", "STOP"}
    assert raw.startswith(b"(dp0\nS'Abuse001_x264'\np1\n(lp2\n(lp3\nS'/home3/lk/")
    boxes = read_liu_ma_boxes(ucf / "UCFCrimeBBox" / "Train_annotation.pkl")
    # 5-digit image number, the folder "RoadAccidents136_x2640" differs from the key
    assert boxes == {"Abuse001_x264": {16: (0.0, 1.0, 30.0, 40.0)},
                     "RoadAccidents136_x264": {12915: (4.0, 5.0, 320.0, 240.0)}}


def test_ucf_temporal_file_variants_parse_the_same(ucf, tmp_path):
    released = parse_temporal_annotations(ucf / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt")
    text = (ucf / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").read_text()
    assert text.splitlines()[0] == "Arrest001_x264.mp4  Arrest  5  9  20  40  "  # two trailing spaces, as released
    variants = {"vadclip.txt": text.replace(".mp4", ""),  # VadCLIP's list/ copy
                "crlf.txt": text.replace("\n", "\r\n"),  # SAL's copy
                "no_trailing.txt": "\n".join(line.rstrip() for line in text.splitlines()) + "\n"}
    for name, variant in variants.items():
        (tmp_path / name).write_bytes(variant.encode())
        parsed = parse_temporal_annotations(tmp_path / name)
        assert {k: (v.class_name, v.segments) for k, v in parsed.items()} == \
            {k: (v.class_name, v.segments) for k, v in released.items()}, name


def test_ucf_crime_vadclip_list_copies_and_other_locations(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    # VadCLIP's list/ folder instead of Anomaly_Detection_splits/, its annotation copy (no .mp4)
    (root / "list").mkdir()
    for name in ("Anomaly_Train.txt", "Anomaly_Test.txt"):
        shutil.move(root / "Anomaly_Detection_splits" / name, root / "list" / name)
    ann = root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    (root / "list" / "Temporal_Anomaly_Annotation.txt").write_text(ann.read_text().replace(".mp4", ""))
    ann.unlink()
    test = load_dataset("ucf_crime", root, "test")
    assert [(r.id, r.segments) for r in test] == [("Arrest001_x264", [(4, 8), (19, 39)]),
                                                  ("Normal_Videos_003_x264", [])]
    # a folder of the download named by the reader options instead
    shutil.move(root / "Videos", root / "UCF_Videos")
    assert len(load_dataset("ucf_crime", root, "test", {"video_dir": "UCF_Videos"})) == 2
    with pytest.raises(DatasetError, match=r"no Anomaly_Train\.txt; looked in .*Anomaly_Detection_splits"):
        load_dataset("ucf_crime", tmp_path / "nowhere", "train")


def test_ucf_list_line_outside_the_dataset_is_an_error(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    lst = root / "Anomaly_Detection_splits" / "Anomaly_Train.txt"
    for bad in ("../../etc/Abuse001_x264.mp4", "/etc/Abuse/Abuse001_x264.mp4", "Abuse/../../x/Abuse001_x264.mp4"):
        lst.write_text("Abuse/Abuse001_x264.mp4\n" + bad + "\n")
        with pytest.raises(DatasetError, match=r"Anomaly_Train\.txt:2: path .* is outside the dataset folder"):
            load_dataset("ucf_crime", root, "train")
    # reader options are the user's own paths: relative to the root, or absolute
    shutil.move(root / "UCFCrimeBBox", tmp_path / "UCFCrimeBBox")
    test = load_dataset("ucf_crime", root, "test", {"boxes_file": str(tmp_path / "UCFCrimeBBox" / "Test_annotation.pkl")})
    assert test[0].sparse_boxes.keys() == {5, 21, 37}


def test_ucf_liu_ma_keys_without_videos_and_boxes_outside_segments_are_counted(ucf_full, tmp_path):
    root = copy(ucf_full, tmp_path)
    pkl = root / "UCFCrimeBBox" / "Test_annotation.pkl"
    raw = pickle.loads(pkl.read_bytes())
    raw["Stealing999_x264"] = [["/x/Stealing999_x264/image_0017.jpg", 1, 1, 10, 10]]
    del raw["RoadAccidents009_x264"]
    pkl.write_bytes(fx.py2_pickle(raw))
    with pytest.warns(DatasetWarning) as caught:
        test = load_dataset("ucf_crime", root, "test", {"boxes_file": "UCFCrimeBBox/Test_annotation.pkl",
                                                        "frame_convention": "vadclip"})
    (message,) = [str(w.message) for w in caught]
    assert "Test_annotation.pkl: 1 of its 4 videos match no video of" in message and "Stealing999_x264" in message
    assert "1 anomalous videos of the list have no box (RoadAccidents009_x264)" in message
    # image_0001.jpg is frame 0: inside "1 16" under sultani (0..15), outside under vadclip (1..15)
    assert "1 boxes lie outside their video's annotated segments and are not scored (Burglary035_x264: 1)" in message
    assert {r.id: sorted(r.sparse_boxes or {}) for r in test}["Burglary035_x264"] == [0, 8]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sultani: no box outside a segment, only the two dropped
        with pytest.raises(DatasetWarning, match=r"match no video.*have no box"):
            load_dataset("ucf_crime", root, "test", {"boxes_file": "UCFCrimeBBox/Test_annotation.pkl"})


def test_ucf_annotation_line_with_wrong_field_count(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    ann = root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    lines = ann.read_text().splitlines()
    lines[2] = lines[2].replace("Normal  -1  -1  -1  -1", "Normal  -1  -1  -1")
    ann.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"Testing_Videos\.txt:3: expected 6 "
                                           r"whitespace-separated fields "
                                           r"'Name Class s1 e1 s2 e2'.*got 5"):
        load_dataset("ucf_crime", root, "test")
    ann.write_text("Arrest001_x264.mp4  Arrest  5  x  -1  -1\n")
    with pytest.raises(DatasetError, match=r"Testing_Videos\.txt:1: expected integer frames"):
        parse_temporal_annotations(ann)
    lst = root / "Anomaly_Detection_splits" / "Anomaly_Train.txt"
    lst.write_text("Abuse/Abuse001_x264.mp4 Abuse\n")
    with pytest.raises(DatasetError, match=r"Anomaly_Train\.txt:1: expected one path"):
        parse_video_list(lst)


def test_ucf_missing_video_is_skipped_with_a_warning_or_raises_when_strict(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    (root / "Videos" / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4").unlink()
    with pytest.warns(DatasetWarning, match=r"Anomaly_Test\.txt: skipped 1 of 2 videos: "
                                            r"Normal_Videos_003_x264 \(not found"):
        test = load_dataset("ucf_crime", root, "test")
    assert [r.id for r in test] == ["Arrest001_x264"]
    with pytest.raises(DatasetError, match=r"skipped 1 of 2 videos: Normal_Videos_003_x264"):
        load_dataset("ucf_crime", root, "test", strict=True)
    # a corrupt file is skipped the same way, with the reason
    (root / "Videos" / "Abuse" / "Abuse001_x264.mp4").write_bytes(b"broken")
    with pytest.warns(DatasetWarning, match=r"Abuse001_x264 \(.*Abuse001_x264\.mp4: cannot open"):
        load_dataset("ucf_crime", root, "train")


def test_ucf_listed_video_without_annotation_line(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    ann = root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    ann.write_text("".join(line + "\n" for line in ann.read_text().splitlines() if "Arrest" not in line))
    with pytest.raises(DatasetError, match=r"video 'Arrest001_x264' \(.*Anomaly_Test\.txt:1\) has "
                                           r"no line in the temporal annotations"):
        load_dataset("ucf_crime", root, "test")


def test_ucf_box_outside_the_frame(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    (root / "UCFCrimeBBox" / "Test_annotation.pkl").write_bytes(fx.py2_pickle(
        {"Arrest001_x264": [["/x/Arrest001_x264/image_0017.jpg", 301, 11, 330, 40]]}))
    with pytest.raises(DatasetError, match=r"video 'Arrest001_x264'.*frame 16: "
                                           r"box \(30, 1, 33, 4\) is not inside the 32x24 frame"):
        load_dataset("ucf_crime", root, "test", boxes_file="UCFCrimeBBox/Test_annotation.pkl")
    (root / "UCFCrimeBBox" / "Test_annotation.pkl").write_bytes(fx.py2_pickle(
        {"Arrest001_x264": [["/x/Arrest001_x264/frame16.jpg", 1, 1, 30, 40]]}))
    with pytest.raises(DatasetError, match=r"expected an image named image_<frame>\.jpg"):
        load_dataset("ucf_crime", root, "test", boxes_file="UCFCrimeBBox/Test_annotation.pkl")


def test_ucf_empty_split_names_the_list(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    (root / "Anomaly_Detection_splits" / "Anomaly_Train.txt").write_text("\n\n")
    with pytest.raises(DatasetError, match=r"Anomaly_Train\.txt: the list names no videos"):
        load_dataset("ucf_crime", root, "train")
    with pytest.raises(DatasetError, match=r"splits train, test, not 'val'"):
        load_dataset("ucf_crime", root, "val")


# ------------------------------------------------------------------------------------------------
# ShanghaiTech
# ------------------------------------------------------------------------------------------------

def test_shanghaitech_official_layout_records(sht):
    train = load_dataset("shanghaitech", sht, "train")
    # list/SH_Train.txt: sorted ids, no trailing newline; labels from the masks and the id form
    assert [(r.id, r.label, r.class_name, r.n_frames, r.path.relative_to(sht).as_posix())
            for r in train] == [
        ("01_001", 0, "normal", 20, "training/videos/01_001.avi"),
        ("01_0014", 1, "anomaly", 24, "testing/frames/01_0014"),
        ("01_0017", 1, "anomaly", 20, "testing/frames/01_0017"),
        ("01_003", 0, "normal", 20, "training/videos/01_003.avi")]
    assert all(r.frame_mask_path is None and r.pixel_mask_path is None for r in train)
    test = load_dataset("shanghaitech", sht, "test")
    by_id = {r.id: r for r in test}
    assert [(r.id, r.label, r.n_frames) for r in test] == [("01_0015", 1, 30), ("01_0016", 1, 32),
                                                          ("01_002", 0, 18)]
    for vid in ("01_0015", "01_0016"):
        np.testing.assert_array_equal(frame_labels(by_id[vid]), labels_from_ranges(by_id[vid].n_frames,
                                                                                   *fx.SHT_RUNS[vid]))
    assert int(frame_labels(by_id["01_0016"])[0]) == 1 and int(frame_labels(by_id["01_0016"])[-1]) == 1
    np.testing.assert_array_equal(frame_labels(by_id["01_002"]), np.zeros(18))
    pix = load_pixel_mask(by_id["01_0015"])
    assert pix.shape == (30, 24, 32) and pix.sum() == 5 * 4 * 5 + 10 * (4 * 5 + 6 * 8)
    np.testing.assert_array_equal(load_pixel_mask(by_id["01_0015"], [3, 8]), pix[[3, 8]])
    assert load_pixel_mask(by_id["01_002"]).shape == (18, 24, 32)
    # RTFM's feature lists (absolute paths, abnormal first) give the same videos
    lists = {"train_list": "list/shanghai-i3d-train-10crop.list", "test_list": "list/shanghai-i3d-test-10crop.list"}
    rtfm = load_dataset("shanghaitech", sht, "test", lists)
    assert [r.id for r in rtfm] == ["01_0015", "01_0016", "01_002"]
    assert [r.id for r in load_dataset("shanghaitech", sht, "train", lists)] == ["01_0014", "01_0017", "01_001",
                                                                                 "01_003"]


def test_shanghaitech_regions_from_the_pixel_masks_hand_counted(sht):
    test = {r.id: r for r in load_dataset("shanghaitech", sht, "test")}
    for vid, expected in fx.SHT_MASK_TRACKS.items():
        r = test[vid]
        assert r.regions_from_pixel_mask and r.tracks is None
        tb = load_track_boxes(r)
        assert r.tracks == expected
        for k, ((s, e), x1, y1, x2, y2) in enumerate(fx.SHT_BLOBS[vid]):
            np.testing.assert_array_equal(tb[k, s:e + 1], np.tile((x1, y1, x2, y2), (e - s + 1, 1)))
            assert np.isnan(np.delete(tb[k], np.arange(s, e + 1), axis=0)).all()
    # frame 25 of 01_0015 holds two regions: the union box spans both
    np.testing.assert_array_equal(frame_boxes(test["01_0015"])[25], (4, 2, 28, 20))
    # two regions that touch one region of the previous frame: the first (row-major) continues it
    frames = np.zeros((3, 6, 8), bool)
    frames[0, 1:5, 1:7] = True
    frames[1, 1:3, 1:3] = frames[1, 4:5, 4:7] = True
    tracks, boxes = tracks_from_pixel_mask(iter(frames), 3)
    assert tracks == [(1, 0, 1), (2, 1, 1)]
    np.testing.assert_array_equal(boxes[0, 1], (1, 1, 3, 3))


def test_shanghaitech_public_track_files(sht, tmp_path):
    test = {r.id: r for r in load_dataset("shanghaitech", sht, "test", {"tracks_dir": "tracks"})}
    r = test["01_0015"]
    assert not r.regions_from_pixel_mask and r.tracks == [(0, 3, 7), (1, 20, 29), (2, 20, 29)]
    # corners are inclusive in the files: (4, 2, 8, 5) is the box (4, 2, 9, 6)
    assert (sht / "tracks" / "01_0015.txt").read_text().splitlines()[0] == "0,3,4,2,8,5"
    np.testing.assert_array_equal(r.track_boxes[0, 3], (4, 2, 9, 6))
    root = copy(sht, tmp_path)
    (root / "tracks" / "01_0016.txt").unlink()
    with pytest.raises(DatasetError, match=r"01_0016\.txt: no tracks file for anomalous test video '01_0016'"):
        load_dataset("shanghaitech", root, "test", {"tracks_dir": "tracks"})
    (root / "tracks" / "01_0016.txt").write_text("0,40,1,1,5,5\n")
    with pytest.raises(DatasetError, match=r"01_0016\.txt:1: frame 40 is outside video '01_0016'"):
        load_dataset("shanghaitech", root, "test", {"tracks_dir": "tracks"})
    (root / "tracks" / "01_0016.txt").write_text("0,5,1,1,5,5\n")  # frame 5 is normal in the mask
    with pytest.warns(DatasetWarning, match=r"1 track regions lie on frames their frame mask calls normal "
                                            r"\(01_0016: 1\)"):
        load_dataset("shanghaitech", root, "test", {"tracks_dir": "tracks"})


def test_shanghaitech_anomalous_test_video_without_frame_mask_is_an_error(sht, tmp_path):
    root = copy(sht, tmp_path)
    (root / "testing" / "test_frame_mask" / "01_0016.npy").unlink()
    with pytest.raises(DatasetError, match=r"SH_Test\.txt:2: anomalous test video '01_0016' has no frame "
                                           r"mask in .*testing/test_frame_mask"):
        load_dataset("shanghaitech", root, "test")


def test_shanghaitech_frame_folders_sort_by_number(tmp_path):
    folder = fx.write_frame_folder(tmp_path / "v", 12, name="{}.jpg")  # 0.jpg ... 11.jpg, no padding
    frames = read_frames(folder)
    assert [int(round(f.mean() / fx.GREY_STEP)) for f in frames] == list(range(12))


def test_shanghaitech_mask_length_mismatch_names_the_video(sht, tmp_path):
    root = copy(sht, tmp_path)
    np.save(root / "testing" / "test_frame_mask" / "01_0015.npy", np.ones(31, np.uint8))
    with pytest.raises(DatasetError, match=r"video '01_0015': frame mask .*01_0015\.npy has shape "
                                           r"\(31,\) but the video .* has 30 frames"):
        load_dataset("shanghaitech", root, "test")


def test_shanghaitech_list_and_label_errors(sht, tmp_path):
    root = copy(sht, tmp_path)
    lst = root / "list" / "SH_Test.txt"
    lst.write_text("01_0015 1\n01_002 1\n")
    with pytest.raises(DatasetError, match=r"SH_Test\.txt:2: anomalous test video '01_002' has no frame mask"):
        load_dataset("shanghaitech", root, "test")
    lst.write_text("01_0015 0\n")
    with pytest.raises(DatasetError, match=r"SH_Test\.txt:1: video '01_0015' is labelled 0 but its frame "
                                           r"mask .* marks 15 anomalous frames"):
        load_dataset("shanghaitech", root, "test")
    lst.write_text("01_0015 1 extra\n")
    with pytest.raises(DatasetError, match=r"SH_Test\.txt:1: expected '<video> \[0\|1\]'"):
        load_dataset("shanghaitech", root, "test")
    # only the video id is read from a list entry, never its path: nothing outside is opened
    lst.write_text("../../elsewhere/01_0015_i3d.npy\n")
    (r,) = load_dataset("shanghaitech", root, "test")
    assert r.id == "01_0015" and r.path == root / "testing" / "frames" / "01_0015"
    lst.write_text("01_0015/..\n")
    with pytest.raises(DatasetError, match=r"SH_Test\.txt:1: '01_0015/\.\.' names no ShanghaiTech video"):
        load_dataset("shanghaitech", root, "test")
    lst.write_text("")
    with pytest.raises(DatasetError, match=r"SH_Test\.txt: the list names no videos"):
        load_dataset("shanghaitech", root, "test")


# ------------------------------------------------------------------------------------------------
# UBnormal
# ------------------------------------------------------------------------------------------------

def test_ubnormal_records_tracks_and_boxes(ubn):
    test = load_dataset("ubnormal", ubn, "test")
    ab, normal = test
    assert (ab.id, ab.label, ab.class_name, ab.n_frames) == (fx.UB_ABNORMAL, 1, "anomaly", 30)
    assert ab.path == ubn / "Scene1" / f"{fx.UB_ABNORMAL}.mp4"
    assert ab.tracks == fx.UB_TRACKS and ab.segments == [(5, 12)]  # float tracks file
    np.testing.assert_array_equal(frame_labels(ab), labels_from_ranges(30, (5, 12)))
    tb = load_track_boxes(ab)
    assert tb.shape == (2, 30, 4)
    # object 1 moves right one pixel per frame from (2, 3, 6, 7) at frame 5
    np.testing.assert_array_equal(tb[0, 5], (2, 3, 6, 7))
    np.testing.assert_array_equal(tb[0, 9], (6, 3, 10, 7))
    np.testing.assert_array_equal(tb[1, 8], (20, 10, 25, 16))
    assert np.isnan(tb[0, 10]).all() and np.isnan(tb[1, 7]).all() and np.isnan(tb[:, 13]).all()
    union = frame_boxes(ab)
    np.testing.assert_array_equal(union[9], (6, 3, 25, 16))  # both objects
    np.testing.assert_array_equal(union[11], (20, 10, 25, 16))
    assert np.isnan(union[4]).all()
    pix = load_pixel_mask(ab)
    assert pix.shape == (30, 24, 32)
    assert pix[5].sum() == 16 and pix[9].sum() == 16 + 30 and pix[12].sum() == 30
    np.testing.assert_array_equal(load_pixel_mask(ab, [12, 5]), pix[[12, 5]])
    assert (normal.id, normal.label, normal.class_name, normal.segments, normal.tracks) == (
        "normal_scene_1_scenario1_10", 0, "normal", [], None)  # no '_' after "scenario"
    train = load_dataset("ubnormal", ubn, "train")
    assert sorted((r.id, r.label, r.segments, r.tracks) for r in train) == [
        ("abnormal_scene_2_scenario_3_fog", 1, None, None), ("abnormal_scene_2_scenario_4", 1, None, None),
        ("normal_scene_2_scenario_1", 0, None, None), ("normal_scene_2_scenario_2", 0, None, None)]
    (val_ab, val_normal) = load_dataset("ubnormal", ubn, "val")
    assert val_ab.tracks == fx.UB_VAL_TRACKS  # a one-line tracks file


def test_ubnormal_missing_or_empty_split_list_is_an_error(ubn, tmp_path):
    root = copy(ubn, tmp_path)
    (root / "scripts" / "normal_validation_video_names.txt").unlink()
    with pytest.raises(DatasetError, match=r"no normal_validation_video_names\.txt for the 'val' split"):
        load_dataset("ubnormal", root, "val")
    (root / "scripts" / "normal_test_video_names.txt").write_text("")
    with pytest.raises(DatasetError, match=r"normal_test_video_names\.txt: the list names no videos"):
        load_dataset("ubnormal", root, "test")
    (root / "scripts" / "normal_test_video_names.txt").write_text("normal_scene_1_scenario_1/../../x")
    with pytest.raises(DatasetError, match=r"normal_test_video_names\.txt:1: .* is not a UBnormal video name"):
        load_dataset("ubnormal", root, "test")


def test_ubnormal_tracks_line_with_wrong_field_count(ubn, tmp_path):
    root = copy(ubn, tmp_path)
    tracks = root / "Scene1" / f"{fx.UB_ABNORMAL}_annotations" / f"{fx.UB_ABNORMAL}_tracks.txt"
    tracks.write_text("1,5,9\n3,8\n")
    with pytest.raises(DatasetError, match=r"_tracks\.txt:2: expected 3 comma-separated integers "
                                           r"'object_id,start_frame,end_frame', got '3,8'"):
        load_dataset("ubnormal", root, "test")
    tracks.write_text("1.000000e+00,5.000000e+00,9.000000e+00\n")  # np.savetxt's float format
    assert read_tracks(tracks) == [(1, 5, 9)]
    tracks.write_text("1,5,40\n")
    with pytest.raises(DatasetError, match=r"object 1 ends at frame 40 but video "
                                           rf"'{fx.UB_ABNORMAL}' has 30 frames"):
        load_dataset("ubnormal", root, "test")


def test_ubnormal_missing_video_and_missing_id_mask(ubn, tmp_path):
    root = copy(ubn, tmp_path)
    (root / "Scene1" / "normal_scene_1_scenario1_10.mp4").unlink()
    with pytest.warns(DatasetWarning, match=r"skipped 1 of 2 videos: normal_scene_1_scenario1_10 "
                                            r"\(not found: .*Scene1/normal_scene_1_scenario1_10\.mp4"):
        (ab,) = load_dataset("ubnormal", root, "test")
    (root / "Scene1" / f"{fx.UB_ABNORMAL}_annotations" / f"{fx.UB_ABNORMAL}_0007_gt.png").unlink()
    with pytest.raises(DatasetError, match=rf"{fx.UB_ABNORMAL}_0007_gt\.png: id mask not found"):
        load_track_boxes(ab)


# ------------------------------------------------------------------------------------------------
# VadCLIP feature CSV
# ------------------------------------------------------------------------------------------------

def test_vadclip_csv_release_names(tmp_path):
    root = fx.make_vadclip(tmp_path)
    assert (root / "list" / "ucf_CLIP_rgbtest.csv").read_bytes().startswith(b"path,label\r\n")
    recs = load_dataset("vadclip_csv", root, "test", {"feature_root": "UCFClipFeatures"})
    assert [r.id for r in recs] == ["Abuse028_x264", "Arrest001_x264", "Normal_Videos_003_x264"]
    abuse, arrest, normal = recs
    assert [p.name for p in abuse.extra["feature_paths"]] == ["Abuse028_x264__5.npy"]  # crop 5 only
    assert (abuse.label, abuse.class_name, abuse.n_frames) == (1, "Abuse", 80)
    # list/Temporal_Anomaly_Annotation.txt (no .mp4), found next to the CSV; "10 90" overshoots
    # the 80 frames of 5 snippets: sultani 9..79 (clipped), vadclip 10..79
    assert abuse.segments == [(9, 79)]
    assert (arrest.n_frames, arrest.segments) == (64, [(0, 2), (59, 63)])
    assert (normal.label, normal.class_name, normal.n_frames, normal.segments) == (0, "normal", 48, [])
    vad = load_dataset("vadclip_csv", root, "test", {"feature_root": "UCFClipFeatures", "frame_convention": "vadclip"})
    assert [r.segments for r in vad] == [[(10, 79)], [(1, 2), (60, 63)], []]
    train = load_dataset("vadclip_csv", root, "train", {"feature_root": "UCFClipFeatures"})
    assert [(r.id, len(r.extra["feature_paths"]), r.segments) for r in train] == [
        ("Abuse001_x264", 2, None), ("Normal_Videos001_x264", 2, None)]
    # a CSV given as a file, a stacked (C, T, D) feature at a relative path
    (stacked,) = load_dataset("vadclip_csv", root / "stacked.csv", "test")
    assert (stacked.id, stacked.n_frames) == ("Stealing001_x264", 64)


def test_vadclip_csv_bad_rows_paths_and_missing_features(tmp_path):
    root = fx.make_vadclip(tmp_path)
    csv_path = root / "stacked.csv"
    text = csv_path.read_text()
    csv_path.write_text(text + "UCFClipFeatures/Arrest/Arrest002_x264.npy,Arrest,extra\n")
    with pytest.raises(DatasetError, match=r"stacked\.csv:3: expected 2 fields 'path,label', got 3"):
        load_dataset("vadclip_csv", csv_path, "test")
    csv_path.write_text(text + "UCFClipFeatures/Arrest/Arrest002_x264.npy,Arrest\n")
    with pytest.warns(DatasetWarning, match=r"skipped 1 of 2 videos: Arrest002_x264 \(feature file "
                                            r"not found"):
        load_dataset("vadclip_csv", csv_path, "test")
    csv_path.write_text(text + "../outside/Arrest002_x264.npy,Arrest\n")
    with pytest.raises(DatasetError, match=r"stacked\.csv:3: path .* is outside the dataset folder"):
        load_dataset("vadclip_csv", csv_path, "test")
    # an absolute path is never opened as it is: an existing file outside the folder is not read
    outside = tmp_path.parent / "elsewhere" / "Stolen001_x264.npy"
    outside.parent.mkdir(exist_ok=True)
    np.save(outside, np.zeros((2, 8), np.float32))
    csv_path.write_text(f"path,label\n{outside},Stealing\n")
    with pytest.raises(DatasetError, match=r"Stolen001_x264 \(feature file not found.*; no video left"):
        load_dataset("vadclip_csv", csv_path, "test")
    csv_path.write_text("file,class\n")
    with pytest.raises(DatasetError, match=r"stacked\.csv:1: expected the header 'path,label'"):
        load_dataset("vadclip_csv", csv_path, "test")


# ------------------------------------------------------------------------------------------------
# SynthVAD
# ------------------------------------------------------------------------------------------------

def test_synthvad_records(synth):
    train = load_dataset("synthvad", synth, "train")
    assert [(r.id, r.label, r.class_name, r.n_frames) for r in train] == [
        ("train_normal_000", 0, "normal", 32), ("train_fire_000", 1, "fire", 33)]
    for r in train:  # training records carry only the video-level label
        assert (r.segments, r.frame_mask_path, r.boxes, r.sparse_boxes, r.pixel_mask_path,
                r.tracks, r.track_boxes) == (None,) * 7
    test = load_dataset("synthvad", synth, "test")
    normal, fire = test
    assert (fire.id, fire.label, fire.class_name, fire.n_frames, fire.fps) == (
        "test_fire_000", 1, "fire", 40, 25.0)
    s, e = fx.SYNTH_SEGMENT
    assert fire.segments == [(s, e)]
    np.testing.assert_array_equal(frame_labels(fire), labels_from_ranges(40, (s, e)))
    # 40 frames = 3 snippets: scores repeated x16 cover 48 frames, the last label repeated
    assert frame_labels(fire, 48)[40:].sum() == 0
    assert fire.boxes.shape == (40, 4) and np.isnan(fire.boxes[:s]).all()
    np.testing.assert_array_equal(fire.boxes[s], fx.SYNTH_BOX)
    assert fire.sparse_boxes == {16: fx.SYNTH_BOX}
    assert fire.tracks == [(1, s, e)]
    np.testing.assert_array_equal(load_track_boxes(fire)[0], fire.boxes)
    pix = load_pixel_mask(fire)
    assert pix.shape == (40, 24, 32) and pix.sum() == (e - s + 1) * 64
    assert (normal.label, normal.segments, normal.tracks) == (0, [], None)
    np.testing.assert_array_equal(frame_labels(normal), np.zeros(20))
    assert summary_table(train + test) == [
        {"split": "train", "class": "normal", "videos": 1, "frames": 32, "snippets": 2,
         "anomalous_frames": 0},
        {"split": "train", "class": "fire", "videos": 1, "frames": 33, "snippets": 3,
         "anomalous_frames": None},
        {"split": "train", "class": "all", "videos": 2, "frames": 65, "snippets": 5,
         "anomalous_frames": None},
        {"split": "test", "class": "normal", "videos": 1, "frames": 20, "snippets": 2,
         "anomalous_frames": 0},
        {"split": "test", "class": "fire", "videos": 1, "frames": 40, "snippets": 3,
         "anomalous_frames": e - s + 1},
        {"split": "test", "class": "all", "videos": 2, "frames": 60, "snippets": 5,
         "anomalous_frames": e - s + 1}]


def test_synthvad_inconsistencies_are_errors(synth, tmp_path):
    root = copy(synth, tmp_path)
    ann = root / "annotations"
    np.save(ann / "test_frame_mask" / "test_fire_000.npy", np.zeros(40, np.uint8))
    with pytest.raises(DatasetError, match=r"video 'test_fire_000': frame mask .* disagrees with "
                                           r"its temporal annotation"):
        load_dataset("synthvad", root, "test")
    shutil.rmtree(root)
    root = copy(synth, tmp_path)
    boxes = np.load(root / "annotations" / "boxes" / "test_fire_000.npy")
    boxes[12] = (20, 6, 40, 14)
    np.save(root / "annotations" / "boxes" / "test_fire_000.npy", boxes)
    with pytest.raises(DatasetError, match=r"video 'test_fire_000' \(test_fire_000\.npy\), "
                                           r"frame 12: box \(20, 6, 40, 14\) is not inside "
                                           r"the 32x24 frame"):
        load_dataset("synthvad", root, "test")
    with pytest.raises(DatasetError, match=r"splits/val\.txt: split list not found \(splits here: "
                                           r"test, train\)"):
        load_dataset("synthvad", root, "val")
    (root / "meta.json").unlink()
    with pytest.raises(DatasetError, match=r"meta\.json not found.*not a generated SynthVAD"):
        load_dataset("synthvad", root, "test")


def test_synthvad_video_shorter_than_meta_says(synth, tmp_path):
    root = copy(synth, tmp_path)
    fx.write_video(root / "videos" / "normal" / "test_normal_000.mp4", 19)
    with pytest.raises(DatasetError, match=r"meta\.json: video 'test_normal_000' disagrees.*"
                                           r"n_frames: meta 20 vs files 19"):
        load_dataset("synthvad", root, "test")


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match=r"unknown dataset 'xd'; known: synthvad, ucf_crime"):
        load_dataset("xd", "nowhere", "test")


def test_sample_frames_and_area_fractions_read_through_the_records(synth):
    from stprompt.datasets.samples import anomaly_area_fractions, sample_frames

    records = load_dataset("synthvad", synth, "test")
    samples = sample_frames(records, per_class=2)
    assert list(samples) == ["normal", "fire"]  # normal first, then classes sorted
    fire = samples["fire"][0]
    # segment 10..25: 16 boxed frames, the middle one is index 8 -> frame 18 (grey level 180)
    assert fire["title"] == "test_fire_000 t=18"
    assert abs(int(fire["frame"].mean()) - 18 * fx.GREY_STEP) <= 2
    np.testing.assert_array_equal(fire["box"], fx.SYNTH_BOX)
    assert samples["normal"][0]["box"] is None and samples["normal"][0]["title"].endswith("t=10")
    # box 8x8 px in a 32x24 frame: 64 / 768 per anomalous frame, 16 frames
    areas = anomaly_area_fractions(records)
    assert list(areas) == ["fire"] and len(areas["fire"]) == 16
    assert areas["fire"][0] == pytest.approx(64 / 768)
    assert anomaly_area_fractions(records, per="video") == {"fire": [pytest.approx(64 / 768)]}


def test_integer_rows_reads_savetxt_floats_and_names_bad_lines(tmp_path):
    """The shared integer-row parser of the ShanghaiTech and UBnormal track files: whole numbers
    written as floats are read as ints, blank lines skipped, and a fractional value or a wrong count
    of columns is an error naming the file, the 1-based line and the expected columns."""
    from stprompt.datasets.records import integer_rows

    good = tmp_path / "t.txt"
    good.write_text("1.000000e+00,0,12\n\n 2, 5 ,7\n")
    assert list(integer_rows(good, "object_id,start_frame,end_frame")) == [
        (1, "1.000000e+00,0,12", (1, 0, 12)), (3, "2, 5 ,7", (2, 5, 7))]
    for body, line in (("1,2,3\n1,2.5,3\n", 2), ("1,2\n", 1), ("1,x,3\n", 1), ("1,inf,3\n", 1)):
        bad = tmp_path / "bad.txt"
        bad.write_text(body)
        with pytest.raises(DatasetError, match=rf"bad\.txt:{line}: expected 3 comma-separated integers "
                                               r"'object_id,start_frame,end_frame'"):
            list(integer_rows(bad, "object_id,start_frame,end_frame"))

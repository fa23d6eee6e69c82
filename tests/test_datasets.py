"""Dataset readers: generated fixtures in each real layout, read back and compared with hand-checked
records, frame labels, boxes and masks; every kind of bad input gives an error (or a warning
listing what was skipped) that names the file, line or video."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

import fixtures_datasets as fx
from stprompt.datasets import (DatasetError, DatasetWarning, VideoReadError, VideoRecord,
                               check_feature_length, frame_boxes, frame_labels, load_dataset,
                               load_pixel_mask, load_track_boxes, probe_video, read_frames,
                               summary_table)
from stprompt.datasets.ubnormal import read_tracks
from stprompt.datasets.ucf_crime import parse_temporal_annotations, parse_video_list


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return fx.make_ucf_crime(tmp_path_factory.mktemp("ucf"))


@pytest.fixture(scope="module")
def sht(tmp_path_factory):
    return fx.make_shanghaitech(tmp_path_factory.mktemp("sht"))


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


# ------------------------------------------------------------------------------------------------
# UCF-Crime
# ------------------------------------------------------------------------------------------------

def test_ucf_crime_records(ucf):
    train = load_dataset("ucf_crime", ucf, "train")
    assert [(r.id, r.label, r.class_name, r.n_frames, r.segments) for r in train] == [
        ("Abuse001_x264", 1, "Abuse", 40, None),
        ("Normal_Videos001_x264", 0, "normal", 24, None)]
    assert all(r.split == "train" and r.fps == 25.0 and (r.width, r.height) == (32, 24)
               for r in train)
    test = load_dataset("ucf_crime", ucf, "test", boxes_file="liu_ma_boxes.pkl")
    arrest, normal = test
    assert (arrest.id, arrest.label, arrest.class_name) == ("Arrest001_x264", 1, "Arrest")
    assert arrest.path == ucf / "Anomaly-Videos-Part-1" / "Arrest" / "Arrest001_x264.mp4"
    assert arrest.segments == [(5, 9), (20, 30)]
    np.testing.assert_array_equal(frame_labels(arrest), labels_from_ranges(40, (5, 9), (20, 30)))
    assert int(frame_labels(arrest).sum()) == 16
    # Liu & Ma boxes are in 320x240 pixels; the video is 32x24: scaled by 0.1
    assert arrest.sparse_boxes.keys() == {16, 32}
    np.testing.assert_allclose(arrest.sparse_boxes[16], (3, 6, 12, 24))
    np.testing.assert_allclose(arrest.sparse_boxes[32], (0, 0, 32, 20))
    dense = frame_boxes(arrest)
    assert dense.shape == (40, 4) and np.isnan(dense).any(axis=1).sum() == 38
    np.testing.assert_allclose(dense[16], (3, 6, 12, 24))
    assert (normal.label, normal.class_name, normal.segments) == (0, "normal", [])
    assert summary_table(test) == [
        {"split": "test", "class": "normal", "videos": 1, "frames": 20, "snippets": 2,
         "anomalous_frames": 0},
        {"split": "test", "class": "Arrest", "videos": 1, "frames": 40, "snippets": 3,
         "anomalous_frames": 16},
        {"split": "test", "class": "all", "videos": 2, "frames": 60, "snippets": 5,
         "anomalous_frames": 16}]
    assert summary_table(train)[1]["anomalous_frames"] is None  # train: video labels only


def test_ucf_annotation_line_with_wrong_field_count(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    ann = root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    ann.write_text(fx.UCF_TEMPORAL.replace("Normal  -1  -1  -1  -1", "Normal  -1  -1  -1"))
    with pytest.raises(DatasetError, match=r"Testing_Videos\.txt:2: expected 6 "
                                           r"whitespace-separated fields "
                                           r"'Name Class s1 e1 s2 e2'.*got 5"):
        load_dataset("ucf_crime", root, "test")
    ann.write_text("Arrest001_x264.mp4  Arrest  5  x  -1  -1\n")
    with pytest.raises(DatasetError, match=r"Testing_Videos\.txt:1: expected integer frames"):
        parse_temporal_annotations(ann)
    (root / "Anomaly_Train.txt").write_text("Abuse/Abuse001_x264.mp4 Abuse\n")
    with pytest.raises(DatasetError, match=r"Anomaly_Train\.txt:1: expected one path"):
        parse_video_list(root / "Anomaly_Train.txt")


def test_ucf_missing_video_is_skipped_with_a_warning_or_raises_when_strict(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    (root / "Testing_Normal_Videos_Anomaly" / "Normal_Videos_003_x264.mp4").unlink()
    with pytest.warns(DatasetWarning, match=r"Anomaly_Test\.txt: skipped 1 of 2 videos: "
                                            r"Normal_Videos_003_x264 \(not found"):
        test = load_dataset("ucf_crime", root, "test")
    assert [r.id for r in test] == ["Arrest001_x264"]
    with pytest.raises(DatasetError, match=r"skipped 1 of 2 videos: Normal_Videos_003_x264"):
        load_dataset("ucf_crime", root, "test", strict=True)
    # a corrupt file is skipped the same way, with the reason
    (root / "Abuse" / "Abuse001_x264.mp4").write_bytes(b"broken")
    with pytest.warns(DatasetWarning, match=r"Abuse001_x264 \(.*Abuse001_x264\.mp4: cannot open"):
        load_dataset("ucf_crime", root, "train")


def test_ucf_listed_video_without_annotation_line(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    (root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text(
        fx.UCF_TEMPORAL.splitlines()[1] + "\n")
    with pytest.raises(DatasetError, match=r"video 'Arrest001_x264' \(.*Anomaly_Test\.txt:1\) has "
                                           r"no line in the temporal annotations"):
        load_dataset("ucf_crime", root, "test")


def test_ucf_box_outside_the_frame(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    with open(root / "liu_ma_boxes.pkl", "wb") as fh:
        pickle.dump({"Arrest001_x264": [["Arrest001_x264/000016.jpg", 300, 10, 330, 40]]}, fh)
    with pytest.raises(DatasetError, match=r"video 'Arrest001_x264'.*frame 16: "
                                           r"box \(30, 1, 33, 4\) is not inside the 32x24 frame"):
        load_dataset("ucf_crime", root, "test", boxes_file="liu_ma_boxes.pkl")


def test_ucf_empty_split_names_the_list(ucf, tmp_path):
    root = copy(ucf, tmp_path)
    (root / "Anomaly_Train.txt").write_text("\n\n")
    with pytest.raises(DatasetError, match=r"Anomaly_Train\.txt: the list names no videos"):
        load_dataset("ucf_crime", root, "train")
    with pytest.raises(DatasetError, match=r"splits train, test, not 'val'"):
        load_dataset("ucf_crime", root, "val")


# ------------------------------------------------------------------------------------------------
# ShanghaiTech
# ------------------------------------------------------------------------------------------------

def test_shanghaitech_records(sht):
    train = load_dataset("shanghaitech", sht, "train")
    assert [(r.id, r.label, r.class_name, r.n_frames, r.path.relative_to(sht).as_posix())
            for r in train] == [
        ("01_001", 0, "normal", 20, "training/videos/01_001.avi"),
        ("01_0014", 1, "anomaly", 24, "testing/frames/01_0014")]
    assert all(r.frame_mask_path is None and r.pixel_mask_path is None for r in train)
    test = load_dataset("shanghaitech", sht, "test")
    by_id = {r.id: r for r in test}
    assert [(r.id, r.label, r.n_frames) for r in test] == [
        ("01_0015", 1, 30), ("02_0161", 0, 16), ("01_002", 0, 18)]
    np.testing.assert_array_equal(frame_labels(by_id["01_0015"]),
                                  labels_from_ranges(30, (3, 7), (20, 29)))
    np.testing.assert_array_equal(frame_labels(by_id["02_0161"]), np.zeros(16))
    np.testing.assert_array_equal(frame_labels(by_id["01_002"]), np.zeros(18))
    pix = load_pixel_mask(by_id["01_0015"])
    assert pix.shape == (30, 24, 32) and pix.sum() == 15 * 4 * 5
    assert pix[3, 2:6, 4:9].all() and not pix[8].any()
    assert load_pixel_mask(by_id["01_002"]).shape == (18, 24, 32)


def test_shanghaitech_mask_length_mismatch_names_the_video(sht, tmp_path):
    root = copy(sht, tmp_path)
    np.save(root / "testing" / "test_frame_mask" / "02_0161.npy", np.zeros(17, np.uint8))
    with pytest.raises(DatasetError, match=r"video '02_0161': frame mask .*02_0161\.npy has shape "
                                           r"\(17,\) but the video .* has 16 frames"):
        load_dataset("shanghaitech", root, "test")


def test_shanghaitech_list_and_label_errors(sht, tmp_path):
    root = copy(sht, tmp_path)
    (root / "SH_Test_NEW.txt").write_text("01_0015 1\n02_0161 1\n")
    with pytest.raises(DatasetError, match=r"SH_Test_NEW\.txt:2: video '02_0161' is labelled 1 but "
                                           r"its frame mask .* marks 0 anomalous frames"):
        load_dataset("shanghaitech", root, "test")
    (root / "SH_Test_NEW.txt").write_text("01_0015 1 extra\n")
    with pytest.raises(DatasetError, match=r"SH_Test_NEW\.txt:1: expected '<video> \[0\|1\]'"):
        load_dataset("shanghaitech", root, "test")
    (root / "SH_Test_NEW.txt").write_text("")
    with pytest.raises(DatasetError, match=r"SH_Test_NEW\.txt: the list names no videos"):
        load_dataset("shanghaitech", root, "test")


# ------------------------------------------------------------------------------------------------
# UBnormal
# ------------------------------------------------------------------------------------------------

def test_ubnormal_records_tracks_and_boxes(ubn):
    test = load_dataset("ubnormal", ubn, "test")
    ab, normal = test
    assert (ab.id, ab.label, ab.class_name, ab.n_frames) == (fx.UB_ABNORMAL, 1, "anomaly", 30)
    assert ab.path == ubn / "Scene1" / f"{fx.UB_ABNORMAL}.mp4"
    assert ab.tracks == fx.UB_TRACKS and ab.segments == [(5, 12)]
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
    assert (normal.label, normal.class_name, normal.segments, normal.tracks) == (0, "normal", [],
                                                                                  None)
    train = load_dataset("ubnormal", ubn, "train")
    assert [(r.id, r.label, r.segments, r.tracks) for r in train] == [
        ("abnormal_scene_2_scenario_3_fog", 1, None, None),
        ("normal_scene_2_scenario_1", 0, None, None)]
    with pytest.raises(DatasetError, match=r"no UBnormal split files for 'val'.*"
                                           r"abnormal_validation_video_names\.txt"):
        load_dataset("ubnormal", ubn, "val")


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
    (root / "Scene1" / "normal_scene_1_scenario_1.mp4").unlink()
    with pytest.warns(DatasetWarning, match=r"skipped 1 of 2 videos: normal_scene_1_scenario_1 "
                                            r"\(not found: .*Scene1/"
                                            r"normal_scene_1_scenario_1\.mp4"):
        (ab,) = load_dataset("ubnormal", root, "test")
    (root / "Scene1" / f"{fx.UB_ABNORMAL}_annotations" / f"{fx.UB_ABNORMAL}_0007_gt.png").unlink()
    with pytest.raises(DatasetError, match=rf"{fx.UB_ABNORMAL}_0007_gt\.png: id mask not found"):
        load_track_boxes(ab)


# ------------------------------------------------------------------------------------------------
# VadCLIP feature CSV
# ------------------------------------------------------------------------------------------------

def test_vadclip_csv_records(tmp_path):
    root = fx.make_vadclip(tmp_path)
    recs = load_dataset("vadclip_csv", root / "test.csv", "test", feature_root=root /
                        "UCFClipFeatures", annotation_file=root / "temporal.txt")
    by_id = {r.id: r for r in recs}
    abuse, normal, arrest = (by_id[k] for k in ("Abuse001_x264", "Normal_Videos_003_x264",
                                                "Arrest001_x264"))
    assert (abuse.label, abuse.class_name, abuse.n_frames) == (1, "Abuse", 80)
    assert [p.name for p in abuse.extra["feature_paths"]] == ["Abuse001_x264__0.npy",
                                                              "Abuse001_x264__1.npy"]
    assert abuse.path.name == "Abuse001_x264__0.npy"
    assert abuse.segments == [(10, 79)]  # the annotation overshoots 5 snippets: clipped
    assert (normal.label, normal.class_name, normal.n_frames, normal.segments) == (
        0, "normal", 48, [])
    assert (arrest.n_frames, arrest.segments) == (64, [(0, 3), (60, 63)])
    np.testing.assert_array_equal(frame_labels(arrest), labels_from_ranges(64, (0, 3), (60, 63)))
    # load_dataset with a folder reads <split>.csv
    folder = load_dataset("vadclip_csv", root, "test", feature_root=root / "UCFClipFeatures")
    assert len(folder) == 3


def test_vadclip_csv_bad_rows_and_missing_features(tmp_path):
    root = fx.make_vadclip(tmp_path)
    csv_path = root / "test.csv"
    text = csv_path.read_text()
    csv_path.write_text(text + "UCFClipFeatures/Arrest/Arrest002_x264.npy,Arrest,extra\n")
    with pytest.raises(DatasetError, match=r"test\.csv:6: expected 2 fields 'path,label', got 3"):
        load_dataset("vadclip_csv", csv_path, "test")
    csv_path.write_text(text + "UCFClipFeatures/Arrest/Arrest002_x264.npy,Arrest\n")
    with pytest.warns(DatasetWarning, match=r"skipped 1 of 4 videos: Arrest002_x264 \(feature file "
                                            r"not found"):
        load_dataset("vadclip_csv", csv_path, "test", feature_root=root / "UCFClipFeatures")
    csv_path.write_text("file,class\n")
    with pytest.raises(DatasetError, match=r"test\.csv:1: expected the header 'path,label'"):
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

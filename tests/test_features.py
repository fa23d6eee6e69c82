"""Feature geometry, the motion prior, and feature files (recipes, resumption, corruption)."""

from __future__ import annotations

import numpy as np
import pytest

from stprompt.features import (FeatureConfig, motion_prior, sample_indices, snippet_bounds,
                               ten_crops, window_boxes, window_sums)


def test_window_grid_spreads_evenly_and_covers_the_frame():
    boxes = window_boxes(120, 160, (3, 4), (48, 48))
    assert boxes.shape == (12, 4)
    # rows start at 0, 36, 72 (= 120 - 48); columns at 0, 37, 75, 112 (= 160 - 48), rounded linspace
    assert sorted(set(boxes[:, 1])) == [0, 36, 72]
    assert sorted(set(boxes[:, 0])) == [0, 37, 75, 112]
    assert (boxes[:, 2] - boxes[:, 0] == 48).all() and (boxes[:, 3] - boxes[:, 1] == 48).all()
    assert boxes[:, 2].max() == 160 and boxes[:, 3].max() == 120
    # row-major: window 4 is the first of the second row
    assert tuple(boxes[4]) == (0, 36, 48, 84)


def test_window_grid_with_stride_and_errors():
    boxes = window_boxes(120, 160, (2, 3), (60, 60), stride=(60, 50))
    assert sorted(set(boxes[:, 0])) == [0, 50, 100] and sorted(set(boxes[:, 1])) == [0, 60]
    with pytest.raises(ValueError, match="fits 3 windows of 60 px along the width.*grid asks for 4"):
        window_boxes(120, 160, (2, 4), (60, 60), stride=(60, 50))
    with pytest.raises(ValueError, match="larger than the 120x160 frame"):
        window_boxes(120, 160, (1, 1), (130, 60))


def test_snippets_and_frame_choice():
    assert snippet_bounds(40, 16).tolist() == [[0, 16], [16, 32], [32, 40]]
    assert sample_indices(0, 16, "mid", 4) == [7]
    assert sample_indices(32, 40, "mid", 4) == [35]  # middle of the partial snippet
    assert sample_indices(0, 16, "mean", 4) == [0, 5, 10, 15]
    assert sample_indices(32, 34, "mean", 4) == [32, 33]


def test_window_sums_match_direct_sums():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 20, 30))
    boxes = np.array([[0, 0, 30, 20], [5, 2, 9, 11], [29, 19, 30, 20]])
    direct = np.stack([[m[y1:y2, x1:x2].sum() for x1, y1, x2, y2 in boxes] for m in maps])
    np.testing.assert_allclose(window_sums(maps, boxes), direct, rtol=1e-10)


def test_motion_prior_zero_when_static_and_peaks_on_a_moving_square():
    static = np.full((32, 60, 80, 3), 90, np.uint8)
    boxes = window_boxes(60, 80, (2, 2), (30, 40))
    assert np.abs(motion_prior(static, boxes)).max() == 0.0

    frames = static.copy()
    for t in range(32):  # a white 6x6 square moving right by 1 px per frame inside window 3
        x = 45 + t // 2
        frames[t, 38:44, x:x + 6] = 255
    prior = motion_prior(frames, boxes)
    assert prior.shape == (2, 4)
    assert (prior.argmax(1) == 3).all() and (prior[:, :3] == 0).all()
    # Hand check of one value: the square moves 1 px every other frame, so for "next" differences
    # half the frames change 2 columns x 6 rows = 12 pixels by (255-90)/255 in all 3 channels:
    # L2 = sqrt(12 * 3 * (165/255)^2) for those frames and 0 for the others.
    moving = np.sqrt(12 * 3 * (165 / 255) ** 2)
    assert prior[0, 3] == pytest.approx(moving / 2, rel=1e-5)


def test_ten_crops_geometry():
    frames = np.arange(2 * 8 * 10 * 3, dtype=np.uint8).reshape(2, 8, 10, 3)
    crops = ten_crops(frames, 0.5)  # side = 4
    assert crops.shape == (10, 2, 4, 4, 3)
    np.testing.assert_array_equal(crops[0], frames[:, 0:4, 0:4])
    np.testing.assert_array_equal(crops[3], frames[:, 4:8, 6:10])
    np.testing.assert_array_equal(crops[5], frames[:, 0:4, 0:4][:, :, ::-1])


def test_feature_config_rejects_bad_values():
    with pytest.raises(ValueError, match="test_crop"):
        FeatureConfig(test_crop="centre")
    with pytest.raises(ValueError, match="grid"):
        FeatureConfig(grid=(0, 3))


# ------------------------------------------------------------------------------------------------
# Extraction with the tiny CLIP (random weights: the recipe, not the quality, is under test)
# ------------------------------------------------------------------------------------------------

import dataclasses  # noqa: E402

import fixtures_datasets as fx  # noqa: E402

from stprompt import vlm  # noqa: E402
from stprompt.datasets import load_dataset, read_frames  # noqa: E402
from stprompt.features import (FeatureFileError, extract_dataset, feature_path,  # noqa: E402
                               load_features, make_recipe)

SMALL = FeatureConfig(grid=(2, 2), window=(12, 16), batch_size=64)


@pytest.fixture(scope="module")
def clip():
    return vlm.build_clip(vlm.ClipSpec("tiny_clip"))


@pytest.fixture(scope="module")
def synth_records(tmp_path_factory):
    root = fx.make_synthvad(tmp_path_factory.mktemp("synth"))
    return load_dataset("synthvad", root, "test")  # 20 and 40 frames


def test_extracted_files_have_the_recorded_recipe_shapes_and_dtypes(tmp_path, clip, synth_records):
    model, info = clip
    summary = extract_dataset(synth_records, tmp_path, model, SMALL, info.recipe(), progress=False)
    assert summary["extracted"] == 2 and summary["snippets"] == 2 + 3
    with np.load(feature_path(tmp_path, "test_fire_000")) as z:
        assert z["frame"].dtype == np.float16 and z["frame"].shape == (3, info.embed_dim)
        assert z["patch"].shape == (3, 4, info.embed_dim) and z["motion"].shape == (3, 4)
    feats = load_features(feature_path(tmp_path, "test_fire_000"), make_recipe(SMALL, info.recipe())["recipe_hash"])
    boxes = window_boxes(fx.H, fx.W, SMALL.grid, SMALL.window)
    assert feats.recipe["window_boxes"] == boxes.tolist()
    assert feats.recipe["backbone"]["backbone"] == "tiny_clip" and feats.recipe["n_frames"] == 40
    # mid-frame recipe: snippet 1 (frames 16..31) is the feature of frame 23; its window 3 the
    # feature of that frame's bottom-right window
    frames = read_frames(synth_records[1].path)
    direct = vlm.encode_images(model, frames[[23]])[0]
    np.testing.assert_allclose(feats.frame[1], direct, atol=2e-3)  # fp16 storage
    x1, y1, x2, y2 = boxes[3]
    direct_w = vlm.encode_images(model, frames[[23], y1:y2, x1:x2])[0]
    np.testing.assert_allclose(feats.patch[1, 3], direct_w, atol=2e-3)
    # the fixture video is a grey ramp: every window changes by the same amount each frame
    assert np.allclose(feats.motion, feats.motion[:, :1])


def test_mean_recipe_averages_frames_and_differs_from_mid(tmp_path, clip, synth_records):
    model, info = clip
    cfg = dataclasses.replace(SMALL, frame_choice="mean", mean_frames=4, patch_mode="none")
    extract_dataset(synth_records[1:], tmp_path, model, cfg, info.recipe(), progress=False)
    feats = load_features(feature_path(tmp_path, "test_fire_000"))
    frames = read_frames(synth_records[1].path)
    enc = vlm.encode_images(model, frames[[0, 5, 10, 15]])
    mean = enc.mean(0) / np.linalg.norm(enc.mean(0))
    np.testing.assert_allclose(feats.frame[0], mean, atol=2e-3)
    assert feats.patch is None
    assert not np.allclose(feats.frame[0], vlm.encode_images(model, frames[[7]])[0], atol=1e-2)


def test_tokens_and_tencrop_modes(tmp_path, clip, synth_records):
    model, info = clip
    cfg = dataclasses.replace(SMALL, patch_mode="tokens", crop="tencrop", test_crop="4", crop_fraction=0.75)
    extract_dataset(synth_records[:1], tmp_path, model, cfg, info.recipe(), progress=False)
    feats = load_features(feature_path(tmp_path, "test_normal_000"))
    assert feats.patch.shape == (2, 4, info.embed_dim) and feats.frame_crops.shape == (10, 2, info.embed_dim)
    np.testing.assert_allclose(feats.frame, feats.frame_crops[4], atol=1e-6)  # test crop 4 = centre
    np.testing.assert_allclose(np.linalg.norm(feats.patch, axis=-1), 1, atol=5e-3)


def test_resume_skips_valid_files_and_redoes_corrupt_or_stale_ones(tmp_path, clip, synth_records):
    model, info = clip
    extract_dataset(synth_records, tmp_path, model, SMALL, info.recipe(), progress=False)
    original = {r.id: feature_path(tmp_path, r.id).read_bytes() for r in synth_records}
    again = extract_dataset(synth_records, tmp_path, model, SMALL, info.recipe(), progress=False)
    assert again["extracted"] == 0 and again["skipped"] == 2
    # a run killed while writing leaves at most a temp file (atomic rename) and a truncated file
    # is detected as corrupt and redone, byte-identically
    path = feature_path(tmp_path, "test_fire_000")
    path.write_bytes(original["test_fire_000"][:100])
    (tmp_path / ".test_normal_000.tmp.npz").write_bytes(b"partial")
    with pytest.raises(FeatureFileError, match="corrupt feature file"):
        load_features(path)
    again = extract_dataset(synth_records, tmp_path, model, SMALL, info.recipe(), progress=False)
    assert again["extracted"] == 1 and again["skipped"] == 1
    assert {r.id: feature_path(tmp_path, r.id).read_bytes() for r in synth_records} == original
    # another recipe makes the files stale
    other = dataclasses.replace(SMALL, motion_neighbour="both")
    with pytest.raises(FeatureFileError, match="made with recipe"):
        load_features(path, make_recipe(other, info.recipe())["recipe_hash"])
    assert extract_dataset(synth_records, tmp_path, model, other, info.recipe(), progress=False)["extracted"] == 2


def test_a_replaced_video_is_re_extracted_and_a_deleted_one_keeps_its_features(tmp_path, clip):
    """Features record the digest of their video's bytes: a video replaced after extraction (same
    id and path, other frames) is redone with a warning naming it; a video deleted after extraction
    keeps its file (checked by recipe alone, counted); files without a digest are trusted likewise."""
    from stprompt.datasets.video import write_video
    from stprompt.features import StaleFeatureWarning, file_status, source_digest

    model, info = clip
    records = load_dataset("synthvad", fx.make_synthvad(tmp_path / "data"), "test")
    out = tmp_path / "features"
    recipe_hash = make_recipe(SMALL, info.recipe())["recipe_hash"]
    extract_dataset(records, out, model, SMALL, info.recipe(), progress=False)
    fire = next(r for r in records if r.id == "test_fire_000")
    before = load_features(feature_path(out, fire.id))
    assert before.recipe["source_digest"] == source_digest(fire.path)
    assert file_status(feature_path(out, fire.id), recipe_hash, source_digest(fire.path)) == "valid"

    # the same id and path, other frames (the fixture's grey ramp inverted)
    frames = 255 - fx.grey_frames(fire.n_frames)
    write_video(frames, fire.path, fps=fx.FPS)
    assert file_status(feature_path(out, fire.id), recipe_hash, source_digest(fire.path)) == "source_changed"
    with pytest.warns(StaleFeatureWarning, match=r"1 video\(s\) changed .*test_fire_000; re-extracting"):
        summary = extract_dataset(records, out, model, SMALL, info.recipe(), progress=False)
    assert summary["extracted"] == 1 and summary["skipped"] == 1 and summary["source_changed"] == ["test_fire_000"]
    after = load_features(feature_path(out, fire.id))
    assert after.recipe["source_digest"] == source_digest(fire.path) != before.recipe["source_digest"]
    assert not np.allclose(after.frame, before.frame)  # the new frames' features, not the old file's

    # deleted video: its features stay usable, nothing is redone, and it is counted
    normal = next(r for r in records if r.id == "test_normal_000")
    kept = feature_path(out, normal.id).read_bytes()
    normal.path.unlink()
    assert source_digest(normal.path) is None
    summary = extract_dataset(records, out, model, SMALL, info.recipe(), progress=False)
    assert summary["extracted"] == 0 and summary["source_unchecked"] == 1 and summary["source_changed"] == []
    assert feature_path(out, normal.id).read_bytes() == kept


def test_source_digest_reads_size_and_both_ends_of_a_file_and_the_listing_of_a_folder(tmp_path):
    from stprompt.features import source_digest
    from stprompt.features.files import DIGEST_EDGE_BYTES

    n = 3 * DIGEST_EDGE_BYTES
    blob = bytearray(np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes())
    a, b = tmp_path / "a.mp4", tmp_path / "copy" / "b.mp4"
    b.parent.mkdir()
    a.write_bytes(blob)
    b.write_bytes(blob)
    assert source_digest(a) == source_digest(b)  # the bytes, not the path or the times
    for where in (0, n - 1):  # a byte changed at either end, or the size
        changed = bytearray(blob)
        changed[where] ^= 1
        b.write_bytes(changed)
        assert source_digest(b) != source_digest(a), where
    b.write_bytes(blob + b"x")
    assert source_digest(b) != source_digest(a)
    changed = bytearray(blob)  # the documented blind spot: same size, a byte in the middle
    changed[n // 2] ^= 1
    b.write_bytes(changed)
    assert source_digest(b) == source_digest(a)

    frames = tmp_path / "frames"  # a frame folder (ShanghaiTech test frames): names and sizes
    frames.mkdir()
    for i in range(3):
        (frames / f"{i:03d}.jpg").write_bytes(b"j" * (10 + i))
    first = source_digest(frames)
    (frames / "002.jpg").write_bytes(b"j" * 99)
    assert source_digest(frames) != first
    assert source_digest(tmp_path / "missing.mp4") is None


def test_sharding_splits_videos_between_ranks(tmp_path, clip, synth_records):
    from stprompt.features import shard

    assert shard(list(range(5)), 0, 2) == [0, 2, 4] and shard(list(range(5)), 1, 2) == [1, 3]
    model, info = clip
    # shares balance frames: the 40-frame video goes to rank 0, the 20-frame one to rank 1
    assert [r.n_frames for r in synth_records] == [20, 40]
    r1 = extract_dataset(synth_records, tmp_path, model, SMALL, info.recipe(), progress=False, rank=1, world=2)
    assert r1["extracted"] == 1 and feature_path(tmp_path, synth_records[0].id).is_file()
    assert not feature_path(tmp_path, synth_records[1].id).exists()


def test_motion_topk_overlap_against_a_hand_worked_case(tmp_path):
    """Two windows side by side; the box touches only the right one. Motion puts the right window
    first in snippet 0 and second in snippet 1 (k=1): hit rate 1/2. Chance with k=1 of G=2 windows,
    one touching: 1/2 per snippet."""
    from types import SimpleNamespace

    from stprompt.features import motion_topk_overlap, save_features

    n = 32
    boxes = np.array([[0, 0, 10, 10], [10, 0, 20, 10]])
    arrays = {"frame": np.zeros((2, 4)), "motion": np.array([[0.1, 0.9], [0.8, 0.2]]), "boxes": boxes}
    recipe = {"features": {"snippet_len": 16}, "recipe_hash": "x"}
    save_features(tmp_path / "v.npz", arrays, recipe, "v", n)
    gt = np.full((n, 4), np.nan, np.float32)
    gt[:] = (12, 2, 18, 8)
    rec = SimpleNamespace(id="v", label=1, n_frames=n, boxes=gt, segments=[(0, n - 1)],
                          frame_mask_path=None, sparse_boxes=None, tracks=None)
    out = motion_topk_overlap([rec], tmp_path, k=1)
    assert out["snippets"] == 2
    assert out["snippet_hit_rate"] == 0.5 and out["window_precision"] == 0.5
    assert out["chance_hit_rate"] == 0.5 and out["chance_window_precision"] == 0.5
    out2 = motion_topk_overlap([rec], tmp_path, k=2)  # both windows: always a hit, precision 1/2
    assert out2["snippet_hit_rate"] == 1.0 and out2["window_precision"] == 0.5 and out2["chance_hit_rate"] == 1.0


def test_stprompt_extract_cli_follows_the_profile(tmp_path):
    """`stprompt extract --profile P` extracts with 01_data_prep's parameters of that profile, and
    says how to get the tiny CLIP when it is missing."""
    import subprocess
    import sys

    import yaml

    from stprompt.io import repo_root
    from stprompt.synth import SynthConfig, generate

    run_dir = tmp_path / "run"
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({"name": "p", "run_dir": str(run_dir),
                                       "notebooks": ["01_data_prep"],
                                       "notebook_dir": str(repo_root() / "notebooks"),
                                       "params": {"01_data_prep": {"splits": ["test"], "grid": [2, 2]}}}))
    cmd = [sys.executable, "-m", "stprompt.run.cli", "extract", "--profile", str(profile), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2 and "no tiny CLIP yet; run 00_pretrain_vlm" in proc.stderr
    generate(SynthConfig(n_train_per_class=0, n_val_per_class=0, n_test_per_class=1, n_train_normal=0,
                         n_val_normal=0, n_test_normal=1, classes=["fire"], snippets=(3, 3)),
             run_dir / "data" / "synthvad", progress=False)
    model, _ = vlm.build_clip(vlm.ClipSpec("tiny_clip"))
    vlm.save_checkpoint(model, run_dir / "vlm" / "tiny_clip.pt")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "test: 2 extracted (96 frames), 0 up to date, 0 failed" in proc.stdout
    assert "manifests: every video of test has its features" in proc.stdout
    feats = load_features(run_dir / "features" / "synthvad" / "test_fire_000.npz")
    assert feats.patch.shape[1] == 4 and feats.recipe["features"]["grid"] == [2, 2]
    assert "test: 0 extracted (0 frames), 2 up to date" in subprocess.run(cmd, capture_output=True, text=True).stdout
    check = subprocess.run(cmd + ["--check"], capture_output=True, text=True)
    assert check.returncode == 0 and "test: all 2 videos have features" in check.stdout


def test_real_route_ucf_crime_layout_with_vit_b16_checkpoint(tmp_path):
    """The real-data route end to end on a tiny fixture in the UCF-Crime layout: ViT-B/16 with
    random weights saved to a local file, loaded through the checkpoint path, D = 512."""
    from stprompt.features import extract_from_params

    root = fx.make_ucf_crime(tmp_path / "ucf")
    rand, _ = vlm.build_clip(vlm.ClipSpec("ViT-B-16"))
    ckpt = vlm.save_checkpoint(rand, tmp_path / "ViT-B-16-random.pt", model_name="ViT-B-16")
    del rand
    params = {"run_dir": str(tmp_path / "run"), "dataset": "ucf_crime", "data_root": str(root),
              "splits": ["test"], "clip_model": "ViT-B-16", "clip_checkpoint": str(ckpt),
              "device": "cpu", "grid": [1, 2], "window": [24, 16], "batch_size": 32}
    summary = extract_from_params(params, progress=False, log=None)
    assert summary["test"]["extracted"] == 2 and summary["test"]["snippets"] == 3 + 2  # 40 and 20 frames
    feats = load_features(tmp_path / "run" / "features" / "ucf_crime" / "Arrest001_x264.npz")
    assert feats.frame.shape == (3, 512) and feats.patch.shape == (3, 2, 512)
    assert feats.recipe["backbone"]["backbone"] == "ViT-B-16"
    assert feats.recipe["backbone"]["weights"].startswith("file:ViT-B-16-random.pt#")


def test_torchrun_ranks_share_the_gpus_round_robin(monkeypatch):
    import torch

    from stprompt.features import clip_spec_from_params

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    params = {"clip_model": "ViT-B-16", "clip_checkpoint": "w.pt", "device": "auto", "run_dir": "runs/x"}
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert clip_spec_from_params(params).device == "cuda:1"  # 4 ranks on 2 GPUs: ranks 1 and 3 on cuda:1
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert clip_spec_from_params(params).device == "cuda:0"
    assert clip_spec_from_params({**params, "device": "cpu"}).device == "cpu"

"""The pipelined, streaming extractor (issue 12): the same bytes as the old extractor, bounded
memory, failures named, balanced shards and the manifest check."""

from __future__ import annotations

import dataclasses
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import legacy_features as legacy
from stprompt import vlm
from stprompt.datasets.video import VideoLengthWarning, VideoReadError, iter_frames, write_video
from stprompt.features import (FeatureConfig, FeatureFileError, MotionPrior, check_split, extract_dataset,
                               extract_frames, feature_path, iter_chunks, load_features, make_recipe,
                               map_features, motion_prior, save_features, shard, source_digest, window_boxes,
                               write_manifest)

H, W = 48, 64


def moving_frames(n: int, seed: int = 0) -> np.ndarray:
    """A textured background with a bright square moving right and a darker one moving down, plus
    noise: motion differs between windows and from frame to frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    base = np.stack([(xx * 3) % 256, (yy * 5) % 256, ((xx + yy) * 2) % 256], -1).astype(np.int16)
    frames = np.empty((n, H, W, 3), np.uint8)
    for t in range(n):
        img = base + rng.integers(-6, 7, base.shape)
        x = (2 * t) % (W - 8)
        img[10:18, x:x + 8] = 250
        y = t % (H - 10)
        img[y:y + 10, 40:50] = 20
        frames[t] = np.clip(img, 0, 255)
    return frames


@pytest.fixture(scope="module")
def clip():
    return vlm.build_clip(vlm.ClipSpec("tiny_clip"))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two generated H.264 videos of 70 frames (a partial last snippet) and 37 frames."""
    root = tmp_path_factory.mktemp("videos")
    out = []
    for name, n, seed in (("a", 70, 0), ("b", 37, 1)):
        path = write_video(moving_frames(n, seed), root / f"{name}.mp4", fps=25)
        out.append(SimpleNamespace(id=name, path=path, n_frames=n))
    return out


RECIPES = {
    "default": FeatureConfig(grid=(2, 3), window=(16, 16), batch_size=64, chunk_snippets=2),
    "mean_tencrop_tokens_both": FeatureConfig(frame_choice="mean", mean_frames=3, crop="tencrop",
                                              test_crop="mean", patch_mode="tokens", grid=(2, 2),
                                              window=(24, 32), motion_neighbour="both", batch_size=16,
                                              chunk_snippets=3),
    "center_prev_stride": FeatureConfig(crop="center", grid=(2, 2), window=(20, 24), stride=(20, 24),
                                        motion_neighbour="prev", batch_size=7, chunk_snippets=1),
}


def legacy_file(tmp_path, rec, model, info, cfg):
    arrays = legacy.extract_frames(iter_frames(rec.path, 0, rec.n_frames), rec.n_frames, model, cfg)
    return save_features(tmp_path / "legacy" / f"{rec.id}.npz", arrays, make_recipe(cfg, info.recipe()),
                         rec.id, rec.n_frames, source=source_digest(rec.path)).read_bytes()


@pytest.mark.parametrize("name", list(RECIPES))
def test_in_process_extractor_writes_the_old_extractors_bytes(tmp_path, clip, videos, name):
    """Same bytes out as before the pipeline (the frozen copy in tests/legacy_features.py), for
    recipes that exercise chunk edges, partial snippets, mean frames, 10-crop, tokens, centre crops,
    strided windows and every motion neighbour."""
    model, info = clip
    cfg = RECIPES[name]
    extract_dataset(videos, tmp_path / "new", model, cfg, info.recipe(), progress=False, workers=0)
    for rec in videos:
        assert feature_path(tmp_path / "new", rec.id).read_bytes() == legacy_file(tmp_path, rec, model, info, cfg), rec.id


def test_pipelined_extractor_writes_the_same_bytes(tmp_path, clip, videos):
    """Decoding and the motion prior in two worker processes, encoding here: byte-identical files
    (default recipe and the mean/10-crop/tokens one, in one pool each)."""
    model, info = clip
    for name in ("default", "mean_tencrop_tokens_both"):
        cfg = RECIPES[name]
        summary = extract_dataset(videos, tmp_path / name, model, cfg, info.recipe(), progress=False, workers=2)
        assert summary["extracted"] == 2 and summary["workers"] == 2 and summary["seconds"]["wait"] >= 0
        for rec in videos:
            assert feature_path(tmp_path / name, rec.id).read_bytes() == legacy_file(tmp_path, rec, model, info, cfg)


def test_streamed_motion_prior_equals_the_old_one_exactly():
    """The streaming motion prior (only the window rows/columns, float32 row sums, float64 column
    sums) gives the old full-frame integer computation bit for bit, for overlapping and disjoint
    windows, every neighbour and runs with context frames."""
    rng = np.random.default_rng(3)
    cases = (((24, 32), (2, 3), (16, 16), (1, 2, 15, 33)), ((40, 64), (3, 4), (8, 8), (1, 2, 15, 33)),
             ((30, 40), (1, 1), (30, 40), (1, 2, 15, 33)),
             ((530, 8), (2, 1), (270, 8), (3,)))  # windows taller than 256 rows: the float32 runs split
    for (h, w), grid, win, lengths in cases:
        boxes = window_boxes(h, w, grid, win)
        for n in lengths:
            frames = rng.integers(0, 256, (n + 2, h, w, 3), dtype=np.uint8)
            for neighbour in ("next", "prev", "both"):
                for before, after in ((None, None), (frames[0], frames[-1]), (frames[0], None)):
                    old = legacy.motion_prior(frames[1:-1], boxes, 16, neighbour, before, after)
                    new = motion_prior(frames[1:-1], boxes, 16, neighbour, before, after)
                    assert new.dtype == np.float32 and new.tobytes() == old.tobytes()


def test_chunks_hold_only_the_frames_the_encoder_reads():
    """Memory does not grow with the video: a chunk keeps its sampled frames only (one per snippet
    for "mid", the union of mean and middle frames for "mean"); the whole video is never held."""
    frames = moving_frames(200)
    cfg = FeatureConfig(grid=(2, 2), window=(16, 16), chunk_snippets=4)
    held = []

    def counted():
        for f in frames:
            yield f.copy()

    chunks = list(iter_chunks(counted(), len(frames), cfg))
    assert [c.start for c in chunks] == [0, 4, 8, 12] and [c.n_snippets for c in chunks] == [4, 4, 4, 1]
    assert [len(c.frames) for c in chunks] == [4, 4, 4, 1]
    held = [len(c.frames) for c in iter_chunks(counted(), len(frames),
                                               dataclasses.replace(cfg, frame_choice="mean", mean_frames=4))]
    assert max(held) <= 4 * 5  # 4 sampled frames + the middle one per snippet
    np.testing.assert_array_equal(chunks[1].frames[0], frames[4 * 16 + 7])  # snippet 4's middle frame
    motion = np.concatenate([c.motion for c in chunks])
    assert motion.tobytes() == legacy.motion_prior(frames, window_boxes(H, W, (2, 2), (16, 16))).tobytes()
    with pytest.raises(ValueError, match="ended after 30 frames, expected 40"):
        list(iter_chunks(iter(frames[:30]), 40, cfg))


def test_motion_prior_rejects_a_frame_of_another_size():
    stream = MotionPrior(window_boxes(24, 32, (1, 1), (8, 8)), 24, 32)
    stream.push(np.zeros((24, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="frame 1 is 30x24, but the video's first frame was 32x24"):
        stream.push(np.zeros((24, 30, 3), np.uint8))


@pytest.mark.parametrize("workers", [0, 1])
def test_a_video_shorter_than_its_header_is_named_and_not_written(tmp_path, clip, videos, workers):
    """A faststart MP4 cut in half still announces all its frames: extraction stops at the last
    decodable frame with an error naming the file and both counts, writes no file for it (no padding,
    no short file), and writes the other videos."""
    import fixtures_datasets as fx

    model, info = clip
    full = fx.write_video(tmp_path / "full.mp4", 200, movflags="faststart").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(full[: len(full) // 2])
    cut = SimpleNamespace(id="cut", path=tmp_path / "cut.mp4", n_frames=200)
    cfg = dataclasses.replace(RECIPES["default"], grid=(1, 1), window=(16, 16))
    with pytest.raises(VideoReadError, match=r"1 video\(s\) could not be extracted \(1 others were written"
                                             r"[\s\S]*cut\.mp4: asked for frames \[0, 200\) but only \d+ frames"):
        extract_dataset([cut, videos[1]], tmp_path / "out", model, cfg, info.recipe(), progress=False,
                        workers=workers)
    assert not feature_path(tmp_path / "out", "cut").exists()
    assert feature_path(tmp_path / "out", videos[1].id).is_file()


def test_a_video_longer_than_its_record_gives_a_warning_naming_it(tmp_path, clip, videos):
    model, info = clip
    short = SimpleNamespace(id="a", path=videos[0].path, n_frames=64)
    with pytest.warns(VideoLengthWarning, match=r"a\.mp4: holds at least 65 frames, more than the 64"):
        summary = extract_dataset([short], tmp_path, model, RECIPES["default"], info.recipe(),
                                  progress=False, workers=0)
    assert len(summary["warnings"]) == 1 and load_features(feature_path(tmp_path, "a")).n_snippets == 4


def test_shards_balance_frames_and_cover_every_video():
    lengths = [9000, 100, 120, 8000, 150, 7000, 90, 200, 160]
    recs = [SimpleNamespace(id=str(i), n_frames=n) for i, n in enumerate(lengths)]
    shares = [shard(recs, r, 3) for r in range(3)]
    assert sorted(r.id for s in shares for r in s) == sorted(r.id for r in recs)  # a partition
    totals = [sum(r.n_frames for r in s) for s in shares]
    assert max(totals) == 9000  # each long video on its own rank; round robin would give 9000+150+90 ...
    assert [r.id for r in shares[1]] == sorted([r.id for r in shares[1]], key=int)  # input order kept
    assert [[r.id for r in s] for s in shares] != [[r.id for r in recs[k::3]] for k in range(3)]
    assert shard(list(range(5)), 0, 2) == [0, 2, 4] and shard(list(range(5)), 1, 2) == [1, 3]


def test_manifest_names_a_missing_or_stale_feature_file(tmp_path, clip, videos):
    model, info = clip
    cfg = RECIPES["default"]
    recipe_hash = make_recipe(cfg, info.recipe())["recipe_hash"]
    for rank in (0, 1):  # two "ranks", each its share
        extract_dataset(videos, tmp_path, model, cfg, info.recipe(), progress=False, workers=0, rank=rank, world=2)
    path = write_manifest(videos, tmp_path, "test", recipe_hash)
    assert path.name == "manifest_test.json" and '"complete": true' in path.read_text()
    feature_path(tmp_path, "b").unlink()
    with pytest.raises(FeatureFileError, match=r"1 of 2 videos of split 'test'.*\n  b: .*b\.npz: feature file "
                                               r"not found"):
        write_manifest(videos, tmp_path, "test", recipe_hash)
    assert '"complete": false' in path.read_text()
    assert check_split(videos, tmp_path, "another-recipe")["problems"].keys() == {"a", "b"}


def test_mapped_features_read_the_stored_values_without_holding_them(tmp_path, clip, videos):
    import os

    model, info = clip
    cfg = dataclasses.replace(RECIPES["default"], crop="tencrop")
    extract_dataset(videos[:1], tmp_path, model, cfg, info.recipe(), progress=False, workers=0)
    path = feature_path(tmp_path, "a")
    eager, mapped = load_features(path), map_features(path)
    fds = len(os.listdir("/proc/self/fd"))
    for name in ("frame", "patch", "motion", "frame_crops"):
        m = getattr(mapped, name)
        assert m.dtype == (np.float32 if name == "motion" else np.float16)
        np.testing.assert_array_equal(np.asarray(m), getattr(eager, name))
        assert np.asarray(m).dtype == np.float32
    np.testing.assert_array_equal(mapped.patch.rows(1, 3)[:], eager.patch[1:3])
    np.testing.assert_array_equal(np.asarray(mapped.frame_crops.index(4)), eager.frame_crops[4])
    assert len(os.listdir("/proc/self/fd")) == fds  # no file left open
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(FeatureFileError, match="corrupt feature file"):
        map_features(path)


def test_extract_frames_stays_the_in_process_api(clip, videos):
    """``extract_frames`` (used by ``stprompt infer``) returns float32 arrays as before."""
    model, _ = clip
    rec = videos[1]
    cfg = RECIPES["default"]
    new = extract_frames(iter_frames(rec.path, 0, rec.n_frames), rec.n_frames, model, cfg)
    old = legacy.extract_frames(iter_frames(rec.path, 0, rec.n_frames), rec.n_frames, model, cfg)
    assert new.keys() == old.keys()
    for k in new:
        assert new[k].dtype == old[k].dtype and np.array_equal(new[k], old[k]), k
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(iter_frames(rec.path, 0, rec.n_frames, expect_end=True))  # exact length: no warning


def test_a_decode_worker_that_dies_is_named_with_its_video(videos):
    """A worker killed mid-video (e.g. by the OOM killer) stops the run with the video's name
    instead of hanging."""
    import os
    import signal

    from stprompt.features import DecodePool

    cfg = dataclasses.replace(RECIPES["default"], chunk_snippets=1)
    with DecodePool(cfg, 1) as pool:
        events = pool.run([("a", videos[0].path, videos[0].n_frames)])
        assert next(events)[0] == "chunk"
        os.kill(pool._procs[0].pid, signal.SIGKILL)
        with pytest.raises(RuntimeError, match="decode worker died while on video 'a'"):
            list(events)

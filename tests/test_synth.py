"""SynthVAD: determinism, exact ground truth, the on-disk layout (stprompt.datasets.synthvad),
resumption, open-set splits, caption data and figures."""

from __future__ import annotations

import os
import pickle
import re
import time

import av
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from stprompt.config import ConfigError, config_hash, from_dict  # noqa: E402
from stprompt.synth import (ANOMALY_CLASSES, NORMAL, SynthConfig, caption_dataset, generate,  # noqa: E402
                            ground_truth, is_complete, make_spec, render_frames, render_video,
                            simulate, video_specs)
from stprompt.synth.agents import N_WALK_POSES, pedestrian_sprites  # noqa: E402
from stprompt.synth.anomalies import AREA_FACTOR  # noqa: E402
from stprompt.synth.config import replace, world_hash  # noqa: E402
from stprompt.synth.writer import dataset_files  # noqa: E402

W, H = 160, 120
# Tolerance on the anomaly area. Fire and explosion: the mean box area over a video's anomalous
# frames is steered to a target drawn from cfg.anomaly_area and corrected while it is off by > 12 %;
# integer sprite sizes leave it within 15 % of the range. Agent anomalies are drawn at the camera
# zoom P (cfg.agent_height): their mean area is AREA_FACTOR[cls] * P**2 within a factor 1.5 (poses,
# spin, entering the view). Single frames vary around the mean (a fire grows, smoke swells,
# objects enter the view): up to 2.5x the upper bound.
AREA_TOL = 0.15
FRAME_AREA_MAX = 2.5


def tiny(**kw) -> SynthConfig:
    base = dict(n_train_per_class=1, n_val_per_class=1, n_test_per_class=1, n_train_normal=1,
                n_val_normal=1, n_test_normal=1, snippets=(3, 4), seed=7)
    base.update(kw)
    return SynthConfig(**base)


def decode(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def snapshot(root) -> dict[str, int]:
    return {os.path.relpath(os.path.join(d, f), root): os.stat(os.path.join(d, f)).st_mtime_ns
            for d, _, files in os.walk(root) for f in files}


# ------------------------------------------------------------------------------------------------
# Config and specs
# ------------------------------------------------------------------------------------------------

def test_config_checks_and_roundtrip():
    with pytest.raises(ValueError, match="unknown anomaly class"):
        SynthConfig(classes=["fire", "theft"])
    with pytest.raises(ValueError, match="open_set_holdout"):
        SynthConfig(classes=["fire"], open_set_holdout=["running"])
    with pytest.raises(ValueError, match="snippets"):
        SynthConfig(snippets=(2, 4))
    with pytest.raises(ConfigError, match="did you mean 'noise_sigma'"):
        from_dict(SynthConfig, {"noise_sigmaa": 1.0})
    cfg = tiny(anomaly_area=(0.02, 0.05))
    from stprompt.config import to_dict
    assert from_dict(SynthConfig, to_dict(cfg)) == cfg


def test_specs_counts_ids_and_open_set():
    cfg = SynthConfig(n_train_per_class=3, n_val_per_class=2, n_test_per_class=4, n_train_normal=5,
                      n_val_normal=1, n_test_normal=2, open_set_holdout=["explosion", "running"])
    specs = video_specs(cfg)
    by = {}
    for s in specs:
        by.setdefault((s.split, s.cls), []).append(s)
        assert re.fullmatch(rf"{s.split}_{s.cls}_\d{{3}}", s.id)
        assert cfg.snippets[0] <= s.n_snippets <= cfg.snippets[1]
    assert len({s.id for s in specs}) == len(specs)
    for held in ("explosion", "running"):
        assert ("train", held) not in by and ("val", held) not in by
        assert len(by[("test", held)]) == 4
    assert len(by[("train", "fire")]) == 3 and len(by[("val", "fire")]) == 2
    assert len(by[("train", NORMAL)]) == 5
    # a video's length depends only on (seed, id)
    assert make_spec(cfg, "test", "fire", 2) == make_spec(replace(cfg, n_test_per_class=9), "test", "fire", 2)


# ------------------------------------------------------------------------------------------------
# Rendering and ground truth in memory
# ------------------------------------------------------------------------------------------------

def test_render_is_deterministic_and_seed_dependent():
    cfg = tiny()
    spec = make_spec(cfg, "test", "fighting", 0)
    f1, g1 = render_video(cfg, spec)
    f2, g2 = render_video(cfg, spec)
    assert f1.shape == (spec.n_frames(cfg), H, W, 3) and f1.dtype == np.uint8
    assert np.array_equal(f1, f2)
    for a, b in ((g1.labels, g2.labels), (g1.masks, g2.masks)):
        assert np.array_equal(a, b)
    for a, b in ((g1.boxes, g2.boxes), (g1.track_boxes, g2.track_boxes)):
        assert np.array_equal(a, b, equal_nan=True)
    other = replace(cfg, seed=8)
    f3, g3 = render_video(other, make_spec(other, "test", "fighting", 0))
    assert f3.shape != f1.shape or np.abs(f3.astype(int) - f1).mean() > 5
    assert not np.array_equal(g1.boxes, g3.boxes, equal_nan=True)
    # any subset of frames renders exactly as in the whole video
    plan = simulate(cfg, spec)
    sub, _ = render_frames(plan, [0, 17, len(f1) - 1], with_masks=False)
    assert np.array_equal(sub, f1[[0, 17, len(f1) - 1]])


def test_frames_look_like_a_scene_not_noise():
    cfg = SynthConfig(seed=3)
    frames, _ = render_video(cfg, make_spec(cfg, "test", NORMAL, 0), with_masks=False)
    f = frames.astype(float)
    # neighbouring pixels are strongly correlated (structure), colours vary across the frame,
    # consecutive frames are nearly equal (a static camera), and noise is present
    horiz = np.corrcoef(f[0, :, :-1, 1].ravel(), f[0, :, 1:, 1].ravel())[0, 1]
    assert horiz > 0.8
    assert f[0].std(axis=(0, 1)).min() > 10
    assert 0.5 < np.abs(f[1] - f[0]).mean() < 10


@pytest.mark.parametrize("cls", ANOMALY_CLASSES)
def test_ground_truth_invariants(cls):
    cfg = SynthConfig(seed=11)
    lo, hi = cfg.anomaly_area
    n_objects = 2 if cls in ("fighting", "road_accident") else 1
    for i in range(6):
        spec = make_spec(cfg, "test", cls, i)
        plan = simulate(cfg, spec, textures=False)
        gt = ground_truth(plan)
        T = spec.n_frames(cfg)
        assert gt.labels.shape == (T,) and gt.boxes.shape == (T, 4)
        present = ~np.isnan(gt.boxes[:, 0])
        assert np.array_equal(gt.labels.astype(bool), present)
        assert np.isnan(gt.boxes[~present]).all()
        assert gt.labels.sum() >= 16, "anomaly shorter than a snippet"
        assert not gt.labels[:cfg.snippet_len].any(), "the first snippet must be normal"
        assert len(gt.segments) == 1
        b = gt.boxes[present]
        assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
        assert (b[:, 2] <= W).all() and (b[:, 3] <= H).all()
        assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
        mean_area = gt.mean_area_frac(W * H)
        P = plan.info["agent_height"]
        assert cfg.agent_height[0] <= P <= cfg.agent_height[1]
        if cls in ("fire", "explosion"):
            assert lo * (1 - AREA_TOL) <= mean_area <= hi * (1 + AREA_TOL), (spec.id, mean_area)
            assert gt.area_fracs(W * H).max() <= FRAME_AREA_MAX * hi
        else:
            ratio = mean_area * W * H / P ** 2 / AREA_FACTOR[cls]
            assert 1 / 1.5 <= ratio <= 1.5, (spec.id, ratio)
            # (two cars closing in from both sides have a union box far larger than the wreck)
            frame_max = 4.0 if cls == "road_accident" else FRAME_AREA_MAX
            assert gt.area_fracs(W * H).max() <= frame_max * AREA_FACTOR[cls] * P ** 2 / (W * H)
        # tracks: one per anomalous object; their union is the frame box
        assert gt.track_boxes.shape == (n_objects, T, 4)
        assert list(gt.track_ids) == list(range(1, n_objects + 1))
        tb = gt.track_boxes
        tb = tb[:, present]
        union = np.stack([np.nanmin(tb[..., 0], 0), np.nanmin(tb[..., 1], 0),
                          np.nanmax(tb[..., 2], 0), np.nanmax(tb[..., 3], 0)], 1)
        assert np.array_equal(union, gt.boxes[present])


def test_normal_videos_have_no_anomaly():
    cfg = SynthConfig(seed=5)
    for i in range(4):
        gt = ground_truth(simulate(cfg, make_spec(cfg, "val", NORMAL, i), textures=False))
        assert not gt.labels.any() and np.isnan(gt.boxes).all() and gt.track_ids.size == 0


@pytest.mark.parametrize("cls", ANOMALY_CLASSES)
def test_pixel_mask_fills_its_box(cls):
    cfg = tiny(seed=2)
    frames, gt = render_video(cfg, make_spec(cfg, "test", cls, 0))
    m = gt.masks.astype(bool)
    assert np.array_equal(m.any(axis=(1, 2)), gt.labels.astype(bool))
    for t in np.flatnonzero(gt.labels):
        ys, xs = np.nonzero(m[t])
        # the box is exactly the mask's extent: the mask lies inside the box and touches its sides
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(int(v) for v in gt.boxes[t])


def test_running_is_motion_only():
    cfg = SynthConfig(seed=21)
    for i in range(4):
        plan = simulate(cfg, make_spec(cfg, "test", "running", i), textures=False)
        runner = plan.anomaly_tracks[0]
        info = runner.info
        # appearance: exactly the walking sprites any pedestrian of its height/clothes gets, and
        # only walking-cycle poses (no special pose, colour or size)
        same = pedestrian_sprites(info["height"], info["colors"], info["facing"])
        for k in np.unique(runner.pose):
            assert k < N_WALK_POSES
            assert np.array_equal(runner.sprites[k].rgb, same[k].rgb)
            assert np.array_equal(runner.sprites[k].mask, same[k].mask)
        walkers = [t for t in plan.tracks if t.kind == "pedestrian" and t.object_id == 0]
        for w in walkers:  # normal pedestrians are drawn from the same height distribution
            assert abs(w.info["height"] - info["height"]) <= 0.2 * plan.scene.P + 1
        # motion: 3-5x the video's walking speed while anomalous, normal pedestrians <= 1.15x
        walk = plan.info["walk_speed"]
        k = np.flatnonzero(runner.anomalous)
        speed = np.hypot(np.diff(runner.fx[k]), np.diff(runner.fy[k])).mean()
        assert 3.0 - 1e-6 <= speed / walk <= 5.0 + 1e-6
        for w in walkers:
            if len(w.fx) > 1:
                assert np.hypot(np.diff(w.fx), np.diff(w.fy)).max() <= 1.15 * walk + 1e-6
        # and its box moves that fast in the ground truth too (box centres, rounded to pixels)
        gt = ground_truth(plan)
        b = gt.boxes[gt.labels.astype(bool)]
        inside = (b[:, 0] > 0) & (b[:, 2] < W)
        cx = (b[inside, 0] + b[inside, 2]) / 2
        assert abs(cx[-1] - cx[0]) / (len(cx) - 1) >= 2.5 * walk


# ------------------------------------------------------------------------------------------------
# On-disk dataset
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    cfg = tiny(open_set_holdout=["explosion"])
    root = tmp_path_factory.mktemp("synthvad")
    meta = generate(cfg, root, progress=False, workers=1)
    return cfg, root, meta


def test_layout_meta_and_splits(dataset):
    cfg, root, meta = dataset
    assert is_complete(cfg, root)
    assert meta["config_hash"] == world_hash(cfg) != config_hash(cfg)  # the config and the generator's code
    assert from_dict(SynthConfig, meta["config"]) == cfg
    assert meta["classes"] == [NORMAL, *cfg.classes]
    assert (meta["fps"], meta["width"], meta["height"], meta["snippet_len"]) == (25, W, H, 16)
    specs = {s.id: s for s in video_specs(cfg)}
    assert [v["id"] for v in meta["videos"]] == list(specs)
    for v in meta["videos"]:
        s = specs[v["id"]]
        assert v["path"] == f"videos/{s.cls}/{s.id}.mp4" and (root / v["path"]).is_file()
        assert v["label"] == (s.cls != NORMAL) and v["n_frames"] == s.n_frames(cfg)
        assert (v["anomaly_area_frac"] is None) == (s.cls == NORMAL)
    for split in ("train", "val", "test"):
        lines = (root / "splits" / f"{split}.txt").read_text().splitlines()
        assert lines == [f"{s.cls}/{s.id}.mp4" for s in specs.values() if s.split == split]
        classes = {line.split("/")[0] for line in lines}
        assert ("explosion" in classes) == (split == "test")  # open-set holdout
    # train videos carry no annotation file at all
    ann = [p for p in (root / "annotations").rglob("*") if p.is_file()]
    assert not [p for p in ann if "train_" in p.name]
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and not p.name.startswith(".")) == sorted(dataset_files(cfg))


def test_annotation_files_agree(dataset):
    cfg, root, meta = dataset
    ann = root / "annotations"
    lines = (ann / "temporal_annotations.txt").read_text().splitlines()
    evaluated = [v for v in meta["videos"] if v["split"] in ("val", "test")]
    assert len(lines) == len(evaluated)
    liu_ma = pickle.loads((ann / "boxes_liu_ma.pkl").read_bytes())
    assert set(liu_ma) == {v["id"] for v in evaluated if v["label"]}
    for line, v in zip(lines, evaluated):
        name, cls, *seg = line.split("  ")
        assert name == f"{v['id']}.mp4" and cls == ("Normal" if v["class"] == NORMAL else v["class"])
        s1, e1, s2, e2 = map(int, seg)
        boxes = np.load(ann / "boxes" / f"{v['id']}.npy")
        labels = np.load(ann / "test_frame_mask" / f"{v['id']}.npy")
        assert boxes.dtype == np.float32 and boxes.shape == (v["n_frames"], 4)
        assert labels.dtype == np.uint8 and np.array_equal(labels, ~np.isnan(boxes[:, 0]))
        expected = np.zeros(v["n_frames"], np.uint8)
        if s1 >= 0:
            expected[s1:e1 + 1] = 1
        assert (s2, e2) == (-1, -1) and np.array_equal(labels, expected)
        if not v["label"]:
            assert not (ann / "test_pixel_mask" / f"{v['id']}.npz").exists()
            continue
        for img, x1, y1, x2, y2 in liu_ma[v["id"]]:
            vid, frame = img.split("/")
            t = int(frame.split(".")[0])
            assert vid == v["id"] and t % 16 == 0 and labels[t]
            assert [x1, y1, x2, y2] == boxes[t].astype(int).tolist()
        assert len(liu_ma[v["id"]]) == int(labels[::16].sum())
        mask = np.load(ann / "test_pixel_mask" / f"{v['id']}.npz")["mask"]
        assert mask.shape == (v["n_frames"], H, W) and mask.dtype == np.uint8
        assert np.array_equal(mask.any(axis=(1, 2)), labels.astype(bool))
        tracks = np.load(ann / "tracks" / f"{v['id']}_track_boxes.npz")
        txt = (ann / "tracks" / f"{v['id']}_tracks.txt").read_text().split()
        assert len(txt) == len(tracks["ids"]) == tracks["boxes"].shape[0]
        for row, oid, tb in zip(txt, tracks["ids"], tracks["boxes"]):
            o, s, e = map(int, row.split(","))
            on = np.flatnonzero(~np.isnan(tb[:, 0]))
            assert (o, s, e) == (int(oid), on[0], on[-1])


def test_mp4_decodes_to_the_rendered_video(dataset):
    cfg, root, meta = dataset
    for v in meta["videos"][::5]:
        frames = decode(root / v["path"])
        assert frames.shape == (v["n_frames"], H, W, 3)
        spec = make_spec(cfg, v["split"], v["class"], int(v["id"][-3:]))
        rendered, _ = render_video(cfg, spec, with_masks=False)
        # H.264 (crf 24, 4:2:0 chroma) drops most sensor noise and chroma detail: about 6 grey
        # levels of mean error, PSNR about 28 dB; a different video is much farther away
        err = frames.astype(float) - rendered
        psnr = 10 * np.log10(255 ** 2 / (err ** 2).mean())
        assert psnr > 26, (v["id"], psnr)
        assert np.abs(err).mean() < 0.3 * np.abs(frames[:, ::-1].astype(float) - rendered).mean()


def test_generate_is_deterministic_resumable_and_replaces_stale(dataset, tmp_path):
    cfg, root, meta = dataset
    # same config, other folder, two worker processes: identical files
    other = tmp_path / "again"
    meta2 = generate(cfg, other, progress=False, workers=2)
    assert meta2 == meta
    for rel in dataset_files(cfg):
        a, b = root / rel, other / rel
        if rel.endswith(".mp4"):
            assert np.array_equal(decode(a), decode(b)), rel
        else:
            assert a.read_bytes() == b.read_bytes(), rel
    # a finished dataset: nothing is rewritten
    before = snapshot(other)
    generate(cfg, other, progress=False)
    assert snapshot(other) == before
    # one video deleted: only it is rewritten, identical to before
    victim = other / meta["videos"][4]["path"]
    old = decode(victim)
    victim.unlink()
    generate(cfg, other, progress=False)
    after = snapshot(other)
    changed = {k for k in before if after.get(k) != before[k]}
    assert changed == {os.path.relpath(victim, other)}
    assert np.array_equal(decode(victim), old)
    # the same without the hidden records file: records are recomputed from the seeds
    (other / ".synthvad_records.json").unlink()
    victim.unlink()
    before = snapshot(other)
    generate(cfg, other, progress=False)
    after = snapshot(other)
    assert {k for k in after if after[k] != before.get(k)} == {os.path.relpath(victim, other),
                                                               ".synthvad_records.json"}
    # another config in the same folder replaces everything, and removes what it does not have
    cfg3 = replace(cfg, seed=cfg.seed + 1, n_test_normal=0)
    meta3 = generate(cfg3, other, progress=False)
    assert meta3["config_hash"] == world_hash(cfg3) != meta["config_hash"]
    rel = "annotations/temporal_annotations.txt"  # another seed, other ground truth
    assert (other / rel).read_bytes() != (root / rel).read_bytes()
    assert not (other / "videos" / "normal" / "test_normal_000.mp4").exists()
    assert is_complete(cfg3, other) and not is_complete(cfg, other)


def test_videos_made_by_other_generator_code_are_made_again(dataset, tmp_path, monkeypatch):
    """The same config rendered by changed code (another explosion, say) is another world: files
    of the old code are not trusted, every video is rendered again (stale worlds once survived a
    change of the generator, because only the config named them)."""
    import shutil

    import stprompt.synth.config as synth_config

    cfg, root, meta = dataset
    other = tmp_path / "copy"
    shutil.copytree(root, other)
    assert is_complete(cfg, other)
    real = synth_config.generator_hash()
    monkeypatch.setattr(synth_config, "generator_hash", lambda: "changed-code")
    assert not is_complete(cfg, other) and world_hash(cfg) != meta["config_hash"]
    victim = next(other.glob("videos/*/*.mp4"))
    stamp = victim.stat().st_mtime_ns
    time.sleep(0.01)
    meta2 = generate(cfg, other, progress=False)
    assert meta2["config_hash"] == world_hash(cfg) and is_complete(cfg, other)
    assert victim.stat().st_mtime_ns != stamp  # rendered again, not trusted
    assert real != "changed-code" and len(real) == 16


# ------------------------------------------------------------------------------------------------
# Caption data for the tiny CLIP
# ------------------------------------------------------------------------------------------------

def test_caption_dataset():
    cfg = SynthConfig(seed=4)
    imgs, caps, info = caption_dataset(cfg, 80, seed=1, size=32)
    assert imgs.shape == (80, 32, 32, 3) and imgs.dtype == np.uint8 and len(caps) == len(info) == 80
    kinds = [d["kind"] for d in info]
    assert {k: kinds.count(k) for k in set(kinds)} == {"anomaly": 24, "agent": 20, "background": 24,
                                                       "frame": 12}
    assert all(d["scene_id"].startswith("caption-train-") for d in info)  # never a dataset video
    assert not any("run" in c for c in caps) and "running" not in {d["category"] for d in info}
    for c, d in zip(caps, info):
        if d["kind"] == "background":
            assert d["category"] in c and not d["anomalous"]
        if d["kind"] == "anomaly":
            assert d["anomalous"] and d["category"] in ANOMALY_CLASSES
    assert {"a picture of grass", "a picture of road"} & set(caps)
    again = caption_dataset(cfg, 80, seed=1, size=32)
    assert np.array_equal(again[0], imgs) and again[1] == caps
    held = caption_dataset(cfg, 20, seed=1, size=32, split="heldout")
    assert all(d["scene_id"].startswith("caption-heldout-") for d in held[2])
    # a running person in a still crop is captioned as an ordinary person
    _, rcaps, rinfo = caption_dataset(cfg, 30, seed=2, size=32, classes=["running"],
                                      mix={"agent": 1.0}, normal_scene_frac=0.0)
    runner = [c for c, d in zip(rcaps, rinfo) if d.get("source") == "running"]
    assert runner and all(re.match(r"a (person|pedestrian|photo of a person)", c) for c in runner)


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------

def test_figures():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from stprompt.synth import sample_frames
    from stprompt.reports.viz import anomaly_area_hist, sample_frame_grid

    cfg = tiny()
    samples = sample_frames(cfg, per_class=2, classes=[NORMAL, "fire"])
    fig = sample_frame_grid(samples)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == [NORMAL, "fire"]
    assert len(fig.axes[2].patches) == 1 and len(fig.axes[0].patches) == 0  # boxes only on anomalies
    hist = anomaly_area_hist({"fire": [0.01, 0.02, 0.05], "running": [0.012]}, area_range=(0.01, 0.06))
    ax = hist.axes[0]
    assert "%" in ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert {"fire", "running"} <= {t.get_text() for t in ax.get_legend().get_texts()}
    assert plt.get_fignums() == []  # no pyplot state


def test_interrupted_generation_resumes(tmp_path, monkeypatch):
    import stprompt.synth.writer as writer

    cfg = tiny(classes=["fire", "running"])
    real, calls = writer.render_and_write, []

    def flaky(cfg_, spec, root):
        if len(calls) == 4:
            raise KeyboardInterrupt  # the user stops the run after four videos
        calls.append(spec.id)
        return real(cfg_, spec, root)

    monkeypatch.setattr(writer, "render_and_write", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate(cfg, tmp_path, progress=False)
    assert not (tmp_path / "meta.json").exists() and not is_complete(cfg, tmp_path)
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]  # no half-written file
    done_before = snapshot(tmp_path)
    monkeypatch.setattr(writer, "render_and_write", real)
    calls2 = []
    monkeypatch.setattr(writer, "render_and_write",
                        lambda c, s, r: calls2.append(s.id) or real(c, s, r))
    generate(cfg, tmp_path, progress=False)
    assert is_complete(cfg, tmp_path)
    assert not set(calls) & set(calls2) and len(calls) + len(calls2) == len(video_specs(cfg))
    after = snapshot(tmp_path)
    assert all(after[k] == v for k, v in done_before.items() if k.endswith(".mp4"))


def test_caption_windows_follow_the_labels():
    """Grid-window captions: the crop is a window of the feature grid, and a window is captioned as
    the anomaly only on a labelled frame where it holds most of the labelled box (or the anomaly
    fills a quarter of it); a window captioned as normal shows at most a sliver of a labelled anomaly."""
    from stprompt.features import window_boxes
    from stprompt.synth.render import ground_truth, simulate
    from stprompt.synth.config import VideoSpec

    cfg = SynthConfig(seed=4)
    imgs, caps, info = caption_dataset(cfg, 60, seed=3, size=32, mix={"window": 1.0},
                                       classes=["fire", "road_accident", "fighting"], normal_scene_frac=0.2)
    grid = {tuple(int(v) for v in b) for b in window_boxes(cfg.height, cfg.width, (3, 4), (48, 48))}
    assert len(info) == 60 and all(d["kind"] == "window" for d in info)
    assert all(tuple(d["crop"]) in grid for d in info)
    truth = {}
    n_anomalous = 0
    for c, d in zip(caps, info):
        if d["scene_id"] not in truth:
            spec = VideoSpec(id=d["scene_id"], split="train", cls=d["scene_class"], n_snippets=cfg.snippets[0])
            truth[d["scene_id"]] = ground_truth(simulate(cfg, spec))
        gt, t = truth[d["scene_id"]], d["frame"]
        x1, y1, x2, y2 = d["crop"]
        box = gt.boxes[t]
        if gt.labels[t]:
            ix = max(0.0, min(x2, box[2]) - max(x1, box[0]))
            iy = max(0.0, min(y2, box[3]) - max(y1, box[1]))
            held = ix * iy / ((box[2] - box[0]) * (box[3] - box[1]))
            fill = ix * iy / ((x2 - x1) * (y2 - y1))
        else:
            held = fill = 0.0
        if d["anomalous"]:
            n_anomalous += 1
            assert gt.labels[t] and (held >= 0.5 or fill >= 0.25), (c, d)
            assert d["category"] == d["scene_class"]
        else:
            assert held <= 0.1 and fill <= 0.05, (c, d)
    assert 0 < n_anomalous < 60

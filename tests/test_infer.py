"""`stprompt infer` end to end on a tiny trained setup, and its input errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from stprompt import vlm
from stprompt.datasets import probe_video, read_frames
from stprompt.datasets.video import write_video
from stprompt.io import repo_root


@pytest.fixture(scope="module")
def trained_profile(tmp_path_factory):
    """A profile whose run folder holds a tiny SynthVAD, a random tiny CLIP, its features and a
    1-epoch STPrompt checkpoint (what 00-02 would leave, at toy size)."""
    from stprompt.features import extract_from_params
    from stprompt.model import ModelConfig
    from stprompt.run.pipeline import resolved_params
    from stprompt.synth import SynthConfig, generate
    from stprompt.train import TrainConfig, fit_and_score, load_sets

    tmp = tmp_path_factory.mktemp("infer")
    run_dir = tmp / "run"
    profile = tmp / "p.yaml"
    profile.write_text(yaml.safe_dump({"name": "p", "run_dir": str(run_dir), "notebook_dir": str(repo_root() / "notebooks"),
                                       "params": {"01_data_prep": {"grid": [2, 2], "window": [60, 80]}}}))
    generate(SynthConfig(n_train_per_class=1, n_val_per_class=1, n_test_per_class=1, n_train_normal=2,
                         n_val_normal=1, n_test_normal=1, classes=["fire", "fighting"], snippets=(3, 4)),
             run_dir / "data" / "synthvad", progress=False)
    model, _ = vlm.build_clip(vlm.ClipSpec("tiny_clip"))
    vlm.save_checkpoint(model, run_dir / "vlm" / "tiny_clip.pt")
    params = resolved_params(str(profile), "01_data_prep")
    extract_from_params(params, progress=False, log=None)
    clip, _ = vlm.build_clip(vlm.ClipSpec(model=None, checkpoint=str(run_dir / "vlm" / "tiny_clip.pt")))
    data = load_sets(run_dir, "synthvad")
    fit_and_score(ModelConfig(method="stprompt"), TrainConfig(epochs=1, batch_size=4), data["sets"], clip,
                  data["recipe"], run_dir, "stprompt_seed0")
    return profile, run_dir


def test_infer_writes_scores_curve_and_overlay_video(trained_profile, tmp_path):
    from stprompt.run.infer import infer

    profile, run_dir = trained_profile
    video = next((run_dir / "data" / "synthvad" / "videos" / "fire").glob("test_*.mp4"))
    res = infer(video, str(profile), out=tmp_path, theta=0.0, gif=True, progress=False, log=None)
    n = probe_video(video).n_frames
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["n_frames"] == n and len(scores["snippets"]) == -(-n // 16)
    assert all(0 <= s["score"] <= 1 and s["box"] is not None for s in scores["snippets"])  # θ = 0
    assert (tmp_path / "score_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "heatmap.gif").read_bytes()[:3] == b"GIF"
    overlay = read_frames(tmp_path / "heatmap.mp4")
    assert overlay.shape == read_frames(video).shape  # every frame, same size
    assert res["theta"] == 0.0
    # θ above every score: no box, and the overlay equals the video (no heat, no box) up to coding
    infer(video, str(profile), out=tmp_path / "high", theta=1.1, progress=False, log=None)
    high = json.loads((tmp_path / "high" / "scores.json").read_text())
    assert all(s["box"] is None for s in high["snippets"])
    diff = np.abs(read_frames(tmp_path / "high" / "heatmap.mp4").astype(int) - read_frames(video).astype(int))
    assert diff.mean() < 3


def test_infer_rejects_unreadable_and_too_short_videos(trained_profile, tmp_path):
    profile, _ = trained_profile
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    cmd = [sys.executable, "-m", "stprompt.run.cli", "infer", "--profile", str(profile), "--no-progress"]
    proc = subprocess.run(cmd + [str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "bad.mp4" in proc.stderr and "cannot open as a video" in proc.stderr
    short = write_video(np.zeros((8, 24, 32, 3), np.uint8), tmp_path / "short.mp4", 25)
    proc = subprocess.run(cmd + [str(short)], capture_output=True, text=True)
    assert proc.returncode == 2 and "shorter than one snippet" in proc.stderr
    proc = subprocess.run(cmd + [str(tmp_path / "missing.mp4")], capture_output=True, text=True)
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_infer_fits_windows_to_a_larger_video_and_says_what_it_used(trained_profile, tmp_path):
    from stprompt.run.infer import infer

    profile, run_dir = trained_profile
    small = next((run_dir / "data" / "synthvad" / "videos" / "fire").glob("test_*.mp4"))
    frames = read_frames(small)  # 160x120, windows 80x60 (w x h) on a 2x2 grid
    big = write_video(frames.repeat(2, axis=1).repeat(2, axis=2), tmp_path / "big.mp4", 25)
    lines: list[str] = []
    res = infer(big, str(profile), out=tmp_path / "out", progress=False, log=lines.append)
    # the same share of the frame: 80x60 of 160x120 is 160x120 of 320x240, spread to the edges
    assert res["windows"]["size"] == [160, 120] and res["frame_size"] == [320, 240]
    assert res["windows"]["boxes"] == [[0, 0, 160, 120], [160, 0, 320, 120], [0, 120, 160, 240], [160, 120, 320, 240]]
    # no 05_localization ran for this profile: θ is the default, and it says so
    assert res["theta"] == 0.5 and "default 0.5" in res["theta_source"] and "--theta" in res["theta_source"]
    assert any(line.startswith("θ = 0.500: the default 0.5") for line in lines)
    assert any("tiny CLIP" in line and "never seen real footage" in line for line in lines)
    assert read_frames(tmp_path / "out" / "heatmap.mp4").shape == (len(frames), 240, 320, 3)


def test_scaled_windows_keep_their_share_of_the_frame():
    from stprompt.run.infer import InferInputError, scaled_windows, training_frame_size

    recipe = {"features": {"window": [48, 48], "grid": [3, 4], "stride": None},
              "window_boxes": [[0, 0, 48, 48], [112, 72, 160, 120]]}
    assert training_frame_size(recipe) == (160, 120)  # the grid's extent
    assert scaled_windows(recipe, 720, 1280) == ((288, 384), None)
    assert scaled_windows(dict(recipe, frame_size=[320, 240]), 720, 1280) == ((144, 192), None)
    assert scaled_windows(recipe, 120, 160, "pixels") == ((48, 48), None)
    with pytest.raises(InferInputError, match=r"windows are 48x48 pixels but the video's frames are 40x30.*relative"):
        scaled_windows(recipe, 30, 40, "pixels")


def test_infer_input_errors_are_clear_and_come_before_torch(trained_profile, tmp_path):
    profile, run_dir = trained_profile
    folder = tmp_path / "clips"
    folder.mkdir()
    write_video(np.zeros((20, 24, 32, 3), np.uint8), folder / "a.mp4", 25)
    still = tmp_path / "frame.png"
    from PIL import Image

    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(still)
    code = ("import sys\nfrom stprompt.run.cli import main\n"
            f"rc = main(['infer', '--profile', {str(profile)!r}, '--no-progress', sys.argv[1]])\n"
            "print('rc', rc, 'torch loaded', 'torch' in sys.modules)\n")
    for path, message in ((folder, "is a folder without frame images; it holds 1 video file(s) (a.mp4): pass one"),
                          (still, "is a still image; infer needs a video")):
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
        assert message in proc.stderr and "rc 2 torch loaded False" in proc.stdout, (proc.stdout, proc.stderr)

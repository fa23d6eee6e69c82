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
    from stprompt.pipeline import resolved_params
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
    from stprompt.infer import infer

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
    cmd = [sys.executable, "-m", "stprompt.cli", "infer", "--profile", str(profile), "--no-progress"]
    proc = subprocess.run(cmd + [str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "bad.mp4" in proc.stderr and "cannot open as a video" in proc.stderr
    short = write_video(np.zeros((8, 24, 32, 3), np.uint8), tmp_path / "short.mp4", 25)
    proc = subprocess.run(cmd + [str(short)], capture_output=True, text=True)
    assert proc.returncode == 2 and "shorter than one snippet" in proc.stderr
    proc = subprocess.run(cmd + [str(tmp_path / "missing.mp4")], capture_output=True, text=True)
    assert proc.returncode == 2 and "not found" in proc.stderr

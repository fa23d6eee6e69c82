"""Data and feature variants of the ablations: made once, reused, the profile's own when nothing
changes; bad input named."""

from __future__ import annotations

import shutil

import pytest

import fixtures_datasets as fx
from stprompt import vlm
from stprompt.config import ConfigError
from stprompt.datasets import load_dataset
from stprompt.features import FeatureConfig, extract_dataset, load_features
from stprompt.run.variants import area_label, feature_variant, synthvad_variant


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A run folder with a tiny SynthVAD and its features (default recipe but 2x2 windows)."""
    run = tmp_path_factory.mktemp("run")
    root = fx.make_synthvad(run / "data" / "synthvad")
    model, info = vlm.build_clip(vlm.ClipSpec("tiny_clip"))
    cfg = FeatureConfig(grid=(2, 2), window=(8, 8))
    for split in ("train", "test"):
        extract_dataset(load_dataset("synthvad", root, split), run / "features" / "synthvad", model, cfg,
                        info.recipe(), progress=False)
    return run, root, model, info


def test_feature_variant_is_the_profile_s_own_when_nothing_changes(base):
    run, root, model, info = base
    fdir = run / "features" / "synthvad"
    kw = dict(clip_model=model, clip_info=info, run_dir=run, splits=("train", "test"))
    assert feature_variant(fdir, root, "synthvad", {"grid": [], "window": [], "patch_mode": ""}, **kw) == fdir
    # overrides that repeat the profile's recipe are no variant either
    assert feature_variant(fdir, root, "synthvad", {"grid": [2, 2], "window": [8, 8]}, **kw) == fdir


def test_feature_variant_extracts_once_with_only_the_changed_fields(base):
    run, root, model, info = base
    fdir = run / "features" / "synthvad"
    kw = dict(clip_model=model, clip_info=info, run_dir=run, splits=("train", "test"))
    out = feature_variant(fdir, root, "synthvad", {"grid": [1, 3], "patch_mode": "tokens"}, **kw)
    assert out.parent == run / "features" and out.name.startswith("synthvad@")
    ids = [r.id for s in ("train", "test") for r in load_dataset("synthvad", root, s)]
    feats = load_features(out / f"{ids[0]}.npz")
    base_recipe = load_features(fdir / f"{ids[0]}.npz").recipe["features"]
    assert feats.patch.shape[1] == 3 and feats.recipe["features"]["patch_mode"] == "tokens"
    changed = {k for k in base_recipe if base_recipe[k] != feats.recipe["features"][k]}
    assert changed == {"grid", "patch_mode"}
    stamp = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npz")}
    assert feature_variant(fdir, root, "synthvad", {"grid": [1, 3], "patch_mode": "tokens"}, **kw) == out
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.npz")} == stamp  # reused, not redone
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['stride'\]"):
        feature_variant(fdir, root, "synthvad", {"stride": [4, 4]}, **kw)


def test_synthvad_variant_needs_a_synthvad_dataset_and_a_valid_range(base, tmp_path):
    run, root, *_ = base
    assert area_label([0.0025, 0.01]) == "synthvad_area-0.0025-0.01"
    with pytest.raises(FileNotFoundError, match="not a SynthVAD dataset"):
        synthvad_variant(tmp_path, [0.01, 0.02], run)
    with pytest.raises(ConfigError, match=r"anomaly_area: expected \[lo, hi\]"):
        synthvad_variant(root, [0.2, 0.1], run)


def test_synthvad_variant_regenerates_with_the_new_range_only(tmp_path):
    from stprompt.io import read_json
    from stprompt.synth import SynthConfig, generate

    cfg = SynthConfig(n_train_per_class=0, n_val_per_class=0, n_test_per_class=1, n_train_normal=0,
                      n_val_normal=0, n_test_normal=0, snippets=(3, 3), classes=("fire",),
                      anomaly_area=(0.01, 0.03))
    generate(cfg, tmp_path / "data" / "synthvad", progress=False)
    same = synthvad_variant(tmp_path / "data" / "synthvad", [0.01, 0.03], tmp_path)
    assert same == tmp_path / "data" / "synthvad"
    root = synthvad_variant(tmp_path / "data" / "synthvad", [0.1, 0.3], tmp_path)
    assert root == tmp_path / "data" / "synthvad_area-0.1-0.3"
    a, b = read_json(same / "meta.json")["config"], read_json(root / "meta.json")["config"]
    # the agents' zoom range scales with the area range (same factor in area: sqrt(0.1*0.3/0.0003) = 10,
    # so heights x sqrt(10), clipped to a third of the frame height)
    assert b["anomaly_area"] == [0.1, 0.3] and {k for k in a if a[k] != b[k]} == {"anomaly_area", "agent_height"}
    factor = 10 ** 0.5
    assert b["agent_height"] == [min(cfg.height // 3, round(h * factor)) for h in a["agent_height"]]
    big = read_json(root / "meta.json")["videos"][0]["anomaly_area_frac"]
    small = read_json(same / "meta.json")["videos"][0]["anomaly_area_frac"]
    assert big > small
    shutil.rmtree(root)


def test_feature_variant_of_a_real_dataset_reads_its_splits_with_its_reader(tmp_path, monkeypatch):
    """UCF-Crime has no val split: a window variant extracts the profile's splits, through the
    reader options, by the path of `stprompt extract` (extract_from_params)."""
    from stprompt import features

    root = fx.make_ucf_crime(tmp_path / "UCF_Crimes")
    model, info = vlm.build_clip(vlm.ClipSpec("tiny_clip"))
    run = tmp_path / "run"
    reader = {"boxes_file": "UCFCrimeBBox/Test_annotation.pkl"}
    base = FeatureConfig(grid=(2, 2), window=(8, 8))
    for split in ("train", "test"):
        extract_dataset(load_dataset("ucf_crime", root, split, reader), run / "features" / "ucf_crime", model, base,
                        info.recipe(), progress=False)
    calls = []
    real = features.extract_from_params
    monkeypatch.setattr(features, "extract_from_params", lambda params, **kw: calls.append(params) or real(params, **kw))
    out = feature_variant(run / "features" / "ucf_crime", root, "ucf_crime", {"grid": [1, 3]}, model, info, run,
                          splits=("train", "test"), reader=reader)
    assert out.name.startswith("ucf_crime@") and len(list(out.glob("*.npz"))) == 4  # 2 train + 2 test videos
    assert calls[0]["splits"] == ["train", "test"] and calls[0]["reader"] == reader
    assert load_features(out / "Arrest001_x264.npz").patch.shape[1] == 3
    with pytest.raises(Exception, match=r"UCF-Crime has splits train, test, not 'val'"):
        feature_variant(run / "features" / "ucf_crime", root, "ucf_crime", {"grid": [1, 2]}, model, info, run)

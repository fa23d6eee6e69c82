"""Training data handling: padding, shortening, validation hold-out, balanced batches, feature/GT
length checks; and (with the models) determinism, selection on validation, checkpoint reuse."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from stprompt.train import (FeatureSet, TrainConfig, VideoItem, _batches, segment_average,
                            split_train_val)


def test_segment_average_matches_hand_computation():
    x = np.arange(10, dtype=float)[:, None]  # 10 snippets -> 4 segments at edges 0,2,5,7,10
    np.testing.assert_array_equal(segment_average(x, 4)[:, 0], [0.5, 3.0, 5.5, 8.0])
    assert segment_average(x, 16) is x  # short videos are left alone


def test_split_train_val_is_stratified_and_deterministic():
    recs = [SimpleNamespace(id=f"{c}{i}", class_name=c) for c in ("normal", "fire") for i in range(10)]
    recs.append(SimpleNamespace(id="fight0", class_name="fighting"))  # a class with one video stays in train
    tr, va = split_train_val(recs, 0.2, seed=1)
    assert sorted(r.class_name for r in va) == ["fire", "fire", "normal", "normal"]
    assert {r.id for r in tr} | {r.id for r in va} == {r.id for r in recs} and not {r.id for r in tr} & {r.id for r in va}
    assert [r.id for r in split_train_val(recs, 0.2, seed=1)[1]] == [r.id for r in va]


def _item(i, label, T=4):
    return VideoItem(f"v{i}", np.zeros((T, 2), np.float32), None, None, label, label, None, T * 16)


def test_balanced_batches_pair_normal_and_anomalous_videos():
    data = SimpleNamespace(items=[_item(i, int(i >= 6)) for i in range(8)])  # 6 normal, 2 anomalous
    batches = _batches(data, TrainConfig(batch_size=4), np.random.default_rng(0))
    assert len(batches) == 3  # 6 normal videos in halves of 2
    for b in batches:
        labels = [data.items[i].label for i in b]
        assert labels.count(0) == 2 and labels.count(1) == 2
    assert sorted(i for b in batches for i in b if i < 6) == list(range(6))  # each normal once


def test_collate_pads_and_masks():
    pytest.importorskip("stprompt.model")
    from stprompt.train import collate

    items = [_item(0, 0, T=3), _item(1, 1, T=5)]
    items[0].frame[:] = 1.0
    batch = collate(items)
    assert batch.frame.shape == (2, 5, 2) and batch.mask.tolist() == [[1, 1, 1, 0, 0], [1] * 5]
    assert float(batch.frame[0, 3:].abs().sum()) == 0.0 and batch.patch is None
    assert batch.label.tolist() == [0.0, 1.0] and batch.class_idx.tolist() == [0, 1]
    short = collate([_item(2, 1, T=10)], max_len=4)
    assert short.frame.shape[1] == 4


def test_feature_set_rejects_a_length_mismatch_naming_the_video(tmp_path):
    from stprompt.datasets import VideoRecord
    from stprompt.features import save_features

    save_features(tmp_path / "v1.npz", {"frame": np.zeros((3, 4)), "motion": np.zeros((3, 2)),
                                        "boxes": np.zeros((2, 4), int)},
                  {"features": {"snippet_len": 16}, "recipe_hash": "r"}, "v1", 40)
    rec = VideoRecord(id="v1", path=tmp_path / "v1.mp4", n_frames=80, fps=25.0, label=0,
                      class_name="normal", split="test")
    with pytest.raises(ValueError, match="v1"):
        FeatureSet([rec], tmp_path, ["normal", "fire"])


# ------------------------------------------------------------------------------------------------
# With the models: determinism, selection on validation, checkpoint reuse, evaluation
# ------------------------------------------------------------------------------------------------

def _toy_sets(tmp_path):
    """Toy features in real files: anomalous videos have 2 snippets whose frame feature points
    along a fixed direction; val/test carry frame ground truth."""
    from stprompt.datasets import VideoRecord
    from stprompt.features import save_features

    rng = np.random.default_rng(0)
    direction = rng.normal(size=16)
    recs = {}
    for split, n in (("train", 24), ("val", 8), ("test", 8)):
        recs[split] = []
        for i in range(n):
            label = i % 2
            T = 6
            frame = rng.normal(size=(T, 16)) * 0.5
            segs = None
            if label:
                frame[2:4] += 2 * direction
                segs = [(32, 63)]
            vid = f"{split}{i}"
            save_features(tmp_path / f"{vid}.npz", {"frame": frame, "motion": rng.random((T, 2)),
                                                   "patch": rng.normal(size=(T, 2, 16)),
                                                   "boxes": np.array([[0, 0, 2, 2], [2, 0, 4, 2]])},
                          {"features": {"snippet_len": 16}, "recipe_hash": "toy"}, vid, T * 16)
            kw = {"segments": segs} if split != "train" else {}
            recs[split].append(VideoRecord(id=vid, path=tmp_path / f"{vid}.mp4", n_frames=T * 16, fps=25.0,
                                           label=label, class_name="fire" if label else "normal",
                                           split=split, **kw))
    names = ["normal", "fire"]
    sets = {s: FeatureSet(r, tmp_path, names, "toy") for s, r in recs.items()}
    return recs, sets


def test_a_set_held_in_memory_gives_the_same_batches_and_scores(tmp_path, monkeypatch):
    from stprompt import training_data
    from stprompt.features import MappedArray
    from stprompt.model import ModelConfig
    from stprompt.train import collate, fit_and_score

    recs, sets = _toy_sets(tmp_path)
    items = sets["train"].items[:5]
    mapped = collate(items, max_len=4)
    assert isinstance(items[0].patch, MappedArray)
    assert not sets["train"].hold_in_memory(max_bytes=100)  # over the budget: stays mapped
    assert isinstance(sets["train"].items[0].patch, MappedArray)
    assert sets["train"].hold_in_memory()
    held = collate(sets["train"].items[:5], max_len=4)
    assert isinstance(sets["train"].items[0].patch, np.ndarray)
    assert sets["train"].items[0].patch.dtype == np.float32
    for name in ("frame", "patch", "motion", "mask"):
        assert torch.equal(getattr(mapped, name), getattr(held, name))
    # training reads its sets from memory; the scores equal those of a training that reads the maps
    cfg, tcfg = ModelConfig(method="stprompt", branches="c", sa2_k=1), TrainConfig(epochs=3, batch_size=8)
    _, fresh = _toy_sets(tmp_path)
    a = fit_and_score(cfg, tcfg, fresh, None, {"recipe_hash": "toy"}, tmp_path / "a", "run")
    assert isinstance(fresh["val"].items[0].frame, np.ndarray)  # train() held train and val
    _, mapped_sets = _toy_sets(tmp_path)
    monkeypatch.setattr(training_data, "IN_MEMORY_BYTES", 0)  # nothing fits: every epoch reads the maps
    b = fit_and_score(cfg, tcfg, mapped_sets, None, {"recipe_hash": "toy"}, tmp_path / "b", "run")
    assert isinstance(mapped_sets["val"].items[0].frame, MappedArray)
    assert isinstance(mapped_sets["train"].items[0].patch, MappedArray)
    assert [h["val"] for h in a["history"]] == [h["val"] for h in b["history"]]
    for vid in a["test_scores"]:
        np.testing.assert_array_equal(a["test_scores"][vid], b["test_scores"][vid])


def test_training_is_deterministic_selects_on_validation_and_reuses_checkpoints(tmp_path):
    from stprompt.model import ModelConfig
    from stprompt.train import evaluate, fit_and_score

    recs, sets = _toy_sets(tmp_path)
    cfg = ModelConfig(method="stprompt", branches="c", sa2_k=1)
    tcfg = TrainConfig(epochs=6, batch_size=8, lr=3e-3)
    a = fit_and_score(cfg, tcfg, sets, None, {"recipe_hash": "toy"}, tmp_path / "a", "run")
    b = fit_and_score(cfg, tcfg, sets, None, {"recipe_hash": "toy"}, tmp_path / "b", "run")
    ra, rb = evaluate(a["test_scores"], recs["test"]), evaluate(b["test_scores"], recs["test"])
    assert round(ra["auc_micro"], 4) == round(rb["auc_micro"], 4)
    assert a["best_epoch"] == b["best_epoch"] and a["selection_metric"] == "frame_auc"
    # the selected epoch is the best validation epoch
    vals = [h["val"] for h in a["history"]]
    assert a["val_score"] == max(vals) and vals.index(max(vals)) == a["best_epoch"]
    assert ra["auc_micro"] > 0.9  # the toy is separable
    # a second call with the same settings loads the checkpoint and the saved scores
    c = fit_and_score(cfg, tcfg, sets, None, {"recipe_hash": "toy"}, tmp_path / "a", "run")
    assert c["cached"] and c["best_epoch"] == a["best_epoch"]
    np.testing.assert_array_equal(c["test_scores"]["test1"], a["test_scores"]["test1"])
    d = fit_and_score(cfg, TrainConfig(epochs=2, batch_size=8), sets, None, {"recipe_hash": "toy"},
                      tmp_path / "a", "run")
    assert not d["cached"]


def test_c_branch_loss_decreases_on_a_separable_toy(tmp_path):
    from stprompt.model import ModelConfig, build_model
    from stprompt.train import train

    _, sets = _toy_sets(tmp_path)
    model = build_model(ModelConfig(method="stprompt", branches="c", sa2_k=1), None, ["normal", "fire"], 16)
    res = train(model, sets["train"], sets["val"], TrainConfig(epochs=8, batch_size=8, lr=3e-3), progress=False)
    losses = [h["loss"] for h in res.history if "loss" in h]
    assert losses[-1] < 0.5 * losses[0]


def test_shared_runs_are_reused_across_points_and_keyed_by_everything_that_decides_them(tmp_path):
    from stprompt.model import ModelConfig
    from stprompt.train import shared_fit_and_score

    _, sets = _toy_sets(tmp_path)
    cfg = ModelConfig(method="stprompt", branches="c", sa2_k=1)
    tcfg = TrainConfig(epochs=2, batch_size=8, lr=3e-3)
    a = shared_fit_and_score(cfg, tcfg, sets, None, {"recipe_hash": "toy"}, tmp_path / "shared", "features/x")
    b = shared_fit_and_score(cfg, tcfg, sets, None, {"recipe_hash": "toy"}, tmp_path / "shared", "features/x")
    assert not a["cached"] and b["cached"] and a["name"] == b["name"] and a["name"].startswith("stprompt_seed0_")
    np.testing.assert_array_equal(a["test_scores"]["test1"], b["test_scores"]["test1"])
    # another seed, another data variant or another switch is another run
    names = {a["name"],
             shared_fit_and_score(cfg, TrainConfig(epochs=2, batch_size=8, lr=3e-3, seed=1), sets, None,
                                  {"recipe_hash": "toy"}, tmp_path / "shared", "features/x")["name"],
             shared_fit_and_score(cfg, tcfg, sets, None, {"recipe_hash": "toy"}, tmp_path / "shared", "features/y")["name"],
             shared_fit_and_score(ModelConfig(method="stprompt", branches="c", sa2_k=2), tcfg, sets, None,
                                  {"recipe_hash": "toy"}, tmp_path / "shared", "features/x")["name"]}
    assert len(names) == 4

"""The in-project tiny CLIP recipe: cache by key, zero-shot report bookkeeping."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stprompt.synth import SynthConfig, caption_dataset
from stprompt.tinyclip import (ANOMALY_TEXTS, NORMAL_TEXTS, PretrainConfig, category_of,
                               checkpoint_key, pretrain_cached, zero_shot_report)

TINY = PretrainConfig(n_images=96, epochs=1, batch_size=32)
WORLD = SynthConfig(snippets=(3, 4))


def test_categories_cover_caption_kinds():
    assert category_of({"kind": "frame", "category": "scene"}) is None
    assert category_of({"kind": "anomaly", "category": "explosion_smoke"}) == "explosion"
    assert category_of({"kind": "agent", "category": "pedestrian"}) == "pedestrian"
    assert category_of({"kind": "background", "category": "grass"}) == "grass"
    assert "running" not in ANOMALY_TEXTS  # motion-only: no caption, no text of its own
    assert set(ANOMALY_TEXTS).isdisjoint(NORMAL_TEXTS)


def test_pretrain_is_cached_by_key_and_retrained_when_settings_change(tmp_path):
    path = tmp_path / "tiny.pt"
    model, info, meta = pretrain_cached(WORLD, TINY, path, log=None)
    assert not meta["cached"] and path.is_file() and len(meta["epoch_loss"]) == 1
    assert meta["key"] == checkpoint_key(WORLD, TINY)
    _, info2, meta2 = pretrain_cached(WORLD, TINY, path, log=None)
    assert meta2["cached"] and info2.weights == info.weights  # same file hash
    other = dataclasses.replace(TINY, lr=5e-4)
    assert checkpoint_key(WORLD, other) != meta["key"]
    _, _, meta3 = pretrain_cached(WORLD, other, path, log=None)
    assert not meta3["cached"]


def test_a_tiny_clip_of_other_generator_code_is_not_reused(monkeypatch):
    """The key holds the generator's code (stprompt.synth.config.generator_hash): a CLIP pretrained on
    the world of older code (light grey explosions, say) is pretrained again, not loaded."""
    import stprompt.synth.config as synth_config

    key = checkpoint_key(WORLD, TINY)
    monkeypatch.setattr(synth_config, "generator_hash", lambda: "changed-code")
    assert checkpoint_key(WORLD, TINY) != key


def test_zero_shot_report_counts_and_accuracies_agree(tmp_path):
    model, _, _ = pretrain_cached(WORLD, TINY, tmp_path / "tiny.pt", log=None)
    images, _, infos = caption_dataset(WORLD, 60, seed=3, split="heldout", size=64)
    rep = zero_shot_report(model, images, infos)
    expected = [i for i, d in enumerate(infos) if category_of(d) is not None]
    assert rep["indices"] == expected and rep["n"] == len(expected)
    np.testing.assert_allclose(rep["probs"].sum(1), 1, atol=1e-5)
    assert rep["category_accuracy"] == pytest.approx(float((rep["pred"] == rep["truth"]).mean()))
    anomalous = rep["truth"] < len(ANOMALY_TEXTS)
    assert rep["anomalous_crop_accuracy"] == pytest.approx(float(((rep["p_anomalous"] > 0.5) == anomalous).mean()))
    with pytest.raises(ValueError, match="no crops of a known category"):
        zero_shot_report(model, images[:1], [{"kind": "frame", "category": "scene"}])

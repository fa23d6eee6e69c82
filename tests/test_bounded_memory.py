"""Training and evaluation in bounded memory (issue 12): memory-mapped feature sets, batches read
per video, long videos scored in chunks with the scores of one pass where the model's reach is
finite, and the check at the start of training that names every missing feature file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stprompt.datasets.records import VideoRecord
from stprompt.features import FeatureFileError, MappedArray, feature_path, load_features, save_features
from stprompt.model import ModelConfig, build_model
from stprompt.train import FeatureSet, collate, predict

D, G = 8, 4
CLASSES = ["normal", "fire"]


def write_set(root, lengths, seed=0, crops=False):
    """Random feature files of the given lengths (snippets) and their records."""
    rng = np.random.default_rng(seed)
    recipe = {"features": {"snippet_len": 16}, "recipe_hash": "r"}
    records = []
    for i, T in enumerate(lengths):
        vid = f"v{i}"
        arrays = {"frame": rng.standard_normal((T, D)), "patch": rng.standard_normal((T, G, D)),
                  "motion": rng.random((T, G)), "boxes": np.zeros((G, 4), int)}
        if crops:
            arrays["frame_crops"] = rng.standard_normal((10, T, D))
        save_features(feature_path(root, vid), arrays, recipe, vid, T * 16)
        label = i % 2
        records.append(VideoRecord(vid, root / f"{vid}.mp4", T * 16, 25.0, label, "fire" if label else "normal",
                                   "test", segments=[(0, 15)] if label else None))
    return records


def test_feature_sets_map_their_files_and_batches_match_loaded_features(tmp_path):
    records = write_set(tmp_path, [5, 12, 3])
    data = FeatureSet(records, tmp_path, CLASSES, "r")
    assert all(isinstance(it.frame, MappedArray) and isinstance(it.patch, MappedArray) for it in data.items)
    eager = [load_features(feature_path(tmp_path, r.id)) for r in records]
    for max_len in (None, 4):
        batch = collate(data.items, max_len=max_len)
        assert batch.frame.dtype == torch.float32 and batch.patch.shape == (3, max_len or 12, G, D)
        # the same batch as from features loaded into memory (float32 arrays, the old path)
        from stprompt.train import VideoItem

        loaded = [VideoItem(r.id, f.frame, f.patch, f.motion, it.label, it.class_idx, it.snippet_labels, r.n_frames)
                  for r, f, it in zip(records, eager, data.items)]
        ref = collate(loaded, max_len=max_len)
        for name in ("frame", "patch", "motion", "mask"):
            assert torch.equal(getattr(batch, name), getattr(ref, name)), name
    crops = FeatureSet(write_set(tmp_path / "c", [4, 6], crops=True), tmp_path / "c", CLASSES, "r", all_crops=True)
    assert len(crops) == 20 and crops.items[3].id == "v0__3"
    np.testing.assert_array_equal(np.asarray(crops.items[3].frame),
                                  load_features(feature_path(tmp_path / "c", "v0")).frame_crops[3])


def test_training_start_names_every_missing_or_short_feature_file(tmp_path):
    records = write_set(tmp_path, [5, 6, 7, 8])
    feature_path(tmp_path, "v1").unlink()
    feature_path(tmp_path, "v3").write_bytes(b"broken")
    records[2] = VideoRecord("v2", records[2].path, 5 * 16, 25.0, 0, "normal", "test")  # 7 snippets on disk
    with pytest.raises(FeatureFileError, match=r"3 of 4 videos of .* have no valid feature file[\s\S]*"
                                               r"v1: .*v1\.npz: feature file not found[\s\S]*v2: .*7 snippets"
                                               r"[\s\S]*v3: .*corrupt feature file"):
        FeatureSet(records, tmp_path, CLASSES, "r")


@pytest.fixture(scope="module")
def long_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    return FeatureSet(write_set(root, [70, 9, 41, 33], seed=1), root, CLASSES, "r")


def _model(**cfg):
    torch.manual_seed(0)
    model = build_model(ModelConfig(**cfg), None, CLASSES, D)
    return model.eval()


@pytest.mark.parametrize("cfg", [dict(method="stprompt", branches="c"),
                                 dict(method="stprompt", branches="c", sa2_selection="feature_diff", kernel="laplace",
                                      sigma=0.2),
                                 dict(method="stprompt", branches="c", temporal="none"),
                                 dict(method="mil")], ids=["relative", "feature_diff_laplace", "no_adapter", "mil"])
def test_chunked_scores_equal_one_pass(long_set, cfg):
    """Chunks of 8 snippets with the model's context on both sides: the scores of one pass."""
    model = _model(**cfg)
    context = model.context_snippets()
    assert context is not None and context < 70
    one_pass = predict(model, long_set, chunk=10 ** 6)
    chunked = predict(model, long_set, chunk=8)
    for vid in one_pass:
        np.testing.assert_allclose(chunked[vid], one_pass[vid], rtol=0, atol=1e-6)
    if context:  # the context is needed: without it the chunk edges change the scores
        model.context_snippets = lambda: 0
        blind = predict(model, long_set, chunk=8)
        assert max(np.abs(blind[v] - one_pass[v]).max() for v in one_pass) > 1e-4


def test_relative_adapter_reach_follows_the_learnt_sigma():
    from stprompt.model.temporal import EXP_UNDERFLOW, RelativeDistanceAttention

    attn = RelativeDistanceAttention(4, sigma=2.0)
    reach = attn.reach()
    w = torch.softmax(attn.logits(200)[100], -1)  # row 100 of a 200-snippet video, float32
    assert w[100 + reach:].max() == 0 and w[100 + reach - 2] > 0  # zero exactly beyond the reach
    assert reach == int(2.0 * np.sqrt(2 * EXP_UNDERFLOW)) + 1
    laplace = RelativeDistanceAttention(4, kernel="laplace", sigma=0.5)
    assert laplace.reach() == int(0.5 * EXP_UNDERFLOW) + 1


def test_models_without_a_finite_reach_score_each_video_in_one_pass(long_set):
    """SA2 with random selection keys its windows by the snippet's index, the VadCLIP adapter's
    graph spans the video: no chunks (context None), and a pass never mixes chunks."""
    model = _model(method="stprompt", branches="c", sa2_selection="random")
    assert model.context_snippets() is None
    seen = []
    forward = model.forward
    model.forward = lambda batch: (seen.append(batch.mask.sum(1).tolist()), forward(batch))[1]
    predict(model, long_set, chunk=8)
    assert sorted(n for b in seen for n in b) == sorted([70, 9, 41, 33])  # whole videos only
    assert _model(method="stprompt", branches="c", temporal="vadclip").context_snippets() is None


def test_a_forward_pass_stays_within_the_snippet_budget(long_set):
    model = _model(method="stprompt", branches="c")
    shapes = []
    forward = model.forward
    model.forward = lambda batch: (shapes.append(tuple(batch.mask.shape)), forward(batch))[1]
    context = model.context_snippets()
    predict(model, long_set, chunk=8, max_snippets=2 * (8 + 2 * context))
    assert max(b * t for b, t in shapes) <= 2 * (8 + 2 * context)
    assert max(t for _, t in shapes) <= 8 + 2 * context  # no pass sees a whole 70-snippet video

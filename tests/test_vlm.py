"""The CLIP wrapper (stprompt.vlm): build routes and their errors, encoders against open_clip's own
computations, the learnable text prompt, pretraining on a toy captioned world."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stprompt import vlm
from stprompt.config import ConfigError


@pytest.fixture(scope="module")
def tiny():
    return vlm.build_clip(vlm.ClipSpec("tiny_clip"))


def _images(n, h=48, w=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (40, 70, 220)}
SHAPES = ("square", "circle", "triangle")
TOY_CLASSES = [f"a {c} {s}" for c in COLOURS for s in SHAPES]


def toy_shapes(n, seed, size=56):
    """Coloured shapes on a noisy grey background, captioned "a <colour> <shape>" (9 classes)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.empty((n, size, size, 3), np.uint8)
    labels = rng.integers(0, len(TOY_CLASSES), n)
    for i, label in enumerate(labels):
        colour, shape = list(COLOURS)[label // 3], SHAPES[label % 3]
        img = np.clip(rng.integers(90, 160) + rng.normal(0, 12, (size, size, 3)), 0, 255)
        r = rng.uniform(8, 14)
        cx, cy = rng.uniform(r, size - r, 2)
        if shape == "square":
            mask = (abs(xx - cx) <= 0.85 * r) & (abs(yy - cy) <= 0.85 * r)
        elif shape == "circle":
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        else:
            mask = (yy >= cy - r) & (yy <= cy + r) & (abs(xx - cx) <= (yy - (cy - r)) / 2)
        img[mask] = np.array(COLOURS[colour]) + rng.normal(0, 10, (mask.sum(), 3))
        images[i] = np.clip(img, 0, 255)
    return images, labels, [TOY_CLASSES[k] for k in labels]


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------

def test_tiny_build_is_frozen_and_described(tiny):
    model, info = tiny
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert info.model == "tiny_clip" and info.weights == "random(seed=0)"
    assert info.image_size == (64, 64) and info.patch_grid == (8, 8)
    assert info.embed_dim == 128 and info.context_length >= 40
    assert info.recipe()["backbone"] == "tiny_clip"


def test_random_init_follows_the_seed(tiny):
    model, _ = tiny
    again, _ = vlm.build_clip("tiny_clip")
    other, _ = vlm.build_clip("tiny_clip", seed=1)
    w = model.visual.conv1.weight
    assert torch.equal(w, again.visual.conv1.weight)
    assert not torch.equal(w, other.visual.conv1.weight)


def test_spec_from_mapping_checks_keys():
    spec = vlm.spec._as_spec({"model": "tiny_clip", "device": "cpu"}, {})
    assert spec.model == "tiny_clip" and spec.pretrained is None
    with pytest.raises(ConfigError, match="unknown key 'checkpont'.*did you mean 'checkpoint'"):
        vlm.spec._as_spec({"checkpont": "x.pt"}, {})


def test_unknown_model_lists_project_configs():
    with pytest.raises(vlm.ClipError, match="unknown CLIP model 'tiny_clip_typo'.*tiny_clip"):
        vlm.build_clip("tiny_clip_typo")


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path, tiny):
    model, _ = vlm.build_clip("tiny_clip", seed=3)
    path = vlm.save_checkpoint(model, tmp_path / "tiny.pt", meta={"note": "test", "loss": np.float32(1.5)})
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.pt"]  # no temporary file left behind
    loaded, info = vlm.build_clip(vlm.ClipSpec(model=None, checkpoint=str(path)))
    assert info.model == "tiny_clip" and info.weights.startswith("file:tiny.pt#")
    images = _images(4)
    np.testing.assert_allclose(vlm.encode_images(loaded, images), vlm.encode_images(model, images), atol=1e-6)
    assert torch.load(path, weights_only=True)["meta"] == {"note": "test", "loss": 1.5}
    # a different model than the one saved differs: its encodings must differ too
    assert not np.allclose(vlm.encode_images(tiny[0], images), vlm.encode_images(loaded, images))


def test_a_model_from_a_config_file_saves_and_reloads(tmp_path):
    """A variant architecture given as a config .json path (as ClipSpec takes it) is saved under
    that path's name and rebuilt from the checkpoint alone, with the variant's shapes."""
    cfg = json.loads((vlm.MODEL_CONFIG_DIR / "tiny_clip.json").read_text())
    cfg["vision_cfg"]["image_size"] = 48
    cfg_path = tmp_path / "tiny_clip_48px.json"
    cfg_path.write_text(json.dumps(cfg))
    model, info = vlm.build_clip(vlm.ClipSpec(str(cfg_path), seed=2))
    assert info.image_size == (48, 48)
    path = vlm.save_checkpoint(model, tmp_path / "v.pt", model_name=str(cfg_path))
    assert torch.load(path, weights_only=True)["model_config"]["vision_cfg"]["image_size"] == 48
    cfg_path.unlink()  # the checkpoint carries its config: it rebuilds without the file
    loaded, info2 = vlm.build_clip(vlm.ClipSpec(model=None, checkpoint=str(path)))
    assert info2.model == "tiny_clip_48px" and info2.image_size == (48, 48)
    images = _images(3)
    np.testing.assert_allclose(vlm.encode_images(loaded, images), vlm.encode_images(model, images), atol=1e-6)


def test_the_same_weights_save_to_the_same_bytes(tmp_path):
    """A checkpoint is written through a temporary file with a random name; its bytes (and so the
    weights hash every feature recipe and model key is derived from) must not depend on that name."""
    import zipfile

    from stprompt.io import file_hash

    model, _ = vlm.build_clip("tiny_clip", seed=3)
    a = vlm.save_checkpoint(model, tmp_path / "a" / "tiny.pt", meta={"n": 1})
    b = vlm.save_checkpoint(model, tmp_path / "b" / "tiny.pt", meta={"n": 1})
    assert a.read_bytes() == b.read_bytes() and file_hash(a) == file_hash(b)
    assert {n.split("/")[0] for n in zipfile.ZipFile(a).namelist()} == {"archive"}
    other, _ = vlm.build_clip("tiny_clip", seed=4)
    assert file_hash(vlm.save_checkpoint(other, tmp_path / "c" / "tiny.pt", meta={"n": 1})) != file_hash(a)


@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:FutureWarning")
def test_open_clip_style_checkpoint_and_torchscript_archive(tmp_path, tiny):
    import open_clip

    model, _ = tiny
    images = _images(2)
    expected = vlm.encode_images(model, images)
    # open_clip training checkpoint: {"epoch", "state_dict"} with DistributedDataParallel prefixes
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in model.state_dict().items()}},
               tmp_path / "epoch_3.pt")
    loaded, _ = vlm.build_clip("tiny_clip", checkpoint=str(tmp_path / "epoch_3.pt"))
    np.testing.assert_allclose(vlm.encode_images(loaded, images), expected, atol=1e-6)
    # OpenAI-style TorchScript archive: read through torch.jit, QuickGELU switched on
    jit = open_clip.create_model("tiny_clip", jit=True)
    torch.jit.save(jit, str(tmp_path / "archive.pt"))
    loaded, info = vlm.build_clip("tiny_clip", checkpoint=str(tmp_path / "archive.pt"))
    assert info.quick_gelu
    assert isinstance(loaded.visual.transformer.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU)
    for k, v in jit.state_dict().items():
        if k != "attn_mask":
            assert torch.equal(loaded.state_dict()[k], v), k


def test_vit_b16_random_weights_load_from_file_and_encode(tmp_path):
    import open_clip

    torch.manual_seed(0)
    reference = open_clip.create_model("ViT-B-16").eval()
    # OpenAI's weights are stored in fp16: the loader casts them into the fp32 model
    torch.save({k: v.half() for k, v in reference.state_dict().items()}, tmp_path / "vit_b16_random.pt")
    del reference
    model, info = vlm.build_clip("ViT-B-16", checkpoint=str(tmp_path / "vit_b16_random.pt"))
    assert info.embed_dim == 512 and info.image_size == (224, 224) and info.patch_grid == (14, 14)
    frame = _images(1, 120, 160)
    feats = vlm.encode_images(model, frame)
    assert feats.shape == (1, 512) and feats.dtype == np.float32
    assert np.isclose(np.linalg.norm(feats), 1.0, atol=1e-5)
    x = vlm.preprocess_images(torch.from_numpy(frame), info)
    with torch.inference_mode():
        np.testing.assert_allclose(feats, F.normalize(model.encode_image(x), dim=-1).numpy(), atol=1e-5)


def test_missing_checkpoint_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "ViT-B-16.pt"
    with pytest.raises(vlm.ClipError, match=r"checkpoint file not found: .*nowhere/ViT-B-16\.pt"):
        vlm.build_clip("ViT-B-16", checkpoint=str(missing))


def test_architecture_mismatch_names_model_and_keys(tmp_path, tiny):
    model, _ = tiny
    torch.save(model.state_dict(), tmp_path / "tiny_state.pt")
    wide = json.loads((vlm.MODEL_CONFIG_DIR / "tiny_clip.json").read_text())
    wide["vision_cfg"]["width"] = 96
    wide["vision_cfg"]["layers"] = 4
    config = tmp_path / "tiny_wide_test.json"
    config.write_text(json.dumps(wide))
    with pytest.raises(vlm.ClipError) as err:
        vlm.build_clip(str(config), checkpoint=str(tmp_path / "tiny_state.pt"))
    message = str(err.value)
    assert "does not fit CLIP model 'tiny_wide_test'" in message
    assert "visual.conv1.weight: checkpoint (128, 3, 8, 8) vs model (96, 3, 8, 8)" in message
    assert "missing keys: visual.transformer.resblocks.3." in message
    # a save_checkpoint file also knows the config it was trained with
    vlm.save_checkpoint(model, tmp_path / "tiny.pt")
    with pytest.raises(vlm.ClipError, match=r"saved from model 'tiny_clip' whose config differs.*"
                                            r"vision_cfg.layers: 3 vs 4"):
        vlm.build_clip(str(config), checkpoint=str(tmp_path / "tiny.pt"))


def test_pretrained_tag_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(vlm.ClipError) as err:
        vlm.build_clip("ViT-B-16", pretrained="openai", cache_dir=str(tmp_path))
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "HF_HUB_OFFLINE=1" in message and "checkpoint: /path/to/file" in message
    assert "https://openaipublic.azureedge.net/clip/models/" in message  # where to get the file
    assert "https://huggingface.co/timm/vit_base_patch16_clip_224.openai/resolve/main/" in message
    with pytest.raises(vlm.ClipError, match="'no_such_tag' is not a pretrained tag.*openai"):
        vlm.build_clip("ViT-B-16", pretrained="no_such_tag")
    with pytest.raises(vlm.ClipError, match="either `pretrained`.*or `checkpoint`"):
        vlm.build_clip("ViT-B-16", pretrained="openai", checkpoint="x.pt")


def test_cached_pretrained_files_are_found(tmp_path):
    # open_clip's URL cache: <cache_dir>/<file name of the URL>
    (tmp_path / "ViT-B-16.pt").write_bytes(b"x")
    cfg = {"url": "https://example.org/clip/models/abc/ViT-B-16.pt", "hf_hub": ""}
    assert vlm.checkpoints._cached_pretrained_file(cfg, str(tmp_path)) == str(tmp_path / "ViT-B-16.pt")
    # the Hugging Face hub cache, where the safetensors twin of the default file is preferred
    repo = tmp_path / "hub" / "models--org--clip"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "open_clip_model.safetensors").write_bytes(b"x")
    found = vlm.checkpoints._cached_pretrained_file({"hf_hub": "org/clip/"}, str(tmp_path / "hub"))
    assert found is not None and found.endswith("open_clip_model.safetensors")
    assert vlm.checkpoints._cached_pretrained_file({"hf_hub": "org/other/"}, str(tmp_path / "hub")) is None


# --------------------------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------------------------

def test_encode_images_shapes_types_and_normalisation(tiny):
    model, _ = tiny
    images = _images(10)
    feats = vlm.encode_images(model, images)
    assert feats.shape == (10, 128) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vlm.encode_images(model, torch.from_numpy(images)), feats)
    assert vlm.encode_images(model, images[:0]).shape == (0, 128)
    with pytest.raises(ValueError, match=r"expected uint8 RGB of shape \(N, H, W, 3\), got torch.float32"):
        vlm.encode_images(model, torch.rand(2, 48, 40, 3))
    with pytest.raises(ValueError, match="add a batch axis"):
        vlm.encode_images(model, images[0])


def test_encoding_is_batch_invariant(tiny):
    model, _ = tiny
    images = _images(64, seed=1)
    one_by_one = np.concatenate([vlm.encode_images(model, images[i:i + 1], batch_size=1) for i in range(64)])
    np.testing.assert_allclose(one_by_one, vlm.encode_images(model, images, batch_size=64), atol=1e-5)
    np.testing.assert_allclose(vlm.encode_images(model, images, batch_size=7),
                               vlm.encode_images(model, images, batch_size=64), atol=1e-5)


def test_preprocessing_matches_clip_reference(tiny):
    import open_clip
    from PIL import Image

    _, info = tiny
    same_size = _images(2, 64, 64)
    x = vlm.preprocess_images(torch.from_numpy(same_size), info)
    mean, std = torch.tensor(info.mean).view(1, 3, 1, 1), torch.tensor(info.std).view(1, 3, 1, 1)
    expected = (torch.from_numpy(same_size).permute(0, 3, 1, 2) / 255.0 - mean) / std
    torch.testing.assert_close(x, expected)
    # resized: close to open_clip's PIL pipeline (resize shortest side, centre crop)
    smooth = np.kron(_images(1, 30, 40, seed=2)[0], np.ones((4, 4, 1))).astype(np.uint8)[None]  # 120x160
    ours = vlm.preprocess_images(torch.from_numpy(smooth), info, resize_mode="shortest")[0]
    transform = open_clip.image_transform(64, is_train=False, mean=info.mean, std=info.std,
                                          interpolation="bicubic", resize_mode="shortest")
    reference = transform(Image.fromarray(smooth[0]))
    assert ours.shape == reference.shape == (3, 64, 64)
    assert (ours - reference).abs().mean() < 0.05  # PIL vs torch bicubic filters, in std units
    assert vlm.preprocess_images(torch.from_numpy(smooth), info).shape == (1, 3, 64, 64)  # squash


def test_patch_tokens_are_the_projected_open_clip_tokens(tiny):
    model, info = tiny
    images = _images(3, 120, 160)
    tokens, global_ = vlm.encode_patch_tokens(model, images, normalize=False, with_global=True)
    assert tokens.shape == (3, 8, 8, 128) and tokens.dtype == np.float32
    np.testing.assert_allclose(global_, vlm.encode_images(model, images), atol=1e-5)
    # open_clip's output_tokens path gives ln_post'ed but unprojected tokens (DESIGN §7)
    x = vlm.preprocess_images(torch.from_numpy(images), info)
    model.visual.output_tokens = True
    try:
        with torch.inference_mode():
            _, raw = model.visual(x)
    finally:
        model.visual.output_tokens = False
    assert raw.shape[-1] == 128 and raw.shape[1] == 64  # width, not yet the joint space
    np.testing.assert_allclose(tokens, (raw @ model.visual.proj).reshape(3, 8, 8, -1).numpy(), atol=1e-5)
    normalised = vlm.encode_patch_tokens(model, images)
    np.testing.assert_allclose(np.linalg.norm(normalised, axis=-1), 1.0, atol=1e-5)


def test_pool_patch_tokens_windows():
    tokens = np.random.default_rng(0).normal(size=(2, 8, 8, 16)).astype(np.float32)
    np.testing.assert_allclose(vlm.pool_patch_tokens(tokens, (1, 1), normalize=False)[:, 0, 0],
                               tokens.mean((1, 2)), atol=1e-6)
    quarters = vlm.pool_patch_tokens(tokens, (2, 2), normalize=False)
    np.testing.assert_allclose(quarters[:, 1, 0], tokens[:, 4:, :4].mean((1, 2)), atol=1e-6)
    np.testing.assert_allclose(vlm.pool_patch_tokens(tokens, (8, 8), normalize=False), tokens, atol=1e-6)
    pooled = vlm.pool_patch_tokens(torch.from_numpy(tokens), (3, 2))
    assert isinstance(pooled, torch.Tensor) and pooled.shape == (2, 3, 2, 16)
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(2, 3, 2))
    with pytest.raises(ValueError, match="grid"):
        vlm.pool_patch_tokens(tokens, (9, 1))


def test_encode_texts_matches_open_clip(tiny):
    model, _ = tiny
    texts = ["a red square", "a picture of grass", "two people fighting on the sidewalk near a building"]
    feats = vlm.encode_texts(model, texts)
    assert feats.shape == (3, 128) and feats.dtype == np.float32
    with torch.inference_mode():
        reference = F.normalize(model.encode_text(vlm.tokenize(model, texts)), dim=-1).numpy()
    np.testing.assert_allclose(feats, reference, atol=1e-5)  # padding trimmed: same result
    np.testing.assert_allclose(vlm.encode_texts(model, texts[1:2]), feats[1:2], atol=1e-5)


def test_zero_shot_probabilities(tiny):
    model, _ = tiny
    probs = vlm.zero_shot_classify(model, _images(5), ["a fire", ["grass", "a picture of grass"]])
    assert probs.shape == (5, 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------------------------
# Learnable prompts (A-branch)
# --------------------------------------------------------------------------------------------

def test_prompt_without_context_equals_encode_text(tiny):
    model, _ = tiny
    names = ["normal", "fire", "road accident", "car on sidewalk"]
    prompt = vlm.PromptTextEncoder(model, names, n_prefix=0, n_postfix=0)
    with torch.no_grad():
        reference = model.encode_text(vlm.tokenize(model, names))
        torch.testing.assert_close(prompt(normalize=False), reference, atol=1e-5, rtol=1e-5)


def test_prompt_layout_and_gradients(tiny):
    model, _ = tiny
    names = ["normal", "fighting", "road accident"]
    prompt = vlm.PromptTextEncoder(model, names)  # VadCLIP defaults: 10 + 10
    assert list(prompt.state_dict()) == ["prefix", "postfix"]
    assert [n for n, _ in prompt.named_parameters()] == ["prefix", "postfix"]
    embeddings, eot = prompt.prompt_embeddings()
    tokens = vlm.tokenize(model, names)
    plain_eot = tokens.argmax(-1)
    torch.testing.assert_close(eot, plain_eot + 20)
    c = 2  # "road accident": [SOT] p1..p10 road accident q1..q10 [EOT]
    table = model.token_embedding.weight
    torch.testing.assert_close(embeddings[c, 0], table[tokens[c, 0]])
    torch.testing.assert_close(embeddings[c, 1:11], prefix_c := prompt.prefix[0])
    torch.testing.assert_close(embeddings[c, 11:11 + plain_eot[c] - 1], table[tokens[c, 1:plain_eot[c]]])
    torch.testing.assert_close(embeddings[c, 10 + plain_eot[c]:20 + plain_eot[c]], prompt.postfix[0])
    torch.testing.assert_close(embeddings[c, eot[c]], table[tokens[c, plain_eot[c]]])
    assert prefix_c.shape == (10, 128)

    out = prompt()
    assert out.shape == (3, 128)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3))
    (out @ out.T).triu(1).sum().backward()
    assert prompt.prefix.grad is not None and prompt.prefix.grad.abs().sum() > 0
    assert prompt.postfix.grad is not None and prompt.postfix.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
    # one optimiser step on the contexts changes the class embeddings
    before = out.detach().clone()
    torch.optim.SGD(prompt.parameters(), lr=1.0).step()
    assert not torch.allclose(prompt().detach(), before)


def test_prompt_options_and_limits(tiny):
    model, info = tiny
    own = vlm.PromptTextEncoder(model, ["fire", "explosion"], n_prefix=4, n_postfix=2, shared_context=False)
    assert own.prefix.shape == (2, 4, 128) and own.postfix.shape == (2, 2, 128)
    assert own().shape == (2, 128)
    too_long = " ".join(["word"] * (info.context_length - 20))
    with pytest.raises(ValueError, match="does not fit the text context"):
        vlm.PromptTextEncoder(model, [too_long])


# --------------------------------------------------------------------------------------------
# Pretraining
# --------------------------------------------------------------------------------------------

def test_pretraining_is_deterministic_from_the_seed():
    images, _, captions = toy_shapes(96, seed=5)
    histories = []
    for _ in range(2):
        model, _ = vlm.build_clip("tiny_clip")
        histories.append(vlm.pretrain(model, images, captions, epochs=1, batch_size=32, seed=7)["loss"])
    assert len(histories[0]) == 3
    assert histories[0] == histories[1]


def test_pretraining_learns_the_toy_world(tmp_path):
    train_images, _, train_captions = toy_shapes(768, seed=0)
    test_images, test_labels, _ = toy_shapes(300, seed=1)
    model, _ = vlm.build_clip("tiny_clip")
    before = vlm.zero_shot_classify(model, test_images, TOY_CLASSES).argmax(1)
    history = vlm.pretrain(model, train_images, train_captions, epochs=6, batch_size=32, lr=2e-3, seed=0)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert vlm.clip_info(model).weights == f"random(seed=0)+pretrain(seed=0, steps={history['steps']})"
    assert len(history["loss"]) == history["steps"] == 6 * (768 // 32)
    assert history["epoch_loss"][-1] < history["epoch_loss"][0] - 0.2
    assert max(history["lr"]) <= 2e-3 and history["lr"][-1] < 1e-4  # warm-up then cosine decay
    predicted = vlm.zero_shot_classify(model, test_images, TOY_CLASSES).argmax(1)
    chance = 1 / len(TOY_CLASSES)
    accuracy = (predicted == test_labels).mean()
    assert (before == test_labels).mean() < 2.5 * chance
    assert accuracy > 3 * chance, accuracy  # 9 classes: chance 0.11
    assert (predicted // 3 == test_labels // 3).mean() > 0.9  # the colour word is learnt for sure
    # the pretrained weights survive a checkpoint round trip
    path = vlm.save_checkpoint(model, tmp_path / "toy_clip.pt", meta={"history": history["epoch_loss"]})
    reloaded, _ = vlm.build_clip(checkpoint=str(path))
    np.testing.assert_allclose(vlm.zero_shot_classify(reloaded, test_images[:20], TOY_CLASSES),
                               vlm.zero_shot_classify(model, test_images[:20], TOY_CLASSES), atol=1e-5)

"""Spatial stream (stprompt.localize) and its text queries (stprompt.prompts): hand-computed scores,
heat maps and boxes, θ gating and choice on validation, baselines, query files."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from stprompt import localize as L
from stprompt import prompts
from stprompt.features import VideoFeatures
from stprompt.prompts import generate

E = np.eye(3)


def _feats(patch, boxes, motion=None):
    T, G = patch.shape[:2]
    motion = np.zeros((T, G), np.float32) if motion is None else motion
    return VideoFeatures("v", np.zeros((T, patch.shape[2]), np.float32), patch, motion,
                         {"window_boxes": np.asarray(boxes).tolist()})


# --------------------------------------------------------------------------- window scores

def test_window_score_is_softmax_mass_on_abnormal_queries():
    tau = 0.5
    normal, abnormal = E[[0]], E[[1]]
    patch = np.stack([E[1], (E[0] + E[1]) / math.sqrt(2), E[0], E[2]])[None]  # (1, 4, 3)
    s = L.window_anomaly_scores(patch, normal, abnormal, tau)
    assert s.shape == (1, 4)
    e = math.exp(1 / tau)
    np.testing.assert_allclose(s[0], [e / (1 + e), 0.5, 1 / (1 + e), 0.5], rtol=1e-6)


def test_window_score_restricted_to_snippet_class():
    tau = 0.25
    e = math.exp(1 / tau)
    normal, abnormal = E[[0]], E[[1, 2]]  # class 0 owns e1, class 1 owns e2
    owner = np.array([0, 1])
    patch = np.tile(E[1], (4, 1, 1))  # 4 snippets, 1 window each, equal to class 0's query
    s = L.window_anomaly_scores(patch, normal, abnormal, tau, owner, np.array([-1, 0, 1, 5]))[:, 0]
    np.testing.assert_allclose(s, [(e + 1) / (e + 2),  # all queries
                                   e / (e + 1),        # its own class only
                                   0.5,                # the other class only: e2 vs e0 tie
                                   (e + 1) / (e + 2)],  # class without queries: all kept
                               rtol=1e-6)


def test_window_score_validates_shapes():
    with pytest.raises(ValueError, match="D = 3"):
        L.window_anomaly_scores(np.zeros((1, 2, 3)), np.zeros((1, 4)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="temperature"):
        L.LocalizeConfig(temperature=0)


# --------------------------------------------------------------------------- heat maps, boxes

def test_heat_map_averages_overlapping_windows():
    boxes = np.array([[0, 0, 2, 2], [1, 1, 3, 3]])
    h = L.heat_map(np.array([1.0, 0.5]), boxes, height=4, width=4)
    expected = np.array([[1, 1, 0, 0],
                         [1, 0.75, 0.5, 0],
                         [0, 0.5, 0.5, 0],
                         [0, 0, 0, 0]], dtype=np.float32)
    np.testing.assert_allclose(h, expected)
    h_min = L.heat_map(np.array([1.0, 0.5]), boxes, 4, 4, fill="min")
    assert h_min[3, 3] == 0.5 and h_min[0, 3] == 0.5 and h_min[1, 1] == 0.75


def test_heat_map_clips_boxes_to_frame():
    h = L.heat_map(np.array([0.8]), np.array([[-2, 1, 10, 3]]), height=4, width=3)
    np.testing.assert_allclose(h, [[0, 0, 0], [0.8] * 3, [0.8] * 3, [0, 0, 0]], rtol=1e-6)


def test_best_and_union_boxes():
    boxes = np.array([[0, 0, 10, 10], [20, 5, 30, 15], [40, 40, 50, 50]])
    scores = np.array([0.6, 0.9, 0.2])
    np.testing.assert_array_equal(L.predict_box(scores, boxes, "best"), [20, 5, 30, 15])
    np.testing.assert_array_equal(L.predict_box(scores, boxes, "union", 0.5), [0, 0, 30, 15])
    np.testing.assert_array_equal(L.predict_box(scores, boxes, "union", 0.1), [0, 0, 50, 50])
    assert np.isnan(L.predict_box(scores, boxes, "union", 0.95)).all()
    with pytest.raises(ValueError, match="mode"):
        L.predict_box(scores, boxes, "mean")


# --------------------------------------------------------------------------- videos, θ

def _toy_video():
    """3 snippets, 2 windows; window 1 looks like the abnormal query in snippets 1 and 2."""
    boxes = np.array([[0, 0, 4, 4], [4, 0, 8, 4]])
    patch = np.stack([np.stack([E[0], E[0]]), np.stack([E[0], E[1]]), np.stack([E[1], E[0]])])
    q = L.QueryEmbeddings(E[[0]], E[[1]], np.array([0]), ["fire"])
    return _feats(patch.astype(np.float32), boxes), q


def test_theta_suppresses_snippets_and_frames_take_their_snippet():
    feats, q = _toy_video()
    cfg = L.LocalizeConfig(temperature=0.1)
    loc = L.localize_video(feats, [0.9, 0.8, 0.1], q, cfg, height=4, width=8, theta=0.5)
    assert loc["window_scores"].shape == (3, 2)
    np.testing.assert_array_equal(loc["active"], [True, True, False])
    np.testing.assert_array_equal(loc["boxes"][1], [4, 0, 8, 4])
    assert np.isnan(loc["boxes"][2]).all()  # the abnormal-looking snippet 2 is below θ
    fb = L.frame_boxes(loc, n_frames=40)  # snippets hold 16, 16, 8 frames
    assert fb.shape == (40, 4)
    np.testing.assert_array_equal(fb[16:32], np.tile([4, 0, 8, 4], (16, 1)))
    assert np.isnan(fb[32:]).all()
    maps = L.frame_heat_maps(loc, 40, frames=[17, 35])
    assert maps.shape == (2, 4, 8)
    e = math.exp(10)
    np.testing.assert_allclose(maps[0, :, 4:], e / (1 + e), rtol=1e-6)
    np.testing.assert_allclose(maps[0, :, :4], 1 / (1 + e), rtol=1e-5)  # looks like the normal query
    assert not maps[1].any()  # gated
    ungated = L.localize_video(feats, [0.9, 0.8, 0.1], q,
                               L.LocalizeConfig(temperature=0.1, gate_heat_maps=False), 4, 8, theta=0.5)
    assert L.frame_heat_maps(ungated, 40, frames=[35])[0, 0, 0] > 0.99


def test_theta_must_be_set():
    feats, q = _toy_video()
    with pytest.raises(ValueError, match="choose_theta"):
        L.localize_video(feats, [0.9, 0.8, 0.1], q, L.LocalizeConfig(), 4, 8)
    loc = L.localize_video(feats, [0.9, 0.8, 0.1], q, L.LocalizeConfig(theta=0.85), 4, 8)
    np.testing.assert_array_equal(loc["active"], [True, False, False])


def test_restrict_to_predicted_class_needs_classes():
    feats, q = _toy_video()
    cfg = L.LocalizeConfig(theta=0.0, restrict_to_predicted_class=True)
    with pytest.raises(ValueError, match="snippet_class"):
        L.localize_video(feats, [1, 1, 1], q, cfg, 4, 8)
    loc = L.localize_video(feats, [1, 1, 1], q, cfg, 4, 8, snippet_class=[0, 0, 0])
    assert loc["window_scores"].shape == (3, 2)


def test_choose_theta_maximises_validation_tiou():
    gt = {"a": np.tile([0.0, 0, 10, 10], (4, 1))}
    # IoU with the ground truth: 0, 1, 1, 1; frame scores 0.2 .. 0.8
    pred = {"a": np.array([[20.0, 20, 30, 30], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])}
    scores = {"a": np.array([0.2, 0.4, 0.6, 0.8])}
    theta, table = L.choose_theta(pred, gt, scores)
    np.testing.assert_allclose(table["candidates"], [0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(table["tiou"], [0.75, 0.75, 0.5, 0.25])
    assert theta == 0.4  # the largest θ with the best TIoU
    assert L.choose_theta(pred, gt, scores, tolerance=0.25)[0] == 0.6
    assert L.choose_theta(pred, gt, scores, candidates=[0.1, 0.7])[0] == 0.1
    with pytest.raises(ValueError, match="validation"):
        L.choose_theta(pred, gt, scores, split="test")


# --------------------------------------------------------------------------- baselines

def test_baselines_shapes_boxes_and_determinism():
    rng = np.random.default_rng(0)
    T, G = 30, 9
    boxes = np.array([[x, y, x + 4, y + 4] for y in (0, 4, 8) for x in (0, 4, 8)])
    motion = rng.random((T, G)).astype(np.float32)
    feats = _feats(np.zeros((T, G, 3), np.float32), boxes, motion)
    s = np.linspace(0, 1, T)
    m = L.baseline_localize("motion", feats, s, 12, 12, theta=0.5)
    act = s >= 0.5
    np.testing.assert_array_equal(m["boxes"][act], boxes[motion.argmax(1)][act])
    assert np.isnan(m["boxes"][~act]).all() and m["window_scores"].max() == pytest.approx(1.0)
    w = L.baseline_localize("whole_frame", feats, s, 12, 12, theta=0.5)
    np.testing.assert_array_equal(w["boxes"][act], np.tile([0, 0, 12, 12], (act.sum(), 1)))
    np.testing.assert_array_equal(L.frame_heat_maps(w, 16 * T, frames=[16 * (T - 1)])[0], 1.0)
    r1 = L.baseline_localize("random", feats, s, 12, 12, theta=-np.inf, seed=3, video_id="v")
    r2 = L.baseline_localize("random", feats, s, 12, 12, theta=-np.inf, seed=3, video_id="v")
    r3 = L.baseline_localize("random", feats, s, 12, 12, theta=-np.inf, seed=4, video_id="v")
    np.testing.assert_array_equal(r1["boxes"], r2["boxes"])
    assert not np.array_equal(r1["boxes"], r3["boxes"])
    assert all(any((b == wb).all() for wb in boxes) for b in r1["boxes"])
    for loc in (m, w, r1):
        assert loc["window_scores"].shape == (T, G) and loc["boxes"].shape == (T, 4)
    with pytest.raises(ValueError, match="kind"):
        L.baseline_localize("oracle", feats, s, 12, 12, theta=0.5)


# --------------------------------------------------------------------------- query files

def test_query_files_load_for_all_datasets():
    from stprompt.datasets.ucf_crime import CLASSES as UCF
    from stprompt.synth.config import ANOMALY_CLASSES

    for ds in prompts.DATASETS:
        normal, abnormal = prompts.load_queries(ds)
        assert "a picture of sky" in normal and "a picture of parking lot" in normal
        assert abnormal and all(isinstance(t, str) for ts in abnormal.values() for t in ts)
    _, ucf = prompts.load_queries("ucf_crime", classes=UCF)
    assert list(ucf) == list(UCF) and all(len(v) >= 3 for v in ucf.values())
    _, synth = prompts.load_queries("synthvad", classes=ANOMALY_CLASSES)
    assert synth["running"] == []  # motion-only: no appearance query (documented in the file)
    assert all(synth[c] for c in ANOMALY_CLASSES if c != "running")
    for ds in ("shanghaitech", "ubnormal"):
        assert list(prompts.load_queries(ds)[1]) == ["anomaly"]


def test_synthvad_queries_stay_in_tiny_clip_vocabulary():
    from stprompt.synth.captions import ANOMALY_TEMPLATES
    from stprompt.synth.scene import SURFACES
    from stprompt.tinyclip import ANOMALY_TEXTS, NORMAL_TEXTS

    learnt = [t.format(s=s) for ts in ANOMALY_TEMPLATES.values() for t in ts for s in SURFACES]
    learnt += [t for ts in (*ANOMALY_TEXTS.values(), *NORMAL_TEXTS.values()) for t in ts]
    vocab = {w for t in learnt for w in re.findall(r"[a-z]+", t.lower())}
    normal, abnormal = prompts.load_queries("synthvad")
    for text in [*normal[:5], *(t for ts in abnormal.values() for t in ts)]:
        assert set(re.findall(r"[a-z]+", text)) <= vocab, text


def test_missing_query_file_and_class_errors_name_the_file(tmp_path):
    with pytest.raises(prompts.QueryFileError, match="nowhere.yaml"):
        prompts.load_queries("nowhere")
    with pytest.raises(prompts.QueryFileError, match="normal_background.txt"):
        prompts.load_queries("synthvad", prompt_dir=tmp_path)
    with pytest.raises(prompts.QueryFileError, match=r"ucf_crime\.yaml.*Jaywalking"):
        prompts.load_queries("ucf_crime", classes=["Abuse", "Jaywalking"])
    (tmp_path / "normal_background.txt").write_text("# header\na picture of sky\n")
    (tmp_path / "bad.yaml").write_text("fire: a fire\n")
    with pytest.raises(prompts.QueryFileError, match=r"bad\.yaml.*'fire'"):
        prompts.load_queries("bad", prompt_dir=tmp_path)
    assert prompts.class_name_queries(["road_accident"]) == {"road_accident":
                                                             ["a picture of road accident"]}


def test_generate_builds_prompts_and_writes_readable_yaml(tmp_path):
    asked = []

    def fake_ask(prompt):
        asked.append(prompt)
        return "1. a picture of a car crash\n- \"a picture of broken glass\"\n\n2) a picture of a car crash\n"

    q = generate.describe_classes(["road_accident"], fake_ask, n=3, context="on a highway")
    assert "'road accident'" in asked[0] and "on a highway" in asked[0] and "3 short" in asked[0]
    assert q == {"road_accident": ["a picture of a car crash", "a picture of broken glass"]}
    path = generate.write_queries(tmp_path / "x.yaml", q, "made by a fake\nsecond line")
    text = path.read_text()
    assert text.startswith("# made by a fake\n# second line\n")
    assert prompts.read_abnormal_queries(path) == q
    with pytest.raises(RuntimeError, match="road_accident"):
        generate.describe_classes(["road_accident"], lambda p: "\n\n")


# --------------------------------------------------------------------------- end to end

def test_end_to_end_with_tiny_clip_text_encoder():
    from stprompt import vlm

    model, info = vlm.build_clip(vlm.ClipSpec("tiny_clip"))
    normal, abnormal = prompts.load_queries("synthvad")
    q = L.encode_queries(model, normal, abnormal)
    n_abn = sum(len(v) for v in abnormal.values())
    assert q.normal.shape == (len(normal), info.embed_dim) and q.abnormal.shape == (n_abn, info.embed_dim)
    assert q.classes[-1] == "running" and (q.abnormal_class != q.classes.index("running")).all()
    rng = np.random.default_rng(1)
    patch = rng.normal(size=(5, 4, info.embed_dim)).astype(np.float32)
    patch /= np.linalg.norm(patch, axis=-1, keepdims=True)
    boxes = np.array([[0, 0, 32, 32], [32, 0, 64, 32], [0, 32, 32, 64], [32, 32, 64, 64]])
    feats = _feats(patch, boxes)
    cfg = L.LocalizeConfig(theta=0.5, box_mode="union", box_threshold=0.0)
    loc = L.localize_video(feats, np.linspace(0, 1, 5), q, cfg, 64, 64)
    assert loc["window_scores"].shape == (5, 4)
    assert ((loc["window_scores"] >= 0) & (loc["window_scores"] <= 1)).all()
    np.testing.assert_array_equal(loc["boxes"][-1], [0, 0, 64, 64])  # union of all windows
    base = L.localize_class_names(model, feats, np.linspace(0, 1, 5), normal,
                                  ["fire", "road_accident"], cfg, 64, 64)
    assert base["method"] == "class_names" and base["window_scores"].shape == (5, 4)
    assert not np.allclose(base["window_scores"], loc["window_scores"])


def test_query_sets_of_the_query_ablation():
    from stprompt.prompts import load_queries, query_set

    background, descriptions = load_queries("synthvad")
    normal, abnormal = query_set("synthvad")
    assert normal == background and abnormal == descriptions
    normal, abnormal = query_set("synthvad", "normal", "class_names")
    assert normal == ["normal"] and abnormal["road_accident"] == ["a picture of road accident"]
    assert list(abnormal) == list(descriptions)
    with pytest.raises(ValueError, match="normal queries: expected one of"):
        query_set("synthvad", "sky")


# --------------------------------------------------------------------------------------------
# θ without frame labels on validation; metrics that the ground truth cannot define
# --------------------------------------------------------------------------------------------

def _record(vid, label, n, **kw):
    from stprompt.datasets import VideoRecord

    return VideoRecord(vid, f"{vid}.mp4", n, 25, label, "anomaly" if label else "normal", kw.pop("split", "test"),
                       **kw)


def test_theta_from_video_labels_of_held_out_training_videos():
    # two held-out training videos with video labels only; frame scores (16-frame snippets)
    val = [_record("a", 1, 32, split="train"), _record("n", 0, 32, split="train")]
    scores = {"a": np.array([0.2, 0.9]), "n": np.array([0.1, 0.3])}
    assert L.theta_rule_for(val) == "video_labels"
    with pytest.raises(ValueError, match="frame_labels: 1 validation videos have video labels only"):
        L.theta_rule_for(val, "frame_labels")
    # weak frame labels: a's 32 frames positive, n's negative. Thresholds: 0.9 -> TPR 0.5, FPR 0;
    # 0.3 -> TPR 0.5, FPR 0.5; 0.2 -> TPR 1, FPR 0.5. Youden's J is largest (0.5) at 0.9 first.
    assert L.choose_val_theta(val, scores) == pytest.approx(0.9)
    # with frame labels (a validation split that has them) the rule follows them
    val_gt = [_record("a", 1, 32, segments=[(0, 15)], split="val"), _record("n", 0, 32, segments=[], split="val")]
    assert L.theta_rule_for(val_gt) == "frame_labels"
    assert L.choose_val_theta(val_gt, {"a": np.array([0.8, 0.2]), "n": np.array([0.1, 0.3])}) == pytest.approx(0.8)
    with pytest.raises(ValueError, match=r"no validation scores for 1 videos \(n\)"):
        L.choose_val_theta(val, {"a": scores["a"]})


def test_pixel_auc_is_kept_when_rbdc_tbdc_are_undefined(tmp_path):
    from sklearn.metrics import roc_auc_score

    from stprompt.metrics import PixelAUC, pixel_auc

    mask = np.zeros((32, 6, 8), np.uint8)
    mask[:16, 1:3, 1:3] = 1
    np.save(tmp_path / "m.npy", mask)
    # an anomalous test video with a pixel mask but no region ground truth (no tracks, no boxes)
    rec = _record("v", 1, 32, segments=[(0, 15)], pixel_mask_path=tmp_path / "m.npy", width=8, height=6)
    boxes = np.array([[0, 0, 4, 3], [4, 3, 8, 6]], float)
    loc = L._result(np.array([[0.9, 0.1], [0.2, 0.7]]), boxes[[0, 1]], boxes, np.array([0.8, 0.6]), 0.5, 6, 8,
                    "stprompt")
    out = L.localization_metrics({"v": loc}, [rec], {"v": np.array([0.8, 0.6])})
    assert set(out) == {"theta", "pixel_auc"}  # no box anywhere: TIoU, RBDC, TBDC undefined, pixel AUC kept
    heat = L.frame_heat_maps(loc, 32, [7, 23])
    expected = roc_auc_score(mask[[7, 23]].ravel(), heat.ravel())
    assert out["pixel_auc"] == pytest.approx(expected)
    acc = PixelAUC()
    acc.add("v0", heat[:1], mask[[7]])
    acc.add("v1", heat[1:], mask[[23]])
    assert acc.value() == pytest.approx(pixel_auc({"v": heat}, {"v": mask[[7, 23]]})) == pytest.approx(expected)
    # sparse boxes (Liu & Ma: one frame in 16) give TIoU, never RBDC/TBDC
    sparse = _record("s", 1, 32, segments=[(0, 15)], sparse_boxes={7: (0.0, 0.0, 4.0, 3.0)}, width=8, height=6)
    out = L.localization_metrics({"s": loc}, [sparse], {"s": np.array([0.8, 0.6])})
    assert set(out) == {"theta", "tiou"} and out["tiou"] == pytest.approx(1.0)

"""stprompt.stats against scikit-learn, hand-counted cases and invariants: weighted AUC and AP, the
within-video AUC and the split of pooled AUC, and the paired video-level bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from stprompt import metrics, stats


def _toy(seed: int = 0, n_videos: int = 12):
    rng = np.random.default_rng(seed)
    scores, labels = {}, {}
    for v in range(n_videos):
        n = int(rng.integers(20, 60))
        y = np.zeros(n, np.uint8)
        if v % 3:  # two of three videos anomalous, one segment each
            a = int(rng.integers(0, n - 5))
            y[a:a + int(rng.integers(3, n - a))] = 1
        s = np.repeat(rng.random(-(-n // 8)), 8)[:n] + 0.3 * y  # snippet-shaped scores: many ties
        scores[f"v{v}"], labels[f"v{v}"] = np.round(s, 2), y
    return scores, labels


def test_weighted_auc_and_ap_equal_sklearn_with_sample_weights():
    rng = np.random.default_rng(1)
    s = np.round(rng.random(300), 1)  # heavy ties
    y = rng.random(300) < 0.3
    w = rng.integers(0, 4, 300).astype(float)
    order = np.argsort(s, kind="stable")
    pos, neg = (w * y)[order], (w * ~y)[order]
    assert stats.weighted_auc(s[order], pos, neg)[0] == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
    assert stats.weighted_ap(s[order], pos, neg)[0] == pytest.approx(
        average_precision_score(y, s, sample_weight=w), abs=1e-12)


def test_metrics_of_the_test_set_itself_equal_the_metrics_module():
    scores, labels = _toy()
    g = stats.score_groups(scores, labels)
    own = stats.metrics_on_resamples(g, np.ones((1, g.n_videos)))
    assert own["auc_micro"][0] == pytest.approx(metrics.frame_auc(scores, labels), abs=1e-12)
    assert own["ap_sklearn"][0] == pytest.approx(metrics.average_precision(scores, labels), abs=1e-12)
    assert own["false_alarm_rate"][0] == pytest.approx(metrics.false_alarm_rate(scores, labels), abs=1e-12)
    assert own["auc_anomalous_videos"][0] == pytest.approx(metrics.anomaly_only_auc(scores, labels), abs=1e-12)
    per_video = [roc_auc_score(labels[v], scores[v]) for v in scores if 0 < labels[v].sum() < len(labels[v])]
    assert own["auc_within_video"][0] == pytest.approx(np.mean(per_video), abs=1e-12)
    # a video drawn twice counts twice: the same as duplicating it
    m = np.ones((1, g.n_videos))
    m[0, 1] = 2
    dup_s, dup_y = dict(scores, extra=scores["v1"]), dict(labels, extra=labels["v1"])
    assert stats.metrics_on_resamples(g, m)["auc_micro"][0] == pytest.approx(metrics.frame_auc(dup_s, dup_y), abs=1e-12)


def test_pooled_auc_splits_into_within_and_cross_video_pairs_by_hand():
    # video a: frames scored 0.9 (anomalous), 0.1 (normal), 0.5 (normal); video b (normal): 0.6, 0.2
    scores = {"a": np.array([0.9, 0.1, 0.5]), "b": np.array([0.6, 0.2])}
    labels = {"a": np.array([1, 0, 0]), "b": np.array([0, 0])}
    d = stats.auc_decomposition(scores, labels)
    # 1 anomalous x 4 normal frames = 4 pairs; 2 in video a (both won), 2 across (0.9 > 0.6, 0.2)
    assert d["n_pairs"] == 4 and d["within_pair_share"] == 0.5
    assert d["auc_within_pairs"] == 1.0 and d["auc_cross_pairs"] == 1.0 and d["auc_pooled"] == 1.0
    scores["b"] = np.array([0.95, 0.2])  # now one cross pair is lost: pooled 3/4
    d = stats.auc_decomposition(scores, labels)
    assert (d["auc_pooled"], d["auc_within_pairs"], d["auc_cross_pairs"]) == (0.75, 1.0, 0.5)
    assert d["auc_within_video"] == 1.0
    # the identity on a larger case
    s, y = _toy(3, 20)
    d = stats.auc_decomposition(s, y)
    w = d["within_pair_share"]
    assert d["auc_pooled"] == pytest.approx(w * d["auc_within_pairs"] + (1 - w) * d["auc_cross_pairs"], abs=1e-12)
    assert 0 < w < 0.5  # most pairs cross videos


def test_bootstrap_is_paired_reproducible_and_calls_a_null_difference_unresolved():
    scores, labels = _toy(5, 30)
    better = {v: s + 0.4 * labels[v] for v, s in scores.items()}  # a clearly better method
    runs = {"ref": [scores, scores], "same": [scores, scores], "better": [better]}
    res = stats.paired_bootstrap(runs, labels, reference="ref", n_boot=300, seed=7)
    again = stats.paired_bootstrap(runs, labels, reference="ref", n_boot=300, seed=7)
    assert res == again
    ref = res["methods"]["ref"]["auc_micro"]
    assert ref["value"] == pytest.approx(metrics.frame_auc(scores, labels)) and ref["lo"] < ref["value"] < ref["hi"]
    same = res["differences"]["same"]["auc_micro"]
    assert same == {"value": 0.0, "lo": 0.0, "hi": 0.0, "resolved": False}  # identical on every resample
    diff = res["differences"]["better"]["auc_micro"]
    assert diff["resolved"] and diff["lo"] > 0
    # paired: the difference's interval is narrower than the two methods' intervals would suggest
    b = res["methods"]["better"]["auc_micro"]
    assert diff["hi"] - diff["lo"] < (b["hi"] - b["lo"]) + (ref["hi"] - ref["lo"])
    assert stats.format_interval(diff, signed=True).startswith("+0.")
    with pytest.raises(ValueError, match=r"only in labels_by_video: \[.v29.\]"):
        stats.paired_bootstrap({"a": [scores], "b": [{k: scores[k] for k in list(scores)[:-1]}]},
                               labels, reference="a", n_boot=10)


def test_within_and_cross_pair_aucs_on_resamples_equal_the_decomposition_of_the_resampled_set():
    scores, labels = _toy(2, 15)
    g = stats.score_groups(scores, labels)
    m = np.ones((1, g.n_videos))
    m[0, 1], m[0, 4], m[0, 0] = 3, 2, 0  # v1 thrice, v4 twice, v0 left out
    own = stats.metrics_on_resamples(g, m)
    # the same resample written out: copies are other videos (pairs between them are cross-video)
    s2, y2 = {}, {}
    for i, v in enumerate(scores):
        for c in range(int(m[0, i])):
            s2[f"{v}#{c}"], y2[f"{v}#{c}"] = scores[v], labels[v]
    d = stats.auc_decomposition(s2, y2)
    assert own["auc_micro"][0] == pytest.approx(d["auc_pooled"], abs=1e-12)
    assert own["auc_within_pairs"][0] == pytest.approx(d["auc_within_pairs"], abs=1e-12)
    assert own["auc_cross_pairs"][0] == pytest.approx(d["auc_cross_pairs"], abs=1e-12)
    assert own["auc_within_video"][0] == pytest.approx(d["auc_within_video"], abs=1e-12)


def test_per_class_auc_on_resamples_equals_the_metrics_module():
    scores, labels = _toy(4, 18)
    classes = {v: ("normal" if not labels[v].any() else ("fire" if i % 2 else "fight")) for i, v in enumerate(scores)}
    g = stats.score_groups(scores, labels)
    ev = stats.per_class_evaluation(g, [classes[v] for v in g.ids])
    own = {c: float(a[0]) for c, a in ev.on_resamples(np.ones((1, g.n_videos))).items()}
    assert own == pytest.approx(metrics.per_class_auc(scores, labels, classes), abs=1e-12)


def _localization_case(seed: int = 0, n_videos: int = 8):
    """Random predicted boxes and scores, ground-truth boxes with tracks, heat maps and masks."""
    rng = np.random.default_rng(seed)
    ids = [f"v{i}" for i in range(n_videos)]
    n_frames, pred_regions, gt_regions, gt_tracks = {}, {}, {}, {}
    tiou_pred, tiou_gt, tiou_s, heat, mask = {}, {}, {}, {}, {}
    for i, v in enumerate(ids):
        n = int(rng.integers(6, 12))
        n_frames[v] = n
        snip = np.round(rng.random(n), 1)  # tied scores, as snippet scores repeated over frames
        boxes = np.c_[rng.uniform(0, 20, (n, 2)), rng.uniform(25, 40, (n, 2))]
        active = rng.random(n) < 0.7
        pred_regions[v] = {f: [(boxes[f], float(snip[f]))] for f in np.flatnonzero(active)}
        if i % 3 == 0:  # a normal video
            continue
        frames = np.arange(n)[rng.random(n) < 0.6]
        gb = np.c_[rng.uniform(0, 20, (len(frames), 2)), rng.uniform(22, 40, (len(frames), 2))]
        two = i % 2 == 0  # two tracks in some videos
        gt_regions[v] = {int(f): (np.stack([gb[k], gb[k] + 1]) if two else gb[k][None]) for k, f in enumerate(frames)}
        gt_tracks[v] = {int(f): (np.array([0, 1]) if two else np.array([0])) for f in frames}
        p = np.where(active[frames, None], boxes[frames], np.nan)
        tiou_pred[v], tiou_gt[v], tiou_s[v] = p, gb, snip[frames]
        heat[v] = np.round(rng.random((2, 4, 5)), 1)
        mask[v] = rng.random((2, 4, 5)) < 0.3
    return ids, n_frames, pred_regions, gt_regions, gt_tracks, tiou_pred, tiou_gt, tiou_s, heat, mask


def _direct_localization(case, theta=0.35):
    ids, n_frames, pred_regions, gt_regions, gt_tracks, tp, tg, ts, heat, mask = case
    det = metrics.rbdc_tbdc(pred_regions, gt_regions, gt_tracks, n_frames)
    return {"tiou": metrics.tiou(tp, tg, ts, theta), "rbdc": det.rbdc, "tbdc": det.tbdc,
            "pixel_auc": metrics.pixel_auc(heat, mask)}


def _parts(case, theta=0.35):
    ids, n_frames, pred_regions, gt_regions, gt_tracks, tp, tg, ts, heat, mask = case
    pixels = metrics.PixelAUC()
    for v in heat:
        pixels.add(v, heat[v], mask[v])
    return stats.localization_parts(ids, n_frames, metrics._tiou_terms(tp, tg, ts, theta, False),
                                    metrics.region_track_scores(pred_regions, gt_regions, gt_tracks, n_frames), pixels)


def test_localization_parts_give_tiou_rbdc_tbdc_and_pixel_auc_exactly_on_any_resample(tmp_path):
    case = _localization_case()
    parts = _parts(case)
    own = {k: float(v[0]) for k, v in parts.on_resamples(np.ones((1, len(case[0])))).items()}
    assert own == pytest.approx(_direct_localization(case), abs=1e-12)
    # a resample drawing v1 twice, v4 three times and leaving v0 and v2 out, against the metrics
    # module on that test set written out (copies renamed)
    counts = {"v0": 0, "v1": 2, "v2": 0, "v4": 3}
    m = np.array([[counts.get(v, 1) for v in case[0]]], float)
    ids, n_frames, pred_regions, gt_regions, gt_tracks, tp, tg, ts, heat, mask = case
    out = [[], {}, {}, {}, {}, {}, {}, {}, {}, {}]
    for v in ids:
        for c in range(counts.get(v, 1)):
            name = f"{v}#{c}"
            out[0].append(name)
            for j, src in enumerate(case[1:], 1):
                if v in src:
                    out[j][name] = src[v]
    direct = _direct_localization(tuple(out))
    res = {k: float(v[0]) for k, v in parts.on_resamples(m).items()}
    assert res == pytest.approx(direct, abs=1e-12)
    # saved as plain arrays and read back: the same numbers
    np.savez(tmp_path / "p.npz", **parts.to_arrays())
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        back = stats.LocalizationParts.from_arrays(dict(z), case[0])
    assert {k: float(v[0]) for k, v in back.on_resamples(m).items()} == pytest.approx(res, abs=1e-12)
    with pytest.raises(ValueError, match="one entry per video"):
        stats.LocalizationParts.from_arrays(parts.to_arrays(), case[0][:-1])


def test_bootstrap_of_detection_and_localization_is_paired_across_both():
    case = _localization_case(3, 12)
    parts = _parts(case)
    ids = case[0]
    labels = {v: np.r_[np.zeros(5, int), np.ones(3, int)] if i % 3 else np.zeros(8, int) for i, v in enumerate(ids)}
    rng = np.random.default_rng(0)
    scores = {v: np.round(rng.random(8), 1) for v in ids}
    det = stats.detection_evaluation(stats.score_groups(scores, labels), metrics=("auc_micro",))
    runs = {"a": [stats.combine(det, stats.localization_evaluation(parts))],
            "b": [stats.combine(det, stats.localization_evaluation(parts))], "c": [det]}
    res = stats.bootstrap(runs, reference="a", n_boot=200, seed=1)
    assert set(res["methods"]["a"]) == {"auc_micro", "tiou", "rbdc", "tbdc", "pixel_auc"}
    assert res["methods"]["a"]["tiou"]["lo"] <= res["methods"]["a"]["tiou"]["value"] <= res["methods"]["a"]["tiou"]["hi"]
    for k in ("auc_micro", "tiou", "rbdc", "tbdc", "pixel_auc"):  # identical runs: exactly 0 on every resample
        assert res["differences"]["b"][k] == {"value": 0.0, "lo": 0.0, "hi": 0.0, "resolved": False}
    assert set(res["differences"]["c"]) == {"auc_micro"}  # compared on what both measure
    with pytest.raises(ValueError, match="other videos"):
        stats.bootstrap({"a": [det], "x": [stats.Evaluation(ids[:-1], det.on_resamples)]})


def test_reading_a_difference_by_hand():
    up = {"value": 0.05, "lo": 0.01, "hi": 0.09, "resolved": True}
    assert stats.claim_status(up) == "holds" and stats.claim_status(stats.reverse(up)) == "fails"
    assert stats.reverse(up) == {"value": -0.05, "lo": -0.09, "hi": -0.01, "resolved": True}
    wide = {"value": 0.02, "lo": -0.02, "hi": 0.06, "resolved": False}
    assert stats.claim_status(wide) == "unresolved"
    # half-width toward 0 is 0.04, twice the effect: 4x the videos
    assert stats.videos_to_resolve(wide, 90) == 360
    assert stats.videos_to_resolve(stats.reverse(wide), 90) == 360
    assert stats.videos_to_resolve({"value": 0.0, "lo": 0.0, "hi": 0.0}, 90) is None
    # an interval ending exactly at 0 (h = |d|) is unresolved with its 8 videos: more are needed
    assert stats.videos_to_resolve({"value": 0.112, "lo": 0.0, "hi": 0.438}, 8) == 9
    assert stats.videos_to_resolve(up, 90) == 58  # resolved: 90 · (0.04 / 0.05)² = 57.6 would do
    assert stats.format_difference(wide) == "+0.020 [-0.020, +0.060] unresolved"
    # a bound just above 0 excludes it: it must not read as +0.000
    assert stats.format_difference({"value": 0.14, "lo": 3.1e-6, "hi": 0.374, "resolved": True}) == \
        "+0.140 [+3e-06, +0.374] resolved"
    assert stats.format_difference({"value": 0.11, "lo": 0.0, "hi": 0.438, "resolved": False}) == \
        "+0.110 [+0.000, +0.438] unresolved"
    assert stats.format_difference({"value": -4.6e-5, "lo": -2.1e-4, "hi": 0.0, "resolved": False}) == \
        "-5e-05 [-2e-04, +0.000] unresolved"  # a tiny difference is not written as -0.000
    assert stats.format_estimate({"value": 0.6712, "lo": 0.61, "hi": 0.72, "std": 0.046, "per_seed": [0.6, 0.7]}) \
        == "0.671 ± 0.046 [0.610, 0.720]"
    assert stats.format_estimate({"value": 0.5, "lo": 0.4, "hi": 0.6, "std": 0.0, "per_seed": [0.5]}) == \
        "0.500 [0.400, 0.600]"


def test_a_difference_zero_on_every_resample_is_identical_not_unresolved():
    from stprompt.stats import format_difference, verdict

    assert verdict({"value": 0.0, "lo": 0.0, "hi": 0.0, "resolved": False}) == "identical"
    assert format_difference({"value": 0.0, "lo": 0.0, "hi": 0.0, "resolved": False}) == "+0.000 [+0.000, +0.000] identical"
    # a zero estimate with spread around it is an unresolved difference, a tiny one is not identical
    assert verdict({"value": 0.0, "lo": -0.01, "hi": 0.01, "resolved": False}) == "unresolved"
    assert verdict({"value": 1e-9, "lo": 1e-9, "hi": 1e-9, "resolved": True}) == "resolved"

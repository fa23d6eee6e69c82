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

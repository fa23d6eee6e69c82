"""The main table aggregates per-seed reports; missing scores name the run to train."""

from __future__ import annotations

import numpy as np
import pytest

from stprompt.reports.evaluation import ORACLE_NOTE, load_scores, main_table, per_class_table


def test_main_table_is_mean_and_sample_std_over_seeds_and_marks_the_oracle():
    rep = lambda auc, far: {"auc_micro": auc, "ap_sklearn": 0.5, "false_alarm_rate": far,  # noqa: E731
                            "auc_anomalous_videos": 0.6, "auc_per_class": {"fire": auc}}
    rows = main_table({"stprompt": [rep(0.8, 0.1), rep(0.9, 0.3)], "oracle": [rep(0.95, 0.0)]}, digits=2)
    # mean 0.85, sample std sqrt(((0.05)^2 * 2) / 1) = 0.0707
    assert rows[0] == {"method": "stprompt", "seeds": 2, "frame AUC": "0.85 ± 0.07", "AP (sklearn)": "0.50 ± 0.00",
                       "FAR@0.5": "0.20 ± 0.14", "AUC (anomalous videos)": "0.60 ± 0.00"}
    assert rows[1]["method"] == ORACLE_NOTE and rows[1]["frame AUC"] == "0.95"
    assert per_class_table({"stprompt": [rep(0.8, 0), rep(0.9, 0)]}) == [{"method": "stprompt", "fire": 0.85}]


def test_missing_scores_say_which_run_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="no test scores for mil, seed 2 .*02_train"):
        load_scores(tmp_path, "mil", 2)


def _run_dir_with_scores(tmp_path, methods=("stprompt", "mil"), seeds=(0, 1), n_videos=10, seed=0):
    """Fake snippet scores of two methods x two seeds on ten test videos (anomalous ones score a bit
    higher on their anomalous snippets)."""
    from stprompt.datasets import VideoRecord

    rng = np.random.default_rng(seed)
    records = []
    for i in range(n_videos):
        n = int(rng.integers(3, 7)) * 16 - int(rng.integers(0, 8))
        if i % 3:
            a = int(rng.integers(0, n // 2))
            records.append(VideoRecord(f"v{i}", "x.mp4", n, 25, 1, "fire" if i % 2 else "fight", "test",
                                       segments=[(a, min(n - 1, a + 20))]))
        else:
            records.append(VideoRecord(f"v{i}", "x.mp4", n, 25, 0, "normal", "test"))
    (tmp_path / "scores").mkdir()
    for m in methods:
        for s in seeds:
            out = {}
            for r in records:
                k = -(-r.n_frames // 16)
                boost = np.zeros(k)
                if r.label:
                    a, b = r.segments[0]
                    boost[a // 16:b // 16 + 1] = 0.3 if m == "stprompt" else 0.1
                out[r.id] = np.round(rng.random(k) * 0.7 + boost, 2)
            np.savez(tmp_path / "scores" / f"{m}_seed{s}.npz", **out)
    return records


def test_main_table_intervals_equal_a_direct_bootstrap_on_a_tiny_case(tmp_path):
    from sklearn.metrics import roc_auc_score

    from stprompt import stats
    from stprompt.datasets import frame_labels
    from stprompt.reports.evaluation import (auc_split_table, detection_bootstrap, differences_table, evaluate_runs,
                                     load_scores)
    from stprompt.train import frame_scores

    records = _run_dir_with_scores(tmp_path)
    boot = detection_bootstrap(tmp_path, records, ["stprompt", "mil"], [0, 1], n_boot=30, seed=5)
    # the same resamples by hand: each drawn video written out under its own name, every metric by
    # scikit-learn, averaged over the seeds, then percentiles
    draws = stats.resample_multiplicity(len(records), 30, 5)
    frames = {m: [frame_scores(load_scores(tmp_path, m, s), records) for s in (0, 1)] for m in ("stprompt", "mil")}
    labels = {r.id: frame_labels(r) for r in records}

    def auc(m, row):
        vals = []
        for fs in frames[m]:
            y = np.concatenate([labels[r.id] for i, r in enumerate(records) for _ in range(row[i])])
            s = np.concatenate([fs[r.id] for i, r in enumerate(records) for _ in range(row[i])])
            vals.append(roc_auc_score(y, s))
        return np.mean(vals)


    ref = np.array([auc("stprompt", row) for row in draws])
    mil = np.array([auc("mil", row) for row in draws])
    got = boot["detection"]["methods"]["stprompt"]["auc_micro"]
    assert (got["lo"], got["hi"]) == pytest.approx(tuple(np.quantile(ref, [0.025, 0.975])), abs=1e-12)
    assert got["value"] == pytest.approx(auc("stprompt", np.ones(len(records), int)), abs=1e-12)
    d = boot["detection"]["differences"]["mil"]["auc_micro"]
    assert (d["lo"], d["hi"]) == pytest.approx(tuple(np.quantile(mil - ref, [0.025, 0.975])), abs=1e-12)
    # within-video AUC: per seed the mean over drawn anomalous videos of their own AUC
    for m in ("stprompt", "mil"):
        per_seed = [[roc_auc_score(labels[r.id], fs[r.id]) if r.label else np.nan for r in records]
                    for fs in frames[m]]
        direct = [np.mean([np.average(np.nan_to_num(a), weights=row * ~np.isnan(a)) for a in map(np.array, per_seed)])
                  for row in draws]
        w = boot["detection"]["methods"][m]["auc_within_video"]
        assert (w["lo"], w["hi"]) == pytest.approx(tuple(np.quantile(direct, [0.025, 0.975])), abs=1e-12)
    # the tables show those numbers
    reports = evaluate_runs(tmp_path, records, ["stprompt", "mil"], [0, 1])
    rows = main_table(reports, boot=boot["detection"])
    assert rows[0]["frame AUC"] == stats.format_estimate(got) and " ± " in rows[0]["frame AUC"] and "[" in rows[0]["frame AUC"]
    assert rows[0]["Δ frame AUC vs stprompt"] == "reference"
    assert rows[1]["Δ frame AUC vs stprompt"] == stats.format_difference(d)
    assert rows[1]["Δ frame AUC vs stprompt"].endswith(("resolved", "unresolved"))
    assert float(rows[0]["frame AUC"].split(" ")[0]) == pytest.approx(np.mean([r["auc_micro"] for r in reports["stprompt"]]),
                                                                     abs=5e-4)
    diff_rows = differences_table(boot["detection"])
    assert diff_rows[0]["method"] == "mil − stprompt" and diff_rows[0]["Δ frame AUC"] == rows[1]["Δ frame AUC vs stprompt"]
    split = auc_split_table(boot["detection"], boot["within_pair_share"])
    assert 0 < float(split[0]["share of pairs within a video"]) < 0.5
    per_class = per_class_table(reports, boot=boot["per_class"])
    fire = boot["per_class"]["methods"]["mil"]["fire"]
    assert fire["value"] == pytest.approx(np.mean([r["auc_per_class"]["fire"] for r in reports["mil"]]), abs=1e-12)
    assert per_class[1]["fire"] == stats.format_interval(fire)

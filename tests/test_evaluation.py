"""The main table aggregates per-seed reports; missing scores name the run to train."""

from __future__ import annotations

import pytest

from stprompt.evaluation import ORACLE_NOTE, load_scores, main_table, per_class_table


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

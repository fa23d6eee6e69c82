"""`stprompt ablate`: grid points, resumption, shards, failures, the summary over seeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from stprompt.run.ablate import load_grid, parse_shard, plan, run_grid
from stprompt.config import ConfigError

FIX = Path(__file__).parent / "fixtures" / "ablation"


def make_grid(tmp_path, grid=None, params=None, seeds=(0, 1), name="g"):
    profile = tmp_path / "base.yaml"
    profile.write_text(yaml.safe_dump({"name": "base", "notebook_dir": str(FIX), "notebooks": ["ablate_fx"],
                                       "run_dir": str(tmp_path / "run"), "params": {"ablate_fx": {"b": 2.0}}}))
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"description": "fixture grid", "profile": str(profile), "notebook": "ablate_fx",
                                    "seeds": list(seeds), "grid": grid or {"a": [1, 3]}, "params": params or {}}))
    return path


def test_points_combine_profile_params_switches_and_seeds(tmp_path):
    path = make_grid(tmp_path, grid={"a": [1, 3], "b": [0.5]})
    points, _, out_dir = plan(load_grid(path), str(path))
    assert [p.name for p in points] == ["a=1,b=0.5,seed=0", "a=1,b=0.5,seed=1", "a=3,b=0.5,seed=0", "a=3,b=0.5,seed=1"]
    assert out_dir == tmp_path / "run" / "ablations" / "g"
    assert points[2].params == {"result_dir": str(out_dir / "a=3,b=0.5,seed=0"), "seed": 0, "a": 3, "b": 0.5,
                                "fail": False, "anomaly_area": []}
    path = make_grid(tmp_path, grid={"aa": [1]})
    with pytest.raises(ConfigError, match="unknown key 'aa'; did you mean 'a'"):
        plan(load_grid(path), str(path))
    path = make_grid(tmp_path, grid={"a": ["x"]})
    with pytest.raises(ConfigError, match="key 'a': expected int, got 'x'"):
        plan(load_grid(path), str(path))


def test_run_resume_shard_and_summary(tmp_path):
    path = make_grid(tmp_path)  # a in {1, 3}, b = 2.0 from the profile, seeds 0 and 1
    lines: list[str] = []
    first = run_grid(path, shard="1/2", echo=lines.append)
    assert first["ran"] == 2  # points 1 and 3 of 4
    # the summary counts the finished seeds only: a=1 has seed 0 done, a=3 seed 0 done
    assert [r["seeds"] for r in first["summary"]] == [1, 1]
    second = run_grid(path, jobs=2, echo=lines.append)  # the rest, two kernels at once
    assert second["ran"] == 2 and any("skipped (finished, unchanged)" in line for line in lines)
    rows = second["summary"]
    # score = a * b + seed: a=1 -> 2, 3 (mean 2.5, sample std 0.707); a=3 -> 6, 7
    assert rows == [{"a": 1, "seeds": 2, "score": "2.500 ± 0.707"}, {"a": 3, "seeds": 2, "score": "6.500 ± 0.707"}]
    out = tmp_path / "run" / "ablations" / "g"
    assert (out / "summary.md").read_text().startswith("| a | seeds | score |")
    assert (out / "a=3,seed=1" / "notebook.ipynb").is_file()
    assert run_grid(path, echo=lines.append)["ran"] == 0


def test_failures_are_reported_and_retried(tmp_path):
    path = make_grid(tmp_path, params={"fail": True}, seeds=(0,))
    with pytest.raises(RuntimeError, match="2 point\\(s\\) failed: a=1,seed=0, a=3,seed=0"):
        run_grid(path, echo=lambda _: None)
    assert not (tmp_path / "run" / "ablations" / "g" / "a=1,seed=0" / "done.json").exists()


def test_shard_syntax_and_cli(tmp_path):
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) == (1, 1)
    with pytest.raises(ConfigError, match="expected i/n"):
        parse_shard("0/4")
    path = make_grid(tmp_path, seeds=(0,))
    proc = subprocess.run([sys.executable, "-m", "stprompt.run.cli", "ablate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "| 1 | 1 | 2.000 |" in proc.stdout and "[2/2]" in proc.stdout


def _records(n=9, seed=0):
    from stprompt.datasets import VideoRecord

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        frames = int(rng.integers(2, 5)) * 16 - int(rng.integers(0, 10))
        if i % 3:
            out.append(VideoRecord(f"v{i}", "x.mp4", frames, 25, 1, "fire", "test", segments=[(5, 20)]))
        else:
            out.append(VideoRecord(f"v{i}", "x.mp4", frames, 25, 0, "normal", "test"))
    return out


def _scores(records, boost, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for r in records:
        s = np.round(rng.random(-(-r.n_frames // 16)), 2)
        if r.label:
            s[0:2] += boost  # the anomalous frames 5-20 lie in snippets 0 and 1
        out[r.id] = s
    return out


def test_a_points_saved_scores_round_trip(tmp_path):
    from stprompt import stats
    from stprompt.reports.evaluation import SCORES_FILE, load_point_scores, save_point_scores
    from stprompt.datasets import frame_labels
    from stprompt.metrics import expand_snippet_scores

    records = _records()
    scores = _scores(records, 0.2, 1)
    terms = {r.id: np.linspace(0, 1, 4) for r in records if r.label}
    parts = stats.localization_parts([r.id for r in records], {r.id: r.n_frames for r in records}, terms)
    path = save_point_scores(tmp_path / "p", scores, records, parts)
    assert path == tmp_path / "p" / SCORES_FILE and not list((tmp_path / "p").glob(".*tmp*"))
    back = load_point_scores(path)
    assert back["ids"] == [r.id for r in records]
    for r in records:
        assert np.array_equal(back["frame_scores"][r.id], expand_snippet_scores(scores[r.id], r.n_frames))
        assert np.array_equal(back["labels"][r.id], frame_labels(r))
    assert np.array_equal(back["parts"].tiou_sum, parts.tiou_sum) and back["parts"].region_scores is None
    assert load_point_scores(save_point_scores(tmp_path / "q", scores, records))["parts"] is None
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a point's test scores"):
        load_point_scores(tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", ids=np.array(["a"]), n_frames=np.array([32]), snippet_len=np.asarray(16),
             n_snippets=np.array([1]), snippet_scores=np.array([0.5]), labels=np.zeros(32, np.uint8))
    with pytest.raises(ValueError, match="short.npz: 32 frames with snippet_len=16 need"):
        load_point_scores(tmp_path / "short.npz")


def _finished(tmp_path, grid_path, scores_of):
    """Mark every point of the grid finished with fabricated metrics and saved scores
    (``scores_of(point) -> snippet scores``), as if its notebook had run."""
    from stprompt.reports.evaluation import save_point_scores
    from stprompt.io import write_json

    grid = load_grid(grid_path)
    points, _, out_dir = plan(grid, str(grid_path))
    records = _records()
    for p in points:
        write_json(out_dir / p.name / "metrics.json", {"ablation": {"score": float(p.seed)}})
        save_point_scores(out_dir / p.name, scores_of(p, records), records)
        write_json(out_dir / p.name / "done.json", {"fingerprint": p.fingerprint})
    return grid, points, out_dir


def test_summary_differences_are_paired_and_taken_to_the_default_configuration(tmp_path):
    from stprompt import metrics
    from stprompt.run.ablate import summarize
    from stprompt.reports.evaluation import load_point_scores

    # a=1 (the profile's value: the default) and a=3 score the same; a=5 separates anomalous frames
    path = make_grid(tmp_path, grid={"a": [1, 3, 5]})
    grid, points, out_dir = _finished(tmp_path, path, lambda p, rec: _scores(rec, 0.8 if p.switches["a"] == 5 else 0.0,
                                                                             p.seed))
    rows = summarize(points, out_dir, grid)
    assert [r["compared with"] for r in rows] == ["(reference)", "a=1", "a=1"]
    assert rows[0]["Δ frame AUC vs reference"] == "reference"
    assert rows[1]["Δ frame AUC vs reference"] == "+0.000 [+0.000, +0.000] identical"  # the same scores: exactly 0
    assert rows[2]["Δ frame AUC vs reference"].endswith(" resolved") and rows[2]["Δ frame AUC vs reference"][0] == "+"
    assert rows[0]["frame AUC"].count("[") == 1 and " ± " in rows[0]["frame AUC"]  # two seeds: ± std [interval]
    assert rows[0]["score"] == "0.500 ± 0.707"  # numbers without scores keep mean ± std
    summary = json.loads((out_dir / "summary.json").read_text())
    d = next(r for r in summary["rows"] if r["key"] == "a=3")["difference"]["auc_micro"]
    assert d == {"value": 0.0, "lo": 0.0, "hi": 0.0, "resolved": False}
    ref = next(r for r in summary["rows"] if r["key"] == "a=1")["intervals"]["auc_micro"]
    saved = [load_point_scores(out_dir / f"a=1,seed={s}" / "test_scores.npz") for s in (0, 1)]
    assert ref["per_seed"] == pytest.approx([metrics.frame_auc(p["frame_scores"], p["labels"]) for p in saved], abs=1e-12)
    assert summary["groups"] == [{"data": "", "reference": "a=1", "n_videos": 9, "configurations": ["a=1", "a=3", "a=5"]}]
    assert "paired bootstrap of the test videos, 1000 resamples" in (out_dir / "summary.tex").read_text()


def test_a_grid_reference_and_data_groups(tmp_path):
    from stprompt.run.ablate import summarize

    path = make_grid(tmp_path, grid={"anomaly_area": [[0.1, 0.2], [0.2, 0.4]], "a": [1, 3]})
    data = yaml.safe_load(path.read_text())
    data["reference"] = {"a": 3}
    path.write_text(yaml.safe_dump(data))
    # the data change the scores: were they compared across data, a=1 on the second range would
    # not be identical to its reference
    grid, points, out_dir = _finished(tmp_path, path, lambda p, rec: _scores(rec, p.switches["anomaly_area"][0], p.seed))
    rows = summarize(points, out_dir, grid)
    assert [r["compared with"] for r in rows] == ["a=3,anomaly_area=0.1-0.2", "a=3,anomaly_area=0.2-0.4",
                                                  "(reference)", "(reference)"]
    assert rows[0]["Δ frame AUC vs reference"] == rows[1]["Δ frame AUC vs reference"] == \
        "+0.000 [+0.000, +0.000] identical"
    data["reference"] = {"aa": 3}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="reference.aa' .*did you mean 'a'"):
        load_grid(path)

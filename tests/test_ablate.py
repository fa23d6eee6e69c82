"""`stprompt ablate`: grid points, resumption, shards, failures, the summary over seeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stprompt.ablate import load_grid, parse_shard, plan, run_grid
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
                                "fail": False}
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
    proc = subprocess.run([sys.executable, "-m", "stprompt.cli", "ablate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "| 1 | 1 | 2.000 |" in proc.stdout and "[2/2]" in proc.stdout

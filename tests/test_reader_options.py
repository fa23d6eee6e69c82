"""Reader options in one place: a profile's ``reader:`` block is checked like every other key and
reaches every notebook that reads a dataset through ``stprompt.datasets.load_dataset``; ablations
train as ``02_train`` does and run against any profile."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from stprompt.config import ConfigError, load_profile
from stprompt.run.pipeline import resolved_params

ROOT = Path(__file__).resolve().parents[1]
REAL = ("ucf_crime", "shanghaitech", "ubnormal")


def write_profile(tmp_path: Path, reader: dict, dataset: str = "ucf_crime") -> Path:
    prof = yaml.safe_load((ROOT / "params" / f"{dataset}.yaml").read_text())
    prof["reader"] = reader
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(prof))
    return path


def test_an_unknown_or_mistyped_reader_option_names_the_file_and_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"p\.yaml: key 'reader' \(ucf_crime reader\): unknown key "
                                          r"'frame_conventon'; did you mean 'frame_convention'\?"):
        load_profile(str(write_profile(tmp_path, {"frame_conventon": "vadclip"})))
    with pytest.raises(ConfigError, match=r"p\.yaml: key 'reader' \(ucf_crime reader\): key 'frame_convention': "
                                          r"expected one of \['sultani', 'vadclip'\]"):
        load_profile(str(write_profile(tmp_path, {"frame_convention": "1-based"})))
    with pytest.raises(ConfigError, match=r"p\.yaml: key 'reader' \(shanghaitech reader\): unknown key 'boxes_file'"):
        load_profile(str(write_profile(tmp_path, {"boxes_file": "x.pkl"}, "shanghaitech")))
    # the CLI says it in one line
    proc = subprocess.run([sys.executable, "-m", "stprompt.run.cli", "validate", "--profile",
                           str(write_profile(tmp_path, {"frame_conventon": "vadclip"}))],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown key 'frame_conventon'" in proc.stderr


_STEPS: dict[str, dict] = {}


def step_params(name: str) -> dict[str, dict]:
    """``{step: every parameter it runs with}`` under profile ``name`` (validated once per profile)."""
    if name not in _STEPS:
        from stprompt.run.pipeline import notebook_defaults, validate_profile

        _STEPS[name] = {s.name: {**notebook_defaults(s.notebook), **s.params}
                        for s in validate_profile(load_profile(name))}
    return _STEPS[name]


@pytest.mark.parametrize("name", REAL)
def test_the_reader_block_reaches_every_step_that_reads_the_dataset(name):
    prof, steps = load_profile(name), step_params(name)
    for step in ("01_data_prep", "02_train", "03_evaluate", "04_ablations", "05_localization"):
        assert steps[step]["reader"] == prof.reader, step
    assert resolved_params(prof, "01_data_prep")["reader"] == prof.reader  # what `stprompt extract` reads


def _calls(source: str, names: set[str]) -> list[ast.Call]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if fn in names:
                out.append(node)
    return out


DATASET_READERS = {"load_dataset", "load_sets", "split_records", "feature_variant"}


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_every_notebook_reads_datasets_with_the_reader_options(path):
    """Every call that reads a dataset in a notebook passes ``reader`` (extraction reads it from the
    parameters it is given)."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        for call in _calls(cell.source, DATASET_READERS):
            passed = [ast.unparse(a) for a in call.args] + [kw.arg for kw in call.keywords]
            assert "reader" in passed, f"{path.name}: {ast.unparse(call)[:80]}... does not pass reader"
        for call in _calls(cell.source, {"dict"}):
            keys = {kw.arg for kw in call.keywords}
            if {"dataset", "data_root", "splits"} <= keys:  # the extraction parameters
                assert "reader" in keys, f"{path.name}: extraction parameters without reader"


@pytest.mark.parametrize("name", [*REAL, "synthvad", "smoke"])
def test_ablation_points_train_with_the_parameters_of_02_train(name):
    from stprompt.train import TrainConfig

    steps = step_params(name)
    train, ablate = steps["02_train"], steps["04_ablations"]
    keys = {"epochs", "batch_size", "lr", "max_len", "val_fraction", "splits", "reader", "dataset", "data_root"}
    assert keys - {"reader"} <= set(ablate) and {f for f in TrainConfig.__dataclass_fields__} & set(train) <= keys | {"seed"}
    for key in sorted(keys):
        assert ablate[key] == train[key], key


def test_stock_grids_run_against_a_real_profile(monkeypatch):
    from stprompt.run.ablate import load_grid, plan_points

    def plan(g, source, prof):  # the points and folders (fingerprints are test_ablate's)
        return plan_points(g, prof, upstream="", lib="-", source=source)

    prof = load_profile("ucf_crime")
    grid = load_grid(ROOT / "params" / "ablations" / "windows.yaml")
    points, _, out_dir = plan(grid, grid.source, prof)
    assert out_dir.relative_to(ROOT) == Path("runs/ucf_crime/ablations/windows")
    assert all(p.params["dataset"] == "ucf_crime" and p.params["splits"] == ["train", "test"]
               and p.params["max_len"] == 256 and p.params["reader"] == prof.reader for p in points)
    scale = load_grid(ROOT / "params" / "ablations" / "anomaly_scale.yaml")
    with pytest.raises(ConfigError, match=r"key 'anomaly_area' regenerates SynthVAD, but profile 'ucf_crime' "
                                          r"reads ucf_crime"):
        plan(scale, scale.source, prof)
    # the CLI: --profile hands run_grid that profile and the grid pointed at it
    from stprompt.run import ablate, cli

    seen = {}

    def fake_run_grid(g, profile=None, **kw):
        seen.update(grid=g, profile=profile)
        return {"summary": []}

    monkeypatch.setattr(ablate, "run_grid", fake_run_grid)
    assert cli.main(["ablate", str(grid.source), "--profile", "ubnormal"]) == 0
    assert seen["profile"].name == "ubnormal" and seen["grid"].profile == "ubnormal"
    points, _, out_dir = plan(seen["grid"], grid.source, seen["profile"])
    assert out_dir.relative_to(ROOT) == Path("runs/ubnormal/ablations/windows")
    assert {p.params["splits"] == ["train", "val", "test"] for p in points} == {True}

"""The notebook runner: execution, caching by fingerprint, reruns after a change, error reports.

Runs the two fixture notebooks in tests/fixtures/notebooks (01_make writes values.json, 02_use sums
them into total.json) into a temporary run folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stprompt.config import ConfigError, load_profile
from stprompt.run.pipeline import StepFailed, notebook_parameters, reproduce, validate_profile

FIXTURES = Path(__file__).parent / "fixtures"


def make_profile(tmp_path: Path, params: dict, name: str = "fx") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name,
        "notebook_dir": str(FIXTURES / "notebooks"),
        "run_dir": str(tmp_path / "run"),
        "params": params,
    }))
    return path


def run(path: Path, **kw):
    lines: list[str] = []
    results = reproduce(str(path), echo=lines.append, **kw)
    return {r.name: r.status for r in results}, lines


def test_chain_runs_then_skips_then_reruns_only_downstream_of_a_change(tmp_path):
    prof = make_profile(tmp_path, {"01_make": {"n": 4, "scale": 0.5}, "02_use": {"offset": 10}})
    status, _ = run(prof)
    assert status == {"01_make": "ran", "02_use": "ran"}
    # 0 + 0.5 + 1.0 + 1.5 + offset 10
    assert json.loads((tmp_path / "run" / "total.json").read_text()) == {"total": 13.0}
    assert (tmp_path / "run" / "notebooks" / "02_use.ipynb").is_file()
    html = (tmp_path / "run" / "reports" / "01_make.html").read_text()
    assert "[0.0, 0.5, 1.0, 1.5]" in html and "write_json(out" not in html  # outputs, no code
    recorded = json.loads((tmp_path / "run" / "params.json").read_text())
    assert recorded["steps"]["01_make"] == {"run_dir": str(tmp_path / "run"), "n": 4, "scale": 0.5}

    status, lines = run(prof)
    assert status == {"01_make": "skipped", "02_use": "skipped"}
    assert any("skipped (notebook, parameters and upstream unchanged" in line for line in lines)

    # A change in the last step reruns only that step.
    prof = make_profile(tmp_path, {"01_make": {"n": 4, "scale": 0.5}, "02_use": {"offset": 20}})
    status, _ = run(prof)
    assert status == {"01_make": "skipped", "02_use": "ran"}
    assert json.loads((tmp_path / "run" / "total.json").read_text()) == {"total": 23.0}

    # A change in the first step reruns it and everything after it.
    prof = make_profile(tmp_path, {"01_make": {"n": 2, "scale": 0.5}, "02_use": {"offset": 20}})
    status, _ = run(prof)
    assert status == {"01_make": "ran", "02_use": "ran"}
    assert json.loads((tmp_path / "run" / "total.json").read_text()) == {"total": 20.5}

    # --only runs the named step even if unchanged when forced; --force reruns all.
    status, _ = run(prof, only=["02_use"], force=True)
    assert status == {"02_use": "ran"}
    status, _ = run(prof, force=True)
    assert status == {"01_make": "ran", "02_use": "ran"}


def test_notebook_edit_reruns_the_step(tmp_path):
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    for nb in (FIXTURES / "notebooks").glob("*.ipynb"):
        (nb_dir / nb.name).write_text(nb.read_text())
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "p", "notebook_dir": str(nb_dir),
                                    "run_dir": str(tmp_path / "run")}))
    assert run(path)[0] == {"01_make": "ran", "02_use": "ran"}
    nb = json.loads((nb_dir / "02_use.ipynb").read_text())
    nb["cells"][0]["source"] = ["# Fixture step 2, edited\n"]
    (nb_dir / "02_use.ipynb").write_text(json.dumps(nb))
    assert run(path)[0] == {"01_make": "skipped", "02_use": "ran"}


def test_failing_cell_names_notebook_cell_and_executed_copy(tmp_path):
    prof = make_profile(tmp_path, {"01_make": {"fail": True}})
    with pytest.raises(StepFailed) as err:
        run(prof)
    msg = str(err.value)
    executed = tmp_path / "run" / "notebooks" / "01_make.ipynb"
    assert "01_make.ipynb failed in cell" in msg and "ValueError: asked to fail" in msg
    assert str(executed) in msg and executed.is_file()
    # The failed step is not recorded as done, so the next run retries it.
    assert not (tmp_path / "run" / "steps" / "01_make.json").exists()


def test_misspelled_key_names_file_notebook_and_key(tmp_path):
    prof = make_profile(tmp_path, {"01_make": {"scael": 2.0}})
    with pytest.raises(ConfigError) as err:
        validate_profile(load_profile(str(prof)))
    msg = str(err.value)
    assert str(prof) in msg and "'scael'" in msg and "did you mean 'scale'" in msg
    assert "01_make" in msg


def test_wrong_type_and_unknown_step_and_unknown_top_level_key(tmp_path):
    prof = make_profile(tmp_path, {"01_make": {"n": "four"}})
    with pytest.raises(ConfigError, match=r"key 'n'.*expected int, got 'four' \(str\)"):
        validate_profile(load_profile(str(prof)))
    prof = make_profile(tmp_path, {"03_missing": {"n": 1}})
    with pytest.raises(ConfigError, match="no step named '03_missing'"):
        validate_profile(load_profile(str(prof)))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnotebok_dir: nbs\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'notebok_dir'; did you mean 'notebook_dir'"):
        load_profile(str(bad))


def test_parameters_cell_is_read_with_hints_and_comments():
    params = notebook_parameters(FIXTURES / "notebooks" / "01_make.ipynb")
    assert list(params) == ["run_dir", "n", "scale", "fail"]
    assert params["scale"].type_hint == "float" and params["scale"].default == "1.0"
    assert params["n"].help == "how many values to make"


def test_cli_reports_bad_profile_and_runs_good_one(tmp_path):
    bad = make_profile(tmp_path, {"01_make": {"scael": 2.0}}, name="bad")
    proc = subprocess.run([sys.executable, "-m", "stprompt.run.cli", "validate", "--profile", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown key 'scael'" in proc.stderr
    good = make_profile(tmp_path, {}, name="good")
    proc = subprocess.run([sys.executable, "-m", "stprompt.run.cli", "reproduce", "--profile", str(good),
                           "--no-html"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "[2/2] 02_use: done in" in proc.stdout
    assert json.loads((tmp_path / "run" / "total.json").read_text()) == {"total": 3.0}


def test_report_rerenders_html_without_running(tmp_path):
    from stprompt.run.pipeline import render_reports

    prof = make_profile(tmp_path, {})
    with pytest.raises(ConfigError, match="no executed notebooks"):
        render_reports(str(prof), echo=lambda _: None)
    run(prof, html=False)
    assert not (tmp_path / "run" / "reports").exists()
    paths = render_reports(str(prof), echo=lambda _: None)
    assert [p.name for p in paths] == ["01_make.html", "02_use.html"]
    assert "[0.0, 1.0, 2.0]" in paths[0].read_text()


def test_resolved_params_are_notebook_defaults_overridden_by_the_profile(tmp_path):
    from stprompt.run.pipeline import resolved_params

    prof = make_profile(tmp_path, {"01_make": {"n": 7}})
    assert resolved_params(str(prof), "01_make") == {"run_dir": str(tmp_path / "run"), "n": 7,
                                                     "scale": 1.0, "fail": False}
    with pytest.raises(ConfigError, match="no step '09_x'"):
        resolved_params(str(prof), "09_x")


def _graph_fixture(tmp_path: Path, offset: int = 10, a_values=(1, 3)) -> Path:
    """01_make -> 02_use, and 03_abl (the ablation fixture) needing only 01_make, with a grid."""
    import shutil

    import nbformat

    nbs = tmp_path / "nbs"
    nbs.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "notebooks" / "01_make.ipynb", nbs / "01_make.ipynb")
    shutil.copy(FIXTURES / "notebooks" / "02_use.ipynb", nbs / "02_use.ipynb")
    nb = nbformat.read(str(FIXTURES / "ablation" / "ablate_fx.ipynb"), as_version=4)
    nb.metadata["stprompt"] = {"needs": ["01_make"]}
    nbformat.write(nb, str(nbs / "03_abl.ipynb"))
    grid = tmp_path / "grid.yaml"
    profile = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump({"profile": str(profile), "notebook": "03_abl", "seeds": [0],
                                    "grid": {"a": list(a_values)}}))
    profile.write_text(yaml.safe_dump({
        "name": "g", "notebook_dir": str(nbs), "run_dir": str(tmp_path / "run"), "ablations": [str(grid)],
        "params": {"01_make": {"n": 2}, "02_use": {"offset": offset},
                   "03_abl": {"result_dir": str(tmp_path / "run" / "abl-default")}}}))
    return profile


def test_steps_rerun_only_what_needs_them_and_grids_run_after_their_step(tmp_path):
    status, lines = run(_graph_fixture(tmp_path))
    assert status == {"01_make": "ran", "02_use": "ran", "03_abl": "ran"}
    grid_dir = tmp_path / "run" / "ablations" / "grid"
    assert (grid_dir / "a=3,seed=0" / "done.json").is_file()
    assert "| 3 | 1 | 3.000 |" in (grid_dir / "summary.md").read_text()  # score = a * b(=1) + seed
    assert any(line.startswith("grid grid: 2 points") for line in lines)
    # 02_use changed: 03_abl does not read it, so it and its grid are not rerun
    status, _ = run(_graph_fixture(tmp_path, offset=20))
    assert status == {"01_make": "skipped", "02_use": "ran", "03_abl": "skipped"}
    # a grid edit reruns the grid's step, and only the new point of the grid
    status, lines = run(_graph_fixture(tmp_path, offset=20, a_values=(1, 3, 5)))
    assert status == {"01_make": "skipped", "02_use": "skipped", "03_abl": "ran"}
    assert sum("done in" in line and "a=" in line for line in lines) == 1
    assert any("a=1,seed=0: skipped" in line for line in lines)
    # the data the grid reads changed: every point reruns
    prof = load_profile(str(_graph_fixture(tmp_path, offset=20, a_values=(1, 3, 5))))
    prof.params["01_make"]["n"] = 3
    lines = []
    results = reproduce(prof, echo=lines.append)
    assert {r.name: r.status for r in results} == {"01_make": "ran", "02_use": "ran", "03_abl": "ran"}
    assert sum("done in" in line and "a=" in line for line in lines) == 3


def test_needs_must_name_earlier_steps(tmp_path):
    import nbformat

    profile = _graph_fixture(tmp_path)
    nb_path = tmp_path / "nbs" / "01_make.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.metadata["stprompt"] = {"needs": ["03_abl"]}
    nbformat.write(nb, str(nb_path))
    with pytest.raises(ConfigError, match="step 01_make needs 03_abl, which runs after it"):
        validate_profile(load_profile(str(profile)))
    nb.metadata["stprompt"] = {"needs": ["00_nothing"]}
    nbformat.write(nb, str(nb_path))
    with pytest.raises(ConfigError, match="names 00_nothing, which is no notebook"):
        validate_profile(load_profile(str(profile)))


def test_a_step_hashes_only_the_library_modules_it_imports(tmp_path):
    import nbformat

    from stprompt.run.pipeline import library_hash, module_closure, notebook_modules

    root = Path(__file__).resolve().parents[1] / "notebooks"
    ablations = notebook_modules(root / "04_ablations.ipynb")
    # what 04 runs, directly or through other modules, and not what only draws or reports
    assert {"stprompt.train", "stprompt.model.sa2", "stprompt.run.variants", "stprompt.localize"} <= ablations
    assert not {"stprompt.reports.results_page", "stprompt.reports.viz", "stprompt.run.pipeline"} & ablations
    assert "stprompt.reports.results_page" in notebook_modules(root / "06_report.ipynb")
    # relative and lazy imports are followed; parent packages come along
    assert {"stprompt", "stprompt.reports", "stprompt.io", "stprompt.reports.tables"} <= \
        module_closure({"stprompt.reports.tables"})
    assert "stprompt.model.temporal" in module_closure({"stprompt.model"})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%matplotlib inline"),
                                         nbformat.v4.new_code_cell("from stprompt import io\nimport numpy")])
    nbformat.write(nb, str(tmp_path / "x.ipynb"))
    # the package itself displays figures through stprompt.reports.tables (which writes through io;
    # its parent package comes along)
    assert notebook_modules(tmp_path / "x.ipynb") == {"stprompt", "stprompt.io", "stprompt.reports",
                                                      "stprompt.reports.tables"}
    assert library_hash({"stprompt", "stprompt.io"}) != library_hash(ablations) != library_hash()
    assert library_hash({"stprompt.io", "stprompt"}) == library_hash({"stprompt", "stprompt.io"})

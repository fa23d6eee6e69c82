"""Project conventions: environment.yml agrees with pyproject, every profile key exists in its
notebook's parameters cell, committed notebooks follow the parameters-cell and output rules."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from stprompt.config import load_profile
from stprompt.run.notebooks import CHECK_MARK, strip
from stprompt.run.pipeline import notebook_parameters, validate_profile

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PROFILES = sorted(p for p in (ROOT / "params").rglob("*.yaml") if "ablations" not in p.parts)


def test_environment_yml_installs_the_project_from_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = env["dependencies"]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict)]
    assert pip_sections == [["-e .[dev]"]], "pyproject is the single source of Python packages"
    conda = [d for d in deps if isinstance(d, str)]
    python = [d for d in conda if d.startswith("python")]
    assert python == ["python" + project["requires-python"]]
    assert "pip" in conda
    # Any other conda package must be a dependency pyproject also declares (no second list).
    declared = {re.split(r"[<>=!\[ ]", d)[0].lower().replace("_", "-") for d in project["dependencies"]}
    extra = [d for d in conda if d not in ("pip",) and not d.startswith("python")]
    for d in extra:
        assert re.split(r"[<>=! ]", d)[0].lower() in declared, f"{d} is not in pyproject.toml"
    assert "dev" in project["optional-dependencies"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make reproduce" in readme


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_profile_key_exists_in_its_notebook(path):
    steps = validate_profile(load_profile(str(path)))
    assert steps, f"{path} selects no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(path):
    nb = nbformat.read(str(path), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and re.search(r"(?i)(produces|makes|tables?|figures?)", first.source), \
        "the first cell says which tables and figures the notebook produces"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    names = []
    for line in tagged[0].source.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^(\w+)\s*:\s*([^=]+?)\s*=\s*(.+?)\s+#\s*\S", line)
        assert m, f"{path.name}: parameters line needs 'name: type = literal  # comment': {line!r}"
        ast.literal_eval(m.group(3))  # literals only
        names.append(m.group(1))
    # papermill silently drops a line it cannot parse (e.g. quotes in the comment): catch that
    assert list(notebook_parameters(path)) == names, f"{path.name}: papermill does not read every parameter"
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.outputs:
            assert CHECK_MARK in cell.source and cell.metadata.get("keep_output"), \
                f"{path.name}: outputs committed in a cell that nbval does not check"
        assert not re.search(r"['\"]/(home|root|work|tmp|Users)/", cell.source), \
            f"{path.name}: absolute path in a cell"
    checked = sum(CHECK_MARK in c.source for c in nb.cells if c.cell_type == "code")
    assert checked <= 3
    # what the step reads is declared for the pipeline's fingerprints, and said in words
    needs = nb.metadata.get("stprompt", {}).get("needs")
    assert isinstance(needs, list) and all((path.parent / f"{n}.ipynb").is_file() for n in needs)
    assert "Needs:" in first.source and all(n in first.source for n in needs)


def test_strip_keeps_only_checked_cells():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(1)", execution_count=1,
                                  outputs=[nbformat.v4.new_output("stream", text="1\n")]),
        nbformat.v4.new_code_cell(f"{CHECK_MARK}\nprint(2)", execution_count=2,
                                  outputs=[nbformat.v4.new_output("stream", text="2\n")]),
    ])
    nb.metadata["papermill"] = {"x": 1}
    out = json.loads(nbformat.writes(strip(nb)))
    assert out["cells"][0]["outputs"] == [] and out["cells"][0]["execution_count"] is None
    assert out["cells"][1]["execution_count"] == 2  # nbval skips checked cells without a count
    assert "".join(out["cells"][1]["outputs"][0]["text"]) == "2\n" and out["cells"][1]["metadata"]["keep_output"]
    assert "papermill" not in out["metadata"]


GRIDS = sorted((ROOT / "params" / "ablations").glob("*.yaml"))


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: p.name)
def test_every_ablation_grid_plans_against_its_notebook(path):
    from stprompt.run.ablate import load_grid, plan

    points, notebook, _ = plan(load_grid(path), str(path))
    assert points and notebook.is_file()
    assert len({p.name for p in points}) == len(points)  # every point has its own folder

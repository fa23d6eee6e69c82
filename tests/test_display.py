"""What a user sees: figures shown as images in a kernel, images embedded in the pages notebooks
display, HTML reports without the nbval check cells, and notebooks that JupyterLab can open and save
without dirtying git (the clean filter of stprompt.run.notebooks)."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from matplotlib.figure import Figure

from stprompt.run import notebooks as nbtools
from stprompt.run.pipeline import execute_notebook, write_html_report
from stprompt.reports.tables import embed_images, figure_png

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _fig() -> Figure:
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot([0, 1, 2], [2, 0, 1])
    return fig


def test_figure_png_is_a_png_of_the_figure_at_its_dpi():
    import io

    from PIL import Image

    fig = _fig()
    small, large = (Image.open(io.BytesIO(figure_png(fig, dpi=d))) for d in (50, 100))
    assert small.format == large.format == "PNG"
    assert abs(large.size[0] / small.size[0] - 2) < 0.1 and abs(large.size[1] / small.size[1] - 2) < 0.1
    assert Image.open(io.BytesIO(figure_png(fig))).size == large.size  # default: the figure's dpi (100)


def test_embed_images_inlines_existing_pngs_and_leaves_other_links(tmp_path):
    (tmp_path / "a.png").write_bytes(figure_png(_fig(), dpi=20))
    text = "x ![first](a.png) y ![gone](missing.png) ![pdf](a.pdf) [link](a.png)"
    out = embed_images(text, tmp_path)
    prefix = "![first](data:image/png;base64,"
    start = out.index(prefix) + len(prefix)
    assert base64.b64decode(out[start:out.index(")", start)]) == (tmp_path / "a.png").read_bytes()
    assert "![gone](missing.png)" in out and "![pdf](a.pdf)" in out and "[link](a.png)" in out


def _notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(nbtools.KERNELSPEC)
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A figure"),
        nbformat.v4.new_code_cell("import stprompt\nfrom matplotlib.figure import Figure\n"
                                  "fig = Figure(figsize=(2, 1.5))\nfig.add_subplot().plot([1, 3, 2])\nfig"),
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint('checked value 0.123')"),
    ]
    path = tmp_path / "fig.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.mark.timeout(300)
def test_a_kernel_shows_a_returned_figure_as_png_and_the_report_shows_it_without_the_check_cell(tmp_path, capfd):
    executed = tmp_path / "out" / "fig.ipynb"
    execute_notebook(_notebook(tmp_path), executed, {})
    outputs = nbformat.read(str(executed), as_version=4).cells[1].outputs
    png = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(png) == 1 and base64.b64decode(png[0]["data"]["image/png"]).startswith(PNG_MAGIC)
    html = write_html_report(executed, tmp_path / "fig.html").read_text()
    assert html.count("<img") == 1 and "data:image/png;base64," in html
    assert "checked value" not in html  # the nbval line is for the test, not the reader
    err = capfd.readouterr().err
    assert "without encryption" not in err and "KeyboardInterrupt" not in err


def _lab_save(nb: nbformat.NotebookNode, run_all: bool) -> str:
    """What JupyterLab (jupyter-server) writes when it saves a notebook: its kernelspec and the
    kernel's ``language_info`` (Python 3.11.7 here, as committed); after Run All also outputs and
    counts on every code cell, and view state on some."""
    nb = copy.deepcopy(nb)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                                    "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                                    "pygments_lexer": "ipython3", "version": "3.11.7"}
    count = 40
    for cell in nb.cells if run_all else []:
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            cell.metadata["scrolled"] = True
            if not nbtools.is_checked(cell):
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="something\n")]
    return nbformat.writes(nb) + "\n"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
def test_committed_notebooks_are_as_lab_saves_them_and_a_run_filters_back(name):
    committed = (ROOT / "notebooks" / name).read_text()
    nb = nbformat.reads(committed, as_version=4)
    assert nbtools.stripped_text(committed) == committed  # committed as the filter writes them
    assert _lab_save(nb, run_all=False) == committed  # open and save: the same bytes
    ran = _lab_save(nb, run_all=True)
    assert ran != committed and nbtools.stripped_text(ran) == committed


def test_git_sees_nothing_to_commit_after_lab_saves_with_the_make_install_filter(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    src = ROOT / "notebooks" / "03_evaluate.ipynb"
    shutil.copy(src, repo / "notebooks" / src.name)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    # the command `make install` registers (with this interpreter instead of .venv/bin/python)
    git("config", "filter.stprompt-notebook.clean", f"{sys.executable} -m stprompt.run.notebooks --filter")
    git("config", "filter.stprompt-notebook.smudge", "cat")
    git("add", ".")
    git("commit", "-qm", "notebooks")
    path = repo / "notebooks" / src.name
    committed = nbformat.read(str(path), as_version=4)
    path.write_text(_lab_save(committed, run_all=False))
    assert git("status", "--porcelain") == ""  # opened and saved: clean
    path.write_text(_lab_save(committed, run_all=True))
    assert git("diff") == ""  # run and saved: the outputs never reach git
    git("add", "-A")
    assert git("status", "--porcelain") == ""  # nothing to commit
    # an edit of a cell's source is a change git must see
    nb = json.loads(path.read_text())
    nb["cells"][0]["source"].append("\nedited")
    path.write_text(json.dumps(nb))
    assert git("status", "--porcelain").strip() == "M notebooks/03_evaluate.ipynb"

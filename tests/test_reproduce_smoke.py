"""End to end: the smoke profile (every notebook 00-06 with its smoke parameters and the smoke
ablation grid) through `stprompt reproduce` in a temporary run folder, as `make reproduce` runs the
default benchmark: what it writes, that a rerun skips everything, and that a parameter change reruns
only the steps that read it.

Only the pipeline's mechanics are asserted here, so ``00_pretrain_vlm`` pretrains a smaller tiny
CLIP than its smoke defaults (300 captioned images, one epoch: about a sixth of the time); the nbval
run of the notebooks executes 00 with its smoke defaults and checks its printed numbers."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from stprompt.run.pipeline import reproduce

ROOT = Path(__file__).resolve().parents[1]


def _profile(tmp_path: Path, box_mode: str = "best") -> Path:
    prof = yaml.safe_load((ROOT / "params" / "smoke" / "profile.yaml").read_text())
    grid = yaml.safe_load((ROOT / "params" / "ablations" / "smoke.yaml").read_text())
    grid["profile"] = str(tmp_path / "smoke_e2e.yaml")
    (tmp_path / "smoke_grid.yaml").write_text(yaml.safe_dump(grid))
    prof.update(name="smoke_e2e", run_dir=str(tmp_path / "run"), ablations=[str(tmp_path / "smoke_grid.yaml")],
                params={"00_pretrain_vlm": {"n_images": 300, "epochs": 1, "n_eval": 100},
                        "05_localization": {"box_mode": box_mode}, "06_report": {"out_dir": str(tmp_path / "page")}})
    path = tmp_path / "smoke_e2e.yaml"
    path.write_text(yaml.safe_dump(prof))
    return path


def _assert_figures_shown(run: Path, reports: list[Path]) -> None:
    """Every cell that ends by returning a figure (the notebooks' convention: a last line ``fig``)
    holds a PNG, and every image of every HTML report resolves (inline PNG data or a file beside
    the report)."""
    with_figures = {"00_pretrain_vlm", "01_data_prep", "02_train", "03_evaluate", "05_localization"}
    for executed in sorted((run / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(executed), as_version=4)
        figure_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.rstrip().endswith("\nfig")]
        for cell in figure_cells:
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), (executed.name, cell.source[:60])
        assert bool(figure_cells) == (executed.stem in with_figures), executed.name
    for report in reports:
        html = report.read_text()
        sources = re.findall(r'<img[^>]*\ssrc="([^"]+)"', html)
        assert bool(sources) == (report.stem in with_figures | {"06_report"}), report.name
        for src in sources:
            if src.startswith("data:image/png;base64,"):
                assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG"), report.name
            else:
                assert (report.parent / src).is_file(), (report.name, src)
        assert "NBVAL_CHECK_OUTPUT" not in html


@pytest.mark.slow
def test_smoke_profile_end_to_end_then_cached_then_one_change(tmp_path, capfd):
    lines: list[str] = []
    results = reproduce(str(_profile(tmp_path)), echo=lines.append, html=True)
    assert [r.name for r in results] == ["00_pretrain_vlm", "01_data_prep", "02_train", "03_evaluate",
                                         "04_ablations", "05_localization", "06_report"]
    assert all(r.status == "ran" for r in results)
    # the grid ran right after 04 and before 05, every point finished
    order = [i for i, line in enumerate(lines) if line.startswith(("[5/7] 04_ablations: done", "grid smoke_grid",
                                                                    "[6/7] 05_localization: running"))]
    assert len(order) == 3 and order == sorted(order)
    run = tmp_path / "run"
    summary = (run / "ablations" / "smoke_grid" / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 5 and all(",1," in row for row in summary[1:])  # 5 points, 1 seed each
    # variants were made once each: tokens features, the anomaly-range data and its features
    assert (run / "data" / "synthvad_area-0.05-0.2" / "meta.json").is_file()
    assert any(p.name.startswith("synthvad@") for p in (run / "features").iterdir())
    # the results page: every table and the grid, the paper marked as such
    page = tmp_path / "page"
    text = (page / "README.md").read_text()
    assert "## Ablations" in text and "ablation_smoke_grid.png" in text and "*paper*" in text
    # what the benchmark resolves, first: the main table, the localizers and the grid against their references
    resolves = text.split("## What SynthVAD resolves", 1)[1].split("\n## ", 1)[0]
    for block in ("### Detection: every method against stprompt\n\n8 test videos;",
                  "### Localization: every localizer against the spatial stream (stprompt)",
                  "### Ablation `smoke_grid`: every configuration against `sa2=true`"):
        assert block in resolves, block
    assert "| sa2=false − sa2=true | frame AUC |" in resolves and text.index("## What SynthVAD") < text.index("## Detection")
    for name in ("main_results", "localization", "paper_vs_synthvad", "ablation_smoke_grid", "resolved_comparisons",
                 "auc_split", "main_differences"):
        assert (page / "tables" / f"{name}.md").is_file() and (page / "tables" / f"{name}.tex").is_file()
    assert (page / "ablation_smoke_grid.png").is_file() and (page / "roc.png").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"data", "detection", "localization"} <= set(metrics)
    # what a user sees: figures in every notebook and report, the page's images in 06's report,
    # progress with an ETA, a closing summary, and no kernel noise on the console
    _assert_figures_shown(run, [r.report for r in results])
    assert re.findall(r'<img', (run / "reports" / "06_report.html").read_text()).__len__() >= 5
    assert any(line.startswith("[3/7] 02_train: training runs (method x seed): 5/5 (100%)") for line in lines)
    assert any(line.startswith("[1/7] 00_pretrain_vlm: CLIP pretraining") for line in lines)
    assert any("(grid 1/5 (20%)," in line and "ETA" in line for line in lines)
    console = "\n".join(lines).splitlines()
    summary = console[console.index(next(line for line in console if line.startswith("profile smoke_e2e: 7 ran"))):]
    assert any("HTML reports" in line and "06_report.html" in line for line in summary)
    assert any(line.strip().startswith("results page") and str(page / "README.md") in line for line in summary)
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err and "KeyboardInterrupt" not in captured.err
    assert "Ctrl-C will not work" not in captured.out + captured.err  # forked kernels know their parent

    # the grid's kernels were forked from a warm server (stprompt.run.forkserver; it refused them
    # all once, when its imports had set variables of its own environment): a point's numbers
    # are those of a fresh kernel (same parameters, same thread count, its own model folder)
    assert "  kernels: 5 of 5 forked warm" in lines, [line for line in lines if "kernels:" in line]
    from stprompt.io import environment
    from stprompt.run.ablate import _THREAD_VARS, POINT_THREADS
    from stprompt.run.runner import execute_notebook

    executed = next((run / "ablations" / "smoke_grid").glob("sa2=false*/notebook.ipynb"))
    params = dict(nbformat.read(str(executed), as_version=4).metadata.papermill.parameters,
                  result_dir=str(tmp_path / "fresh"), share_models=False)
    with environment({"STPROMPT_FORK_SERVER": "0", **{k: str(POINT_THREADS) for k in _THREAD_VARS}}):
        execute_notebook(ROOT / "notebooks" / "04_ablations.ipynb", tmp_path / "fresh.ipynb", params)
    forked = json.loads((executed.parent / "metrics.json").read_text())["ablation"]
    fresh = json.loads((tmp_path / "fresh" / "metrics.json").read_text())["ablation"]
    assert {k: v for k, v in forked.items() if k != "model"} == {k: v for k, v in fresh.items() if k != "model"}

    # nothing changed: every step skipped, no grid point run
    lines = []
    results = reproduce(str(_profile(tmp_path)), echo=lines.append, html=False)
    assert all(r.status == "skipped" for r in results)
    assert not any("done in" in line for line in lines)

    # a localization parameter: only 05 and the report rerun
    results = reproduce(str(_profile(tmp_path, box_mode="union")), echo=lambda _: None, html=False)
    assert [r.name for r in results if r.status == "ran"] == ["05_localization", "06_report"]

"""The results page itself (``06_report``): every table and figure of a run gathered into one folder,
PNGs re-encoded small, and the ``README.md`` that says what each shows (:mod:`stprompt.reports.results_page`'
module docstring lists inputs and outputs).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

from ...io import atomic_path, read_json, resolve, write_text
from .ablations import grid_finding, scale_series, scale_table
from .differences import resolve_blocks, resolve_section
from .notes import (ABLATION_PLOT_METRICS, DATASET_NAMES, FIGURE_NOTES, FIGURE_ORDER, SCALE_GRID,
                    TABLE_NOTES, TABLE_ORDER, TABLE_TITLES)
from .paper import (paper_comparison, paper_comparison_real, paper_other_datasets,
                    read_table_column, read_table_rows, run_description, scale_finding)


def export_png(src: str | Path, dst: str | Path, max_width: int = 1400) -> Path:
    """Copy a PNG, downscaled to ``max_width`` pixels and re-encoded with an adaptive 256-colour
    palette (figures are flat colour; this keeps committed files a fraction of their size)."""
    from PIL import Image

    dst = resolve(dst)
    with Image.open(src) as im:
        im = im.convert("RGB")
        if im.width > max_width:
            im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
        pal = im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        with atomic_path(dst) as tmp:
            pal.save(tmp, format="PNG", optimize=True)
    return dst


def _ordered(names: Sequence[str], order: Sequence[str]) -> list[str]:
    return [n for n in order if n in names] + sorted(n for n in names if n not in order)

def build_results_page(run_dir: str | Path, out_dir: str | Path, profile: Any,
                       grids: Sequence[Mapping[str, Any]] = (), max_width: int = 1400) -> dict[str, Any]:
    """Gather every table and figure of ``run_dir`` into ``out_dir`` and write ``README.md`` (see
    the module docstring). ``grids``: the profile's ablation grids as
    :func:`stprompt.run.ablate.collect_grids` returns them (each grid, its summary, rows, folder and
    reference), so that the report writers import nothing from the commands. Returns
    ``{"tables": [...], "figures": [...], "grids": [...], "page": path}``."""
    from .. import viz
    from ..tables import table_csv, table_latex, table_markdown

    run_dir, out_dir = resolve(run_dir), resolve(out_dir)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else {}
    tables = _ordered([p.stem for p in (run_dir / "tables").glob("*.md")], TABLE_ORDER)
    figures = _ordered([p.stem for p in (run_dir / "figures").glob("*.png")], FIGURE_ORDER)
    for name in tables:
        for ext in ("md", "csv", "tex"):
            src = run_dir / "tables" / f"{name}.{ext}"
            if src.is_file():
                with atomic_path(out_dir / "tables" / src.name) as tmp:
                    shutil.copyfile(src, tmp)
    for name in figures:
        export_png(run_dir / "figures" / f"{name}.png", out_dir / f"{name}.png", max_width)

    def save_fig(fig: Any, name: str) -> None:
        with atomic_path(out_dir / f"{name}.png") as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        export_png(out_dir / f"{name}.png", out_dir / f"{name}.png", max_width)
        figures.append(name)

    def save_tab(rows: list[dict], name: str, caption: str) -> None:
        write_text(out_dir / "tables" / f"{name}.md", table_markdown(rows))
        write_text(out_dir / "tables" / f"{name}.csv", table_csv(rows))
        write_text(out_dir / "tables" / f"{name}.tex", table_latex(rows, caption=caption))
        tables.append(name)

    grids = list(grids)
    sections: list[str] = []
    series: dict[str, list[dict]] = {}
    for g in grids:
        name = g["grid"].name
        summary = g["out_dir"] / "summary.md"
        if not any(r["seeds"] for r in g["rows"]):
            continue
        for ext in ("md", "csv", "tex"):
            src = g["out_dir"] / f"summary.{ext}"
            if src.is_file():
                with atomic_path(out_dir / "tables" / f"ablation_{name}.{ext}") as tmp:
                    shutil.copyfile(src, tmp)
        tables.append(f"ablation_{name}")
        if name == SCALE_GRID:
            series = scale_series(g["rows"])
            if series:
                save_fig(viz.scale_sweep_figure(series, {k: v for k, v in ABLATION_PLOT_METRICS.items()
                                                         if any(k in p["mean"] for s in series.values() for p in s)},
                                                title="SynthVAD: STPrompt vs VadCLIP-style as anomalies shrink"),
                         "anomaly_scale")
                save_tab(scale_table(series), "anomaly_scale", "Anomaly-scale sweep (SynthVAD)")
            continue
        save_fig(viz.ablation_bars(g["rows"], ABLATION_PLOT_METRICS, title=g["grid"].description,
                                   highlight=g["default"]), f"ablation_{name}")
        findings = [grid_finding(g["rows"], g["default"], m, label) for m, label in ABLATION_PLOT_METRICS.items()]
        sections.append("\n".join([
            f"### {g['grid'].description or name}", "",
            f"Grid `params/ablations/{name}.yaml`"
            + (f"; the reference configuration (Δ are taken to it, dark in the chart) is `{g['default']}`."
               if g["default"] else "."),
            " ".join(f for f in findings if f), "",
            summary.read_text().strip() if summary.is_file() else "", "",
            f"![ablation {name}](ablation_{name}.png)", ""]))

    dataset = profile_dataset(profile)
    detection = read_table_column(run_dir / "tables" / "main_results.csv", "method", "frame AUC")
    if dataset == "synthvad":
        profile_range = profile.params.get("01_data_prep", {}).get("anomaly_area")
        save_tab(paper_comparison(detection,
                                  read_table_column(run_dir / "tables" / "localization.csv", "localizer", "tiou"),
                                  series, profile_range),
                 "paper_vs_synthvad", "The paper (UCF-Crime, real data) beside SynthVAD (synthetic), in percent")
    else:
        save_tab(paper_comparison_real(dataset, detection,
                                       read_table_rows(run_dir / "tables" / "localization.csv", "localizer")),
                 f"paper_vs_{dataset}", f"The paper beside this run, both on {DATASET_NAMES[dataset]}, in percent")
    blocks = resolve_blocks(metrics, grids)
    if any(b["rows"] for b in blocks):
        save_tab([{"table": b["table"], **r} for b in blocks for r in b["rows"]], "resolved_comparisons",
                 "Every comparison with its reference: difference [95 % interval, paired bootstrap of the test "
                 "videos], resolved when the interval excludes 0")
    page = _page(run_dir, out_dir, profile, metrics, tables, figures, sections, series, dataset,
                 resolve_section(blocks, dataset))
    return {"tables": tables, "figures": figures, "grids": [g["grid"].name for g in grids], "page": page}


def profile_dataset(profile: Any) -> str:
    """The dataset a profile reads (``synthvad`` when it names none, the notebooks' default)."""
    from ...config import profile_datasets

    names = profile_datasets(profile)
    if len(names) > 1:
        raise ValueError(f"{profile.source}: the notebooks read several datasets ({', '.join(sorted(names))}); "
                         f"one results page describes one dataset")
    name = next(iter(names), "synthvad")
    if name != "synthvad" and name not in DATASET_NAMES:
        raise ValueError(f"{profile.source}: no results page for dataset '{name}' (known: synthvad, "
                         f"{', '.join(DATASET_NAMES)})")
    return name


def _table_md(out_dir: Path, name: str) -> str:
    path = out_dir / "tables" / f"{name}.md"
    return path.read_text().strip() if path.is_file() else ""


def _page(run_dir: Path, out_dir: Path, profile: Any, metrics: Mapping[str, Any], tables: list[str],
          figures: list[str], sections: list[str], series: Mapping[str, Sequence[Mapping]],
          dataset: str = "synthvad", resolves: Sequence[str] = ()) -> Path:
    from ..tables import table_markdown

    data = metrics.get("data", {})
    regenerated = (f"Regenerated by `stprompt reproduce --profile {profile.name}`"
                   + (" (`make reproduce` for the default benchmark)" if dataset == "synthvad" else "")
                   + f" from `{profile.source and Path(profile.source).name or profile.name}`; run folder "
                     f"`{run_dir.name}`. ")
    lines = [f"# Results: {profile.description or profile.name}", ""]
    if dataset == "synthvad":
        lines += [regenerated +
                  "**Every number on this page is synthetic**: SynthVAD, the in-project generated benchmark, with "
                  "the in-project tiny CLIP. Numbers marked *paper* are the paper's, on real data (UCF-Crime, "
                  "ShanghaiTech, UBnormal) with a ViT-B/16 CLIP; they are shown for orientation, not as targets "
                  "SynthVAD should reach.", ""]
    else:
        lines += [regenerated + f"Every number of this run is on **{DATASET_NAMES[dataset]}**; numbers marked "
                  f"*paper* are the paper's on the same dataset (ViT-B/16).", "",
                  *run_description(dataset, metrics, profile), ""]
    if data:
        area = data.get("median_anomaly_area_pct")
        lines += [f"Data: {sum(data.get('videos', {}).values())} videos "
                  f"({', '.join(f'{k} {v}' for k, v in data.get('videos', {}).items())})"
                  + (f", median anomaly area {area}% of the frame" if area is not None else
                     ", no anomaly boxes read") + ". Seeds: "
                  f"{metrics.get('detection', {}).get('seeds', '?')}. A number reads `mean ± std [lo, hi]`: the "
                  f"mean over seeds, their sample std (the seed spread, left out for one seed) and the 95 % interval "
                  f"of the mean from a paired bootstrap of the test videos; `Δ`: a difference to the table's "
                  f"reference, *resolved* when its interval excludes 0.", ""]
    lines += list(resolves)
    if dataset == "synthvad":
        lines += ["## The paper side by side", "",
                  "Frame AUC and TIoU in percent. Left: the paper's numbers on UCF-Crime (real). Right: this run on "
                  "SynthVAD (synthetic). The VadCLIP row on SynthVAD is our VadCLIP-style baseline (its TIoU uses "
                  "whole-frame boxes, as for any temporal-only method).", "",
                  _table_md(out_dir, "paper_vs_synthvad"), "",
                  "Other datasets in the paper (real data; not run here, see the README for the real-data route):", "",
                  table_markdown(paper_other_datasets()), ""]
    else:
        name = DATASET_NAMES[dataset]
        lines += ["## The paper side by side", "",
                  f"In percent, both columns on {name}: the paper's numbers (PAPER.md) and this run's (mean ± std over "
                  f"seeds). The VadCLIP frame-AUC row is our VadCLIP-style baseline; the paper's TIoU of temporal-only "
                  f"methods uses their own scores with whole-frame boxes, which is not run here (our whole-frame row "
                  f"gates whole-frame boxes with STPrompt's scores). \"—\": not reported by the paper, or not run "
                  f"here.", "",
                  _table_md(out_dir, f"paper_vs_{dataset}"), ""]
    notes = dict(TABLE_NOTES)
    if dataset != "synthvad":
        notes["dataset_summary"] = ("The data as read: videos, snippets and annotated anomalous frames per split and "
                                    "class (training videos carry video labels only).")
    figure_notes = dict(FIGURE_NOTES)
    if dataset != "synthvad":
        figure_notes["tiou_theta"] = ("TIoU against the temporal threshold θ on the test split, for information (and "
                                      "on validation where it has boxes); θ chosen on validation marked.")
        figure_notes["sample_frames"] = "Sample test frames of every class with their anomaly boxes (where annotated)."
    for name in [n for n in tables if n in notes]:
        lines += [f"## {TABLE_TITLES.get(name, name)}", "", notes[name], "", _table_md(out_dir, name), ""]
        for fig in {"main_results": ["roc", "score_curves"], "training_runs": ["training_curves"],
                    "localization": ["localization_examples", "tiou_theta"],
                    "dataset_summary": ["sample_frames", "anomaly_area"], "zero_shot": ["zero_shot_examples", "pretrain_loss"],
                    "motion_overlap": ["motion_windows"]}.get(name, []):
            if fig in figures:
                lines += [f"![{fig}]({fig}.png)", "", f"*{figure_notes.get(fig, fig)}*", ""]
    if series:
        lines += ["## Anomaly-scale sweep", "",
                  "The paper's thesis: global frame features drown small anomalies. SynthVAD is regenerated with "
                  "smaller and larger anomalies and STPrompt and the VadCLIP-style baseline are trained and tested "
                  "on each (x: median box area of the annotated test frames). " + scale_finding(series), "",
                  _table_md(out_dir, "anomaly_scale"), "", "![anomaly scale](anomaly_scale.png)", ""]
    if sections:
        lines += ["## Ablations", "",
                  "One table per grid (`stprompt ablate params/ablations/<grid>.yaml`): mean ± std over seeds "
                  "[95 % interval], and for frame AUC, within-video AUC and TIoU the difference to the grid's "
                  "reference configuration with its interval, *resolved* or *unresolved* (the test videos "
                  "resampled, the same resamples for every configuration tested on the same data); the chart's "
                  "whiskers are the 95 % intervals. Models are selected on validation, numbers are on test. "
                  "Sentences are generated from the numbers.", ""] + sections
    shown = {f for line in lines for f in figures if f"({f}.png)" in line}
    rest = [f for f in figures if f not in shown]
    if rest:
        lines += ["## Other figures", ""] + [f"![{f}]({f}.png)\n\n*{figure_notes.get(f, f)}*\n" for f in rest]
    lines += ["## Files", "",
              "Tables as Markdown, CSV and LaTeX in `tables/`: " + ", ".join(f"`{t}`" for t in tables) + ".", ""]
    return write_text(out_dir / "README.md", "\n".join(lines))

"""The results page (``06_report``): every table and figure of a profile gathered into one folder
(``figures/`` for the default benchmark) with a ``README.md`` that says what each shows.

Inputs, all written by the earlier steps of the profile:

- ``<run_dir>/tables/<name>.{md,csv,tex}`` and ``<run_dir>/figures/<name>.png`` (00–05);
- ``<run_dir>/metrics.json`` (the headline numbers);
- the profile's ablation grids (``<run_dir>/ablations/<grid>/``, :mod:`stprompt.ablate`).

Outputs in ``out_dir``: the PNGs (re-encoded with a 256-colour palette and at most ``max_width``
pixels wide, so the committed folder stays small), ``tables/<name>.{md,csv,tex}``, one table and
one bar chart per ablation grid, the anomaly-scale sweep figure, the paper-vs-SynthVAD table and
``README.md``. The paper's numbers (:data:`PAPER_NUMBERS`, PAPER.md) are on real data with a
ViT-B/16 CLIP. A SynthVAD profile's numbers come from the in-project synthetic benchmark and tiny
CLIP, and the page labels them synthetic; a real profile's page (UCF-Crime, ShanghaiTech,
UBnormal) says which dataset, backbone (and weights hash), frame convention and θ rule it ran
with, and sets the paper's numbers **for that dataset** beside its own
(``tables/paper_vs_<dataset>``). Every sentence that states a result is generated from the numbers.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

from .io import atomic_path, read_json, resolve, write_text

#: The paper's reported numbers (PAPER.md, "Benchmarks and reported numbers"): real datasets.
PAPER_NUMBERS: dict[str, dict[str, dict[str, float]]] = {
    "UCF-Crime": {"frame AUC": {"STPrompt": 88.08, "VadCLIP": 88.02},
                  "TIoU": {"STPrompt": 23.90, "VadCLIP": 22.05, "Sultani MIL": 16.82}},
    "ShanghaiTech": {"frame AUC": {"STPrompt": 97.81}},
    "UBnormal": {"frame AUC": {"STPrompt": 63.98, "OVVAD": 62.94, "VadCLIP": 62.32}},
}

#: One sentence per table of the pipeline: what it shows.
TABLE_NOTES = {
    "main_results": "Frame-level detection on the test split: every method trained with video-level labels only, "
                    "its epoch selected on validation; the oracle is trained with frame labels and bounds what "
                    "the features allow.",
    "per_class_auc": "Frame AUC per anomaly class (that class's anomalous test videos with every normal test video), "
                     "first seed.",
    "training_runs": "Every training run: the epoch selected on validation and its validation score.",
    "localization": "Spatial localization on the test split with STPrompt's temporal scores and θ chosen on "
                    "validation: the training-free spatial stream against bare class names as queries and "
                    "appearance-free boxes (largest motion, whole frame, random window).",
    "dataset_summary": "The generated data: videos, snippets and annotated anomalous frames per split and class "
                       "(training videos carry video labels only).",
    "zero_shot": "The tiny CLIP pretrained by 00_pretrain_vlm: zero-shot accuracy on held-out captioned images "
                 "(which category; is the crop anomalous?).",
    "motion_overlap": "Does the motion prior point at the anomaly? How often SA2's top-K windows by motion overlap "
                      "the anomaly box, against K windows at random.",
}

FIGURE_NOTES = {
    "roc": "ROC curves of every method on the test frames (first seed).",
    "score_curves": "Frame scores along test videos, ground truth shaded.",
    "training_curves": "Training loss and validation score per epoch; selected epochs marked.",
    "localization_examples": "Spatial stream on test frames: predicted box (solid), ground truth (dashed), "
                             "window scores as colour; failures included.",
    "tiou_theta": "TIoU against the temporal threshold θ on validation and test; θ chosen on validation marked.",
    "sample_frames": "Sample frames of every class with their anomaly boxes.",
    "anomaly_area": "Distribution of anomaly box area over annotated frames.",
    "motion_windows": "The motion prior on sample snippets and the top-K windows SA2 keeps.",
    "zero_shot_examples": "Zero-shot predictions of the tiny CLIP on held-out images.",
    "pretrain_loss": "Contrastive loss of the tiny CLIP during pretraining.",
}

#: Section titles of the pipeline's tables.
TABLE_TITLES = {"main_results": "Detection", "per_class_auc": "Detection per class", "training_runs": "Training runs",
                "localization": "Localization", "dataset_summary": "The data", "zero_shot": "The tiny CLIP",
                "motion_overlap": "The motion prior"}

#: Order of the sections of the page (names not listed come after, alphabetically).
TABLE_ORDER = ["main_results", "per_class_auc", "training_runs", "localization", "dataset_summary",
               "zero_shot", "motion_overlap"]
FIGURE_ORDER = ["roc", "score_curves", "training_curves", "localization_examples", "tiou_theta",
                "sample_frames", "anomaly_area", "motion_windows", "zero_shot_examples", "pretrain_loss"]

#: Metrics drawn in the ablation bar charts (key -> axis label).
ABLATION_PLOT_METRICS = {"auc_micro": "frame AUC", "tiou": "TIoU"}

SCALE_GRID = "anomaly_scale"  # the grid whose points make the anomaly-scale sweep figure

#: Display names of the real datasets (keys of :data:`PAPER_NUMBERS`).
DATASET_NAMES = {"ucf_crime": "UCF-Crime", "shanghaitech": "ShanghaiTech", "ubnormal": "UBnormal"}

#: How each real dataset's ground truth counts frames (what the page states).
FRAME_CONVENTION_NOTES = {
    ("ucf_crime", "sultani"): "`sultani`, the dataset authors' MATLAB evaluation: temporal segments are 1-based with "
                              "inclusive ends, clipped to the video (segment `40 120` labels 0-based frames 39–119)",
    ("ucf_crime", "vadclip"): "`vadclip`, VadCLIP's `gt[s:e]`: temporal segments are 0-based and half-open "
                              "(segment `40 120` labels frames 40–119)",
    ("shanghaitech", None): "per-frame 0/1 masks (`test_frame_mask/<vid>.npy`, one entry per 0-based frame)",
    ("ubnormal", None): "tracks `object_id,start,end`, 0-based with inclusive ends",
}
BOX_NOTES = {
    "ucf_crime": "Liu & Ma boxes: `image_N.jpg` is 0-based frame N − 1, corners `(x1, y1, x2, y2)` are 1-based "
                 "inclusive and become `(x1 − 1, y1 − 1, x2, y2)`, scaled from 320×240 to the decoded frame",
    "shanghaitech": "regions from the test pixel masks (8-connected components linked into tracks by overlap) or "
                    "the public track files (corners inclusive)",
    "ubnormal": "regions from the per-frame id masks of each tracked object",
}
THETA_NOTES = {"frame_labels": "Youden's J of the temporal frame scores against the validation frame labels",
               "video_labels": "Youden's J of the temporal frame scores of the held-out training videos against "
                               "their video labels (the dataset has no validation split with frame labels; the test "
                               "split is never looked at)"}


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


def _pm(mean: Mapping[str, float], std: Mapping[str, float], m: str, scale: float = 1.0, digits: int = 3) -> str:
    if m not in mean:
        return "—"
    return f"{mean[m] * scale:.{digits}f} ± {std.get(m, 0.0) * scale:.{digits}f}"


# --------------------------------------------------------------------------------------------
# Ablation grids
# --------------------------------------------------------------------------------------------

def collect_grids(entries: Sequence[str], profile: Any) -> list[dict[str, Any]]:
    """For each grid of the profile (``ablations`` entries): the grid, its aggregated rows
    (:func:`stprompt.ablate.aggregate`), its output folder and the key of the row that matches the
    profile's own configuration (the *default*), if any."""
    from .ablate import aggregate, load_grid, plan
    from .pipeline import grid_path, notebook_defaults

    out = []
    for entry in entries:
        grid = load_grid(grid_path(entry, f"profile {profile.name}"))
        points, notebook, out_dir = plan(grid, grid.source, profile)
        base = {**notebook_defaults(notebook), **profile.notebook_params(grid.notebook), **grid.params}
        # empty feature overrides mean "the profile's recipe": compare with what 01_data_prep used
        from .variants import FEATURE_OVERRIDES

        prep = profile.params.get("01_data_prep", {})
        base.update({k: prep[k] for k in FEATURE_OVERRIDES if base.get(k) in ("", [], None) and k in prep})
        rows = aggregate(points, out_dir)
        default = next((r["key"] for r in rows if r["switches"] and
                        all(base.get(k) == v for k, v in r["switches"].items())), None)
        out.append({"grid": grid, "rows": rows, "out_dir": out_dir, "default": default})
    return out


def grid_finding(rows: Sequence[Mapping], default: str | None, metric: str = "auc_micro",
                 label: str = "frame AUC") -> str:
    """One generated sentence: the best and worst configuration by ``metric`` and the default's
    value, with a caution when the spread is within the seeds' noise."""
    done = [r for r in rows if metric in r["mean"]]
    if not done:
        return ""
    best = max(done, key=lambda r: r["mean"][metric])
    worst = min(done, key=lambda r: r["mean"][metric])
    text = f"{label}: best `{best['key']}` {_pm(best['mean'], best['std'], metric)}"
    if worst is not best:
        text += f", lowest `{worst['key']}` {_pm(worst['mean'], worst['std'], metric)}"
    d = next((r for r in done if r["key"] == default), None)
    if d is not None and d is not best and d is not worst:
        text += f"; the default `{d['key']}` {_pm(d['mean'], d['std'], metric)}"
    gap = best["mean"][metric] - worst["mean"][metric]
    noise = max(best["std"].get(metric, 0.0), worst["std"].get(metric, 0.0))
    if worst is not best and gap <= noise:
        text += " — the spread is within one seed std, so these differ by no more than noise"
    return text + "."


def scale_series(rows: Sequence[Mapping]) -> dict[str, list[dict]]:
    """The anomaly-scale grid's rows as figure series: per method, ``x`` = mean over seeds of the
    median anomaly area (% of the frame) of its test split."""
    series: dict[str, list[dict]] = {}
    names = {"stprompt": "STPrompt", "vadclip": "VadCLIP-style (whole-frame boxes)"}
    for r in rows:
        if "median_area_pct" not in r["mean"]:
            continue
        method = r["switches"].get("method", "stprompt")
        series.setdefault(names.get(method, method), []).append(
            {"x": r["mean"]["median_area_pct"], "mean": r["mean"], "std": r["std"],
             "range": r["switches"].get("anomaly_area")})
    return series


def scale_table(series: Mapping[str, Sequence[Mapping]]) -> list[dict]:
    rows = []
    for name, pts in series.items():
        for p in sorted(pts, key=lambda p: p["x"]):
            rows.append({"method": name, "anomaly area range": "–".join(f"{a:g}" for a in p["range"] or []),
                         "median area (%)": f"{p['x']:.2f}",
                         "frame AUC": _pm(p["mean"], p["std"], "auc_micro"),
                         "TIoU": _pm(p["mean"], p["std"], "tiou")})
    return rows


# --------------------------------------------------------------------------------------------
# The paper side by side
# --------------------------------------------------------------------------------------------

def percent(text: str | float | None) -> str:
    """``"0.671 ± 0.046"`` (or a float) in percent: ``"67.1 ± 4.6"``; None → "—"."""
    if text is None or text == "":
        return "—"
    if isinstance(text, (int, float)):
        return f"{100 * float(text):.1f}"
    return " ± ".join(f"{100 * float(part):.1f}" for part in str(text).split("±"))


def read_table_column(path: str | Path, key: str, column: str) -> dict[str, str]:
    """``{row[key]: row[column]}`` of a saved CSV table (empty when the file is missing)."""
    import csv

    path = Path(path)
    if not path.is_file():
        return {}
    with open(path, newline="") as fh:
        return {row[key]: row[column] for row in csv.DictReader(fh) if column in row}


def paper_comparison(detection: Mapping[str, str], localization: Mapping[str, str],
                     scale: Mapping[str, Sequence[Mapping]] | None = None,
                     profile_range: Sequence[float] | None = None) -> list[dict]:
    """Rows ``measure | method | paper (UCF-Crime, real) | SynthVAD (synthetic, this run)``, in
    percent. ``detection``: frame AUC per method (``"m ± s"`` from ``tables/main_results``),
    ``localization``: TIoU per localizer (``tables/localization``); the VadCLIP-style TIoU comes
    from the anomaly-scale sweep at the profile's own anomaly range, when that grid ran."""
    paper = PAPER_NUMBERS["UCF-Crime"]
    vad_tiou = None
    for name, pts in (scale or {}).items():
        if name.startswith("VadCLIP"):
            for p in pts:
                if profile_range is not None and [float(a) for a in p["range"] or []] == [float(a) for a in profile_range]:
                    vad_tiou = _pm(p["mean"], p["std"], "tiou") if "tiou" in p["mean"] else None
    col_p, col_s = "paper: UCF-Crime (real)", "SynthVAD (synthetic, this run)"
    return [
        {"measure": "frame AUC", "method": "STPrompt", col_p: f"{paper['frame AUC']['STPrompt']:.2f}",
         col_s: percent(detection.get("stprompt"))},
        {"measure": "frame AUC", "method": "VadCLIP (ours: VadCLIP-style)", col_p: f"{paper['frame AUC']['VadCLIP']:.2f}",
         col_s: percent(detection.get("vadclip"))},
        {"measure": "frame AUC", "method": "Sultani MIL", col_p: "—", col_s: percent(detection.get("mil"))},
        {"measure": "TIoU", "method": "STPrompt", col_p: f"{paper['TIoU']['STPrompt']:.2f}",
         col_s: percent(localization.get("stprompt"))},
        {"measure": "TIoU", "method": "VadCLIP (ours: whole-frame boxes)", col_p: f"{paper['TIoU']['VadCLIP']:.2f}",
         col_s: percent(vad_tiou)},
        {"measure": "TIoU", "method": "Sultani MIL", col_p: f"{paper['TIoU']['Sultani MIL']:.2f}", col_s: "—"},
    ]


def paper_comparison_real(dataset: str, detection: Mapping[str, str], localization: Mapping[str, Mapping[str, str]]
                          ) -> list[dict]:
    """Rows ``measure | method | paper: <dataset> | this run: <dataset>`` in percent for a real
    dataset: the paper's numbers for that dataset (:data:`PAPER_NUMBERS`) beside ours.
    ``detection``: frame AUC per method (``tables/main_results``); ``localization``: per localizer
    its ``tiou``/``rbdc``/``tbdc``/``pixel_auc`` (``tables/localization``). Measures the paper does
    not report for the dataset get "—" on its side."""
    name = DATASET_NAMES[dataset]
    paper = PAPER_NUMBERS.get(name, {})
    col_p, col_s = f"paper: {name}", f"this run: {name}"
    ours_by_method = {"STPrompt": "stprompt", "VadCLIP": "vadclip", "Sultani MIL": "mil"}
    rows = []
    methods = list(dict.fromkeys([*paper.get("frame AUC", {}), "STPrompt", "VadCLIP", "Sultani MIL"]))
    for m in methods:
        ours = detection.get(ours_by_method.get(m, ""))
        if m not in paper.get("frame AUC", {}) and ours is None:
            continue
        label = {"VadCLIP": "VadCLIP (ours: VadCLIP-style)"}.get(m, m)
        rows.append({"measure": "frame AUC", "method": label,
                     col_p: f"{paper['frame AUC'][m]:.2f}" if m in paper.get("frame AUC", {}) else "—",
                     col_s: percent(ours)})
    stream = localization.get("stprompt", {})
    for key, measure in (("tiou", "TIoU"), ("rbdc", "RBDC"), ("tbdc", "TBDC"), ("pixel_auc", "pixel AUC")):
        reported = paper.get(measure, {})
        if key not in stream and not reported:
            continue
        rows.append({"measure": measure, "method": "STPrompt",
                     col_p: f"{reported['STPrompt']:.2f}" if "STPrompt" in reported else "—",
                     col_s: percent(stream.get(key))})
        if measure == "TIoU":
            # the paper's temporal-only methods: their own temporal scores with whole-frame boxes,
            # which 05_localization does not run (it gates every localizer with STPrompt's scores)
            rows += [{"measure": measure, "method": m, col_p: f"{reported[m]:.2f}", col_s: "—"}
                     for m in ("VadCLIP", "Sultani MIL") if m in reported]
            if "tiou" in localization.get("whole_frame", {}):
                rows.append({"measure": measure, "method": "whole-frame boxes on STPrompt's scores (ours)",
                             col_p: "—", col_s: percent(localization["whole_frame"]["tiou"])})
    return rows


def read_table_rows(path: str | Path, key: str) -> dict[str, dict[str, str]]:
    """``{row[key]: row}`` of a saved CSV table (empty when the file is missing)."""
    import csv

    path = Path(path)
    if not path.is_file():
        return {}
    with open(path, newline="") as fh:
        return {row[key]: {k: v for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(fh)}


def run_description(dataset: str, metrics: Mapping[str, Any], profile: Any) -> list[str]:
    """The sentences that say what a real profile's run is: dataset, backbone and weights hash,
    frame convention, boxes, θ rule (from ``metrics.json``, else from the profile)."""
    from .datasets import describe_reader

    data = metrics.get("data", {})
    reader = data.get("reader") or describe_reader(dataset, getattr(profile, "reader", {}))
    extraction = metrics.get("features", {}).get("extraction", {})
    backbone = next((v.get("backbone") for v in extraction.values() if isinstance(v, dict) and v.get("backbone")),
                    None)
    convention = FRAME_CONVENTION_NOTES.get((dataset, reader.get("frame_convention"))) or \
        FRAME_CONVENTION_NOTES.get((dataset, None), "as the reader documents it")
    lines = [f"- **Dataset**: {DATASET_NAMES[dataset]} (real data), reader `stprompt.datasets.{dataset}` with the "
             f"options `{ {k: v for k, v in reader.items() if v not in ('', None, False)} }`."]
    if backbone:
        lines.append(f"- **Backbone**: `{backbone.get('backbone')}`, weights `{backbone.get('weights')}`.")
    else:
        lines.append("- **Backbone**: not recorded (run `01_data_prep` of this profile).")
    lines.append(f"- **Frame convention**: {convention}.")
    if dataset in BOX_NOTES:
        lines.append(f"- **Boxes**: {BOX_NOTES[dataset]}.")
    rule = metrics.get("localization", {}).get("theta_rule")
    if rule in THETA_NOTES:
        lines.append(f"- **θ** (the spatial stream's temporal gate): {THETA_NOTES[rule]}.")
    return lines


def scale_finding(series: Mapping[str, Sequence[Mapping]]) -> str:
    """One generated sentence on the sweep: each method at the smallest and largest anomalies."""
    parts = []
    for metric, label in ABLATION_PLOT_METRICS.items():
        ends = []
        for name, pts in series.items():
            pts = sorted((p for p in pts if metric in p["mean"]), key=lambda p: p["x"])
            if pts:
                ends.append((name.split(" ")[0], pts[0], pts[-1]))
        if len(ends) >= 2:
            lo = ", ".join(f"{n} {_pm(a['mean'], a['std'], metric)}" for n, a, _ in ends)
            hi = ", ".join(f"{n} {_pm(b['mean'], b['std'], metric)}" for n, _, b in ends)
            parts.append(f"{label} at the smallest anomalies (median {ends[0][1]['x']:.2f} % of the frame): {lo}; "
                         f"at the largest ({ends[0][2]['x']:.2f} %): {hi}.")
    return " ".join(parts)


def paper_other_datasets() -> list[dict]:
    rows = []
    for ds in ("ShanghaiTech", "UBnormal"):
        for method, v in PAPER_NUMBERS[ds]["frame AUC"].items():
            rows.append({"dataset (real)": ds, "method": method, "paper: frame AUC": f"{v:.2f}"})
    return rows


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

def build_results_page(run_dir: str | Path, out_dir: str | Path, profile: Any,
                       ablations: Sequence[str] = (), max_width: int = 1400) -> dict[str, Any]:
    """Gather every table and figure of ``run_dir`` into ``out_dir`` and write ``README.md`` (see
    the module docstring). Returns ``{"tables": [...], "figures": [...], "grids": [...], "page": path}``."""
    from . import viz
    from .report import table_csv, table_latex, table_markdown

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

    grids = collect_grids(ablations, profile) if ablations else []
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
                                                title="SynthVAD: STPrompt vs VadCLIP-style as anomalies shrink "
                                                      "(mean ± std over seeds)"), "anomaly_scale")
                save_tab(scale_table(series), "anomaly_scale", "Anomaly-scale sweep (SynthVAD)")
            continue
        save_fig(viz.ablation_bars(g["rows"], ABLATION_PLOT_METRICS, title=g["grid"].description,
                                   highlight=g["default"]), f"ablation_{name}")
        findings = [grid_finding(g["rows"], g["default"], m, label) for m, label in ABLATION_PLOT_METRICS.items()]
        sections.append("\n".join([
            f"### {g['grid'].description or name}", "",
            f"Grid `params/ablations/{name}.yaml`"
            + (f"; the profile's own configuration is `{g['default']}`." if g["default"] else "."),
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
    page = _page(run_dir, out_dir, profile, metrics, tables, figures, sections, series, dataset)
    return {"tables": tables, "figures": figures, "grids": [g["grid"].name for g in grids], "page": page}


def profile_dataset(profile: Any) -> str:
    """The dataset a profile reads (``synthvad`` when it names none, the notebooks' default)."""
    from .config import profile_datasets

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
          dataset: str = "synthvad") -> Path:
    from .report import table_markdown

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
                  f"{metrics.get('detection', {}).get('seeds', '?')}; mean ± std over seeds (sample std).", ""]
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
                  "One table per grid (`stprompt ablate params/ablations/<grid>.yaml`), mean ± std over seeds; "
                  "models are selected on validation, numbers are on test. Sentences are generated from the "
                  "numbers.", ""] + sections
    shown = {f for line in lines for f in figures if f"({f}.png)" in line}
    rest = [f for f in figures if f not in shown]
    if rest:
        lines += ["## Other figures", ""] + [f"![{f}]({f}.png)\n\n*{figure_notes.get(f, f)}*\n" for f in rest]
    lines += ["## Files", "",
              "Tables as Markdown, CSV and LaTeX in `tables/`: " + ", ".join(f"`{t}`" for t in tables) + ".", ""]
    return write_text(out_dir / "README.md", "\n".join(lines))

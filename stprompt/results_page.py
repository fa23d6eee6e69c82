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

import re
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
                    "the features allow. Within-video AUC: the mean over anomalous test videos of the AUC of "
                    "their own frames (does the score find the anomaly inside its video?). Δ: the difference to "
                    "the reference method with its 95 % interval.",
    "main_differences": "Every method's difference to the reference method on every metric (method − reference), "
                        "with its 95 % interval: *resolved* when the interval excludes 0.",
    "auc_split": "Pooled frame AUC split into its frame pairs: pooled = w · AUC(within-video pairs) + (1 − w) · "
                 "AUC(cross-video pairs), w the share of (anomalous, normal) frame pairs inside one video. With w "
                 "small, pooled AUC mostly says whether anomalous videos score higher than normal ones.",
    "per_class_auc": "Frame AUC per anomaly class (that class's anomalous test videos with every normal test video), "
                     "mean over seeds [95 % interval].",
    "training_runs": "Every training run: the epoch selected on validation and its validation score.",
    "localization": "Spatial localization on the test split with STPrompt's temporal scores and θ chosen on "
                    "validation: the training-free spatial stream against bare class names as queries and "
                    "appearance-free boxes (largest motion, whole frame, random window); Δ TIoU: the difference "
                    "to the spatial stream with its 95 % interval.",
    "localization_differences": "Every localizer's difference to the spatial stream on every localization metric "
                                "(localizer − stprompt), with its 95 % interval.",
    "dataset_summary": "The generated data: videos, snippets and annotated anomalous frames per split and class "
                       "(training videos carry video labels only).",
    "zero_shot": "The tiny CLIP pretrained by 00_pretrain_vlm: zero-shot accuracy on held-out captioned images "
                 "(which category; is the crop anomalous?).",
    "zero_shot_by_kind": "The same two accuracies on object-centred crops and on windows of the feature grid (the "
                         "images the spatial stream and SA2 ask the CLIP about).",
    "feature_probes": "What the features can tell apart with exact labels (a diagnostic, not a method): logistic "
                      "regressions cross-validated over videos (5 folds grouped by video), ROC-AUC over snippets — "
                      "the frame feature, SA2's input, the window holding the anomaly against normal videos' "
                      "windows, and the motion prior alone; per split and class (stprompt/probe.py). Every change to "
                      "the CLIP or the feature recipe shows here what it bought.",
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
TABLE_TITLES = {"main_results": "Detection", "main_differences": "Detection: differences to the reference",
                "auc_split": "Within- and cross-video pairs", "per_class_auc": "Detection per class",
                "training_runs": "Training runs", "localization_differences": "Localization: differences to the spatial stream",
                "localization": "Localization", "dataset_summary": "The data", "zero_shot": "The tiny CLIP",
                "zero_shot_by_kind": "The tiny CLIP on crops and on grid windows",
                "feature_probes": "What the features can tell apart (linear probes)", "motion_overlap": "The motion prior"}

#: Order of the sections of the page (names not listed come after, alphabetically).
TABLE_ORDER = ["main_results", "main_differences", "auc_split", "per_class_auc", "training_runs", "localization",
               "localization_differences", "dataset_summary",
               "zero_shot", "zero_shot_by_kind", "feature_probes", "motion_overlap"]
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
    """For each grid of the profile (``ablations`` entries): the grid, its summary
    (:func:`stprompt.ablate.grid_summary`: every configuration's numbers with their 95 % intervals
    and differences to the reference configuration), its rows, its output folder and the key of the
    reference configuration on the profile's own data (the *default*; ``None`` when none ran).

    The summary is the grid's ``summary.json`` when it describes the points finished now (the same
    configurations and seed counts), else it is computed again from the points' saved scores."""
    from .ablate import aggregate, grid_summary, load_grid, plan
    from .pipeline import grid_path

    out = []
    for entry in entries:
        grid = load_grid(grid_path(entry, f"profile {profile.name}"))
        points, _, out_dir = plan(grid, grid.source, profile)
        saved = out_dir / "summary.json"
        summary = read_json(saved) if saved.is_file() else None
        aggregated = aggregate(points, out_dir)
        if summary is None or [(r["key"], r["seeds"]) for r in summary.get("rows", [])] != \
                [(r["key"], r["seeds"]) for r in aggregated]:
            summary = grid_summary(points, out_dir, grid, profile)
        rows = summary["rows"]
        for r, a in zip(rows, aggregated):  # the JSON file sorts keys: keep the grid's order of switches
            r["switches"] = a["switches"]
        default = next((r["reference"] for r in rows if r.get("data", "") == "" and r.get("reference")), None)
        out.append({"grid": grid, "rows": rows, "out_dir": out_dir, "default": default, "summary": summary})
    return out


def _cell(row: Mapping[str, Any], m: str, digits: int = 3) -> str:
    """A configuration's number: ``mean ± std [95 % interval]`` where its scores were kept
    (``row["intervals"]``), else ``mean ± std`` over seeds; "—" when not measured."""
    from .stats import format_estimate

    if m in row.get("intervals", {}):
        return format_estimate(row["intervals"][m], digits)
    return _pm(row.get("mean", {}), row.get("std", {}), m, digits=digits)


def grid_finding(rows: Sequence[Mapping], default: str | None, metric: str = "auc_micro",
                 label: str = "frame AUC") -> str:
    """One generated sentence: the best and worst configuration by ``metric`` and the default's
    value (with their 95 % intervals where the rows carry them), then how many differences to the
    reference configuration are resolved; without intervals, a caution when the spread is within
    the seeds' noise."""
    done = [r for r in rows if metric in r["mean"]]
    if not done:
        return ""
    best = max(done, key=lambda r: r["mean"][metric])
    worst = min(done, key=lambda r: r["mean"][metric])
    text = f"{label}: best `{best['key']}` {_cell(best, metric)}"
    if worst is not best:
        text += f", lowest `{worst['key']}` {_cell(worst, metric)}"
    d = next((r for r in done if r["key"] == default), None)
    if d is not None and d is not best and d is not worst:
        text += f"; the default `{d['key']}` {_cell(d, metric)}"
    diffs = [r["difference"][metric] for r in done if metric in r.get("difference", {})]
    if diffs:
        resolved = sum(bool(e.get("resolved")) for e in diffs)
        text += (f" — {resolved} of {len(diffs)} difference{'s' if len(diffs) > 1 else ''} to the reference "
                 f"configuration resolved (95 % interval excludes 0)")
    elif worst is not best and not any(metric in r.get("intervals", {}) for r in done):
        gap = best["mean"][metric] - worst["mean"][metric]
        noise = max(best["std"].get(metric, 0.0), worst["std"].get(metric, 0.0))
        if gap <= noise:
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
            {"x": r["mean"]["median_area_pct"], "mean": r["mean"], "std": r["std"], "seeds": r["seeds"],
             "intervals": r.get("intervals", {}), "range": r["switches"].get("anomaly_area")})
    return series


def scale_table(series: Mapping[str, Sequence[Mapping]]) -> list[dict]:
    rows = []
    for name, pts in series.items():
        for p in sorted(pts, key=lambda p: p["x"]):
            rows.append({"method": name, "anomaly area range": "–".join(f"{a:g}" for a in p["range"] or []),
                         "median area (%)": f"{p['x']:.2f}",
                         "frame AUC": _cell(p, "auc_micro"), "TIoU": _cell(p, "tiou")})
    return rows


# --------------------------------------------------------------------------------------------
# The paper side by side
# --------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)")


def percent(text: str | float | None) -> str:
    """A table cell (or a float) in percent: ``"0.671 ± 0.046 [0.612, 0.720]"`` becomes
    ``"67.1 ± 4.6 [61.2, 72.0]"`` (every number of the cell, signs kept); None, "" and "—" → "—"."""
    if text is None or text == "" or text == "—":
        return "—"
    if isinstance(text, (int, float)):
        return f"{100 * float(text):.1f}"

    def scaled(m: re.Match) -> str:
        sign = m.group(0)[0] if m.group(0)[0] in "+-" else ""
        return f"{sign}{100 * abs(float(m.group(0))):.1f}"

    return _NUMBER.sub(scaled, str(text))


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
                    vad_tiou = _cell(p, "tiou") if "tiou" in p["mean"] else None
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
            lo = ", ".join(f"{n} {_cell(a, metric)}" for n, a, _ in ends)
            hi = ", ".join(f"{n} {_cell(b, metric)}" for n, _, b in ends)
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
# What the benchmark resolves
# --------------------------------------------------------------------------------------------

#: The differences each block of "What … resolves" lists (keys of :data:`stprompt.stats.METRIC_NAMES`):
#: detection in the main table, localization against the spatial stream; an ablation grid lists
#: those of :data:`stprompt.ablate.COMPARED`.
RESOLVE_DETECTION = ("auc_micro", "auc_within_video")
RESOLVE_LOCALIZATION = ("tiou", "rbdc", "tbdc", "pixel_auc")
RESOLVE_COLUMNS = ("comparison", "metric", "difference [95 % interval]", "verdict", "reading",
                   "test videos to resolve")


def comparison_rows(boot: Mapping[str, Any], metrics: Sequence[str], name: Any = str) -> list[dict]:
    """One row per compared configuration and metric of a bootstrap's differences (``boot``: what
    :func:`stprompt.stats.bootstrap` returns, or its copy in ``metrics.json`` / ``summary.json``:
    ``reference``, ``n_videos``, ``differences``), in :data:`RESOLVE_COLUMNS`: the comparison
    (``configuration − reference``, names through ``name``), the metric, the difference with its
    95 % interval, the verdict (``resolved`` when the interval excludes 0, else ``unresolved``),
    its reading (``higher``/``lower`` when resolved) and, for an unresolved difference, about how
    many test videos would resolve it (:func:`stprompt.stats.videos_to_resolve`; "—" otherwise, or
    where the difference is exactly 0). Configurations are listed in ``boot``'s order, the frame-label
    oracle last."""
    import math

    from .stats import METRIC_NAMES, claim_status, format_interval, verdict, videos_to_resolve

    ref = boot.get("reference")
    n_videos = int(boot.get("n_videos") or 0)
    rows = []
    for method in sorted(boot.get("differences", {}), key=lambda k: k == "oracle"):
        diffs = boot["differences"][method]
        for m in metrics:
            d = diffs.get(m)
            if not d or not math.isfinite(d.get("value", math.nan)):
                continue
            word = verdict(d)
            need = videos_to_resolve(d, n_videos) if word == "unresolved" and n_videos else None
            rows.append({"comparison": f"{name(method)} − {name(ref)}", "metric": METRIC_NAMES.get(m, m),
                         "difference [95 % interval]": format_interval(d, signed=True), "verdict": word,
                         "reading": {"holds": "higher", "fails": "lower"}.get(claim_status(d), "—")
                         if word == "resolved" else "—",
                         "test videos to resolve": f"≈ {need:,}" if need else "—"})
    return rows


def resolve_blocks(metrics: Mapping[str, Any], grids: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The blocks of "What … resolves", each ``{"table", "title", "reference", "n_videos", "rows"}``
    (rows of :func:`comparison_rows`): the main table (every method against its reference,
    ``metrics.json`` section ``detection.bootstrap``), the localizers against the spatial stream
    (``localization.bootstrap``) and each ablation grid's configurations against its reference, per
    data group (the grid's summary). A block whose numbers carry no intervals (a run older than
    them) is left out; one without any other configuration than its reference keeps empty rows."""
    from .ablate import COMPARED
    from .evaluation import display_name

    blocks = []
    det = metrics.get("detection", {}).get("bootstrap")
    if det and det.get("reference"):
        blocks.append({"table": "main_results", "title": f"Detection: every method against {det['reference']}",
                       "reference": det["reference"], "n_videos": det.get("n_videos"),
                       "rows": comparison_rows(det, RESOLVE_DETECTION, display_name)})
    loc = metrics.get("localization", {}).get("bootstrap")
    if loc and loc.get("reference"):
        blocks.append({"table": "localization",
                       "title": f"Localization: every localizer against the spatial stream ({loc['reference']})",
                       "reference": loc["reference"], "n_videos": loc.get("n_videos"),
                       "rows": comparison_rows(loc, RESOLVE_LOCALIZATION)})
    for g in grids:
        summary = g.get("summary") or {}
        name = g["grid"].name
        for group in summary.get("groups", []):
            if not group.get("reference"):
                continue
            rows = [r for r in summary["rows"] if r.get("data", "") == group["data"] and r.get("difference")]
            boot = {"reference": group["reference"], "n_videos": group["n_videos"],
                    "differences": {r["key"]: r["difference"] for r in rows}}
            title = f"Ablation `{name}`" + (f" on data `{group['data']}`" if group["data"] else "") + \
                f": every configuration against `{group['reference']}`"
            blocks.append({"table": f"ablation_{name}", "title": title, "reference": group["reference"],
                           "n_videos": group["n_videos"], "rows": comparison_rows(boot, COMPARED)})
    return blocks


def resolve_section(blocks: Sequence[Mapping[str, Any]], dataset: str = "synthvad") -> list[str]:
    """The lines of the section "What SynthVAD resolves" ("What this benchmark resolves" on a real
    profile): how to read it, how many comparisons are resolved (and which), and one table per
    block of :func:`resolve_blocks`."""
    from .report import table_markdown
    from .stats import BOOT_SEED, N_BOOT

    title = "What SynthVAD resolves" if dataset == "synthvad" else "What this benchmark resolves"
    lines = [f"## {title}", ""]
    if not blocks:
        return lines + ["No table of this run carries intervals yet (rerun `03_evaluate`, `05_localization` and "
                        "the ablation grids).", ""]
    rows = [r for b in blocks for r in b["rows"]]
    resolved = [(b, r) for b in blocks for r in b["rows"] if r["verdict"] == "resolved"]
    lines += [f"Every comparison of the page's tables as a difference to its table's reference (`configuration − "
              f"reference`) with its 95 % interval: a paired bootstrap of the test videos ({N_BOOT} resamples drawn "
              f"from seed {BOOT_SEED}, the same resamples for every row of a table; seeds folded in as their mean "
              f"on each resample; percentile interval). **resolved**: the interval excludes 0 (*higher* or "
              f"*lower*); **unresolved**: it holds 0, so the test set cannot tell the two apart — neither a win "
              f"nor a loss. *Test videos to resolve*: about how many test videos an unresolved difference would "
              f"need for its interval to exclude 0, if the effect and the per-video spread stayed as measured "
              f"(`n · (h / |d|)²`, `h` the interval's half-width on the side of 0; `stprompt.stats.videos_to_resolve`).",
              ""]
    text = (f"**{len(resolved)} of {len(rows)} comparison{'s' if len(rows) != 1 else ''} "
            f"{'is' if len(rows) == 1 else 'are'} resolved**")
    if resolved:
        text += ": " + "; ".join(f"{r['comparison']} on {r['metric']} {r['difference [95 % interval]']} ({r['reading']})"
                                 for _, r in resolved)
    lines += [text + ".", ""]
    for b in blocks:
        lines += [f"### {b['title']}", ""]
        if not b["rows"]:
            lines += [f"Only the reference `{b['reference']}` ran with intervals: nothing to compare.", ""]
            continue
        done = sum(r["verdict"] == "resolved" for r in b["rows"])
        lines += [f"{b['n_videos']} test videos; {done} of {len(b['rows'])} resolved.", "",
                  table_markdown([{k: r[k] for k in RESOLVE_COLUMNS} for r in b["rows"]]), ""]
    return lines


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
          dataset: str = "synthvad", resolves: Sequence[str] = ()) -> Path:
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

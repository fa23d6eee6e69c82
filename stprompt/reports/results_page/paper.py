"""The paper side by side: :data:`PAPER_NUMBERS` (PAPER.md, "Benchmarks and reported numbers": real
datasets, ViT-B/16 CLIP), the paper-vs-SynthVAD and paper-vs-dataset tables, and the sentences that
describe a run and the anomaly-scale finding.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from .ablations import _cell
from .notes import (ABLATION_PLOT_METRICS, BOX_NOTES, DATASET_NAMES, FRAME_CONVENTION_NOTES,
                    THETA_NOTES)


#: The paper's reported numbers (PAPER.md, "Benchmarks and reported numbers"): real datasets.
PAPER_NUMBERS: dict[str, dict[str, dict[str, float]]] = {
    "UCF-Crime": {"frame AUC": {"STPrompt": 88.08, "VadCLIP": 88.02},
                  "TIoU": {"STPrompt": 23.90, "VadCLIP": 22.05, "Sultani MIL": 16.82}},
    "ShanghaiTech": {"frame AUC": {"STPrompt": 97.81}},
    "UBnormal": {"frame AUC": {"STPrompt": 63.98, "OVVAD": 62.94, "VadCLIP": 62.32}},
}
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
    from ...datasets import describe_reader

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

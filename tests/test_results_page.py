"""The results page's pieces: generated sentences, the paper table, the sweep series, PNG export."""

from __future__ import annotations

import numpy as np
import pytest

from stprompt.reports.results_page import (PAPER_NUMBERS, export_png, grid_finding, paper_comparison, percent,
                                   read_table_column, scale_finding, scale_series, scale_table)


def _row(key, mean, std, seeds=3, **switches):
    return {"key": key, "switches": switches, "seeds": seeds, "mean": mean, "std": std}


def test_grid_finding_names_best_worst_default_and_noise():
    rows = [_row("sa2=true", {"auc_micro": 0.70}, {"auc_micro": 0.01}, sa2=True),
            _row("sa2=false", {"auc_micro": 0.60}, {"auc_micro": 0.02}, sa2=False)]
    text = grid_finding(rows, "sa2=true")
    assert text == "frame AUC: best `sa2=true` 0.700 ± 0.010, lowest `sa2=false` 0.600 ± 0.020."
    noisy = [_row("a=1", {"auc_micro": 0.65}, {"auc_micro": 0.05}), _row("a=2", {"auc_micro": 0.62}, {"auc_micro": 0.04}),
             _row("a=3", {"auc_micro": 0.61}, {"auc_micro": 0.04})]
    text = grid_finding(noisy, "a=2")
    assert "within one seed std" in text and "the default `a=2` 0.620" in text
    assert "the default" not in grid_finding(noisy, "a=3")  # the default is the lowest: said once
    assert grid_finding(rows, None, "tiou", "TIoU") == ""  # no row measured it


def test_paper_comparison_in_percent_with_std_and_the_sweep_at_the_profile_range(tmp_path):
    (tmp_path / "main.csv").write_text("method,seeds,frame AUC\nstprompt,3,0.671 ± 0.046\nvadclip,3,0.555 ± 0.062\n")
    detection = read_table_column(tmp_path / "main.csv", "method", "frame AUC")
    assert detection == {"stprompt": "0.671 ± 0.046", "vadclip": "0.555 ± 0.062"}
    assert read_table_column(tmp_path / "missing.csv", "method", "frame AUC") == {}
    series = {"VadCLIP-style (whole-frame boxes)": [
        {"x": 3.0, "range": [0.01, 0.06], "mean": {"tiou": 0.019}, "std": {"tiou": 0.002}},
        {"x": 0.5, "range": [0.0025, 0.01], "mean": {"tiou": 0.002}, "std": {"tiou": 0.001}}]}
    rows = paper_comparison(detection, {"stprompt": "0.082 ± 0.004"}, series, [0.01, 0.06])
    by = {(r["measure"], r["method"].split(" ")[0]): r for r in rows}
    assert by[("frame AUC", "STPrompt")]["paper: UCF-Crime (real)"] == "88.08"
    assert by[("frame AUC", "STPrompt")]["SynthVAD (synthetic, this run)"] == "67.1 ± 4.6"
    assert by[("TIoU", "STPrompt")]["SynthVAD (synthetic, this run)"] == "8.2 ± 0.4"
    assert by[("TIoU", "VadCLIP")]["SynthVAD (synthetic, this run)"] == "1.9 ± 0.2"
    assert by[("frame AUC", "Sultani")]["SynthVAD (synthetic, this run)"] == "—"  # MIL not in this table
    assert percent(0.5) == "50.0" and percent(None) == "—"
    assert PAPER_NUMBERS["UCF-Crime"]["TIoU"]["STPrompt"] == 23.90


def test_scale_series_groups_by_method_with_the_measured_area():
    rows = [_row("a", {"auc_micro": 0.6, "median_area_pct": 0.5}, {"auc_micro": 0.1}, anomaly_area=[0.0025, 0.01], method="stprompt"),
            _row("b", {"auc_micro": 0.5, "median_area_pct": 0.5}, {"auc_micro": 0.1}, anomaly_area=[0.0025, 0.01], method="vadclip"),
            _row("c", {"auc_micro": 0.7, "median_area_pct": 3.1}, {"auc_micro": 0.1}, anomaly_area=[0.01, 0.06], method="stprompt"),
            _row("d", {}, {}, seeds=0, anomaly_area=[0.06, 0.24], method="stprompt")]  # not run yet
    series = scale_series(rows)
    assert [p["x"] for p in series["STPrompt"]] == [0.5, 3.1] and len(series["VadCLIP-style (whole-frame boxes)"]) == 1
    assert scale_finding(series) == ("frame AUC at the smallest anomalies (median 0.50 % of the frame): STPrompt "
                                     "0.600 ± 0.100, VadCLIP-style 0.500 ± 0.100; at the largest (3.10 %): STPrompt "
                                     "0.700 ± 0.100, VadCLIP-style 0.500 ± 0.100.")
    table = scale_table(series)
    assert table[0] == {"method": "STPrompt", "anomaly area range": "0.0025–0.01", "median area (%)": "0.50",
                        "frame AUC": "0.600 ± 0.100", "TIoU": "—"}


def test_export_png_downscales_and_keeps_the_picture(tmp_path):
    from PIL import Image

    img = np.zeros((300, 2000, 3), np.uint8)
    img[:, 1000:] = (200, 30, 30)
    Image.fromarray(img).save(tmp_path / "a.png")
    out = export_png(tmp_path / "a.png", tmp_path / "b.png", max_width=500)
    with Image.open(out) as im:
        assert im.size == (500, 75) and im.mode == "P"
        rgb = np.asarray(im.convert("RGB"))
    assert tuple(rgb[10, 400]) == (200, 30, 30) and tuple(rgb[10, 50]) == (0, 0, 0)


def test_ablation_and_sweep_figures_draw_error_bars():
    from stprompt.reports import viz

    rows = [_row("k=1", {"auc_micro": 0.6, "tiou": 0.05}, {"auc_micro": 0.02, "tiou": 0.01}),
            _row("k=3", {"auc_micro": 0.7, "tiou": 0.08}, {"auc_micro": 0.03, "tiou": 0.01})]
    fig = viz.ablation_bars(rows, {"auc_micro": "frame AUC", "tiou": "TIoU", "rbdc": "RBDC"}, highlight="k=3")
    assert len(fig.axes) == 2  # RBDC measured by no row: no panel
    from matplotlib.container import ErrorbarContainer

    bars = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1 and len(bars[0].lines[2][0].get_segments()) == 2  # one error bar per configuration
    fig = viz.scale_sweep_figure({"STPrompt": [{"x": 0.5, "mean": {"auc_micro": 0.6}, "std": {"auc_micro": 0.1}},
                                               {"x": 3.0, "mean": {"auc_micro": 0.7}, "std": {"auc_micro": 0.1}}]},
                                 {"auc_micro": "frame AUC"})
    assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(KeyError):
        viz.scale_sweep_figure({"x": [{"mean": {"auc_micro": 1}}]}, {"auc_micro": "frame AUC"})


def test_a_real_profile_gets_the_paper_numbers_of_its_own_dataset():
    from stprompt.reports.results_page import paper_comparison_real, run_description

    ucf = paper_comparison_real("ucf_crime", {"stprompt": "0.812 ± 0.010", "vadclip": "0.800"},
                                {"stprompt": {"tiou": "0.150"}, "whole_frame": {"tiou": "0.050"}})
    by = {(r["measure"], r["method"]): r for r in ucf}
    assert by[("frame AUC", "STPrompt")] == {"measure": "frame AUC", "method": "STPrompt", "paper: UCF-Crime": "88.08",
                                             "this run: UCF-Crime": "81.2 ± 1.0"}
    assert by[("TIoU", "STPrompt")]["paper: UCF-Crime"] == "23.90" and by[("TIoU", "STPrompt")]["this run: UCF-Crime"] == "15.0"
    # the paper's VadCLIP TIoU uses VadCLIP's own scores: not run here, so not set beside ours
    assert by[("TIoU", "VadCLIP")]["this run: UCF-Crime"] == "—"
    assert by[("TIoU", "whole-frame boxes on STPrompt's scores (ours)")]["paper: UCF-Crime"] == "—"
    assert not any(r["measure"] in ("RBDC", "pixel AUC") for r in ucf)  # neither reported nor measured
    sht = paper_comparison_real("shanghaitech", {"stprompt": "0.9"}, {"stprompt": {"rbdc": "0.2", "pixel_auc": "0.7"}})
    assert [(r["measure"], r["paper: ShanghaiTech"], r["this run: ShanghaiTech"]) for r in sht] == [
        ("frame AUC", "97.81", "90.0"), ("RBDC", "—", "20.0"), ("pixel AUC", "—", "70.0")]
    ub = paper_comparison_real("ubnormal", {"stprompt": "0.6"}, {})
    assert [(r["method"], r["paper: UBnormal"]) for r in ub] == [("STPrompt", "63.98"), ("OVVAD", "62.94"),
                                                                 ("VadCLIP (ours: VadCLIP-style)", "62.32")]

    class Prof:
        reader = {"frame_convention": "vadclip"}

    text = "\n".join(run_description("ucf_crime", {"features": {"extraction": {"test": {"backbone": {
        "backbone": "ViT-B-16", "weights": "file:ViT-B-16.pt#0123456789abcdef"}}}},
        "localization": {"theta_rule": "video_labels"}}, Prof()))
    assert "`ViT-B-16`, weights `file:ViT-B-16.pt#0123456789abcdef`" in text
    assert "VadCLIP's `gt[s:e]`" in text and "held-out training videos" in text and "synthetic" not in text


def _diff(value, lo, hi):
    return {"value": value, "lo": lo, "hi": hi, "resolved": bool(lo > 0 or hi < 0)}


def _hand_made_metrics():
    """A metrics.json as 03 and 05 write it, with hand-chosen differences: MIL resolved below
    STPrompt, VadCLIP-style unresolved (half-width toward 0 twice its effect: 4 × the 90 videos),
    the oracle resolved above, a within-video difference of exactly 0, and the whole frame resolved
    below the spatial stream in TIoU (its RBDC undefined)."""
    est = {"value": 0.6, "lo": 0.55, "hi": 0.65, "std": 0.01, "per_seed": [0.59, 0.61]}
    detection = {"n_boot": 1000, "seed": 0, "level": 0.95, "n_videos": 90, "reference": "stprompt",
                 "methods": {m: {"auc_micro": est, "auc_within_video": est} for m in ("mil", "oracle", "stprompt", "vadclip")},
                 "differences": {"mil": {"auc_micro": _diff(-0.05, -0.09, -0.01), "auc_within_video": _diff(0.0, -0.01, 0.01)},
                                 "oracle": {"auc_micro": _diff(0.08, 0.03, 0.13)},
                                 "vadclip": {"auc_micro": _diff(-0.02, -0.06, 0.02)}}}
    localization = {"n_boot": 1000, "seed": 0, "level": 0.95, "n_videos": 90, "reference": "stprompt",
                    "methods": {m: {"tiou": est} for m in ("stprompt", "whole_frame")},
                    "differences": {"whole_frame": {"tiou": _diff(-0.06, -0.08, -0.04),
                                                    "rbdc": {"value": float("nan"), "lo": float("nan"),
                                                             "hi": float("nan"), "resolved": False}}}}
    return {"detection": {"bootstrap": detection, "seeds": [0, 1]}, "localization": {"bootstrap": localization}}


def test_the_resolves_section_labels_each_difference_and_the_videos_an_unresolved_one_needs():
    from types import SimpleNamespace

    from stprompt.reports.results_page import RESOLVE_COLUMNS, resolve_blocks, resolve_section

    grid = {"grid": SimpleNamespace(name="sa2"), "summary": {
        "groups": [{"data": "", "reference": "sa2=true", "n_videos": 40, "configurations": ["sa2=true", "sa2=false"]}],
        "rows": [{"key": "sa2=true", "data": "", "reference": "sa2=true", "difference": {}},
                 {"key": "sa2=false", "data": "", "reference": "sa2=true",
                  "difference": {"auc_micro": _diff(-0.03, -0.045, -0.015), "tiou": _diff(0.01, -0.02, 0.04)}},
                 # a switch that does not act on detection: the same scores as the reference on every resample
                 {"key": "queries=names", "data": "", "reference": "sa2=true",
                  "difference": {"auc_micro": _diff(0.0, 0.0, 0.0), "tiou": _diff(-0.01, -0.02, -0.005)}}]}}
    blocks = resolve_blocks(_hand_made_metrics(), [grid])
    assert [b["table"] for b in blocks] == ["main_results", "localization", "ablation_sa2"]
    det = {(r["comparison"], r["metric"]): r for r in blocks[0]["rows"]}
    assert list(det) == [("mil − stprompt", "frame AUC"), ("mil − stprompt", "within-video AUC"),
                         ("vadclip − stprompt", "frame AUC"),
                         ("oracle (frame labels; upper bound) − stprompt", "frame AUC")]  # the oracle last
    assert det[("mil − stprompt", "frame AUC")] == {
        "comparison": "mil − stprompt", "metric": "frame AUC", "difference [95 % interval]": "-0.050 [-0.090, -0.010]",
        "verdict": "resolved", "reading": "lower", "test videos to resolve": "—"}
    vad = det[("vadclip − stprompt", "frame AUC")]
    assert (vad["verdict"], vad["reading"], vad["test videos to resolve"]) == ("unresolved", "—", "≈ 360")
    zero = det[("mil − stprompt", "within-video AUC")]
    assert (zero["verdict"], zero["test videos to resolve"]) == ("unresolved", "—")  # no effect to resolve
    assert det[("oracle (frame labels; upper bound) − stprompt", "frame AUC")]["reading"] == "higher"
    assert [(r["comparison"], r["metric"], r["verdict"]) for r in blocks[1]["rows"]] == [
        ("whole_frame − stprompt", "TIoU", "resolved")]  # the undefined RBDC is not listed
    # the grid's 40 videos: TIoU half-width toward 0 is 0.03, three times the effect -> 9 x 40
    assert [(r["comparison"], r["metric"], r["verdict"], r["test videos to resolve"]) for r in blocks[2]["rows"]] == [
        ("sa2=false − sa2=true", "frame AUC", "resolved", "—"), ("sa2=false − sa2=true", "TIoU", "unresolved", "≈ 360"),
        ("queries=names − sa2=true", "frame AUC", "identical", "—"), ("queries=names − sa2=true", "TIoU", "resolved", "—")]
    text = "\n".join(resolve_section(blocks))
    assert text.startswith("## What SynthVAD resolves")
    # identical rows are neither counted nor listed as results
    assert "**5 of 8 comparisons are resolved** (1 more is *identical*" in text
    assert "- Detection: every method against stprompt: mil − stprompt on frame AUC -0.050 [-0.090, -0.010] (lower);" in text
    assert "### Ablation `sa2`: every configuration against `sa2=true`" in text
    assert "40 test videos; 2 of 3 resolved; 1 identical." in text
    assert "| queries=names − sa2=true | frame AUC | +0.000 [+0.000, +0.000] | identical | — | — |" in text
    assert "| " + " | ".join(RESOLVE_COLUMNS) + " |" in text
    assert "| vadclip − stprompt | frame AUC | -0.020 [-0.060, +0.020] | unresolved | — | ≈ 360 |" in text
    real = "\n".join(resolve_section(blocks[:1], "ucf_crime"))
    assert real.startswith("## What this benchmark resolves") and "SynthVAD" not in real
    only = resolve_blocks({"detection": {"bootstrap": {**_hand_made_metrics()["detection"]["bootstrap"],
                                                        "differences": {}}}}, [])
    assert "Only the reference `stprompt` ran with intervals: nothing to compare." in "\n".join(resolve_section(only))
    assert resolve_blocks({"detection": {"per_method_mean": {}}}, []) == []  # a run without intervals


def test_the_page_shows_the_resolves_section_and_the_tables_intervals(tmp_path):
    from stprompt.config import load_profile
    from stprompt.io import write_json
    from stprompt.reports.tables import table_csv, table_markdown
    from stprompt.reports.results_page import build_results_page, read_table_rows

    run = tmp_path / "run"
    write_json(run / "metrics.json", _hand_made_metrics())
    (run / "tables").mkdir()
    main = [{"method": "stprompt", "frame AUC": "0.600 ± 0.010 [0.550, 0.650]"}]
    (run / "tables" / "main_results.md").write_text(table_markdown(main))
    (run / "tables" / "main_results.csv").write_text(table_csv(main))
    page = build_results_page(run, tmp_path / "page", load_profile("smoke"))
    text = page["page"].read_text()
    head, rest = text.split("## What SynthVAD resolves", 1)
    assert "## The paper side by side" in rest and "## The paper side by side" not in head  # the section comes first
    assert "| mil − stprompt | frame AUC | -0.050 [-0.090, -0.010] | resolved | lower | — |" in rest
    assert "| vadclip − stprompt | frame AUC | -0.020 [-0.060, +0.020] | unresolved | — | ≈ 360 |" in rest
    assert "| stprompt | 0.600 ± 0.010 [0.550, 0.650] |" in rest  # the saved table, intervals kept
    saved = read_table_rows(tmp_path / "page" / "tables" / "resolved_comparisons.csv", "comparison")
    assert saved["whole_frame − stprompt"]["table"] == "localization" and "resolved_comparisons" in page["tables"]
    import csv

    with open(tmp_path / "page" / "tables" / "paper_vs_synthvad.csv", newline="") as fh:
        paper = {(r["measure"], r["method"]): r for r in csv.DictReader(fh)}
    assert paper[("frame AUC", "STPrompt")]["SynthVAD (synthetic, this run)"] == "60.0 ± 1.0 [55.0, 65.0]"


def test_grid_findings_and_charts_use_the_intervals_when_the_scores_were_kept():
    from matplotlib.container import ErrorbarContainer

    from stprompt.reports import viz

    rows = [{**_row("sa2=true", {"auc_micro": 0.70}, {"auc_micro": 0.01}, sa2=True),
             "intervals": {"auc_micro": {"value": 0.70, "lo": 0.62, "hi": 0.75, "std": 0.01, "per_seed": [0.69, 0.71]}},
             "difference": {}},
            {**_row("sa2=false", {"auc_micro": 0.60}, {"auc_micro": 0.02}, sa2=False),
             "intervals": {"auc_micro": {"value": 0.60, "lo": 0.50, "hi": 0.68, "std": 0.02, "per_seed": [0.58, 0.62]}},
             "difference": {"auc_micro": _diff(-0.10, -0.16, -0.03)}}]
    assert grid_finding(rows, "sa2=true") == (
        "frame AUC: best `sa2=true` 0.700 ± 0.010 [0.620, 0.750], lowest `sa2=false` 0.600 ± 0.020 [0.500, 0.680] "
        "— 1 of 1 difference to the reference configuration resolved (95 % interval excludes 0).")
    fig = viz.ablation_bars(rows, {"auc_micro": "frame AUC"}, highlight="sa2=true")
    bars = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)][0]
    ends = sorted(tuple(np.round(sorted(seg[:, 1]), 6)) for seg in bars.lines[2][0].get_segments())
    assert ends == [(0.5, 0.68), (0.62, 0.75)]  # whiskers at the intervals, not at ± std
    subtitle = fig._suptitle.get_text()
    assert "mean over 3 seeds; whiskers: 95 % interval" in subtitle.replace("\n", " ")
    # wrapped to the width of a one-panel chart, so that no line runs off the figure
    assert len(subtitle.splitlines()) >= 2 and max(map(len, subtitle.splitlines())) <= fig.get_figwidth() * 14
    assert fig.axes[0].get_xlabel() == "sa2"
    mixed = [rows[0], {**rows[1], "switches": {"patch_mode": "tokens", "localize": True}}]
    assert viz.ablation_bars(mixed, {"auc_micro": "frame AUC"}).axes[0].get_xlabel() == \
        "configuration (its switch values)"  # no one switch name describes every bar
    series = scale_series([{**rows[0], "switches": {"anomaly_area": [0.01, 0.06]},
                            "mean": {"auc_micro": 0.7, "median_area_pct": 3.0}}])
    assert scale_table(series)[0]["frame AUC"] == "0.700 ± 0.010 [0.620, 0.750]"

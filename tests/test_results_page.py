"""The results page's pieces: generated sentences, the paper table, the sweep series, PNG export."""

from __future__ import annotations

import numpy as np
import pytest

from stprompt.results_page import (PAPER_NUMBERS, export_png, grid_finding, paper_comparison, percent,
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
    from stprompt import viz

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
    from stprompt.results_page import paper_comparison_real, run_description

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

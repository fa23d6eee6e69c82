"""Figures: functions that take data and return matplotlib Figures (never shown, never global state).

Built on ``matplotlib.figure.Figure`` directly, not pyplot, so they work under any backend (Agg in
tests and papermill) and do not accumulate open figures; Jupyter displays a returned Figure inline.
Save them with ``fig.savefig`` (or :mod:`stprompt.reports.tables`).
"""

from __future__ import annotations

import textwrap

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def _image_cells(fig: Figure, n: int, ncols: int) -> list:
    """``n`` tick-free axes in a grid of ``ncols`` columns; unused cells are switched off."""
    axes = fig.subplots(-(-n // ncols), ncols, squeeze=False).flat
    cells = []
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
        else:
            cells.append(ax)
    return cells


def _as_sample(item) -> dict:
    if isinstance(item, Mapping):
        return dict(item)
    frame, box, *rest = item
    return {"frame": frame, "box": box, "title": rest[0] if rest else None}


def sample_frame_grid(samples: Mapping[str, Sequence], ncols: int | None = None,
                      title: str = "SynthVAD: sample frames with ground-truth boxes",
                      box_color: str = "lime", cell_inches: float = 2.2) -> Figure:
    """A grid of frames, one row per class, with the ground-truth anomaly box drawn.

    Args:
        samples: class name -> list of samples; a sample is ``(frame, box)``,
            ``(frame, box, title)`` or a dict with keys ``frame`` ((H, W, 3) uint8), ``box``
            ((x1, y1, x2, y2) pixels, x2/y2 exclusive, or None/NaN for none) and optional ``title``.
        ncols: columns (default: the longest row).
        title: figure title.
        box_color: colour of the box outline.
    """
    rows = [(cls, [_as_sample(s) for s in items]) for cls, items in samples.items()]
    if not rows:
        raise ValueError("sample_frame_grid: no samples")
    ncols = ncols or max(len(items) for _, items in rows)
    h, w = np.asarray(rows[0][1][0]["frame"]).shape[:2] if rows[0][1] else (120, 160)
    fig = Figure(figsize=(ncols * cell_inches, len(rows) * cell_inches * h / w + 0.6),
                 layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), ncols, squeeze=False))
    drawn_box = False
    for r, (cls, items) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c >= len(items):
                continue
            s = items[c]
            ax.imshow(np.asarray(s["frame"]), interpolation="nearest")
            box = s.get("box")
            if box is not None and not np.isnan(np.asarray(box, float)).any():
                x1, y1, x2, y2 = (float(v) for v in box)
                ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                                       edgecolor=box_color, linewidth=1.2,
                                       label=None if drawn_box else "ground-truth box"))
                drawn_box = True
            if s.get("title"):
                ax.set_title(s["title"], fontsize=7)
            if c == 0:
                ax.set_ylabel(cls, fontsize=9)
    if drawn_box:
        fig.legend(loc="outside lower center", fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    return fig


def anomaly_area_hist(area_fracs_by_class: Mapping[str, Sequence[float]], bins: int | Sequence[float] = 20,
                      area_range: tuple[float, float] | None = None,
                      title: str = "SynthVAD: anomalies are small (cf. STPrompt Fig. 1)",
                      unit: str = "videos") -> Figure:
    """Distribution of the anomaly box area as a percentage of the frame area, per class.

    Args:
        area_fracs_by_class: class -> box area / frame area values (fractions in [0, 1]), e.g. the
            ``anomaly_area_frac`` of each video in ``meta.json`` or per-frame fractions.
        bins: number of bins or bin edges (in percent).
        area_range: the configured range (fractions), shaded.
        unit: what one value counts (y-axis label), e.g. "videos" or "anomalous frames".
    """
    data = {k: np.asarray([v for v in vals if v is not None], float) * 100
            for k, vals in area_fracs_by_class.items()}
    data = {k: v for k, v in data.items() if v.size}
    if not data:
        raise ValueError("anomaly_area_hist: no area values")
    allv = np.concatenate(list(data.values()))
    if np.isscalar(bins):
        hi = max(float(allv.max()), area_range[1] * 100 if area_range else 0) * 1.05
        bins = np.linspace(0, hi if hi > 0 else 1, int(bins) + 1)
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    if area_range is not None:
        ax.axvspan(area_range[0] * 100, area_range[1] * 100, color="tab:gray", alpha=0.15, zorder=0,
                   label=f"configured range {area_range[0] * 100:g}-{area_range[1] * 100:g} %")
    ax.hist(list(data.values()), bins=bins, stacked=True, label=list(data.keys()), zorder=2)
    median = float(np.median(allv))
    ax.axvline(median, color="k", linestyle="--", linewidth=1, zorder=3,
               label=f"median {median:.2f} % of the frame")
    ax.set_xlabel("anomaly box area (% of frame area)")
    ax.set_ylabel(f"number of {unit}")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    return fig


def window_average_map(values: Sequence[float], boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """A per-pixel map: the mean of the values of the windows covering each pixel (NaN where none)."""
    acc = np.zeros((height, width))
    cnt = np.zeros((height, width))
    for v, (x1, y1, x2, y2) in zip(values, np.asarray(boxes, int)):
        acc[y1:y2, x1:x2] += v
        cnt[y1:y2, x1:x2] += 1
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)


def motion_windows_figure(samples: Sequence[Mapping], k: int = 3,
                          title: str = "Motion prior and the windows SA2 picks") -> Figure:
    """One row per sample: the frame with its window grid, the top-``k`` motion windows (what SA2
    aggregates) and the ground-truth box; next to it, the motion prior as a map.

    Each sample is a dict with ``frame`` (H, W, 3) uint8, ``boxes`` (G, 4) window boxes,
    ``motion`` (G,) motion prior of the snippet, ``gt_box`` (4,) or None, and ``title``.
    """
    if not samples:
        raise ValueError("motion_windows_figure: no samples")
    h, w = np.asarray(samples[0]["frame"]).shape[:2]
    fig = Figure(figsize=(7.2, 2.6 * len(samples) * h / w + 0.8), layout="constrained")
    axes = fig.subplots(len(samples), 2, squeeze=False)
    for row, s in zip(axes, samples):
        boxes = np.asarray(s["boxes"])
        motion = np.asarray(s["motion"], float)
        top = np.argsort(-motion, kind="stable")[:k]
        ax = row[0]
        ax.imshow(np.asarray(s["frame"]), interpolation="nearest")
        for g, (x1, y1, x2, y2) in enumerate(boxes):
            chosen = g in top
            ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                                   edgecolor="orange" if chosen else "white",
                                   linewidth=1.8 if chosen else 0.4, alpha=1.0 if chosen else 0.6,
                                   label=f"top-{k} motion windows" if chosen and g == top[0] else None))
        gt = s.get("gt_box")
        if gt is not None and not np.isnan(np.asarray(gt, float)).any():
            x1, y1, x2, y2 = (float(v) for v in gt)
            ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor="lime",
                                   linewidth=1.5, linestyle="--", label="ground-truth box"))
        ax.set_title(s.get("title", ""), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        im = row[1].imshow(window_average_map(motion, boxes, h, w), cmap="magma", interpolation="nearest")
        row[1].set_xticks([])
        row[1].set_yticks([])
        row[1].set_title("motion prior (mean over covering windows)", fontsize=8)
        fig.colorbar(im, ax=row[1], shrink=0.8, label="L2 frame difference")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    return fig


def zero_shot_figure(images: Sequence[np.ndarray], truths: Sequence[str],
                     top_matches: Sequence[Sequence[tuple[str, float]]], ncols: int = 6,
                     title: str = "Tiny CLIP zero-shot on held-out SynthVAD crops") -> Figure:
    """Crops with their best-matching text categories and probabilities; the title of each crop
    is its true category, green when the best match is right, red otherwise."""
    n = len(images)
    if n == 0:
        raise ValueError("zero_shot_figure: no images")
    nrows = -(-n // ncols)
    fig = Figure(figsize=(ncols * 1.9, nrows * 2.45 + 0.4), layout="constrained")
    for i, ax in enumerate(_image_cells(fig, n, ncols)):
        ax.imshow(np.asarray(images[i]), interpolation="nearest")
        best = top_matches[i][0][0] if top_matches[i] else ""
        ax.set_title(f"true: {truths[i]}", fontsize=8, color="green" if best == truths[i] else "red")
        ax.set_xlabel("\n".join(f"{t} {p:.2f}" for t, p in top_matches[i]), fontsize=7)
    fig.suptitle(title, fontsize=11)
    return fig


def training_curves(histories: Mapping[str, Sequence[Mapping]], best_epochs: Mapping[str, int] | None = None,
                    metric: str = "validation metric",
                    title: str = "Training: loss and validation score per epoch") -> Figure:
    """Loss (left) and validation score (right) per epoch for each run; the selected epoch of each
    run is marked with a dot on the validation curve."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_loss, ax_val = fig.subplots(1, 2)
    for i, (name, hist) in enumerate(histories.items()):
        color = f"C{i % 10}"
        trained = [h for h in hist if "loss" in h]
        if trained:
            ax_loss.plot([h["epoch"] for h in trained], [h["loss"] for h in trained], color=color, label=name)
        ax_val.plot([h["epoch"] for h in hist], [h["val"] for h in hist], color=color, label=name,
                    marker="." if len(hist) == 1 else None)
        if best_epochs and name in best_epochs:
            best = next(h for h in hist if h["epoch"] == best_epochs[name])
            ax_val.plot([best["epoch"]], [best["val"]], "o", color=color, markersize=6)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (mean over batches)")
    ax_val.set_xlabel("epoch (0 = before training)")
    ax_val.set_ylabel(metric)
    ax_val.legend(fontsize=8, frameon=False, title="dot = selected epoch", title_fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def roc_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]],
               title: str = "Frame-level ROC on the test split") -> Figure:
    """ROC curves: ``curves[name] = (fpr, tpr, auc)``."""
    fig = Figure(figsize=(5, 4.6), layout="constrained")
    ax = fig.add_subplot()
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", label="chance")
    ax.set_xlabel("false positive rate (normal frames)")
    ax.set_ylabel("true positive rate (anomalous frames)")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return fig


def score_curves_figure(videos: Sequence[Mapping], title: str = "Frame scores on test videos") -> Figure:
    """One panel per video: each method's frame score over time, ground-truth anomaly shaded.

    ``videos``: dicts with ``id``, ``labels`` (n_frames,) 0/1, ``scores`` {method: (n_frames,)},
    optional ``class_name``."""
    if not videos:
        raise ValueError("score_curves_figure: no videos")
    fig = Figure(figsize=(9, 1.9 * len(videos) + 0.6), layout="constrained")
    axes = fig.subplots(len(videos), 1, squeeze=False)[:, 0]
    for ax, v in zip(axes, videos):
        labels = np.asarray(v["labels"])
        x = np.arange(len(labels))
        ax.fill_between(x, 0, 1, where=labels > 0, color="red", alpha=0.15, step="mid",
                        label="ground-truth anomaly")
        for i, (name, s) in enumerate(v["scores"].items()):
            ax.plot(x, s, color=f"C{i % 10}", linewidth=1.2, label=name)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("anomaly score")
        ax.set_title(f"{v['id']}" + (f" ({v['class_name']})" if v.get("class_name") else ""), fontsize=9)
    axes[-1].set_xlabel("frame")
    handles, labels_ = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels_, loc="outside lower center", ncols=min(6, len(handles)), fontsize=8,
               frameon=False)
    fig.suptitle(title, fontsize=11)
    return fig


def localization_grid(samples: Sequence[Mapping], ncols: int = 4,
                      title: str = "Spatial stream: heat map, predicted box and ground truth") -> Figure:
    """Frames with the heat map overlaid, the predicted box (solid orange; absent when the snippet
    is below θ) and the ground-truth box (dashed green). Each sample: ``frame``, ``heat`` (H, W) in
    [0, 1], ``box`` (4,) or NaN, ``gt_box`` (4,), ``title``."""
    if not samples:
        raise ValueError("localization_grid: no samples")
    n = len(samples)
    nrows = -(-n // ncols)
    h, w = np.asarray(samples[0]["frame"]).shape[:2]
    fig = Figure(figsize=(ncols * 2.6, nrows * 2.6 * h / w + 0.8), layout="constrained")
    cells = _image_cells(fig, n, ncols)
    im = None
    for i, ax in enumerate(cells):
        s = samples[i]
        ax.imshow(np.asarray(s["frame"]), interpolation="nearest")
        im = ax.imshow(np.asarray(s["heat"]), cmap="jet", alpha=0.4, vmin=0, vmax=1, interpolation="nearest")
        for key, style in (("box", dict(edgecolor="orange", linewidth=1.8)),
                           ("gt_box", dict(edgecolor="lime", linewidth=1.4, linestyle="--"))):
            b = np.asarray(s.get(key), float) if s.get(key) is not None else None
            if b is not None and not np.isnan(b).any():
                ax.add_patch(Rectangle((b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1], fill=False,
                                       **style))
        ax.set_title(s.get("title", ""), fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=cells, shrink=0.6, label="window anomaly score (mass on abnormal queries)")
    from matplotlib.lines import Line2D

    fig.legend([Line2D([], [], color="orange", linewidth=1.8),
                Line2D([], [], color="lime", linewidth=1.4, linestyle="--")],
               ["predicted box (none when the snippet is below θ)", "ground-truth box"],
               loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    return fig


def theta_curve(thetas: Sequence[float], curves: Mapping[str, Sequence[float]], chosen: float,
                title: str = "TIoU as a function of the temporal threshold θ") -> Figure:
    """TIoU against θ for each split; the θ chosen on validation is marked."""
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for name, vals in curves.items():
        ax.plot(thetas, vals, label=name)
    ax.axvline(chosen, color="k", linestyle="--", linewidth=1, label=f"θ chosen on validation = {chosen:.2f}")
    ax.set_xlabel("temporal threshold θ (snippet score)")
    ax.set_ylabel("TIoU")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    return fig


def explorer_view(frame: np.ndarray, heat: np.ndarray, box, gt_box, scores: np.ndarray, labels: np.ndarray,
                  t: int, title: str = "") -> Figure:
    """One view of the localization explorer: the frame with heat map and boxes, and the score
    curve of the whole video with the ground truth shaded and the current frame marked."""
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax_img, ax_curve = fig.subplots(1, 2, width_ratios=[1, 1.6])
    ax_img.imshow(frame, interpolation="nearest")
    ax_img.imshow(heat, cmap="jet", alpha=0.4, vmin=0, vmax=1, interpolation="nearest")
    for b, style in ((box, dict(edgecolor="orange", linewidth=1.8)),
                     (gt_box, dict(edgecolor="lime", linewidth=1.4, linestyle="--"))):
        if b is not None and not np.isnan(np.asarray(b, float)).any():
            ax_img.add_patch(Rectangle((b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1], fill=False, **style))
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    ax_img.set_title(f"frame {t}", fontsize=9)
    x = np.arange(len(scores))
    ax_curve.fill_between(x, 0, 1, where=np.asarray(labels) > 0, color="red", alpha=0.15, step="mid",
                          label="ground-truth anomaly")
    ax_curve.plot(x, scores, label="temporal score")
    ax_curve.axvline(t, color="k", linewidth=1)
    ax_curve.set_ylim(-0.02, 1.02)
    ax_curve.set_xlabel("frame")
    ax_curve.set_ylabel("anomaly score")
    ax_curve.legend(fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def _whiskers(points: Sequence[Mapping], m: str) -> tuple[list[float], np.ndarray, bool]:
    """Heights and whiskers of metric ``m`` for ``points`` (rows with ``mean``, ``std`` and
    optionally ``intervals``, as :func:`stprompt.run.ablate.grid_summary` gives them): the 95 %
    intervals when every point that has the metric has one (``True``), else ± std over seeds."""
    ints = [p.get("intervals", {}).get(m) for p in points]
    has = [m in p["mean"] or m in p.get("intervals", {}) for p in points]
    ci = any(has) and all(e is not None and np.isfinite(e.get("lo", np.nan)) for e, h in zip(ints, has) if h)
    if ci:
        values = [e["value"] if e is not None else np.nan for e in ints]
        err = np.array([[v - e["lo"], e["hi"] - v] if e is not None else [0.0, 0.0] for v, e in zip(values, ints)]).T
    else:
        values = [p["mean"].get(m, np.nan) for p in points]
        err = np.array([[p["std"].get(m, 0.0)] * 2 for p in points]).T
    return values, err.reshape(2, len(points)), ci


def whisker_note(ci: bool, seeds: str) -> str:
    """What the bars (or points) and whiskers of :func:`ablation_bars` and
    :func:`scale_sweep_figure` are."""
    unit = "seed" if seeds == "1" else "seeds"
    return (f"mean over {seeds} {unit}; whiskers: 95 % interval (paired bootstrap of the test videos)" if ci
            else f"mean ± std over {seeds} {unit}")


def ablation_bars(rows: Sequence[Mapping], metrics: Mapping[str, str], title: str = "",
                  highlight: str | None = None) -> Figure:
    """One panel per metric: a bar per switch combination at its mean over seeds, with whiskers at
    its 95 % interval (``rows`` from :func:`stprompt.run.ablate.grid_summary`: ``key``, ``seeds``,
    ``mean``, ``std``, ``intervals``), or at ± std over seeds where the rows carry no intervals;
    the title says which. ``metrics`` maps metric keys to axis labels; metrics no row has are left
    out. ``highlight``: the key of the reference configuration, drawn darker."""
    present = [(m, label) for m, label in metrics.items()
               if any(m in r["mean"] or m in r.get("intervals", {}) for r in rows)]
    fig = Figure(figsize=(3.2 + 0.55 * len(rows) * len(present), 3.8), layout="constrained")
    axes = fig.subplots(1, max(1, len(present)), squeeze=False)[0]
    # bars are labelled by the switch values; the switch names go on the x axis
    # one switch list for all bars: name it; points with their own switches: say what a label holds
    names_per_row = {tuple(r.get("switches", {})) for r in rows}
    switch_names = (list(next(iter(names_per_row))) if len(names_per_row) == 1 else
                    ["configuration (its switch values)"]) if rows else []
    names = ["\n".join(_short(v) for v in r["switches"].values()) if r.get("switches") else r["key"]
             for r in rows]
    all_ci = bool(present)
    for ax, (m, label) in zip(axes, present):
        means, err, ci = _whiskers(rows, m)
        all_ci &= ci
        colors = ["#1f4e79" if r["key"] == highlight else "#7aa6d6" for r in rows]
        ax.bar(range(len(rows)), means, yerr=err, capsize=3, color=colors)
        finite = np.isfinite(means)
        lo = np.nanmin(np.asarray(means) - err[0]) if finite.any() else 0.0
        hi = np.nanmax(np.asarray(means) + err[1]) if finite.any() else 1.0
        pad = max(0.02, 0.15 * (hi - lo))
        ax.set_ylim(max(0.0, lo - pad), hi + pad)
        ax.set_xticks(range(len(rows)), names, fontsize=7)
        if switch_names:
            ax.set_xlabel(" / ".join(switch_names), fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    seeds = "/".join(map(str, sorted({r["seeds"] for r in rows})))
    note = whisker_note(all_ci, seeds) + ("; dark: the reference" if highlight else "")
    # wrapped to the figure's width (about 14 characters per inch at 9 pt): a one-panel chart of a
    # few bars is narrower than the note
    width = max(40, int(fig.get_figwidth() * 14))
    lines = [textwrap.fill(s, width) for s in ((title, note) if title else (note,))]
    fig.suptitle("\n".join(lines), fontsize=9)
    return fig


def _short(value) -> str:
    """A switch value as a bar label: lists as 3x4, booleans as on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def scale_sweep_figure(series: Mapping[str, Sequence[Mapping]], metrics: Mapping[str, str],
                       title: str = "Detection and localization as anomalies shrink") -> Figure:
    """The anomaly-scale sweep: per method a line through its points at the mean over seeds, one
    panel per metric, whiskers at the 95 % intervals (± std over seeds where the points carry no
    intervals; the title says which). ``series[method]`` is a list of ``{"x", "mean": {metric: v},
    "std": {metric: v}, "intervals": {metric: {"value", "lo", "hi"}}}`` with ``x`` the median
    anomaly area in percent of the frame (log axis)."""
    fig = Figure(figsize=(4.2 * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    markers = "osd^v<>"
    all_ci, seeds = True, set()
    for ax, (m, label) in zip(axes, metrics.items()):
        for i, (name, pts) in enumerate(series.items()):
            pts = sorted((p for p in pts if m in p["mean"] or m in p.get("intervals", {})), key=lambda p: p["x"])
            if not pts:
                continue
            values, err, ci = _whiskers(pts, m)
            all_ci &= ci
            seeds |= {p["seeds"] for p in pts if "seeds" in p}
            ax.errorbar([p["x"] for p in pts], values, yerr=err, marker=markers[i % len(markers)], capsize=3, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("median anomaly area (% of the frame, test split)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle(f"{title}\n{whisker_note(all_ci, '/'.join(map(str, sorted(seeds))) or 'the')}", fontsize=9)
    return fig

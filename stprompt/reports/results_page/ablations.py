"""The ablation grids on the results page: each grid's summary (configurations with their 95 %
intervals and differences to the reference), the sentence that states its finding, and the
anomaly-scale sweep's series and table.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def _pm(mean: Mapping[str, float], std: Mapping[str, float], m: str, scale: float = 1.0, digits: int = 3) -> str:
    if m not in mean:
        return "—"
    return f"{mean[m] * scale:.{digits}f} ± {std.get(m, 0.0) * scale:.{digits}f}"

def _cell(row: Mapping[str, Any], m: str, digits: int = 3) -> str:
    """A configuration's number: ``mean ± std [95 % interval]`` where its scores were kept
    (``row["intervals"]``), else ``mean ± std`` over seeds; "—" when not measured."""
    from ...stats import format_estimate

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

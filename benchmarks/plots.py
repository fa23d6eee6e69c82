"""Figures for the benchmark JSON records (each bench script calls these with ``--save``)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from stprompt.io import atomic_path


def stage_bar_figure(stages: dict[str, float], unit: str, title: str, note: str = "",
                     shares: bool = True) -> Figure:
    """Horizontal bars: cost per stage (e.g. ms per frame), with each stage's share of the total
    (``shares=False`` for values that do not add up, e.g. throughputs)."""
    names = list(stages)
    values = [float(stages[n]) for n in names]
    total = sum(values) or 1.0
    fig = Figure(figsize=(6.5, 0.5 + 0.45 * len(names)), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(names, values, color="tab:blue")
    for bar, v in zip(bars, values):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:.3g} ({v / total:.0%})" if shares else f" {v:.3g}",
                va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_xlim(0, max(values) * 1.35 if values else 1)
    ax.set_title(title + (f"\n{note}" if note else ""), fontsize=10)
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    return Path(path)


def save_result(name: str, record: dict, stages: dict[str, float] | None = None, unit: str = "",
                title: str = "", note: str = "", shares: bool = True) -> list[Path]:
    """Write ``benchmarks/results/<name>.json`` and, given ``stages``, its bar chart ``<name>.png``;
    report the paths on stderr."""
    import sys

    from stprompt.io import repo_root, write_json

    out = repo_root() / "benchmarks" / "results" / f"{name}.json"
    paths = [write_json(out, record)]
    if stages:
        paths.append(save(stage_bar_figure(stages, unit, title, note, shares), out.with_suffix(".png")))
    print("wrote " + " and ".join(str(p) for p in paths), file=sys.stderr)
    return paths

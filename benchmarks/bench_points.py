"""Where an ablation grid point's time goes, read from the executed notebooks of a finished run.

    python benchmarks/bench_points.py [--run-dir runs/synthvad] [--save]

Every grid point is one papermill execution of ``04_ablations`` (``<run_dir>/ablations/<grid>/<point>/
notebook.ipynb``); papermill records the wall time of the whole execution and of each cell. Per grid
this reports the mean over its points of:

- ``kernel_and_papermill_s``: the execution's wall time less the sum of its cells — starting the
  kernel, papermill's own work, shutting the kernel down;
- ``imports_and_load_s``: the cell that imports the library, builds the CLIP and loads the data and
  features (and, for a data or feature variant, makes it the first time);
- ``train_and_evaluate_s``: training (or reusing a shared model) and scoring the test videos;
- ``localize_s``: the spatial stream, for points that localize;
- ``other_cells_s``: the parameters cells and saving the scores;

and ``overhead_share`` = (kernel and papermill + imports and load) / wall time over all points: the
part of the grids that is not the experiment itself. Points run ``jobs`` at a time, so these are
wall times under that load. ``--save`` writes ``benchmarks/results/bench_points.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the code cells of 04_ablations in order: parameters, injected parameters, imports and data,
# training and test scores, localization, saving
CELL_NAMES = ("parameters", "injected", "imports_and_load", "train_and_evaluate", "localize", "save")


def point_times(path: Path) -> dict | None:
    """One executed point's wall time, its cells' times by :data:`CELL_NAMES` and whether it reused
    a shared model; ``None`` for a notebook papermill has not finished."""
    nb = json.loads(path.read_text())
    total = nb.get("metadata", {}).get("papermill", {}).get("duration")
    if total is None:
        return None
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    times = [float(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0) for c in cells]
    if len(times) != len(CELL_NAMES):
        raise SystemExit(f"{path}: {len(times)} code cells, expected the {len(CELL_NAMES)} of 04_ablations")
    text = "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []))
    named = dict(zip(CELL_NAMES, times))
    return {"total": float(total), "cells": named, "kernel_and_papermill": float(total) - sum(times),
            "reused_model": "(reused)" in text}


def summarize(run_dir: Path) -> dict:
    grids: dict[str, list[dict]] = {}
    for nb in sorted(run_dir.glob("ablations/*/*/notebook.ipynb")):
        t = point_times(nb)
        if t is not None:
            grids.setdefault(nb.parent.parent.name, []).append(t)
    if not grids:
        raise SystemExit(f"{run_dir}: no executed grid point (ablations/<grid>/<point>/notebook.ipynb)")

    def mean(xs):
        return round(statistics.fmean(xs), 2) if xs else 0.0

    out = {}
    for name, pts in grids.items():
        out[name] = {"points": len(pts), "reused_model": sum(p["reused_model"] for p in pts),
                     "wall_s": mean([p["total"] for p in pts]),
                     "kernel_and_papermill_s": mean([p["kernel_and_papermill"] for p in pts]),
                     "imports_and_load_s": mean([p["cells"]["imports_and_load"] for p in pts]),
                     "train_and_evaluate_s": mean([p["cells"]["train_and_evaluate"] for p in pts]),
                     "localize_s": mean([p["cells"]["localize"] for p in pts]),
                     "other_cells_s": mean([p["cells"]["parameters"] + p["cells"]["injected"] + p["cells"]["save"]
                                            for p in pts])}
    every = [p for pts in grids.values() for p in pts]
    wall = sum(p["total"] for p in every)
    overhead = sum(p["kernel_and_papermill"] + p["cells"]["imports_and_load"] for p in every)
    return {"run_dir": str(run_dir), "points": len(every), "sum_of_point_wall_s": round(wall, 1),
            "overhead_share": round(overhead / wall, 3) if wall else None, "grids": out}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default="runs/synthvad")
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args(argv)
    run_dir = Path(args.run_dir)
    result = summarize(run_dir if run_dir.is_absolute() else ROOT / run_dir)
    print(json.dumps(result, indent=2))
    if args.save:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from plots import save_result

        save_result("bench_points", result)
    return result


if __name__ == "__main__":
    main()

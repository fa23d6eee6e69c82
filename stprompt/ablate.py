"""Ablation batches: one executed notebook and one results folder per grid point.

A grid file (``params/ablations/<name>.yaml``)::

    description: SA2 on/off and K           # one line for the summary
    profile: synthvad                       # base profile: run folder and the notebook's parameters
    notebook: 04_ablations                  # the notebook run at every point
    seeds: [0, 1, 2]                        # every switch combination runs once per seed
    grid:                                   # cartesian product of these parameter values
      sa2: [true, false]
      sa2_k: [1, 3, 5]
    points:                                 # and/or explicit combinations
      - {branches: a, scoring: a}
    params: {epochs: 20}                    # fixed values for every point

The grid's ``profile`` is the one it runs against by default; ``stprompt ablate GRID --profile P``
and a profile that lists the grid in its ``ablations`` run it against that profile instead (its
data, reader options, features and run folder), so the stock grids serve every dataset (the
``anomaly_area`` points regenerate SynthVAD and are refused elsewhere). Each point gets the base
profile's parameters for that notebook, then ``params``, then its switch values, ``seed`` (``seed_param``) and ``result_dir`` (its own folder). Every key is checked
against the notebook's parameters cell, like a profile. Points run with papermill; a point whose
notebook, parameters, library source and upstream data are unchanged since it last finished is
skipped (resumable: an interrupted batch continues where it stopped). Every kernel computes with one
thread, so a point's numbers do not depend on the schedule; ``--jobs N`` runs N kernels at once;
``--shard i/n`` (1-based) runs every n-th point starting at the i-th, so any scheduler can split a
grid across machines. The summary reads ``metrics.json`` section ``ablation`` of every finished
point and averages over seeds: ``<out_dir>/summary.{md,csv,tex}``.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import itertools
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

from .config import ConfigError, check_type, load_yaml, unknown_key_message
from .io import read_json, resolve, stable_hash, write_json, write_text
from .progress import progress_text

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
POINT_THREADS = 1  # compute threads of every point's kernel (see run_grid)


@dataclasses.dataclass
class AblationGrid:
    """A grid of notebook runs (see the module docstring)."""

    description: str = ""  # one line, shown in the summary
    profile: str = "synthvad"  # base profile (name or YAML path)
    notebook: str = "04_ablations"  # the notebook of the profile's notebook_dir run at each point
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0])  # one run per seed and combination
    seed_param: str = "seed"  # the notebook parameter that receives the seed
    grid: dict[str, list] = dataclasses.field(default_factory=dict)  # parameter -> values (cartesian product)
    points: list[dict] = dataclasses.field(default_factory=list)  # explicit combinations, added to the grid's
    params: dict[str, Any] = dataclasses.field(default_factory=dict)  # fixed values for every point
    out_dir: str = ""  # default: <profile run_dir>/ablations/<grid file stem>
    name: str = ""  # default: the grid file's stem
    source: str = ""  # the file it was loaded from (set by load_grid)


@dataclasses.dataclass
class Point:
    name: str  # folder name, e.g. "sa2=true,sa2_k=3,seed=0"
    switches: dict[str, Any]  # the grid values of this point (without the seed)
    seed: int
    params: dict[str, Any]  # everything the notebook receives
    fingerprint: str = ""


def _label(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "-".join(_label(v) for v in value) or "none"  # [0.01, 0.06] -> "0.01-0.06"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)


def load_grid(path: str | Path) -> AblationGrid:
    path = resolve(path)
    grid = load_yaml(AblationGrid, path)
    grid.name = grid.name or path.stem
    grid.source = str(path)
    for key, values in grid.grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: key 'grid.{key}': expected a non-empty list of values, got {values!r}")
    if not grid.seeds:
        raise ConfigError(f"{path}: key 'seeds': at least one seed")
    return grid


def plan(grid: AblationGrid, source: str = "", profile: Any = None) -> tuple[list[Point], Path, Path]:
    """Every point of the grid with its checked parameters; the notebook and the output folder.
    ``profile``: the base profile (default: load ``grid.profile``)."""
    from .steps import fingerprint_steps, validate_profile

    prof = profile or _load_profile(grid, source)
    steps = {s.name: s for s in fingerprint_steps(validate_profile(prof), prof)}
    upstream = steps[grid.notebook].upstream if grid.notebook in steps else ""
    return plan_points(grid, prof, upstream, source=source)


def _load_profile(grid: AblationGrid, source: str) -> Any:
    from .config import load_profile

    try:
        return load_profile(grid.profile)
    except ConfigError as exc:
        raise ConfigError(f"{source or grid.name}: key 'profile': {exc}") from None


def plan_points(grid: AblationGrid, profile: Any, upstream: str, lib: str | None = None,
                source: str = "") -> tuple[list[Point], Path, Path]:
    """The points of ``grid`` under ``profile``; ``upstream`` (the fingerprints of the steps the
    grid's notebook needs) goes into every point's fingerprint, so new data reruns the grid."""
    from .runner import library_hash, notebook_defaults, notebook_modules, notebook_parameters, \
        notebook_source_hash, parse_type_hint

    source = source or grid.source or grid.name
    # the grid's own 'profile' is its default; a profile that lists the grid (reproduce) or
    # `stprompt ablate GRID --profile P` runs it against that profile's data, features and run folder
    prof = profile if profile is not None else _load_profile(grid, source)
    notebook = resolve(prof.notebook_dir) / f"{grid.notebook}.ipynb"
    if not notebook.is_file():
        raise ConfigError(f"{source}: notebook {notebook} not found")
    declared = notebook_parameters(notebook)
    # the notebook's defaults, then what the profile gives that notebook (common + its section)
    base = {**notebook_defaults(notebook),
            **{k: v for k, v in prof.notebook_params(grid.notebook).items() if k in declared}}
    out_dir = resolve(grid.out_dir or f"{prof.run_dir}/ablations/{grid.name}")
    for key in [*grid.params, *grid.grid, grid.seed_param, "result_dir"]:
        if key not in declared:
            raise ConfigError(unknown_key_message(f"{source}: key '{key}' (notebook {notebook.name})",
                                                  key, declared))
    nb_hash, lib = notebook_source_hash(notebook), lib or library_hash(notebook_modules(notebook))
    keys = list(grid.grid)
    combos = [dict(zip(keys, combo)) for combo in itertools.product(*(grid.grid[k] for k in keys))] \
        if keys else []
    combos += [dict(c) for c in grid.points]
    for combo in grid.points:
        for key in combo:
            if key not in declared:
                raise ConfigError(unknown_key_message(f"{source}: key 'points' (notebook {notebook.name})",
                                                      key, declared))
    points = []
    for switches in combos or [{}]:
        for seed in grid.seeds:
            name = ",".join([f"{k}={_label(v)}" for k, v in switches.items()] + [f"seed={seed}"])
            params = {**base, **grid.params, **switches, grid.seed_param: seed,
                      "result_dir": _portable(out_dir / name)}
            for key, value in params.items():
                tp = parse_type_hint(declared[key].type_hint, f"{notebook.name}: parameter '{key}'")
                params[key] = check_type(value, tp, f"{source}: point {name}: key '{key}'")
            if params.get("anomaly_area") and params.get("dataset", "synthvad") != "synthvad":
                raise ConfigError(f"{source}: point {name}: key 'anomaly_area' regenerates SynthVAD, "
                                  f"but profile '{prof.name}' reads {params['dataset']}; this grid "
                                  f"runs on SynthVAD profiles only")
            fp = stable_hash({"notebook": nb_hash, "params": params, "library": lib, "upstream": upstream})
            points.append(Point(name, switches, seed, params, fp))
    return points, notebook, out_dir


def _portable(path: Path) -> str:
    """``path`` relative to the repository root when inside it (fingerprints must not depend on
    where the checkout lives), else absolute."""
    from .io import repo_root

    return str(path.relative_to(repo_root())) if path.is_relative_to(repo_root()) else str(path)


def _done_path(out_dir: Path, point: Point) -> Path:
    return out_dir / point.name / "done.json"


def is_done(out_dir: Path, point: Point) -> bool:
    path = _done_path(out_dir, point)
    try:
        return path.is_file() and read_json(path).get("fingerprint") == point.fingerprint
    except ValueError:
        return False


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/n"`` (1-based) → ``(i, n)``; None → ``(1, 1)``."""
    if not text:
        return 1, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ConfigError(f"--shard {text!r}: expected i/n with 1 <= i <= n, e.g. 2/4")
    return int(m.group(1)), int(m.group(2))


def run_grid(path: str | Path | AblationGrid, jobs: int = 1, shard: str | None = None, force: bool = False,
             echo: Callable[[str], None] = print, profile: Any = None,
             upstream: str | None = None) -> dict[str, Any]:
    """Run (or skip) this shard's points, then summarise every finished point of the grid.
    ``profile``/``upstream``: given by `stprompt reproduce`, which has them at hand."""
    from .runner import StepFailed, execute_notebook

    grid = path if isinstance(path, AblationGrid) else load_grid(path)
    if upstream is None:
        points, notebook, out_dir = plan(grid, grid.source, profile)
    else:
        points, notebook, out_dir = plan_points(grid, profile, upstream)
    i, n = parse_shard(shard)
    mine = points[i - 1::n]
    echo(f"grid {grid.name}: {len(points)} points ({len(mine)} in shard {i}/{n}), notebook "
         f"{notebook.name} -> {out_dir}")
    todo = [p for p in mine if force or not is_done(out_dir, p)]
    for p in mine:
        if p not in todo:
            echo(f"  {p.name}: skipped (finished, unchanged)")
    failures: list[str] = []

    def one(p: Point) -> tuple[Point, float, str | None]:
        start = time.perf_counter()
        _done_path(out_dir, p).unlink(missing_ok=True)
        try:
            execute_notebook(notebook, out_dir / p.name / "notebook.ipynb", p.params)
        except StepFailed as exc:
            return p, time.perf_counter() - start, str(exc)
        seconds = time.perf_counter() - start
        write_json(_done_path(out_dir, p), {"fingerprint": p.fingerprint, "seconds": round(seconds, 2),
                                            "switches": p.switches, "seed": p.seed})
        return p, seconds, None

    # Every kernel computes with POINT_THREADS threads whatever --jobs: the thread count changes the
    # order of floating-point sums, which changes training trajectories, and a point's numbers must
    # not depend on how the grid was scheduled. (Oversubscribing is also slow: 2 kernels x 2
    # threads on 2 cores ran ~30x slower.) Scale out with --jobs / --shard instead.
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    for k in _THREAD_VARS:
        os.environ[k] = str(POINT_THREADS)
    started = time.perf_counter()
    try:
        with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # each job drives its own kernel
            for k, (p, seconds, error) in enumerate(pool.map(one, todo), 1):
                eta = progress_text(k, len(todo), time.perf_counter() - started)
                if error:
                    failures.append(p.name)
                    echo(f"  [{k}/{len(todo)}] {p.name}: FAILED after {seconds:.1f}s\n    {error}")
                else:
                    echo(f"  [{k}/{len(todo)}] {p.name}: done in {seconds:.1f}s  (grid {eta})")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    rows = summarize(points, out_dir, grid)
    if failures:
        raise RuntimeError(f"grid {grid.name}: {len(failures)} point(s) failed: {', '.join(failures)}")
    return {"points": len(points), "ran": len(todo), "out_dir": out_dir, "summary": rows}


#: Readable column names of the numbers a point reports (others keep their key).
METRIC_LABELS = {"auc_micro": "frame AUC", "ap_sklearn": "AP (sklearn)", "false_alarm_rate": "FAR@0.5",
                 "auc_anomalous_videos": "AUC (anomalous videos)", "tiou": "TIoU", "rbdc": "RBDC", "tbdc": "TBDC",
                 "pixel_auc": "pixel AUC", "theta": "θ (val)", "val_score": "val score", "best_epoch": "selected epoch"}


def point_results(points: list[Point], out_dir: Path) -> list[dict]:
    """The ``ablation`` section of every finished point: ``{"switches", "seed", "metrics"}``."""
    out = []
    for p in points:
        metrics_path = out_dir / p.name / "metrics.json"
        if is_done(out_dir, p) and metrics_path.is_file():
            out.append({"switches": p.switches, "seed": p.seed,
                        "metrics": read_json(metrics_path).get("ablation", {})})
    return out


def aggregate(points: list[Point], out_dir: Path, results: list[dict] | None = None) -> list[dict]:
    """Per switch combination, in grid order: ``{"key", "switches", "seeds", "mean", "std", "count"}``
    over the finished seeds (sample std, 0 for one seed; ``count``: non-NaN values) of every
    numeric metric. ``results``: the
    :func:`point_results` when already read."""
    groups: dict[str, dict] = {}
    for p in points:
        key = ",".join(f"{k}={_label(v)}" for k, v in p.switches.items()) or "base"
        groups.setdefault(key, {"key": key, "switches": p.switches, "runs": []})
    for r in (point_results(points, out_dir) if results is None else results):
        key = ",".join(f"{k}={_label(v)}" for k, v in r["switches"].items()) or "base"
        groups[key]["runs"].append(r["metrics"])
    rows = []
    for g in groups.values():
        numbers = [m for m in METRIC_LABELS if any(m in r for r in g["runs"])]
        numbers += sorted({m for r in g["runs"] for m, v in r.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool) and m not in numbers})
        mean, std, count = {}, {}, {}
        for m in numbers:
            vals = [float(r[m]) for r in g["runs"] if m in r and not math.isnan(float(r[m]))]
            if vals:
                mean[m], count[m] = sum(vals) / len(vals), len(vals)
                std[m] = (sum((v - mean[m]) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else 0.0
        rows.append({"key": g["key"], "switches": g["switches"], "seeds": len(g["runs"]), "mean": mean, "std": std,
                     "count": count})
    return rows


def summarize(points: list[Point], out_dir: Path, grid: AblationGrid) -> list[dict]:
    """Mean ± std over seeds of every number in the ``ablation`` section of each finished point's
    ``metrics.json``; written to ``<out_dir>/summary.{md,csv,tex}`` (points not finished are
    listed with ``seeds = 0``)."""
    from .report import table_csv, table_latex, table_markdown

    rows = []
    for g in aggregate(points, out_dir):
        row = {**{k: (_label(v) if isinstance(v, list) else v) for k, v in g["switches"].items()},
               "seeds": g["seeds"]}
        for m, mean in g["mean"].items():  # as report.mean_std writes it: the mean alone for one value
            row[METRIC_LABELS.get(m, m)] = f"{mean:.3f}" if g["count"][m] == 1 else f"{mean:.3f} ± {g['std'][m]:.3f}"
        rows.append(row)
    if rows:
        write_text(out_dir / "summary.md", table_markdown(rows))
        write_text(out_dir / "summary.csv", table_csv(rows))
        write_text(out_dir / "summary.tex", table_latex(rows, caption=grid.description or f"ablation {grid.name}"))
    return rows

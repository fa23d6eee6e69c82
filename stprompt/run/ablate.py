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
    reference: {sa2: true}                  # optional: the configuration differences are taken to

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
grid across machines.

**What a point keeps.** ``metrics.json`` section ``ablation`` (its numbers) and
``test_scores.npz`` (:func:`stprompt.reports.evaluation.save_point_scores`): its test snippet
scores, the test frame labels and, when it localizes, the localization's per-video sums — what a
paired bootstrap needs, in plain arrays (loading runs no code).

**The summary** (:func:`summarize`, ``<out_dir>/summary.{md,csv,tex,json}``): per switch
combination (a *configuration*) every number averaged over its finished seeds; the detection and
localization metrics as ``mean ± std [95 % interval]`` and, for frame AUC, within-video AUC and
TIoU, the difference to the grid's **reference configuration** with its interval and
*resolved*/*unresolved* (:mod:`stprompt.stats`: the test videos resampled 1000 times from seed 0,
the same resamples for every configuration, seeds averaged per resample; percentile interval).

The reference configuration: the one whose switches equal ``reference`` when the grid file sets it
(each of its keys with that value), otherwise the profile's own configuration — the one whose every
switch has the value the notebook gets from the profile without the grid (the *default*). Points
on different data are compared only within the same data: switches of :data:`DATA_SWITCHES`
(``anomaly_area`` regenerates SynthVAD) split the grid into data groups, each with its own
reference (the anomaly-scale grid: STPrompt against the VadCLIP-style baseline at each scale). A
configuration without saved scores (finished before they were kept) keeps mean ± std only.

The grid file's schema and the planning of its points are :mod:`stprompt.run.grids` (the steps of a
profile use them too; their names stay importable from here). Imports run one way: this module uses
:mod:`stprompt.run.grids`, :mod:`stprompt.run.steps` and :mod:`stprompt.run.runner`; none of them uses it.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import math
import re
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..config import ConfigError
from ..io import environment, read_json, resolve, write_json, write_text
from ..progress import progress_text
from ..reports.evaluation import COMPARED_IN_ABLATIONS
# the grid files and their points have a module of their own (stprompt.run.steps uses them); importable from here
from .grids import AblationGrid, Point, _label, _load_profile, load_grid, plan_points  # noqa: F401

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
POINT_THREADS = 1  # compute threads of every point's kernel (see run_grid)


def plan(grid: AblationGrid, source: str = "", profile: Any = None) -> tuple[list[Point], Path, Path]:
    """Every point of the grid with its checked parameters; the notebook and the output folder.
    ``profile``: the base profile (default: load ``grid.profile``)."""
    from .steps import fingerprint_steps, validate_profile

    prof = profile or _load_profile(grid, source)
    steps = {s.name: s for s in fingerprint_steps(validate_profile(prof), prof)}
    upstream = steps[grid.notebook].upstream if grid.notebook in steps else ""
    return plan_points(grid, prof, upstream, source=source)


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


def _kernels_line(counts: dict, started: int) -> str:
    """How the grid's kernels started: forked warm by the fork server, or fresh (before it was
    ready, or refused: the first reason is named)."""
    fresh = started - counts["forked"]
    line = f"  kernels: {counts['forked']} of {started} forked warm"
    if fresh > 0:
        line += f", {fresh} started fresh"
        if counts["reasons"]:
            line += f" (refused {counts['refused']}: {counts['reasons'][0]})"
    return line


def run_grid(path: str | Path | AblationGrid, jobs: int = 1, shard: str | None = None, force: bool = False,
             echo: Callable[[str], None] = print, profile: Any = None,
             upstream: str | None = None) -> dict[str, Any]:
    """Run (or skip) this shard's points, then summarise every finished point of the grid.
    ``profile``/``upstream``: given by `stprompt reproduce`, which has them at hand."""
    from .forkserver import fork_server, preload_modules, served
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
    # Kernels start warm: a fork server imports the notebook's modules once, in the points'
    # environment, and forks each point's kernel (stprompt.run.forkserver; same numbers, tested).
    # The grid waits for it to be ready: its imports cost what a fresh kernel's would.
    started = time.perf_counter()
    with environment({k: str(POINT_THREADS) for k in _THREAD_VARS}), \
            (fork_server(preload_modules(notebook), ready_timeout=120) if todo else contextlib.nullcontext()) as server:
        with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # each job drives its own kernel
            for k, (p, seconds, error) in enumerate(pool.map(one, todo), 1):
                eta = progress_text(k, len(todo), time.perf_counter() - started)
                if error:
                    failures.append(p.name)
                    echo(f"  [{k}/{len(todo)}] {p.name}: FAILED after {seconds:.1f}s\n    {error}")
                else:
                    echo(f"  [{k}/{len(todo)}] {p.name}: done in {seconds:.1f}s  (grid {eta})")
        if server:
            echo(_kernels_line(served(server), len(todo)))
    rows = summarize(points, out_dir, grid, profile or _load_profile(grid, grid.source))
    if failures:
        raise RuntimeError(f"grid {grid.name}: {len(failures)} point(s) failed: {', '.join(failures)}")
    return {"points": len(points), "ran": len(todo), "out_dir": out_dir, "summary": rows}


#: Readable column names of the numbers a point reports (others keep their key).
METRIC_LABELS = {"auc_micro": "frame AUC", "auc_within_video": "within-video AUC", "ap_sklearn": "AP (sklearn)",
                 "false_alarm_rate": "FAR@0.5", "auc_anomalous_videos": "AUC (anomalous videos)", "tiou": "TIoU",
                 "rbdc": "RBDC", "tbdc": "TBDC", "pixel_auc": "pixel AUC", "theta": "θ (val)", "val_score": "val score",
                 "best_epoch": "selected epoch"}
#: Metrics the summary gives intervals (from the saved scores), and those it compares with the reference.
INTERVAL_METRICS = ("auc_micro", "auc_within_video", "ap_sklearn", "false_alarm_rate", "auc_anomalous_videos",
                    "tiou", "rbdc", "tbdc", "pixel_auc")
#: Switches that change the test data: configurations are compared only with the same values.
DATA_SWITCHES = ("anomaly_area",)
def _config_key(switches: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={_label(v)}" for k, v in switches.items()) or "base"


def point_results(points: list[Point], out_dir: Path) -> list[dict]:
    """The ``ablation`` section of every finished point: ``{"switches", "seed", "metrics",
    "scores"}`` (``scores``: its ``test_scores.npz``, or None where the point kept none)."""
    from ..reports.evaluation import SCORES_FILE

    out = []
    for p in points:
        metrics_path = out_dir / p.name / "metrics.json"
        if is_done(out_dir, p) and metrics_path.is_file():
            scores = out_dir / p.name / SCORES_FILE
            out.append({"switches": p.switches, "seed": p.seed, "metrics": read_json(metrics_path).get("ablation", {}),
                        "scores": scores if scores.is_file() else None})
    return out


def aggregate(points: list[Point], out_dir: Path, results: list[dict] | None = None) -> list[dict]:
    """Per switch combination, in grid order: ``{"key", "switches", "seeds", "mean", "std", "count"}``
    over the finished seeds (sample std, 0 for one seed; ``count``: non-NaN values) of every
    numeric metric. ``results``: the
    :func:`point_results` when already read."""
    groups: dict[str, dict] = {}
    for p in points:
        groups.setdefault(_config_key(p.switches), {"key": _config_key(p.switches), "switches": p.switches, "runs": []})
    for r in (point_results(points, out_dir) if results is None else results):
        groups[_config_key(r["switches"])]["runs"].append(r["metrics"])
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


def profile_values(grid: AblationGrid, profile: Any) -> dict[str, Any]:
    """What the grid's notebook receives from the profile without any switch: the notebook's
    defaults, the profile's parameters for it and the grid's ``params``; the empty feature
    overrides (``grid``, ``window``, ``patch_mode``: "as the profile") replaced by the recipe
    ``01_data_prep`` used, so they compare with the switches' values."""
    from .runner import notebook_defaults
    from .variants import FEATURE_OVERRIDES

    notebook = resolve(profile.notebook_dir) / f"{grid.notebook}.ipynb"
    base = {**notebook_defaults(notebook), **profile.notebook_params(grid.notebook), **grid.params}
    prep = profile.params.get("01_data_prep", {})
    base.update({k: prep[k] for k in FEATURE_OVERRIDES if base.get(k) in ("", [], None) and k in prep})
    return base


def data_key(switches: Mapping[str, Any]) -> str:
    """The data a configuration is tested on: its :data:`DATA_SWITCHES` (``""``: the profile's)."""
    return ",".join(f"{k}={_label(switches[k])}" for k in DATA_SWITCHES if switches.get(k) not in (None, "", []))


def reference_configurations(rows: Sequence[Mapping], grid: AblationGrid, base: Mapping[str, Any]
                             ) -> dict[str, str | None]:
    """``{data key: key of the reference configuration}`` (module docstring; ``None`` where no
    configuration of that data matches)."""
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(data_key(r["switches"]), []).append(r)
    out: dict[str, str | None] = {}
    for dk, members in groups.items():
        if grid.reference:
            match = [r for r in members if all(k in r["switches"] and r["switches"][k] == v
                                               for k, v in grid.reference.items())]
            if len(match) > 1:
                raise ConfigError(f"{grid.source or grid.name}: key 'reference': {grid.reference} matches "
                                  f"{len(match)} configurations ({', '.join(r['key'] for r in match)}); name more "
                                  f"switches")
        else:
            match = [r for r in members if all(base.get(k) == v for k, v in r["switches"].items()
                                               if k not in DATA_SWITCHES)]
        out[dk] = match[0]["key"] if match else None
    return out


def grid_summary(points: list[Point], out_dir: Path, grid: AblationGrid, profile: Any = None) -> dict[str, Any]:
    """Everything :func:`summarize` reports, as data: ``{"grid", "description", "n_boot", "seed",
    "level", "groups": [{"data", "reference", "n_videos", "configurations"}], "rows": [...]}``
    where each row is an :func:`aggregate` row with ``data`` (its data key), ``reference`` (the
    key of its group's reference configuration), ``intervals`` ``{metric: {"value", "lo", "hi",
    "std", "per_seed"}}`` and ``difference`` ``{metric: {"value", "lo", "hi", "resolved"}}``
    (``configuration − reference``; empty for the reference itself and without saved scores).
    ``profile``: the base profile (default: the grid's)."""
    import warnings

    import numpy as np

    from ..reports.evaluation import load_point_scores
    from ..stats import (BOOT_SEED, LEVEL, N_BOOT, bootstrap, combine, detection_evaluation,
                        localization_evaluation, score_groups)

    prof = profile if profile is not None else _load_profile(grid, grid.source)
    results = point_results(points, out_dir)
    rows = aggregate(points, out_dir, results)
    refs = reference_configurations(rows, grid, profile_values(grid, prof))
    by_key = {r["key"]: r for r in rows}
    for r in rows:
        r.update(data=data_key(r["switches"]), reference=refs[data_key(r["switches"])], intervals={}, difference={})
    groups = []
    for dk, ref in refs.items():
        evaluations: dict[str, list] = {}
        first: tuple[str, list, dict] | None = None
        for r in (row for row in rows if row["data"] == dk):
            for res in (x for x in results if _config_key(x["switches"]) == r["key"] and x["scores"] is not None):
                loaded = load_point_scores(res["scores"])
                if first is None:
                    first = (f"{r['key']}, seed {res['seed']}", loaded["ids"], loaded["labels"])
                elif loaded["ids"] != first[1] or any(not np.array_equal(loaded["labels"][v], first[2][v])
                                                      for v in first[1]):
                    warnings.warn(f"grid {grid.name}: {res['scores']} holds other test videos or labels than "
                                  f"{first[0]}; configuration {r['key']} (seed {res['seed']}) is left out of the "
                                  f"comparison", RuntimeWarning, stacklevel=2)
                    continue
                ev = detection_evaluation(score_groups(loaded["frame_scores"], loaded["labels"]))
                if loaded["parts"] is not None:
                    ev = combine(ev, localization_evaluation(loaded["parts"]))
                evaluations.setdefault(r["key"], []).append(ev)
        if not evaluations:
            continue
        boot = bootstrap(evaluations, ref if ref in evaluations else None, N_BOOT, BOOT_SEED, LEVEL)
        for key, entries in boot["methods"].items():
            by_key[key]["intervals"] = {m: e for m, e in entries.items() if m in INTERVAL_METRICS}
        for key, diffs in boot["differences"].items():
            by_key[key]["difference"] = {m: e for m, e in diffs.items() if m in INTERVAL_METRICS}
        groups.append({"data": dk, "reference": boot["reference"], "n_videos": boot["n_videos"],
                       "configurations": list(evaluations)})
    return {"grid": grid.name, "description": grid.description, "n_boot": N_BOOT, "seed": BOOT_SEED, "level": LEVEL,
            "groups": groups, "rows": rows}


def summary_table(summary: Mapping[str, Any]) -> list[dict]:
    """The rows of ``summary.md``: the switches, the seeds, ``compared with`` (the reference
    configuration of the row's data, when any row has a difference), every number (``mean ± std``
    over seeds, ``[95 % interval]`` where the scores were kept) and for
    :data:`~stprompt.reports.evaluation.COMPARED_IN_ABLATIONS` the difference to the reference
    (``Δ … vs reference``: ``reference`` on the reference's row)."""
    from ..stats import format_difference, format_estimate

    rows = summary["rows"]
    compared = [m for m in COMPARED_IN_ABLATIONS if any(m in r["difference"] for r in rows)]
    out = []
    for g in rows:
        row = {**{k: (_label(v) if isinstance(v, list) else v) for k, v in g["switches"].items()}, "seeds": g["seeds"]}
        if compared:
            row["compared with"] = ("(reference)" if g["key"] == g["reference"] else g["reference"] or "—")
        numbers = [m for m in METRIC_LABELS if m in g["mean"] or m in g["intervals"]]
        numbers += [m for m in g["mean"] if m not in numbers]
        for m in numbers:
            label = METRIC_LABELS.get(m, m)
            if m in g["intervals"]:
                row[label] = format_estimate(g["intervals"][m])
            else:  # as report.mean_std writes it: the mean alone for one value
                mean = g["mean"][m]
                row[label] = f"{mean:.3f}" if g["count"][m] == 1 else f"{mean:.3f} ± {g['std'][m]:.3f}"
            if m in compared:
                row[f"Δ {label} vs reference"] = ("reference" if g["key"] == g["reference"] else
                                                  format_difference(g["difference"].get(m)))
        out.append(row)
    return out


def summarize(points: list[Point], out_dir: Path, grid: AblationGrid, profile: Any = None) -> list[dict]:
    """Every number of each configuration's finished points, with intervals and differences to the
    reference configuration (module docstring; :func:`grid_summary`, :func:`summary_table`),
    written to ``<out_dir>/summary.{md,csv,tex}`` and, as data, ``summary.json`` (points not
    finished are listed with ``seeds = 0``). Returns the table rows."""
    from ..reports.tables import table_csv, table_latex, table_markdown

    summary = grid_summary(points, out_dir, grid, profile)
    rows = summary_table(summary)
    if rows:
        caption = grid.description or f"ablation {grid.name}"
        if summary["groups"]:
            caption += (f"; mean ± std over seeds [95 % interval: paired bootstrap of the test videos, "
                        f"{summary['n_boot']} resamples]; Δ: configuration − reference")
        write_text(out_dir / "summary.md", table_markdown(rows))
        write_text(out_dir / "summary.csv", table_csv(rows))
        write_text(out_dir / "summary.tex", table_latex(rows, caption=caption))
        write_json(out_dir / "summary.json", summary)
    return rows


def collect_grids(entries: Sequence[str], profile: Any) -> list[dict[str, Any]]:
    """For each grid of the profile (``ablations`` entries): the grid, its summary
    (:func:`grid_summary`: every configuration's numbers with their 95 % intervals
    and differences to the reference configuration), its rows, its output folder and the key of the
    reference configuration on the profile's own data (the *default*; ``None`` when none ran).

    The summary is the grid's ``summary.json`` when it describes the points finished now (the same
    configurations and seed counts), else it is computed again from the points' saved scores."""
    from .steps import grid_path

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

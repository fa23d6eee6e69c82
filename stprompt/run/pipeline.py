"""The notebook pipeline behind ``stprompt reproduce``.

A profile (:class:`stprompt.config.Profile`) names the numbered notebooks to run and their
parameters. Each notebook is one *step*: papermill executes it with the kernel ``python3`` in the
repository root, writes the executed copy to ``<run_dir>/notebooks/<step>.ipynb`` and an HTML report
without code to ``<run_dir>/reports/<step>.html``.

Caching. A step's *fingerprint* hashes

- the notebook's code and markdown (not its outputs),
- the parameters it receives,
- the fingerprints of the steps it *needs* (so a change upstream reruns everything downstream of
  it, and nothing else),
- the source of the ``stprompt`` modules the notebook imports, directly or through other
  modules (library code is part of what a notebook computes;
  :func:`stprompt.run.runner.notebook_modules`),
- the fingerprints of the points of the ablation grids attached to it (below).

What a step needs is written in its notebook's metadata, ``{"stprompt": {"needs": [steps]}}``
(the first markdown cell says it in words); a notebook without it needs the step before it. Steps
a profile does not run are left out of the chain.

Ablation grids. A profile's ``ablations`` (grid files, :mod:`stprompt.run.ablate`) run right after the
step of their notebook (``04_ablations``), point by point, resumably; a grid point's fingerprint holds
the fingerprints of what its notebook needs, so changing the data reruns the grids and changing,
say, the evaluation does not.

After a step succeeds, ``<run_dir>/steps/<step>.json`` records its fingerprint, parameters and
timing. A later run skips a step whose record holds the same fingerprint and whose executed copy
exists, and says so. ``force=True`` reruns everything selected.

Parameters. Every key a profile gives a notebook must exist in the notebook's ``parameters`` cell
and match the type hint written there (:func:`stprompt.run.steps.validate_profile`); papermill itself would only log
an unknown parameter and go on.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import sys
import time
from pathlib import Path
from typing import Callable

from .. import progress
from ..config import ConfigError, Profile, load_profile
from ..io import read_json, repo_root, resolve, write_json
# importable from here as before the runner and the steps had modules of their own (see __all__)
from .runner import (PACKAGE_DIR, NotebookParameter, StepFailed, execute_notebook, kernel_manager_class,
                     library_hash, module_closure, notebook_defaults, notebook_modules, notebook_needs,
                     notebook_parameters, notebook_source_hash, parse_type_hint, write_html_report)
from .steps import Step, discover_notebooks, fingerprint_steps, grid_path, resolved_params, validate_profile


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class StepResult:
    name: str
    status: str  # "ran" | "skipped"
    seconds: float
    executed: Path
    report: Path | None


def _record_path(run_dir: Path, name: str) -> Path:
    return run_dir / "steps" / f"{name}.json"


def is_up_to_date(run_dir: Path, step: Step) -> bool:
    rec = _record_path(run_dir, step.name)
    if not rec.is_file() or not (run_dir / "notebooks" / f"{step.name}.ipynb").is_file():
        return False
    try:
        return read_json(rec).get("fingerprint") == step.fingerprint
    except ValueError:
        return False


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f}s" if s < 90 else f"{int(s // 60)}m{int(s % 60):02d}s"


def reproduce(profile: str | Profile, only: list[str] | None = None, force: bool = False,
              params_dir: str | Path | None = None, html: bool = True,
              echo: Callable[[str], None] = print, progress_bar: bool | None = None,
              jobs: int | None = None) -> list[StepResult]:
    """Run (or skip) the profile's notebooks in order, each step's ablation grids right after it;
    see the module docstring.

    ``only``: run just these steps (their upstream steps are not run; a warning names those that
    are not up to date). ``jobs``: grid points at once (default: the profile's ``ablation_jobs``).
    ``force`` reruns the selected notebooks; finished grid points are still skipped (rerun those
    with ``stprompt ablate --force``). Returns one :class:`StepResult` per selected step.
    """
    prof = profile if isinstance(profile, Profile) else load_profile(profile, params_dir)
    steps = fingerprint_steps(validate_profile(prof), prof)
    names = [s.name for s in steps]
    if only:
        unknown = [o for o in only if o not in names]
        if unknown:
            raise ConfigError(f"--only {', '.join(unknown)}: not a step of profile '{prof.name}' "
                              f"(steps: {', '.join(names)})")
    run_dir = resolve(prof.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "params.json", {"profile": prof.name, "source": prof.source,
                                         "profile_hash": prof.hash(),
                                         "steps": {s.name: s.params for s in steps}})
    if progress_bar is None:
        progress_bar = sys.stderr.isatty()
    selected = [s for s in steps if not only or s.name in only]
    if only:
        by_name, upstream, todo = {s.name: s for s in steps}, set(), [n for s in selected for n in s.needs]
        while todo:  # every step the selected ones read from, directly or not
            n = todo.pop()
            if n not in upstream:
                upstream.add(n)
                todo.extend(by_name[n].needs)
        stale = [s.name for s in steps if s.name in upstream and s.name not in only
                 and not is_up_to_date(run_dir, s)]
        if stale:
            echo(f"warning: upstream steps not up to date for these parameters: {', '.join(stale)} "
                 f"(run without --only to refresh them)")
    echo(f"profile {prof.name} ({prof.source}) -> {run_dir}")
    results = []
    total_start = time.perf_counter()
    for i, step in enumerate(selected, 1):
        executed = run_dir / "notebooks" / f"{step.name}.ipynb"
        report = run_dir / "reports" / f"{step.name}.html"
        prefix = f"[{i}/{len(selected)}] {step.name}"
        if not force and is_up_to_date(run_dir, step):
            rec = read_json(_record_path(run_dir, step.name))
            echo(f"{prefix}: skipped (notebook, parameters and upstream unchanged since "
                 f"{rec.get('finished', '?')})")
            results.append(StepResult(step.name, "skipped", 0.0, executed,
                                      report if report.is_file() else None))
            continue
        echo(f"{prefix}: running ...")
        _record_path(run_dir, step.name).unlink(missing_ok=True)
        start = time.perf_counter()
        with progress.follow(run_dir / "steps" / f"{step.name}.progress",
                             lambda line, prefix=prefix: echo(f"{prefix}: {line}")):
            execute_notebook(step.notebook, executed, step.params, progress_bar=progress_bar)
        seconds = time.perf_counter() - start
        if html:
            write_html_report(executed, report)
        echo(f"{prefix}: done in {_fmt_seconds(seconds)}")
        grids = {}
        if step.grids:
            from .ablate import run_grid

            for grid in step.grids:
                g_start = time.perf_counter()
                try:
                    run_grid(grid, jobs=jobs or prof.ablation_jobs, profile=prof, echo=echo,
                             upstream=step.upstream)
                except RuntimeError as exc:  # failed points: named, with their executed copies
                    raise StepFailed(f"{step.name}, ablation grid {grid.name}: {exc} (executed copies "
                                     f"with the tracebacks: <point>/notebook.ipynb; rerun to retry only "
                                     f"those)") from None
                grids[grid.name] = round(time.perf_counter() - g_start, 3)
            seconds = time.perf_counter() - start
            echo(f"{prefix}: notebook and {len(grids)} grid(s) done in {_fmt_seconds(seconds)}")
        write_json(_record_path(run_dir, step.name), {
            "step": step.name, "fingerprint": step.fingerprint, "params": step.params,
            "seconds": round(seconds, 3), **({"grid_seconds": grids} if grids else {}),
            "finished": _dt.datetime.now().isoformat(timespec="seconds")})
        results.append(StepResult(step.name, "ran", seconds, executed, report if html else None))
    echo(run_summary(prof, run_dir, steps, results, time.perf_counter() - total_start))
    return results


def run_summary(profile: Profile, run_dir: Path, steps: list[Step], results: list[StepResult],
                seconds: float) -> str:
    """The screen that ends ``stprompt reproduce``: each step with what happened and its time, then
    where the outputs are (executed notebooks, HTML reports, tables and figures, metrics, and the
    results page when the profile writes one)."""
    def rel(path: Path) -> str:
        try:
            return str(path.relative_to(repo_root()))
        except ValueError:
            return str(path)

    lines = ["", f"profile {profile.name}: {sum(r.status == 'ran' for r in results)} ran, "
                 f"{sum(r.status == 'skipped' for r in results)} skipped, {_fmt_seconds(seconds)} in all"]
    width = max((len(r.name) for r in results), default=0)
    for r in results:
        took = _fmt_seconds(r.seconds) if r.status == "ran" else "-"
        lines.append(f"  {r.name:<{width}}  {r.status:<7}  {took:>7}")
    lines.append("outputs:")
    reports = [r.report for r in results if r.report is not None]
    if reports:
        lines.append(f"  HTML reports      {rel(reports[0].parent)}/  ({len(reports)}: "
                     f"{', '.join(p.name for p in reports)})")
    lines.append(f"  notebooks         {rel(run_dir / 'notebooks')}/  (executed copies; open in JupyterLab)")
    for label, sub in (("tables", "tables"), ("figures", "figures")):
        if (run_dir / sub).is_dir():
            lines.append(f"  {label:<17} {rel(run_dir / sub)}/")
    if (run_dir / "metrics.json").is_file():
        lines.append(f"  metrics           {rel(run_dir / 'metrics.json')}")
    page = next((s.params.get("out_dir") or notebook_defaults(s.notebook).get("out_dir")
                 for s in steps if s.name == "06_report"), None)
    if page and (resolve(page) / "README.md").is_file():
        lines.append(f"  results page      {rel(resolve(page) / 'README.md')}")
    return "\n".join(lines)


def render_reports(profile: str | Profile, params_dir: str | Path | None = None,
                   echo: Callable[[str], None] = print) -> list[Path]:
    """Re-render the HTML report of every executed notebook of a profile (nothing is rerun)."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile, params_dir)
    run_dir = resolve(prof.run_dir)
    executed = sorted((run_dir / "notebooks").glob("*.ipynb"))
    if not executed:
        raise ConfigError(f"no executed notebooks in {run_dir / 'notebooks'}: run "
                          f"`stprompt reproduce --profile {prof.name}` first")
    out = []
    for nb in executed:
        out.append(write_html_report(nb, run_dir / "reports" / f"{nb.stem}.html"))
        echo(f"{out[-1]}")
    return out


__all__ = ["StepFailed", "NotebookParameter", "Step", "StepResult", "notebook_parameters",
           "parse_type_hint", "validate_profile", "fingerprint_steps", "reproduce",
           "execute_notebook", "write_html_report", "library_hash", "discover_notebooks",
           "is_up_to_date", "render_reports", "resolved_params",
           # re-exported from stprompt.run.runner and stprompt.run.steps
           "PACKAGE_DIR", "kernel_manager_class", "module_closure", "notebook_defaults", "notebook_modules",
           "notebook_needs", "notebook_source_hash", "grid_path"]

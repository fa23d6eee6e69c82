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
  modules (library code is part of what a notebook computes; :func:`notebook_modules`),
- the fingerprints of the points of the ablation grids attached to it (below).

What a step needs is written in its notebook's metadata, ``{"stprompt": {"needs": [steps]}}``
(the first markdown cell says it in words); a notebook without it needs the step before it. Steps
a profile does not run are left out of the chain.

Ablation grids. A profile's ``ablations`` (grid files, :mod:`stprompt.ablate`) run right after the
step of their notebook (``04_ablations``), point by point, resumably; a grid point's fingerprint holds
the fingerprints of what its notebook needs, so changing the data reruns the grids and changing,
say, the evaluation does not.

After a step succeeds, ``<run_dir>/steps/<step>.json`` records its fingerprint, parameters and
timing. A later run skips a step whose record holds the same fingerprint and whose executed copy
exists, and says so. ``force=True`` reruns everything selected.

Parameters. Every key a profile gives a notebook must exist in the notebook's ``parameters`` cell
and match the type hint written there (:func:`validate_profile`); papermill itself would only log
an unknown parameter and go on.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import sys
import time
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import nbformat

from . import progress
from .config import ConfigError, Profile, check_type, load_profile, unknown_key_message
from .io import file_hash, read_json, repo_root, resolve, stable_hash, write_json, write_text

PACKAGE_DIR = Path(__file__).resolve().parent


class StepFailed(RuntimeError):
    """A notebook step raised; the message names the notebook, the cell and the executed copy."""


# --------------------------------------------------------------------------------------------
# Notebook parameters
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class NotebookParameter:
    name: str
    type_hint: str  # as written in the parameters cell ("" when missing)
    default: str  # the default, as source text
    help: str  # the trailing comment ("" when missing)


_HINT_NAMESPACE = {"int": int, "float": float, "str": str, "bool": bool, "list": list,
                   "dict": dict, "tuple": tuple, "None": None, "Any": Any,
                   "Optional": Optional, "Union": Union, "Literal": Literal}


def parse_type_hint(hint: str, where: str = "") -> Any:
    """Turn a parameters-cell type hint (``int``, ``list[str]``, ``float | None``…) into a type."""
    if not hint or hint == "None":
        return Any
    try:
        tp = eval(hint, {"__builtins__": {}}, dict(_HINT_NAMESPACE))  # noqa: S307 - literal hints only
    except Exception as exc:  # a hint we cannot read is a convention error, reported clearly
        raise ConfigError(f"{where}: cannot read the type hint '{hint}' ({exc})") from exc
    return type(None) if tp is None else tp


def notebook_parameters(path: str | Path) -> dict[str, NotebookParameter]:
    """The parameters declared in the cell tagged ``parameters`` of a notebook."""
    import papermill

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"notebook {path} not found")
    info = papermill.inspect_notebook(str(path))
    out = {}
    for name, p in info.items():
        hint = p.get("inferred_type_name") or ""
        out[name] = NotebookParameter(name=name, type_hint="" if hint == "None" else hint,
                                      default=str(p.get("default", "")), help=p.get("help") or "")
    return out


# --------------------------------------------------------------------------------------------
# Steps and fingerprints
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Step:
    name: str  # notebook stem, e.g. "01_data_prep"
    notebook: Path  # source notebook
    params: dict[str, Any]  # what papermill injects (only keys the notebook declares)
    needs: list[str] = dataclasses.field(default_factory=list)  # steps whose outputs it reads
    grids: list[Any] = dataclasses.field(default_factory=list)  # ablation grids run after it (AblationGrid)
    upstream: str = ""  # hash of the fingerprints of ``needs``
    fingerprint: str = ""


def notebook_needs(path: Path) -> list[str] | None:
    """The steps a notebook reads from (its metadata ``stprompt.needs``), or None when unsaid."""
    nb = nbformat.read(str(path), as_version=4)
    needs = nb.metadata.get("stprompt", {}).get("needs")
    if needs is None:
        return None
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise ConfigError(f"{path}: metadata 'stprompt.needs' must be a list of step names, got {needs!r}")
    return needs


def notebook_source_hash(path: Path) -> str:
    """Hash a notebook's cell types and sources, ignoring outputs, counts and metadata."""
    nb = nbformat.read(str(path), as_version=4)
    cells = [(c.cell_type, c.source) for c in nb.cells]
    return stable_hash(cells)


def _module_file(name: str) -> Path | None:
    """``stprompt.a.b`` → its file (``a/b.py`` or ``a/b/__init__.py``), None when not a module."""
    parts = name.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(tree: Any, current: str | None = None, is_package: bool = False) -> set[str]:
    """Package modules named by the imports anywhere in ``tree`` (lazy imports in functions too);
    ``current`` is the importing module's dotted name, for relative imports."""
    import ast

    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE_DIR.name}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if current is None:
                    continue
                anchor = current.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE_DIR.name:
                continue
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names if _module_file(f"{base}.{a.name}")}
    return {m for m in out if _module_file(m)}


def module_closure(modules: set[str]) -> set[str]:
    """Every package module reachable by imports from ``modules`` (with the parent packages,
    whose ``__init__`` runs on import)."""
    import ast

    seen: set[str] = set()
    todo = [m for m in modules]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
            parent = ".".join(parts[:i])
            if parent in seen or not _module_file(parent):
                continue
            seen.add(parent)
            path = _module_file(parent)
            tree = ast.parse(path.read_text(), str(path))
            todo.extend(_imported_modules(tree, parent, path.name == "__init__.py"))
    return seen


def notebook_modules(path: Path) -> set[str]:
    """The package modules a notebook's code cells import, and everything those import."""
    import ast

    nb = nbformat.read(str(path), as_version=4)
    found: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython magics: read nothing from this cell
            continue
        found |= _imported_modules(tree)
    return module_closure(found)


def library_hash(modules: set[str] | None = None) -> str:
    """Hash of the package source a step runs: the files of ``modules`` (default: every module)
    and the package's data files (configs, prompt files). A change in a module that a notebook
    does not import, directly or not, does not rerun it (editing the results page does not rerun
    the ablation grids)."""
    h = hashlib.sha256()
    for p in sorted(PACKAGE_DIR.rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts or p.suffix not in {".py", ".json", ".txt", ".yaml"}:
            continue
        if p.suffix == ".py" and modules is not None:
            rel = p.relative_to(PACKAGE_DIR).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            if ".".join((PACKAGE_DIR.name, *parts)) not in modules:
                continue
        h.update(str(p.relative_to(PACKAGE_DIR)).encode())
        h.update(file_hash(p).encode())
    return h.hexdigest()[:16]


def discover_notebooks(notebook_dir: Path) -> list[str]:
    """Stems of the numbered notebooks (``NN_name.ipynb``) in order."""
    return sorted(p.stem for p in notebook_dir.glob("[0-9][0-9]_*.ipynb"))


def validate_profile(profile: Profile) -> list[Step]:
    """Check every parameter of the profile against its notebook's parameters cell and return the
    steps in order. Raises :class:`ConfigError` naming the profile file, notebook and key."""
    src = profile.source or f"profile '{profile.name}'"
    nb_dir = resolve(profile.notebook_dir)
    if not nb_dir.is_dir():
        raise ConfigError(f"{src}: notebook_dir '{profile.notebook_dir}' is not a folder ({nb_dir})")
    names = profile.notebooks if profile.notebooks is not None else discover_notebooks(nb_dir)
    if not names:
        raise ConfigError(f"{src}: no notebooks to run in {nb_dir} (expected files like 01_name.ipynb)")
    for name in names:
        if not (nb_dir / f"{name}.ipynb").is_file():
            raise ConfigError(f"{src}: key 'notebooks': {nb_dir / (name + '.ipynb')} does not exist")
    for name in profile.params:
        if name not in names:
            raise ConfigError(unknown_key_message(f"{src}: key 'params'", name, names)
                              .replace("unknown key", "no step named"))
    declared_anywhere: set[str] = set()
    steps = []
    for name in names:
        path = nb_dir / f"{name}.ipynb"
        declared = notebook_parameters(path)
        if not declared:
            raise ConfigError(f"{path}: no cell tagged 'parameters' (every pipeline notebook needs one)")
        declared_anywhere |= set(declared)
        own = profile.params.get(name, {})
        for key in own:
            if key not in declared:
                raise ConfigError(unknown_key_message(
                    f"{src}: key 'params.{name}' (notebook {path.name})", key, declared))
        values = {k: v for k, v in profile.notebook_params(name).items() if k in declared}
        for key, value in values.items():
            tp = parse_type_hint(declared[key].type_hint, f"{path.name}: parameter '{key}'")
            values[key] = check_type(value, tp, f"{src}: key '{key}' for {path.name} "
                                                f"(declared '{key}: {declared[key].type_hint}')")
        needs = notebook_needs(path)
        if needs is None:
            needs = [steps[-1].name] if steps else []
        else:
            unknown = [n for n in needs if n not in names]
            missing = [n for n in unknown if not (nb_dir / f"{n}.ipynb").is_file()]
            if missing:
                raise ConfigError(f"{path}: metadata 'stprompt.needs' names {', '.join(missing)}, "
                                  f"which is no notebook in {nb_dir}")
            later = [n for n in needs if n in names and names.index(n) >= names.index(name)]
            if later:
                raise ConfigError(f"{src}: step {name} needs {', '.join(later)}, which runs after it "
                                  f"(order of 'notebooks')")
            needs = [n for n in needs if n in names]  # steps this profile leaves out are not chained
        steps.append(Step(name=name, notebook=path, params=values, needs=needs))
    for key in profile.common:
        if key not in declared_anywhere:
            raise ConfigError(unknown_key_message(f"{src}: key 'common' (no notebook declares it)",
                                                  key, declared_anywhere))
    by_name = {s.name: s for s in steps}
    for entry in profile.ablations:
        from .ablate import load_grid

        grid = load_grid(grid_path(entry, src))
        if grid.notebook not in by_name:
            raise ConfigError(f"{src}: key 'ablations': grid {grid.name} runs notebook {grid.notebook}, "
                              f"which is not a step of this profile (steps: {', '.join(names)})")
        by_name[grid.notebook].grids.append(grid)
    return steps


def grid_path(entry: str, where: str = "") -> Path:
    """A profile's ``ablations`` entry: a grid name (``params/ablations/<name>.yaml``) or a path."""
    direct = resolve(entry)
    if direct.suffix in (".yaml", ".yml"):
        if not direct.is_file():
            raise ConfigError(f"{where}: key 'ablations': grid file {direct} does not exist")
        return direct
    path = resolve(f"params/ablations/{entry}.yaml")
    if not path.is_file():
        raise ConfigError(f"{where}: key 'ablations': no grid '{entry}' ({path} does not exist)")
    return path


def resolved_params(profile: str | Profile, step: str, params_dir: str | Path | None = None) -> dict[str, Any]:
    """Every parameter ``step`` runs with under ``profile``: the notebook's defaults (its parameters
    cell) overridden by the profile's values. Used by commands that act like a step without running
    its notebook (``stprompt extract``)."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile, params_dir)
    steps = {s.name: s for s in validate_profile(prof)}
    if step not in steps:
        raise ConfigError(f"profile '{prof.name}' has no step '{step}' (steps: {', '.join(steps)})")
    return {**notebook_defaults(steps[step].notebook), **steps[step].params}


def notebook_defaults(path: str | Path) -> dict[str, Any]:
    """The default value of every parameter of a notebook's parameters cell (literals)."""
    import ast

    values = {}
    for name, p in notebook_parameters(path).items():
        try:
            values[name] = ast.literal_eval(p.default)
        except (ValueError, SyntaxError) as exc:
            raise ConfigError(f"{Path(path).name}: default of '{name}' is not a literal: "
                              f"{p.default!r}") from exc
    return values


def fingerprint_steps(steps: list[Step], profile: Profile | None = None) -> list[Step]:
    """Set every step's ``upstream`` and ``fingerprint`` (see the module docstring). ``profile`` is
    needed when steps carry ablation grids (their points are planned against it)."""
    from .ablate import plan_points

    done: dict[str, str] = {}
    for step in steps:
        lib = library_hash(notebook_modules(step.notebook))
        step.upstream = stable_hash([done[n] for n in step.needs]) if step.needs else ""
        points = [p.fingerprint for g in step.grids
                  for p in plan_points(g, profile, step.upstream, lib)[0]] if step.grids else []
        step.fingerprint = stable_hash({"notebook": notebook_source_hash(step.notebook),
                                        "params": step.params, "upstream": step.upstream,
                                        "library": lib, **({"grids": points} if points else {})})
        done[step.name] = step.fingerprint
    return steps


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


def write_html_report(executed: Path, html_path: Path) -> Path:
    """Render an executed notebook to HTML without the code cells (``nbconvert --no-input``) and
    without the nbval check cells (their rounded numbers are for the test, not for the reader, and
    would sit under the table they round). Figures are embedded as images."""
    from nbconvert import HTMLExporter

    from .notebooks import is_checked

    nb = nbformat.read(str(executed), as_version=4)
    nb.cells = [c for c in nb.cells if not is_checked(c)]
    exporter = HTMLExporter()
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    return write_text(html_path, body)


_KERNEL_MANAGER: Any = None


def kernel_manager_class() -> type:
    """The kernel manager every notebook of the suite runs under: jupyter_client's, with two
    differences that keep the console quiet and honest.

    - **IPC transport** in a private temporary folder instead of TCP on localhost: the kernel and
      its client are on the same machine, Unix sockets are private to the user, and ipykernel does
      not print its "running over TCP without encryption" warning at every kernel start.
    - **No interrupt before the shutdown request.** jupyter_client interrupts a kernel (SIGINT)
      before asking it to shut down; a kernel busy with a message at that instant logs
      ``ERROR | KeyboardInterrupt caught in kernel`` although the notebook succeeded. The
      notebook has finished when we shut its kernel down, so the interrupt is skipped then (a
      timeout or Ctrl-C still interrupts as before).
    """
    global _KERNEL_MANAGER
    if _KERNEL_MANAGER is None:
        import shutil
        import tempfile

        from jupyter_client.manager import AsyncKernelManager
        from traitlets import default

        class SuiteKernelManager(AsyncKernelManager):
            @default("transport")
            def _default_transport(self) -> str:
                return "ipc"

            @default("ip")
            def _default_ip(self) -> str:  # socket files kernel-N under a folder of our own
                self._ipc_dir = tempfile.mkdtemp(prefix="stprompt-kernel-")
                return str(Path(self._ipc_dir) / "kernel")

            async def _async_interrupt_kernel(self) -> None:
                if getattr(self, "shutting_down", False):
                    return
                await super()._async_interrupt_kernel()

            def cleanup_ipc_files(self) -> None:
                super().cleanup_ipc_files()
                if getattr(self, "_ipc_dir", None):
                    shutil.rmtree(self._ipc_dir, ignore_errors=True)

        _KERNEL_MANAGER = SuiteKernelManager
    return _KERNEL_MANAGER


def execute_notebook(notebook: Path, executed: Path, params: dict[str, Any],
                     progress_bar: bool = False, kernel_name: str = "python3") -> None:
    """Execute one notebook with papermill in the repository root, under
    :func:`kernel_manager_class`. On a failing cell raise :class:`StepFailed` naming the notebook,
    the cell and the executed copy (which papermill keeps, with the error, at ``executed``)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(str(notebook), str(executed), parameters=params,
                                   kernel_name=kernel_name, cwd=str(repo_root()),
                                   progress_bar=progress_bar, log_output=False,
                                   kernel_manager_class=kernel_manager_class())
    except PapermillExecutionError as exc:
        raise StepFailed(f"{notebook.name} failed in cell {exc.cell_index} (execution count "
                         f"{exc.exec_count}): {exc.ename}: {exc.evalue}\n"
                         f"  executed copy with the traceback: {executed}") from None


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
           "is_up_to_date", "render_reports", "resolved_params"]


"""Executing notebooks and fingerprinting their inputs: what ``stprompt reproduce`` and the
ablation grids (:mod:`stprompt.run.ablate`) share.

- Parameters cells: :func:`notebook_parameters` (name, type hint, default, help of every parameter,
  read with papermill), :func:`parse_type_hint`, :func:`notebook_defaults`; what a notebook says it
  needs (:func:`notebook_needs`, its metadata ``stprompt.needs``).
- Fingerprints of what a notebook computes from: :func:`notebook_source_hash` (cells, not outputs)
  and :func:`library_hash` over :func:`notebook_modules`, the package modules its code imports,
  directly or through other modules.
- Running: :func:`execute_notebook` (papermill in the repository root, under
  :func:`~stprompt.run.kernels.kernel_manager_class`; a failing cell raises :class:`StepFailed`) and
  :func:`write_html_report` (the executed copy as HTML without code).

Imports run one way: :mod:`stprompt.run.grids`, :mod:`stprompt.run.steps`, :mod:`stprompt.run.ablate` and
:mod:`stprompt.run.pipeline` use this module; it uses none of them. The kernel manager lives in
:mod:`stprompt.run.kernels`, which :mod:`stprompt.run.notebooks` (``make notebooks``) uses too, so that this
module and that one do not import each other.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Literal, Optional, Union

import nbformat

from ..config import ConfigError
from ..io import file_hash, repo_root, stable_hash, write_text
from .kernels import kernel_manager_class  # noqa: F401  (re-exported: pipeline, tests)

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # stprompt/ (this file is stprompt/run/runner.py)


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
# Fingerprints of what a notebook computes from
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------

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

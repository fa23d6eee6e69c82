"""Keeping the committed notebooks clean (``make notebooks``).

Committed notebooks carry no outputs except the few cells that nbval checks: cells whose source
contains ``# NBVAL_CHECK_OUTPUT`` (they print rounded metrics of the smoke configuration). This
module re-executes a notebook with its default (smoke) parameters in the notebook's folder, exactly
as nbval will, then strips every output, execution count and run metadata except those cells, which
it marks ``keep_output`` (the cell-metadata flag nbstripout honours) and keeps their execution counts (nbval skips a reference
cell without one as "unrun").

    python -m stprompt.run.notebooks notebooks/*.ipynb          # execute, then strip
    python -m stprompt.run.notebooks --no-execute notebooks/*.ipynb   # strip only
    python -m stprompt.run.notebooks --filter < in.ipynb > out.ipynb  # strip stdin (the git filter)

Committed notebooks carry their metadata as JupyterLab writes it (the kernelspec :data:`KERNELSPEC`,
``language_info`` as the project's Python reports it), so opening and saving one in Lab rewrites the
same bytes; stripping drops the view state Lab records per cell (collapsed, scrolled) and numbers a
checked cell by its position among the code cells (nbval needs a count, any count). ``make install``
registers ``--filter`` as the git *clean* filter of ``notebooks/*.ipynb`` (``.gitattributes``): what a
user's run leaves in a notebook (outputs, counts) never reaches a commit, and ``git diff`` of a notebook
that was only run is empty. (``git status`` may still list such a file until ``git add`` refreshes
the index: git takes a change of file size as a change before it looks at the filtered content.)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
_RUN_METADATA = ("papermill", "execution", "widgets")
_VIEW_METADATA = ("collapsed", "scrolled", "jupyter", "ExecuteTime")  # how a cell was last shown
#: The kernelspec JupyterLab writes for the ``python3`` kernel of ipykernel.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def is_checked(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and CHECK_MARK in cell.source


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs, counts and run metadata except from nbval-checked cells (kept, marked), and
    normalise what JupyterLab rewrites (module docstring)."""
    for key in _RUN_METADATA:
        nb.metadata.pop(key, None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    position = 0
    for cell in nb.cells:
        for key in _RUN_METADATA + _VIEW_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        position += 1
        if is_checked(cell):  # nbval treats a cell without execution count as unrun: keep one
            cell.metadata["keep_output"] = True
            cell.execution_count = position
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = position
        else:
            cell.metadata.pop("keep_output", None)
            cell.outputs = []
            cell.execution_count = None
    return nb


def stripped_text(text: str) -> str:
    """A notebook's JSON text, stripped (:func:`strip`) and written as nbformat writes it."""
    nb = nbformat.reads(text, as_version=4)
    return nbformat.writes(strip(nb)) + "\n"


def execute(nb: nbformat.NotebookNode, folder: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Run the notebook with its default parameters in ``folder`` (as nbval does)."""
    from nbclient import NotebookClient

    from .kernels import kernel_manager_class  # the suite's quiet kernels (IPC, no stray interrupt)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    NotebookClient(nb, timeout=timeout, kernel_name="python3", kernel_manager_class=kernel_manager_class(),
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def refresh(path: str | Path, run: bool = True) -> Path:
    """Execute (optional) and strip one notebook in place, atomically."""
    from ..io import write_text

    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    if run:
        execute(nb, path.parent.resolve())
    nbformat.validate(strip(nb))
    write_text(path, nbformat.writes(nb) + "\n")
    return path


def git_filter(stdin=None, stdout=None) -> None:
    """The git clean filter: a notebook on stdin, stripped, on stdout. Input that is not a notebook
    (a merge conflict, a half-written file) passes through unchanged, so git never loses it."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    text = stdin.read()
    try:
        out = stripped_text(text)
    except Exception:  # not for this filter to judge: git keeps the bytes as they are
        out = text
    stdout.write(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*")
    parser.add_argument("--no-execute", action="store_true", help="strip only")
    parser.add_argument("--filter", action="store_true",
                        help="strip the notebook on stdin to stdout (git clean filter)")
    args = parser.parse_args(argv)
    if args.filter:
        git_filter()
        return 0
    if not args.notebooks:
        parser.error("name the notebooks to refresh (or --filter)")
    for p in args.notebooks:
        refresh(p, run=not args.no_execute)
        print(f"{p}: {'executed and ' if not args.no_execute else ''}stripped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Keeping the committed notebooks clean (``make notebooks``).

Committed notebooks carry no outputs except the few cells that nbval checks: cells whose source
contains ``# NBVAL_CHECK_OUTPUT`` (they print rounded metrics of the smoke configuration). This
module re-executes a notebook with its default (smoke) parameters in the notebook's folder, exactly
as nbval will, then strips every output, execution count and run metadata except those cells, which
it marks ``keep_output`` (the cell-metadata flag nbstripout honours) and keeps their execution counts (nbval skips a reference
cell without one as "unrun").

    python -m stprompt.notebooks notebooks/*.ipynb          # execute, then strip
    python -m stprompt.notebooks --no-execute notebooks/*.ipynb   # strip only
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
_RUN_METADATA = ("papermill", "execution", "widgets")


def is_checked(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and CHECK_MARK in cell.source


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs, counts and run metadata except from nbval-checked cells (kept, marked)."""
    for key in _RUN_METADATA:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in _RUN_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        if is_checked(cell):  # nbval treats a cell without execution count as unrun: keep it
            cell.metadata["keep_output"] = True
        else:
            cell.metadata.pop("keep_output", None)
            cell.outputs = []
            cell.execution_count = None
    return nb


def execute(nb: nbformat.NotebookNode, folder: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Run the notebook with its default parameters in ``folder`` (as nbval does)."""
    from nbclient import NotebookClient

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def refresh(path: str | Path, run: bool = True) -> Path:
    """Execute (optional) and strip one notebook in place, atomically."""
    from .io import write_text

    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    if run:
        execute(nb, path.parent.resolve())
    nbformat.validate(strip(nb))
    write_text(path, nbformat.writes(nb) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--no-execute", action="store_true", help="strip only")
    args = parser.parse_args(argv)
    for p in args.notebooks:
        refresh(p, run=not args.no_execute)
        print(f"{p}: {'executed and ' if not args.no_execute else ''}stripped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

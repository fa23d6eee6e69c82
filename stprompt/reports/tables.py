"""Saving results: figures, tables (Markdown / CSV / LaTeX) and the run's ``metrics.json``.

Notebooks show figures inline and save them through :func:`save_figure`; tables are lists of row
dicts saved through :func:`save_table`; numbers go to ``<run_dir>/metrics.json`` through
:func:`update_metrics`, one top-level key per notebook section. Everything is written atomically.

Layout inside a run folder::

    <run_dir>/figures/<name>.png
    <run_dir>/tables/<name>.md | .csv | .tex
    <run_dir>/metrics.json
"""

from __future__ import annotations

import base64
import csv
import io
import math
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..io import atomic_path, read_json, resolve, write_json, write_text


def figure_png(fig, dpi: float | None = None) -> bytes:
    """A matplotlib Figure as PNG bytes, cropped to its content (``bbox_inches="tight"``, as the
    inline backend draws it); ``dpi`` defaults to the figure's own. This is what notebooks display
    (registered for IPython by :func:`stprompt.show_figures_inline`)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, bbox_inches="tight")
    return buf.getvalue()


_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")


def embed_images(markdown: str, base_dir: str | Path) -> str:
    """``markdown`` with every ``![alt](file.png)`` whose file exists under ``base_dir`` replaced by
    an inline ``data:image/png;base64`` image, so that the text shows its figures wherever it is
    displayed (a notebook output, its HTML report) and not only next to the files. Links to missing
    files and non-PNG links are left as they are."""
    base = Path(base_dir)

    def inline(match: re.Match) -> str:
        path = base / match.group(2)
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"![{match.group(1)}](data:image/png;base64,{data})"

    return _IMAGE_LINK.sub(inline, markdown)


def save_figure(fig, run_dir: str | Path, name: str, dpi: int = 120) -> Path:
    """Save a matplotlib Figure as ``<run_dir>/figures/<name>.png``."""
    path = resolve(run_dir) / "figures" / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return path


def _fmt(value: Any, digits: int) -> str:
    if value is None:  # unknown (e.g. anomalous frames of a split without frame labels)
        return "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _columns(rows: Sequence[dict], columns: Sequence[str] | None) -> list[str]:
    if columns:
        return list(columns)
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def table_markdown(rows: Sequence[dict], columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (missing cells are empty)."""
    cols = _columns(rows, columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_fmt(r.get(c, ""), digits) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def table_csv(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    cols = _columns(rows, columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                 ("#", r"\#"), ("$", r"\$"), ("±", r"$\pm$")):
        text = text.replace(a, b)
    return text


def table_latex(rows: Sequence[dict], columns: Sequence[str] | None = None, digits: int = 3,
                caption: str = "") -> str:
    """A booktabs ``tabular`` (wrapped in ``table`` when a caption is given)."""
    cols = _columns(rows, columns)
    body = [r"\begin{tabular}{" + "l" * len(cols) + "}", r"\toprule",
            " & ".join(_latex_escape(c) for c in cols) + r" \\", r"\midrule"]
    body += [" & ".join(_latex_escape(_fmt(r.get(c, ""), digits)) for c in cols) + r" \\" for r in rows]
    body += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        body = [r"\begin{table}[t]", r"\centering", *body, r"\caption{" + _latex_escape(caption) + "}",
                r"\end{table}"]
    return "\n".join(body) + "\n"


def save_table(rows: Sequence[dict], run_dir: str | Path, name: str,
               columns: Sequence[str] | None = None, digits: int = 3, caption: str = "") -> dict[str, Path]:
    """Write ``rows`` as ``<run_dir>/tables/<name>.md``, ``.csv`` and ``.tex``; return the paths."""
    rows = list(rows)
    if not rows:
        raise ValueError(f"table '{name}' has no rows")
    base = resolve(run_dir) / "tables"
    paths = {"md": base / f"{name}.md", "csv": base / f"{name}.csv", "tex": base / f"{name}.tex"}
    write_text(paths["md"], table_markdown(rows, columns, digits))
    write_text(paths["csv"], table_csv(rows, columns))
    write_text(paths["tex"], table_latex(rows, columns, digits, caption))
    return paths


def mean_std(values: Iterable[float], digits: int = 3) -> str:
    """``"m ± s"`` over seeds (sample std, ddof=1; ``"m"`` alone for one value)."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("mean_std of no values")
    m = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{m:.{digits}f}"
    s = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def update_metrics(run_dir: str | Path, section: str, values: dict[str, Any]) -> Path:
    """Merge ``values`` into ``metrics.json[section]`` of the run (read, update, atomic write)."""
    path = resolve(run_dir) / "metrics.json"
    data = read_json(path) if path.is_file() else {}
    data.setdefault(section, {}).update(values)
    return write_json(path, data)


def load_metrics(run_dir: str | Path) -> dict:
    path = resolve(run_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics yet (run the notebooks of this profile first)")
    return read_json(path)

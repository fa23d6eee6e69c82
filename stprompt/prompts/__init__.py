"""Text queries of the spatial stream (PAPER, "Spatial stream"), shipped as package data.

- ``normal_background.txt``: the **normal** queries, background things as "a picture of <thing>"
  (one per line, ``#`` comments), shared by every dataset.
- ``<dataset>.yaml``: the **abnormal** queries, anomaly class -> list of fine-grained descriptions.
  The paper generates them with an LLM and does not publish them [choice: ship curated,
  hand-written files in LLM style; :mod:`stprompt.prompts.generate` regenerates them from an
  endpoint the user configures]. A class may map to an empty list: it has no appearance query
  (SynthVAD's ``running``, which only motion reveals).

:func:`load_queries` reads both; :func:`class_name_queries` gives the class-names-only baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import yaml

PROMPT_DIR = Path(__file__).resolve().parent
NORMAL_FILE = "normal_background.txt"
DATASETS = ("synthvad", "ucf_crime", "shanghaitech", "ubnormal")


class QueryFileError(ValueError):
    """A query file is missing, malformed, or lacks a requested class."""


def query_file(dataset: str, prompt_dir: str | Path | None = None) -> Path:
    """Path of the abnormal-query file of ``dataset`` (``<prompt_dir>/<dataset>.yaml``)."""
    return Path(prompt_dir or PROMPT_DIR) / f"{dataset}.yaml"


def read_normal_queries(path: str | Path | None = None) -> list[str]:
    """The normal (background) queries: one per non-blank line, ``#`` lines skipped."""
    p = Path(path) if path is not None else PROMPT_DIR / NORMAL_FILE
    if not p.is_file():
        raise QueryFileError(f"{p}: normal query file not found")
    lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
    queries = [ln for ln in lines if ln and not ln.startswith("#")]
    if not queries:
        raise QueryFileError(f"{p}: no query in the file (one per line, '#' for comments)")
    return queries


def read_abnormal_queries(path: str | Path) -> dict[str, list[str]]:
    """An abnormal-query YAML file: a mapping class -> list of strings (possibly empty)."""
    p = Path(path)
    if not p.is_file():
        raise QueryFileError(f"{p}: abnormal query file not found (known datasets: {list(DATASETS)}; "
                             f"`python -m stprompt.prompts.generate` can write one)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QueryFileError(f"{p}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict) or not data:
        raise QueryFileError(f"{p}: expected a mapping 'class: [descriptions]', got "
                             f"{type(data).__name__}")
    out: dict[str, list[str]] = {}
    for cls, texts in data.items():
        if texts is None:
            texts = []
        if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
            raise QueryFileError(f"{p}: class {cls!r} must map to a list of non-empty strings, got "
                                 f"{texts!r}")
        out[str(cls)] = [t.strip() for t in texts]
    return out


def load_queries(dataset: str, classes: Sequence[str] | None = None,
                 prompt_dir: str | Path | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """``(normal, abnormal)``: the background queries and, per anomaly class, its descriptions.

    Args:
        dataset: ``synthvad``, ``ucf_crime``, ``shanghaitech``, ``ubnormal`` (or any name with a
            ``<name>.yaml`` in ``prompt_dir``).
        classes: keep these classes, in this order (default: all, in file order). A class the file
            lacks raises :class:`QueryFileError` naming the file.
        prompt_dir: folder holding ``<dataset>.yaml`` and ``normal_background.txt`` (default: the
            package's own).
    """
    normal = read_normal_queries(Path(prompt_dir or PROMPT_DIR) / NORMAL_FILE)
    path = query_file(dataset, prompt_dir)
    abnormal = read_abnormal_queries(path)
    if classes is not None:
        missing = [c for c in classes if c not in abnormal]
        if missing:
            raise QueryFileError(f"{path}: no queries for class(es) {missing}; the file has "
                                 f"{list(abnormal)}")
        abnormal = {c: abnormal[c] for c in classes}
    if not any(abnormal.values()):
        raise QueryFileError(f"{path}: no abnormal query for classes {list(abnormal)}")
    return normal, abnormal


def class_name_queries(classes: Sequence[str], template: str = "a picture of {}") -> dict[str, list[str]]:
    """The class-names-only baseline: one query per class, ``template`` around the class name with
    underscores as spaces ("a picture of road accident")."""
    return {c: [template.format(c.replace("_", " "))] for c in classes}


NORMAL_QUERY_SETS = ("background", "normal")
ABNORMAL_QUERY_SETS = ("descriptions", "class_names")


def query_set(dataset: str, normal: str = "background", abnormal: str = "descriptions",
              prompt_dir: str | Path | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """The text queries of the spatial stream, by design (the query ablation of 04_ablations):

    - ``normal="background"``: the background list (the paper); ``"normal"``: the single word
      "normal";
    - ``abnormal="descriptions"``: the curated descriptions per class (the paper's LLM-style
      queries); ``"class_names"``: "a picture of <class>" per class.
    """
    if normal not in NORMAL_QUERY_SETS:
        raise ValueError(f"normal queries: expected one of {NORMAL_QUERY_SETS}, got {normal!r}")
    if abnormal not in ABNORMAL_QUERY_SETS:
        raise ValueError(f"abnormal queries: expected one of {ABNORMAL_QUERY_SETS}, got {abnormal!r}")
    background, descriptions = load_queries(dataset, prompt_dir=prompt_dir)
    return (background if normal == "background" else ["normal"],
            descriptions if abnormal == "descriptions" else class_name_queries(list(descriptions)))

"""Ablation grid files and their points: :class:`AblationGrid` (a ``params/ablations/<name>.yaml``,
whose format :mod:`stprompt.run.ablate` documents), :func:`load_grid` and :func:`plan_points` (every point's
checked parameters and fingerprint under a profile).

The steps of a profile (:mod:`stprompt.run.steps`) attach and fingerprint the grids with these; running
and summarising them is :mod:`stprompt.run.ablate`'s. Imports run one way: this module uses the notebook
runner and the schemas, never the steps, the pipeline or the ablation runner.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

from ..config import ConfigError, check_type, load_yaml, unknown_key_message
from ..io import resolve, stable_hash


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
    reference: dict[str, Any] = dataclasses.field(default_factory=dict)  # switches of the reference configuration
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
    switch_keys = set(grid.grid) | {k for p in grid.points for k in p}
    for key in grid.reference:
        if key not in switch_keys:
            raise ConfigError(unknown_key_message(f"{path}: key 'reference.{key}' (not a switch of this grid)", key,
                                                  sorted(switch_keys)))
    return grid


def _load_profile(grid: AblationGrid, source: str) -> Any:
    from ..config import load_profile

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
    from ..io import repo_root

    return str(path.relative_to(repo_root())) if path.is_relative_to(repo_root()) else str(path)

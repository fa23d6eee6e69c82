"""The steps of a profile: its notebooks checked against their parameters cells, chained by what
each needs, with the ablation grids attached, and fingerprinted (the caching of
:mod:`stprompt.run.pipeline`, whose docstring says what a fingerprint holds).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..config import ConfigError, Profile, check_type, load_profile, unknown_key_message
from .grids import load_grid, plan_points
from ..io import resolve, stable_hash
from .runner import (library_hash, notebook_defaults, notebook_modules, notebook_needs, notebook_parameters,
                     notebook_source_hash, parse_type_hint)


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


def fingerprint_steps(steps: list[Step], profile: Profile | None = None) -> list[Step]:
    """Set every step's ``upstream`` and ``fingerprint`` (see the module docstring). ``profile`` is
    needed when steps carry ablation grids (their points are planned against it)."""
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

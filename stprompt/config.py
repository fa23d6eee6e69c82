"""Run profiles (which notebooks run, with which parameters), loaded from YAML and checked.

A run's profile is :class:`Profile`, loaded by :func:`load_profile`, which checks it against the typed
schemas of :mod:`stprompt.schema` (:func:`from_dict` and friends, re-exported here under their old
names) and its ``reader:`` block against the dataset readers' options
(:data:`stprompt.datasets.READER_OPTIONS`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from .io import repo_root
from .schema import (ConfigError, _describe, _type_name, check_type, config_hash, from_dict, load_yaml,  # noqa: F401
                     read_yaml, to_dict, unknown_key_message)


# --------------------------------------------------------------------------------------------
# Profiles: which notebooks run, with which parameters.
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Profile:
    """A run profile (``params/<name>.yaml`` or ``params/<name>/profile.yaml``).

    The pipeline gives every notebook the parameters ``profile`` (name), ``profile_file`` (its YAML),
    ``run_dir``, ``ablations`` and ``reader`` when its parameters cell declares them, then the
    ``common`` values the notebook declares, then its own section of ``params``. Every key must
    exist in the target notebook's parameters cell and match its type hint (checked by
    :func:`stprompt.run.pipeline.validate_profile`).

    ``reader`` is the dataset reader's options (:data:`stprompt.datasets.READER_OPTIONS`: where the
    files are, the frame convention, ...), one block for every step that reads the dataset; it is
    checked against the options of the profile's ``dataset`` when the profile is loaded.
    """

    name: str = ""  # profile name; defaults to the file's name (``smoke`` for params/smoke/profile.yaml)
    description: str = ""  # one line shown by ``stprompt reproduce``
    notebook_dir: str = "notebooks"  # folder of the numbered notebooks, relative to the repo root
    notebooks: list[str] | None = None  # steps in order (stems); None = every NN_*.ipynb, sorted
    run_dir: str = ""  # outputs; default runs/<name>
    common: dict[str, Any] = dataclasses.field(default_factory=dict)  # given to every notebook declaring the key
    params: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # per-notebook values
    # ablation grids (``params/ablations/<name>.yaml`` or a path) that `reproduce` runs right after
    # the step of their notebook; notebooks declaring ``ablations`` receive this list
    ablations: list[str] = dataclasses.field(default_factory=list)
    ablation_jobs: int = 1  # grid points run at once by `reproduce` (one kernel each)
    # the dataset reader's options, given to every notebook that declares ``reader`` (datasets.load_dataset)
    reader: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = ""  # the file it was loaded from (set by load_profile)

    def notebook_params(self, notebook: str) -> dict[str, Any]:
        """The values this profile sets for ``notebook`` (before filtering to declared keys)."""
        source = Path(self.source) if self.source else None
        if source is not None and source.is_absolute() and source.is_relative_to(repo_root()):
            source = source.relative_to(repo_root())  # fingerprints must not depend on the checkout's place
        values = {"profile": self.name, "profile_file": str(source or ""), "run_dir": self.run_dir,
                  "ablations": list(self.ablations), "reader": dict(self.reader)}
        values.update(self.common)
        values.update(self.params.get(notebook, {}))
        return values

    def hash(self) -> str:
        return config_hash({k: v for k, v in to_dict(self).items() if k != "source"})


def profile_path(profile: str, params_dir: str | os.PathLike | None = None) -> Path:
    """Find a profile by name or path: ``NAME`` → ``params/NAME.yaml``, else
    ``params/NAME/profile.yaml``; an existing ``.yaml`` path is used as it is."""
    direct = Path(profile)
    if direct.suffix in (".yaml", ".yml") and (direct.is_file() or (repo_root() / direct).is_file()):
        return direct if direct.is_file() else repo_root() / direct
    base = Path(params_dir) if params_dir else repo_root() / "params"
    for candidate in (base / f"{profile}.yaml", base / profile / "profile.yaml"):
        if candidate.is_file():
            return candidate
    available = sorted({p.stem for p in base.glob("*.yaml")} |
                       {p.parent.name for p in base.glob("*/profile.yaml")}) if base.is_dir() else []
    raise ConfigError(f"profile '{profile}': neither {base / (profile + '.yaml')} nor "
                      f"{base / profile / 'profile.yaml'} exists (available: {', '.join(available) or 'none'})")


def load_profile(profile: str, params_dir: str | os.PathLike | None = None) -> Profile:
    """Load and check the schema of a profile (see :class:`Profile`)."""
    path = profile_path(profile, params_dir)
    prof = load_yaml(Profile, path)
    if not prof.name:
        prof.name = path.parent.name if path.name == "profile.yaml" else path.stem
    if not prof.run_dir:
        prof.run_dir = f"runs/{prof.name}"
    for nb, values in prof.params.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: key 'params.{nb}': expected a mapping of parameters, "
                              f"got {_describe(values)}")
    prof.source = str(path)
    check_reader(prof)
    return prof


def profile_datasets(prof: Profile) -> set[str]:
    """The datasets a profile's notebooks read (``dataset`` in ``common`` or any ``params``
    section); empty when it names none (the notebooks' default, SynthVAD)."""
    names = {prof.common["dataset"]} if "dataset" in prof.common else set()
    names |= {v["dataset"] for v in prof.params.values() if "dataset" in v}
    return {n for n in names if isinstance(n, str)}


def check_reader(prof: Profile) -> None:
    """Check the profile's ``reader`` block against the options of its dataset's reader: an unknown
    option or a wrong type is a :class:`ConfigError` naming the file and the key."""
    if not prof.reader:
        return
    from .datasets import READER_OPTIONS, reader_options

    datasets = profile_datasets(prof) or {"synthvad"}
    for name in sorted(datasets):
        if name not in READER_OPTIONS:
            raise ConfigError(f"{prof.source}: key 'dataset': unknown dataset '{name}' (known: "
                              f"{', '.join(READER_OPTIONS)})")
        reader_options(name, prof.reader, source=f"{prof.source}: key 'reader' ({name} reader)")

"""Data and feature *variants* for ablations that need more than new switches.

Two ablations of ``04_ablations`` cannot reuse the profile's features:

- the **anomaly-scale sweep** regenerates SynthVAD with another ``anomaly_area`` range (everything
  else as in the profile's ``meta.json``) into ``<run_dir>/data/synthvad_area-<lo>-<hi>/``;
- the **window recipe** ablations (grid size, window size, crop-encoded windows vs dense patch
  tokens) re-extract features with those fields changed (everything else as in the recipe stored
  with the profile's features) into ``<run_dir>/features/<data name>@<recipe hash>/``.

A variant is made once, under a file lock, and reused by every grid point and seed that asks for it
(parallel kernels wait for the first one). Both steps resume: the generator and the extractor skip
files that are already complete. While it makes a variant, a kernel computes with every core
(the other kernels are waiting for it), as ``01_data_prep`` does for the profile's own features;
grid points train with one thread (:mod:`stprompt.run.ablate`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..io import file_lock, read_json, resolve


@contextlib.contextmanager
def all_cores() -> Iterator[None]:
    """Compute with every core inside the block (torch's intra-op threads), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        torch.set_num_threads(before)

#: Feature fields an ablation may change (the window recipe); the rest come from the profile.
FEATURE_OVERRIDES = ("grid", "window", "patch_mode")


def area_label(anomaly_area: Sequence[float]) -> str:
    lo, hi = (float(a) for a in anomaly_area)
    return f"synthvad_area-{lo:g}-{hi:g}"


def synthvad_variant(base_root: str | Path, anomaly_area: Sequence[float], run_dir: str | Path,
                     workers: int = 1, progress: bool = False) -> Path:
    """The profile's SynthVAD (``base_root``) generated again with its anomalies scaled to
    ``anomaly_area = (lo, hi)`` (:func:`stprompt.synth.config.with_anomaly_area`: fire and explosion
    areas, and the camera zoom that sizes agent anomalies); returns its root. The base dataset
    itself when the range is the same."""
    from ..config import ConfigError, from_dict
    from ..synth import SynthConfig, generate
    from ..synth.config import with_anomaly_area

    base_root = resolve(base_root)
    meta_path = base_root / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: not a SynthVAD dataset (the anomaly-scale sweep "
                                f"regenerates SynthVAD; run 01_data_prep of the profile first)")
    config = dict(read_json(meta_path)["config"])
    if len(anomaly_area) != 2 or not 0 < float(anomaly_area[0]) <= float(anomaly_area[1]) < 1:
        raise ConfigError(f"anomaly_area: expected [lo, hi] with 0 < lo <= hi < 1, got {list(anomaly_area)}")
    if [float(a) for a in config["anomaly_area"]] == [float(a) for a in anomaly_area]:
        return base_root
    cfg = with_anomaly_area(from_dict(SynthConfig, config, source=str(meta_path)), anomaly_area)
    root = resolve(run_dir) / "data" / area_label(anomaly_area)
    with file_lock(root.parent / f".{root.name}.lock"):
        generate(cfg, root, progress=progress, workers=workers)
    return root


def feature_variant(base_feature_dir: str | Path, data_root: str | Path, dataset: str,
                    overrides: dict[str, Any], clip_model: Any, clip_info: Any, run_dir: str | Path,
                    data_name: str = "", splits: Sequence[str] = ("train", "val", "test"),
                    reader: dict[str, Any] | None = None, progress: bool = False) -> Path:
    """Features of ``data_root`` with the profile's recipe (read from ``base_feature_dir``) changed
    by ``overrides`` (keys of :data:`FEATURE_OVERRIDES`; empty values mean "as the profile").
    ``data_name``: the data variant's name (:func:`area_label`); empty for the profile's own data.
    ``splits`` and ``reader``: the profile's (the splits on disk and the reader options), so a
    variant holds the same videos as the profile's features; extraction goes through
    :func:`stprompt.features.extract_from_params`, the path of ``stprompt extract``.
    Returns the feature folder: the profile's own when neither the data nor the recipe changes."""
    from ..config import ConfigError
    from ..features import FeatureConfig, config_from_params, extract_from_params, make_recipe

    unknown = sorted(set(overrides) - set(FEATURE_OVERRIDES))
    if unknown:
        raise ConfigError(f"feature overrides: unknown key(s) {unknown}; expected {list(FEATURE_OVERRIDES)}")
    base_feature_dir = resolve(base_feature_dir)
    files = sorted(base_feature_dir.glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"{base_feature_dir}: no feature files (run 01_data_prep of the profile first)")
    from ..features import load_features

    base_recipe = load_features(files[0]).recipe
    base = dict(base_recipe["features"])
    changed = {k: v for k, v in overrides.items() if v not in (None, "", [], ())}
    cfg: FeatureConfig = config_from_params({**base, **changed})
    recipe_hash = make_recipe(cfg, clip_info.recipe())["recipe_hash"]
    if recipe_hash == base_recipe["recipe_hash"]:
        changed = {}  # the overrides repeat the profile's recipe
    if not changed and not data_name:
        return base_feature_dir
    out = resolve(run_dir) / "features" / ((data_name or dataset) + (f"@{recipe_hash[:8]}" if changed else ""))
    params = {**base, **changed, "run_dir": str(run_dir), "dataset": dataset, "data_root": str(data_root),
              "splits": list(splits), "reader": dict(reader or {})}
    with file_lock(out.parent / f".{out.name}.lock"), all_cores():
        extract_from_params(params, progress=progress, log=None, out_dir=out, clip=(clip_model, clip_info))
    return out

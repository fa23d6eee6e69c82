"""Features from notebook / profile parameters: the one home of ``01_data_prep`` and
``stprompt extract`` (:func:`extract_from_params`, :func:`check_from_params`; the recipe and the CLIP
spec read from the parameters; every rank waiting for the others before the manifests).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Sequence


from ..io import resolve
from .extract import extract_dataset, extraction_failures_message
from .files import FeatureFileError, check_split, manifest_path, missing_features_message, write_manifest
from .recipe import FeatureConfig, make_recipe


# --------------------------------------------------------------------------------------------
# From notebook / profile parameters (one home for 01_data_prep and `stprompt extract`)
# --------------------------------------------------------------------------------------------

def config_from_params(params: dict[str, Any]) -> FeatureConfig:
    """A :class:`FeatureConfig` from a parameters mapping: the keys named like its fields."""
    from ..config import from_dict

    names = {f.name for f in dataclasses.fields(FeatureConfig)}
    values = {k: v for k, v in params.items() if k in names}
    if values.get("stride") in ([], ()):  # notebooks write "no stride" as an empty list
        values["stride"] = None
    return from_dict(FeatureConfig, values, source="feature parameters")


def clip_spec_from_params(params: dict[str, Any]) -> Any:
    """The CLIP of a profile: ``clip_model``, ``clip_pretrained`` and ``clip_checkpoint`` (empty
    strings mean none); the tiny CLIP without a checkpoint means the one ``00_pretrain_vlm`` wrote
    to ``<run_dir>/vlm/tiny_clip.pt``. ``device`` ("cpu", "cuda", "auto"); under torchrun each rank
    uses ``cuda:<LOCAL_RANK mod the GPU count>``, so several ranks may share a GPU (each rank's
    decode workers take its share of the cores, :func:`default_workers`)."""
    from ..vlm import ClipSpec

    model = params.get("clip_model", "tiny_clip")
    checkpoint = params.get("clip_checkpoint") or None
    pretrained = params.get("clip_pretrained") or None
    if model == "tiny_clip" and checkpoint is None and pretrained is None:
        checkpoint = str(resolve(params["run_dir"]) / "vlm" / "tiny_clip.pt")
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"{checkpoint}: no tiny CLIP yet; run 00_pretrain_vlm of this profile "
                                    f"first (stprompt reproduce --only 00_pretrain_vlm)")
    device = params.get("device", "cpu")
    if device in ("cuda", "auto") and "LOCAL_RANK" in os.environ:
        import torch

        if torch.cuda.is_available():
            device = f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return ClipSpec(model=model, pretrained=pretrained, checkpoint=checkpoint, device=device)


def feature_dir(run_dir: str | Path, dataset: str) -> Path:
    return resolve(run_dir) / "features" / dataset


def split_line(summary: dict[str, Any]) -> str:
    """One line on what :func:`~stprompt.features.extract_dataset` did with a split."""
    up_to_date = f"{summary['skipped']} up to date"
    if summary.get("source_unchecked"):
        up_to_date += (f" ({summary['source_unchecked']} by their recipe alone: the video is gone or "
                       f"the file predates source digests)")
    changed = (f", {len(summary['source_changed'])} redone as their video changed"
               if summary.get("source_changed") else "")
    return (f"{summary['extracted']} extracted ({summary['frames']} frames), {up_to_date}{changed}, "
            f"{len(summary['failed'])} failed ({summary['wall_seconds']} s, {summary['workers']} decode workers)")


def extract_from_params(params: dict[str, Any], splits: Sequence[str] | None = None,
                        progress: bool = True, log: Any = print, workers: int | None = None,
                        out_dir: str | Path | None = None, clip: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Extract the features of every split of a profile's dataset (``01_data_prep`` parameters:
    ``run_dir``, ``dataset``, ``data_root``, ``splits``, ``reader``, the CLIP and the feature
    fields) with ``workers`` decode processes per rank (:func:`extract_dataset`). ``out_dir``
    (default ``<run_dir>/features/<dataset>``) and ``clip`` (an already built ``(model, info)``)
    serve the ablation variants, which extract through this same path.

    Under torchrun each rank extracts its :func:`shard` of each split; then the ranks wait for
    each other and rank 0 writes a manifest per split (:func:`write_manifest`), which names any
    video left without a valid feature file. Videos that could not be decoded are named in one
    error after that. Returns a summary per split."""
    from .. import vlm
    from ..datasets import load_dataset
    from ..datasets.video import VideoReadError

    cfg = config_from_params(params)
    model, info = clip if clip is not None else vlm.build_clip(clip_spec_from_params(params))
    root = resolve(params.get("data_root") or f"{params['run_dir']}/data/{params['dataset']}")
    out = resolve(out_dir) if out_dir is not None else feature_dir(params["run_dir"], params["dataset"])
    summary, split_records, failed = {}, {}, {}
    world = int(os.environ.get("WORLD_SIZE", 1))
    who = f"rank {os.environ.get('RANK', 0)}/{world} " if world > 1 else ""
    for split in splits or params.get("splits", ["train", "val", "test"]):
        split_records[split] = records = load_dataset(params["dataset"], root, split, params.get("reader"))
        start = time.perf_counter()
        summary[split] = extract_dataset(records, out, model, cfg, info.recipe(), device=info.device,
                                         progress=progress, workers=workers, raise_failures=False)
        summary[split]["wall_seconds"] = round(time.perf_counter() - start, 2)
        summary[split]["backbone"] = info.recipe()  # what the results page names (model, weights hash)
        failed.update({r.id: (r, summary[split]["failed"][r.id]) for r in records if r.id in summary[split]["failed"]})
        if log:
            log(f"{who}{split}: {split_line(summary[split])} -> {out}")
    wait_for_all_ranks()
    if int(os.environ.get("RANK", 0)) == 0:
        recipe_hash = make_recipe(cfg, info.recipe())["recipe_hash"]
        problems = []
        for split, records in split_records.items():
            try:
                summary[split]["manifest"] = str(write_manifest(records, out, split, recipe_hash))
            except FeatureFileError as exc:
                problems.append(str(exc))
        if failed:
            problems.insert(0, extraction_failures_message({k: v[1] for k, v in failed.items()},
                                                           [v[0] for v in failed.values()], 0))
        if problems:
            raise (VideoReadError if failed else FeatureFileError)("\n".join(problems))
        if log:
            log(f"manifests: every video of {', '.join(split_records)} has its features ({out})")
    elif failed:
        raise VideoReadError(extraction_failures_message({k: v[1] for k, v in failed.items()},
                                                         [v[0] for v in failed.values()], 0))
    return summary


def wait_for_all_ranks() -> None:
    """Under torchrun (``WORLD_SIZE`` > 1 and ``MASTER_ADDR`` set), a barrier of all ranks over
    gloo (no GPU needed); the timeout is long because ranks finish their shares at different times."""
    import datetime

    if int(os.environ.get("WORLD_SIZE", 1)) <= 1 or "MASTER_ADDR" not in os.environ:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=datetime.timedelta(hours=48))
    dist.barrier()


def check_from_params(params: dict[str, Any], splits: Sequence[str] | None = None,
                      log: Any = print) -> dict[str, Any]:
    """Check, without extracting, that every video of each split has a valid feature file
    (:func:`check_split`; of the manifest's recipe when the split has a manifest); raise
    :class:`FeatureFileError` naming every video that has not."""
    from ..datasets import load_dataset

    root = resolve(params.get("data_root") or f"{params['run_dir']}/data/{params['dataset']}")
    out = feature_dir(params["run_dir"], params["dataset"])
    result, problems = {}, []
    for split in splits or params.get("splits", ["train", "val", "test"]):
        records = load_dataset(params["dataset"], root, split, params.get("reader"))
        manifest = manifest_path(out, split)
        recipe_hash = None
        if manifest.is_file():
            from ..io import read_json

            recipe_hash = read_json(manifest).get("recipe_hash")
        result[split] = check_split(records, out, recipe_hash)
        if result[split]["problems"]:
            problems.append(missing_features_message(result[split]["problems"], len(records), f"split '{split}'"))
        elif log:
            log(f"{split}: all {len(records)} videos have features ({sum(result[split]['snippets'].values())} "
                f"snippets) in {out}")
    if problems:
        raise FeatureFileError("\n".join(problems))
    return result

"""Check the real-data extraction route on a GPU: UCF-Crime files in their official layout (the tiny
test fixture), a ViT-B/16 checkpoint (random weights saved to a local file, loaded as a user's
would be) and ``device: auto``, under ``torchrun``:

    torchrun --nproc_per_node=1 benchmarks/check_torchrun_extract.py [--out DIR]

Calls :func:`stprompt.features.extract_from_params`, the function behind
``stprompt extract --profile ucf_crime``, with the ucf_crime profile's parameters (data root,
weights and window size replaced for the fixture). Each rank writes its share of the videos; rank 0
then checks that every video has a feature file with the ViT-B/16 recipe and 512-d features, and
prints a JSON record (rank, world size, device used, seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> dict:
    from fixtures_datasets import make_ucf_crime

    from stprompt import vlm
    from stprompt.datasets import load_dataset
    from stprompt.features import clip_spec_from_params, extract_from_params, feature_dir, feature_path, \
        load_features

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    work = Path(args.out or tempfile.mkdtemp(prefix="torchrun_check_"))
    data, weights = work / "ucf_crime", work / "weights" / "ViT-B-16.pt"
    if rank == 0:  # one rank writes the fixture and the checkpoint
        make_ucf_crime(data)
        rand, _ = vlm.build_clip(vlm.ClipSpec("ViT-B-16", device="cpu"))
        vlm.save_checkpoint(rand, weights, model_name="ViT-B-16")
        (work / "ready").write_text("1")
    while not (work / "ready").is_file():
        time.sleep(0.5)
    params = {"run_dir": str(work / "run"), "dataset": "ucf_crime", "data_root": str(data), "splits": ["train", "test"],
              "clip_model": "ViT-B-16", "clip_checkpoint": str(weights), "device": "auto",
              "grid": [2, 2], "window": [16, 16], "batch_size": 512, "patch_mode": "crops"}
    t0 = time.perf_counter()
    summary = extract_from_params(params, progress=False, log=None)
    seconds = time.perf_counter() - t0
    record = {"rank": rank, "world_size": world, "local_rank": os.environ.get("LOCAL_RANK"),
              "device_used": clip_spec_from_params(params).device,
              "cuda": torch.cuda.is_available(),
              "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
              "extracted": {s: v["extracted"] for s, v in summary.items()}, "seconds": round(seconds, 2)}
    if rank == 0:
        out = feature_dir(params["run_dir"], "ucf_crime")
        videos = [r for s in params["splits"] for r in load_dataset("ucf_crime", data, s)]
        deadline = time.time() + 300
        while not all(feature_path(out, r.id).is_file() for r in videos) and time.time() < deadline:
            time.sleep(0.5)  # the other ranks' shares
        feats = [load_features(feature_path(out, r.id)) for r in videos]
        record.update(videos=len(videos), backbone=feats[0].recipe["backbone"].get("backbone"),
                      feature_dim=int(feats[0].frame.shape[1]), patch_shape=list(feats[0].patch.shape),
                      all_written=len(feats) == len(videos))
        print(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()

"""Benchmark feature extraction with several ``torchrun`` ranks (sharing the GPUs round robin):

    torchrun --nproc_per_node=N benchmarks/bench_extract_ranks.py --work DIR [--videos 48]

Rank 0 generates a SynthVAD test set (default-benchmark video lengths) and saves random ViT-B/16
(``--model``) weights to a local checkpoint in ``DIR`` (reused by later runs with the same ``DIR``); every rank
builds the CLIP on ``cuda:<LOCAL_RANK mod GPUs>`` (:func:`stprompt.features.clip_spec_from_params`),
warms up on one video, waits for the others, then extracts its share of the videos
(:func:`stprompt.features.extract_dataset` shards by ``RANK``). Rank 0 prints a JSON record:
ranks, snippets, wall time of the slowest rank, snippets per second.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import torch


def _wait(path: Path, n: int = 1, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while len(list(path.parent.glob(path.name))) < n:
        if time.time() > deadline:
            raise TimeoutError(f"waited {timeout} s for {n} x {path}")
        time.sleep(0.2)


def main() -> dict | None:
    from stprompt import vlm
    from stprompt.datasets import load_dataset
    from stprompt.features import FeatureConfig, clip_spec_from_params, extract_dataset
    from stprompt.synth import SynthConfig, generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="shared folder (data, checkpoint, outputs)")
    ap.add_argument("--videos", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--model", default="ViT-B-16", help="ViT-B-16, or tiny_clip (a quick run on CPU)")
    args = ap.parse_args()
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    work = Path(args.work)
    run = work / f"run_{world}"
    if rank == 0:
        n_classes = len(SynthConfig().classes)
        per_class = max(1, args.videos // (n_classes + 1))
        generate(SynthConfig(n_train_per_class=0, n_val_per_class=0, n_test_per_class=per_class, n_train_normal=0,
                             n_val_normal=0, n_test_normal=max(1, args.videos - per_class * n_classes)),
                 work / "data", progress=False, workers=4)
        weights = work / f"{args.model}.pt"
        if not weights.is_file():
            rand, _ = vlm.build_clip(vlm.ClipSpec(args.model, device="cpu"))
            vlm.save_checkpoint(rand, weights, model_name=args.model)
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        (run / "ready").write_text("1")
    _wait(run / "ready")
    spec = clip_spec_from_params({"clip_model": args.model, "clip_checkpoint": str(work / f"{args.model}.pt"),
                                  "device": "auto", "run_dir": str(run)})
    model, info = vlm.build_clip(spec)
    records = load_dataset("synthvad", work / "data", "test")
    cfg = FeatureConfig(batch_size=args.batch_size)
    extract_dataset(records[:1], run / f"warm{rank}", model, cfg, info.recipe(), device=info.device,
                    progress=False)  # not timed: allocations, autotuning
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    (run / f"warm_{rank}").write_text("1")
    _wait(run / "warm_*", world)
    t0 = time.perf_counter()
    summary = extract_dataset(records, run / "features", model, cfg, info.recipe(), device=info.device,
                              progress=False)
    sync()
    wall = time.perf_counter() - t0
    (run / f"done_{rank}.json").write_text(json.dumps({"rank": rank, "device": str(info.device), "wall": wall,
                                                       "snippets": summary["snippets"]}))
    if rank:
        return None
    _wait(run / "done_*.json", world)
    done = [json.loads(p.read_text()) for p in sorted(run.glob("done_*.json"))]
    total, slowest = sum(d["snippets"] for d in done), max(d["wall"] for d in done)
    record = {"model": args.model, "ranks": world, "gpus": torch.cuda.device_count(), "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
              "devices": sorted({d["device"] for d in done}), "videos": len(records), "snippets": total,
              "seconds_slowest_rank": round(slowest, 2), "snippets_per_s": round(total / slowest, 1),
              "cpu_count": os.cpu_count(), "torch_threads_per_rank": torch.get_num_threads()}
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()

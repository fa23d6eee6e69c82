"""Benchmark feature extraction: snippets per second end to end, split into decode, crop/resize,
encode and motion; peak memory; bytes per snippet on disk.

    python benchmarks/bench_extract.py [--videos 24] [--grid 3 4] [--save]
    python benchmarks/bench_extract.py --model ViT-B-16 --device cuda --batch-size 256   # on a GPU

Generates a small SynthVAD set (default-benchmark video lengths) into a temporary folder and
extracts it with the default feature recipe (mid frame, 3x4 windows of 48x48 px, each encoded as
an image, motion prior). ``--model tiny_clip`` uses random weights (speed does not depend on them);
``--model ViT-B-16`` saves random ViT-B/16 weights to a local checkpoint first and loads them through
the real checkpoint path (fp16 autocast on CUDA). Prints a JSON record; ``--save`` writes
``benchmarks/results/bench_extract[_<model>_<device>].json`` and a per-stage bar chart next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch

from stprompt import vlm
from stprompt.datasets import load_dataset
from stprompt.features import FeatureConfig, extract_dataset
from stprompt.synth import SynthConfig, generate


def build(model: str, device: str, tmp: Path):
    if model == "tiny_clip":
        return vlm.build_clip(vlm.ClipSpec("tiny_clip", device=device))
    # random weights saved to a local file, then loaded as a user's checkpoint would be
    rand, _ = vlm.build_clip(vlm.ClipSpec(model, device="cpu"))
    path = vlm.save_checkpoint(rand, tmp / f"{model}-random.pt", model_name=model)
    del rand
    return vlm.build_clip(vlm.ClipSpec(model, checkpoint=str(path), device=device))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=24, help="test videos generated (normal and anomalous)")
    ap.add_argument("--model", default="tiny_clip", help="tiny_clip or an open_clip name (ViT-B-16)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--grid", type=int, nargs=2, default=(3, 4))
    ap.add_argument("--patch-mode", default="crops", choices=("crops", "tokens", "none"))
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args(argv)

    n_classes = len(SynthConfig().classes)
    per_class = max(1, args.videos // (n_classes + 1))
    synth = SynthConfig(n_train_per_class=0, n_val_per_class=0, n_test_per_class=per_class,
                        n_train_normal=0, n_val_normal=0, n_test_normal=max(1, args.videos - per_class * n_classes))
    cfg = FeatureConfig(grid=tuple(args.grid), batch_size=args.batch_size, patch_mode=args.patch_mode)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate(synth, tmp / "data", progress=False, workers=2)
        records = load_dataset("synthvad", tmp / "data", "test")
        model, info = build(args.model, args.device, tmp)
        # warm-up (first-call allocations, cuDNN autotuning) on one video, not timed
        extract_dataset(records[:1], tmp / "warm", model, cfg, info.recipe(), device=args.device,
                        progress=False)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        summary = extract_dataset(records, tmp / "features", model, cfg, info.recipe(),
                                  device=args.device, progress=False)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (tmp / "features").glob("*.npz"))
    stages = summary["seconds"]
    snippets = summary["snippets"]
    images = snippets * (1 + (args.grid[0] * args.grid[1] if args.patch_mode == "crops" else 0))
    prep = stages.get("decode", 0) + stages.get("crop", 0) + stages.get("motion", 0)
    result = {
        "model": args.model, "device": args.device,
        "device_name": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or "cpu",
        "videos": len(records), "snippets": snippets, "images_encoded": images, "grid": list(args.grid),
        "patch_mode": args.patch_mode, "batch_size": args.batch_size, "seconds": round(wall, 2),
        "snippets_per_s": round(snippets / wall, 1), "images_per_s": round(images / wall, 1),
        "stage_seconds": stages, "stage_share": {k: round(v / sum(stages.values()), 3) for k, v in stages.items()},
        "decode_crop_motion_share": round(prep / sum(stages.values()), 3),
        "bytes_per_snippet": round(size / snippets), "peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    if args.device.startswith("cuda"):
        result["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(result, indent=2))
    if args.save:
        suffix = "" if (args.model, args.device) == ("tiny_clip", "cpu") else f"_{args.model}_{args.device}"
        from plots import save_result

        save_result(f"bench_extract{suffix}", result, {k: v / snippets * 1000 for k, v in stages.items()},
                    "milliseconds per snippet", f"Feature extraction, {args.model} on {result['device_name']}",
                    f"{result['snippets_per_s']} snippets/s end to end; decode+crop+motion "
                    f"{result['decode_crop_motion_share']:.0%} of the time")
    return result


if __name__ == "__main__":
    main()

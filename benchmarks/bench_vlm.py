"""Speed of the CLIP wrapper (stprompt.vlm): image, patch-token and text encoding, and pretraining.

The tiny CLIP must encode >= 600 images/s on 2 CPU cores (40 snippets/s with 13 images per snippet:
one frame and 12 crops) and pretrain within ~3 minutes; this script measures both. Timings are the
best of ``--repeats`` runs after a warm-up (other processes on a shared machine only ever slow a run
down), with the median alongside.

    HF_HUB_OFFLINE=1 python benchmarks/bench_vlm.py                       # tiny CLIP, CPU
    HF_HUB_OFFLINE=1 python benchmarks/bench_vlm.py --save                # + benchmarks/results/bench_vlm.json
    HF_HUB_OFFLINE=1 python benchmarks/bench_vlm.py --model ViT-B-16 --device cuda --no-pretrain
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

from stprompt import vlm
from stprompt.io import resolve, write_json


def _timed(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up (allocations, kernel selection, CUDA init)
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny_clip", help="model name or config (ClipSpec.model)")
    parser.add_argument("--checkpoint", default=None, help="optional weights file")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-pretrain", action="store_true", help="skip the pretraining step timing")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/bench_vlm.json")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model, info = vlm.build_clip(vlm.ClipSpec(model=args.model, checkpoint=args.checkpoint, device=args.device))
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    bs = args.batch_size
    h, w = info.image_size
    native = rng.integers(0, 256, (bs, h, w, 3), dtype=np.uint8)
    frames = rng.integers(0, 256, (bs, 120, 160, 3), dtype=np.uint8)  # SynthVAD frame size
    crops = rng.integers(0, 256, (bs, 40, 40, 3), dtype=np.uint8)  # a sliding window of a frame
    captions = ["a picture of grass", "a fire on the road", "two people fighting on the sidewalk",
                "a car driving on the road"] * (bs // 4)

    result: dict = {
        "model": info.model, "weights": info.weights, "device": info.device,
        "image_size": list(info.image_size), "context_length": info.context_length, "embed_dim": info.embed_dim,
        "params_total": sum(p.numel() for p in model.parameters()),
        "params_visual": sum(p.numel() for p in model.visual.parameters()),
        "build_s": round(build_s, 3), "batch_size": bs, "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    result["params_text"] = result["params_total"] - result["params_visual"]
    for key, fn, n in [
        ("images_native", lambda: vlm.encode_images(model, native, batch_size=bs), bs),
        ("images_from_frames_160x120", lambda: vlm.encode_images(model, frames, batch_size=bs), bs),
        ("images_from_crops_40x40", lambda: vlm.encode_images(model, crops, batch_size=bs), bs),
        ("patch_tokens_from_frames", lambda: vlm.encode_patch_tokens(model, frames, batch_size=bs), bs),
        ("texts", lambda: vlm.encode_texts(model, captions, batch_size=bs), len(captions)),
    ]:
        best, median = _timed(fn, args.repeats)
        result[f"{key}_per_s"] = round(n / best, 1)
        result[f"{key}_per_s_median"] = round(n / median, 1)
    result["snippets_per_s_13_images"] = round(result["images_from_crops_40x40_per_s"] / 13, 1)

    if not args.no_pretrain:
        n_train = 4 * 128
        images = rng.integers(0, 256, (n_train, h, w, 3), dtype=np.uint8)
        caps = (captions * (n_train // len(captions) + 1))[:n_train]
        vlm.pretrain(model, images[:256], caps[:256], epochs=1, batch_size=128, seed=0)  # warm-up
        history = vlm.pretrain(model, images, caps, epochs=3, batch_size=128, seed=0)
        result["pretrain_pairs_per_s"] = round(history["samples_per_s"], 1)
        result["pretrain_pairs_in_180_s"] = int(history["samples_per_s"] * 180)

    print(json.dumps(result, indent=2))
    if args.save:
        name = "bench_vlm.json" if args.model == "tiny_clip" and args.device == "cpu" else \
            f"bench_vlm_{args.model}_{args.device}.json".replace("/", "-").replace(":", "")
        write_json(resolve("benchmarks/results") / name, result)
    return result


if __name__ == "__main__":
    main()

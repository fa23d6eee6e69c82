"""Benchmark training and inference of every method on SynthVAD-shaped features.

    python benchmarks/bench_train.py [--videos 180] [--snippets 20] [--dim 128] [--device cpu] [--save]

Random features with the default benchmark's shapes (3x4 windows, D = 128 for the tiny CLIP;
``--dim 512 --clip ViT-B-16`` for the real route's shapes) are written to a temporary folder and
loaded through :class:`stprompt.train.FeatureSet`. For each method: seconds per training epoch
(batch 16, half normal / half anomalous) and inference snippets per second on the same videos.
Prints a JSON record; ``--save`` writes ``benchmarks/results/bench_train.json`` and a bar chart.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from stprompt import vlm
from stprompt.datasets import VideoRecord
from stprompt.features import save_features
from stprompt.model import ModelConfig, build_model
from stprompt.train import FeatureSet, TrainConfig, _batches, collate, predict

CLASSES = ["normal", "car_on_sidewalk", "explosion", "fighting", "fire", "road_accident", "running"]


def make_set(folder: Path, n: int, T: int, D: int, G: int, seed: int = 0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        label = int(i % 2)
        vid = f"v{i}"
        save_features(folder / f"{vid}.npz",
                      {"frame": rng.normal(size=(T, D)), "patch": rng.normal(size=(T, G, D)),
                       "motion": rng.random((T, G)), "boxes": np.zeros((G, 4), int)},
                      {"features": {"snippet_len": 16}, "recipe_hash": "bench"}, vid, T * 16)
        cls = CLASSES[1 + i % (len(CLASSES) - 1)] if label else "normal"
        recs.append(VideoRecord(id=vid, path=folder / f"{vid}.mp4", n_frames=T * 16, fps=25.0, label=label,
                                class_name=cls, split="train"))
    return FeatureSet(recs, folder, CLASSES, "bench")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=180)
    ap.add_argument("--snippets", type=int, default=20)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--clip", default="tiny_clip", help="CLIP whose text tower the A-branch uses")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=["stprompt", "vadclip", "mil", "zeroshot", "oracle"])
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    clip, info = vlm.build_clip(vlm.ClipSpec(args.clip, device=args.device))
    if info.embed_dim != args.dim:
        raise SystemExit(f"--dim {args.dim} does not match {args.clip}'s embedding size {info.embed_dim}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = make_set(Path(tmp), args.videos, args.snippets, args.dim, 12)
        for it in data.items:  # the oracle needs snippet labels: mark two snippets of anomalous videos
            it.snippet_labels = np.zeros(len(it.frame), np.float32)
            if it.label:
                it.snippet_labels[2:4] = 1
        cfg = TrainConfig(batch_size=16)
        for method in args.methods:
            model = build_model(ModelConfig(method=method), clip, CLASSES, args.dim).to(args.device)
            params = [p for p in model.parameters() if p.requires_grad]
            epoch_s = None
            if model.requires_training and params:
                opt = torch.optim.AdamW(params, lr=1e-3)
                rng = np.random.default_rng(0)
                times = []
                for _ in range(args.epochs):
                    t0 = time.perf_counter()
                    model.train()
                    for idx in _batches(data, cfg, rng):
                        batch = collate([data.items[i] for i in idx], args.device, max_len=cfg.max_len,
                                        with_frame_labels=model.uses_frame_labels)
                        loss, _ = model.loss(batch, model(batch))
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                    if args.device.startswith("cuda"):
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - t0)
                epoch_s = float(np.median(times))
            t0 = time.perf_counter()
            predict(model, data, device=args.device)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            infer = time.perf_counter() - t0
            results[method] = {"trainable_params": sum(p.numel() for p in params),
                               "seconds_per_epoch": None if epoch_s is None else round(epoch_s, 3),
                               "inference_snippets_per_s": round(args.videos * args.snippets / infer, 1)}
            print(method, results[method], file=sys.stderr)
    record = {"videos": args.videos, "snippets_per_video": args.snippets, "dim": args.dim, "clip": args.clip,
              "device": args.device, "device_name": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
              "windows": 12, "batch_size": 16, "methods": results, "cpu_count": os.cpu_count(),
              "torch_threads": torch.get_num_threads(), "load_avg_1min": round(os.getloadavg()[0], 2)}
    print(json.dumps(record, indent=2))
    if args.save:
        from plots import save_result

        save_result("bench_train" if args.device == "cpu" else f"bench_train_{args.clip}_{args.device}", record, {m: r["seconds_per_epoch"] or 0.0 for m, r in results.items()},
                    "seconds per training epoch",
                    f"Training on {args.videos} videos x {args.snippets} snippets, {os.cpu_count()} CPU cores",
                    "inference snippets/s: " + ", ".join(
                        f"{m} {r['inference_snippets_per_s']:.0f}" for m, r in results.items()))
    return record


if __name__ == "__main__":
    main()

"""Benchmark SynthVAD generation: render + H.264-encode + annotate N videos into a temporary folder.

    python benchmarks/bench_synth.py [--videos 300] [--workers 2] [--save]

Prints a JSON record (videos/s, frames/s, seconds, bytes on disk); ``--save`` also writes it to
``benchmarks/results/bench_synth.json`` and a per-stage bar chart ``bench_synth.png``. The class/split mix is the default config's, scaled to
``--videos``. A second, single-process pass over a few videos splits the time per stage
(simulation, rendering, encoding, annotation files) to show what dominates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from stprompt.synth import SynthConfig, make_spec
from stprompt.synth.render import ground_truth, render_frames, simulate
from stprompt.synth.writer import encode_mp4, generate, write_annotations


def scaled_config(n_videos: int, seed: int = 0) -> SynthConfig:
    """The default config's class/split proportions scaled to about ``n_videos`` videos."""
    base = SynthConfig(seed=seed)
    total = sum(base.counts(s, c) for s in ("train", "val", "test") for c in ("normal", *base.classes))
    k = n_videos / total
    fields = ("n_train_per_class", "n_val_per_class", "n_test_per_class", "n_train_normal",
              "n_val_normal", "n_test_normal")
    return SynthConfig(seed=seed, **{f: max(1 if "test" in f else 0, round(getattr(base, f) * k))
                                     for f in fields})


def stage_times(cfg: SynthConfig, n: int = 14) -> dict:
    """Milliseconds per frame of each stage, single process, on ``n`` test videos."""
    classes = ["normal", *cfg.classes]
    specs = [make_spec(cfg, "test", classes[i % len(classes)], i // len(classes)) for i in range(n)]
    times = dict.fromkeys(("simulate", "render", "encode", "annotations"), 0.0)
    frames_total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            t0 = time.perf_counter()
            plan = simulate(cfg, spec)
            t1 = time.perf_counter()
            frames, masks = render_frames(plan, with_masks=spec.label == 1)
            gt = ground_truth(plan, masks)
            t2 = time.perf_counter()
            encode_mp4(frames, Path(tmp) / "v.mp4", cfg.fps, cfg.crf, cfg.preset)
            t3 = time.perf_counter()
            write_annotations(Path(tmp), spec, gt)
            t4 = time.perf_counter()
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                times[key] += dt
            frames_total += len(frames)
    return {k: round(v / frames_total * 1000, 4) for k, v in times.items()} | {
        "frames": frames_total, "single_process_frames_per_s": round(frames_total / sum(times.values()), 1)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=300, help="approximate number of videos")
    ap.add_argument("--workers", type=int, default=2, help="worker processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", action="store_true", help="write benchmarks/results/bench_synth.json")
    ap.add_argument("--no-stages", action="store_true", help="skip the per-stage timing pass")
    args = ap.parse_args(argv)
    cfg = scaled_config(args.videos, args.seed)
    load_before = os.getloadavg()[0]  # other processes on the machine slow the workers down
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        meta = generate(cfg, Path(tmp) / "synthvad", progress=False, workers=args.workers)
        seconds = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    n_frames = sum(v["n_frames"] for v in meta["videos"])
    result = {
        "videos": len(meta["videos"]), "frames": n_frames, "workers": args.workers,
        "seconds": round(seconds, 2), "videos_per_s": round(len(meta["videos"]) / seconds, 2),
        "frames_per_s": round(n_frames / seconds, 1), "bytes_on_disk": size,
        "frame_size": [cfg.width, cfg.height], "preset": cfg.preset, "crf": cfg.crf,
        "load_avg_1min_before": round(load_before, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
        "av": av.__version__, "platform": platform.platform(),
    }
    if not args.no_stages:
        result["ms_per_frame_by_stage"] = stage_times(cfg)
    print(json.dumps(result, indent=2))
    if args.save:
        from plots import save_result

        stages = {k: v for k, v in result.get("ms_per_frame_by_stage", {}).items()
                  if k in ("simulate", "render", "encode", "annotations")}
        save_result("bench_synth", result, stages, "milliseconds per frame (one process)",
                    f"SynthVAD generation, {os.cpu_count()} CPU cores",
                    f"{result['videos']} videos / {result['frames']} frames in {result['seconds']} s with "
                    f"{result['workers']} workers = {result['frames_per_s']:.0f} frames/s (target: <= 60 s)")
    return result


if __name__ == "__main__":
    main()

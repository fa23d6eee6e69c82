"""Benchmark the spatial stream: cost per anomalous snippet, and `stprompt infer` frames per second.

    python benchmarks/bench_localize.py [--snippets 2000] [--profile synthvad --video PATH] [--save]

Part 1 needs nothing: random window features (3x4 windows, D = 128) against the SynthVAD queries
encoded by the tiny CLIP (random weights; speed does not depend on them): window scores, box and
heat map per snippet. Part 2 (with ``--video`` and a profile whose ``02_train`` has run) times
``stprompt infer`` end to end on that video. Prints JSON; ``--save`` writes
``benchmarks/results/bench_localize.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

from stprompt import vlm
from stprompt.localize import LocalizeConfig, encode_queries, heat_map, localize_video
from stprompt.prompts import load_queries


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snippets", type=int, default=2000)
    ap.add_argument("--profile", default="synthvad")
    ap.add_argument("--video", default=None, help="a video to time `stprompt infer` on")
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args(argv)
    clip, info = vlm.build_clip(vlm.ClipSpec("tiny_clip"))
    normal, abnormal = load_queries("synthvad")
    t0 = time.perf_counter()
    queries = encode_queries(clip, normal, abnormal)
    encode_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    patch = rng.normal(size=(args.snippets, 12, info.embed_dim)).astype(np.float32)
    patch /= np.linalg.norm(patch, axis=-1, keepdims=True)
    from stprompt.features import window_boxes

    boxes = window_boxes(120, 160, (3, 4), (48, 48))
    t0 = time.perf_counter()
    loc = localize_video(patch, np.ones(args.snippets), queries, LocalizeConfig(), 120, 160, theta=0.0,
                         window_boxes=boxes)
    score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in range(args.snippets):
        heat_map(loc["window_scores"][t], boxes, 120, 160)
    heat_s = time.perf_counter() - t0
    result = {"snippets": args.snippets, "queries": len(normal) + sum(len(v) for v in abnormal.values()),
              "query_encoding_s": round(encode_s, 3),
              "scores_and_box_us_per_snippet": round(score_s / args.snippets * 1e6, 1),
              "heat_map_us_per_snippet": round(heat_s / args.snippets * 1e6, 1),
              "cpu_count": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2)}
    if args.video:
        from stprompt.datasets import probe_video
        from stprompt.run.infer import infer

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            infer(args.video, args.profile, out=tmp, progress=False, log=None)
            wall = time.perf_counter() - t0
        n = probe_video(args.video).n_frames
        result["infer"] = {"video": args.video, "frames": n, "seconds": round(wall, 2),
                           "frames_per_s": round(n / wall, 1)}
    print(json.dumps(result, indent=2))
    if args.save:
        from plots import save_result

        save_result("bench_localize", result)
    return result


if __name__ == "__main__":
    main()

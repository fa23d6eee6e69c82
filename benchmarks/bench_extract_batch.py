"""Benchmark the CLIP batch size of extraction on the CPU: snippets/s per ``batch_size`` and whether
the features are the same bytes.

    python benchmarks/bench_extract_batch.py [--videos 40] [--sizes 64 128 256 512] [--repeats 3] [--save]

A SynthVAD test set at the default frame size (160x120) is generated once and extracted with the
default recipe (mid frame, 3x4 windows of 48 px each encoded as an image, motion prior) and the
tiny CLIP (random weights: the speed does not depend on them), in one process (``workers=0``, what
``stprompt extract`` does with a CPU encoder on 2 cores), once per batch size per repeat, the
sizes interleaved so that a change of load hits them alike. Reports snippets/s (median of the
repeats), the seconds inside the CLIP calls, and ``identical``: every size wrote the same feature
arrays as ``--sizes[0]`` (``batch_size`` is a recipe field, so the files' recipes differ; the
arrays are compared). ``--save`` writes ``benchmarks/results/bench_extract_batch.json``.

Why: with the tiny CLIP a chunk of 32 snippets sends 384 windows to the CLIP; in batches of 256
the MLP activations (256 x 65 x 512 floats) outgrow the cache, in batches of 128 they do not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_extract import build, encode_seconds, load, synth_set  # noqa: E402

from stprompt.features import FeatureConfig, extract_dataset, feature_path, load_features  # noqa: E402


def arrays_of(folder: Path, records) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for rec in records:
        f = load_features(feature_path(folder, rec.id))
        out[rec.id] = {"frame": f.frame, "patch": f.patch, "motion": f.motion}
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=40)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 128, 64, 512])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        records = synth_set(160, 120, args.videos, tmp / "data")
        model, info = build("tiny_clip", "cpu", tmp)
        runs: dict[int, list[dict]] = {b: [] for b in args.sizes}
        first = None
        identical = {}
        for rep in range(args.repeats):
            for b in args.sizes:
                out = tmp / f"features-{b}-{rep}"
                cfg = FeatureConfig(grid=(3, 4), window=(48, 48), batch_size=b)
                spent, restore = encode_seconds(model)
                before = load()
                t0 = time.perf_counter()
                summary = extract_dataset(records, out, model, cfg, info.recipe(), device="cpu",
                                          progress=False, workers=0)
                wall = time.perf_counter() - t0
                restore()
                runs[b].append({"seconds": round(wall, 2), "snippets_per_s": round(summary["snippets"] / wall, 1),
                                "encoder_seconds": round(spent["s"], 2), "load_before": before})
                print(f"batch {b:4d}: {summary['snippets'] / wall:6.1f} snippets/s (load {before})", file=sys.stderr)
                if rep == 0:
                    arrays = arrays_of(out, records)
                    if first is None:
                        first = arrays
                    identical[b] = all(np.array_equal(arrays[v][k], first[v][k]) for v in first for k in first[v]
                                       if first[v][k] is not None)
    summary = {b: {"snippets_per_s": statistics.median(r["snippets_per_s"] for r in rs),
                   "encoder_seconds": statistics.median(r["encoder_seconds"] for r in rs),
                   "identical_to_first": identical[b], "runs": rs} for b, rs in runs.items()}
    base = summary[args.sizes[0]]["snippets_per_s"]
    for b in summary:
        summary[b]["speed_vs_first"] = round(summary[b]["snippets_per_s"] / base, 3)
    result = {"benchmark": "bench_extract_batch", "cpu_count": os.cpu_count(), "machine": platform.machine(),
              "torch": torch.__version__, "videos": args.videos, "snippets": sum(-(-r.n_frames // 16) for r in records),
              "frame": "160x120", "recipe": "mid frame, 3x4 windows of 48 px as images, tiny CLIP",
              "repeats": args.repeats, "sizes": summary}
    print(json.dumps({b: {k: v for k, v in s.items() if k != "runs"} for b, s in summary.items()}, indent=1))
    if args.save:
        from plots import save_result

        save_result("bench_extract_batch", result)
    return result


if __name__ == "__main__":
    main()

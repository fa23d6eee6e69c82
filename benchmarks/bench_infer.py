"""Benchmark `stprompt infer` across frame sizes: wall time, frames per second and peak memory.

    python benchmarks/bench_infer.py [--profile synthvad] [--sizes 320x240 1280x720 1920x1080]
                                     [--seconds 15] [--save]

For each size, a clip of ``--seconds`` at 30 fps is made from the profile's first anomalous SynthVAD
test video (looped, scaled up with nearest-neighbour so the scene stays the same), and `stprompt infer`
runs on it in a fresh process whose peak resident memory is read from ``getrusage`` of its parent.
Needs a profile whose ``02_train`` has run (``make reproduce``, or ``make reproduce PROFILE=smoke``).
Prints JSON; ``--save`` writes ``benchmarks/results/bench_infer.{json,png}`` (peak memory per size).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FPS = 30

_MEASURE = ("import resource, subprocess, sys\n"
            "proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stderr.write(proc.stderr)\n"
            "print(proc.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def make_clip(source: Path, size: tuple[int, int], seconds: float, path: Path) -> int:
    """Loop ``source`` to ``seconds`` at 30 fps, scaled to ``size`` (w, h); return the frame count."""
    from PIL import Image

    from stprompt.datasets import iter_frames
    from stprompt.datasets.video import write_video

    base = [np.asarray(Image.fromarray(f).resize(size, Image.NEAREST)) for f in iter_frames(source)]
    n = int(round(seconds * FPS))
    write_video((base[i % len(base)] for i in range(n)), path, FPS)
    return n


def run_one(video: Path, profile: str, out: Path) -> dict:
    cmd = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "stprompt.run.cli", "infer", str(video),
           "--profile", profile, "--out", str(out), "--no-progress"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"infer failed on {video}:\n{proc.stderr[-2000:]}")
    rc, maxrss_kb = (int(v) for v in proc.stdout.split())
    if rc != 0:
        raise RuntimeError(f"infer failed on {video} (exit {rc}):\n{proc.stderr[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_gb": round(maxrss_kb / 2 ** 20, 3),
            "windows": json.loads((out / "scores.json").read_text())["windows"]["size"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="synthvad")
    ap.add_argument("--sizes", nargs="+", default=["320x240", "640x360", "1280x720", "1920x1080"])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from stprompt.config import load_profile
    from stprompt.datasets import load_dataset
    from stprompt.io import resolve

    prof = load_profile(args.profile)
    records = load_dataset("synthvad", resolve(prof.run_dir) / "data" / "synthvad", "test")
    source = next(r for r in records if r.label).path
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for text in args.sizes:
            w, h = (int(v) for v in text.split("x"))
            video = Path(tmp) / f"clip_{w}x{h}.mp4"
            n = make_clip(source, (w, h), args.seconds, video)
            res = run_one(video, args.profile, Path(tmp) / f"out_{w}x{h}")
            raw_gb = n * w * h * 3 / 2 ** 30
            rows.append({"size": text, "frames": n, "raw_frames_gb": round(raw_gb, 3), **res,
                         "frames_per_s": round(n / res["seconds"], 1),
                         "peak_over_raw": round(res["peak_rss_gb"] / raw_gb, 2)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    record = {"profile": args.profile, "clip_seconds": args.seconds, "fps": FPS, "runs": rows,
              "cpu_count": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
              "note": "peak resident memory of the whole `stprompt infer` process (Python, torch, the "
                      "CLIP, decoding, outputs); wall time includes the ~5 s of imports and the overlay video"}
    print(json.dumps(record, indent=2))
    if args.save:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from plots import save_result

        save_result("bench_infer", record, {r["size"]: r["peak_rss_gb"] for r in rows}, unit="peak memory (GB)",
                    title=f"stprompt infer, {args.seconds:g} s clips at {FPS} fps: peak memory per frame size",
                    note=f"tiny CLIP, {os.cpu_count()} CPU cores", shares=False)
    return record


if __name__ == "__main__":
    main()

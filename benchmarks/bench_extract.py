"""Benchmark feature extraction per frame size and execution mode: snippets/s, images/s, the share
of time the encoder waits, peak memory per rank; on a GPU the fraction of the compute bound.

    python benchmarks/bench_extract.py [--sizes 160x120 320x240 1280x720] [--modes legacy 0 pipeline] [--save]
    python benchmarks/bench_extract.py --model ViT-B-16 --device cuda --batch-size 512 --save   # on a GPU
    python benchmarks/bench_extract.py --long 10000 --sizes 1280x720 --modes pipeline --save        # memory

Per size it generates a SynthVAD test set at that frame size (the same video lengths as the default
benchmark) and extracts it with the default recipe (mid frame, 3x4 windows each encoded as an
image, motion prior), windows as the profiles set them for such frames (48 px for SynthVAD's
160x120, 112 px for UCF-Crime's 320x240, 288 px for UBnormal's 1280x720). Modes:

- ``legacy``: the extractor as it was before the pipeline (``tests/legacy_features.py``, a frozen
  copy), one process, one video after the other: "today's single process";
- ``0``: the current extractor in one process (``workers=0``);
- ``pipeline`` or ``N``: decode workers feeding the encoder (:class:`stprompt.features.DecodePool`;
  pipeline = the rank's cores minus one);
- ``auto``: what ``stprompt extract`` does by default on this machine and device
  (:func:`stprompt.features.default_workers`: no workers for a CPU encoder on fewer than 4 cores).

Every mode must write the same bytes (checked: ``identical_files``). Measured per run: snippets/s
and images/s end to end; ``encoder_wait_share`` = 1 - (time inside the CLIP calls) / wall time, the
share of the time the encoder has nothing to do (waiting for frames, cropping, saving); the seconds
per stage (for workers: summed over the workers); ``peak_rank_mib``: the largest sum over the rank's
processes (this one and its workers) of their proportional set size (PSS: shared pages split
between the processes sharing them), sampled every 20 ms. ``gflops_per_image``: FLOPs of one
image-encoder forward pass counted by ``torch.utils.flop_counter``; on CUDA,
``compute_bound_fraction`` = images/s x GFLOPs per image / the card's dense fp16 tensor peak.

``--long N``: instead, one video of N frames at each size (a moving pattern, written once), in
the given modes: peak memory per rank for a long video. ``uptime`` load is recorded before and
after each run (the project's 2 cores are shared: compare numbers taken at similar load).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from stprompt import vlm  # noqa: E402
from stprompt.datasets import load_dataset  # noqa: E402
from stprompt.datasets.video import iter_frames, write_video  # noqa: E402
from stprompt.features import (FeatureConfig, default_workers, extract_dataset, feature_path,  # noqa: E402
                               make_recipe, save_features, source_digest)
from stprompt.synth import SynthConfig, generate  # noqa: E402

#: Window side (px) the profiles use for frames of this height.
WINDOW_FOR_HEIGHT = {120: 48, 240: 112, 480: 224, 720: 288}
#: Dense fp16 tensor-core peaks (TFLOPS, fp32 accumulation; NVIDIA datasheets), by name fragment.
FP16_PEAK_TFLOPS = [("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4),
                    ("GH200", 989.4), ("B200", 2250.0), ("A100", 312.0), ("L40S", 362.0), ("L40", 181.0),
                    ("A10G", 70.0), ("A10", 125.0), ("L4", 121.0), ("V100", 125.0), ("T4", 65.0),
                    ("RTX 4090", 165.2), ("RTX 3090", 71.0)]


def card_peak(name: str) -> float | None:
    for fragment, peak in FP16_PEAK_TFLOPS:
        if fragment in name:
            return peak
    return None


def load() -> float:
    return round(os.getloadavg()[0], 2)


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = [int(c) for c in fh.read().split()]
                out += kids
                todo += kids
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return out


class RankMemory(threading.Thread):
    """Peak over time of the summed PSS of this process and its descendants (MiB)."""

    def __init__(self, interval: float = 0.02):
        super().__init__(daemon=True)
        self.interval, self.peak_kib, self.peak_processes = interval, 0, 1
        self._halt = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._halt.is_set():
            pids = [me] + _children(me)
            total = sum(_pss_kib(p) for p in pids)
            if total > self.peak_kib:
                self.peak_kib, self.peak_processes = total, len(pids)
            time.sleep(self.interval)

    def __enter__(self) -> "RankMemory":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._halt.set()
        self.join()

    @property
    def peak_mib(self) -> float:
        return round(self.peak_kib / 1024, 1)


def build(model: str, device: str, tmp: Path):
    if model == "tiny_clip":
        return vlm.build_clip(vlm.ClipSpec("tiny_clip", device=device))
    # random weights saved to a local file, then loaded as a user's checkpoint would be
    rand, _ = vlm.build_clip(vlm.ClipSpec(model, device="cpu"))
    path = vlm.save_checkpoint(rand, tmp / f"{model}-random.pt", model_name=model)
    del rand
    return vlm.build_clip(vlm.ClipSpec(model, checkpoint=str(path), device=device))


def gflops_per_image(model, info) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 3, *info.image_size, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.encode_image(x)
    return round(counter.get_total_flops() / 1e9, 3)


def encode_seconds(model):
    """Wrap ``model.encode_image`` to add up the time spent inside it (synchronised on CUDA)."""
    spent = {"s": 0.0}
    inner = model.encode_image
    cuda = next(model.parameters()).is_cuda

    def timed(*a, **k):
        t = time.perf_counter()
        out = inner(*a, **k)
        if cuda:
            torch.cuda.synchronize()
        spent["s"] += time.perf_counter() - t
        return out

    model.encode_image = timed
    return spent, lambda: setattr(model, "encode_image", inner)


def synth_set(width: int, height: int, videos: int, root: Path) -> list:
    n_classes = len(SynthConfig().classes)
    per_class = max(0, videos // (n_classes + 1))
    cfg = SynthConfig(n_train_per_class=0, n_val_per_class=0, n_test_per_class=per_class, n_train_normal=0,
                      n_val_normal=0, n_test_normal=max(1, videos - per_class * n_classes), width=width, height=height)
    generate(cfg, root, progress=False, workers=os.cpu_count() or 1)
    return load_dataset("synthvad", root, "test")


def long_video(width: int, height: int, n_frames: int, path: Path) -> list:
    """One video of a textured background with moving squares (cheap to generate at any size)."""
    if not path.is_file():
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:height, 0:width]
        base = np.stack([(xx // 4) % 256, (yy // 3) % 256, ((xx + yy) // 5) % 256], -1).astype(np.uint8)
        grain = [rng.integers(0, 8, base.shape, dtype=np.uint8) for _ in range(4)]
        side = height // 8

        def frames():
            for t in range(n_frames):
                img = base + grain[t % 4]
                x = (7 * t) % (width - side)
                img[height // 3:height // 3 + side, x:x + side] = 240
                y = (3 * t) % (height - side)
                img[y:y + side, width // 2:width // 2 + side] = 30
                yield img

        write_video(frames(), path, fps=30)
    return [SimpleNamespace(id=path.stem, path=path, n_frames=n_frames)]


def run_legacy(records, out: Path, model, cfg, info, device):
    """The old loop of extract_dataset over the frozen old extractor."""
    import legacy_features

    timer = legacy_features.Timer()
    recipe = make_recipe(cfg, info.recipe())
    snippets = 0
    for rec in records:
        arrays = legacy_features.extract_frames(iter_frames(rec.path, 0, rec.n_frames), rec.n_frames, model, cfg,
                                                device=device, timer=timer)
        save_features(feature_path(out, rec.id), arrays, recipe, rec.id, rec.n_frames, source=source_digest(rec.path))
        snippets += len(arrays["frame"])
    return {"snippets": snippets, "seconds": {k: round(v, 3) for k, v in timer.seconds.items()}, "workers": 0}


def files_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.glob("*.npz")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]


def measure(mode: str, records, out: Path, model, info, cfg, device: str, images_per_snippet: int) -> dict:
    spent, restore = encode_seconds(model)
    before = load()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with RankMemory() as mem:
        if mode == "legacy":
            summary = run_legacy(records, out, model, cfg, info, device)
        else:
            if mode == "auto":  # what a user gets on this machine and device
                workers = default_workers(device)
            elif mode == "pipeline":  # decode workers whatever the device: the rank's cores less one
                workers = default_workers("cuda")
            else:
                workers = int(mode)
            summary = extract_dataset(records, out, model, cfg, info.recipe(), device=device, progress=False,
                                      workers=workers)
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    restore()
    snippets = summary["snippets"]
    run = {"mode": mode, "workers": summary["workers"], "snippets": snippets, "seconds": round(wall, 2),
           "snippets_per_s": round(snippets / wall, 1), "images_per_s": round(snippets * images_per_snippet / wall, 1),
           "encoder_seconds": round(spent["s"], 3), "encoder_wait_share": round(1 - spent["s"] / wall, 3),
           "stage_seconds": summary["seconds"], "peak_rank_mib": mem.peak_mib,
           "processes_at_peak": mem.peak_processes, "load_before": before, "load_after": load(),
           "files_digest": files_digest(out)}
    if cuda:
        run["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(f"  {mode:>6}: {run['snippets_per_s']:7.1f} snippets/s, encoder waits {run['encoder_wait_share']:.0%}, "
          f"peak {run['peak_rank_mib']:.0f} MiB per rank (load {before} -> {run['load_after']})", file=sys.stderr)
    return run


def figure(result: dict):
    from matplotlib.figure import Figure

    sizes = list(dict.fromkeys(r["size"] for r in result["runs"]))
    modes = list(dict.fromkeys(r["mode"] for r in result["runs"]))
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    width = 0.8 / len(modes)
    label = {"legacy": "before (one process)", "0": "now, one process (workers=0)",
             "pipeline": "now, pipeline (cores - 1 workers)",
             "auto": "default (auto)"}
    for k, mode in enumerate(modes):
        runs = [next((r for r in result["runs"] if r["size"] == s and r["mode"] == mode), None) for s in sizes]
        for ax, key in zip(axes, ("snippets_per_s", "encoder_wait_share", "peak_rank_mib")):
            vals = [r[key] if r else 0 for r in runs]
            bars = ax.bar(np.arange(len(sizes)) + k * width, vals, width, label=label.get(mode, f"workers={mode}"))
            for b, v in zip(bars, vals):
                ax.text(b.get_x() + b.get_width() / 2, b.get_height(), f"{v:.0f}" if key == "peak_rank_mib"
                        else f"{v:.2g}" if key == "encoder_wait_share" else f"{v:.3g}", ha="center", va="bottom",
                        fontsize=7)
    for ax, title in zip(axes, ("snippets / s", "share of time the encoder waits", "peak memory per rank (MiB, PSS)")):
        ax.set_xticks(np.arange(len(sizes)) + width * (len(modes) - 1) / 2, sizes)
        ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.margins(y=0.12)  # room for the value labels
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(modes), fontsize=8)
    fig.suptitle(f"Feature extraction, {result['model']} on {result['device_name']} ({result['cpu_count']} cores; "
                 f"load {result['runs'][0]['load_before']}-{max(r['load_after'] for r in result['runs'])})", fontsize=10)
    return fig


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["160x120", "320x240", "1280x720"])
    ap.add_argument("--modes", nargs="+", default=["legacy", "0", "pipeline"],
                    help="legacy, 0, pipeline, auto or a worker count")
    ap.add_argument("--videos", type=int, nargs="+", default=None,
                    help="test videos per size (default 48, 24, 4 for growing sizes)")
    ap.add_argument("--long", type=int, default=0, help="one video of this many frames per size instead")
    ap.add_argument("--model", default="tiny_clip", help="tiny_clip or an open_clip name (ViT-B-16)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--chunk-snippets", type=int, default=32, help="snippets encoded together (a recipe field)")
    ap.add_argument("--work", default=None, help="keep generated videos here (reused by later runs)")
    ap.add_argument("--torch-threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--save", action="store_true")
    ap.add_argument("--plot", default=None, help="only redraw the chart of this saved JSON record")
    args = ap.parse_args(argv)
    if args.plot:
        from plots import save

        from stprompt.io import read_json

        save(figure(read_json(args.plot)), Path(args.plot).with_suffix(".png"))
        return read_json(args.plot)
    videos = args.videos or [48, 24, 4, 4][:len(args.sizes)]
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    tmpdir = tempfile.TemporaryDirectory()
    work = Path(args.work) if args.work else Path(tmpdir.name)
    model, info = build(args.model, args.device, work)
    cuda = args.device.startswith("cuda")
    device_name = torch.cuda.get_device_name(0) if cuda else (platform.processor() or "cpu")
    result = {"model": args.model, "device": args.device, "device_name": device_name,
              "gflops_per_image": gflops_per_image(model, info), "batch_size": args.batch_size,
              "chunk_snippets": args.chunk_snippets,
              "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
              "default_workers": default_workers(args.device), "long_video_frames": args.long or None, "runs": []}
    peak = card_peak(device_name) if cuda else None
    result["fp16_peak_tflops"] = peak
    for size, n_videos in zip(args.sizes, videos):
        w, h = (int(v) for v in size.split("x"))
        side = WINDOW_FOR_HEIGHT.get(h, max(16, h // 3))
        cfg = FeatureConfig(grid=(3, 4), window=(side, side), batch_size=args.batch_size,
                            chunk_snippets=args.chunk_snippets)
        if args.long:
            records = long_video(w, h, args.long, work / f"long_{size}_{args.long}.mp4")
        else:
            records = synth_set(w, h, n_videos, work / f"synth_{size}_{n_videos}")
        print(f"{size}: {len(records)} videos, {sum(r.n_frames for r in records)} frames, windows {side} px",
              file=sys.stderr)
        warm = sorted(records, key=lambda r: r.n_frames)[:1] if not args.long else []
        if warm:  # first-call allocations, autotuning: not timed
            extract_dataset(warm, work / "warm" / size, model, cfg, info.recipe(), device=args.device,
                            progress=False, workers=0)
        for mode in args.modes:
            out = Path(tempfile.mkdtemp(dir=work, prefix=f"out_{size}_{mode}_"))
            run = measure(mode, records, out, model, info, cfg, args.device, 1 + 12)
            run.update(size=size, videos=len(records), frames=sum(r.n_frames for r in records), window=side)
            if peak:
                run["compute_bound_fraction"] = round(run["images_per_s"] * result["gflops_per_image"] / (peak * 1e3), 4)
            result["runs"].append(run)
            for p in out.glob("*.npz"):
                p.unlink()
    by = {(r["size"], r["mode"]): r for r in result["runs"]}
    result["identical_files"] = all(len({by[(s, m)]["files_digest"] for m in args.modes if (s, m) in by}) == 1
                                    for s in args.sizes)
    result["speedup_over_legacy"] = {f"{s} {m}": round(by[(s, m)]["snippets_per_s"] / by[(s, "legacy")]["snippets_per_s"], 2)
                                     for s in args.sizes for m in args.modes
                                     if m != "legacy" and (s, "legacy") in by and (s, m) in by}
    result["peak_rss_main_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    import json

    print(json.dumps(result, indent=2))
    if args.save:
        from plots import save

        from stprompt.io import repo_root, write_json

        name = "bench_extract_pipeline" + ("" if (args.model, args.device) == ("tiny_clip", "cpu") else f"_{args.model}_{args.device}")
        if args.long:
            name += f"_long{args.long}"
        if args.chunk_snippets != 32:
            name += f"_chunk{args.chunk_snippets}"
        out = repo_root() / "benchmarks" / "results" / f"{name}.json"
        write_json(out, result)
        save(figure(result), out.with_suffix(".png"))
        print(f"wrote {out} and {out.with_suffix('.png')}", file=sys.stderr)
    tmpdir.cleanup()
    return result


if __name__ == "__main__":
    main()

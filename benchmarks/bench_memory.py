"""Memory of training and evaluation on a UCF-Crime-sized feature set (what ``02_train`` does with
the ``ucf_crime`` profile), in bounded memory thanks to memory-mapped features.

    python benchmarks/bench_memory.py [--work DIR] [--methods stprompt vadclip] [--steps 4] [--save]

Generates (once, into ``--work``) random feature files of UCF-Crime's real shapes: 1,610 training
and 290 test videos, D = 512, G = 12 windows, fp16 as extraction writes them. Video lengths are
drawn from a log-normal (sigma = 1) scaled so the set holds UCF-Crime's 128 hours at 30 fps
(~864k snippets of 16 frames; mean 7,247 frames per video, as Sultani et al. report), capped at one
hour; 13 anomaly classes and 800/150 normal videos as in the release. About 11.7 GB on disk.

Then, in a fresh process (so its memory is its own), it runs ``02_train``'s steps with the
profile's training parameters: the feature sets of train (10 % of it held out for validation,
per class) and test (:func:`stprompt.train.FeatureSet`, every file checked), for each method
``fit_and_score`` (training, validation scoring at every epoch, test and validation scores), and
the frame-level evaluation of the test split. Training is cut to ``--steps`` batches of 64 videos x
256 snippets per epoch and 1 epoch (each step builds one batch, so memory does not grow with the
number of steps; every validation and test video is scored in full). Reported: the peak resident
memory of the process (``ru_maxrss``), the peak sampled per phase, time per phase, and what the
same set would take loaded into memory as float32 (the previous ``FeatureSet``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

D, G, SNIPPET, FPS = 512, 12, 16, 30
N_TRAIN, N_TEST = 1610, 290
TOTAL_HOURS, CAP_SNIPPETS = 128, 3600 * FPS // SNIPPET  # 864k snippets in all; one hour at most
CLASSES = ["Abuse", "Arrest", "Arson", "Assault", "Burglary", "Explosion", "Fighting", "RoadAccidents",
           "Robbery", "Shooting", "Shoplifting", "Stealing", "Vandalism"]
NORMAL_TRAIN, NORMAL_TEST = 800, 150


def lengths(n: int, rng: np.random.Generator) -> np.ndarray:
    total = TOTAL_HOURS * 3600 * FPS // SNIPPET
    raw = rng.lognormal(0.0, 1.0, n)
    scale = total / raw.sum()
    for _ in range(20):  # rescale after capping so the total stays UCF-Crime's
        t = np.clip(np.round(raw * scale), 2, CAP_SNIPPETS)
        scale *= total / t.sum()
    return np.clip(np.round(raw * scale), 2, CAP_SNIPPETS).astype(int)


def plan(seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    T = lengths(N_TRAIN + N_TEST, rng)
    videos = []
    for i, t in enumerate(T):
        split = "train" if i < N_TRAIN else "test"
        k = i if split == "train" else i - N_TRAIN
        normal = k < (NORMAL_TRAIN if split == "train" else NORMAL_TEST)
        cls = "Normal" if normal else CLASSES[k % len(CLASSES)]
        videos.append({"id": f"{split}_{cls}_{k:04d}", "split": split, "snippets": int(t), "label": int(not normal),
                       "class_name": "normal" if normal else cls})
    return videos


def generate(work: Path, videos: list[dict]) -> None:
    from stprompt.features import feature_path, save_features

    fdir = work / "features"
    marker = fdir / "COMPLETE"
    if marker.is_file():
        return
    rng = np.random.default_rng(1)
    pool = rng.standard_normal((1 << 16, D), dtype=np.float32)
    pool = (pool / np.linalg.norm(pool, axis=1, keepdims=True)).astype(np.float16)  # like CLIP features
    recipe = {"features": {"snippet_len": SNIPPET}, "recipe_hash": "ucf-sized-random"}
    t0 = time.perf_counter()
    for v in videos:
        T = v["snippets"]
        arrays = {"frame": pool[rng.integers(0, len(pool), T)],
                  "patch": pool[rng.integers(0, len(pool), T * G)].reshape(T, G, D),
                  "motion": rng.random((T, G), dtype=np.float32), "boxes": np.zeros((G, 4), int)}
        save_features(feature_path(fdir, v["id"]), arrays, recipe, v["id"], T * SNIPPET)
    marker.write_text("ok\n")
    print(f"generated {len(videos)} feature files in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


class Peak(threading.Thread):
    """Resident memory of this process, sampled; peak per named phase."""

    def __init__(self):
        super().__init__(daemon=True)
        self.phase, self.peaks, self._halt = "start", {}, threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            with open("/proc/self/status") as fh:
                rss = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
            time.sleep(0.05)

    def stop(self) -> dict:
        self._halt.set()
        self.join()
        return {k: round(v / 1024, 1) for k, v in self.peaks.items()}


def measure(work: Path, methods: list[str], steps: int) -> dict:
    """02_train's steps on the generated set (module docstring); runs in its own process."""
    import torch

    from stprompt import train as T
    from stprompt import vlm
    from stprompt.datasets.records import VideoRecord
    from stprompt.model import ModelConfig

    peak = Peak()
    peak.start()
    seconds = {}
    t = time.perf_counter()
    videos = plan()
    rng = np.random.default_rng(2)
    records = {"train": [], "test": []}
    for v in videos:
        n = v["snippets"] * SNIPPET
        seg = None
        if v["split"] == "test" and v["label"]:
            a = int(rng.integers(0, n // 2))
            seg = [(a, min(n - 1, a + n // 4))]
        records[v["split"]].append(VideoRecord(v["id"], work / f"{v['id']}.mp4", n, 30.0, v["label"], v["class_name"],
                                               v["split"], segments=seg))
    records["train"], records["val"] = T.split_train_val(records["train"], 0.1, 0)
    fdir = work / "features"
    class_names = ["normal", *sorted({r.class_name for r in records["train"] if r.label})]
    peak.phase = "feature sets"
    sets = {s: T.FeatureSet(records[s], fdir, class_names, "ucf-sized-random", allow_unknown_classes=s != "train")
            for s in ("train", "val", "test")}
    seconds["feature sets (check + map 1,900 files)"] = round(time.perf_counter() - t, 1)
    float32_bytes = sum(v["snippets"] * (D + G * D + G) * 4 for v in videos)
    clip, _ = vlm.build_clip(vlm.ClipSpec("ViT-B-16"))  # the text tower of the A-branch (random weights)
    original = T._batches
    T._batches = lambda data, cfg, rng: original(data, cfg, rng)[:steps]  # memory does not depend on the count
    runs = {}
    for method in methods:
        peak.phase = f"{method}: train + score val/test"
        t = time.perf_counter()
        cfg = ModelConfig(method=method)
        tcfg = T.TrainConfig(seed=0, epochs=1, batch_size=64, lr=2e-4, max_len=256)  # the ucf_crime profile's
        run = T.fit_and_score(cfg, tcfg, sets, clip, {"recipe_hash": "ucf-sized-random"}, work / "run", method,
                              force=True)
        seconds[f"{method}: 1 epoch of {steps} steps + val + test scoring"] = round(time.perf_counter() - t, 1)
        peak.phase = f"{method}: evaluate"
        t = time.perf_counter()
        report = T.evaluate(run["test_scores"], records["test"])
        seconds[f"{method}: frame-level evaluation"] = round(time.perf_counter() - t, 1)
        trained = _model(method, clip, class_names)
        trained.load_state_dict(T.load_checkpoint(run["checkpoint"])["state_dict"])
        runs[method] = {"val_" + run["selection_metric"]: round(run["val_score"], 4),
                        "test_auc_micro": round(report["auc_micro"], 4),
                        "context_snippets": T.model_context(trained)}  # None: scored in one pass
    T._batches = original
    phase_peaks = peak.stop()
    snippets = {s: int(sum(len(it.frame) for it in sets[s].items)) for s in sets}
    return {"videos": {s: len(records[s]) for s in records}, "snippets": snippets,
            "longest_video_snippets": int(max(v["snippets"] for v in videos)),
            "feature_files_gib": round(sum(p.stat().st_size for p in fdir.glob("*.npz")) / 2**30, 2),
            "float32_in_memory_gib_before": round(float32_bytes / 2**30, 2),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "peak_rss_mib_per_phase": phase_peaks, "seconds": seconds, "methods": runs,
            "steps_per_epoch": steps, "torch_threads": torch.get_num_threads()}


def _model(method, clip, class_names):
    from stprompt.model import ModelConfig, build_model

    return build_model(ModelConfig(method=method), clip, class_names, D)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/stprompt_ucf_sized", help="where the feature files go (~11.7 GB)")
    ap.add_argument("--methods", nargs="+", default=["stprompt", "vadclip", "mil", "zeroshot"])
    ap.add_argument("--steps", type=int, default=4, help="training batches per epoch (1 epoch)")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the child process
    ap.add_argument("--save", action="store_true")
    ap.add_argument("--plot-only", action="store_true", help="redraw the chart of the saved JSON")
    args = ap.parse_args(argv)
    work = Path(args.work)
    if args.measure:
        print(json.dumps(measure(work, args.methods, args.steps)))
        return {}
    if args.plot_only:  # redraw the chart of the saved record
        from stprompt.io import read_json, repo_root

        result = read_json(repo_root() / "benchmarks" / "results" / "bench_memory.json")
        plot(result)
        return result
    generate(work, plan())
    load = round(os.getloadavg()[0], 2)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--measure", "--work", str(work), "--steps", str(args.steps),
                           "--methods", *args.methods], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stderr)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(wall_seconds=round(time.perf_counter() - t, 1), load_before=load,
                  load_after=round(os.getloadavg()[0], 2), target_gib=8, cpu_count=os.cpu_count())
    print(json.dumps(result, indent=2))
    if args.save:
        plot(result)
    return result


def plot(result: dict) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from plots import save_result

    peaks = result["peak_rss_mib_per_phase"]  # in the order the phases ran (the JSON sorts keys)
    order = ["start", "feature sets"] + [f"{m}: {p}" for m in ("stprompt", "vadclip", "mil", "zeroshot")
                                         for p in ("train + score val/test", "evaluate")]
    phases = [k for k in order if k in peaks] + [k for k in peaks if k not in order]
    save_result("bench_memory", result, {k: peaks[k] / 1024 for k in phases},
                "peak resident memory (GiB)", "02_train, UCF-Crime-sized features (1,900 videos)",
                f"peak {result['peak_rss_gib']} GiB (target < 8); {result['feature_files_gib']} GB fp16 on disk,\n"
                f"{result['float32_in_memory_gib_before']} GiB as float32 in memory (before)", shares=False)


if __name__ == "__main__":
    main()

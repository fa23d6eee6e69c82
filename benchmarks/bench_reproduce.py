"""Benchmark `make reproduce`: wall time and peak memory of every step, cold and cached.

    python benchmarks/bench_reproduce.py [--profile synthvad] [--clean] [--save]

Runs the profile step by step, each step as its own ``stprompt reproduce --only STEP`` process (the
ablation grids run inside the step of their notebook, ``04_ablations``), then the whole profile once
more, when nothing has changed (the cached run). ``--clean`` first deletes the profile's run folder
(a *cold* run: tiny CLIP, data, features, models and grid points all recomputed); without it the
steps measure whatever is not up to date. The run folder is the profile's own, so the run also
leaves ``runs/<profile>/`` and the results page (``figures/`` for synthvad) as `make reproduce` does.

Memory per step: the peak of the summed resident memory of the step's whole process tree (the
``stprompt`` process, its papermill kernels, the parallel grid kernels, the renderers), sampled every
0.2 s from ``/proc``, and the largest single process (``ru_maxrss`` of the reaped tree). Prints a
JSON record; ``--save`` writes ``benchmarks/results/bench_reproduce.json`` and a bar chart of the
cold step times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        return []


def _tree_rss(pid: int) -> int:
    """Summed resident memory (bytes) of ``pid`` and all its descendants."""
    total, todo, page = 0, [pid], os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * page
        except OSError:
            continue
        todo.extend(_children(p))
    return total


def run_measured(cmd: list[str], log) -> dict:
    """Run ``cmd``; wall seconds, peak tree RSS (sampled) and largest-process RSS (``wait4``)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": round(time.perf_counter() - start, 2), "exit": proc.returncode,
            "peak_tree_mib": round(peak[0] / 2**20, 1), "largest_process_mib": round(usage.ru_maxrss / 1024, 1)}


def main(argv=None) -> dict:
    sys.path.insert(0, str(ROOT))
    from stprompt.config import load_profile
    from stprompt.io import read_json, resolve
    from stprompt.run.pipeline import validate_profile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="synthvad")
    ap.add_argument("--clean", action="store_true", help="delete the profile's run folder first (cold run)")
    ap.add_argument("--log", default=None, help="where the steps' output goes (default: <run_dir>.bench.log)")
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args(argv)
    prof = load_profile(args.profile)
    steps = [s.name for s in validate_profile(prof)]
    run_dir = resolve(prof.run_dir)
    if args.clean and run_dir.exists():
        shutil.rmtree(run_dir)
    exe = [sys.executable, "-m", "stprompt.run.cli", "reproduce", "--profile", args.profile]
    log_path = Path(args.log or f"{run_dir}.bench.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)  # runs/ does not exist in a fresh clone
    record: dict = {"profile": args.profile, "clean": args.clean, "cpu_count": os.cpu_count(),
                    "started": dt.datetime.now().isoformat(timespec="seconds"), "steps": {}}
    try:
        record["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                          text=True).stdout.strip()
    except OSError:
        pass
    with open(log_path, "w") as log:
        for step in steps:
            res = run_measured(exe + ["--only", step], log)
            rec_path = run_dir / "steps" / f"{step}.json"
            if rec_path.is_file():
                grid_s = read_json(rec_path).get("grid_seconds")
                if grid_s:
                    res["grid_seconds"] = grid_s
            record["steps"][step] = res
            print(f"{step}: {res}", file=sys.stderr)
            if res["exit"]:
                raise SystemExit(f"{step} failed (exit {res['exit']}); see {log_path}")
        record["cold_seconds"] = round(sum(s["seconds"] for s in record["steps"].values()), 1)
        record["cached"] = run_measured(exe, log)
        print(f"cached rerun: {record['cached']}", file=sys.stderr)
    record["peak_tree_mib"] = max(s["peak_tree_mib"] for s in record["steps"].values())
    print(json.dumps(record, indent=2))
    if args.save:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from plots import save_result

        bars = {}
        for name, s in record["steps"].items():
            grids = s.get("grid_seconds", {})
            bars[name if not grids else f"{name} (notebook)"] = s["seconds"] - sum(grids.values())
            bars.update({f"  grid {g}": v for g, v in grids.items()})
        save_result("bench_reproduce", record, bars, "seconds, cold run",
                    f"`stprompt reproduce --profile {args.profile}` on {os.cpu_count()} CPU cores",
                    f"cold {record['cold_seconds'] / 60:.1f} min, cached rerun {record['cached']['seconds']:.1f} s; "
                    f"peak memory {record['peak_tree_mib'] / 1024:.1f} GiB")
    return record


if __name__ == "__main__":
    main()

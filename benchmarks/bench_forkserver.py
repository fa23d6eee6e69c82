"""Grid points with and without the fork server (stprompt.run.forkserver), on the same machine.

    python benchmarks/bench_forkserver.py [--grid sa2_k] [--profile synthvad] [--save]

Needs a finished run of the profile (``make reproduce``): the grid is copied under two new names
(``bench_fork_on``, ``bench_fork_off``) and run with ``--jobs 2`` once with the fork server and
once with ``STPROMPT_FORK_SERVER=0``. Its points reuse the models the run trained
(``ablations/_shared``), so what differs is the per-point overhead the server removes: starting
Python, importing ipykernel, torch, open_clip and the library. Reports the grid's wall time, the
mean point time, how many kernels were forked, and whether every point's metrics equal those of
the profile's own run of the grid. ``--save`` writes ``benchmarks/results/bench_forkserver.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(grid: str, name: str, server: bool) -> dict:
    tmp = ROOT / "runs" / f"{name}.yaml"  # the grid's name is its file's: its own output folder
    shutil.copyfile(ROOT / "params" / "ablations" / f"{grid}.yaml", tmp)
    env = dict(os.environ, STPROMPT_FORK_SERVER="1" if server else "0", HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "stprompt", "ablate", str(tmp), "--jobs", "2", "--force"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    tmp.unlink()
    points = [float(s) for s in re.findall(r": done in ([0-9.]+)s", out)]
    forked = re.search(r"kernels: (\d+) of (\d+) forked warm", out)
    return {"wall_s": round(wall, 1), "points": len(points), "mean_point_s": round(sum(points) / len(points), 2),
            "forked": int(forked.group(1)) if forked else 0}


def same_metrics(run_dir: Path, grid: str, name: str) -> bool:
    for point in (run_dir / "ablations" / grid).iterdir():
        if point.is_dir() and (point / "metrics.json").is_file():
            a = json.loads((point / "metrics.json").read_text())["ablation"]
            b = json.loads((run_dir / "ablations" / name / point.name / "metrics.json").read_text())["ablation"]
            if {k: v for k, v in a.items() if k != "model"} != {k: v for k, v in b.items() if k != "model"}:
                return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default="sa2_k")
    ap.add_argument("--profile", default="synthvad")
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()
    run_dir = ROOT / "runs" / args.profile
    record = {"grid": args.grid, "profile": args.profile, "cpu_count": os.cpu_count(),
              "date": dt.date.today().isoformat(),
              "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True).stdout.strip()}
    for label, server in (("fork_server", True), ("fresh_kernels", False)):
        name = f"bench_fork_{'on' if server else 'off'}"
        record[label] = run(args.grid, name, server)
        record[label]["same_metrics_as_the_run"] = same_metrics(run_dir, args.grid, name)
        shutil.rmtree(run_dir / "ablations" / name, ignore_errors=True)
    record["speedup_wall"] = round(record["fresh_kernels"]["wall_s"] / record["fork_server"]["wall_s"], 2)
    record["saved_per_point_s"] = round(record["fresh_kernels"]["mean_point_s"] - record["fork_server"]["mean_point_s"], 2)
    print(json.dumps(record, indent=1))
    if args.save:
        (ROOT / "benchmarks" / "results" / "bench_forkserver.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark the motion prior alone: the streamed, window-restricted computation
(:class:`stprompt.features.MotionPrior`) against the old full-frame one (``tests/legacy_features.py``),
per frame size and window size, on random frames (the cost does not depend on the content).

    python benchmarks/bench_motion.py [--frames 33] [--repeats 3] [--save]

Both must give the same bytes (checked). Reports microseconds per frame, one thread for numpy's
BLAS (as in a decode worker), and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as in a decode worker; before numpy loads
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import legacy_features  # noqa: E402

from stprompt.features import motion_prior, window_boxes  # noqa: E402

CASES = [((120, 160), 48), ((240, 320), 48), ((240, 320), 112), ((720, 1280), 48), ((720, 1280), 288)]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows, load = [], round(os.getloadavg()[0], 2)
    for (h, w), side in CASES:
        frames = rng.integers(0, 256, (args.frames, h, w, 3), dtype=np.uint8)
        boxes = window_boxes(h, w, (3, 4), (side, side))
        run, after = frames[:-1], frames[-1]
        same = motion_prior(run, boxes, after=after).tobytes() == legacy_features.motion_prior(run, boxes, after=after).tobytes()
        cost = {}
        for name, fn in (("new", motion_prior), ("old", legacy_features.motion_prior)):
            t = time.perf_counter()
            for _ in range(args.repeats):
                fn(run, boxes, after=after)
            cost[name] = (time.perf_counter() - t) / (args.repeats * len(run)) * 1e6
        rows.append({"frame": f"{w}x{h}", "window": side, "us_per_frame_new": round(cost["new"], 1),
                     "us_per_frame_old": round(cost["old"], 1), "speedup": round(cost["old"] / cost["new"], 2),
                     "identical": same})
        print(rows[-1], file=sys.stderr)
    result = {"cases": rows, "load_before": load, "load_after": round(os.getloadavg()[0], 2),
              "cpu_count": os.cpu_count()}
    print(json.dumps(result, indent=2))
    if args.save:
        from plots import save_result

        save_result("bench_motion", result, {f"{r['frame']}, {r['window']} px": r["speedup"] for r in rows},
                    "old / new time per frame", "Motion prior: streamed and window-restricted vs full frame",
                    f"load {result['load_before']}-{result['load_after']}; identical bytes: "
                    f"{all(r['identical'] for r in rows)}", shares=False)
    return result


if __name__ == "__main__":
    main()

"""The probe experiment of issue 14: does pretraining the tiny CLIP also on windows of the feature
grid (captioned by content) make the features separate anomalies better?

    python benchmarks/probe_window_captions.py --window-share 0.0 0.3 [--work /tmp/probe] [--save]

For each ``window_share`` it generates the default SynthVAD world (once), pretrains the tiny CLIP
with the default profile's settings (6000 images, 10 epochs) and that share of grid windows,
extracts the default features (3x4 windows of 48x48 pixels, crops encoded by the CLIP) and runs the
linear probes of :mod:`stprompt.probe` on the validation split (where the choice is made) and the
test split (reported, never used to choose). ``--save`` writes
``benchmarks/results/probe_window_captions.json``. About 15 minutes per share on 2 idle cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from stprompt.datasets import load_dataset
from stprompt.features import FeatureConfig, extract_dataset
from stprompt.probe import probe_table
from stprompt.reports.tables import table_markdown
from stprompt.synth import SynthConfig, generate
from stprompt.tinyclip import PretrainConfig, pretrain_cached

RESULT = Path(__file__).parent / "results" / "probe_window_captions.json"


def run(share: float, work: Path, epochs: int = 10, n_images: int = 6000) -> dict:
    cfg = SynthConfig()
    data = work / "data"
    generate(cfg, data, workers=2, progress=False)
    t0 = time.perf_counter()
    model, info, meta = pretrain_cached(cfg, PretrainConfig(n_images=n_images, epochs=epochs, window_share=share),
                                        work / f"vlm_w{share}_e{epochs}.pt", log=None)
    fdir = work / f"feat_w{share}_e{epochs}"
    for split in ("train", "val", "test"):
        extract_dataset(load_dataset("synthvad", data, split), fdir, model, FeatureConfig(), info.recipe(),
                        progress=False)
    out = {"window_share": share, "epochs": epochs, "n_images": n_images,
           "seconds": round(time.perf_counter() - t0, 1)}
    for split in ("val", "test"):
        out[split] = probe_table(load_dataset("synthvad", data, split), fdir)
        print(f"window_share={share} {split}\n{table_markdown(out[split])}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window-share", type=float, nargs="+", default=[0.0, 0.3])
    ap.add_argument("--work", type=Path, default=Path("/tmp/stprompt_probe"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()
    record = {"machine": platform.machine(), "cpus": __import__("os").cpu_count(),
              "runs": [run(s, args.work, args.epochs) for s in args.window_share]}
    if args.save:
        RESULT.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()

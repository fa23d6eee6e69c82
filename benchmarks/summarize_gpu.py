"""Chart the GPU measurements (benchmarks/gpu_suite.sh, copied into results/) beside the CPU one:

    python benchmarks/summarize_gpu.py

Writes ``results/extract_cpu_vs_gpu.{json,png}``: end-to-end extraction throughput of the tiny
CLIP on this project's 2-core CPU machine and of the tiny CLIP and ViT-B/16 on the H100 machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from plots import save_result

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> dict:
    names = ["bench_extract", "bench_extract_tiny_clip_cuda", "bench_extract_ViT-B-16_cuda",
             "bench_extract_ViT-B-16_cuda_tokens"]
    rec = {n: json.loads((RESULTS / f"{n}.json").read_text()) for n in names}
    gpu = rec["bench_extract_ViT-B-16_cuda"]
    rates = {"tiny CLIP, 2-core CPU": rec["bench_extract"]["snippets_per_s"],
             "tiny CLIP, H100": rec["bench_extract_tiny_clip_cuda"]["snippets_per_s"],
             "ViT-B/16 crops, H100": gpu["snippets_per_s"],
             "ViT-B/16 tokens, H100": rec["bench_extract_ViT-B-16_cuda_tokens"]["snippets_per_s"]}
    summary = {"snippets_per_s": rates, "sources": names, "gpu": gpu["device_name"],
               "gpu_machine_cpu_cores": gpu["cpu_count"],
               "vitb16_decode_crop_motion_share": gpu["decode_crop_motion_share"],
               "note": "one extraction process; decoding and the motion prior run on the CPU"}
    save_result("extract_cpu_vs_gpu", summary, rates, "snippets per second (higher is better)",
                "Feature extraction end to end, 3x4 windows",
                f"on the GPU, decoding + motion prior take {gpu['decode_crop_motion_share']:.0%} of the time",
                shares=False)
    return summary


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))

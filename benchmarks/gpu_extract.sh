#!/usr/bin/env bash
# Issue 12's GPU measurement in one short run (a few minutes on a machine with one CUDA GPU and
# ~16 cores; a 9-minute hang guard):
#   bash benchmarks/gpu_extract.sh
# ViT-B/16 (random weights through the checkpoint path, fp16 autocast), 3x4 crop windows, batches
# of 512 images, at 320x240 (UCF-Crime) and 1280x720 (UBnormal) frames: the old single-process
# extractor ("legacy") against the pipeline (decode workers = cores - 1 feeding the encoder).
# Writes benchmarks/results/bench_extract_pipeline_ViT-B-16_cuda.{json,png}: snippets/s, images/s, the
# share of time the encoder waits, peak memory per rank, GFLOPs per image, the card's name and
# dense fp16 peak, and compute_bound_fraction (target: >= 0.25, i.e. >= 400 snippets/s on an H100).
set -euo pipefail
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
$py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0), flush=True)"
timeout 420 $py benchmarks/bench_extract.py --model ViT-B-16 --device cuda --batch-size 512 \
  --sizes 320x240 1280x720 --videos 24 4 --modes legacy auto --work /tmp/gpu_extract --save > /dev/null
# the same with bigger encoder batches (chunk_snippets is a recipe field: another feature recipe)
timeout 120 $py benchmarks/bench_extract.py --model ViT-B-16 --device cuda --batch-size 1024 --chunk-snippets 128 \
  --sizes 320x240 --videos 24 --modes auto --work /tmp/gpu_extract --save > /dev/null || true
$py - <<'PY'
import json
import os
for name in ("bench_extract_pipeline_ViT-B-16_cuda", "bench_extract_pipeline_ViT-B-16_cuda_chunk128"):
  if not os.path.isfile(f"benchmarks/results/{name}.json"):
    continue
  r = json.load(open(f"benchmarks/results/{name}.json"))
  print(name)
  for run in r["runs"]:
    print(" ", run["size"], run["mode"], run["snippets_per_s"], "snippets/s", run["images_per_s"], "images/s",
          "compute bound", run.get("compute_bound_fraction"), "encoder waits", run["encoder_wait_share"],
          "peak MiB", run["peak_rank_mib"])
  print("  card", r["device_name"], r["fp16_peak_tflops"], "TFLOPS;", r["gflops_per_image"], "GFLOPs/image;",
        "identical files:", r["identical_files"])
PY

#!/usr/bin/env bash
# The GPU measurements of this project in one command (what produced benchmarks/results/*_cuda*):
#   bash benchmarks/gpu_suite.sh [OUT_DIR]
# Needs a CUDA machine with torch and the project's dependencies importable. Writes one JSON per
# measurement and suite.log to OUT_DIR (default benchmarks/results/gpu). The extraction benchmark of
# issue 12 alone, shorter: benchmarks/gpu_extract.sh.
set -uo pipefail
out=${1:-benchmarks/results/gpu}
mkdir -p "$out"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
run() {
  local name=$1; shift
  local start=$SECONDS
  echo "== $name: $*" >> "$out/suite.log"
  "$@" > "$out/$name.json" 2>> "$out/suite.log"
  echo "== $name: exit $? after $((SECONDS - start)) s" | tee -a "$out/suite.log"
}
$py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" | tee -a "$out/suite.log"
run extract_vitb16_pipeline $py benchmarks/bench_extract.py --model ViT-B-16 --device cuda --batch-size 512 --sizes 320x240 1280x720 --videos 24 4 --modes legacy auto --save
run extract_tiny_cuda $py benchmarks/bench_extract.py --model tiny_clip --device cuda --sizes 160x120 --modes legacy auto
run train_vitb16_cuda $py benchmarks/bench_train.py --dim 512 --clip ViT-B-16 --device cuda --epochs 3
run train_tiny_cuda $py benchmarks/bench_train.py --dim 128 --clip tiny_clip --device cuda --epochs 3
run torchrun_extract torchrun --nproc_per_node=1 benchmarks/check_torchrun_extract.py

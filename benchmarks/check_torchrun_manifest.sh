#!/usr/bin/env bash
# Two-rank torchrun extraction on the CPU and its manifest check (issue 12's Show):
#   bash benchmarks/check_torchrun_manifest.sh [WORK_DIR]
# Generates a small SynthVAD set and a tiny CLIP checkpoint in WORK_DIR (default: a temp folder),
# runs `torchrun --nproc_per_node=2 -m stprompt extract` on a profile pointing there (each rank
# a share balanced by frames; rank 0 writes manifest_<split>.json after both finish), deletes one
# feature file, and shows that `stprompt extract --check` names it (exit status 2).
set -uo pipefail
work=${1:-$(mktemp -d /tmp/torchrun_manifest_XXXX)}
py=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=1
mkdir -p "$work"
cat > "$work/profile.yaml" <<YAML
name: torchrun_manifest
run_dir: $work/run
notebooks: [01_data_prep]
notebook_dir: $(pwd)/notebooks
params:
  01_data_prep: {splits: [train, test], grid: [2, 2]}
YAML
$py - "$work" <<'PY'
import sys
from pathlib import Path
from stprompt import vlm
from stprompt.synth import SynthConfig, generate
work = Path(sys.argv[1])
generate(SynthConfig(n_train_per_class=1, n_val_per_class=0, n_test_per_class=1, n_train_normal=3, n_val_normal=0,
                     n_test_normal=2, snippets=(4, 12)), work / "run" / "data" / "synthvad", progress=False, workers=2)
model, _ = vlm.build_clip(vlm.ClipSpec("tiny_clip"))
vlm.save_checkpoint(model, work / "run" / "vlm" / "tiny_clip.pt")
PY
echo "== torchrun --nproc_per_node=2 -m stprompt extract --profile $work/profile.yaml --no-progress"
$py -m torch.distributed.run --nproc_per_node=2 -m stprompt extract --profile "$work/profile.yaml" --no-progress
echo "== exit $?"
fdir="$work/run/features/synthvad"
echo "== manifests:"; ls "$fdir"/manifest_*.json
$py -c "import json,sys; m=json.load(open(sys.argv[1])); print({k: m[k] for k in ('split','videos','complete')}, 'snippets per video:', m['snippets'])" "$fdir/manifest_test.json"
victim=$(ls "$fdir"/test_*.npz | head -1)
echo "== rm $victim"; rm "$victim"
echo "== stprompt extract --check --profile $work/profile.yaml"
$py -m stprompt extract --check --profile "$work/profile.yaml"
echo "== exit $? (2: a video has no features)"

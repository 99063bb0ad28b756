#!/usr/bin/env bash
# Train the RL-ASC zoo entries (issue 19) of one family: for each rate mode n = 2, 4, 8 concept
# channels, RL-ASC (three stages) and then simplified RL-ASC (continuing from RL-ASC's stage I at the
# finest level). Each run uses one thread; the three rate modes can run side by side (`--parallel`).
#   bash configs/train_rl_asc.sh urban [--parallel]                                   # synthetic-urban
#   CAMVID_ROOT=../shared/datasets/camvid bash configs/train_rl_asc.sh camvid [--parallel]
set -euo pipefail
cd "$(dirname "$0")/.."
family=${1:-}
if [[ "$family" != "camvid" && "$family" != "urban" ]]; then
  echo "usage: bash configs/train_rl_asc.sh camvid|urban [--parallel]" >&2
  exit 2
fi
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
lane() {
  local n=$1
  gosvae train "configs/codecs/rl_asc/rl_asc_${family}_n${n}.yaml" --export-zoo --resume
  gosvae train "configs/codecs/rl_asc/rl_asc_${family}_n${n}_simplified.yaml" --export-zoo --resume
}
if [[ "${2:-}" == "--parallel" ]]; then
  mkdir -p runs
  for n in 2 4 8; do lane "$n" > "runs/rl_asc_${family}_n${n}.log" 2>&1 & done
  wait
else
  for n in 2 4 8; do lane "$n"; done
fi

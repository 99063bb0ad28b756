#!/usr/bin/env bash
# Train a teacher on a CUDA GPU and hand its zoo entry back, e.g. on the project's lent GPU machine.
#
#   bash configs/train_teacher_gpu.sh [CONFIG] [DEVICE]     # defaults: configs/teacher_urban_unet_l.yaml cuda
#
# Renders the config's synthetic-urban splits first (one reader per core, up to 8), then runs
# `gosvae train CONFIG --device DEVICE --export-zoo` and copies the new zoo entry (.json and
# .safetensors) and the run's log.csv / final.json to $OUT when that is set.
# Works from a checkout without installing the package (PYTHONPATH=.), so that a machine with torch
# but no network can run it. What such a machine lacks must come as wheels: for the GPU machine
# lent here that is pydantic, pydantic-core, annotated-types and typing-inspection (see
# /work/.library/device/README.md for carrying wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/teacher_urban_unet_l.yaml}
device=${2:-cuda}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 - "$config" "$device" <<'PY'
import sys, time, torch
from gosvae.training.device import resolve_device
device = resolve_device(sys.argv[2])
print(f"torch {torch.__version__} on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}")
PY
start=$(date +%s)
python3 -m gosvae.cli train "$config" --device "$device" --export-zoo
echo "train + export: $(( $(date +%s) - start )) s"
name=$(python3 -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['name'])" "$config")
out_dir=$(python3 -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['run']['out_dir'])" "$config")
if [ -n "${OUT:-}" ]; then
  cp "gosvae/zoo/$name.json" "gosvae/zoo/$name.safetensors" "$OUT/"
  cp "$out_dir/log.csv" "$OUT/$name-log.csv"; cp "$out_dir/final.json" "$OUT/$name-final.json"
fi

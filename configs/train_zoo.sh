#!/usr/bin/env bash
# Rebuild the whole model zoo from the committed configs, in dependency order:
# teachers -> VQ-VAEs -> GOS-VAE* (fine-tuned from them) -> GOS-VAE -> VQ-VAE-dagger -> GOS-VAE-dagger.
# Each step resumes from its run folder's checkpoint if interrupted, and is skipped when its zoo
# entry already exists (delete gosvae/zoo/NAME.* to retrain one). A stage under configs/pilots/
# whose run folder is a config's init_from is trained first (not exported; its own earlier stages
# before it), unless that folder already holds final.json. Logs: runs/logs/NAME.log
#
#   bash configs/train_zoo.sh            # everything
#   bash configs/train_zoo.sh vq_vae_r4  # only the named configs (file stems), in the order given
#   THREADS=1 bash configs/train_zoo.sh  # torch threads per job (default: the config's run.num_threads)
set -euo pipefail
cd "$(dirname "$0")/.."
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
mkdir -p runs/logs
ORDER=(teacher_urban_unet teacher_urban_unet_l_cpu teacher_urban_unet_lh_cpu teacher_urban_unet_xl_cpu
       teacher_urban_unet_xlf_cpu teacher_urban_unet_xlf8k_cpu
       codecs/vq_vae_r4 codecs/gos_vae_star_r4
       codecs/vq_vae_r8 codecs/vq_vae_r16 codecs/gos_vae_star_r8 codecs/gos_vae_star_r16
       codecs/gos_vae_r4 codecs/vq_vae_dagger_r4 codecs/gos_vae_dagger_r4)
if [ $# -gt 0 ]; then ORDER=(); for stem in "$@"; do
  if [ -f "configs/$stem.yaml" ]; then ORDER+=("$stem"); else ORDER+=("codecs/$stem"); fi; done; fi
field() { python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get('$1') or '')" "$2"; }
out_dir() { python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['run']['out_dir'])" "$1"; }
# train CONFIG [--export-zoo]: resume from the run folder's checkpoint when there is one.
train() {
  local config=$1 name out; shift
  name=$(field name "$config"); out=$(out_dir "$config")
  local args=("$@"); [ -f "$out/checkpoint.pt" ] && args+=(--resume)
  [ -n "${THREADS:-}" ] && args+=(--threads "$THREADS")
  echo "$(date +%T) train $name ${args[*]}"
  gosvae train "$config" "${args[@]}" > "runs/logs/$name.log" 2>&1
  tail -n 1 "runs/logs/$name.log"
}
# earlier_stages CONFIG: train the stage (configs/pilots/*.yaml) whose run folder is CONFIG's
# init_from, after its own earlier stages, unless that folder already holds final.json.
earlier_stages() {
  local init stage; init=$(field init_from "$1")
  [ -n "$init" ] || return 0
  for stage in configs/pilots/*.yaml; do
    if [ "$(out_dir "$stage")" = "$init" ] && [ ! -f "$init/final.json" ]; then
      earlier_stages "$stage"
      train "$stage"
    fi
  done
}
for stem in "${ORDER[@]}"; do
  config="configs/$stem.yaml"
  name=$(field name "$config")
  if [ -f "gosvae/zoo/$name.json" ]; then echo "skip $name (in the zoo)"; continue; fi
  earlier_stages "$config"
  train "$config" --export-zoo
done

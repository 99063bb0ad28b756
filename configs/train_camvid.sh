#!/usr/bin/env bash
# Rebuild the CamVid models (real photos) from the committed configs, in dependency order:
# teacher -> VQ-VAEs (from the synthetic-urban VQ-VAEs) -> GOS-VAE* (from them) -> GOS-VAE (L_s only)
# -> VQ-VAE-dagger (run folder only) -> GOS-VAE-dagger -> the learned baselines (factorized AE at three
# rates, VQ-GAN from vq-vae-camvid-r4); then the Table IV ablation and the pilots (run folders only,
# not exported). A job whose run folder holds a checkpoint resumes from it; a zoo
# entry that exists is kept (delete gosvae/zoo/NAME.* to retrain it). Logs: runs/logs/NAME.log
#
#   CAMVID_ROOT=/data/camvid bash configs/train_camvid.sh           # everything
#   CAMVID_ROOT=/data/camvid bash configs/train_camvid.sh models    # only the zoo models
set -euo pipefail
cd "$(dirname "$0")/.."
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
mkdir -p runs/logs
MODELS=(teacher_camvid_unet
        codecs/camvid/vq_vae_camvid_r4 codecs/camvid/gos_vae_star_camvid_r4
        codecs/camvid/vq_vae_camvid_r8 codecs/camvid/gos_vae_star_camvid_r8
        codecs/camvid/vq_vae_camvid_r16 codecs/camvid/gos_vae_star_camvid_r16
        codecs/camvid/gos_vae_camvid_r4 codecs/camvid/gos_vae_camvid_r8 codecs/camvid/gos_vae_camvid_r16
        codecs/camvid/vq_vae_dagger_camvid_r4 codecs/camvid/gos_vae_dagger_camvid_r4
        codecs/baselines/factorized_ae_camvid_llow codecs/baselines/factorized_ae_camvid_lmid
        codecs/baselines/factorized_ae_camvid_lvlow codecs/baselines/vq_gan_camvid_r4)
RUNS=(codecs/camvid/ablation/jsd_perceptual codecs/camvid/ablation/jsd codecs/camvid/ablation/kld
      codecs/camvid/ablation/kld_perceptual codecs/camvid/ablation/ce codecs/camvid/ablation/ce_perceptual
      codecs/camvid/ablation/vq_vae_kld codecs/camvid/ablation/vq_vae_scratch pilots/teacher_camvid_unet_scratch)
field() { python -c "import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(eval('d' + sys.argv[2]))" "$1" "$2"; }
train() {  # CONFIG-STEM EXPORT(yes|no)
  local config="configs/$1.yaml" name out args=()
  name=$(field "$config" "['name']"); out=$(field "$config" "['run']['out_dir']")
  if [ "$2" = yes ] && [ -f "gosvae/zoo/$name.json" ]; then echo "== $name: in the zoo, kept"; return; fi
  [ -f "$out/checkpoint.pt" ] && args+=(--resume)
  [ "$2" = yes ] && args+=(--export-zoo)
  echo "== $name ($config) ${args[*]}"
  gosvae train "$config" "${args[@]}" > "runs/logs/$name.log" 2>&1
}
for stem in "${MODELS[@]}"; do
  case "$stem" in *dagger_camvid_r4) [[ "$stem" == *vq_vae* ]] && { train "$stem" no; continue; } ;; esac
  train "$stem" yes
done
[ "${1:-}" = models ] && exit 0
for stem in "${RUNS[@]}"; do train "$stem" no; done

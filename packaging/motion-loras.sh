#!/usr/bin/env bash
# Per-motion LoRAs for a model's motion module (AnimateDiff MotionLoRAs, one per motion of the world):
# for each motion, fine-tune the module on clips of that motion alone, extract the change as a LoRA,
# and name it by its phrase in the module folder's motion_loras.json, so that a clip whose prompt says
# "moving to the left" gets the left LoRA (README: motion words).
#
#   packaging/motion-loras.sh MODEL_DIR OUT_MOTION_DIR [train-motion options...]
#
# MODEL_DIR must hold motion_adapter/ (the module the LoRAs apply to). OUT_MOTION_DIR receives a copy of
# it with LEFT.safetensors, ... and motion_loras.json. Environment: ATELIER_CLI (default build/release/app/
# atelier-cli), RANK (32), MOTIONS (all nine), STRENGTH (1.5, chosen on validation clips: docs/BENCHMARKS.md),
# WORK (fine-tuned modules; default OUT/../motion-work).
# Example on a GPU: packaging/motion-loras.sh resources/models/atelier-tiny /tmp/motion-words \
#   --device cuda --steps 3000 --batch 16 --clips 4096
# The shipped ones were made on a 2-core CPU with --steps 600 --batch 4 --clips 600; left, right, up, down and
# changing colour were trained further with --init-from their fine-tuned module (docs/BENCHMARKS.md: 600 steps
# learn some halfway), and right and down are applied at 2.0 (chosen on validation clips; at 1.5 a plain red
# circle asked to move down still drifts up).
set -euo pipefail
if (($# < 2)); then awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 2; fi
model=$1 out=$2
shift 2
cli=${ATELIER_CLI:-build/release/app/atelier-cli}
rank=${RANK:-32}
strength=${STRENGTH:-1.5}
motions=${MOTIONS:-left,right,up,down,grow,shrink,rotate,colour change,bounce}
work=${WORK:-$(dirname "$out")/motion-work}
base="$model/motion_adapter"
[[ -f "$base/config.json" ]] || { echo "$base: no motion module (config.json) to adapt" >&2; exit 1; }

mkdir -p "$out" "$work"
cp "$base/config.json" "$base/diffusion_pytorch_model.safetensors" "$out/"
# The phrase each motion's clips are captioned with (world::motion_phrase).
phrase() {
  case "$1" in
    left) echo "moving to the left" ;; right) echo "moving to the right" ;; up) echo "moving up" ;;
    down) echo "moving down" ;; grow) echo "growing" ;; shrink) echo "shrinking" ;; rotate) echo "spinning" ;;
    "colour change") echo "changing colour" ;; bounce) echo "bouncing" ;;
    *) echo "unknown motion: $1" >&2; exit 1 ;;
  esac
}
entries=()
IFS=',' read -r -a list <<< "$motions"
for motion in "${list[@]}"; do
  name=${motion// /_}
  say=$(phrase "$motion")
  echo "[motion-loras] $motion: fine-tuning the module on its clips" >&2
  "$cli" train-motion --base "$model" --out "$work/$name" --init-from "$base" --motions "$motion" "$@"
  "$cli" extract-motion-lora --base "$base" --tuned "$work/$name" --rank "$rank" --half -o "$out/$name.safetensors"
  entries+=("{\"phrase\": \"$say\", \"file\": \"$name.safetensors\", \"strength\": $strength}")
done
{
  printf '{"motion_loras": [\n'
  for i in "${!entries[@]}"; do printf '  %s%s\n' "${entries[$i]}" "$([[ $i -lt $((${#entries[@]} - 1)) ]] && echo ,)"; done
  printf ']}\n'
} > "$out/motion_loras.json"
echo "[motion-loras] wrote $out (motion_loras.json names ${#entries[@]} LoRAs)" >&2

#!/usr/bin/env bash
# Train faces64-sr4 — the SR3 ×4 model (16×16 → 64×64, `invdiff train --conditional sr4`) — on the GPU machine.
# Run from the repository root on the device machine, with .carry/faces64-{train,heldout}.tar.gz carried (made by
# benchmarks/faces64/pack_data.py: the same packed UTKFace crops as faces64).
#   bash benchmarks/faces64_sr4/launch_train.sh [SECONDS] [extra invdiff-train flags]
# Default: 480 s of training wall time (torch.compile included), in the foreground, so one device call of
# ~9 minutes trains, exports the EMA weights as fp16 shards (< 16 MiB each) and copies them, the log, the last
# sample grid and a model card to $OUT. DETACH=1 starts it detached with setsid (like benchmarks/faces64/) and
# returns at once; then `bash benchmarks/faces64_sr4/status.sh collect` fetches the products.
# The run starts from the shipped unconditional faces64 weights (the condition's input channels at zero);
# INIT=none trains from scratch. A rerun with the same runs/ folder resumes from runs/faces64-sr4/checkpoint.pt.
set -euo pipefail
seconds=${1:-480}; shift || true
init=${INIT:-invdiff/weights/faces64.json}
run=runs/faces64-sr4
mkdir -p runs/data "$run"
[ -d runs/data/train ] || tar xzf .carry/faces64-train.tar.gz -C runs/data
[ -d runs/data/heldout ] || tar xzf .carry/faces64-heldout.tar.gz -C runs/data
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
init_flags=()
if [ "$init" != none ] && [ ! -f "$run/checkpoint.pt" ]; then init_flags=(--init-from "$init"); fi
cmd=(python3 -m invdiff train --conditional sr4 --cond-sigma-max 0.1
  --data runs/data/train --heldout runs/data/heldout --cache-dir runs/cache
  --out "$run" --name faces64-sr4 --preset faces64-sr4 --resolution 64
  --batch-size 128 --lr 2e-4 --ema-decay 0.9995 --max-minutes "$(python3 -c "print($seconds / 60)")"
  --steps 1000000 --ckpt-every 1000 --sample-every 2000 --sample-steps 100 --log-every 100
  --export-dtype float16 --resume --quiet ${init_flags[@]+"${init_flags[@]}"}
  --data-note "UTKFace aligned&cropped (faces-utk/train, 21,853 images), 64x64 centre crop, bicubic, JPEG q95 repack; LR = sr4 operator (x4 bicubic) + sigma_y ~ U[0, 0.1]"
  --license "UTKFace: non-commercial research use only; weights inherit these terms"
  "$@")
if [ "${DETACH:-0}" = 1 ]; then
  PYTHONUNBUFFERED=1 setsid nohup "${cmd[@]}" > "$run/stdout.log" 2>&1 < /dev/null &
  echo "launched pid $!"
  exit 0
fi
PYTHONUNBUFFERED=1 "${cmd[@]}" 2>&1 | tee "$run/stdout.log"
bash benchmarks/faces64_sr4/status.sh collect

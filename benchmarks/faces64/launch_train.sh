#!/usr/bin/env bash
# Start (or resume) the faces64 training run on the GPU machine, detached with setsid so it
# outlives this device call. Run from the repository root on the device machine, with
# .carry/faces64-{train,heldout}.tar.gz carried (made by pack_data.py).
#   bash benchmarks/faces64/launch_train.sh MINUTES [extra invdiff-train flags]
set -euo pipefail
minutes=${1:-22}; shift || true
mkdir -p runs/data runs/faces64
[ -d runs/data/train ] || tar xzf .carry/faces64-train.tar.gz -C runs/data
[ -d runs/data/heldout ] || tar xzf .carry/faces64-heldout.tar.gz -C runs/data
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
PYTHONUNBUFFERED=1 setsid nohup python3 -m invdiff train \
  --data runs/data/train --heldout runs/data/heldout --cache-dir runs/cache \
  --out runs/faces64 --name faces64 --preset faces64 --resolution 64 \
  --batch-size 128 --lr 2e-4 --ema-decay 0.9995 --max-minutes "$minutes" --steps 1000000 \
  --ckpt-every 2000 --sample-every 5000 --log-every 100 --resume --quiet \
  --data-note "UTKFace aligned&cropped (faces-utk/train, 21,853 images), 64x64 centre crop, bicubic, JPEG q95 repack" \
  --license "UTKFace: non-commercial research use only; weights inherit these terms" \
  "$@" > runs/faces64/stdout.log 2>&1 < /dev/null &
echo "launched pid $!"

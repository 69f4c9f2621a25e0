#!/usr/bin/env bash
# Train (or continue) the natural prior on the GPU machine, detached with setsid so it outlives the
# device call that starts it; poll with benchmarks/natural/poll_train.sh in the same or a later call.
# Run from the repository root there, with the pack carried (.carry/natural-pack.tar, made by
# benchmarks/natural/make_pack.py). One process per GPU (torchrun); --batch-size is per GPU.
#   bash benchmarks/natural/launch_train.sh MINUTES [extra invdiff-train flags, e.g. --init-from natural]
# Environment: PACK (the pack, default .carry/natural-pack.tar; a pack staged outside the repository by an earlier
# call of the same lease, e.g. /tmp/natural-pack.tar, frees the call's 64 MiB for the weights), BATCH (per GPU,
# 256), CROP (the crop's side, 64), LR (2e-4), WARMUP (500), CUDA_VISIBLE_DEVICES (train on some GPUs and keep one for other work), PRESET
# (natural; natural-wide for issue 20's capacity experiment), NAME (the run folder runs/NAME and the export's name;
# default the preset's), EXPORT (the export's dtype: bfloat16, or int8 for a network too large to come back otherwise).
set -euo pipefail
minutes=${1:-15}; shift || true
pack=${PACK:-.carry/natural-pack.tar}
[ -f "$pack" ] || { echo "launch_train: error: no training pack at $pack." >&2; exit 2; }
gpus=${GPUS:-$(python3 -c "import torch; print(torch.cuda.device_count())")}  # GPUS=1: a CPU smoke
preset=${PRESET:-natural}; name=${NAME:-$preset}
mkdir -p "runs/$name"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__)"
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
setsid nohup torchrun --standalone --nproc_per_node "$gpus" -m invdiff train \
  --data "$pack" --crop "${CROP:-64}" --max-scale 2 --full-scale-fraction 0.5 \
  --out "runs/$name" --name "$name" --preset "$preset" \
  --batch-size "${BATCH:-256}" --lr "${LR:-2e-4}" --warmup-steps "${WARMUP:-500}" --ema-decay 0.999 --max-minutes "$minutes" --steps 10000000 \
  --ckpt-every 2000 --sample-every 1000000 --log-every 100 --export-dtype "${EXPORT:-bfloat16}" --quiet \
  --data-note "natural-train (3,168 photos at 256², six sources, see ../shared/datasets/natural-train/SOURCES.md) + BSDS500 train+test (400, 481x321); every 50th image per folder held out; WebP pack (benchmarks/natural/make_pack.py); random ${CROP:-64}² crops, half of them down-scaled by U[1,2], horizontal flips" \
  --license "research use only: ImageNet terms of access (imagenet-sample, imagenet-imagen), CC BY 2.0 per image for nips17-dev (attribution: ../shared/datasets/natural-train/ATTRIBUTION-nips17-dev.tsv), Berkeley BSDS research use; the weights inherit these terms" \
  "$@" > "runs/$name/stdout.log" 2>&1 < /dev/null &
echo "launched torchrun on $gpus GPU(s), preset $preset into runs/$name, pid $!"

#!/usr/bin/env bash
# On the 2-GPU machine: (1) the rest of the faces64 suite under torchrun on two GPUs, resuming from
# the committed rows in benchmarks/results/faces64 (at most SUITE_SECONDS; a cut run keeps its rows
# in shards/, which come back in bench.tar and merge on the next run); (2) the scaling check — one
# fixed job (configs/bench/faces64-scaling.yaml) on one GPU, then under torchrun on two, compared.
# Carried: .carry/wheels (lpips, piq), .carry/data/faces-utk/heldout, .carry/alexnet-features.safetensors
# (or its two halves, made with `split -n 2 -d`, when the working tree leaves no room for the whole
# file: .carry/lp1/alex.00 in a first call, which copies it to runs/, and .carry/lp2/alex.01 here).
#   bash benchmarks/results/run_faces64_2gpu.sh [SUITE_SECONDS]
set -uo pipefail
suite_secs=${1:-330}
lpips=.carry/alexnet-features.safetensors
[ -f "$lpips" ] || cat runs/carry/alex.00 .carry/lp2/alex.01 > "$lpips"
sha256sum "$lpips"
python3 -m pip install -q --no-deps .carry/wheels/*.whl 2>&1 | tail -n 2
export INVDIFF_DATA=.carry/data INVDIFF_LPIPS_ALEXNET=.carry/alexnet-features.safetensors PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1  # never NVLink multicast
out=${OUT:-out}; mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
two_gpus() { python3 -m torch.distributed.run --standalone --nproc_per_node 2 -m invdiff "$@"; }

mkdir -p runs/bench/faces64
cp -n benchmarks/results/faces64/results.jsonl benchmarks/results/faces64/meta.json runs/bench/faces64/
timeout "$suite_secs" python3 -m torch.distributed.run --standalone --nproc_per_node 2 -m invdiff bench configs/bench/faces64.yaml --out runs/bench/faces64 --batch-size 50 --quiet 2>&1 | tail -n 20
echo "bench exit: $?"
cp runs/bench/faces64/results.jsonl runs/bench/faces64/meta.json "$out"/
cp runs/bench/faces64/results.md runs/bench/faces64/results.csv "$out"/ 2>/dev/null
(cd runs/bench/faces64 && tar cf "$out"/bench.tar ./*.png $(ls -d shards 2>/dev/null))  # ≤ 8 files come back
cat runs/bench/faces64/results.md | head -80

rm -rf runs/scaling1 runs/scaling2
t0=$(date +%s.%N)
CUDA_VISIBLE_DEVICES=0 python3 -m invdiff bench configs/bench/faces64-scaling.yaml --out runs/scaling1 --quiet
t1=$(date +%s.%N)
two_gpus bench configs/bench/faces64-scaling.yaml --out runs/scaling2 --quiet
t2=$(date +%s.%N)
python3 benchmarks/results/compare_scaling.py runs/scaling1 runs/scaling2 "$t0" "$t1" "$t2" | tee "$out"/scaling.json


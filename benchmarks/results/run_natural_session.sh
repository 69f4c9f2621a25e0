#!/usr/bin/env bash
# One GPU call of 2026-11-25 (≈ 9 minutes of device time were left): the natural suite's DDRM column on
# every image (fp32, both GPUs under torchrun; the baselines ran on the CPU into the same table, DPS and
# RePaint did not fit this session), then the tiling checks with the natural prior (seams and agreement
# at 512×768 on cuda:0, gpu_check incl. a 4000×3000 DDRM-20 on cuda:1). Everything to $OUT.
# Carry: .carry/natural-eval (benchmarks/natural/pack_eval.py), .carry/alexnet-features.safetensors,
# .carry/wheels (lpips, piq); leave the face weights out (benchmarks/device/travel.py leave-out faces64 faces64-sr4).
#   bash benchmarks/results/run_natural_session.sh BENCH_SECONDS TILING_SECONDS
set -uo pipefail
bench_s=${1:-300}; tiling_s=${2:-180}
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/wheels/*.whl && export PYTHONPATH=/tmp/site
export INVDIFF_DATA=.carry/natural-eval INVDIFF_LPIPS_ALEXNET=.carry/alexnet-features.safetensors PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
mkdir -p runs "$OUT/tiling"
# the natural suite with DDRM alone (same protocol fingerprint: the method list is not part of it)
sed '/^  dps: {images: gpu8}/d;/^  repaint: {images: gpu8}/d;s/^baselines: \[.*\]/baselines: []/' \
  configs/bench/natural.yaml > runs/natural-ddrm.yaml
gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
timeout "$bench_s" torchrun --standalone --nproc_per_node "$gpus" -m invdiff bench runs/natural-ddrm.yaml \
  --out runs/natural-ddrm --quiet > "$OUT/bench.log" 2>&1
echo "bench exit $?"; tail -n 5 "$OUT/bench.log"
cat runs/natural-ddrm/results.jsonl runs/natural-ddrm/shards/*.jsonl 2>/dev/null > "$OUT/ddrm_rows.jsonl"
cp runs/natural-ddrm/meta.json "$OUT/ddrm_meta.json" 2>/dev/null
wc -l "$OUT/ddrm_rows.jsonl"
K=.carry/natural-eval/kodak24
( timeout "$tiling_s" python3 benchmarks/tiling/seams.py --prior natural --device cuda --size 512x768 --tile-size 256 \
    --overlap 64 --steps 20 --images $K/kodim01.png,$K/kodim05.png,$K/kodim13.png,$K/kodim23.png,$K/kodim03.png,$K/kodim08.png \
    --out "$OUT/tiling/seams" > "$OUT/tiling/seams.log" 2>&1; echo "seams exit $?" ) &
( CUDA_VISIBLE_DEVICES=1 timeout "$tiling_s" python3 benchmarks/tiling/gpu_check.py --prior natural \
    --out "$OUT/tiling/gpu_check" > "$OUT/tiling/gpu_check.log" 2>&1; echo "gpu_check exit $?" ) &
wait
tail -n 4 "$OUT"/tiling/*.log
tar czf "$OUT/tiling.tar.gz" -C "$OUT" tiling && rm -rf "$OUT/tiling"
ls -la "$OUT"

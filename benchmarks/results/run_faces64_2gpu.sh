#!/usr/bin/env bash
# On the 2-GPU machine (nvidia-h200-x2), one step per call:
#   bash benchmarks/results/run_faces64_2gpu.sh suite [SECONDS]  # the rest of the faces64 suite under torchrun on two
#        GPUs, resuming from the committed rows in benchmarks/results/faces64 (a cut run keeps its rows in shards/,
#        which come back in bench.tar and merge on the next run)
#   bash benchmarks/results/run_faces64_2gpu.sh grids            # the grids: every method on the first 6 images
#        (the suite's grid_images), re-solved with the suite's seeds into runs/grids; its images come back in
#        grids.tar and its rows are compared with the table's (benchmarks/results/compare_rows.py). About 10 min
#        (eager fp32 at 3 images per GPU is latency-bound: ≈ 14 s per image for DPS-1000); a cut run resumes
#   bash benchmarks/results/run_faces64_2gpu.sh scaling          # one fixed job (configs/bench/faces64-scaling.yaml)
#        on one GPU, then under torchrun on two: same rows? wall-time speed-up (compare_scaling.py)
# Carried: .carry/wheels (lpips, piq), .carry/data/faces-utk/heldout, .carry/alexnet-features.safetensors
# (or its two halves, made with `split -n 2 -d`, when the working tree leaves no room for the whole
# file: .carry/lp1/alex.00 in a first call, which copies it to runs/carry/, and .carry/lp2/alex.01 later).
set -uo pipefail
step=${1:?usage: $0 suite [SECONDS] | grids | scaling}
lpips=.carry/alexnet-features.safetensors
[ -f "$lpips" ] || cat runs/carry/alex.00 .carry/lp2/alex.01 > "$lpips"
sha256sum "$lpips"
python3 -m pip install -q --no-deps .carry/wheels/*.whl 2>&1 | tail -n 2
export INVDIFF_DATA=.carry/data INVDIFF_LPIPS_ALEXNET=$lpips PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1  # never NVLink multicast
out=${OUT:-out}; mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
two_gpus() { python3 -m torch.distributed.run --standalone --nproc_per_node 2 -m invdiff "$@"; }

case "$step" in
  suite)
    mkdir -p runs/bench/faces64
    cp -n benchmarks/results/faces64/results.jsonl benchmarks/results/faces64/meta.json runs/bench/faces64/
    timeout "${2:-540}" python3 -m torch.distributed.run --standalone --nproc_per_node 2 -m invdiff bench \
      configs/bench/faces64.yaml --out runs/bench/faces64 --batch-size 50 --quiet 2>&1 | tail -n 20
    echo "bench exit: $?"
    cp runs/bench/faces64/results.jsonl runs/bench/faces64/meta.json "$out"/
    cp runs/bench/faces64/results.md runs/bench/faces64/results.csv "$out"/ 2>/dev/null
    (cd runs/bench/faces64 && tar cf "$out"/bench.tar $(ls -d shards images 2>/dev/null))  # ≤ 8 files come back
    head -n 80 runs/bench/faces64/results.md ;;
  grids)
    t0=$(date +%s)
    two_gpus bench configs/bench/faces64.yaml --limit 6 --out runs/grids --batch-size 3 --quiet 2>&1 | tail -n 20
    echo "grid run exit: $? after $(( $(date +%s) - t0 )) s"
    cp runs/grids/results.jsonl "$out"/grids_results.jsonl
    cp runs/grids/meta.json "$out"/grids_meta.json
    (cd runs/grids && tar cf "$out"/grids.tar images ./*.png)
    python3 benchmarks/results/compare_rows.py benchmarks/results/faces64 runs/grids --md "$out"/grids_vs_table.md \
      > "$out"/grids_vs_table.json; cat "$out"/grids_vs_table.md ;;
  scaling)
    rm -rf runs/scaling1 runs/scaling2
    t0=$(date +%s.%N)
    CUDA_VISIBLE_DEVICES=0 python3 -m invdiff bench configs/bench/faces64-scaling.yaml --out runs/scaling1 --quiet
    t1=$(date +%s.%N)
    two_gpus bench configs/bench/faces64-scaling.yaml --out runs/scaling2 --quiet
    t2=$(date +%s.%N)
    python3 benchmarks/results/compare_scaling.py runs/scaling1 runs/scaling2 "$t0" "$t1" "$t2" | tee "$out"/scaling.json
    cp runs/scaling1/results.md "$out"/scaling_one_gpu.md; cp runs/scaling2/results.md "$out"/scaling_two_gpus.md ;;
  *) echo "usage: $0 suite [SECONDS] | grids | scaling" >&2; exit 2 ;;
esac

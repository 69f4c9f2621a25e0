#!/usr/bin/env bash
# Issue 14 rerun on the GPU machine: DDRM, DPS (1000 and 100 steps) and RePaint on the faces64 suite with the
# fixed solvers, into a fresh folder (never into benchmarks/results/faces64: the runner would resume old rows),
# then the paired difference to the old table. Carried as for run_faces64_gpu.sh (.carry/wheels, .carry/data,
# .carry/alexnet-features.safetensors).
#   bash benchmarks/results/run_faces64_issue14.sh SECONDS
set -uo pipefail
secs=${1:-540}
python3 -m pip install -q --no-deps .carry/wheels/*.whl 2>&1 | tail -n 2
export INVDIFF_DATA=.carry/data INVDIFF_LPIPS_ALEXNET=.carry/alexnet-features.safetensors PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout "$secs" python3 -m invdiff bench configs/bench/faces64-issue14.yaml --out runs/bench/faces64-issue14 \
  --batch-size 100 --device cuda 2>&1 | grep -v "it/s\]" | tail -n 40
echo "bench exit: $?"
python3 benchmarks/results/compare_rows.py benchmarks/results/faces64 runs/bench/faces64-issue14 \
  --md runs/bench/faces64-issue14/vs_faces64.md 2>&1 | tail -n 60
if [ -n "${OUT:-}" ]; then
  cp runs/bench/faces64-issue14/{results.md,results.csv,meta.json,vs_faces64.md} "$OUT"/ 2>/dev/null
  cat runs/bench/faces64-issue14/*.jsonl > "$OUT"/results.jsonl 2>/dev/null
  (cd runs/bench/faces64-issue14 && tar cf "$OUT"/grids.tar *.png 2>/dev/null)
fi

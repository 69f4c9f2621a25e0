#!/usr/bin/env bash
# Run (or resume) the faces64 benchmark suite on the GPU machine and copy the tables to $OUT.
# Carried: .carry/wheels (lpips, piq wheels), .carry/data/faces-utk/heldout (first 100 sorted held-out
# faces, the originals), .carry/alexnet-features.safetensors (LPIPS backbone from ../shared/weights).
#   bash benchmarks/results/run_faces64_gpu.sh SECONDS
set -uo pipefail
secs=${1:-540}
python3 -m pip install -q --no-deps .carry/wheels/*.whl 2>&1 | tail -n 2
export INVDIFF_DATA=.carry/data INVDIFF_LPIPS_ALEXNET=.carry/alexnet-features.safetensors PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout "$secs" python3 -m invdiff bench configs/bench/faces64.yaml --out runs/bench/faces64 --batch-size 100 \
  --device cuda 2>&1 | grep -v "it/s\]" | tail -n 40
echo "bench exit: $?"
wc -l runs/bench/faces64/*.jsonl 2>/dev/null
if [ -n "${OUT:-}" ]; then
  cp runs/bench/faces64/results.md runs/bench/faces64/results.csv runs/bench/faces64/meta.json "$OUT"/ 2>/dev/null
  cat runs/bench/faces64/*.jsonl > "$OUT"/results.jsonl 2>/dev/null
  (cd runs/bench/faces64 && tar cf "$OUT"/grids.tar *.png 2>/dev/null)  # at most 8 files come back
  ls -la "$OUT"
fi
cat runs/bench/faces64/results.md 2>/dev/null | head -60

#!/usr/bin/env bash
# Print the training run's progress on the device machine; copy its products to $OUT if asked.
#   bash benchmarks/faces64/status.sh [collect]
set -uo pipefail
tail -n 5 runs/faces64/stdout.log 2>/dev/null
grep -v heldout runs/faces64/log.jsonl 2>/dev/null | tail -n 3
grep heldout runs/faces64/log.jsonl 2>/dev/null | tail -n 1
ls -la runs/faces64 2>/dev/null
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
if [ "${1:-}" = collect ] && [ -n "${OUT:-}" ]; then
  cp runs/faces64/log.jsonl runs/faces64/stdout.log "$OUT"/ 2>/dev/null
  cp runs/faces64/faces64*.safetensors runs/faces64/faces64.json "$OUT"/ 2>/dev/null
  ls runs/faces64/samples_*.png 2>/dev/null | tail -n 1 | xargs -r -I{} cp {} "$OUT"/
fi

#!/usr/bin/env bash
# Print the faces64-sr4 training run's progress on the device machine; with `collect`, copy its products to $OUT:
# the fp16 shards + JSON, log.jsonl, stdout.log, the last sample grid and a model card generated from them.
#   bash benchmarks/faces64_sr4/status.sh [collect]
set -uo pipefail
run=runs/faces64-sr4
tail -n 5 "$run/stdout.log" 2>/dev/null
grep -v heldout "$run/log.jsonl" 2>/dev/null | tail -n 3
grep heldout "$run/log.jsonl" 2>/dev/null | tail -n 1
ls -la "$run" 2>/dev/null
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
if [ "${1:-}" = collect ] && [ -n "${OUT:-}" ]; then
  cp "$run/log.jsonl" "$run/stdout.log" "$OUT"/ 2>/dev/null
  cp "$run"/faces64-sr4*.safetensors "$run/faces64-sr4.json" "$OUT"/ 2>/dev/null
  ls "$run"/samples_*.png 2>/dev/null | sort | tail -n 1 | xargs -r -I{} cp {} "$OUT"/samples_final.png
  [ -f "$OUT/faces64-sr4.json" ] && python3 benchmarks/faces64_sr4/model_card.py "$OUT/faces64-sr4.json" \
    --log "$run/log.jsonl" --out "$OUT/faces64-sr4.md"
  ls -la "$OUT"
fi

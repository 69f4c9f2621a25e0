#!/usr/bin/env bash
# Poll the natural training run until it exports or SECONDS pass; copy what is worth keeping to $OUT.
#   bash benchmarks/natural/poll_train.sh SECONDS
# Environment as launch_train.sh's: PRESET, NAME (the run is runs/NAME), EXPORT (int8: a checkpoint comes back as int8).
set -uo pipefail
limit=${1:-540}; t0=$(date +%s)
preset=${PRESET:-natural}; name=${NAME:-$preset}; run=runs/$name
like=(); [ "$preset" = natural ] && like=(--like invdiff/weights/natural.json)  # a continued run keeps its card's record
int8=(); [ "${EXPORT:-}" = int8 ] && int8=(--int8)
while [ $(( $(date +%s) - t0 )) -lt "$limit" ]; do
  [ -f "$run/$name.json" ] && break
  pgrep -f "invdiff train" > /dev/null || { echo "training is not running"; break; }
  sleep 20
  tail -n 1 "$run/log.jsonl" 2>/dev/null | cut -c1-200
done
tail -n 5 "$run/stdout.log"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
if [ -n "${OUT:-}" ]; then
  if [ -f "$run/$name.json" ]; then
    cp "$run/$name"*.safetensors "$run/$name.json" "$OUT"/
  elif [ -f "$run/checkpoint.pt" ]; then  # still training: bring back the newest checkpoint's EMA
    python3 benchmarks/natural/export_checkpoint.py "$run/checkpoint.pt" "$OUT/partial/$name" "${like[@]}" "${int8[@]}"
  fi
  tar czf "$OUT/natural-run.tar.gz" -C "$run" log.jsonl stdout.log $(cd "$run" && ls samples_*.png 2>/dev/null)
  ls -la "$OUT"
fi

#!/usr/bin/env bash
# Poll the natural training run until it exports or SECONDS pass; copy what is worth keeping to $OUT.
#   bash benchmarks/natural/poll_train.sh SECONDS
set -uo pipefail
limit=${1:-540}; t0=$(date +%s)
while [ $(( $(date +%s) - t0 )) -lt "$limit" ]; do
  [ -f runs/natural/natural.json ] && break
  pgrep -f "invdiff train" > /dev/null || { echo "training is not running"; break; }
  sleep 20
  tail -n 1 runs/natural/log.jsonl 2>/dev/null | cut -c1-200
done
tail -n 5 runs/natural/stdout.log
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
if [ -n "${OUT:-}" ]; then
  if [ -f runs/natural/natural.json ]; then
    cp runs/natural/natural*.safetensors runs/natural/natural.json "$OUT"/
  elif [ -f runs/natural/checkpoint.pt ]; then  # still training: bring back the newest checkpoint's EMA
    python3 benchmarks/natural/export_checkpoint.py runs/natural/checkpoint.pt "$OUT/partial/natural"
  fi
  tar czf "$OUT/natural-run.tar.gz" -C runs/natural log.jsonl stdout.log $(cd runs/natural && ls samples_*.png 2>/dev/null)
  ls -la "$OUT"
fi

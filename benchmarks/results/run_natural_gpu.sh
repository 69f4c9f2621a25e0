#!/usr/bin/env bash
# Run (or resume) the natural-image benchmark (configs/bench/natural.yaml) on the GPU machine and copy the
# tables to $OUT. A killed or timed-out run resumes where it stopped: call it again (on a fresh machine,
# carry runs/bench/natural back in first).
# Carried: .carry/natural-eval (made by `python benchmarks/natural/pack_eval.py --data ../shared/datasets`,
# 19.6 MiB), .carry/alexnet-features.safetensors (LPIPS backbone from ../shared/weights), .carry/wheels
# (lpips, piq, if the machine lacks them), and the `natural` prior wherever the registry finds it.
#   bash benchmarks/results/run_natural_gpu.sh SECONDS [GPUS]
set -uo pipefail
secs=${1:-540}
gpus=${2:-1}
run=${RUN_DIR:-runs/bench/natural}
ls .carry/wheels/*.whl >/dev/null 2>&1 && python3 -m pip install -q --no-deps .carry/wheels/*.whl 2>&1 | tail -n 2
export INVDIFF_DATA=.carry/natural-eval INVDIFF_LPIPS_ALEXNET=.carry/alexnet-features.safetensors PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [ "$gpus" -gt 1 ]; then
  launch=(torchrun --standalone --nproc_per_node "$gpus" -m invdiff)
else
  launch=(python3 -m invdiff)
fi
timeout "$secs" "${launch[@]}" bench configs/bench/natural.yaml --out "$run" --fast --quiet 2>&1 | tail -n 40
echo "bench exit: ${PIPESTATUS[0]}"
cat "$run"/results.jsonl "$run"/shards/*.jsonl 2>/dev/null | wc -l
if [ -n "${OUT:-}" ]; then
  cp "$run"/results.md "$run"/results.csv "$run"/meta.json "$OUT"/ 2>/dev/null
  cat "$run"/results.jsonl "$run"/shards/*.jsonl > "$OUT"/results.jsonl 2>/dev/null
  (cd "$run" && tar cf "$OUT"/grids.tar *.png 2>/dev/null)
  ls -la "$OUT"
fi
head -n 40 "$run"/results.md 2>/dev/null

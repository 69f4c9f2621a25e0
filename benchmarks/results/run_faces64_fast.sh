#!/usr/bin/env bash
# The faces64 suite in fast mode (issue 9: does quality drop?) on one GPU, in the background so that it
# outlasts one device-tool call (the process is started with setsid and keeps running while the machine
# stays warm). Compare the result with the fp32 table afterwards, on any machine (the committed rows are
# gzipped: gzip -dk benchmarks/results/faces64-fast/results.jsonl.gz):
#   python3 benchmarks/results/compare_rows.py benchmarks/results/faces64 benchmarks/results/faces64-fast \
#     --md benchmarks/results/faces64-fast/fast_vs_fp32.md
# Steps, one per call:
#   bash benchmarks/results/run_faces64_fast.sh start          # launch (LPIPS backbone, wheels and data as below)
#   bash benchmarks/results/run_faces64_fast.sh wait SECONDS   # wait up to SECONDS for it to end; copy what exists
# Carried: .carry/wheels (lpips, piq), .carry/data/faces-utk/heldout, and the LPIPS backbone either whole
# (.carry/alexnet-features.safetensors) or in halves (runs/carry/alex.00 from an earlier call + .carry/lp2/alex.01).
set -uo pipefail
step=${1:?usage: $0 start | wait SECONDS}
out=${OUT:-out}; mkdir -p "$out" runs
run=runs/bench/faces64-fast
case "$step" in
  start)
    lpips=.carry/alexnet-features.safetensors
    [ -f "$lpips" ] || cat runs/carry/alex.00 .carry/lp2/alex.01 > "$lpips"
    sha256sum "$lpips"
    python3 -m pip install -q --no-deps .carry/wheels/*.whl 2>&1 | tail -n 2
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    INVDIFF_DATA=.carry/data INVDIFF_LPIPS_ALEXNET=$lpips PYTHONUNBUFFERED=1 \
      TORCHINDUCTOR_CACHE_DIR=$PWD/runs/inductor-cache setsid nohup python3 -m invdiff bench \
      configs/bench/faces64.yaml --fast --out "$run" --batch-size 100 --device cuda --quiet \
      > runs/fast.log 2>&1 < /dev/null &
    echo $! > runs/fast.pid
    sleep 20; tail -n 5 runs/fast.log ;;
  wait)
    pid=$(cat runs/fast.pid); deadline=$(( $(date +%s) + ${2:-500} ))
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
    kill -0 "$pid" 2>/dev/null && echo "still running" || echo "finished"
    grep -v "^ *$" runs/fast.log | tail -n 15
    cat "$run"/results.jsonl > "$out"/results.jsonl 2>/dev/null; wc -l "$out"/results.jsonl
    cp "$run"/meta.json "$run"/results.md "$run"/results.csv runs/fast.log "$out"/ 2>/dev/null
    (cd "$run" && tar cf "$out"/grids.tar ./*.png 2>/dev/null) ;;
  *) echo "usage: $0 start | wait SECONDS" >&2; exit 2 ;;
esac

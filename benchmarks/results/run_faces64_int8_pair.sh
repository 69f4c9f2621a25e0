#!/usr/bin/env bash
# Issues 14 and 19 in one 2-GPU lease: the faces64-issue14 suite (DDRM, DPS-1000, DPS-100, RePaint; six tasks and the
# noiseless Gaussian blur) in fast mode on the fixed solvers, once with the shipped int8 `faces64` (GPU 0) and once
# with the fp16 export it was quantised from (GPU 1, commit 8d19617), same code, images and seeds: the rows pair up
# for the int8-vs-fp16 difference (issue 19) and, against benchmarks/results/faces64-fast, for the solver fixes.
# The int8 shards do not travel (travel.py leave-out faces64): they are re-made from the fp16 export with
# benchmarks/quantize/quantize_prior.py and must be byte-identical to the shipped ones (sha256 checked below).
# Carried: .carry/fp16 (fp16 faces64 from git: git show 8d19617:invdiff/weights/faces64…), .carry/data/faces-utk/
# heldout (first 200 sorted), .carry/wheels (lpips, piq), .carry/alexnet-features.safetensors.
# One step per call (the runs go on in the background between calls while the machine is held):
#   bash benchmarks/results/run_faces64_int8_pair.sh start SECONDS   # quantise, check, launch both; wait SECONDS
#   bash benchmarks/results/run_faces64_int8_pair.sh wait SECONDS    # wait up to SECONDS more; copy what exists
set -uo pipefail
step=${1:?usage: $0 start SECONDS | wait SECONDS}
secs=${2:-540}
out=${OUT:-out}; mkdir -p "$out" runs/bench
export INVDIFF_DATA=.carry/data INVDIFF_LPIPS_ALEXNET=.carry/alexnet-features.safetensors PYTHONUNBUFFERED=1
suite=configs/bench/faces64-issue14.yaml
runs=(runs/bench/faces64-issue14 runs/bench/faces64-issue14-fp16)
if [ "$step" = start ]; then
  python3 -m pip install -q --no-deps .carry/wheels/*.whl 2>&1 | tail -n 2
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 benchmarks/quantize/quantize_prior.py .carry/fp16/faces64.json runs/q/faces64.json \
    --data .carry/data/faces-utk/heldout --images 1 --skip 100 >/dev/null || exit 1
  cp runs/q/faces64-0000*-of-00002.safetensors invdiff/weights/
  printf '%s\n' \
    "01752c7e1d1d0016b8d73ada1705295f7e37a37582104f07e70958e476c262ae  faces64-00001-of-00002.safetensors" \
    "173f537c6c01775252424c1025beb1b7d4f7494bc44f43e92d7b9b700ecba765  faces64-00002-of-00002.safetensors" \
    > runs/q/SHA256SUMS
  (cd invdiff/weights && sha256sum -c ../../runs/q/SHA256SUMS) || { echo "re-made int8 shards differ" >&2; exit 1; }
  CUDA_VISIBLE_DEVICES=0 setsid nohup python3 -m invdiff bench $suite --out "${runs[0]}" --fast --batch-size 100 \
    --quiet > runs/int8.log 2>&1 &
  CUDA_VISIBLE_DEVICES=1 setsid nohup python3 -m invdiff bench $suite --out "${runs[1]}" --fast --batch-size 100 \
    --prior .carry/fp16/faces64.json --quiet > runs/fp16.log 2>&1 &
  sleep 5
fi
t0=$(date +%s)
while [ $(( $(date +%s) - t0 )) -lt "$secs" ] && pgrep -f "invdiff bench" >/dev/null; do sleep 10; done
pgrep -f "invdiff bench" >/dev/null && echo "still running after $secs s" || echo "both runs ended"
for r in "${runs[@]}"; do
  echo "== $r: $(cat "$r"/*.jsonl 2>/dev/null | wc -l) rows"
  name=${r##*/}
  tar cf "$out/$name.tar" -C "$r" . 2>/dev/null
done
tail -n 5 runs/int8.log runs/fp16.log; cp runs/int8.log runs/fp16.log "$out"/

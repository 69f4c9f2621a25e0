#!/usr/bin/env bash
# Issue 16, second call (nvidia-h100-x2 / h200-x2): configs/bench/faces64-issue16-rest.yaml — motion blur for DPS and
# DAPS, JPEG q=10 for every few-step solver — split over the two GPUs as run_faces64_issue16.sh does, each part
# time-boxed (LIMIT_S, default 140 s: a cut part keeps its finished rows), rows back in $OUT/rest.tar (no images).
# Carried: .carry/wheels, .carry/data/faces-utk/heldout, .carry/alexnet-features.safetensors.
set -uo pipefail
LIMIT_S=${LIMIT_S:-140}
out=${OUT:-out}; mkdir -p "$out" runs
export INVDIFF_DATA=.carry/data INVDIFF_LPIPS_ALEXNET=.carry/alexnet-features.safetensors PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps .carry/wheels/*.whl 2>&1 | tail -n 2
suite=configs/bench/faces64-issue16-rest.yaml
CUDA_VISIBLE_DEVICES=0 timeout -k 5 "$LIMIT_S" python3 -m invdiff bench $suite --out runs/rest-a \
  --only 'diffpir*,ddnm*,daps*,measurement' --batch-size 100 --quiet > runs/rest-a.log 2>&1 &
CUDA_VISIBLE_DEVICES=1 timeout -k 5 "$LIMIT_S" python3 -m invdiff bench $suite --out runs/rest-b \
  --only 'pigdm*,dps*' --batch-size 100 --quiet > runs/rest-b.log 2>&1 &
wait
wc -l runs/rest-*/results.jsonl; tail -n 2 runs/rest-a.log runs/rest-b.log
tar cf "$out/rest.tar" --exclude=images runs/rest-a runs/rest-b runs/rest-a.log runs/rest-b.log

#!/usr/bin/env bash
# Face-suite follow-ups on ONE GPU (e.g. beside a training run on the others), detached-friendly; each part is
# time-boxed and a cut part keeps every finished row (rerun into the same folder to resume):
#   1. issue 14's last criterion: DPS-1000 against DPS-100 at today's per-task ζ (faces64-issue14.yaml, the 100
#      table faces, --fast as that table) → runs/fu/issue14-dps;
#   2. issue 16's second validation sweep on held-out faces 100–149: motion blur and JPEG for every setting
#      (faces64-val16-rest.yaml) → runs/fu/val16-c, and ΠGDM at weights 4 and 8 on all six tasks
#      (faces64-val16.yaml --only) → runs/fu/val16-d; eager fp32 as the first sweep.
# Carried: .carry/wheels, .carry/data/faces-utk/heldout, .carry/alexnet-features.safetensors, the faces64 weights.
#   CUDA_VISIBLE_DEVICES=3 bash benchmarks/results/run_faces64_followup.sh > runs/fu.log 2>&1
# Knobs: DPS_S (420), VAL_S (420) — the time boxes; PRIOR (faces64, or a copy of its JSON + shards that stays put
# while later calls change what travels); EXTRA (more bench arguments, e.g. "--device cpu --limit 2").
set -uo pipefail
T0=$(date +%s)
DPS_S=${DPS_S:-420}; VAL_S=${VAL_S:-420}; EXTRA=${EXTRA:-}; PY=${PY:-python3}
export INVDIFF_DATA=${INVDIFF_DATA:-.carry/data} INVDIFF_LPIPS_ALEXNET=${INVDIFF_LPIPS_ALEXNET:-.carry/alexnet-features.safetensors}
export PYTHONUNBUFFERED=1 PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
mkdir -p runs/fu
if [ "${WHEELS:-1}" = 1 ]; then $PY -m pip install -q --no-deps .carry/wheels/*.whl 2>&1 | tail -n 2; fi
nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1
FAST=${FAST---fast}; PRIOR=${PRIOR:-faces64}
timeout -k 10 "$DPS_S" $PY -m invdiff bench configs/bench/faces64-issue14.yaml --out runs/fu/issue14-dps \
  --only 'dps,dps-100' --batch-size 100 --quiet --prior "$PRIOR" $FAST $EXTRA > runs/fu/issue14-dps.log 2>&1
stamp "issue14 DPS exit $?, $(cat runs/fu/issue14-dps/results.jsonl runs/fu/issue14-dps/shards/*.jsonl 2>/dev/null | wc -l) rows"
timeout -k 10 "$VAL_S" $PY -m invdiff bench configs/bench/faces64-val16-rest.yaml --out runs/fu/val16-c \
  --batch-size 50 --quiet --prior "$PRIOR" $EXTRA > runs/fu/val16-c.log 2>&1
stamp "val16-c exit $?, $(cat runs/fu/val16-c/results.jsonl 2>/dev/null | wc -l) rows"
timeout -k 10 "$VAL_S" $PY -m invdiff bench configs/bench/faces64-val16.yaml --out runs/fu/val16-d \
  --only 'pigdm@weight=4,pigdm@weight=8' --batch-size 50 --quiet --prior "$PRIOR" $EXTRA > runs/fu/val16-d.log 2>&1
stamp "val16-d exit $?, $(cat runs/fu/val16-d/results.jsonl 2>/dev/null | wc -l) rows"
stamp "done"

#!/usr/bin/env bash
# Issue 16 in one call on the 2-GPU machine (nvidia-h100-x2), ≤ 9.5 min wall: tune DiffPIR, DDNM, ΠGDM and DAPS (and
# DPS's ζ at 100 steps) on held-out faces 100–149 (configs/bench/faces64-val16.yaml), choose per (solver, task) the
# setting of lowest mean LPIPS (benchmarks/tuning/choose_settings.py), then run the generated test suite
# faces64-issue16.yaml on the table's faces 0–99: each solver at 10, 20, 50, 100 network calls per image (DAPS 2, 4,
# 10, 20 steps × 5 ODE steps = 6, 16, 46, 96 calls; DPS with its tuned ζ at 20, 50, 100).
#
#   bash benchmarks/results/run_faces64_issue16.sh          # what comes back: $OUT/issue16.tar, val16.tar, logs.tar
#
# Carried: .carry/wheels (lpips, piq), .carry/data/faces-utk/heldout (first 200 sorted), .carry/alexnet-features.safetensors.
# fp32 eager, no --fast (compiling per task × method costs a minute or more each: not in this budget).
#
# The GPUs split the methods, not the images: each GPU solves whole batches (all images of a phase at once, where
# a network call costs least per image) and runs its own chain — sweep, choice, test — without waiting for the other:
#   GPU 0: diffpir*, ddnm*, daps*, measurement (network forward only)
#   GPU 1: pigdm*, dps*                        (forward + backward: ΠGDM's vector–Jacobian product, DPS's gradient)
# A solver's settings are chosen on its own GPU's sweep rows, so a chain needs nothing from the other; at the end
# both parts are joined (join_runs.py) into runs/faces64-issue16 and the choice is re-made from both sweeps (same
# result) into runs/val16/chosen.json + choices.md + faces64-issue16.yaml.
#
# Budget (per GPU; network cost per call from the fp32 faces64 rows of benchmarks/results/faces64, H200, eager:
# forward ≈ 30 ms at batch 50 and ≈ 48 ms at batch 100, forward + backward ≈ 50–65 ms at 50 and ≈ 73 ms at 100 —
# slower than the 10–20 ms sometimes assumed, which is the bf16 fast mode; an H100 is about as fast or ~10 % slower):
#   setup (wheels, nvidia-smi)                                              ~ 10 s
#   sweep, 50 images at batch 50, one batch per (task, setting), 100 NFE each:
#     GPU 0: (6 DiffPIR + 3 DDNM + 3 DAPS) × 100 = 1,200 forward calls per task ≈ 36 s → 6 tasks ≈ 220 s
#     GPU 1: (3 ΠGDM + 4 DPS) × 100 = 700 forward+backward calls per task ≈ 35 s → 6 tasks ≈ 210 s
#     (+ ~15 s start: torch, prior, LPIPS); time-boxed at SWEEP_S = 250 s: a task it does not reach falls back to the
#     solver's defaults, and chosen.json says so
#   choose_settings                                                         ~ 5 s
#   test suite, 100 images at batch 100: 180 calls per solver and task (DPS: 170)
#     GPU 0: 540 forward per task ≈ 26 s → ≈ 160 s; GPU 1: 350 forward+backward per task ≈ 26 s → ≈ 155 s (+ 15 s start)
#     time-boxed to what is left before LIMIT_S less RESERVE_S (a cut run keeps every finished row)
#   joins, final choice, tar                                                ~ 25 s
#   total ≈ 10 + 265 + 5 + 175 + 25 ≈ 480 s, against LIMIT_S = 550 s.
# Network calls per GPU: sweep ≈ 7,200 (GPU 0) / 4,200 (GPU 1) at batch 50, test ≈ 3,240 / 2,100 at batch 100.
#
# Knobs (environment): LIMIT_S (550), SWEEP_S (250), RESERVE_S (40), PY (python3), VAL (the sweep suite), EXTRA (more
# `invdiff bench` arguments, e.g. "--device cpu --limit 2" for a CPU smoke test), TEST_STEPS (choose_settings --steps,
# smoke tests only), BATCH_VAL (50), BATCH_TEST (100), GPU_A (0), GPU_B (1), WHEELS (1: install .carry/wheels),
# PART_A, PART_B (the --only patterns of each GPU).
set -uo pipefail
T0=$(date +%s)
LIMIT_S=${LIMIT_S:-550}; SWEEP_S=${SWEEP_S:-250}; RESERVE_S=${RESERVE_S:-40}
PY=${PY:-python3}; VAL=${VAL:-configs/bench/faces64-val16.yaml}; EXTRA=${EXTRA:-}
BATCH_VAL=${BATCH_VAL:-50}; BATCH_TEST=${BATCH_TEST:-100}; GPU_A=${GPU_A:-0}; GPU_B=${GPU_B:-1}
out=${OUT:-out}; mkdir -p "$out" runs
out=$(cd "$out" && pwd)
export INVDIFF_DATA=${INVDIFF_DATA:-.carry/data} INVDIFF_LPIPS_ALEXNET=${INVDIFF_LPIPS_ALEXNET:-.carry/alexnet-features.safetensors}
export PYTHONUNBUFFERED=1 PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1  # never NVLink multicast
PART_A=${PART_A:-'diffpir*,ddnm*,daps*,measurement'}; PART_B=${PART_B:-'pigdm*,dps*'}
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
left() { echo $(( LIMIT_S - ($(date +%s) - T0) )); }

if [ "${WHEELS:-1}" = 1 ]; then $PY -m pip install -q --no-deps .carry/wheels/*.whl 2>&1 | tail -n 2; fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
stamp "setup done; sweep $VAL, time box ${SWEEP_S} s"

# One GPU's chain: its part of the sweep → its choice → its part of the test suite.
chain() {
  local gpu=$1 part=$2 only=$3 t rc
  t=$(( SWEEP_S - ($(date +%s) - T0) )); [ "$t" -lt 5 ] && t=5
  CUDA_VISIBLE_DEVICES=$gpu timeout -k 10 "$t" $PY -m invdiff bench "$VAL" --out "runs/val16-$part" --only "$only" \
    --batch-size "$BATCH_VAL" --quiet $EXTRA > "runs/val16-$part.log" 2>&1
  rc=$?; stamp "GPU $gpu: sweep part $part exit $rc ($( [ $rc = 124 ] && echo 'cut by its time box' || echo done)), \
$(cat runs/val16-$part/results.jsonl 2>/dev/null | wc -l) rows"
  $PY benchmarks/tuning/choose_settings.py "runs/val16-$part" --val "$VAL" --out "runs/chosen-$part" \
    ${TEST_STEPS:+--steps "$TEST_STEPS"} > "runs/chosen-$part.log" 2>&1 || { stamp "GPU $gpu: choose failed"; cat "runs/chosen-$part.log"; return; }
  stamp "GPU $gpu: $(tail -n 1 runs/chosen-$part.log)"
  t=$(( $(left) - RESERVE_S ))
  if [ "$t" -lt 20 ]; then stamp "GPU $gpu: no time left for the test suite"; return; fi
  CUDA_VISIBLE_DEVICES=$gpu timeout -k 10 "$t" $PY -m invdiff bench "runs/chosen-$part/faces64-issue16.yaml" \
    --out "runs/issue16-$part" --only "$only" --batch-size "$BATCH_TEST" --quiet $EXTRA > "runs/issue16-$part.log" 2>&1
  rc=$?; stamp "GPU $gpu: test part $part exit $rc ($( [ $rc = 124 ] && echo "cut after $t s" || echo done)), \
$(cat runs/issue16-$part/results.jsonl 2>/dev/null | wc -l) rows"
}
chain "$GPU_A" a "$PART_A" &
chain "$GPU_B" b "$PART_B" &
wait
stamp "both chains ended"

# What comes back first: the raw parts (rows, meta, logs), so that nothing is lost if the joins below fail.
tar cf "$out/val16.tar" $(ls -d runs/val16-a runs/val16-b runs/chosen-a runs/chosen-b 2>/dev/null)
tar cf "$out/logs.tar" runs/*.log
# The final choice from both sweeps, and the joined tables.
$PY benchmarks/tuning/choose_settings.py runs/val16-a runs/val16-b --val "$VAL" --out runs/val16 \
  ${TEST_STEPS:+--steps "$TEST_STEPS"} | tail -n 1
join() {  # join part b into a copy of part a (both must have started)
  local a=$1 b=$2 to=$3
  if [ -f "$a/meta.json" ] && [ -f "$b/meta.json" ]; then
    rm -rf "$to"; cp -r "$a" "$to"
    [ -f "$b/results.jsonl" ] || : > "$b/results.jsonl"
    if [ -d "$b/images" ]; then mkdir -p "$to/images" && cp -rn "$b/images/." "$to/images/"; fi  # b's grid columns
    $PY benchmarks/results/join_runs.py "$to" "$b/results.jsonl" "$b/meta.json" | tail -n 1
  else
    stamp "not joined: $a or $b has no meta.json"
  fi
}
join runs/val16-a runs/val16-b runs/val16/joined
join runs/issue16-a runs/issue16-b runs/faces64-issue16
cp runs/val16/chosen.json runs/val16/choices.md runs/val16/faces64-issue16.yaml runs/faces64-issue16/ 2>/dev/null
tar cf "$out/issue16.tar" $(ls -d runs/faces64-issue16 runs/issue16-a runs/issue16-b runs/val16 2>/dev/null)
ls -l "$out"
stamp "done"
sed -n '/^## Chosen/,$p' runs/val16/choices.md 2>/dev/null
head -n 150 runs/faces64-issue16/results.md 2>/dev/null | cut -c1-220

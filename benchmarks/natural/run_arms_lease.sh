#!/usr/bin/env bash
# Issue 20: two training arms side by side in one lease of 4 GPUs, then both measured on the issue's probe protocol.
# The shipped `natural` (19.4 M parameters, 12.1 M crops of 64²) is level with the issue's 32 M-parameter probe on its
# protocol (benchmarks/results/natural-probe-bar/), and three times more training moved the suite by at most 0.1 dB.
#   wide — `natural-wide` (the same network at 96 base channels, 43.6 M) from random init on GPUs 0,1: 64² crops,
#          constant lr 2e-4, 2 × 512 crops a step. Is the prior limited by its width? (Compare the held-out x̂₀ error
#          at equal crops seen with run 1's log, benchmarks/natural/train_log.jsonl: 3.0 M crops on 2 H100s.)
#   r3   — `natural` continued from the shipped weights on GPUs 2,3: 128² crops (4× the context; 2 × 128 a step, the
#          same pixels), lr 2e-4 falling linearly to 0 at STEPS. Can the shipped size do better with more context
#          and an annealed end? Its weights fit the shipped budget as they are.
# Both export int8 as shipped (44 MB and 20 MB), so each comes back under the 64 MiB, in different calls.
#
#   call 1 — carry .carry/natural-pack.tar and .carry/wheels, the tree without any prior or figure
#            (python3 benchmarks/device/travel.py leave-out faces64 faces64-sr4 natural --figures):
#       bash benchmarks/natural/run_arms_lease.sh wide MINUTES
#   call 2 — the tree with `natural` (travel.py leave-out faces64 faces64-sr4 --figures), .carry/wheels carried:
#       bash benchmarks/natural/run_arms_lease.sh r3 MINUTES STEPS POLL_SECONDS
#   call 3 — bash benchmarks/natural/run_arms_lease.sh poll SECONDS natural-wide   (until both export; wide comes back)
#   call 4 — carry .carry/natural-probe (benchmarks/natural/make_val_crops.py --shape 256x384 --count 8 --out
#            .carry/natural-probe/natural-probe), .carry/alexnet-features.safetensors, .carry/wheels:
#       bash benchmarks/natural/run_arms_lease.sh eval natural-r3    (all three priors; r3's weights come back)
# A run not exported when its weights are asked for comes back as its newest checkpoint's EMA (partial/).
# CPU smoke (a copy of the tree with the pack; a fake nvidia-smi on PATH):
#   GPUS=1 bash … wide 1 --no-compile --batch-size 4 …; GPUS=1 bash … r3 1 20 60 --no-compile --batch-size 4 …
set -uo pipefail
STAGE=${STAGE:-/tmp/stage}  # STAGE: a CPU smoke stages elsewhere
export EXPORT=int8

site() {  # the wheels the GPU image lacks (pypng, which invdiff.io imports; lpips, piq), once per lease
  [ -d /tmp/site ] || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/wheels/*.whl \
    || { echo "run_arms_lease: error: carry .carry/wheels in the lease's first call." >&2; exit 2; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
}

arm() {  # name, minutes, launch_train.sh flags…: start one arm detached
  local name=$1 minutes=$2; shift 2
  PACK=$STAGE/natural-pack.tar NAME=$name bash benchmarks/natural/launch_train.sh "$minutes" --ckpt-every 1000 "$@"
}

poll() {  # seconds: until every started arm has exported, or the time is up
  local limit=$1 t0; t0=$(date +%s)
  while [ $(( $(date +%s) - t0 )) -lt "$limit" ]; do
    local waiting=0
    for run in runs/*/; do [ -f "$run$(basename "$run").json" ] || waiting=1; done
    [ "$waiting" = 0 ] && break
    pgrep -f "invdiff train" > /dev/null || { echo "no training is running"; break; }
    sleep 30
    for run in runs/*/; do echo "$(basename "$run"): $(tail -n 1 "${run}log.jsonl" 2>/dev/null | cut -c1-160)"; done
  done
  for run in runs/*/; do echo "== $run"; tail -n 3 "${run}stdout.log"; done
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
}

bring_back() {  # names…: logs of every arm, and the named arms' weights (the export, or the checkpoint's EMA)
  [ -n "${OUT:-}" ] || return 0
  for run in runs/*/; do
    local name; name=$(basename "$run")
    tar czf "$OUT/$name-run.tar.gz" -C "$run" log.jsonl stdout.log $(cd "$run" && ls samples_*.png 2>/dev/null)
  done
  for name in "$@"; do
    local run=runs/$name preset=natural
    [ "$name" = natural-wide ] && preset=natural-wide
    if [ -f "$run/$name.json" ]; then
      cp "$run/$name"*.safetensors "$run/$name.json" "$OUT"/
    elif [ -f "$run/checkpoint.pt" ]; then
      like=(); [ "$preset" = natural ] && like=(--like invdiff/weights/natural.json)
      python3 benchmarks/natural/export_checkpoint.py "$run/checkpoint.pt" "$OUT/partial/$name" "${like[@]}" --int8
    fi
  done
  ls -la "$OUT"
}

site
case "${1:-}" in
  wide)
    if [ -f .carry/natural-pack.tar ]; then  # later calls carry other things: the pack stays here
      mkdir -p "$STAGE" && cp .carry/natural-pack.tar "$STAGE/"
    fi
    [ -f "$STAGE/natural-pack.tar" ] || { echo "run_arms_lease: error: carry .carry/natural-pack.tar in the first call." >&2; exit 2; }
    CUDA_VISIBLE_DEVICES=${WIDE_GPUS:-0,1} PRESET=natural-wide BATCH=512 WARMUP=500 \
      arm natural-wide "${2:-18}" "${@:3}" || exit 1
    sleep 45; tail -n 5 runs/natural-wide/stdout.log ;;
  r3)
    [ -f "$STAGE/natural-pack.tar" ] || { echo "run_arms_lease: error: no staged pack: run 'wide' first in this lease." >&2; exit 2; }
    steps=${3:?the number of steps (the linear decay ends there)}
    CUDA_VISIBLE_DEVICES=${R3_GPUS:-2,3} PRESET=natural CROP=128 BATCH=128 WARMUP=200 LR=2e-4 \
      arm natural-r3 "${2:-16}" --init-from natural --lr-decay linear --steps "$steps" "${@:5}" || exit 1
    poll "${4:-480}"; bring_back ;;
  poll) poll "${2:-540}"; bring_back "${@:3}" ;;
  eval)
    export INVDIFF_DATA=.carry/natural-probe \
      INVDIFF_LPIPS_ALEXNET=.carry/alexnet-features.safetensors
    gpu=0; tags=()
    for prior in natural runs/natural-wide/natural-wide.json runs/natural-r3/natural-r3.json; do
      [ "$prior" = natural ] || [ -f "$prior" ] || { echo "no export at $prior: skipped"; continue; }
      tag=probe-$(basename "$prior" .json); tags+=("$tag")
      CUDA_VISIBLE_DEVICES=$gpu python3 -m invdiff bench configs/bench/natural-probe-bar.yaml --out "$STAGE/$tag" \
        --prior "$prior" --quiet > "$STAGE/$tag.log" 2>&1 &
      gpu=$((gpu + 1))
    done
    wait
    for tag in "${tags[@]}"; do
      echo "== $tag"; tail -n 2 "$STAGE/$tag.log"
      for b in bicubic wiener biharmonic; do python3 benchmarks/results/paired_methods.py "$STAGE/$tag" ddrm "$b"; done
    done
    [ -n "${OUT:-}" ] && tar czf "$OUT/probe.tgz" -C "$STAGE" --exclude=images "${tags[@]}" $(cd "$STAGE" && ls ./*.log)
    bring_back "${@:2}" ;;
  *) echo "usage: $0 wide MINUTES [flags] | r3 MINUTES STEPS POLL_SECONDS [flags] | poll SECONDS [names] | eval [names]" >&2
     exit 2 ;;
esac

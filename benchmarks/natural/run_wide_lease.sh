#!/usr/bin/env bash
# Issue 20's capacity experiment, for one lease of 4 GPUs: is the natural prior limited by its width? The shipped
# `natural` (19.4 M parameters, 12.1 M crops) is level with the issue's 32 M-parameter probe on its protocol
# (benchmarks/results/natural-probe-bar/), and three times more training moved the suite by at most 0.1 dB. This
# trains `natural-wide` (the same network at 96 base channels, 43.6 M) from random init on the same pack and recipe,
# brings it back as int8 (44 MB: bfloat16 would not fit the 64 MiB that comes back), and measures both priors on the
# probe protocol on the GPU before the lease ends.
#
#   call 1 — carry .carry/natural-pack.tar, the tree without any prior or figure
#            (python3 benchmarks/device/travel.py leave-out faces64 faces64-sr4 natural --figures):
#       bash benchmarks/natural/run_wide_lease.sh start MINUTES POLL_SECONDS [more invdiff-train flags]
#   calls 2… — carry .carry/natural-probe (the probe crops: benchmarks/natural/make_val_crops.py --shape 256x384
#            --count 8 --out .carry/natural-probe/natural-probe), .carry/alexnet-features.safetensors, .carry/wheels;
#            the tree with `natural` (travel.py leave-out faces64 faces64-sr4 --figures):
#       bash benchmarks/natural/run_wide_lease.sh poll SECONDS      (the EMA comes back as int8 each time)
#       bash benchmarks/natural/run_wide_lease.sh eval              (after the export: both priors, probe protocol)
# CPU smoke (W: a copy of the tree with the pack; a fake nvidia-smi on PATH):
#   GPUS=1 BATCH=4 bash … start 1 150 --no-compile --sample-count 2 --sample-steps 2
# Then, on the CPU here: benchmarks/natural/heldout_denoising.py and the natural suite's DDRM-20 with the wide prior.
set -uo pipefail
export PRESET=natural-wide NAME=natural-wide EXPORT=int8
STAGE=/tmp/stage; RUN=runs/natural-wide

case "${1:-}" in
  start)
    [ -f .carry/natural-pack.tar ] || { echo "run_wide_lease: error: carry .carry/natural-pack.tar in the first call." >&2; exit 2; }
    mkdir -p "$STAGE" && cp .carry/natural-pack.tar "$STAGE/"  # later calls carry other things: the pack stays here
    PACK=$STAGE/natural-pack.tar BATCH=${BATCH:-512} WARMUP=${WARMUP:-500} \
      bash benchmarks/natural/launch_train.sh "${2:-20}" --ckpt-every 1000 "${@:4}" || exit 1
    bash benchmarks/natural/poll_train.sh "${3:-400}" ;;
  poll) bash benchmarks/natural/poll_train.sh "${2:-540}" ;;
  eval)
    [ -f "$RUN/$NAME.json" ] || { echo "run_wide_lease: error: no export at $RUN/$NAME.json yet (poll first)." >&2; exit 2; }
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry/wheels/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} INVDIFF_DATA=.carry/natural-probe \
      INVDIFF_LPIPS_ALEXNET=.carry/alexnet-features.safetensors
    for prior in natural "$RUN/$NAME.json"; do
      out=$STAGE/probe-$(basename "$prior" .json)
      python3 -m invdiff bench configs/bench/natural-probe-bar.yaml --out "$out" --prior "$prior" --quiet || exit 1
      for b in bicubic wiener biharmonic; do python3 benchmarks/results/paired_methods.py "$out" ddrm "$b"; done
    done
    [ -n "${OUT:-}" ] && tar czf "$OUT/probe.tgz" -C "$STAGE" --exclude=images probe-natural probe-natural-wide ;;
  *) echo "usage: $0 start MINUTES POLL_SECONDS [flags] | poll SECONDS | eval" >&2; exit 2 ;;
esac

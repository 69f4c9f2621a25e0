#!/usr/bin/env bash
# Issue 20, eighth session: the candidate prior `r3` (benchmarks/natural/arms-s7/: the shipped weights continued on
# 128² crops, lr annealed to 0) through the whole natural suite in one 4-GPU lease, so that the table can move to it
# in one piece. The tree that travels has r3 installed as `natural` (benchmarks/natural/ship_run.py); every bench run
# is compiled fast mode (--fast: a shape compiles in 45–81 s, then DPS costs 30 ms a call at 768×512 against eager
# fp32's 70: benchmarks/results/speed/README.md), all processes sharing one inductor cache.
#
#   call 1 (carry .carry/natural-eval .carry/alexnet-features.safetensors .carry/wheels; the tree without the face
#           priors and figures: python3 benchmarks/device/travel.py leave-out faces64 faces64-sr4 --figures):
#       bash benchmarks/results/run_gpu_issue20_s8.sh stage [MINUTES] [POLL_SECONDS]
#   calls 2…: bash benchmarks/results/run_gpu_issue20_s8.sh poll SECONDS   (results to $OUT as ≤ 15 MiB parts:
#       cat res.tgz.part-* | tar xzf -; cat cells.tar.part-* | tar xf -); `… stop` ends the jobs.
#
# GPUs 0,1 (job tune): the validation sweep again with r3 (configs/bench/natural-tune.yaml: DiffPIR, DDNM⁺, ΠGDM at
#   every setting; DPS-100 at ζ 2, 4, 6, 8, 12 — the shipped prior's choices were 2–8), choose_settings.py over those rows
#   alone → $RES/choice/natural-tuned.yaml (natural.yaml with the new per-task settings), then the few-step solvers
#   of that suite on `gpu8`, then DPS-1000 tasks from the shared queue.
# GPUs 2,3 (job repaint): RePaint 250/10/10 on `gpu8` (no setting to tune), then DPS-1000 tasks from the queue once
#   the choice exists.
# The DPS-1000 queue: the tasks in the order of the goals they bear on (both deblurrings and ×4 SR for PSNR, box for
#   LPIPS on every image, then random and JPEG); a pair claims a task with mkdir (atomic), so each runs once.
# On a 2-GPU machine: TUNE_GPUS=0 REPAINT_GPUS=1 (exported before `stage`: the jobs inherit them).
# Every bench run stops at the deadline; rows of a cut run are kept (bench resumes in a later lease).
# What happened (2026-11-26, eighth session): the 4-GPU kind was not lent; one lease of 2 × H100 ran it with
#   TUNE_GPUS=0 REPAINT_GPUS=1, `stage 24 530`, two polls: the sweep (few-step part cut by its 420 s box at 264 of 324
#   rows; DPS 180 of 180), the choice, RePaint 80 of 80, the few-step solvers 258 of 288; DPS-1000 got no time. The
#   rows: benchmarks/results/natural-tune-r3/ and benchmarks/results/natural-r3-candidate/ (lease-s8/: logs).
# CPU smoke (a copy of the tree in W, small images in W/.carry/natural-eval, a tiny any-size prior):
#   SMOKE="--device cpu --limit 1 --prior PATH" W=/tmp/smoke8 bash … run-all
set -uo pipefail
W=${W:-/tmp/w}; RES=${RES:-$W/res}; SMOKE=${SMOKE:-}; MODE=${MODE-"--fast"}
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export INVDIFF_DATA=$W/.carry/natural-eval INVDIFF_LPIPS_ALEXNET=$W/.carry/alexnet-features.safetensors
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} TORCHINDUCTOR_CACHE_DIR=$W/inductor-cache
SUITE=configs/bench/natural.yaml; VAL=configs/bench/natural-tune.yaml; CHOICE=$RES/choice
LEASE_SCRIPT=benchmarks/results/run_gpu_issue20_s8.sh
DPS_ORDER=${DPS_ORDER:-"gaussian_blur motion_blur sr4 inpaint_box inpaint_random jpeg10"}  # the CPU smoke may name fewer
. "$(dirname "$0")/lease_lib.sh"  # stamp, left, boxed, stage, rows, bench, pack_results

dps_queue() {  # dps_queue GPUS: claim and run DPS-1000 tasks until none is left or the time is up
  local gpus=$1 task
  for task in $DPS_ORDER; do
    mkdir "$RES/claim-$task" 2> /dev/null || continue
    stamp "DPS-1000 on $task (GPUs $gpus)"
    bench "$(left)" "$gpus" "$CHOICE/natural-tuned.yaml" "$RES/nat-dps-$task" --only dps --tasks "$task" \
      > "$RES/nat-dps-$task.log" 2>&1
  done
}

case "${1:-}" in
  stage) stage "${2:-27}" tune repaint; bash "$0" poll "${3:-0}" ;;
  run-all)  # CPU smoke: the jobs one after another
    mkdir -p "$RES"; echo $(( $(date +%s) + 3600 )) > "$W/deadline"
    for job in tune repaint; do bash "$0" "$job"; done ;;
  tune)
    cd "$W"; gpus=${TUNE_GPUS:-0,1}; [ -n "$SMOKE" ] && gpus=0
    stamp "validation sweep with r3: few-step solvers, then DPS-100 at ζ 2, 4, 6, 8, 12"
    bench "$(boxed 420)" "$gpus" "$VAL" "$RES/nat-tune-r3" --only 'diffpir*,ddnm*,pigdm*' > "$RES/nat-tune-r3.log" 2>&1
    bench "$(boxed 360)" "$gpus" "$VAL" "$RES/nat-tune-r3" --only 'dps@zeta=2,dps@zeta=4,dps@zeta=6,dps@zeta=8,dps@zeta=12' \
      >> "$RES/nat-tune-r3.log" 2>&1
    mkdir -p "$CHOICE"
    if python3 benchmarks/tuning/choose_settings.py "$RES/nat-tune-r3" --val "$VAL" --out "$CHOICE" \
         --test-suite "$CHOICE/unused.yaml" --name unused >> "$RES/nat-tune-r3.log" 2>&1 &&
       python3 benchmarks/natural/tuned_suite.py "$CHOICE/chosen.json" --out "$CHOICE/natural-tuned.yaml" \
         >> "$RES/nat-tune-r3.log" 2>&1; then
      stamp "chosen:"; sed -n '/^methods:/,$p' "$CHOICE/natural-tuned.yaml" | head -60
    else
      stamp "no choice (see nat-tune-r3.log): the suite's settings stay"; cp "$SUITE" "$CHOICE/natural-tuned.yaml"
    fi
    touch "$RES/choice.done"
    stamp "few-step solvers on gpu8"
    bench "$(left)" "$gpus" "$CHOICE/natural-tuned.yaml" "$RES/nat-fewstep" --only 'ddnm,diffpir,pigdm' \
      > "$RES/nat-fewstep.log" 2>&1
    dps_queue "$gpus"; stamp "tune job done" ;;
  repaint)
    cd "$W"; gpus=${REPAINT_GPUS:-2,3}; [ -n "$SMOKE" ] && gpus=0
    stamp "RePaint 250/10/10 on gpu8"
    bench "$(left)" "$gpus" "$SUITE" "$RES/nat-repaint" --only repaint > "$RES/nat-repaint.log" 2>&1
    while [ ! -f "$RES/choice.done" ] && [ "$(left)" -gt 30 ]; do sleep 10; done
    dps_queue "$gpus"; stamp "repaint job done" ;;
  poll) poll_jobs "${2:-500}" "run_gpu_issue20_s8.sh (tune|repaint)" ;;
  stop)  # end every job now; run it as its own call (these patterns are in no caller's command line)
    stop_jobs "run_gpu_issue20_s8.sh (tune|repaint)" ;;
  *) echo "usage: $0 stage [MINUTES] [POLL_SECONDS] | poll SECONDS | stop  (the jobs run detached)" >&2; exit 2 ;;
esac

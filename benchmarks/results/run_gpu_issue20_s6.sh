#!/usr/bin/env bash
# The next lease for issue 20 (written 2026-11-26, fifth session, after run_gpu_issue20_s5.sh), 4 GPUs:
# DPS's step ζ above the second sweep's top, DPS-1000 again on the tasks whose ζ moved, and the trainer's throughput.
#
#   call 1 (carry .carry/natural-eval .carry/alexnet-features.safetensors .carry/wheels; the tree without the face
#           priors and figures: python3 benchmarks/device/travel.py leave-out faces64 faces64-sr4 --figures):
#       bash benchmarks/results/run_gpu_issue20_s6.sh stage [MINUTES] [POLL_SECONDS]
#   calls 2…: bash benchmarks/results/run_gpu_issue20_s6.sh poll SECONDS   (results to $OUT as ≤ 15 MiB parts:
#       cat res.tgz.part-* | tar xzf -; cat cells.tar.part-* | tar xf -); `… stop` ends the jobs.
#
# GPUs 0, 1, 3 (job tune, torchrun, eager fp32): DPS-100 at ζ 6 and 8 on the validation split (configs/bench/
#   natural-tune.yaml) for box, random, motion blur and ×4 SR, where ζ = 4 topped benchmarks/results/natural-tune2;
#   then benchmarks/tuning/choose_settings.py over those rows *and* natural-tune2's (ζ 0.5–4, same mode: eager fp32 on
#   H100s), and the natural suite with the chosen DPS ζ (the other solvers' from natural-tune2/chosen-next.json)
#   → $RES/tune3-choice/natural-tuned.yaml, and the list of tasks whose ζ differs from the one the committed rows ran
#   with (configs/bench/natural.yaml) → $RES/tune3-choice/rerun.txt.
# GPU 2 (job thr): benchmarks/natural/throughput.py, synthetic data, the variants that the last run's 38 s variant
#   timeout cut (cuDNN autotuning, batch 1024, max-autotune), against `default` in the same run; the goal is 5,000 64²
#   crops/s per GPU (3,564 on an H200).
# All 4 GPUs (job dps, after both): DPS-1000 in eager fp32 on `gpu8` with the chosen ζ, one folder per task of
#   rerun.txt (box first: its Kodak LPIPS is the one goal DPS misses), each to join benchmarks/results/natural with
#   `join_runs.py … --replace`.
# Every bench job stops at the deadline; rows of a cut run are kept (bench resumes).
# What happened (2026-11-26, sixth session): the choice read only the new rows — `travel.py --figures` had left
#   natural-tune2's results.jsonl at home (fixed since; choose_settings.py now refuses a run without rows) — so DPS-1000
#   ran box at ζ 6 where both sweeps together choose 4 (random 6 and motion blur 8 were the right choice). The second
#   lease, `rerun` (same carry), runs the tasks named in TASKS (default inpaint_box) on all 4 GPUs with the committed
#   benchmarks/results/natural-tune3/natural-tuned.yaml (both sweeps' choice):
#       TASKS=inpaint_box bash benchmarks/results/run_gpu_issue20_s6.sh rerun [MINUTES] [POLL_SECONDS]
# CPU smoke (a copy of the tree in W, small images in W/.carry/natural-eval, a tiny any-size prior):
#   SMOKE="--device cpu --limit 1 --prior PATH" THR="--preset tiny-any --crop 16 --batch 4 --steps 2 --device cpu" \
#   W=/tmp/smoke6 bash … run-all
set -uo pipefail
W=${W:-/tmp/w}; RES=${RES:-$W/res}; SMOKE=${SMOKE:-}; THR=${THR:-}
MODE=${MODE-}  # eager fp32 unless set
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export INVDIFF_DATA=$W/.carry/natural-eval INVDIFF_LPIPS_ALEXNET=$W/.carry/alexnet-features.safetensors
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} TORCHINDUCTOR_CACHE_DIR=$W/inductor-cache
SUITE=configs/bench/natural.yaml; VAL=configs/bench/natural-tune.yaml; TUNE2=benchmarks/results/natural-tune2
LEASE_SCRIPT=benchmarks/results/run_gpu_issue20_s6.sh
. "$(dirname "$0")/lease_lib.sh"  # stamp, left, boxed, stage, rows, bench, pack_results
CHOICE=$RES/tune3-choice

choose() {  # the DPS choice over both sweeps' rows → $CHOICE/{chosen.json,natural-tuned.yaml,rerun.txt}
  mkdir -p "$CHOICE"
  python3 benchmarks/tuning/choose_settings.py "$TUNE2" "$RES/nat-tune3" --val "$VAL" --out "$CHOICE" \
    --test-suite "$CHOICE/unused.yaml" --name unused || return 1
  python3 - "$CHOICE/chosen.json" "$TUNE2/chosen-next.json" "$CHOICE/chosen-merged.json" <<'PY' || return 1
import json, sys
new, base = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
base["dps"] = new["dps"]  # DPS from both sweeps; DiffPIR, DDNM+, PiGDM as the first sweep chose
base["_about"]["runs"] = base["_about"]["runs"][:1] + new["_about"]["runs"]
json.dump(base, open(sys.argv[3], "w"), indent=1, ensure_ascii=False)
PY
  python3 benchmarks/natural/tuned_suite.py "$CHOICE/chosen-merged.json" --out "$CHOICE/natural-tuned.yaml" || return 1
  python3 - "$CHOICE/natural-tuned.yaml" "$SUITE" > "$CHOICE/rerun.txt" <<'PY'
import sys, yaml
new, old = (yaml.safe_load(open(p))["methods"]["dps"].get("per_task", {}) for p in sys.argv[1:3])
order = ["inpaint_box", "motion_blur", "inpaint_random", "sr4", "gaussian_blur", "jpeg10"]
print("\n".join(t for t in order if new.get(t) != old.get(t)))
PY
}

case "${1:-}" in
  stage) stage "${2:-21}" tune thr dps; bash "$0" poll "${3:-0}" ;;
  run-all)  # CPU smoke: the jobs one after another
    mkdir -p "$RES"; echo $(( $(date +%s) + 3600 )) > "$W/deadline"
    for job in tune thr dps; do bash "$0" "$job"; done ;;
  tune)
    cd "$W"; stamp "DPS-100 ζ 6, 8 on the validation split (eager fp32)"
    bench "$(boxed 360)" 0,1,3 "$VAL" "$RES/nat-tune3" --only 'dps@zeta=6,dps@zeta=8' \
      --tasks 'inpaint_box,inpaint_random,motion_blur,sr4' > "$RES/nat-tune3.log" 2>&1
    if choose >> "$RES/nat-tune3.log" 2>&1; then
      grep -A9 "^  dps:" "$CHOICE/natural-tuned.yaml"; stamp "to rerun: $(tr '\n' ' ' < "$CHOICE/rerun.txt")"
    else
      stamp "no choice (see nat-tune3.log): DPS-1000 reruns box, random and motion blur at natural-tune2's ζ"
      cp "$TUNE2/natural-tuned.yaml" "$CHOICE/natural-tuned.yaml"; printf 'inpaint_box\nmotion_blur\ninpaint_random\n' > "$CHOICE/rerun.txt"
    fi
    touch "$RES/tune.done"; stamp "tune job done" ;;
  thr)
    cd "$W"; stamp "trainer throughput (synthetic data) on GPU 2"
    CUDA_VISIBLE_DEVICES=2 timeout -k 10 "$(boxed 420)" python3 benchmarks/natural/throughput.py --batch 512 --steps 60 \
      --variants default,cudnn_benchmark,batch1024,cudnn_benchmark+batch1024,compile_max_autotune \
      --variant-timeout 200 --deadline-s 400 --out "$RES/throughput.json" $THR > "$RES/thr.run.log" 2>&1
    stamp "throughput exit $?"; touch "$RES/thr.done" ;;
  dps)
    cd "$W"; stamp "DPS-1000 waits for the tune and the throughput jobs"
    while [ ! -f "$RES/tune.done" ] || [ ! -f "$RES/thr.done" ]; do sleep 10; done
    gpus=0,1,2,3; [ -n "$SMOKE" ] && gpus=0
    for task in $(cat "$CHOICE/rerun.txt"); do
      stamp "DPS-1000 (eager fp32) on $task with the chosen ζ"
      bench "$(left)" "$gpus" "$CHOICE/natural-tuned.yaml" "$RES/nat-dps-$task" --only dps --tasks "$task" \
        > "$RES/nat-dps-$task.log" 2>&1
    done
    stamp "dps job done" ;;
  rerun) stage "${2:-6}" dps3; bash "$0" poll "${3:-0}" ;;
  dps3)
    cd "$W"; gpus=0,1,2,3; [ -n "$SMOKE" ] && gpus=0
    for task in ${TASKS:-inpaint_box}; do
      stamp "DPS-1000 (eager fp32) on $task with natural-tune3's choice"
      bench "$(left)" "$gpus" benchmarks/results/natural-tune3/natural-tuned.yaml "$RES/nat-dps3-$task" --only dps \
        --tasks "$task" > "$RES/nat-dps3-$task.log" 2>&1
    done
    stamp "dps3 job done" ;;
  poll) poll_jobs "${2:-500}" "run_gpu_issue20_s6.sh (tune|thr|dps)" ;;
  stop)  # end every job now; run it as its own call (these patterns are in no caller's command line)
    stop_jobs "run_gpu_issue20_s6.sh (tune|thr|dps)" "benchmarks/natural/throughput" ;;
  *) echo "usage: $0 stage [MINUTES] [POLL_SECONDS] | poll SECONDS | stop  (the jobs run detached)" >&2; exit 2 ;;
esac
